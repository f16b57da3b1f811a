"""The ports a store implements: one ``Store`` root that opens units of work, and one small
repository per concern on each unit of work (``uow.directory``, ``uow.prices``, ``uow.budgets``,
``uow.spend``, ``uow.audit``, ``uow.settings``).

Each method's docstring is its contract, and each sentence of it has a test in ``aigov_contracts``.
Every repository method runs inside a unit of work (``with store.transaction() as uow``): all its
writes commit together when the block ends normally and none of them does when it raises. Errors
are ``aigov`` errors (``aigov.exceptions``), never a driver's. What only the conformance suite
reads (usage records, the ledger, counters, reservations) comes from ``Store.snapshot()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import Protocol, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from aigov.audit import AuditEntry, AuditFilter, AuditRecord
from aigov.budgets import GroupAIBudget, UserAIBudgetOverride
from aigov.directory import (
    Group,
    GroupMember,
    Organization,
    OrganizationMember,
    OrganizationRole,
    User,
)
from aigov.prices import ModelPrice, PriceSource, SeedResult, SeedRow
from aigov.resolution import BudgetPolicy, EffectiveBudget
from aigov.settings import GovernanceSettings
from aigov.spend import (
    BudgetAndSpend,
    DailySpend,
    HoldOutcome,
    HoldRequest,
    Reservation,
    ReservationState,
    SpendCounter,
    ThresholdCrossed,
    UsageRecord,
)

T = TypeVar("T")

__all__ = [
    "AuditRepository",
    "BudgetRepository",
    "DirectoryRepository",
    "PriceRepository",
    "SettingsRepository",
    "SpendRepository",
    "Store",
    "StoreSnapshot",
    "UnitOfWork",
]


class DirectoryRepository(Protocol):
    """Reads and writes of the directory (SPEC §2)."""

    def add_organization(self, organization: Organization) -> Group:
        """Store a new organization and its Everyone group (same id) and return that group.

        ConflictError when the id is taken by an organization or a group, or when the organization
        is the default and another one already is (constraint ``organizations_single_default``).
        """
        ...

    def update_organization(self, organization: Organization) -> None:
        """Replace the stored organization of that id (name, ``is_default``, ``deleted``).

        NotFoundError when there is none; ConflictError for a second default organization.
        """
        ...

    def delete_organization(self, organization_id: UUID) -> None:
        """Delete an organization with its groups and all memberships of it and its groups.

        NotFoundError when there is none.
        """
        ...

    def get_organization(self, organization_id: UUID) -> Organization | None:
        """The organization of that id, or None."""
        ...

    def list_organizations(self) -> Sequence[Organization]:
        """Every organization, deleted ones included, ordered by id."""
        ...

    def add_user(self, user: User) -> None:
        """Store a new user. ConflictError when the id is taken."""
        ...

    def delete_user(self, user_id: UUID) -> None:
        """Delete a user and everything of theirs. NotFoundError when there is none."""
        ...

    def get_user(self, user_id: UUID) -> User | None:
        """The user of that id, or None."""
        ...

    def list_users(self) -> Sequence[User]:
        """Every user, ordered by id."""
        ...

    def add_organization_member(self, member: OrganizationMember) -> None:
        """Make a user a member of an organization (and so of its Everyone group).

        NotFoundError when the user or the organization does not exist; ConflictError when the
        user is a member already.
        """
        ...

    def set_organization_member_roles(
        self, user_id: UUID, organization_id: UUID, roles: tuple[OrganizationRole, ...]
    ) -> OrganizationMember:
        """Replace a member's organization roles and return the membership.

        NotFoundError when the user is not a member.
        """
        ...

    def remove_organization_member(self, user_id: UUID, organization_id: UUID) -> None:
        """End a user's membership of an organization, and with it their memberships of the
        organization's groups. NotFoundError when the user is not a member."""
        ...

    def get_organization_member(
        self, user_id: UUID, organization_id: UUID
    ) -> OrganizationMember | None:
        """The membership, or None."""
        ...

    def list_organization_members(
        self, *, organization_id: UUID | None = None, user_id: UUID | None = None
    ) -> Sequence[OrganizationMember]:
        """Organization memberships, optionally of one organization or one user, ordered by
        ``(organization_id, user_id)``."""
        ...

    def add_group(self, group: Group) -> None:
        """Store a new ordinary group.

        NotFoundError when the organization does not exist; ConflictError when the id is taken
        (Everyone groups included) or the organization has a group of that name.
        """
        ...

    def delete_group(self, group_id: UUID) -> None:
        """Delete an ordinary group and its memberships.

        NotFoundError when there is none; DirectoryRuleError
        (``groups_everyone_group_undeletable``) for an Everyone group.
        """
        ...

    def get_group(self, group_id: UUID) -> Group | None:
        """The group of that id (an Everyone group too), or None."""
        ...

    def list_groups(self, *, organization_id: UUID | None = None) -> Sequence[Group]:
        """Groups, Everyone groups included, optionally of one organization, ordered by id."""
        ...

    def add_group_member(self, user_id: UUID, group_id: UUID) -> GroupMember:
        """Add a user to an ordinary group and return the membership.

        NotFoundError when the user or the group does not exist; DirectoryRuleError
        (``group_members_not_everyone_group``) for an Everyone group; MembershipInvariantError
        (``group_members_organization_member_fkey``) when the user is not a member of the group's
        organization; ConflictError when the user is a member already.
        """
        ...

    def remove_group_member(self, user_id: UUID, group_id: UUID) -> None:
        """Remove a user from an ordinary group.

        NotFoundError when the user is not a direct member (which an Everyone group never has).
        """
        ...

    def list_group_members(
        self, *, group_id: UUID | None = None, user_id: UUID | None = None
    ) -> Sequence[GroupMember]:
        """Ordinary (direct) group memberships, optionally of one group or one user, ordered by
        ``(group_id, user_id)``."""
        ...

    def expanded_memberships(
        self, *, group_id: UUID | None = None, user_id: UUID | None = None
    ) -> Sequence[tuple[UUID, UUID]]:
        """Expanded membership ``(user_id, group_id)`` pairs (SPEC §2), optionally of one group or
        one user, ordered by ``(group_id, user_id)``."""
        ...

    def is_group_member(self, user_id: UUID, group_id: UUID) -> bool:
        """Whether the user is an expanded member of the group."""
        ...


