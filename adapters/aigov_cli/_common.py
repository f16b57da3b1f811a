"""Helpers every command shares: output, the store, and errors turned into exit codes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Final, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import URL

from aigov import (
    AigovError,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    PolicyViolationError,
)
from aigov_postgres import PostgresStore

__all__ = [
    "EXIT_CODES",
    "EXIT_CODES_HELP",
    "DatabaseUrl",
    "Schema",
    "console",
    "errors",
    "open_store",
    "run",
    "say",
]

console = Console()
errors = Console(stderr=True)

T = TypeVar("T")

EXIT_CODES: Final = (
    (0, "done"),
    (1, "the store failed: unreachable, not migrated, the embedded server did not start"),
    (2, "bad input: a malformed id, amount, date or option"),
    (3, "not found, or not visible to the acting user"),
    (4, "forbidden: visible to the acting user, who may not change it"),
    (5, "refused by a rule: over budget, not a member of the group, a conflict"),
)
"""What a script may rely on; the same table is in ``aigov --help`` and docs/cli.md."""

EXIT_CODES_HELP: Final = "Exit codes:\n\n" + "\n\n".join(
    f"{code}  {what}" for code, what in EXIT_CODES
)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="AIGOV_DATABASE_URL",
        help="postgresql://… of your database; without it an embedded server is started.",
    ),
]
Schema = Annotated[
    str, typer.Option(envvar="AIGOV_SCHEMA", help="The schema aigov's tables live in.")
]


def say(line: str) -> None:
    """One line on stdout, never wrapped, so that a script can read it."""
    console.print(line, highlight=False, soft_wrap=True)


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


def _exit_code(exc: AigovError) -> int:
    if isinstance(exc, InvalidInputError):
        return 2
    if isinstance(exc, NotFoundError):
        return 3
    if isinstance(exc, ForbiddenError):
        return 4
    if isinstance(exc, ConflictError | PolicyViolationError):
        return 5
    return 1


def run(work: Callable[[], T]) -> T:
    """Run ``work``; aigov errors end the command with one line on stderr and the exit code of
    ``EXIT_CODES``, so a script can tell bad input from a missing row from a failing store."""
    try:
        return work()
    except AigovError as exc:
        code = _exit_code(exc)
        what = f"{type(exc).__name__}: {exc}" if code == 1 else str(exc)
        errors.print(f"[red]error:[/red] {escape(what)}", highlight=False, soft_wrap=True)
        raise typer.Exit(code) from exc
    except RuntimeError as exc:  # the embedded server could not start
        errors.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
