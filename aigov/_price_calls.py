"""Price calls of ``Governance`` (SPEC §3): the seed, lookups, custom prices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from aigov import pricebook_seed as embedded_seed
from aigov.actor import Actor
from aigov.audit import (
    price_resource_id,
)
from aigov.authorization import Need, NoFacts, authorize
from aigov.exceptions import (
    InvalidInputError,
)
from aigov.ports import UnitOfWork
from aigov.prices import (
    ModelKey,
    ModelPrice,
    Prices,
    PriceSource,
    SeedResult,
    effective_prices,
    parse_seed,
    plan_custom_price,
)

__all__ = ["PriceCalls"]

from aigov._service import (  # the facade's private helpers, shared by its parts
    _SYSTEM,
    Call,
    PriceListing,
    Service,
    _check_actor,
    _found,
    _identifier,
    _model_key,
    _prices,
)

_PRICE_FIELDS = ("input_price", "output_price", "cache_read_price", "cache_write_price")


def _custom_price(element: object, index: int) -> tuple[ModelKey, Prices]:
    """One element of ``set_custom_prices``, checked; its errors name the element."""
    if not isinstance(element, Mapping):
        raise InvalidInputError(f"prices[{index}] must be a mapping, not {type(element).__name__}")
    unknown = sorted(set(element) - {"provider", "model", *_PRICE_FIELDS}, key=str)
    missing = [name for name in ("provider", "model", *_PRICE_FIELDS) if name not in element]
    if unknown or missing:
        wrong = [f"unknown {name!r}" for name in unknown] + [f"missing {n!r}" for n in missing]
        raise InvalidInputError(f"prices[{index}]: {', '.join(wrong)}")
    try:
        key = _model_key(element["provider"], element["model"])
        prices = _prices(**{name: element[name] for name in _PRICE_FIELDS})
    except InvalidInputError as exc:
        raise type(exc)(f"prices[{index}]: {exc}", errors=exc.errors) from exc
    return key, prices


class PriceCalls(Service):
    # -- prices ----------------------------------------------------------------------------------

    def _require_price_manager(self, actor: Actor, action: str) -> None:
        _check_actor(actor)
        authorize(actor, action, [Need("manage_prices")], NoFacts())

    def apply_price_book(
        self,
        seed: str | bytes | Sequence[Mapping[str, Any]] | None = None,
        *,
        actor: Actor = _SYSTEM,
    ) -> Call[SeedResult]:
        """Apply a price-book seed (JSON text or bytes, or a list of dicts); None applies the
        embedded seed. The whole batch is validated first, and applied in one transaction:
        new models inserted, changed prices rewritten, the rest untouched (SPEC §3.2)."""
        rows = parse_seed(embedded_seed.SEED_JSON if seed is None else seed)
        self._require_price_manager(actor, "apply a price-book seed")
        now = self._now()
        return (
            yield from self._run(lambda uow: uow.prices.apply_seed(rows, now), acting=actor, at=now)
        )

    def get_model_price(self, provider: str, model: str) -> Call[ModelPrice | None]:
        """The price in effect for a model: its custom price, else its price-book price, else
        None."""
        key = _model_key(provider, model)
        rows = yield from self._run(
            lambda uow: uow.prices.list_model_prices(provider=key[0], model=key[1])
        )
        chosen = effective_prices(rows)
        return chosen[0] if chosen else None

    def list_model_prices(
        self,
        provider: str | None = None,
        model: str | None = None,
        source: PriceListing = "effective",
    ) -> Call[Sequence[ModelPrice]]:
        """Prices sorted by ``(provider, model[, source])``: the price in effect per model
        (``"effective"``), the rows of one source (``"pricebook"``, ``"custom"``), or every row
        (``"all"``)."""
        if source not in ("effective", "all", "pricebook", "custom"):
            raise InvalidInputError(
                f"source must be 'effective', 'pricebook', 'custom' or 'all', not {source!r}"
            )
        provider_key = None if provider is None else _identifier(provider, "provider")
        model_key = None if model is None else _identifier(model, "model")
        stored_source: PriceSource | None = (
            None if source in ("effective", "all") else source  # type: ignore[assignment]
        )
        rows = yield from self._run(
            lambda uow: uow.prices.list_model_prices(
                provider=provider_key, model=model_key, source=stored_source
            )
        )
        return effective_prices(rows) if source == "effective" else rows

    def set_custom_price(
        self,
        actor: Actor,
        provider: str,
        model: str,
        *,
        input_price: int | None,
        output_price: int | None,
        cache_read_price: int | None,
        cache_write_price: int | None,
    ) -> Call[ModelPrice]:
        """Set (create or replace) an administrator's price for a model; it takes precedence
        over the price book and no seed overwrites it. Setting the same prices again writes
        nothing."""
        key = _model_key(provider, model)
        prices = _prices(
            input_price=input_price,
            output_price=output_price,
            cache_read_price=cache_read_price,
            cache_write_price=cache_write_price,
        )
        self._require_price_manager(actor, "set a custom price")
        now = self._now()
        return (
            yield from self._run(
                lambda uow: self._put_custom_price(uow, actor, key, prices, now),
                acting=actor,
                at=now,
            )
        )

    def set_custom_prices(
        self, actor: Actor, prices: Sequence[Mapping[str, Any]]
    ) -> Call[list[ModelPrice]]:
        """Set several custom prices at once, all or nothing: each element is a mapping with
        ``provider``, ``model`` and the four prices of ``set_custom_price``. Every element is
        checked before anything is written (a bad one, or a model named twice, is
        InvalidInputError naming its index), then all are set in one transaction. Returns the
        stored rows, in the order given."""
        if isinstance(prices, (str, bytes, Mapping)) or not isinstance(prices, Sequence):
            raise InvalidInputError("prices must be a list of price mappings")
        batch = [_custom_price(element, index) for index, element in enumerate(prices)]
        keys = [key for key, _ in batch]
        twice = sorted({key for key in keys if keys.count(key) > 1})
        if twice:
            raise InvalidInputError(f"prices name {twice[0][0]}/{twice[0][1]} more than once")
        self._require_price_manager(actor, "set a custom price")
        now = self._now()

        def work(uow: UnitOfWork) -> list[ModelPrice]:
            stored = {  # locks in key order: two batches never wait on each other in a ring
                key: self._put_custom_price(uow, actor, key, chosen, now)
                for key, chosen in sorted(batch, key=lambda item: item[0])
            }
            return [stored[key] for key in keys]

        return (yield from self._run(work, acting=actor, at=now))

    def _put_custom_price(
        self, uow: UnitOfWork, actor: Actor, key: ModelKey, prices: Prices, now: datetime
    ) -> ModelPrice:
        """Set one custom price in ``uow``, audited; the row as stored (unchanged: as it was)."""
        uow.audit.lock_resource("custom_price", price_resource_id(*key))
        existing = uow.prices.list_model_prices(provider=key[0], model=key[1], source="custom")
        current = existing[0] if existing else None
        planned = plan_custom_price(current, key[0], key[1], prices, now)
        if planned is None:
            return _found(current, "price", key)
        uow.prices.put_custom_price(planned)
        self._audit(uow, actor, now, "custom_price", price_resource_id(*key), current, planned)
        return planned

    def delete_custom_price(self, actor: Actor, provider: str, model: str) -> Call[ModelPrice]:
        """Delete a model's custom price (its price-book price, if any, is in effect again) and
        return what was deleted. NotFoundError when it has none."""
        key = _model_key(provider, model)
        self._require_price_manager(actor, "delete a custom price")
        now = self._now()

        def work(uow: UnitOfWork) -> ModelPrice:
            uow.audit.lock_resource("custom_price", price_resource_id(*key))
            deleted = uow.prices.delete_custom_price(*key)
            self._audit(uow, actor, now, "custom_price", price_resource_id(*key), deleted, None)
            return deleted

        return (yield from self._run(work, acting=actor, at=now))