class PriceRepository(Protocol):
    """The price book (SPEC §3)."""

    def apply_seed(self, rows: Sequence[SeedRow], now: datetime) -> SeedResult:
        """Apply validated seed rows (no key twice) as ``pricebook`` prices and return exact counts.

        A new ``(provider, model)`` is inserted with ``created_at = updated_at = now``; a stored
        pricebook row is rewritten (``updated_at = now``) only if some price differs, NULL vs a
        value and NULL vs 0 included; an unchanged row is not written at all. Rows absent from
        the seed and every ``custom`` row are left untouched. Concurrent applications run one
        after another, so the counts are exact. When it changes anything, one ``seed`` audit
        entry (counts and changed keys, named by the audit context) is written with it.
        """
        ...

    def list_model_prices(
        self,
        *,
        provider: str | None = None,
        model: str | None = None,
        source: PriceSource | None = None,
    ) -> Sequence[ModelPrice]:
        """Stored price rows, optionally of one provider, model or source, ordered by
        ``(provider, model, source)``."""
        ...

    def put_custom_price(self, price: ModelPrice) -> None:
        """Create or replace the ``custom`` row of ``price``'s model with exactly these values."""
        ...

    def delete_custom_price(self, provider: str, model: str) -> ModelPrice:
        """Delete a model's ``custom`` row and return it. NotFoundError when there is none."""
        ...


class BudgetRepository(Protocol):
    """Group budgets and user overrides (SPEC §4, §5)."""

    def get_group_budget(self, group_id: UUID) -> GroupAIBudget | None:
        """The group's budget, or None (no budget is enforced for it)."""
        ...

    def put_group_budget(self, budget: GroupAIBudget) -> None:
        """Create or replace the group's budget with exactly these values.

        NotFoundError when the group does not exist.
        """
        ...

    def delete_group_budget(self, group_id: UUID) -> GroupAIBudget:
        """Delete the group's budget and return it. NotFoundError when there is none."""
        ...

    def get_override(self, user_id: UUID) -> UserAIBudgetOverride | None:
        """The user's override, or None."""
        ...

    def list_overrides(self, *, group_id: UUID | None = None) -> Sequence[UserAIBudgetOverride]:
        """Overrides, optionally those attributed to one group, ordered by user id."""
        ...

    def put_override(self, override: UserAIBudgetOverride) -> None:
        """Create or replace the user's override with exactly these values (a new group moves it).

        NotFoundError when the user or the group does not exist; MembershipInvariantError
        (``user_ai_budget_overrides_must_be_group_member``) when the user is not an expanded
        member of the group, also when a concurrent transaction is removing that membership.
        An override is deleted with the membership it relies on, the user, or the group, and each
        such deletion writes a ``cascade_delete`` audit entry.
        """
        ...

    def delete_override(self, user_id: UUID) -> UserAIBudgetOverride:
        """Delete the user's override and return it. NotFoundError when there is none."""
        ...

    def resolve_budget(self, user_id: UUID, policy: BudgetPolicy) -> EffectiveBudget | None:
        """The user's effective budget, as the core's ``aigov.resolution.resolve`` (SPEC §7,
        with ``policy``) decides it from what this unit of work reads; None for an unknown
        user."""
        ...


