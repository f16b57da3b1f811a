"""The price book (SPEC §3) in PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, delete, func, select

from aigov.exceptions import StorageError
from aigov.ports import PriceRepository
from aigov.prices import ModelPrice, PriceSource, SeedResult, SeedRow
from aigov_postgres import schema as tables
from aigov_postgres._repository import Repository, where
from aigov_postgres._seed import SeedStatement


class PostgresPrices(Repository, PriceRepository):
    def __init__(self, connection: Connection, schema: str, seed: SeedStatement) -> None:
        super().__init__(connection, schema)
        self._seed = seed

    def apply_seed(self, rows: Sequence[SeedRow], now: datetime) -> SeedResult:
        driver = self._connection.connection.driver_connection
        if driver is None:
            raise StorageError("the connection was closed")
        actor, at = self._connection.execute(
            select(
                func.current_setting("aigov.actor", True), func.current_setting("aigov.now", True)
            )
        ).one()
        audit_at = datetime.fromisoformat(at) if at else now
        return self._seed.apply(driver, rows, now, actor=actor or "system", audit_at=audit_at)

    def list_model_prices(
        self,
        *,
        provider: str | None = None,
        model: str | None = None,
        source: PriceSource | None = None,
    ) -> Sequence[ModelPrice]:
        prices = tables.model_prices
        rows = self._connection.execute(
            select(prices)
            .where(
                where(
                    (prices.c.provider, provider),
                    (prices.c.model, model),
                    (prices.c.source, source),
                )
            )
            .order_by(prices.c.provider, prices.c.model, prices.c.source)
        )
        return [ModelPrice.model_validate(row._mapping) for row in rows]

    def put_custom_price(self, price: ModelPrice) -> None:
        values = price.model_dump() | {"source": "custom"}
        self._upsert(tables.model_prices, ("provider", "model", "source"), values)

    def delete_custom_price(self, provider: str, model: str) -> ModelPrice:
        prices = tables.model_prices
        row = self._one_or_missing(
            delete(prices)
            .where(
                where(
                    (prices.c.provider, provider),
                    (prices.c.model, model),
                    (prices.c.source, "custom"),
                )
            )
            .returning(*prices.c),
            "price",
            (provider, model),
            f"no custom price for {provider}/{model}",
        )
        return ModelPrice.model_validate(row._mapping)
