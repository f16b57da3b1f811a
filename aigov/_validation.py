"""Turning caller input into validated values, with ``InvalidInputError`` for anything malformed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel, TypeAdapter, ValidationError

from aigov.exceptions import AmountOutOfRangeError, InvalidInputError

__all__ = ["as_uuid", "checked", "error_class", "validated"]

ModelT = TypeVar("ModelT", bound=BaseModel)
T = TypeVar("T")

_UUID = TypeAdapter(UUID)


def _message(what: str, exc: ValidationError) -> str:
    details = "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or what}: {error['msg']}"
        for error in exc.errors()
    )
    return f"invalid {what}: {details}"


_RANGE_ERRORS = frozenset({"greater_than_equal", "less_than_equal"})


def error_class(errors: Sequence[Mapping[str, Any]]) -> type[InvalidInputError]:
    """AmountOutOfRangeError when every fault is a bound (an amount outside 0 … 2**63-1), else
    InvalidInputError: the class a caller catches says what kind of mistake it was."""
    if errors and all(error["type"] in _RANGE_ERRORS for error in errors):
        return AmountOutOfRangeError
    return InvalidInputError


def checked(adapter: TypeAdapter[T], value: object, field: str) -> T:
    """``value`` validated by ``adapter``, or the error class of ``error_class`` naming
    ``field`` and what was wrong."""
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        raise error_class(errors)(
            f"invalid {field} {value!r}: {errors[0]['msg']}", errors=errors
        ) from exc


def validated(model: type[ModelT], /, **fields: Any) -> ModelT:
    """Build ``model`` from ``fields``, or raise ``InvalidInputError`` naming each bad field."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise InvalidInputError(
            _message(model.__name__, exc), errors=exc.errors(include_url=False)
        ) from exc


def as_uuid(value: object, field: str) -> UUID:
    """``value`` as a UUID (a UUID or its string), or ``InvalidInputError`` naming ``field``."""
    if isinstance(value, UUID):
        return value
    try:
        return _UUID.validate_python(value)
    except ValidationError as exc:
        raise InvalidInputError(
            f"invalid {field}: {value!r} is not a UUID", errors=exc.errors(include_url=False)
        ) from exc
