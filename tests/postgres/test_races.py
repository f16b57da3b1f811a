"""Two connections race "add to group" against "leave the organization", in both orders, 50
times each: never a group member outside the group's organization.

Each round forces the interleaving: the first transaction does its write and stays open, the
second starts its write and is seen *blocked* on the first (pg_blocking_pids), then the first
commits and the second finishes. Plain SQL, no library: the foreign keys alone decide.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor

import psycopg
import pytest

from tests.postgres.conftest import SCHEMA, Connect, Directory

pytestmark = pytest.mark.aigov_postgres

ROUNDS = 50

JOIN = f"INSERT INTO {SCHEMA}.group_members (user_id, group_id) VALUES (%s, %s)"
LEAVE = f"DELETE FROM {SCHEMA}.organization_members WHERE user_id = %s AND organization_id = %s"


def wait_until_blocked(observer: psycopg.Connection, pid: int, future: Future[object]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        row = observer.execute("SELECT cardinality(pg_blocking_pids(%s))", [pid]).fetchone()
        if row and row[0] > 0:
            return
        if future.done():
            future.result()
            pytest.fail("the second transaction finished without waiting for the first")
        time.sleep(0.002)
    pytest.fail("the second transaction never blocked")


def orphans(sql: Directory) -> int:
    count = sql.scalar(
        "SELECT count(*) FROM {s}.group_members gm WHERE NOT EXISTS ("
        " SELECT 1 FROM {s}.organization_members om"
        " WHERE om.user_id = gm.user_id AND om.organization_id = gm.organization_id)"
    )
    assert isinstance(count, int)
    return count


@pytest.mark.parametrize("first", ["join", "leave"])
def test_join_racing_leave_never_leaves_an_outsider(first: str, connect: Connect, sql: Directory):
    joiner = connect()
    leaver = connect()
    org = sql.organization()
    group = sql.group(org)
    outcomes = {"joined then cascaded": 0, "join refused": 0}
    with ThreadPoolExecutor(1) as second_thread:
        for _ in range(ROUNDS):
            user = sql.user()
            sql.org_member(user, org)
            join = (joiner, JOIN, [user, group])
            leave = (leaver, LEAVE, [user, org])
            (a, a_sql, a_args), (b, b_sql, b_args) = (
                (join, leave) if first == "join" else (leave, join)
            )
            with a.transaction():
                a.execute(a_sql, a_args)

                def second(b=b, b_sql=b_sql, b_args=b_args) -> str:  # type: ignore[no-untyped-def]
                    try:
                        with b.transaction():
                            b.execute(b_sql, b_args)
                    except psycopg.errors.ForeignKeyViolation as exc:
                        assert exc.diag.constraint_name  # noqa: PT017 - the race is the raise == "group_members_organization_member_fkey"
                        return "join refused"
                    return "joined then cascaded"

                future = second_thread.submit(second)
                wait_until_blocked(sql.c, b.info.backend_pid, future)
            outcomes[future.result()] += 1
            assert orphans(sql) == 0
            assert (
                sql.scalar("SELECT count(*) FROM {s}.group_members WHERE user_id = %s", user) == 0
            )
    expected = "joined then cascaded" if first == "join" else "join refused"
    assert outcomes[expected] == ROUNDS
