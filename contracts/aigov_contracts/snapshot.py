"""``Store.snapshot()`` as tests, for any store (one fixture: ``store``)."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

from aigov import Actor, Governance, Store, StoreSnapshot
from aigov.audit import AuditFilter
from aigov.cost import TokenUsage
from aigov_contracts.clock import ManualClock
from aigov_contracts.directory import DirectoryFixtures

__all__ = ["SnapshotContract"]

SYSTEM = Actor.system()
# 3 micros a token in, and nothing else priced: a cost is easy to tell.
PRICES = {"input_price": 3_000_000, "output_price": 0, "cache_read_price": 0,
          "cache_write_price": 0}  # fmt: skip
EMPTY = StoreSnapshot(
    organizations=(),
    users=(),
    organization_members=(),
    groups=(),
    group_members=(),
    group_budgets=(),
    overrides=(),
    prices=(),
    usage=(),
    daily_spend=(),
    counters=(),
    reservations=(),
    budget_events=(),
    acknowledged_event_ids=(),
    audit=(),
    settings=None,
)


class SnapshotContract(DirectoryFixtures):
    """``Store.snapshot()``: everything stored, each kind in the order ``StoreSnapshot`` states."""

    def test_an_empty_store_has_an_empty_snapshot(self, store: Store) -> None:
        assert store.snapshot() == EMPTY

    def test_the_snapshot_holds_every_write(
        self,
        gov: Governance,
        store: Store,
        org: UUID,
        group: UUID,
        member: UUID,
        clock: ManualClock,
    ) -> None:
        """Each kind of row written through the facade is in the snapshot, as written."""
        gov.add_group_member(SYSTEM, member, group)
        budget = gov.upsert_group_budget(SYSTEM, org, 10**6)
        override = gov.upsert_user_budget_override(SYSTEM, member, group, 2_000)
        gov.apply_price_book([{"provider": "acme", "model": "m1", **PRICES}])
        custom = gov.set_custom_price(SYSTEM, "acme", "m2", **PRICES)
        record = gov.record_usage(member, "acme", "m1", TokenUsage(input_tokens=600))
        (crossed,) = gov.pending_budget_events()  # 1,800 of 2,000: 80 % crossed
        assert gov.ack_budget_events([crossed.id]) == 1
        clock.advance(timedelta(seconds=1))
        hold = gov.reserve(member, 100)

        snapshot = store.snapshot()
        assert [o.id for o in snapshot.organizations] == [org]
        assert [u.id for u in snapshot.users] == [member]
        assert [(m.organization_id, m.user_id) for m in snapshot.organization_members] == [
            (org, member)
        ]
        assert [g.id for g in snapshot.groups] == sorted([org, group])
        assert [(m.group_id, m.user_id) for m in snapshot.group_members] == [(group, member)]
        assert snapshot.group_budgets == (budget,)
        assert snapshot.overrides == (override,)
        assert [(p.model, p.source) for p in snapshot.prices] == [
            ("m1", "pricebook"),
            ("m2", "custom"),
        ]
        assert snapshot.prices[1] == custom
        # The crossings a call made are kept as budget events, not on its record.
        assert snapshot.usage == (record.model_copy(update={"threshold_events": ()}),)
        assert record.threshold_events == (crossed,)
        assert record.cost_micros == 1_800
        assert [(d.user_id, d.effective_group_id, d.day, d.spend_micros)
                for d in snapshot.daily_spend] == [(member, group, record.day, 1_800)]  # fmt: skip
        assert [(c.user_id, c.group_id, c.period_start, c.spent_micros, c.held_micros)
                for c in snapshot.counters] == [
            (member, group, record.period_start, 1_800, 100)
        ]  # fmt: skip
        assert snapshot.reservations == (hold,)
        assert snapshot.budget_events == (crossed,)
        assert snapshot.acknowledged_event_ids == (crossed.id,)
        assert snapshot.settings == gov.settings
        assert {(e.resource_type, e.action) for e in snapshot.audit} >= {
            ("group_budget", "create"),
            ("user_budget_override", "create"),
            ("custom_price", "create"),
        }

    def test_the_snapshot_reads_what_the_unit_of_work_reads(
        self, gov: Governance, store: Store, org: UUID, group: UUID, member: UUID
    ) -> None:
        """The directory, prices, overrides and audit log of a snapshot are what the
        repositories list, in the same order."""
        for n in range(3):
            user = uuid4()
            gov.create_user(SYSTEM, user, f"user {n}")
            gov.add_organization_member(SYSTEM, user, org)
            gov.add_group_member(SYSTEM, user, group)
            gov.upsert_user_budget_override(SYSTEM, user, group, n)
            gov.create_group(SYSTEM, uuid4(), org, f"group {n}")
            gov.set_custom_price(SYSTEM, f"p{n % 2}", f"m{n}", **PRICES)
        snapshot = store.snapshot()
        with store.transaction() as uow:
            assert snapshot.organizations == tuple(uow.directory.list_organizations())
            assert snapshot.users == tuple(uow.directory.list_users())
            members = uow.directory.list_organization_members()
            assert snapshot.organization_members == tuple(members)
            assert snapshot.groups == tuple(uow.directory.list_groups())
            assert snapshot.group_members == tuple(uow.directory.list_group_members())
            assert snapshot.overrides == tuple(uow.budgets.list_overrides())
            assert snapshot.prices == tuple(uow.prices.list_model_prices())
            assert snapshot.audit == tuple(uow.audit.list_audit(AuditFilter(limit=1_000)))
        assert len(snapshot.users) == 4
        assert len(snapshot.audit) == 6

    def test_usage_and_holds_are_in_time_order(
        self, gov: Governance, store: Store, org: UUID, member: UUID, clock: ManualClock
    ) -> None:
        """Usage by ``(at, id)``, reservations by ``(created_at, id)``, ledger rows and
        counters by user, group and day or period."""
        gov.apply_price_book([{"provider": "acme", "model": "m1", **PRICES}])
        now = clock()
        late = gov.record_usage(member, "acme", "m1", TokenUsage(input_tokens=1), at=now)
        early = gov.record_usage(
            member, "acme", "m1", TokenUsage(input_tokens=2), at=now - timedelta(days=40)
        )
        first = gov.reserve(member, 5)
        clock.advance(timedelta(seconds=1))
        second = gov.reserve(member, 7)
        snapshot = store.snapshot()
        assert snapshot.usage == (early, late)
        assert snapshot.reservations == (first, second)
        assert [d.day for d in snapshot.daily_spend] == [early.day, late.day]
        assert [c.period_start for c in snapshot.counters] == [
            early.period_start,
            late.period_start,
        ]

    def test_a_snapshot_is_a_moment_not_a_view(
        self, gov: Governance, store: Store, org: UUID, member: UUID
    ) -> None:
        """A snapshot taken stays as it was when the store changes after it."""
        before = store.snapshot()
        gov.delete_user(SYSTEM, member)
        gov.create_user(SYSTEM, uuid4(), "later")
        assert [u.id for u in before.users] == [member]
        assert [m.user_id for m in before.organization_members] == [member]
        assert store.snapshot() != before
