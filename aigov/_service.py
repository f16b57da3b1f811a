"""The shared machinery of ``Governance``: settings, time, ids, units of work, the feature gate,
authorization facts and input validation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, ParamSpec, TypeVar
from uuid import UUID

from pydantic import TypeAdapter, ValidationError

from aigov._validation import as_uuid, checked, error_class, validated
from aigov.actor import Actor
from aigov.audit import (
    ResourceType,
    actor_label,
    change_record,
)
from aigov.authorization import Facts, Need, NoFacts, authorize
from aigov.budgets import (
    GroupAIBudget,
    UserAIBudgetOverride,
)
from aigov.clock import Clock, IdFactory, random_ids, system_clock
from aigov.cost import TokenUsage
from aigov.directory import (
    ORGANIZATION_ROLES,
    OrganizationRole,
)
from aigov.exceptions import (
    ConflictError,
    FeatureDisabledError,
    InvalidInputError,
    NotFoundError,
    TransientError,
)
from aigov.money import Micros
from aigov.periods import Period, PeriodWindow, period_window
from aigov.plans import TwinStep
from aigov.ports import DirectoryRepository, Store, UnitOfWork
from aigov.prices import (
    Identifier,
    ModelKey,
    ModelPrice,
    Prices,
)
from aigov.resolution import BudgetPolicy, EffectiveBudget
from aigov.settings import GovernanceSettings, UnknownPricePolicy
from aigov.spend import (
    IdempotencyKey,
)

__all__ = ["AI_GOVERNANCE", "Call", "PriceListing", "Service", "ServiceStep", "configured"]

AI_GOVERNANCE = "ai_governance"
"""The entitlement that enables budgets, overrides and spend (SPEC §6.3)."""

T = TypeVar("T")
P = ParamSpec("P")

PriceListing = Literal["effective", "pricebook", "custom", "all"]
_SYSTEM = Actor.system()
TRANSIENT_ATTEMPTS = 3
"""How often an idempotent call is tried when its transaction meets a TransientError."""


def _retried(call: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``call(*args, **kwargs)``, tried again when it meets a TransientError (its transaction
    was rolled back), at most ``TRANSIENT_ATTEMPTS`` times in all (SPEC §8.0); the last
    attempt's error propagates. Only for idempotent calls."""
    for _ in range(TRANSIENT_ATTEMPTS - 1):
        try:
            return call(*args, **kwargs)
        except TransientError:
            continue
    return call(*args, **kwargs)


