"""The reserve statement against a transaction that holds its locks (SPEC §8.3): it takes locks in
the order settle and release do (a hold before its counter), so it waits instead of deadlocking,
and a refusal after a wait reports the counter as committed, not the statement's older snapshot."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from sqlalchemy.engine import URL

from aigov import AI_GOVERNANCE, Actor, BudgetExceededError, Governance
from aigov_contracts import ManualClock
from aigov_postgres import PostgresStore
from tests.postgres.conftest import libpq_uri

pytestmark = pytest.mark.aigov_postgres

SYSTEM = Actor.system()


@pytest.fixture
def spender(postgres_url: URL) -> Iterator[tuple[Governance, ManualClock, UUID]]:
    store = PostgresStore.from_url(postgres_url)
    clock = ManualClock()
    gov = Governance(store, entitlements={AI_GOVERNANCE}, clock=clock)
    org, user = uuid4(), uuid4()
    gov.create_organization(SYSTEM, org, "Acme")
    gov.create_user(SYSTEM, user, "ann")
    gov.add_organization_member(SYSTEM, user, org)
    gov.upsert_group_budget(SYSTEM, org, 100)
    yield gov, clock, user
    store.close()


def wait_until_blocked_by(observer: psycopg.Connection, pid: int, future: Future[Any]) -> None:
    """Until some backend waits for a lock that ``pid`` holds."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        row = observer.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", [pid]
        ).fetchone()
        if row and row[0] > 0:
            return
        if future.done():
            pytest.fail(f"reserve did not wait: {future.result()!r}")
        time.sleep(0.002)
    pytest.fail("reserve never waited")


def test_a_reserve_waits_for_a_settle_of_an_expired_hold_instead_of_deadlocking(
    spender: tuple[Governance, ManualClock, UUID], postgres_url: URL
):
    gov, clock, user = spender
    expiring = gov.reserve(user, 30, ttl=timedelta(seconds=1))
    clock.advance(timedelta(seconds=2))
    uri = libpq_uri(postgres_url)
    with (
        psycopg.connect(uri) as settle,
        psycopg.connect(uri, autocommit=True) as observer,
        ThreadPoolExecutor(1) as pool,
    ):
        # What settle does: lock the hold, then write its counter.
        settle.execute(
            "SELECT 1 FROM ai_spend_reservations WHERE id = %s FOR UPDATE", [expiring.id]
        )
        granted = pool.submit(gov.reserve, user, 10)
        wait_until_blocked_by(observer, settle.info.backend_pid, granted)
        settle.execute(
            "UPDATE ai_spend_counters SET held_micros = held_micros WHERE user_id = %s", [user]
        )
        settle.commit()
        assert granted.result(timeout=10).amount_micros == 10
    snapshot = gov.store.snapshot()
    (counter,) = snapshot.counters
    states = sorted(r.state for r in snapshot.reservations)
    assert (counter.held_micros, states) == (10, ["expired", "held"])


def test_a_refusal_after_a_wait_reports_the_committed_counter(
    spender: tuple[Governance, ManualClock, UUID], postgres_url: URL
):
    gov, _, user = spender
    gov.reserve(user, 50)
    uri = libpq_uri(postgres_url)
    with (
        psycopg.connect(uri) as other,
        psycopg.connect(uri, autocommit=True) as observer,
        ThreadPoolExecutor(1) as pool,
    ):
        other.execute(
            "UPDATE ai_spend_counters SET held_micros = held_micros + 40 WHERE user_id = %s",
            [user],
        )
        refused = pool.submit(gov.reserve, user, 20)
        wait_until_blocked_by(observer, other.info.backend_pid, refused)
        other.commit()
        with pytest.raises(BudgetExceededError) as error:
            refused.result(timeout=10)
    assert (error.value.held_micros, error.value.remaining_micros) == (90, 10)
