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
    """A comma-separated list of at most ``MAX_IDS`` distinct UUIDs from a query parameter
    (an id given twice counts once, as the core counts it)."""
    if raw is None:
        return None
    ids: dict[UUID, None] = {}
    for part in (part.strip() for part in raw.split(",")):
        if not part:
            continue
        try:
            ids[UUID(part)] = None
        except ValueError:
            raise invalid(name, f"{part[:40]!r} is not a UUID") from None
        if len(ids) > MAX_IDS:
            raise invalid(name, f"at most {MAX_IDS} distinct ids")
    return list(ids)


def invalid(field: str, detail: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("query", field), "msg": detail, "type": "value_error"}])