async def _aretried(call: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``_retried``'s twin, for a call that is awaited."""
    for _ in range(TRANSIENT_ATTEMPTS - 1):
        try:
            return await call(*args, **kwargs)
        except TransientError:
            continue
    return await call(*args, **kwargs)


class ServiceStep(TwinStep[Store, T]):
    """A step of a facade call: what ``Governance`` runs and ``AsyncGovernance`` awaits."""

    __slots__ = ()


Call = Generator[ServiceStep[Any], Any, T]
"""A facade call written once (``aigov.plans``): its steps are units of work and store calls."""


class _InTransaction(ServiceStep[T]):
    """``unit`` in one unit of work; an idempotent one is tried again after a TransientError."""

    __slots__ = ("_idempotent", "_unit")

    def __init__(self, unit: Callable[[UnitOfWork], T], *, idempotent: bool) -> None:
        self._unit, self._idempotent = unit, idempotent

    def _once(self, store: Store) -> T:
        with store.transaction() as uow:
            return self._unit(uow)

    def run(self, store: Store) -> T:
        return _retried(self._once, store) if self._idempotent else self._once(store)

    async def arun(self, store: Store) -> T:
        if not self._idempotent:
            return await store.arun_in_transaction(self._unit)
        return await _aretried(store.arun_in_transaction, self._unit)


class StoreCall(ServiceStep[T]):
    """One hot-path store operation (``sync`` and its ``asynchronous`` twin), idempotent: it is
    tried again after a TransientError."""

    __slots__ = ("_asynchronous", "_sync")

    def __init__(
        self, sync: Callable[[Store], T], asynchronous: Callable[[Store], Awaitable[T]]
    ) -> None:
        self._sync, self._asynchronous = sync, asynchronous

    def run(self, store: Store) -> T:
        return _retried(self._sync, store)

    async def arun(self, store: Store) -> T:
        return await _aretried(self._asynchronous, store)


def configured(
    *,
    entitlements: Iterable[str],
    period: Period,
    budget_policy: BudgetPolicy,
    unknown_price_policy: UnknownPricePolicy,
    thresholds: Iterable[int],
) -> tuple[frozenset[str], GovernanceSettings]:
    """A facade's entitlements and settings from its caller, checked."""
    if isinstance(entitlements, str) or not isinstance(entitlements, Iterable):
        raise InvalidInputError(f"entitlements must be a collection of names, not {entitlements!r}")
    settings = validated(
        GovernanceSettings,
        period=period,
        budget_policy=budget_policy,
        unknown_price_policy=unknown_price_policy,
        thresholds=thresholds,
    )
    return frozenset(entitlements), settings


def _no_group(user: UUID) -> NotFoundError:
    return NotFoundError(
        f"user {user} belongs to no organization: no group to attribute spend to",
        resource="effective group",
        key=user,
    )


def _found(value: T | None, resource: str, key: object) -> T:
    if value is None:
        raise NotFoundError(f"{resource} {key} not found", resource=resource, key=key)
    return value


class Service:
    """What every call of the facade shares: the store, the settings, the clock and ids, one
    unit of work per call, and the feature gate."""

    def __init__(
        self,
        store: Store,
        *,
        entitlements: frozenset[str],
        settings: GovernanceSettings,
        clock: Clock = system_clock,
        ids: IdFactory = random_ids,
    ) -> None:
        self._store = store
        self._entitlements = entitlements
        self._settings = settings
        self._settings_agreed = False
        self._clock = clock
        self._ids = ids
        self._window: PeriodWindow | None = None

    @property
    def store(self) -> Store:
        return self._store

    @property
    def entitlements(self) -> frozenset[str]:
        return self._entitlements

    @property
    def settings(self) -> GovernanceSettings:
        return self._settings

    def _now(self) -> datetime:
        if self._clock is system_clock:  # nothing to check
            return datetime.now(UTC)
        now = self._clock()
        if not isinstance(now, datetime):
            raise InvalidInputError(f"the clock returned {now!r}, not a datetime")
        if now.tzinfo is None or now.utcoffset() is None:
            raise InvalidInputError(
                f"the clock returned a naive datetime ({now!r}); use aware ones"
            )
        return now

    def _period_of(self, instant: datetime) -> PeriodWindow:
        """The configured period containing ``instant``: the last one found, while it lasts
        (the hot path asks for the current period on every call)."""
        window = self._window
        if window is None or not window.start <= instant < window.end:
            window = self._window = period_window(instant, self._settings.period)
        return window

    def _directory_write(self, actor: Actor, action: str, resource: str) -> None:
        """Directory writes belong to the host's identity sync (SPEC §6.1: system only)."""
        _check_actor(actor)
        authorize(actor, f"{action} {resource}", [Need("write_directory")], NoFacts())

    def _run(
        self,
        work: Callable[[UnitOfWork], T],
        *,
        acting: Actor | None = None,
        at: datetime | None = None,
        idempotent: bool = True,
    ) -> Call[T]:
        """Run ``work`` in one unit of work. A write names who acts (``acting``) and when, for
        the audit entries it and its cascades write. An idempotent call that meets a
        TransientError (its transaction was rolled back) is tried again, a bounded number of
        times (SPEC §8.0); other calls leave the retry to their caller."""
        unit = work
        if acting is not None:
            label = actor_label(acting)

            def unit(uow: UnitOfWork) -> T:
                uow.audit.set_audit_context(label, self._now() if at is None else at)
                return work(uow)

        return (yield from _InTransaction(unit, idempotent=idempotent))

    def _authorize_reading(self, actor: Actor, action: str, *needs: Need) -> Call[None]:
        """Authorize without directory facts when the decision needs none (the system, a user
        reading themselves: the hot path's own callers), else with facts read in a unit of
        work."""
        try:
            authorize(actor, action, needs, _NOT_YET_READ)
        except _FactsNeededError:
            yield from self._run(lambda uow: _authorize(uow, actor, action, *needs))

    def _effective(self, uow: UnitOfWork, user: UUID) -> EffectiveBudget:
        """The user's effective budget (SPEC §7), read in ``uow``. NotFoundError for an
        unknown user."""
        return _found(uow.budgets.resolve_budget(user, self._settings.budget_policy), "user", user)

    def _spending_group(self, uow: UnitOfWork, user: UUID) -> tuple[EffectiveBudget, UUID]:
        """The user's effective budget and the group their spend and holds go to.
        NotFoundError for an unknown user, or one in no organization (no group to use)."""
        effective = self._effective(uow, user)
        if effective.group_id is None:
            raise _no_group(user)
        return effective, effective.group_id

    def _require_feature(self) -> Call[None]:
        """SPEC §6.3: budget, override and spend calls need the ai_governance entitlement.
        SPEC §8.0: the store keeps the first settings it is given; refuse to enforce others.
        (Callers that race to agree both ask the store, which answers both the same.)"""
        if AI_GOVERNANCE not in self._entitlements:
            raise FeatureDisabledError(
                "AI governance is not enabled: Governance(..., entitlements={'ai_governance'})"
            )
        if self._settings_agreed:
            return
        stored = yield from self._run(lambda uow: uow.settings.ensure_settings(self._settings))
        if stored != self._settings:
            raise ConflictError(
                f"this store enforces {stored.model_dump()}, not {self._settings.model_dump()}:"
                " every Governance on one store must use the same settings",
                constraint="ai_governance_settings",
            )
        self._settings_agreed = True

    # -- group budgets and user overrides --------------------------------------------------------

    @staticmethod
    def _audit(  # noqa: PLR0917 - a private helper; call sites read as one sentence
        uow: UnitOfWork,
        actor: Actor,
        at: datetime,
        resource_type: ResourceType,
        resource_id: str,
        before: GroupAIBudget | UserAIBudgetOverride | ModelPrice | None,
        after: GroupAIBudget | UserAIBudgetOverride | ModelPrice | None,
    ) -> None:
        uow.audit.append_audit(
            change_record(
                at=at,
                actor=actor_label(actor),
                resource_type=resource_type,
                resource_id=resource_id,
                before=before,
                after=after,
            )
        )


class _StoreFacts(Facts):
    """Authorization facts read through the directory of the caller's unit of work."""

    def __init__(self, directory: DirectoryRepository) -> None:
        self._directory = directory

    def organization_of_group(self, group_id: UUID) -> UUID | None:
        group = self._directory.get_group(group_id)
        return None if group is None else group.organization_id

    def organization_roles(self, user_id: UUID, organization_id: UUID) -> frozenset[str]:
        member = self._directory.get_organization_member(user_id, organization_id)
        return frozenset() if member is None else frozenset(member.roles)

    def organizations_of_user(self, user_id: UUID) -> frozenset[UUID]:
        members = self._directory.list_organization_members(user_id=user_id)
        return frozenset(m.organization_id for m in members)

    def is_group_member(self, user_id: UUID, group_id: UUID) -> bool:
        return self._directory.is_group_member(user_id, group_id)


class _FactsNeededError(Exception):
    """A decision asked for a directory fact that was not read yet."""


class _NotYetRead(Facts):
    def organization_of_group(self, group_id: UUID) -> UUID | None:
        raise _FactsNeededError

    def organization_roles(self, user_id: UUID, organization_id: UUID) -> frozenset[str]:
        raise _FactsNeededError

    def organizations_of_user(self, user_id: UUID) -> frozenset[UUID]:
        raise _FactsNeededError

    def is_group_member(self, user_id: UUID, group_id: UUID) -> bool:
        raise _FactsNeededError


_NOT_YET_READ = _NotYetRead()


def _authorize(uow: UnitOfWork, actor: Actor, action: str, *needs: Need) -> None:
    authorize(actor, action, needs, _StoreFacts(uow.directory))


_MICROS = TypeAdapter(Micros)


def _amount_micros(value: object, field: str) -> int:
    """An amount of micros from the caller: an int in 0 … 2**63-1, strictly; else
    AmountOutOfRangeError (out of range) or InvalidInputError, naming ``field``."""
    return checked(_MICROS, value, field)


def _page_size(value: object, *, at_most: int) -> int:
    """A page size from the caller (a ``limit`` argument): a true int from 1 to ``at_most``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= at_most:
        raise InvalidInputError(f"limit must be an int from 1 to {at_most}, not {value!r}")
    return value


def _check_actor(actor: object) -> None:
    if not isinstance(actor, Actor):
        raise InvalidInputError(f"actor must be an aigov.Actor, not {type(actor).__name__}")


_IDENTIFIER = TypeAdapter(Identifier)


def _identifier(value: object, field: str) -> str:
    return checked(_IDENTIFIER, value, field)


def _model_key(provider: object, model: object) -> ModelKey:
    return (_identifier(provider, "provider"), _identifier(model, "model"))


def _prices(**prices: object) -> Prices:
    """Prices from the caller: integers ≥ 0 (micros per 1M tokens) or None, strictly."""
    try:
        return Prices.model_validate(prices)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        kind = error_class(errors)
        fields = ", ".join(f"{e['loc'][0]}: {e['msg']}" for e in errors)
        raise kind(f"invalid prices: {fields}", errors=errors) from exc


_KEY = TypeAdapter(IdempotencyKey)


def _idempotency_key(value: object) -> str:
    return checked(_KEY, value, "idempotency_key")


def _token_usage(value: object) -> TokenUsage:
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"usage must be a TokenUsage or a mapping, not {value!r}")
    return TokenUsage(**value)


_ROLES = TypeAdapter(tuple[OrganizationRole, ...])


def _roles(roles: Iterable[OrganizationRole]) -> tuple[OrganizationRole, ...]:
    """Organization roles from the caller: a collection of known names, not one string."""
    if isinstance(roles, str):
        raise InvalidInputError("roles must be a collection of role names, not one string")
    try:
        return _ROLES.validate_python(roles)
    except ValidationError as exc:
        raise InvalidInputError(
            f"roles must be organization roles {ORGANIZATION_ROLES}, not {roles!r}",
            errors=exc.errors(include_url=False),
        ) from exc


def _optional_uuid(value: UUID | str | None, field: str) -> UUID | None:
    return None if value is None else as_uuid(value, field)
