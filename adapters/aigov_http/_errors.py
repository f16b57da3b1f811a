"""How an error becomes an HTTP answer (SPEC §14): one table, in one place.

Every answer to an error has the source system's body, ``{"message", "detail", "validations"}``:
``message`` always, ``validations`` (one ``{field, detail}`` per bad field, possibly none when the
core named no field) on a 400. A 5xx says no more than what happened: a store's message may name
hosts and tables, so it goes to the log, not to the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException

from aigov import (
    AigovError,
    ConflictError,
    FeatureDisabledError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    PolicyViolationError,
    StorageError,
    TransientError,
)

__all__ = [
    "ANSWERS",
    "ERROR_RESPONSES",
    "Answer",
    "ErrorBody",
    "NotAuthenticatedError",
    "Validation",
    "answer_of",
    "answered_here",
    "error_response",
]

_log = logging.getLogger("aigov_http")


class NotAuthenticatedError(Exception):
    """Raised by an ``actor`` dependency when the request carries no acceptable credentials:
    answered 401 on every route that takes an actor."""


class Validation(BaseModel):
    """One bad field of a request: where it is (``prices[1].input_price_micros``) and why."""

    model_config = ConfigDict(extra="forbid")

    field: str
    detail: str


class ErrorBody(BaseModel):
    """The body of every error answer."""

    model_config = ConfigDict(extra="forbid")

    message: str
    detail: str | None = None
    validations: list[Validation] | None = None


@dataclass(frozen=True)
class Answer:
    """How one class of error is answered: its status, a code for machines, a message for
    people."""

    kind: type[Exception]
    status: int
    code: str
    message: str
    retry_after: bool = False
    """Whether the answer says ``Retry-After: 1``: the same request may succeed in a moment."""


ANSWERS: tuple[Answer, ...] = (
    Answer(RequestValidationError, 400, "invalid_input", "The request is not valid."),
    Answer(InvalidInputError, 400, "invalid_input", "The request is not valid."),
    Answer(PolicyViolationError, 400, "rule_violated", "The change breaks a rule."),
    Answer(NotAuthenticatedError, 401, "not_authenticated", "Not authenticated."),
    Answer(ForbiddenError, 403, "forbidden", "Forbidden."),
    Answer(
        FeatureDisabledError,
        403,
        "feature_disabled",
        "AI governance is not enabled for this deployment.",
    ),
    Answer(NotFoundError, 404, "not_found", "Not found."),
    Answer(ConflictError, 409, "conflict", "It conflicts with what exists."),
    Answer(TransientError, 503, "try_again", "The store is busy; try again.", retry_after=True),
    Answer(
        StorageError,
        503,
        "storage_unavailable",
        "The store is unavailable; try again.",
        retry_after=True,
    ),
)
"""The one table of answers to aigov's errors; the first class that matches wins (subclasses
come first). A service of its own API (the example gateway) puts its own rows before these."""


def answer_of(exc: BaseException, answers: Sequence[Answer] = ANSWERS) -> Answer | None:
    """The first row of ``answers`` that ``exc`` is an instance of, if any."""
    return next((answer for answer in answers if isinstance(exc, answer.kind)), None)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The request is not valid, or breaks a rule."}
}
ERROR_RESPONSES.update(
    (answer.status, {"model": ErrorBody, "description": answer.message})
    for answer in ANSWERS
    if answer.status != 400
)
# Any other status (a bug's 500) has the same body. Being documented, it also keeps FastAPI from
# documenting a 422 that no route answers: a request that fails validation is a 400 here.
ERROR_RESPONSES["default"] = {"model": ErrorBody, "description": "Any other error."}
"""The error answers, for the OpenAPI document of every route."""


def error_response(exc: Exception) -> JSONResponse:
    """The answer to ``exc``: the table's status and body; an HTTPException keeps its status
    and headers; anything else is a bug, answered 500 and logged with its traceback."""
    if isinstance(exc, HTTPException):
        body = ErrorBody(message=str(exc.detail))
        return _answer(exc.status_code, body, exc.headers)
    found = answer_of(exc)
    if found is None:
        _log.error("unexpected error answering a request", exc_info=exc)
        return _answer(500, ErrorBody(message="Internal error."))
    status, message = found.status, found.message
    headers = {"Retry-After": "1"} if found.retry_after else None
    if status >= 500:
        _log.warning("answered %d: %s", status, exc, exc_info=exc)
        return _answer(status, ErrorBody(message=message), headers)
    body = ErrorBody(message=message, detail=_detail(exc))
    if status == 400:
        body.validations = _validations(exc)
    return _answer(status, body, headers)


def _answer(status: int, body: ErrorBody, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


def _detail(exc: Exception) -> str:
    if isinstance(exc, RequestValidationError):
        return "; ".join(f"{v.field}: {v.detail}" for v in _validations(exc))
    return str(exc)


def _validations(exc: Exception) -> list[Validation]:
    if isinstance(exc, RequestValidationError):
        return [_validation(error, strip_source=True) for error in exc.errors()]
    if isinstance(exc, InvalidInputError):
        return [_validation(error, strip_source=False) for error in exc.errors]
    return []


def _validation(error: Mapping[str, Any], *, strip_source: bool) -> Validation:
    """``{field, detail}`` of one of pydantic's errors: its location (without FastAPI's
    ``body``/``query``/``path`` prefix) as ``a.b[0].c``, and its message."""
    location: Sequence[Any] = error.get("loc", ())
    if strip_source and location and location[0] in ("body", "query", "path", "header"):
        location = location[1:]
    field = ""
    for part in location:
        field += f"[{part}]" if isinstance(part, int) else f".{part}" if field else str(part)
    return Validation(field=field, detail=str(error.get("msg", "invalid")))


def answered_here(exc: BaseException) -> bool:
    """Whether the router answers ``exc`` itself. Anything else is a bug, and propagates to the
    host's app (its error middleware, its 500)."""
    return isinstance(
        exc, (AigovError, RequestValidationError, NotAuthenticatedError, HTTPException)
    )
