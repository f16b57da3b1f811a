"""The model-price routes of SPEC §14 (``/api/experimental``): listing takes no actor (§6).

No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations when they
are declared, and ``Acting`` is local to ``add_price_routes``."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends

from aigov import Actor, AsyncGovernance
from aigov.prices import Identifier
from aigov_http._bodies import CustomPrices, Prices

__all__ = ["add_price_routes"]


def add_price_routes(
    router: APIRouter, gov: AsyncGovernance, acting: Callable[..., Awaitable[Actor]]
) -> None:
    Acting = Annotated[Actor, Depends(acting)]  # noqa: N806 - a type, local to these routes

    @router.get("/api/experimental/ai/model-prices", tags=["prices"])
    async def get_model_prices(
        provider: Identifier | None = None,
        model: Identifier | None = None,
        source: Literal["effective", "all", "pricebook", "custom"] = "effective",
    ) -> Prices:
        """Model prices in micros per million tokens: the one in effect per model, or the rows
        of one source, or all; an unknown price is null."""
        return Prices.of(await gov.list_model_prices(provider, model, source))

    @router.post("/api/experimental/ai/model-prices", tags=["prices"])
    async def post_model_prices(body: CustomPrices, who: Acting) -> Prices:
        """Set custom prices: all of them, or, when one is bad, none."""
        stored = await gov.set_custom_prices(who, [price.as_core() for price in body.prices])
        return Prices.of(stored)

    @router.delete(
        "/api/experimental/ai/model-prices/{provider}/{model:path}",
        status_code=204,
        tags=["prices"],
    )
    async def delete_model_price(provider: Identifier, model: Identifier, who: Acting) -> None:
        """Delete a model's custom price; its price-book price, if any, is in effect again."""
        await gov.delete_custom_price(who, provider, model)
