"""``create_router``: the routes of SPEC §14 over one ``AsyncGovernance``. Each route parses
its request, makes one call of the facade (which authorizes and validates it) and shapes the
answer. Errors are answered by the router itself (``_AnsweringRoute``), so it answers the same
mounted in any app.

No ``from __future__ import annotations`` here: FastAPI reads ``acting``'s annotation when it is
declared, and the host's dependency is local to ``create_router``."""

from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.routing import APIRoute

from aigov import Actor, AsyncGovernance
from aigov_http._budget_routes import add_budget_routes
from aigov_http._errors import ERROR_RESPONSES, NotAuthenticatedError, answered_here, error_response
from aigov_http._price_routes import add_price_routes
from aigov_http._spend_routes import add_spend_routes

__all__ = ["ActorDependency", "create_router"]

ActorDependency = Callable[..., Actor | Awaitable[Actor]]
"""A FastAPI dependency returning the calling ``Actor``; it raises ``NotAuthenticatedError``
(answered 401) or an ``HTTPException`` when the request's credentials are not acceptable."""


class _AnsweringRoute(APIRoute):
    """A route that answers aigov's errors, a request that fails validation and a rejected
    actor with the error table's answers (FastAPI's documented custom route class)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def answering(request: Request) -> Response:
            try:
                return await handle(request)
            except Exception as exc:
                if not answered_here(exc):
                    raise
                return error_response(exc)

        return answering


def create_router(gov: AsyncGovernance, *, actor: ActorDependency) -> APIRouter:
    """The routes of SPEC §14 at their full paths, over ``gov``. ``actor`` is the host's
    authentication: a FastAPI dependency that returns the calling ``Actor``."""
    router = APIRouter(route_class=_AnsweringRoute, responses=ERROR_RESPONSES)

    async def acting(who: Annotated[object, Depends(actor)]) -> Actor:
        if not isinstance(who, Actor):
            raise NotAuthenticatedError("the actor dependency returned no Actor")
        return who

    add_budget_routes(router, gov, acting)
    add_spend_routes(router, gov, acting)
    add_price_routes(router, gov, acting)
    return router
