"""Turning caller input into validated values, with ``InvalidInputError`` for anything malformed."""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel, TypeAdapter, ValidationError

from aigov.exceptions import InvalidInputError

__all__ = ["as_uuid", "validated"]

ModelT = TypeVar("ModelT", bound=BaseModel)

_UUID = TypeAdapter(UUID)


def _message(what: str, exc: ValidationError) -> str:
    details = "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or what}: {error['msg']}"
        for error in exc.errors()
    )
    return f"invalid {what}: {details}"


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
