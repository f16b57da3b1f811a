"""The PostgreSQL store: SQLAlchemy Core and psycopg 3, with the rules enforced in SQL too."""

from aigov_postgres._connections import HotPathPool
from aigov_postgres._store import PostgresStore, normalize_url

__all__ = ["HotPathPool", "PostgresStore", "normalize_url"]
