"""Every error aigov raises, in one tree.

A caller catches ``AigovError`` for anything of ours, or one branch for one kind of answer. The same
bad input gives the same class from every store; adapters translate driver errors into these in one
place and chain the original (``raise ... from exc``)::

    AigovError
    ├── InvalidInputError (ValueError)        bad input at a public boundary (pydantic's errors())
    │   └── AmountOutOfRangeError             an amount or result outside 0 … 2**63-1
    ├── NotFoundError (LookupError)           it does not exist, or the actor may not know it does
    ├── ConflictError                         it exists already, or clashes with what exists
    ├── PolicyViolationError                  a domain rule refuses the change
    │   ├── DirectoryRuleError                a directory rule of SPEC §2 (named constraint)
    │   ├── MembershipInvariantError          a membership rule (SPEC §2, §5.2; named constraint)
    │   ├── BudgetExceededError               the spend does not fit the budget
    │   └── UnknownPriceError                 spend needs a price that is not known (SPEC §8.3)
    ├── FeatureDisabledError                  the AI governance feature is not entitled
    ├── ForbiddenError (PermissionError)      the actor may see the resource but not do this
    └── StorageError                          a store failure not caused by the input
        └── TransientError                    40001 / 40P01 / 55P03: an idempotent call may retry
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "AigovError",
    "AmountOutOfRangeError",
    "BudgetExceededError",
    "ConflictError",
    "DirectoryRuleError",
    "FeatureDisabledError",
    "ForbiddenError",
    "InvalidInputError",
    "MembershipInvariantError",
    "NotFoundError",
    "PolicyViolationError",
    "StorageError",
    "TransientError",
    "UnknownPriceError",
]


class AigovError(Exception):
    """Raised for every failure aigov reports; the root of the tree above."""


class InvalidInputError(AigovError, ValueError):
    """Raised when an argument at a public boundary is malformed, before anything is stored.

    ``errors`` keeps pydantic's structured ``errors()`` list (location, message, input) when the
    input was rejected by a model, so a caller can point at the offending field.
    """

    def __init__(self, message: str, *, errors: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__(message)
        self.errors: tuple[Mapping[str, Any], ...] = tuple(errors)


class AmountOutOfRangeError(InvalidInputError):
    """Raised when an amount of micros, or a result computed from one, leaves 0 … 2**63-1."""


class NotFoundError(AigovError, LookupError):
    """Raised when the resource asked for does not exist, or the actor may not know it exists.

    ``resource`` names the kind (``"organization"``, ``"user"``, ``"group"`` …) and ``key`` its id.
    """

    def __init__(self, message: str, *, resource: str, key: object) -> None:
        super().__init__(message)
        self.resource = resource
        self.key = key


class ConflictError(AigovError):
    """Raised when a change clashes with what exists: a duplicate id, a second default organization,
    the same key twice in one batch. ``constraint`` names the rule where one exists."""

    def __init__(self, message: str, *, constraint: str | None = None) -> None:
        super().__init__(message)
        self.constraint = constraint


class PolicyViolationError(AigovError):
    """Raised when a domain rule refuses a change that is otherwise well formed."""


class DirectoryRuleError(PolicyViolationError):
    """Raised when a change would slip past a directory rule of SPEC §2: a direct member of an
    Everyone group, deleting an Everyone group, changing a membership's or group's key columns, or
    truncating a membership table. ``constraint`` is the rule's name, the same on every store."""

    def __init__(self, message: str, *, constraint: str) -> None:
        super().__init__(message)
        self.constraint = constraint


class MembershipInvariantError(PolicyViolationError):
    """Raised when a write would leave a membership rule broken: a group member who is not a
    member of the group's organization, or (SPEC §5.2) an override whose user is not a member of
    its group. ``constraint`` is the rule's name, the same on every store."""

    def __init__(self, message: str, *, constraint: str) -> None:
        super().__init__(message)
        self.constraint = constraint


class BudgetExceededError(PolicyViolationError):
    """Raised when a reservation does not fit the remaining budget of the current period."""

    def __init__(
        self,
        message: str,
        *,
        limit_micros: int,
        spent_micros: int,
        held_micros: int,
        requested_micros: int,
        remaining_micros: int,
        group_id: object,
    ) -> None:
        super().__init__(message)
        self.limit_micros = limit_micros
        self.spent_micros = spent_micros
        self.held_micros = held_micros
        self.requested_micros = requested_micros
        self.remaining_micros = remaining_micros
        self.group_id = group_id


class UnknownPriceError(PolicyViolationError):
    """Raised when spend must be priced and the model has no known price for a token kind used."""

    def __init__(self, message: str, *, provider: str, model: str) -> None:
        super().__init__(message)
        self.provider = provider
        self.model = model


class FeatureDisabledError(AigovError):
    """Raised by every gated call when the ``ai_governance`` entitlement is missing, before any
    storage is touched."""


class ForbiddenError(AigovError, PermissionError):
    """Raised when the actor may read the resource but may not perform the action on it."""

    def __init__(self, message: str, *, actor: object, action: str, resource: str) -> None:
        super().__init__(message)
        self.actor = actor
        self.action = action
        self.resource = resource


class StorageError(AigovError):
    """Raised when a store fails for a reason that is not the input: a lost connection, a missing
    schema, an unexpected driver error. The driver's exception is chained as ``__cause__``."""


class TransientError(StorageError):
    """Raised for a serialization failure, deadlock or lock timeout: the transaction was rolled
    back and an idempotent call may be retried."""
