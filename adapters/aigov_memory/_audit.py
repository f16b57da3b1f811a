"""The memory store's audit log (SPEC §10)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from aigov.audit import AuditEntry, AuditFilter, AuditRecord
from aigov.ports import AuditRepository
from aigov_memory._tables import Tables, WriteLog

__all__ = ["MemoryAudit"]


class MemoryAudit(AuditRepository):
    """The audit log, and the unit of work's audit context, which the directory's cascades and
    the seed write their entries under."""

    def __init__(self, tables: Tables, log: WriteLog) -> None:
        self._tables = tables
        self._log = log
        self._context: tuple[str, datetime] | None = None

    def lock_resource(self, resource_type: str, resource_id: str) -> None:
        """Units of work already run one at a time here."""

    def set_audit_context(self, actor: str, at: datetime) -> None:
        self._context = (actor, at)

    def context(self) -> tuple[str, datetime]:
        """Who acts and when, for the entries the store writes itself (the seed's, cascades'):
        what ``set_audit_context`` named, else the system, now."""
        return self._context or ("system", datetime.now(UTC))

    def append_audit(self, record: AuditRecord) -> AuditEntry:
        entry = AuditEntry(id=next(self._tables.audit_ids), **record.model_dump())
        self._log.put(self._tables.audit, entry.id, entry)
        return entry

    def list_audit(self, query: AuditFilter) -> Sequence[AuditEntry]:
        found = [
            entry
            for _, entry in sorted(self._tables.audit.items())
            if query.resource_type in (None, entry.resource_type)
            and query.resource_id in (None, entry.resource_id)
            and query.actor in (None, entry.actor)
            and (query.since is None or entry.at >= query.since)
            and (query.after is None or entry.id > query.after)
        ]
        return found[: query.limit]
