"""The memory store's price book (SPEC §3): the seed's plan comes from the core's ``plan_seed``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from aigov.audit import seed_record
from aigov.exceptions import NotFoundError
from aigov.ports import PriceRepository
from aigov.prices import ModelPrice, PriceSource, SeedResult, SeedRow, plan_seed, seed_result
from aigov_memory._audit import MemoryAudit
from aigov_memory._tables import Tables, WriteLog

__all__ = ["MemoryPrices"]


class MemoryPrices(PriceRepository):
    """The price book; a seed that changes it writes its audit entry through ``audit``."""

    def __init__(self, tables: Tables, log: WriteLog, audit: MemoryAudit) -> None:
        self._tables = tables
        self._log = log
        self._audit = audit

    def apply_seed(self, rows: Sequence[SeedRow], now: datetime) -> SeedResult:
        pricebook = {
            price.key: price
            for price in self._tables.model_prices.values()
            if price.source == "pricebook"
        }
        plan = plan_seed(rows, pricebook)
        for row in plan.insert:
            self._put_price(row, "pricebook", created_at=now, updated_at=now)
        for row in plan.update:
            self._put_price(
                row, "pricebook", created_at=pricebook[row.key].created_at, updated_at=now
            )
        result = seed_result(plan)
        if plan.insert or plan.update:
            actor, at = self._audit.context()
            self._audit.append_audit(seed_record(at=at, actor=actor, result=result))
        return result

    def _put_price(
        self, row: SeedRow, source: PriceSource, *, created_at: datetime, updated_at: datetime
    ) -> None:
        price = ModelPrice(
            provider=row.provider,
            model=row.model,
            source=source,
            created_at=created_at,
            updated_at=updated_at,
            **row.prices().model_dump(),
        )
        self._log.put(self._tables.model_prices, (row.provider, row.model, source), price)

    def list_model_prices(
        self,
        *,
        provider: str | None = None,
        model: str | None = None,
        source: PriceSource | None = None,
    ) -> Sequence[ModelPrice]:
        return [
            price
            for key, price in sorted(self._tables.model_prices.items())
            if provider in (None, key[0]) and model in (None, key[1]) and source in (None, key[2])
        ]

    def put_custom_price(self, price: ModelPrice) -> None:
        self._log.put(self._tables.model_prices, (price.provider, price.model, "custom"), price)

    def delete_custom_price(self, provider: str, model: str) -> ModelPrice:
        key: tuple[str, str, PriceSource] = (provider, model, "custom")
        price = self._tables.model_prices.get(key)
        if price is None:
            raise NotFoundError(
                f"no custom price for {provider}/{model}", resource="price", key=(provider, model)
            )
        self._log.pop(self._tables.model_prices, key)
        return price
