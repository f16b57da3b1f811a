"""aigov's HTTP API (SPEC §14): the source system's AI budget routes as a FastAPI router.

``create_router(gov, actor=...)`` gives the routes, to mount in the host's app;
``create_app(gov, actor=...)`` an app with only them, which closes ``gov`` at shutdown. ``gov``
is an ``AsyncGovernance``; ``actor`` is the host's authentication, a FastAPI dependency that
returns the calling ``Actor`` (or raises ``NotAuthenticatedError``: 401).
``create_served_app(gov, tokens)`` is the app ``aigov serve`` runs: bearer ``tokens``
(``BearerTokens``) and an access log.
"""

from aigov_http._app import create_app
from aigov_http._errors import (
    ANSWERS,
    Answer,
    ErrorBody,
    NotAuthenticatedError,
    Validation,
    answer_of,
    error_response,
)
from aigov_http._query import MAX_EXPORT_DAYS, MAX_IDS
from aigov_http._router import ActorDependency, create_router
from aigov_http._serve import ACCESS_LOG, create_served_app
from aigov_http._tokens import MIN_TOKEN_LENGTH, BearerTokens, create_token_file

__all__ = [
    "ACCESS_LOG",
    "ANSWERS",
    "MAX_EXPORT_DAYS",
    "MAX_IDS",
    "MIN_TOKEN_LENGTH",
    "ActorDependency",
    "Answer",
    "BearerTokens",
    "ErrorBody",
    "NotAuthenticatedError",
    "Validation",
    "answer_of",
    "create_app",
    "create_router",
    "create_served_app",
    "create_token_file",
    "error_response",
]
