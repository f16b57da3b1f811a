"""The deployment's settings (SPEC §8.0): one row, written once."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from aigov.ports import SettingsRepository
from aigov.settings import GovernanceSettings
from aigov_postgres import schema as tables
from aigov_postgres._repository import Repository


class PostgresSettings(Repository, SettingsRepository):
    def ensure_settings(self, settings: GovernanceSettings) -> GovernanceSettings:
        table = tables.governance_settings
        self._connection.execute(
            pg_insert(table)
            .values(singleton=True, settings=settings.model_dump(mode="json"))
            .on_conflict_do_nothing(index_elements=["singleton"])
        )
        stored = self._connection.scalar(select(table.c.settings))
        return GovernanceSettings.model_validate(stored)
