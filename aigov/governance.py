"""``Governance``: the public face of aigov.

Every call validates its input, checks who may make it, and then does its work in one unit of work
of the store, so that a caller never half-applies a change and never reaches what it may not.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar
from uuid import UUID

from pydantic import TypeAdapter, ValidationError

from aigov import pricebook_seed as embedded_seed
from aigov._validation import as_uuid, error_class, validated
from aigov.actor import Actor
from aigov.audit import (
    AuditEntry,
    AuditFilter,
    ResourceType,
    actor_label,
    change_record,
    price_resource_id,
)
from aigov.authorization import Facts, Need, NoFacts, authorize
from aigov.budgets import (
    GroupAIBudget,
    UserAIBudgetOverride,
    plan_group_budget,
    plan_override,
)
from aigov.clock import Clock, IdFactory, random_ids, system_clock
from aigov.cost import TokenUsage, cost_of
from aigov.directory import (
    ORGANIZATION_ROLES,
    Group,
    GroupMember,
    Organization,
    OrganizationMember,
    OrganizationRole,
    User,
    canonical_roles,
)
from aigov.exceptions import (
    ConflictError,
    FeatureDisabledError,
    InvalidInputError,
    NotFoundError,
    UnknownPriceError,
)
from aigov.money import Micros
from aigov.periods import Period, check_instant, period_window, utc_day
from aigov.ports import Store, UnitOfWork
from aigov.prices import (
    Identifier,
    ModelKey,
    ModelPrice,
    Prices,
    PriceSource,
    SeedResult,
    effective_prices,
    parse_seed,
    plan_custom_price,
)
from aigov.resolution import BudgetPolicy, EffectiveBudget, resolve
from aigov.settings import GovernanceSettings, UnknownPricePolicy
from aigov.spend import (
    IdempotencyKey,
    Reservation,
    UsageRecord,
    budget_exceeded,
    check_replay,
    usage_record,
)

__all__ = ["AI_GOVERNANCE", "Governance", "PriceListing"]

AI_GOVERNANCE = "ai_governance"
"""The entitlement that enables budgets, overrides and spend (SPEC §6.3)."""

T = TypeVar("T")

PriceListing = Literal["effective", "pricebook", "custom", "all"]
_SYSTEM = Actor.system()


def _found(value: T | None, resource: str, key: object) -> T:
    if value is None:
        raise NotFoundError(f"{resource} {key} not found", resource=resource, key=key)
    return value


class Governance:
    """The service facade over one store.

    ``entitlements`` is required: without ``"ai_governance"`` every budget, override and spend call
    raises ``FeatureDisabledError``. Directory writes come from the host's identity sync and need
    ``Actor.system()``; directory reads are the host's own and take no actor.
    """

    def __init__(
        self,
        store: Store,
        *,
        entitlements: Iterable[str],
        period: Period = "month",
        budget_policy: BudgetPolicy = "highest",
        unknown_price_policy: UnknownPricePolicy = "deny",
        thresholds: Iterable[int] = (80, 100),
        clock: Clock = system_clock,
        ids: IdFactory = random_ids,
    ) -> None:
        if isinstance(entitlements, str) or not isinstance(entitlements, Iterable):
            raise InvalidInputError(
                f"entitlements must be a collection of names, not {entitlements!r}"
            )
        self._store = store
        self._entitlements = frozenset(entitlements)
        self._settings = validated(
            GovernanceSettings,
            period=period,
            budget_policy=budget_policy,
            unknown_price_policy=unknown_price_policy,
            thresholds=tuple(thresholds),
        )
        self._settings_agreed = False
        self._settings_lock = threading.Lock()
        self._clock = clock
        self._ids = ids

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
        now = self._clock()
        if not isinstance(now, datetime):
            raise InvalidInputError(f"the clock returned {now!r}, not a datetime")
        if now.tzinfo is None or now.utcoffset() is None:
            raise InvalidInputError(
                f"the clock returned a naive datetime ({now!r}); use aware ones"
            )
        return now

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
    ) -> T:
        """Run ``work`` in one unit of work. A write names who acts (``acting``) and when, for
        the audit entries it and its cascades write."""
        with self._store.transaction() as uow:
            if acting is not None:
                uow.set_audit_context(actor_label(acting), self._now() if at is None else at)
            return work(uow)

    # -- organizations ---------------------------------------------------------------------------

    def create_organization(
        self, actor: Actor, organization_id: UUID | str, name: str, *, is_default: bool = False
    ) -> Organization:
        """Create an organization and its Everyone group (whose id is the organization's)."""
        organization = validated(
            Organization,
            id=as_uuid(organization_id, "organization_id"),
            name=name,
            is_default=is_default,
            created_at=self._now(),
        )
        self._directory_write(actor, "create", "organization")
        self._run(lambda uow: uow.add_organization(organization), acting=actor)
        return organization

    def update_organization(
        self,
        actor: Actor,
        organization_id: UUID | str,
        *,
        name: str | None = None,
        is_default: bool | None = None,
        deleted: bool | None = None,
    ) -> Organization:
        """Change an organization's name, default flag or deleted flag; omitted fields stay."""
        key = as_uuid(organization_id, "organization_id")
        changes = {
            field: value
            for field, value in (("name", name), ("is_default", is_default), ("deleted", deleted))
            if value is not None
        }
        self._directory_write(actor, "update", "organization")

        def work(uow: UnitOfWork) -> Organization:
            current = _found(uow.get_organization(key), "organization", key)
            updated = validated(Organization, **(current.model_dump() | changes))
            if updated != current:
                uow.update_organization(updated)
            return updated

        return self._run(work)

    def delete_organization(self, actor: Actor, organization_id: UUID | str) -> None:
        """Delete an organization, its groups, and every membership of them."""
        key = as_uuid(organization_id, "organization_id")
        self._directory_write(actor, "delete", "organization")
        self._run(lambda uow: uow.delete_organization(key), acting=actor)

    def get_organization(self, organization_id: UUID | str) -> Organization:
        key = as_uuid(organization_id, "organization_id")
        return _found(self._run(lambda uow: uow.get_organization(key)), "organization", key)

    def list_organizations(self) -> Sequence[Organization]:
        return self._run(lambda uow: uow.list_organizations())

    # -- users -----------------------------------------------------------------------------------

    def create_user(self, actor: Actor, user_id: UUID | str, username: str) -> User:
        user = validated(
            User, id=as_uuid(user_id, "user_id"), username=username, created_at=self._now()
        )
        self._directory_write(actor, "create", "user")
        self._run(lambda uow: uow.add_user(user), acting=actor)
        return user

    def delete_user(self, actor: Actor, user_id: UUID | str) -> None:
        """Delete a user and everything of theirs."""
        key = as_uuid(user_id, "user_id")
        self._directory_write(actor, "delete", "user")
        self._run(lambda uow: uow.delete_user(key), acting=actor)

    def get_user(self, user_id: UUID | str) -> User:
        key = as_uuid(user_id, "user_id")
        return _found(self._run(lambda uow: uow.get_user(key)), "user", key)

    def list_users(self) -> Sequence[User]:
        return self._run(lambda uow: uow.list_users())

    # -- organization membership -----------------------------------------------------------------

    def add_organization_member(
        self,
        actor: Actor,
        user_id: UUID | str,
        organization_id: UUID | str,
        *,
        roles: Iterable[OrganizationRole] = (),
    ) -> OrganizationMember:
        """Make a user a member of an organization and so of its Everyone group."""
        member = validated(
            OrganizationMember,
            user_id=as_uuid(user_id, "user_id"),
            organization_id=as_uuid(organization_id, "organization_id"),
            roles=_roles(roles),
            created_at=self._now(),
        )
        self._directory_write(actor, "add member to", "organization")
        self._run(lambda uow: uow.add_organization_member(member), acting=actor)
        return member

    def set_organization_member_roles(
        self,
        actor: Actor,
        user_id: UUID | str,
        organization_id: UUID | str,
        roles: Iterable[OrganizationRole],
    ) -> OrganizationMember:
        """Replace the organization roles of a member."""
        user_key = as_uuid(user_id, "user_id")
        organization_key = as_uuid(organization_id, "organization_id")
        checked = canonical_roles(_roles(roles))
        self._directory_write(actor, "update member of", "organization")
        return self._run(
            lambda uow: uow.set_organization_member_roles(user_key, organization_key, checked)
        )

    def remove_organization_member(
        self, actor: Actor, user_id: UUID | str, organization_id: UUID | str
    ) -> None:
        """End a membership; the user's memberships of the organization's groups end with it."""
        user_key = as_uuid(user_id, "user_id")
        organization_key = as_uuid(organization_id, "organization_id")
        self._directory_write(actor, "remove member from", "organization")
        self._run(
            lambda uow: uow.remove_organization_member(user_key, organization_key), acting=actor
        )

    def get_organization_member(
        self, user_id: UUID | str, organization_id: UUID | str
    ) -> OrganizationMember:
        user_key = as_uuid(user_id, "user_id")
        organization_key = as_uuid(organization_id, "organization_id")
        return _found(
            self._run(lambda uow: uow.get_organization_member(user_key, organization_key)),
            "organization member",
            (user_key, organization_key),
        )

    def list_organization_members(
        self, *, organization_id: UUID | str | None = None, user_id: UUID | str | None = None
    ) -> Sequence[OrganizationMember]:
        organization_key = _optional_uuid(organization_id, "organization_id")
        user_key = _optional_uuid(user_id, "user_id")
        return self._run(
            lambda uow: uow.list_organization_members(
                organization_id=organization_key, user_id=user_key
            )
        )

    # -- groups ----------------------------------------------------------------------------------

    def create_group(
        self, actor: Actor, group_id: UUID | str, organization_id: UUID | str, name: str
    ) -> Group:
        """Create an ordinary group in an organization (Everyone groups come with organizations)."""
        group = validated(
            Group,
            id=as_uuid(group_id, "group_id"),
            organization_id=as_uuid(organization_id, "organization_id"),
            name=name,
        )
        self._directory_write(actor, "create", "group")
        self._run(lambda uow: uow.add_group(group), acting=actor)
        return group

    def delete_group(self, actor: Actor, group_id: UUID | str) -> None:
        """Delete an ordinary group and its memberships; an Everyone group goes only with its
        organization."""
        key = as_uuid(group_id, "group_id")
        self._directory_write(actor, "delete", "group")
        self._run(lambda uow: uow.delete_group(key), acting=actor)

    def get_group(self, group_id: UUID | str) -> Group:
        key = as_uuid(group_id, "group_id")
        return _found(self._run(lambda uow: uow.get_group(key)), "group", key)

    def list_groups(self, *, organization_id: UUID | str | None = None) -> Sequence[Group]:
        organization_key = _optional_uuid(organization_id, "organization_id")
        return self._run(lambda uow: uow.list_groups(organization_id=organization_key))

    # -- group membership ------------------------------------------------------------------------

    def add_group_member(
        self, actor: Actor, user_id: UUID | str, group_id: UUID | str
    ) -> GroupMember:
        """Add a member of the group's organization to an ordinary group."""
        user_key = as_uuid(user_id, "user_id")
        group_key = as_uuid(group_id, "group_id")
        self._directory_write(actor, "add member to", "group")
        return self._run(lambda uow: uow.add_group_member(user_key, group_key), acting=actor)

    def remove_group_member(self, actor: Actor, user_id: UUID | str, group_id: UUID | str) -> None:
        user_key = as_uuid(user_id, "user_id")
        group_key = as_uuid(group_id, "group_id")
        self._directory_write(actor, "remove member from", "group")
        self._run(lambda uow: uow.remove_group_member(user_key, group_key), acting=actor)

    def list_group_members(self, group_id: UUID | str) -> Sequence[UUID]:
        """The ids of the group's expanded members (SPEC §2), in order."""
        key = as_uuid(group_id, "group_id")

        def work(uow: UnitOfWork) -> list[UUID]:
            _found(uow.get_group(key), "group", key)
            return [user for user, _ in uow.expanded_memberships(group_id=key)]

        return self._run(work)

    def list_user_groups(self, user_id: UUID | str) -> Sequence[UUID]:
        """The ids of the groups the user is an expanded member of, in order."""
        key = as_uuid(user_id, "user_id")

        def work(uow: UnitOfWork) -> list[UUID]:
            _found(uow.get_user(key), "user", key)
            return [group for _, group in uow.expanded_memberships(user_id=key)]

        return self._run(work)

    def is_group_member(self, user_id: UUID | str, group_id: UUID | str) -> bool:
        """Whether the user is an expanded member of the group (SPEC §2)."""
        user_key = as_uuid(user_id, "user_id")
        group_key = as_uuid(group_id, "group_id")
        return self._run(lambda uow: uow.is_group_member(user_key, group_key))

    # -- prices ----------------------------------------------------------------------------------

    def _require_price_manager(self, actor: Actor, action: str) -> None:
        _check_actor(actor)
        authorize(actor, action, [Need("manage_prices")], NoFacts())

    def apply_price_book(
        self,
        seed: str | bytes | Sequence[Mapping[str, Any]] | None = None,
        *,
        actor: Actor = _SYSTEM,
    ) -> SeedResult:
        """Apply a price-book seed (JSON text or bytes, or a list of dicts); None applies the
        embedded seed. The whole batch is validated first, and applied in one transaction:
        new models inserted, changed prices rewritten, the rest untouched (SPEC §3.2)."""
        rows = parse_seed(embedded_seed.SEED_JSON if seed is None else seed)
        self._require_price_manager(actor, "apply a price-book seed")
        now = self._now()
        return self._run(lambda uow: uow.apply_seed(rows, now), acting=actor, at=now)

    def get_model_price(self, provider: str, model: str) -> ModelPrice | None:
        """The price in effect for a model: its custom price, else its price-book price, else
        None."""
        key = _model_key(provider, model)
        rows = self._run(lambda uow: uow.list_model_prices(provider=key[0], model=key[1]))
        chosen = effective_prices(rows)
        return chosen[0] if chosen else None

    def list_model_prices(
        self,
        provider: str | None = None,
        model: str | None = None,
        source: PriceListing = "effective",
    ) -> Sequence[ModelPrice]:
        """Prices sorted by ``(provider, model[, source])``: the price in effect per model
        (``"effective"``), the rows of one source (``"pricebook"``, ``"custom"``), or every row
        (``"all"``)."""
        if source not in ("effective", "all", "pricebook", "custom"):
            raise InvalidInputError(
                f"source must be 'effective', 'pricebook', 'custom' or 'all', not {source!r}"
            )
        provider_key = None if provider is None else _identifier(provider, "provider")
        model_key = None if model is None else _identifier(model, "model")
        stored_source: PriceSource | None = (
            None if source in ("effective", "all") else source  # type: ignore[assignment]
        )
        rows = self._run(
            lambda uow: uow.list_model_prices(
                provider=provider_key, model=model_key, source=stored_source
            )
        )
        return effective_prices(rows) if source == "effective" else rows

    def set_custom_price(
        self,
        actor: Actor,
        provider: str,
        model: str,
        *,
        input_price: int | None,
        output_price: int | None,
        cache_read_price: int | None,
        cache_write_price: int | None,
    ) -> ModelPrice:
        """Set (create or replace) an administrator's price for a model; it takes precedence
        over the price book and no seed overwrites it. Setting the same prices again writes
        nothing."""
        key = _model_key(provider, model)
        prices = _prices(
            input_price=input_price,
            output_price=output_price,
            cache_read_price=cache_read_price,
            cache_write_price=cache_write_price,
        )
        self._require_price_manager(actor, "set a custom price")
        now = self._now()

        def work(uow: UnitOfWork) -> ModelPrice:
            uow.lock_resource("custom_price", price_resource_id(*key))
            existing = uow.list_model_prices(provider=key[0], model=key[1], source="custom")
            current = existing[0] if existing else None
            planned = plan_custom_price(current, key[0], key[1], prices, now)
            if planned is None:
                return _found(current, "price", key)
            uow.put_custom_price(planned)
            self._audit(uow, actor, now, "custom_price", price_resource_id(*key), current, planned)
            return planned

        return self._run(work, acting=actor, at=now)

    def delete_custom_price(self, actor: Actor, provider: str, model: str) -> ModelPrice:
        """Delete a model's custom price (its price-book price, if any, is in effect again) and
        return what was deleted. NotFoundError when it has none."""
        key = _model_key(provider, model)
        self._require_price_manager(actor, "delete a custom price")
        now = self._now()

        def work(uow: UnitOfWork) -> ModelPrice:
            uow.lock_resource("custom_price", price_resource_id(*key))
            deleted = uow.delete_custom_price(*key)
            self._audit(uow, actor, now, "custom_price", price_resource_id(*key), deleted, None)
            return deleted

        return self._run(work, acting=actor, at=now)

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
        uow.append_audit(
            change_record(
                at=at,
                actor=actor_label(actor),
                resource_type=resource_type,
                resource_id=resource_id,
                before=before,
                after=after,
            )
        )

    # -- the audit log ---------------------------------------------------------------------------

    def audit_log(
        self,
        actor: Actor,
        *,
        resource_type: ResourceType | None = None,
        resource_id: str | None = None,
        actor_id: UUID | str | None = None,
        since: datetime | None = None,
        after: int | None = None,
        limit: int = 100,
    ) -> Sequence[AuditEntry]:
        """Audit entries, oldest first, at most ``limit`` (1 … 1000) per page; pass the last
        entry's ``id`` as ``after`` for the next page. Filters: the resource, who acted
        (a user id, ``"system"``, or ``"sql:<role>"`` for another SQL writer's cascades), and
        entries at or after ``since``. Needs the owner or
        auditor role."""
        label = None
        if isinstance(actor_id, str) and (actor_id == "system" or actor_id.startswith("sql:")):
            label = actor_id
        elif actor_id is not None:
            label = actor_label(as_uuid(actor_id, "actor_id"))
        query = validated(
            AuditFilter,
            resource_type=resource_type,
            resource_id=resource_id,
            actor=label,
            since=since,
            after=after,
            limit=limit,
        )
        if query.limit > 1000:
            raise InvalidInputError(f"limit must be 1 … 1000, not {query.limit}")
        _check_actor(actor)
        authorize(actor, "read the audit log", [Need("read_audit_log")], NoFacts())
        return self._run(lambda uow: uow.list_audit(query))

    # -- budget resolution -----------------------------------------------------------------------

    def effective_budget(self, user_id: UUID | str) -> EffectiveBudget:
        """The limit that applies to the user now, the group their spend is attributed to, and
        where the limit came from (SPEC §7). NotFoundError for an unknown user."""
        self._require_feature()
        key = as_uuid(user_id, "user_id")
        facts = self._run(lambda uow: uow.resolution_facts(key))
        return resolve(_found(facts, "user", key), self._settings.budget_policy)

    # -- spend -----------------------------------------------------------------------------------

    def record_usage(
        self,
        user_id: UUID | str,
        provider: str,
        model: str,
        usage: TokenUsage | Mapping[str, int],
        *,
        at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> UsageRecord:
        """Record what a request used (SPEC §8.2): priced with the price in effect (snapshotted
        on the record), attributed to the user's effective group, added to the day's ledger and
        the period's counter, all in one transaction. A model without a known price is still
        recorded, its cost incomplete. The same ``idempotency_key`` again returns the original
        record with the same payload, and is ConflictError with another. NotFoundError for an
        unknown user, or one in no organization (there is no group to attribute spend to)."""
        self._require_feature()
        user = as_uuid(user_id, "user_id")
        key = _model_key(provider, model)
        tokens = usage if isinstance(usage, TokenUsage) else _token_usage(usage)
        instant = check_instant(self._now() if at is None else at, "at")
        replay_key = None if idempotency_key is None else _idempotency_key(idempotency_key)
        record_id = self._ids()

        def work(uow: UnitOfWork) -> UsageRecord:
            if replay_key is not None:
                uow.lock_resource("usage", f"{user} {replay_key}")
                existing = uow.find_usage(user, replay_key)
                if existing is not None:
                    return check_replay(existing, key[0], key[1], tokens)
            return self._usage_record(
                uow,
                user=user,
                key=key,
                tokens=tokens,
                instant=instant,
                record_id=record_id,
                idempotency_key=replay_key,
            )

        return self._run(work)

    def _usage_record(
        self,
        uow: UnitOfWork,
        *,
        user: UUID,
        key: ModelKey,
        tokens: TokenUsage,
        instant: datetime,
        record_id: UUID,
        idempotency_key: str | None = None,
        reservation: Reservation | None = None,
    ) -> UsageRecord:
        """Price, attribute and record one usage in ``uow`` (the heart of SPEC §8.2)."""
        facts = _found(uow.resolution_facts(user), "user", user)
        group = resolve(facts, self._settings.budget_policy).group_id
        if group is None:
            raise NotFoundError(
                f"user {user} belongs to no organization: no group to attribute spend to",
                resource="effective group",
                key=user,
            )
        prices = effective_prices(uow.list_model_prices(provider=key[0], model=key[1]))
        price = prices[0] if prices else None
        record = usage_record(
            record_id=record_id,
            user_id=user,
            group_id=group,
            provider=key[0],
            model=key[1],
            usage=tokens,
            price=price,
            cost=cost_of(tokens, price),
            at=instant,
            day=utc_day(instant),
            period_start=period_window(instant, self._settings.period).start,
            idempotency_key=idempotency_key,
            reservation=reservation,
        )
        uow.record_usage(record)
        return record

    def reserve(
        self, user_id: UUID | str, amount_micros: int, *, ttl: timedelta = timedelta(minutes=10)
    ) -> Reservation:
        """Hold ``amount_micros`` of the user's budget for the current period, if
        ``spent + held + amount <= limit`` (SPEC §8.3): atomically, so that concurrent callers
        from any number of processes never hold more than the limit allows. With no limit it is
        always granted; with a limit of 0 never. BudgetExceededError when it does not fit. The
        hold stops counting at ``now + ttl``."""
        self._require_feature()
        user = as_uuid(user_id, "user_id")
        amount = _limit(amount_micros)
        if amount == 0:
            raise InvalidInputError("amount_micros must be more than 0")
        if not isinstance(ttl, timedelta) or ttl <= timedelta(0):
            raise InvalidInputError(f"ttl must be a positive timedelta, not {ttl!r}")
        now = self._now()
        window = period_window(now, self._settings.period)
        expires_at = check_instant(now + ttl, "the hold's expiry")
        reservation_id = self._ids()

        def work(uow: UnitOfWork) -> Reservation:
            effective = resolve(
                _found(uow.resolution_facts(user), "user", user), self._settings.budget_policy
            )
            if effective.group_id is None:
                raise NotFoundError(
                    f"user {user} belongs to no organization: no budget to hold against",
                    resource="effective group",
                    key=user,
                )
            reservation = Reservation(
                id=reservation_id,
                user_id=user,
                group_id=effective.group_id,
                period_start=window.start,
                amount_micros=amount,
                expires_at=expires_at,
                created_at=now,
            )
            granted, counter = uow.reserve(reservation, effective.spend_limit_micros, now)
            if not granted:
                assert effective.spend_limit_micros is not None
                raise budget_exceeded(
                    limit=effective.spend_limit_micros,
                    spent=counter.spent_micros,
                    held=counter.held_micros,
                    amount=amount,
                    group_id=effective.group_id,
                )
            return reservation

        return self._run(work)

    def reserve_for(
        self,
        user_id: UUID | str,
        provider: str,
        model: str,
        usage: TokenUsage | Mapping[str, int],
        *,
        ttl: timedelta = timedelta(minutes=10),
    ) -> Reservation:
        """Reserve the priced expected usage of a request. A model without a known price for a
        kind used is UnknownPriceError (``unknown_price_policy="deny"``, the default), or
        reserves the priced part (``"allow"``). An estimate of 0 is InvalidInputError."""
        self._require_feature()
        key = _model_key(provider, model)
        tokens = usage if isinstance(usage, TokenUsage) else _token_usage(usage)
        prices = effective_prices(
            self._run(lambda uow: uow.list_model_prices(provider=key[0], model=key[1]))
        )
        estimate = cost_of(tokens, prices[0] if prices else None)
        if estimate.incomplete and self._settings.unknown_price_policy == "deny":
            raise UnknownPriceError(
                f"{key[0]}/{key[1]} has no known price for {', '.join(estimate.unpriced_kinds)}",
                provider=key[0],
                model=key[1],
            )
        if estimate.micros == 0:
            raise InvalidInputError(f"the expected usage of {key[0]}/{key[1]} costs nothing")
        return self.reserve(user_id, estimate.micros, ttl=ttl)

    def settle(
        self,
        reservation_id: UUID | str,
        provider: str,
        model: str,
        usage: TokenUsage | Mapping[str, int],
        *,
        at: datetime | None = None,
    ) -> UsageRecord:
        """Record the actual usage of a reserved request and free its hold (SPEC §8.3). Spend
        goes to the effective group and period at settle time, in full (``overrun_micros`` says
        how much it passed the hold); the hold is freed from the counter it was taken on.
        Settling again returns the first record; after ``release`` it is ConflictError; an
        unknown reservation is NotFoundError. Settling after expiry still records the usage."""
        self._require_feature()
        key_id = as_uuid(reservation_id, "reservation_id")
        key = _model_key(provider, model)
        tokens = usage if isinstance(usage, TokenUsage) else _token_usage(usage)
        instant = check_instant(self._now() if at is None else at, "at")
        record_id = self._ids()

        def work(uow: UnitOfWork) -> UsageRecord:
            reservation = _found(uow.lock_reservation(key_id), "reservation", key_id)
            if reservation.state == "settled":
                return _found(uow.find_usage_of_reservation(key_id), "usage", key_id)
            if reservation.state == "released":
                raise ConflictError(f"reservation {key_id} was released; it cannot be settled")
            record = self._usage_record(
                uow,
                user=reservation.user_id,
                key=key,
                tokens=tokens,
                instant=instant,
                record_id=record_id,
                reservation=reservation,
            )
            uow.end_reservation(reservation, "settled")
            return record

        return self._run(work)

    def release(self, reservation_id: UUID | str) -> Reservation:
        """Free a hold without recording spend; releasing again changes nothing. A settled
        reservation cannot be released (ConflictError); an unknown one is NotFoundError."""
        self._require_feature()
        key_id = as_uuid(reservation_id, "reservation_id")

        def work(uow: UnitOfWork) -> Reservation:
            reservation = _found(uow.lock_reservation(key_id), "reservation", key_id)
            if reservation.state == "settled":
                raise ConflictError(f"reservation {key_id} was settled; it cannot be released")
            if reservation.state != "released":
                uow.end_reservation(reservation, "released")
            return reservation.model_copy(update={"state": "released"})

        return self._run(work)

    def _require_feature(self) -> None:
        """SPEC §6.3: budget, override and spend calls need the ai_governance entitlement."""
        if AI_GOVERNANCE not in self._entitlements:
            raise FeatureDisabledError(
                "AI governance is not enabled: Governance(..., entitlements={'ai_governance'})"
            )
        if not self._settings_agreed:
            self._agree_on_settings()

    def _agree_on_settings(self) -> None:
        """SPEC §8.0: the store keeps the first settings it is given; refuse to enforce others."""
        with self._settings_lock:
            if self._settings_agreed:
                return
            stored = self._run(lambda uow: uow.ensure_settings(self._settings))
            if stored != self._settings:
                raise ConflictError(
                    f"this store enforces {stored.model_dump()}, not {self._settings.model_dump()}:"
                    " every Governance on one store must use the same settings",
                    constraint="ai_governance_settings",
                )
            self._settings_agreed = True

    def get_group_budget(self, actor: Actor, group_id: UUID | str) -> GroupAIBudget:
        """The group's budget. NotFoundError when the group has none (no limit is enforced)."""
        self._require_feature()
        key = as_uuid(group_id, "group_id")
        _check_actor(actor)

        def work(uow: UnitOfWork) -> GroupAIBudget:
            _authorize(uow, actor, "read the budget of", Need("read_group", key))
            return _found(uow.get_group_budget(key), "group budget", key)

        return self._run(work)

    def upsert_group_budget(
        self, actor: Actor, group_id: UUID | str, spend_limit_micros: int
    ) -> GroupAIBudget:
        """Create or replace the group's per-member limit (SPEC §4). Setting the same limit
        again writes nothing."""
        self._require_feature()
        key = as_uuid(group_id, "group_id")
        limit = _limit(spend_limit_micros)
        _check_actor(actor)
        now = self._now()

        def work(uow: UnitOfWork) -> GroupAIBudget:
            _authorize(uow, actor, "set the budget of", Need("update_group", key))
            uow.lock_resource("group_budget", str(key))
            existing = uow.get_group_budget(key)
            planned = plan_group_budget(existing, key, limit, now)
            if planned is None:
                return _found(existing, "group budget", key)
            uow.put_group_budget(planned)
            self._audit(uow, actor, now, "group_budget", str(key), existing, planned)
            return planned

        return self._run(work, acting=actor, at=now)

    def delete_group_budget(self, actor: Actor, group_id: UUID | str) -> GroupAIBudget:
        """Delete the group's budget (no limit is enforced for it afterwards); return it."""
        self._require_feature()
        key = as_uuid(group_id, "group_id")
        _check_actor(actor)
        now = self._now()

        def work(uow: UnitOfWork) -> GroupAIBudget:
            _authorize(uow, actor, "delete the budget of", Need("update_group", key))
            uow.lock_resource("group_budget", str(key))
            deleted = uow.delete_group_budget(key)
            self._audit(uow, actor, now, "group_budget", str(key), deleted, None)
            return deleted

        return self._run(work, acting=actor, at=now)

    def get_user_budget_override(self, actor: Actor, user_id: UUID | str) -> UserAIBudgetOverride:
        """The user's override. NotFoundError when there is none."""
        self._require_feature()
        key = as_uuid(user_id, "user_id")
        _check_actor(actor)

        def work(uow: UnitOfWork) -> UserAIBudgetOverride:
            _authorize(uow, actor, "read the budget override of", Need("read_user", key))
            return _found(uow.get_override(key), "override", key)

        return self._run(work)

    def upsert_user_budget_override(
        self,
        actor: Actor,
        user_id: UUID | str,
        group_id: UUID | str,
        spend_limit_micros: int,
    ) -> UserAIBudgetOverride:
        """Create, replace or move the user's override: it supersedes group budgets for them and
        attributes their spend to ``group_id``, of which they must be a member (SPEC §5). Needs
        update rights on the user and on the group, and on the old group when it moves."""
        self._require_feature()
        user_key = as_uuid(user_id, "user_id")
        group_key = as_uuid(group_id, "group_id")
        limit = _limit(spend_limit_micros)
        _check_actor(actor)
        now = self._now()

        def work(uow: UnitOfWork) -> UserAIBudgetOverride:
            uow.lock_resource("user_budget_override", str(user_key))
            existing = uow.get_override(user_key)
            needs = [Need("update_user", user_key), Need("update_group", group_key)]
            if existing is not None and existing.group_id != group_key:
                needs.append(Need("update_group", existing.group_id))
            _authorize(uow, actor, "set the budget override of", *needs)
            planned = plan_override(existing, user_key, group_key, limit, now)
            if planned is None:
                return _found(existing, "override", user_key)
            uow.put_override(planned)
            self._audit(uow, actor, now, "user_budget_override", str(user_key), existing, planned)
            return planned

        return self._run(work, acting=actor, at=now)

    def delete_user_budget_override(
        self, actor: Actor, user_id: UUID | str
    ) -> UserAIBudgetOverride:
        """Delete the user's override and return it; group budgets apply to them again. Needs
        update rights on the user and on the override's group (read first to learn it)."""
        self._require_feature()
        key = as_uuid(user_id, "user_id")
        _check_actor(actor)
        now = self._now()

        def work(uow: UnitOfWork) -> UserAIBudgetOverride:
            uow.lock_resource("user_budget_override", str(key))
            existing = uow.get_override(key)
            needs = [Need("update_user", key)]
            if existing is not None:
                needs.append(Need("update_group", existing.group_id))
            _authorize(uow, actor, "delete the budget override of", *needs)
            deleted = uow.delete_override(_found(existing, "override", key).user_id)
            self._audit(uow, actor, now, "user_budget_override", str(key), deleted, None)
            return deleted

        return self._run(work, acting=actor, at=now)


class _StoreFacts(Facts):
    """Authorization facts read through the caller's unit of work."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def organization_of_group(self, group_id: UUID) -> UUID | None:
        group = self._uow.get_group(group_id)
        return None if group is None else group.organization_id

    def organization_roles(self, user_id: UUID, organization_id: UUID) -> frozenset[str]:
        member = self._uow.get_organization_member(user_id, organization_id)
        return frozenset() if member is None else frozenset(member.roles)

    def organizations_of_user(self, user_id: UUID) -> frozenset[UUID]:
        members = self._uow.list_organization_members(user_id=user_id)
        return frozenset(m.organization_id for m in members)

    def is_group_member(self, user_id: UUID, group_id: UUID) -> bool:
        return self._uow.is_group_member(user_id, group_id)


def _authorize(uow: UnitOfWork, actor: Actor, action: str, *needs: Need) -> None:
    authorize(actor, action, needs, _StoreFacts(uow))


_LIMIT = TypeAdapter(Micros)


def _limit(value: object) -> int:
    """A spend limit from the caller: an int of micros in 0 … 2**63-1, strictly."""
    try:
        return _LIMIT.validate_python(value)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        raise error_class(errors)(
            f"spend_limit_micros {value!r}: {errors[0]['msg']}", errors=errors
        ) from exc


def _check_actor(actor: object) -> None:
    if not isinstance(actor, Actor):
        raise InvalidInputError(f"actor must be an aigov.Actor, not {type(actor).__name__}")


_IDENTIFIER = TypeAdapter(Identifier)


def _identifier(value: object, field: str) -> str:
    try:
        return _IDENTIFIER.validate_python(value)
    except ValidationError as exc:
        raise InvalidInputError(
            f"invalid {field} {value!r}: {exc.errors()[0]['msg']}",
            errors=exc.errors(include_url=False),
        ) from exc


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
    try:
        return _KEY.validate_python(value)
    except ValidationError as exc:
        raise InvalidInputError(
            f"invalid idempotency_key {value!r}: {exc.errors()[0]['msg']}",
            errors=exc.errors(include_url=False),
        ) from exc


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
