"""The memory store's deployment settings (SPEC §8.0)."""

from __future__ import annotations

from aigov.ports import SettingsRepository
from aigov.settings import GovernanceSettings
from aigov_memory._tables import Tables, WriteLog

__all__ = ["MemorySettings"]


class MemorySettings(SettingsRepository):
    """The settings: one row, the first ever given (units of work run one at a time here)."""

    def __init__(self, tables: Tables, log: WriteLog) -> None:
        self._tables = tables
        self._log = log

    def ensure_settings(self, settings: GovernanceSettings) -> GovernanceSettings:
        if None not in self._tables.settings:
            self._log.put(self._tables.settings, None, settings)
        return self._tables.settings[None]
