"""Enforcement (SPEC §8.3): reserve, then settle or release, as tests for any store."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from aigov import (
    Actor,
    AmountOutOfRangeError,
    BudgetExceededError,
    ConflictError,
    FeatureDisabledError,
    Governance,
    InvalidInputError,
    NotFoundError,
    Store,
    UnknownPriceError,
)
from aigov.cost import TokenUsage
from aigov.money import MAX_MICROS
from aigov_contracts.clock import ManualClock
from aigov_contracts.directory import DirectoryFixtures
from aigov_contracts.facades import GovernanceFactory

__all__ = ["EnforcementContract"]

SYSTEM = Actor.system()
PER_MILLION = {"input_price": 1_000_000, "output_price": None, "cache_read_price": 0,
               "cache_write_price": 0}  # fmt: skip


def counters(store: Store) -> list[tuple[int, int]]:
    return [(c.spent_micros, c.held_micros) for c in store.snapshot().counters]


class EnforcementContract(DirectoryFixtures):
    """Holds that never exceed the limit, settled in full, released once, expiring on time."""

    @pytest.fixture
    def limited(self, gov: Governance, org: UUID, member: UUID) -> UUID:
        """The member, with a limit of 100 micros (their organization's Everyone budget)."""
        gov.upsert_group_budget(SYSTEM, org, 100)
        gov.apply_price_book([{"provider": "p", "model": "m", **PER_MILLION}])
        return member

    def test_a_hold_is_granted_only_if_it_fits(
        self, gov: Governance, store: Store, org: UUID, limited: UUID
    ) -> None:
        held = gov.reserve(limited, 60)
        assert (held.amount_micros, held.group_id, held.state) == (60, org, "held")
        with pytest.raises(BudgetExceededError) as refused:
            gov.reserve(limited, 41)
        error = refused.value
        assert (error.limit_micros, error.spent_micros, error.held_micros) == (100, 0, 60)
        assert (error.requested_micros, error.remaining_micros, error.group_id) == (41, 40, org)
        assert gov.reserve(limited, 40).amount_micros == 40
        assert counters(store) == [(0, 100)]

    def test_without_a_limit_every_hold_is_granted_and_with_zero_none(
        self, gov: Governance, org: UUID, member: UUID
    ) -> None:
        assert gov.reserve(member, MAX_MICROS).amount_micros == MAX_MICROS
        gov.upsert_user_budget_override(SYSTEM, member, org, 0)
        with pytest.raises(BudgetExceededError) as refused:
            gov.reserve(member, 1)
        assert refused.value.remaining_micros == 0

    def test_settling_records_the_usage_and_frees_the_hold(
        self, gov: Governance, store: Store, limited: UUID
    ) -> None:
        hold = gov.reserve(limited, 50)
        record = gov.settle(hold.id, "p", "m", TokenUsage(input_tokens=30))
        assert (record.cost_micros, record.reservation_id, record.overrun_micros) == (
            30,
            hold.id,
            0,
        )
        assert counters(store) == [(30, 0)]
        assert gov.settle(hold.id, "p", "m", TokenUsage(input_tokens=30)) == record  # idempotent
        assert counters(store) == [(30, 0)]
        assert gov.reserve(limited, 70).amount_micros == 70

    def test_an_overrun_is_recorded_in_full(
        self, gov: Governance, store: Store, limited: UUID
    ) -> None:
        hold = gov.reserve(limited, 10)
        record = gov.settle(hold.id, "p", "m", TokenUsage(input_tokens=250))
        assert (record.cost_micros, record.overrun_micros) == (250, 240)
        assert counters(store) == [(250, 0)]
        with pytest.raises(BudgetExceededError) as refused:
            gov.reserve(limited, 1)
        assert (refused.value.spent_micros, refused.value.remaining_micros) == (250, 0)

    def test_release_frees_the_hold_once_and_blocks_a_settle(
        self, gov: Governance, store: Store, limited: UUID
    ) -> None:
        hold = gov.reserve(limited, 80)
        assert gov.release(hold.id).state == "released"
        assert gov.release(hold.id).state == "released"
        assert counters(store) == [(0, 0)]
        with pytest.raises(ConflictError):
            gov.settle(hold.id, "p", "m", TokenUsage(input_tokens=1))
        settled = gov.reserve(limited, 1)
        gov.settle(settled.id, "p", "m", TokenUsage(input_tokens=1))
        with pytest.raises(ConflictError):
            gov.release(settled.id)

    def test_an_expired_hold_stops_counting_and_can_still_be_settled(
        self, gov: Governance, store: Store, limited: UUID, clock: ManualClock
    ) -> None:
        hold = gov.reserve(limited, 90, ttl=timedelta(seconds=30))
        clock.advance(timedelta(seconds=30))
        fresh = gov.reserve(limited, 90)
        assert counters(store) == [(0, 90)]
        record = gov.settle(hold.id, "p", "m", TokenUsage(input_tokens=5))
        assert record.cost_micros == 5
        assert counters(store) == [(5, 90)]  # the expired hold was freed once, not twice
        gov.release(fresh.id)
        assert counters(store) == [(5, 0)]

    def test_expired_holds_are_freed_even_when_the_new_hold_does_not_fit(
        self, gov: Governance, store: Store, limited: UUID, clock: ManualClock
    ) -> None:
        gov.reserve(limited, 30, ttl=timedelta(seconds=5))
        gov.reserve(limited, 30, ttl=timedelta(seconds=60))
        clock.advance(timedelta(seconds=5))
        with pytest.raises(BudgetExceededError) as refused:
            gov.reserve(limited, 71)
        assert (refused.value.held_micros, refused.value.remaining_micros) == (30, 70)
        assert counters(store) == [(0, 30)]
        assert sorted(r.state for r in store.snapshot().reservations) == ["expired", "held"]
        assert gov.reserve(limited, 70).amount_micros == 70

    def test_limits_and_holds_use_the_whole_range_of_micros(
        self, gov: Governance, store: Store, org: UUID, member: UUID
    ) -> None:
        gov.upsert_group_budget(SYSTEM, org, MAX_MICROS)
        assert gov.reserve(member, 2**40).amount_micros == 2**40
        assert gov.reserve(member, MAX_MICROS - 2**40).amount_micros == MAX_MICROS - 2**40
        with pytest.raises(BudgetExceededError):
            gov.reserve(member, 1)
        assert counters(store) == [(0, MAX_MICROS)]
        assert gov.spend_status(SYSTEM, member).remaining_micros == 0

    def test_a_settle_goes_to_the_period_and_group_of_settle_time_frees_where_held(
        self,
        facade: GovernanceFactory,
        store: Store,
        org: UUID,
        group: UUID,
        member: UUID,
        clock: ManualClock,
    ) -> None:
        gov = facade(store, entitlements={"ai_governance"}, period="day", clock=clock)
        gov.apply_price_book([{"provider": "p", "model": "m", **PER_MILLION}])
        hold = gov.reserve(member, 10, ttl=timedelta(days=2))
        gov.add_group_member(SYSTEM, member, group)
        gov.upsert_user_budget_override(SYSTEM, member, group, 1_000)
        clock.advance(timedelta(days=1))
        record = gov.settle(hold.id, "p", "m", TokenUsage(input_tokens=7))
        assert record.effective_group_id == group
        rows = {(c.group_id, c.period_start.date()): (c.spent_micros, c.held_micros)
                for c in store.snapshot().counters}  # fmt: skip
        assert rows == {
            (org, hold.period_start.date()): (0, 0),
            (group, record.period_start.date()): (7, 0),
        }

    def test_reserve_for_prices_the_expected_usage(
        self, facade: GovernanceFactory, store: Store, limited: UUID, clock: ManualClock
    ) -> None:
        deny = facade(store, entitlements={"ai_governance"}, clock=clock)
        assert deny.reserve_for(limited, "p", "m", TokenUsage(input_tokens=40)).amount_micros == 40
        with pytest.raises(UnknownPriceError):
            deny.reserve_for(limited, "p", "m", TokenUsage(input_tokens=1, output_tokens=1))
        with pytest.raises(UnknownPriceError):
            deny.reserve_for(limited, "nobody", "nothing", TokenUsage(input_tokens=1))
        with pytest.raises(InvalidInputError):
            deny.reserve_for(limited, "p", "m", TokenUsage(cache_read_tokens=10))

    def test_reserve_for_may_reserve_the_priced_part(
        self, facade: GovernanceFactory, store: Store, member: UUID
    ) -> None:
        allow = facade(store, entitlements={"ai_governance"}, unknown_price_policy="allow")
        allow.apply_price_book([{"provider": "p", "model": "m", **PER_MILLION}])
        hold = allow.reserve_for(member, "p", "m", TokenUsage(input_tokens=3, output_tokens=9))
        assert hold.amount_micros == 3

    @pytest.mark.parametrize(
        ("amount", "ttl", "error"),
        [
            (0, timedelta(minutes=1), InvalidInputError),
            (-1, timedelta(minutes=1), AmountOutOfRangeError),
            (2**63, timedelta(minutes=1), AmountOutOfRangeError),
            (1.5, timedelta(minutes=1), InvalidInputError),
            (1, timedelta(0), InvalidInputError),
            (1, 60, InvalidInputError),
        ],
    )
    def test_bad_reservations_are_refused(
        self,
        gov: Governance,
        store: Store,
        limited: UUID,
        amount: object,
        ttl: object,
        error: type[Exception],
    ) -> None:
        with pytest.raises(error):
            gov.reserve(limited, amount, ttl=ttl)  # type: ignore[arg-type]
        assert counters(store) == []

    def test_unknown_reservations_and_users_are_not_found(
        self, gov: Governance, user: UUID
    ) -> None:
        for call in (
            lambda: gov.settle(uuid4(), "p", "m", TokenUsage()),
            lambda: gov.release(uuid4()),
            lambda: gov.reserve(uuid4(), 1),
            lambda: gov.reserve(user, 1),  # in no organization
        ):
            with pytest.raises(NotFoundError):
                call()

    def test_enforcement_is_feature_gated(
        self, facade: GovernanceFactory, store: Store, member: UUID
    ) -> None:
        ungated = facade(store, entitlements=())
        for call in (
            lambda: ungated.reserve(member, 1),
            lambda: ungated.reserve_for(member, "p", "m", TokenUsage(input_tokens=1)),
            lambda: ungated.settle(uuid4(), "p", "m", TokenUsage()),
            lambda: ungated.release(uuid4()),
        ):
            with pytest.raises(FeatureDisabledError):
                call()

    def test_spend_status_shows_limit_spent_held_and_remaining(
        self, gov: Governance, org: UUID, limited: UUID, clock: ManualClock
    ) -> None:
        status = gov.spend_status(SYSTEM, limited)
        assert (status.spend_limit_micros, status.source, status.group_id) == (100, "group", org)
        assert status.period_start <= clock() < status.period_end
        assert (status.spent_micros, status.held_micros, status.remaining_micros) == (0, 0, 100)
        hold = gov.reserve(limited, 30, ttl=timedelta(seconds=10))
        gov.record_usage(limited, "p", "m", TokenUsage(input_tokens=20))
        status = gov.spend_status(SYSTEM, limited)
        assert (status.spent_micros, status.held_micros, status.remaining_micros) == (20, 30, 50)
        clock.advance(timedelta(seconds=10))  # the hold expired: it no longer counts
        assert gov.spend_status(SYSTEM, limited).held_micros == 0
        gov.settle(hold.id, "p", "m", TokenUsage(input_tokens=200))
        assert gov.spend_status(SYSTEM, limited).remaining_micros == 0  # overrun: never below 0

    def test_spend_status_without_a_limit_or_an_organization(
        self, gov: Governance, member: UUID
    ) -> None:
        free = gov.spend_status(SYSTEM, member)
        assert (free.spend_limit_micros, free.remaining_micros, free.source) == (None, None, None)
        loner = uuid4()
        gov.create_user(SYSTEM, loner, "in no organization")
        alone = gov.spend_status(SYSTEM, loner)
        assert (alone.group_id, alone.spent_micros) == (None, 0)
        with pytest.raises(NotFoundError):
            gov.spend_status(SYSTEM, uuid4())

    def test_spend_status_is_for_those_who_may_read_the_user(
        self, gov: Governance, limited: UUID
    ) -> None:
        assert gov.spend_status(Actor.user(limited), limited).spend_limit_micros == 100
        with pytest.raises(NotFoundError):
            gov.spend_status(Actor.user(uuid4()), limited)
        auditor = Actor.user(uuid4(), site_roles=("auditor",))
        assert gov.spend_status(auditor, limited).remaining_micros == 100

    def test_crossing_a_threshold_yields_one_event_per_percent(
        self, gov: Governance, org: UUID, limited: UUID, clock: ManualClock
    ) -> None:
        """SPEC §8.4: returned by the crossing call, kept in the outbox until acknowledged."""
        quiet = gov.record_usage(limited, "p", "m", TokenUsage(input_tokens=79))
        assert quiet.threshold_events == ()
        crossing = gov.record_usage(limited, "p", "m", TokenUsage(input_tokens=1))
        assert [(e.percent, e.spent_micros, e.limit_micros, e.group_id) for e in
                crossing.threshold_events] == [(80, 80, 100, org)]  # fmt: skip
        clock.advance(timedelta(seconds=1))
        both = gov.record_usage(limited, "p", "m", TokenUsage(input_tokens=500))
        assert [e.percent for e in both.threshold_events] == [100]
        assert (
            gov.record_usage(limited, "p", "m", TokenUsage(input_tokens=1)).threshold_events == ()
        )
        pending = gov.pending_budget_events()
        assert [e.percent for e in pending] == [80, 100]
        assert gov.ack_budget_events([pending[0].id, uuid4()]) == 1
        assert gov.ack_budget_events([pending[0].id]) == 0
        assert gov.pending_budget_events() == [pending[1]]

    def test_one_call_may_cross_several_percentages_and_holds_do_not(
        self, facade: GovernanceFactory, store: Store, clock: ManualClock, org: UUID, member: UUID
    ) -> None:
        gov = facade(store, entitlements={"ai_governance"}, thresholds=(50, 90, 100),
                         clock=clock)  # fmt: skip
        gov.upsert_group_budget(SYSTEM, org, 100)
        gov.apply_price_book([{"provider": "p", "model": "m", **PER_MILLION}])
        hold = gov.reserve(member, 95)
        assert gov.pending_budget_events() == []
        record = gov.settle(hold.id, "p", "m", TokenUsage(input_tokens=95))
        assert [e.percent for e in record.threshold_events] == [50, 90]
        assert gov.settle(hold.id, "p", "m", TokenUsage(input_tokens=95)) != record  # no events

    def test_no_events_without_a_positive_limit(
        self, gov: Governance, org: UUID, member: UUID
    ) -> None:
        gov.apply_price_book([{"provider": "p", "model": "m", **PER_MILLION}])
        assert (
            gov.record_usage(member, "p", "m", TokenUsage(input_tokens=10)).threshold_events == ()
        )
        gov.upsert_group_budget(SYSTEM, org, 0)
        assert (
            gov.record_usage(member, "p", "m", TokenUsage(input_tokens=10)).threshold_events == ()
        )
        assert gov.pending_budget_events() == []

    @pytest.mark.parametrize("bad", [{"limit": 0}, {"limit": 1001}, {"limit": "5"}])
    def test_bad_outbox_reads_are_invalid(self, gov: Governance, bad: dict[str, object]) -> None:
        with pytest.raises(InvalidInputError):
            gov.pending_budget_events(**bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError):
            gov.ack_budget_events("not-a-list")
