"""The audit log (SPEC §10) and the unit of work's audit context."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, insert, select, true

from aigov.audit import AuditEntry, AuditFilter, AuditRecord
from aigov.ports import AuditRepository
from aigov_postgres import schema as tables
from aigov_postgres._migrations import advisory_lock_key
from aigov_postgres._repository import Repository, where


class PostgresAudit(Repository, AuditRepository):
    def lock_resource(self, resource_type: str, resource_id: str) -> None:
        key = advisory_lock_key(f"{resource_type} {resource_id}", self._schema)
        self._connection.execute(select(func.pg_advisory_xact_lock(key)))

    def set_audit_context(self, actor: str, at: datetime) -> None:
        """In the transaction's settings, where the triggers that write cascade entries and the
        seed read it."""
        self._connection.execute(
            select(
                func.set_config("aigov.actor", actor, True),
                func.set_config("aigov.now", at.isoformat(), True),
            )
        )

    def append_audit(self, record: AuditRecord) -> AuditEntry:
        row = self._connection.execute(
            insert(tables.audit_log).values(record.model_dump()).returning(*tables.audit_log.c)
        ).one()
        return AuditEntry.model_validate(row._mapping)

    def list_audit(self, query: AuditFilter) -> Sequence[AuditEntry]:
        log = tables.audit_log
        rows = self._connection.execute(
            select(log)
            .where(
                where(
                    (log.c.resource_type, query.resource_type),
                    (log.c.resource_id, query.resource_id),
                    (log.c.actor, query.actor),
                ),
                true() if query.since is None else log.c.at >= query.since,
                true() if query.after is None else log.c.id > query.after,
            )
            .order_by(log.c.id)
            .limit(query.limit)
        )
        return [AuditEntry.model_validate(row._mapping) for row in rows]
