"""The demo's own schema, emptied on every run so that the demo can be run again and again.

The demo drops and recreates its schema rather than merging into what a previous run left: a
second day of the same traffic on top of the first would tell a different story. Dropping is
only safe in a schema the demo made itself, so it marks the schema with a comment when it creates
it and refuses to touch a schema without that mark (someone's ``public``, for instance).
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from aigov import InvalidInputError, StorageError
from aigov_postgres import PostgresStore

__all__ = ["MARK", "reset_demo_schema"]

MARK: Final = "made by aigov demo, which drops and recreates it on every run"


def reset_demo_schema(store: PostgresStore) -> None:
    """Drop the store's schema if the demo made it, and create it empty with the demo's mark.
    InvalidInputError when the schema exists without the mark."""
    schema = store.schema
    quoted = '"' + schema.replace('"', '""') + '"'
    try:
        with store.engine.begin() as connection:
            connection.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                {"key": f"aigov demo {schema}"},
            )
            found = connection.execute(
                text(
                    "SELECT coalesce(obj_description(oid, 'pg_namespace'), '')"
                    " FROM pg_namespace WHERE nspname = :schema"
                ),
                {"schema": schema},
            ).first()
            if found is not None and found[0] != MARK:
                raise InvalidInputError(
                    f"schema {schema} exists and was not made by aigov demo, which would drop it:"
                    " give the demo a schema of its own (--schema)"
                )
            connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {quoted} CASCADE")
            connection.exec_driver_sql(f"CREATE SCHEMA {quoted}")
            connection.exec_driver_sql(f"COMMENT ON SCHEMA {quoted} IS '{MARK}'")
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc  # the driver's message, without SQLAlchemy's
        raise StorageError(f"cannot prepare schema {schema}: {cause}") from exc