class AuditRepository(Protocol):
    """The audit log (SPEC §10)."""

    def lock_resource(self, resource_type: str, resource_id: str) -> None:
        """Serialize the library's changes of one resource: until this unit of work ends,
        another that locks the same resource waits, so the values it reads before changing them
        (for its decisions and its audit entry) are current."""
        ...

    def set_audit_context(self, actor: str, at: datetime) -> None:
        """Name who acts and when, for every entry this unit of work writes: its own, the seed's,
        and those of cascades it causes (``cascade_delete`` of overrides)."""
        ...

    def append_audit(self, record: AuditRecord) -> AuditEntry:
        """Append an entry in this unit of work and return it numbered: ids increase."""
        ...

    def list_audit(self, query: AuditFilter) -> Sequence[AuditEntry]:
        """Entries matching every condition of ``query``, oldest (lowest id) first, at most
        ``query.limit``, after id ``query.after`` when given."""
        ...


class SpendRepository(Protocol):
    """Recorded spend (SPEC §8.2)."""

    def find_usage(self, user_id: UUID, idempotency_key: str) -> UsageRecord | None:
        """The user's usage record under this idempotency key, or None."""
        ...

    def record_usage(self, record: UsageRecord) -> int:
        """Store the record, and add its cost to the ``(user, group, day)`` ledger and to the
        spent amount of the ``(user, group, period start)`` counter, in this unit of work;
        return the counter's spent amount afterwards.

        ConflictError when the user has a record under the same idempotency key;
        AmountOutOfRangeError when a total would pass 2**63-1.
        """
        ...

    def find_usage_of_reservation(self, reservation_id: UUID) -> UsageRecord | None:
        """The usage record that settled the reservation, or None."""
        ...

    def lock_reservation(self, reservation_id: UUID) -> Reservation | None:
        """The reservation, locked until this unit of work ends, or None."""
        ...

    def end_reservation(self, reservation: Reservation, state: ReservationState) -> None:
        """Move a locked reservation to ``state`` (settled or released); if it was still held,
        take its amount off the counter it was taken on."""
        ...

    def add_budget_events(self, events: Sequence[ThresholdCrossed]) -> list[ThresholdCrossed]:
        """Keep the events whose ``(user, group, period, percent)`` has none yet, and return
        those: each crossing is kept once, also when several calls cross it at once."""
        ...

    def pending_budget_events(self, limit: int) -> Sequence[ThresholdCrossed]:
        """Events not yet acknowledged, oldest first (``(at, id)``), at most ``limit``."""
        ...

    def ack_budget_events(self, ids: Sequence[UUID]) -> int:
        """Acknowledge events; return how many were pending. Unknown ids are ignored."""
        ...

    def group_spend_in_period(self, group_id: UUID, period_start: datetime) -> int:
        """The spend attributed to the group in the period, over all its users' counters."""
        ...

    def iter_daily_spend(
        self, organization_id: UUID, start: date, end: date
    ) -> Iterator[DailySpend]:
        """The organization's ledger rows for days in ``[start, end)``, ordered by ``(day,
        user_id, effective_group_id)``, read a few at a time (constant memory) while the unit of
        work lasts."""
        ...

    def budgets_and_spend(
        self, user_ids: Sequence[UUID], period_start: datetime, now: datetime, policy: BudgetPolicy
    ) -> dict[UUID, BudgetAndSpend]:
        """``Store.budget_and_spend`` of many users, read in this unit of work: an entry for
        each known user, none for an unknown one."""
        ...


class SettingsRepository(Protocol):
    """The deployment's settings (SPEC §8.0)."""

    def ensure_settings(self, settings: GovernanceSettings) -> GovernanceSettings:
        """Keep ``settings`` if the store has none yet, and return the store's settings: the
        first ones ever given, also when several processes give theirs at the same moment."""
        ...


