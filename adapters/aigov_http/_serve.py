"""The app ``aigov serve`` runs: ``create_app`` authenticated by bearer tokens, with one
access-log line per request.

No ``from __future__ import annotations`` here: FastAPI reads the bearer dependency's annotations
when it is declared, inside ``create_served_app``.
"""

import logging
import time
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, FastAPI
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aigov import Actor, AsyncGovernance
from aigov_http._app import create_app
from aigov_http._errors import NotAuthenticatedError
from aigov_http._tokens import BearerTokens

__all__ = ["ACCESS_LOG", "AccessLog", "BearerChallenge", "create_served_app"]

ACCESS_LOG = "aigov_http.access"
"""The logger of the access log: one INFO record per request."""

_access = logging.getLogger(ACCESS_LOG)

_PATH_SAFE = "/-._~!$&'()*+,;=:@"
"""What a logged path keeps as it is; anything else (a control character, a space, a newline
that would forge a second log line) is percent-encoded."""


def create_served_app(gov: AsyncGovernance, tokens: BearerTokens) -> FastAPI:
    """``create_app(gov)`` whose actor is the one of the request's ``Authorization: Bearer``
    token (401, with ``WWW-Authenticate: Bearer``, when there is none or it is not one of
    ``tokens``), logging each request to ``ACCESS_LOG``. The OpenAPI document declares the
    bearer scheme, so ``/docs`` can send a token."""
    bearer = HTTPBearer(
        auto_error=False,
        description="A token of the `aigov serve --tokens` file.",
    )

    async def actor(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Actor:
        if credentials is None:
            raise NotAuthenticatedError("send Authorization: Bearer <token>")
        found = tokens.actor_of(credentials.credentials)
        if found is None:
            raise NotAuthenticatedError("the bearer token is not known")
        return found

    app = create_app(gov, actor=actor)
    app.add_middleware(BearerChallenge)
    app.add_middleware(AccessLog)
    return app


class AccessLog:
    """Pure ASGI middleware: one line per HTTP request, ``METHOD PATH STATUS DURATIONms``,
    logged when the answer is complete (a streamed export's duration is all of it).

    Only the path is logged: no query string (its values may be anything a caller sent), no
    header (the token is one), no body. The same fields are on the record as ``method``,
    ``path``, ``status`` and ``duration_ms`` for structured handlers. A request that ends in an
    exception before any answer is logged as the 500 the server then sends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            duration = (time.perf_counter() - started) * 1000
            method, path = scope["method"], quote(scope["path"], safe=_PATH_SAFE)
            _access.info(
                "%s %s %d %.1fms",
                method,
                path,
                status,
                duration,
                extra={"method": method, "path": path, "status": status, "duration_ms": duration},
            )


class BearerChallenge:
    """Pure ASGI middleware: a 401 answer says how to authenticate, ``WWW-Authenticate:
    Bearer`` (RFC 6750), unless it says so already."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                headers = list(message.get("headers", []))
                if all(name.lower() != b"www-authenticate" for name, _ in headers):
                    headers.append((b"www-authenticate", b"Bearer"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)
