"""Model prices and the price-book seed (SPEC §3): validation, planning, and the price in effect.

A price is micros per one million tokens of one kind; ``None`` means *unknown*, ``0`` means *free*,
and the two are never confused. The seed is validated whole, and its duplicates found, before any
store sees it; ``plan_seed`` is the one statement of what applying it changes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from aigov._validation import error_class
from aigov.directory import Name
from aigov.exceptions import ConflictError, InvalidInputError
from aigov.money import Micros

if TYPE_CHECKING:
    from aigov.cost import TokenKind

__all__ = [
    "PRICE_FIELDS",
    "Identifier",
    "ModelKey",
    "ModelPrice",
    "PriceSource",
    "Prices",
    "SeedPlan",
    "SeedResult",
    "SeedRow",
    "dump_seed",
    "effective_prices",
    "parse_seed",
    "plan_custom_price",
    "plan_seed",
    "seed_result",
]

PriceSource = Literal["pricebook", "custom"]
PRICE_FIELDS = ("input_price", "output_price", "cache_read_price", "cache_write_price")

ModelKey = tuple[str, str]
"""``(provider, model)``: stored as given, no case folding."""

Identifier = Annotated[Name, StringConstraints(strict=True)]
"""A provider or model name: a true string of 1 … 255 characters, kept as given."""


class Prices(BaseModel):
    """The four prices of a model, each micros per 1M tokens or None (unknown)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    input_price: Micros | None
    output_price: Micros | None
    cache_read_price: Micros | None
    cache_write_price: Micros | None

    def price(self, kind: TokenKind) -> int | None:
        value: int | None = getattr(self, f"{kind}_price")
        return value

    def prices(self) -> Prices:
        """Just the four prices, whatever else the model carries."""
        return Prices.model_validate(self.model_dump(include=set(PRICE_FIELDS)))


class SeedRow(Prices):
    """One element of a seed: every key present, prices strictly integers ≥ 0 or null."""

    provider: Identifier
    model: Identifier

    @property
    def key(self) -> ModelKey:
        return (self.provider, self.model)


class ModelPrice(Prices):
    """A stored price row, unique on ``(provider, model, source)``."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)

    provider: Name
    model: Name
    source: PriceSource
    created_at: AwareDatetime
    updated_at: AwareDatetime

    @property
    def key(self) -> ModelKey:
        return (self.provider, self.model)


_SEED = TypeAdapter(list[SeedRow])


def _describe(error: Mapping[str, Any]) -> str:
    location = list(error["loc"])
    where = "the seed"
    if location and isinstance(location[0], int):
        where = f"element {location.pop(0)}"
    if location:
        where += f", field {'.'.join(map(str, location))}"
    return f"{where}: {error['msg']}"


def _no_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise InvalidInputError(f"invalid seed: an element repeats the key(s) {repeated}")
    return dict(pairs)


def _json_array(seed: str | bytes) -> Any:
    """Parse seed JSON, refusing an object that gives one key twice (JSON would keep the last)."""
    try:
        return json.loads(seed, object_pairs_hook=_no_repeated_keys)
    except InvalidInputError:
        raise
    except (ValueError, RecursionError) as exc:
        raise InvalidInputError(f"invalid seed: not JSON ({exc})") from exc


def parse_seed(seed: str | bytes | Sequence[Mapping[str, Any]]) -> list[SeedRow]:
    """The validated rows of a seed given as JSON text or a list of dicts.

    InvalidInputError names each offending element index and field (malformed JSON, not an array,
    a missing or unknown key, a price that is not an integer ≥ 0 or null, an empty provider or
    model); AmountOutOfRangeError when the only faults are prices outside 0 … 2**63-1;
    ConflictError when one ``(provider, model)`` appears twice.
    """
    elements = _json_array(seed) if isinstance(seed, str | bytes) else seed
    try:
        rows = _SEED.validate_python(elements, strict=True)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        kind = error_class(errors)
        details = "; ".join(_describe(error) for error in errors[:10])
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        raise kind(f"invalid seed: {details}{more}", errors=errors) from exc
    first_seen: dict[ModelKey, int] = {}
    for index, row in enumerate(rows):
        if row.key in first_seen:
            raise ConflictError(
                f"invalid seed: element {index} repeats (provider, model) = {row.key!r} of "
                f"element {first_seen[row.key]}",
                constraint="ai_model_prices_pkey",
            )
        first_seen[row.key] = index
    return rows


def dump_seed(rows: Iterable[SeedRow]) -> str:
    """Canonical seed JSON: one element per line, keys in a fixed order, stable for diffs."""
    lines = [
        json.dumps(row.model_dump(include={"provider", "model"}) | row.prices().model_dump())
        for row in rows
    ]
    return "[\n" + ",\n".join(lines) + "\n]\n"


class SeedPlan(BaseModel):
    """What applying a seed changes: rows to insert, rows to rewrite, rows left alone."""

    model_config = ConfigDict(frozen=True)

    insert: tuple[SeedRow, ...] = ()
    update: tuple[SeedRow, ...] = ()
    unchanged: tuple[SeedRow, ...] = ()


class SeedResult(BaseModel):
    """Exact counts of one seed application, and the keys it inserted or updated (sorted)."""

    model_config = ConfigDict(frozen=True)

    inserted: int
    updated: int
    unchanged: int
    inserted_keys: tuple[ModelKey, ...] = ()
    updated_keys: tuple[ModelKey, ...] = ()


def plan_seed(rows: Iterable[SeedRow], pricebook: Mapping[ModelKey, Prices]) -> SeedPlan:
    """Split validated rows against the stored ``pricebook`` rows (custom rows play no part): new
    keys are inserted; a stored row is rewritten only if some price differs (None vs a value and
    None vs 0 count as differences); the rest is left untouched."""
    insert, update, unchanged = [], [], []
    for row in rows:
        stored = pricebook.get(row.key)
        if stored is None:
            insert.append(row)
        elif stored.prices() != row.prices():
            update.append(row)
        else:
            unchanged.append(row)
    return SeedPlan(insert=tuple(insert), update=tuple(update), unchanged=tuple(unchanged))


def seed_result(plan: SeedPlan) -> SeedResult:
    return SeedResult(
        inserted=len(plan.insert),
        updated=len(plan.update),
        unchanged=len(plan.unchanged),
        inserted_keys=tuple(sorted(row.key for row in plan.insert)),
        updated_keys=tuple(sorted(row.key for row in plan.update)),
    )


def plan_custom_price(
    existing: ModelPrice | None, provider: str, model: str, prices: Prices, now: datetime
) -> ModelPrice | None:
    """The custom row to store when an administrator sets these prices, or None when the stored
    row already has them (nothing is rewritten). A replaced row keeps its ``created_at``."""
    if existing is not None and existing.prices() == prices:
        return None
    return ModelPrice(
        provider=provider,
        model=model,
        source="custom",
        created_at=now if existing is None else existing.created_at,
        updated_at=now,
        **prices.model_dump(),
    )


def effective_prices(rows: Iterable[ModelPrice]) -> list[ModelPrice]:
    """The price in effect per model: its custom row if there is one, else its pricebook row;
    sorted by ``(provider, model)``."""
    chosen: dict[ModelKey, ModelPrice] = {}
    for row in rows:
        if row.key not in chosen or row.source == "custom":
            chosen[row.key] = row
    return [chosen[key] for key in sorted(chosen)]
