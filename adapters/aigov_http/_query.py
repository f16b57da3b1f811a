"""What the routes share: the bounds of SPEC §14, and query parameters the core reads as
collections (comma-separated ids)."""

from __future__ import annotations

from uuid import UUID

from fastapi.exceptions import RequestValidationError

__all__ = ["MAX_EXPORT_DAYS", "MAX_IDS", "PAGE", "ids_of", "invalid"]

MAX_IDS = 100
"""Ids in one ``group_ids`` or ``user_ids`` parameter, at most."""
MAX_EXPORT_DAYS = 31
"""Days in one export, at most."""
PAGE = 100
"""Rows in one page of a report: a full page has a ``next``."""


def ids_of(raw: str | None, name: str) -> list[UUID] | None:
    """A comma-separated list of at most ``MAX_IDS`` UUIDs from a query parameter."""
    if raw is None:
        return None
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    if len(parts) > MAX_IDS:
        raise invalid(name, f"at most {MAX_IDS} ids, not {len(parts)}")
    ids = []
    for part in parts:
        try:
            ids.append(UUID(part))
        except ValueError:
            raise invalid(name, f"{part[:40]!r} is not a UUID") from None
    return ids


def invalid(field: str, detail: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("query", field), "msg": detail, "type": "value_error"}])
