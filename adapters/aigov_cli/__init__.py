"""The ``aigov`` command: a driving adapter over the library, for operators and first contact.

Without ``--database-url`` (or ``AIGOV_DATABASE_URL``) ``status``, ``migrate``, ``pricebook`` and
``demo`` start an embedded PostgreSQL, so ``aigov demo`` works on a machine with nothing but Python.
Every failure ends with one line on stderr and an exit code from ``EXIT_CODES`` (2 bad input,
3 not found, 4 forbidden, 5 refused by a rule, 1 the store), never a traceback.
"""

from __future__ import annotations

import typer
from rich.table import Table

from aigov import AI_GOVERNANCE, Governance, __version__
from aigov_cli._budget import budget
from aigov_cli._common import EXIT_CODES_HELP, DatabaseUrl, Schema, console, open_store, run
from aigov_cli._demo import demo
from aigov_cli._override import override
from aigov_cli._pricebook import pricebook
from aigov_cli._serve import serve
from aigov_cli._spend import spend

__all__ = ["app", "main"]

app = typer.Typer(
    name="aigov",
    help="AI spend governance: prices, budgets and enforcement on PostgreSQL.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(demo)
app.add_typer(pricebook, name="pricebook")
app.add_typer(budget, name="budget")
app.add_typer(override, name="override")
app.add_typer(spend, name="spend")
app.command()(serve)


@app.command()
def status(database_url: DatabaseUrl = None, schema: Schema = "public") -> None:
    """Show the store, its schema version and what the directory holds.

    An embedded server is migrated first (it starts empty); a database you name is only read.
    """

    def work() -> None:
        with open_store(database_url, schema) as (store, source):
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

    run(work)


@app.command()
def migrate(database_url: DatabaseUrl = None, schema: Schema = "public") -> None:
    """Create or upgrade aigov's schema (idempotent; safe from many processes at once)."""

    def work() -> None:
        with open_store(database_url, schema) as (store, _):
            applied = store.migrate()
            done = ", ".join(map(str, applied)) if applied else "nothing (already current)"
            console.print(f"applied migrations: {done}")

    run(work)


@app.command()
def version() -> None:
    """Print aigov's version."""
    console.print(__version__)


def main() -> None:
    app()
