"""Helpers every command shares: output, the store, and errors turned into exit codes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from sqlalchemy.engine import URL

from aigov import AigovError, InvalidInputError
from aigov_postgres import PostgresStore

__all__ = ["DatabaseUrl", "Schema", "console", "errors", "open_store", "run"]

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
def open_store(database_url: str | None, schema: str) -> Iterator[tuple[PostgresStore, str]]:
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


def run(work: Callable[[], T]) -> T:
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
