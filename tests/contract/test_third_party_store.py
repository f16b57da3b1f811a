"""A third party's store, written against ``aigov.ports`` alone, passes the whole conformance
suite and the equivalence machine.

``PortsOnlyStore`` keeps its data in a ``MemoryStore`` but reaches it only through the ports: each
of its repositories hands every call, method by method, to the same repository of a
``MemoryStore`` unit of work, and defines the methods its port names and no other. So if
``Governance``, the contracts or the machine used anything beyond the ports (a helper of one
store, a method no port names), these tests would fail: a store needs exactly the ports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import TypeVar
from uuid import UUID

import pytest

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
from aigov.ports import (
    AuditRepository,
    BudgetRepository,
    DirectoryRepository,
    PriceRepository,
    SettingsRepository,
    SpendRepository,
    Store,
    StoreSnapshot,
    UnitOfWork,
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
    ThresholdCrossed,
    UsageRecord,
)
from aigov_contracts import StoreContract, equivalence_test, report_recomputation_test
from aigov_memory import MemoryStore

T = TypeVar("T")


class _Directory(DirectoryRepository):
    def __init__(self, inner: DirectoryRepository) -> None:
        self._inner = inner

    def add_organization(self, organization: Organization) -> Group:
        return self._inner.add_organization(organization)

    def update_organization(self, organization: Organization) -> None:
        self._inner.update_organization(organization)

    def delete_organization(self, organization_id: UUID) -> None:
        self._inner.delete_organization(organization_id)

    def get_organization(self, organization_id: UUID) -> Organization | None:
        return self._inner.get_organization(organization_id)

    def list_organizations(self) -> Sequence[Organization]:
        return self._inner.list_organizations()

    def add_user(self, user: User) -> None:
        self._inner.add_user(user)

    def delete_user(self, user_id: UUID) -> None:
        self._inner.delete_user(user_id)

    def get_user(self, user_id: UUID) -> User | None:
        return self._inner.get_user(user_id)

    def list_users(self) -> Sequence[User]:
        return self._inner.list_users()

    def add_organization_member(self, member: OrganizationMember) -> None:
        self._inner.add_organization_member(member)

    def set_organization_member_roles(
        self, user_id: UUID, organization_id: UUID, roles: tuple[OrganizationRole, ...]
    ) -> OrganizationMember:
        return self._inner.set_organization_member_roles(user_id, organization_id, roles)

    def remove_organization_member(self, user_id: UUID, organization_id: UUID) -> None:
        self._inner.remove_organization_member(user_id, organization_id)

    def get_organization_member(
        self, user_id: UUID, organization_id: UUID
    ) -> OrganizationMember | None:
        return self._inner.get_organization_member(user_id, organization_id)

    def list_organization_members(
        self, *, organization_id: UUID | None = None, user_id: UUID | None = None
    ) -> Sequence[OrganizationMember]:
        return self._inner.list_organization_members(
            organization_id=organization_id, user_id=user_id
        )

    def add_group(self, group: Group) -> None:
        self._inner.add_group(group)

    def delete_group(self, group_id: UUID) -> None:
        self._inner.delete_group(group_id)

    def get_group(self, group_id: UUID) -> Group | None:
        return self._inner.get_group(group_id)

    def list_groups(self, *, organization_id: UUID | None = None) -> Sequence[Group]:
        return self._inner.list_groups(organization_id=organization_id)

    def add_group_member(self, user_id: UUID, group_id: UUID) -> GroupMember:
        return self._inner.add_group_member(user_id, group_id)

    def remove_group_member(self, user_id: UUID, group_id: UUID) -> None:
        self._inner.remove_group_member(user_id, group_id)

    def list_group_members(
        self, *, group_id: UUID | None = None, user_id: UUID | None = None
    ) -> Sequence[GroupMember]:
        return self._inner.list_group_members(group_id=group_id, user_id=user_id)

    def expanded_memberships(
        self, *, group_id: UUID | None = None, user_id: UUID | None = None
    ) -> Sequence[tuple[UUID, UUID]]:
        return self._inner.expanded_memberships(group_id=group_id, user_id=user_id)

    def is_group_member(self, user_id: UUID, group_id: UUID) -> bool:
        return self._inner.is_group_member(user_id, group_id)


class _Prices(PriceRepository):
    def __init__(self, inner: PriceRepository) -> None:
        self._inner = inner

    def apply_seed(self, rows: Sequence[SeedRow], now: datetime) -> SeedResult:
        return self._inner.apply_seed(rows, now)

    def list_model_prices(
        self,
        *,
        provider: str | None = None,
        model: str | None = None,
        source: PriceSource | None = None,
    ) -> Sequence[ModelPrice]:
        return self._inner.list_model_prices(provider=provider, model=model, source=source)

    def put_custom_price(self, price: ModelPrice) -> None:
        self._inner.put_custom_price(price)

    def delete_custom_price(self, provider: str, model: str) -> ModelPrice:
        return self._inner.delete_custom_price(provider, model)


class _Budgets(BudgetRepository):
    def __init__(self, inner: BudgetRepository) -> None:
        self._inner = inner

    def get_group_budget(self, group_id: UUID) -> GroupAIBudget | None:
        return self._inner.get_group_budget(group_id)

    def put_group_budget(self, budget: GroupAIBudget) -> None:
        self._inner.put_group_budget(budget)

    def delete_group_budget(self, group_id: UUID) -> GroupAIBudget:
        return self._inner.delete_group_budget(group_id)

    def get_override(self, user_id: UUID) -> UserAIBudgetOverride | None:
        return self._inner.get_override(user_id)

    def list_overrides(self, *, group_id: UUID | None = None) -> Sequence[UserAIBudgetOverride]:
        return self._inner.list_overrides(group_id=group_id)

    def put_override(self, override: UserAIBudgetOverride) -> None:
        self._inner.put_override(override)

    def delete_override(self, user_id: UUID) -> UserAIBudgetOverride:
        return self._inner.delete_override(user_id)

    def resolve_budget(self, user_id: UUID, policy: BudgetPolicy) -> EffectiveBudget | None:
        return self._inner.resolve_budget(user_id, policy)


class _Audit(AuditRepository):
    def __init__(self, inner: AuditRepository) -> None:
        self._inner = inner

    def lock_resource(self, resource_type: str, resource_id: str) -> None:
        self._inner.lock_resource(resource_type, resource_id)

    def set_audit_context(self, actor: str, at: datetime) -> None:
        self._inner.set_audit_context(actor, at)

    def append_audit(self, record: AuditRecord) -> AuditEntry:
        return self._inner.append_audit(record)

    def list_audit(self, query: AuditFilter) -> Sequence[AuditEntry]:
        return self._inner.list_audit(query)


class _Spend(SpendRepository):
    def __init__(self, inner: SpendRepository) -> None:
        self._inner = inner

    def find_usage(self, user_id: UUID, idempotency_key: str) -> UsageRecord | None:
        return self._inner.find_usage(user_id, idempotency_key)

    def record_usage(self, record: UsageRecord) -> int:
        return self._inner.record_usage(record)

    def find_usage_of_reservation(self, reservation_id: UUID) -> UsageRecord | None:
        return self._inner.find_usage_of_reservation(reservation_id)

    def lock_reservation(self, reservation_id: UUID) -> Reservation | None:
        return self._inner.lock_reservation(reservation_id)

    def end_reservation(self, reservation: Reservation, state: ReservationState) -> None:
        self._inner.end_reservation(reservation, state)

    def add_budget_events(self, events: Sequence[ThresholdCrossed]) -> list[ThresholdCrossed]:
        return self._inner.add_budget_events(events)

    def pending_budget_events(self, limit: int) -> Sequence[ThresholdCrossed]:
        return self._inner.pending_budget_events(limit)

    def ack_budget_events(self, ids: Sequence[UUID]) -> int:
        return self._inner.ack_budget_events(ids)

    def group_spend_in_period(self, group_id: UUID, period_start: datetime) -> int:
        return self._inner.group_spend_in_period(group_id, period_start)

    def iter_daily_spend(
        self, organization_id: UUID, start: date, end: date
    ) -> Iterator[DailySpend]:
        return self._inner.iter_daily_spend(organization_id, start, end)

    def budgets_and_spend(
        self, user_ids: Sequence[UUID], period_start: datetime, now: datetime, policy: BudgetPolicy
    ) -> dict[UUID, BudgetAndSpend]:
        return self._inner.budgets_and_spend(user_ids, period_start, now, policy)


class _Settings(SettingsRepository):
    def __init__(self, inner: SettingsRepository) -> None:
        self._inner = inner

    def ensure_settings(self, settings: GovernanceSettings) -> GovernanceSettings:
        return self._inner.ensure_settings(settings)


class _UnitOfWork(UnitOfWork):
    def __init__(self, inner: UnitOfWork) -> None:
        self.directory = _Directory(inner.directory)
        self.prices = _Prices(inner.prices)
        self.budgets = _Budgets(inner.budgets)
        self.spend = _Spend(inner.spend)
        self.audit = _Audit(inner.audit)
        self.settings = _Settings(inner.settings)


class PortsOnlyStore(Store):
    """A store that knows its backing store only as an ``aigov.ports.Store``."""

    def __init__(self) -> None:
        self._inner: Store = MemoryStore()

    @contextmanager
    def transaction(self) -> Iterator[UnitOfWork]:
        with self._inner.transaction() as uow:
            yield _UnitOfWork(uow)

    def snapshot(self) -> StoreSnapshot:
        return self._inner.snapshot()

    def close(self) -> None:
        self._inner.close()

    def reserve_if_fits(self, request: HoldRequest, policy: BudgetPolicy) -> HoldOutcome | None:
        return self._inner.reserve_if_fits(request, policy)

    def budget_and_spend(
        self, user_id: UUID, period_start: datetime, now: datetime, policy: BudgetPolicy
    ) -> BudgetAndSpend | None:
        return self._inner.budget_and_spend(user_id, period_start, now, policy)

    async def arun_in_transaction(self, work: Callable[[UnitOfWork], T]) -> T:
        return await self._inner.arun_in_transaction(lambda uow: work(_UnitOfWork(uow)))

    async def areserve_if_fits(
        self, request: HoldRequest, policy: BudgetPolicy
    ) -> HoldOutcome | None:
        return await self._inner.areserve_if_fits(request, policy)

    async def abudget_and_spend(
        self, user_id: UUID, period_start: datetime, now: datetime, policy: BudgetPolicy
    ) -> BudgetAndSpend | None:
        return await self._inner.abudget_and_spend(user_id, period_start, now, policy)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _methods(cls: type) -> set[str]:
    return {name for name, value in vars(cls).items() if callable(value) and name[0] != "_"}


@pytest.mark.parametrize(
    ("implementation", "port"),
    [
        (_Directory, DirectoryRepository),
        (_Prices, PriceRepository),
        (_Budgets, BudgetRepository),
        (_Spend, SpendRepository),
        (_Audit, AuditRepository),
        (_Settings, SettingsRepository),
        (PortsOnlyStore, Store),
    ],
)
def test_the_store_defines_exactly_the_ports_methods(implementation: type, port: type) -> None:
    """Nothing inherited from a port's empty body, nothing the ports do not name."""
    assert _methods(implementation) == _methods(port)


def test_a_unit_of_work_has_exactly_the_ports_repositories() -> None:
    store = PortsOnlyStore()
    with store.transaction() as uow:
        assert set(vars(uow)) == set(UnitOfWork.__annotations__)


class TestPortsOnlyStore(StoreContract):
    @pytest.fixture
    def store(self) -> Iterator[PortsOnlyStore]:
        store = PortsOnlyStore()
        yield store
        store.close()


TestPortsOnlyStoreBehavesLikeMemory = equivalence_test(PortsOnlyStore).TestCase
test_reports_of_a_ports_only_store_equal_their_recomputation = report_recomputation_test(
    PortsOnlyStore
)
