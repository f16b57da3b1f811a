"""What every repository of a PostgreSQL unit of work shares: its connection, and the small
query helpers they all use."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Table, and_, true
from sqlalchemy.dialects.postgresql import insert as pg_insert

from aigov.exceptions import NotFoundError
from aigov_postgres._migrations import quote_ident

__all__ = ["Repository", "missing", "where"]


def where(*conditions: tuple[ColumnElement[Any], object | None]) -> ColumnElement[bool]:
    """AND of ``column == value`` for each value that is not None."""
    return and_(true(), *(column == value for column, value in conditions if value is not None))


def missing(resource: str, key: object, message: str) -> NotFoundError:
    return NotFoundError(message, resource=resource, key=key)


class Repository:
    """One concern's reads and writes on the unit of work's connection (its transaction)."""

    def __init__(self, connection: Connection, schema: str) -> None:
        self._connection = connection
        self._schema = schema
        self._schema_sql = quote_ident(schema)

    def _one_or_missing(self, statement: Any, resource: str, key: object, message: str) -> Row[Any]:
        row = self._connection.execute(statement).first()
        if row is None:
            raise missing(resource, key, message)
        return row

    def _upsert(self, table: Table, key: tuple[str, ...], values: dict[str, Any]) -> None:
        """Insert a row, or replace every column but the key and ``created_at``."""
        statement = pg_insert(table).values(values)
        replaced = [c for c in values if c not in (*key, "created_at")]
        self._connection.execute(
            statement.on_conflict_do_update(
                index_elements=list(key), set_={c: statement.excluded[c] for c in replaced}
            )
        )
