"""Versioned, idempotent schema migrations, serialized across processes by an advisory lock."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from sqlalchemy import Connection, func, select, text

from aigov.exceptions import InvalidInputError
from aigov_postgres.schema import schema_migrations

__all__ = [
    "Migration",
    "advisory_lock_key",
    "apply_migrations",
    "check_schema_name",
    "current_version",
    "latest_version",
    "migrations",
    "quote_ident",
]

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


@cache
def migrations() -> tuple[Migration, ...]:
    """Every migration shipped with the package, in version order."""
    found = []
    for entry in (resources.files("aigov_postgres") / "migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"aigov_postgres migrations are not numbered 1…n: {versions}")
    return tuple(found)


def latest_version() -> int:
    return migrations()[-1].version


def quote_ident(name: str) -> str:
    """``name`` as a quoted SQL identifier; schema names are checked before they get here."""
    return '"' + name.replace('"', '""') + '"'


def check_schema_name(schema: str) -> str:
    if not isinstance(schema, str) or not 0 < len(schema.encode()) <= 63 or "\x00" in schema:
        raise InvalidInputError(
            f"schema must be a PostgreSQL identifier of 1 to 63 bytes, not {schema!r}"
        )
    return schema


def advisory_lock_key(purpose: str, schema: str) -> int:
    """A stable 64-bit advisory lock key for one purpose in one schema."""
    digest = hashlib.blake2b(f"aigov {purpose} {schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def apply_migrations(connection: Connection, schema: str) -> list[int]:
    """Bring ``schema`` up to the latest version inside the caller's transaction; return the
    versions applied. Concurrent callers wait on a transaction-scoped advisory lock, so each
    migration runs once."""
    quoted = quote_ident(schema)
    connection.execute(
        text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_lock_key("migrate", schema)}
    )
    connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
    connection.exec_driver_sql(f"SET LOCAL search_path TO {quoted}")
    connection.exec_driver_sql(
        "CREATE TABLE IF NOT EXISTS ai_schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    applied = set(connection.scalars(select(schema_migrations.c.version)))
    done = []
    driver = connection.connection.driver_connection
    assert driver is not None
    for migration in migrations():
        if migration.version in applied:
            continue
        # Through the driver without parameters: a migration is several statements in one text.
        driver.execute(migration.sql.replace("@schema@", quoted))
        connection.execute(
            schema_migrations.insert().values(version=migration.version, name=migration.name)
        )
        done.append(migration.version)
    return done


def current_version(connection: Connection, schema: str) -> int | None:
    """The schema's version, or None when it was never migrated."""
    exists = connection.scalar(
        text("SELECT to_regclass(:table) IS NOT NULL"),
        {"table": f"{quote_ident(schema)}.ai_schema_migrations"},
    )
    if not exists:
        return None
    version = connection.scalar(select(func.max(schema_migrations.c.version)))
    return None if version is None else int(version)
