"""Recorded spend (SPEC §8.2) as tests, for any store (one fixture: ``store``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from aigov import (
    Actor,
    AmountOutOfRangeError,
    ConflictError,
    FeatureDisabledError,
    Governance,
    InvalidInputError,
    NotFoundError,
    Store,
)
from aigov.cost import TokenUsage
from aigov.money import MAX_MICROS
from aigov_contracts.clock import ManualClock
from aigov_contracts.directory import DirectoryFixtures
from aigov_contracts.facades import GovernanceFactory

__all__ = ["SpendContract"]

SYSTEM = Actor.system()
PRICES = {
    "input_price": 3_000_000,
    "output_price": 15_000_000,
    "cache_read_price": None,
    "cache_write_price": 0,
}


def ledger(store: Store) -> tuple[list[Any], list[Any], list[Any]]:
    snapshot = store.snapshot()
    return list(snapshot.usage), list(snapshot.daily_spend), list(snapshot.counters)


class SpendContract(DirectoryFixtures):
    """Usage is always recorded, priced and attributed, once per idempotency key."""

    @pytest.fixture
    def priced(self, gov: Governance) -> tuple[str, str]:
        gov.apply_price_book([{"provider": "acme", "model": "m1", **PRICES}])
        return ("acme", "m1")

    def test_usage_is_priced_snapshotted_and_attributed(
        self,
        gov: Governance,
        store: Store,
        org: UUID,
        member: UUID,
        priced: tuple[str, str],
        clock: ManualClock,
    ) -> None:
        record = gov.record_usage(member, *priced, TokenUsage(input_tokens=1_000, output_tokens=10))
        assert record.cost_micros == 3_150  # ceil(1000 * 3 + 10 * 15)
        assert (record.effective_group_id, record.incomplete, record.price_source) == (
            org,
            False,
            "pricebook",
        )
        assert (record.input_price, record.cache_read_price, record.cache_write_price) == (
            3_000_000,
            None,
            0,
        )
        assert (record.at, record.day) == (clock(), clock().date())
        gov.set_custom_price(SYSTEM, priced[0], priced[1], **{**PRICES, "input_price": 1})
        clock.advance(timedelta(seconds=1))
        later = gov.record_usage(member, *priced, TokenUsage(input_tokens=1_000))
        assert (later.price_source, later.cost_micros) == ("custom", 1)
        usage, days, counters = ledger(store)
        assert usage == [record, later]
        assert [d.spend_micros for d in days] == [3_151]
        assert [(c.spent_micros, c.held_micros, c.group_id) for c in counters] == [(3_151, 0, org)]

    def test_an_unknown_price_is_recorded_incomplete_never_free_silently(
        self, gov: Governance, member: UUID, priced: tuple[str, str]
    ) -> None:
        unknown = gov.record_usage(member, "nobody", "nothing", TokenUsage(output_tokens=5))
        assert (unknown.cost_micros, unknown.incomplete, unknown.unpriced_kinds) == (
            0,
            True,
            ("output",),
        )
        partly = gov.record_usage(member, *priced, TokenUsage(input_tokens=1, cache_read_tokens=9))
        assert (partly.cost_micros, partly.unpriced_kinds) == (3, ("cache_read",))

    def test_the_same_idempotency_key_counts_once(
        self,
        gov: Governance,
        store: Store,
        member: UUID,
        priced: tuple[str, str],
        clock: ManualClock,
    ) -> None:
        usage = TokenUsage(input_tokens=100)
        first = gov.record_usage(member, *priced, usage, idempotency_key="req-1")
        clock.advance(timedelta(minutes=1))
        assert gov.record_usage(member, *priced, usage, idempotency_key="req-1") == first
        with pytest.raises(ConflictError):
            gov.record_usage(member, *priced, TokenUsage(input_tokens=101), idempotency_key="req-1")
        other_user = uuid4()
        gov.create_user(SYSTEM, other_user, "other")
        gov.add_organization_member(SYSTEM, other_user, first.effective_group_id)
        assert gov.record_usage(other_user, *priced, usage, idempotency_key="req-1") != first
        usage_rows, days, _ = ledger(store)
        assert len(usage_rows) == 2
        assert sum(d.spend_micros for d in days) == 2 * first.cost_micros

    def test_spend_is_kept_per_utc_day_and_period(
        self, facade: GovernanceFactory, store: Store, org: UUID, member: UUID, clock: ManualClock
    ) -> None:
        gov = facade(store, entitlements={"ai_governance"}, period="day", clock=clock)
        gov.apply_price_book([{"provider": "acme", "model": "m1", **PRICES}])
        late = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
        gov.record_usage(member, "acme", "m1", TokenUsage(input_tokens=1), at=late)
        gov.record_usage(
            member, "acme", "m1", TokenUsage(input_tokens=1), at=late + timedelta(hours=1)
        )
        _, days, counters = ledger(store)
        assert [d.day.isoformat() for d in days] == ["2026-03-01", "2026-03-02"]
        assert [c.period_start for c in counters] == [
            datetime(2026, 3, 1, tzinfo=UTC),
            datetime(2026, 3, 2, tzinfo=UTC),
        ]

    def test_spend_goes_to_the_effective_group(
        self,
        gov: Governance,
        store: Store,
        org: UUID,
        group: UUID,
        member: UUID,
        priced: tuple[str, str],
    ) -> None:
        gov.add_group_member(SYSTEM, member, group)
        gov.upsert_user_budget_override(SYSTEM, member, group, 1_000)
        assert gov.record_usage(member, *priced, TokenUsage()).effective_group_id == group
        gov.delete_group(SYSTEM, group)  # history survives the group
        usage, days, _ = ledger(store)
        assert [r.effective_group_id for r in usage] == [group]
        assert [d.effective_group_id for d in days] == [group]

    def test_a_user_without_an_organization_cannot_spend(
        self, gov: Governance, user: UUID, priced: tuple[str, str]
    ) -> None:
        with pytest.raises(NotFoundError):
            gov.record_usage(user, *priced, TokenUsage(input_tokens=1))
        with pytest.raises(NotFoundError):
            gov.record_usage(uuid4(), *priced, TokenUsage(input_tokens=1))

    @pytest.mark.parametrize(
        ("arguments", "error"),
        [
            ({"usage": {"input_tokens": -1}}, InvalidInputError),
            ({"usage": {"input_tokens": 1.5}}, InvalidInputError),
            ({"usage": {"other_tokens": 1}}, InvalidInputError),
            ({"usage": 5}, InvalidInputError),
            ({"at": datetime(2026, 1, 1)}, InvalidInputError),  # noqa: DTZ001 - naive on purpose
            ({"at": datetime(1969, 1, 1, tzinfo=UTC)}, InvalidInputError),
            ({"idempotency_key": ""}, InvalidInputError),
            ({"idempotency_key": "k" * 256}, InvalidInputError),
            ({"idempotency_key": 7}, InvalidInputError),
            ({"model": ""}, InvalidInputError),
            ({"usage": {"input_tokens": 10**30}}, AmountOutOfRangeError),
        ],
    )
    def test_bad_usage_is_refused_and_records_nothing(
        self,
        gov: Governance,
        store: Store,
        member: UUID,
        priced: tuple[str, str],
        arguments: dict[str, Any],
        error: type[Exception],
    ) -> None:
        call: dict[str, Any] = {
            "user_id": member,
            "provider": priced[0],
            "model": priced[1],
            "usage": {"input_tokens": 1},
        } | arguments
        with pytest.raises(error):
            gov.record_usage(**call)
        assert ledger(store) == ([], [], [])

    def test_a_total_beyond_the_bigint_range_is_refused(
        self, gov: Governance, store: Store, member: UUID
    ) -> None:
        gov.apply_price_book(
            [{"provider": "big", "model": "b", **PRICES, "input_price": MAX_MICROS}]
        )
        first = gov.record_usage(member, "big", "b", TokenUsage(input_tokens=1_000_000))
        assert first.cost_micros == MAX_MICROS
        with pytest.raises(AmountOutOfRangeError):
            gov.record_usage(member, "big", "b", TokenUsage(input_tokens=1))
        assert ledger(store)[0] == [first]

    def test_recording_is_feature_gated(
        self, facade: GovernanceFactory, store: Store, member: UUID
    ) -> None:
        with pytest.raises(FeatureDisabledError):
            facade(store, entitlements=()).record_usage(member, "p", "m", TokenUsage())
