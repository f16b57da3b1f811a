"""``create_app``: the router alone in an app of its own, for ``aigov serve`` and for hosts that
run the API as a service of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.requests import Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

import aigov
from aigov import AsyncGovernance
from aigov_http._errors import error_response
from aigov_http._router import ActorDependency, create_router

__all__ = ["create_app"]


def create_app(gov: AsyncGovernance, *, actor: ActorDependency) -> FastAPI:
    """An app serving ``create_router(gov, actor=actor)``, whose shutdown closes ``gov`` (on the
    app's event loop: its connections are that loop's). Answers outside the routes (an unknown
    path, a method a path does not take) have the same error body."""

    @asynccontextmanager
    async def closing(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await gov.aclose()

    app = FastAPI(
        title="aigov",
        version=aigov.__version__,
        summary="AI spend governance: budgets, overrides, spend and model prices (SPEC §14)",
        lifespan=closing,
    )
    app.include_router(create_router(gov, actor=actor))

    async def answer(request: Request, exc: Exception) -> JSONResponse:
        return error_response(exc)

    app.add_exception_handler(HTTPException, answer)
    app.add_exception_handler(RequestValidationError, answer)
    app.add_exception_handler(Exception, answer)  # a bug: 500 with the error body, logged
    return app
