"""The ``aigov`` command: a driving adapter over the library, for operators and first contact.

Without ``--database-url`` (or ``AIGOV_DATABASE_URL``) it starts an embedded PostgreSQL, so
``aigov status`` works on a machine with nothing but Python. Bad input ends with one line on
stderr and exit code 2; a store failure with exit code 1; never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import URL

from aigov import AI_GOVERNANCE, AigovError, Governance, InvalidInputError, __version__
from aigov_postgres import PostgresStore

__all__ = ["app", "main"]

app = typer.Typer(
    name="aigov",
    help="AI spend governance: prices, budgets and enforcement on PostgreSQL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)

T = TypeVar("T")

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="AIGOV_DATABASE_URL",
        help="postgresql://… of your database; without it an embedded server is started.",
    ),
]
Schema = Annotated[str, typer.Option(help="The schema aigov's tables live in.")]


@contextmanager
def _store(database_url: str | None, schema: str) -> Iterator[tuple[PostgresStore, str]]:
    url: str | URL
    if database_url is None:
        from aigov_postgres.embedded import start_embedded_server  # noqa: PLC0415 - slow import

        with console.status("Starting an embedded PostgreSQL server…"):
            url = start_embedded_server()
        source = "embedded PostgreSQL (temporary, removed at exit)"
    else:
        url, source = database_url, "the database you gave"
    store = PostgresStore.from_url(url, schema=schema)
    try:
        yield store, source
    finally:
        store.close()


def _run(work: Callable[[], T]) -> T:
    """Run ``work``; aigov errors end the command with one line and a stable exit code."""
    try:
        return work()
    except InvalidInputError as exc:
        errors.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    except AigovError as exc:
        errors.print(f"[red]error:[/red] {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from exc
    except RuntimeError as exc:  # the embedded server could not start
        errors.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc


@app.command()
def status(database_url: DatabaseUrl = None, schema: Schema = "public") -> None:
    """Show the store, its schema version and what the directory holds.

    An embedded server is migrated first (it starts empty); a database you name is only read.
    """

    def work() -> None:
        with _store(database_url, schema) as (store, source):
            if database_url is None:
                store.migrate()
            version = store.schema_version()
            table = Table(title=f"aigov {__version__}", show_header=False)
            table.add_row("store", f"PostgresStore on {source}")
            table.add_row("schema", schema)
            latest = store.latest_schema_version()
            if version is None:
                table.add_row("schema version", f"not migrated (latest is {latest}: aigov migrate)")
            else:
                state = "current" if version == latest else f"behind, latest is {latest}"
                table.add_row("schema version", f"{version} ({state})")
                gov = Governance(store, entitlements={AI_GOVERNANCE})
                table.add_row("organizations", str(len(gov.list_organizations())))
                table.add_row("users", str(len(gov.list_users())))
                table.add_row("groups", str(len(gov.list_groups())))
            console.print(table)

    _run(work)


@app.command()
def migrate(database_url: DatabaseUrl = None, schema: Schema = "public") -> None:
    """Create or upgrade aigov's schema (idempotent; safe from many processes at once)."""

    def work() -> None:
        with _store(database_url, schema) as (store, _):
            applied = store.migrate()
            done = ", ".join(map(str, applied)) if applied else "nothing (already current)"
            console.print(f"applied migrations: {done}")

    _run(work)


@app.command()
def version() -> None:
    """Print aigov's version."""
    console.print(__version__)


def main() -> None:
    app()