class UnitOfWork(Protocol):
    """One transaction: a repository per concern, all on the same transaction."""

    directory: DirectoryRepository
    prices: PriceRepository
    budgets: BudgetRepository
    spend: SpendRepository
    audit: AuditRepository
    settings: SettingsRepository


class StoreSnapshot(BaseModel):
    """Everything a store holds, read at one moment: what the conformance suite and the
    equivalence machine compare, so that a store implements behaviour rather than test hooks.
    Each tuple is in the order its listing states."""

    model_config = ConfigDict(frozen=True)

    organizations: tuple[Organization, ...]  # by id
    users: tuple[User, ...]  # by id
    organization_members: tuple[OrganizationMember, ...]  # by (organization_id, user_id)
    groups: tuple[Group, ...]  # by id, Everyone groups included
    group_members: tuple[GroupMember, ...]  # direct ones, by (group_id, user_id)
    group_budgets: tuple[GroupAIBudget, ...]  # by group_id
    overrides: tuple[UserAIBudgetOverride, ...]  # by user_id
    prices: tuple[ModelPrice, ...]  # by (provider, model, source)
    usage: tuple[UsageRecord, ...]  # by (at, id)
    daily_spend: tuple[DailySpend, ...]  # by (user_id, effective_group_id, day)
    counters: tuple[SpendCounter, ...]  # by (user_id, group_id, period_start)
    reservations: tuple[Reservation, ...]  # by (created_at, id)
    budget_events: tuple[ThresholdCrossed, ...]  # by (at, id), acknowledged ones included
    acknowledged_event_ids: tuple[UUID, ...]  # sorted
    audit: tuple[AuditEntry, ...]  # by id
    settings: GovernanceSettings | None


class Store(Protocol):
    """A place where aigov keeps its state. Safe to share between threads."""

    def transaction(self) -> AbstractContextManager[UnitOfWork]:
        """Open a unit of work: it commits when the block ends normally and rolls back every
        write of the block when the block raises (the exception then propagates, as an aigov
        error)."""
        ...

    def snapshot(self) -> StoreSnapshot:
        """Everything stored, as one consistent read (no write of another transaction is half
        in it)."""
        ...

    def close(self) -> None:
        """Release the store's resources (connections). Closing twice is harmless."""
        ...

    # -- the hot path: single store operations, so that PostgreSQL can answer each in one round
    # trip (DESIGN §3).

    def reserve_if_fits(self, request: HoldRequest, policy: BudgetPolicy) -> HoldOutcome | None:
        """Resolve the user's effective budget (SPEC §7, with ``policy``), take the holds of its
        group's counter for the period that expired by ``request.created_at`` off that counter
        (marked expired), and hold ``request`` there if ``spent + held + amount <= limit`` (no
        limit: always). Atomic: any number of concurrent calls, from any number of processes,
        never hold more than the limit allows. None for an unknown user; no reservation when it
        does not fit or the user has no group, with the counter's spent and held as the
        decision saw them. AmountOutOfRangeError when the held total would pass 2**63-1."""
        ...

    def budget_and_spend(
        self, user_id: UUID, period_start: datetime, now: datetime, policy: BudgetPolicy
    ) -> BudgetAndSpend | None:
        """The user's effective budget (SPEC §7, with ``policy``) with the spend and the live
        holds (not expired at ``now``) of its group's counter for the period starting at
        ``period_start``; 0 and 0 when the user has no group. None for an unknown user."""
        ...

    # -- the async twins (SPEC §13): the same contracts, awaited. They never block the event loop
    # on I/O; async connections open lazily, in the loop that first uses them.

    async def arun_in_transaction(self, work: Callable[[UnitOfWork], T]) -> T:
        """``work`` in one unit of work, as ``transaction()`` runs a block: committed when it
        returns, every write rolled back when it raises. ``work`` is synchronous (a unit of
        work's repositories are); the store decides how to run it without blocking the loop
        on I/O."""
        ...

    async def areserve_if_fits(
        self, request: HoldRequest, policy: BudgetPolicy
    ) -> HoldOutcome | None:
        """``reserve_if_fits``, awaited."""
        ...

    async def abudget_and_spend(
        self, user_id: UUID, period_start: datetime, now: datetime, policy: BudgetPolicy
    ) -> BudgetAndSpend | None:
        """``budget_and_spend``, awaited."""
        ...

    async def aclose(self) -> None:
        """``close``, and the async connections of the calling event loop too (each loop that
        used the store closes its own). Closing twice is harmless."""
        ...
