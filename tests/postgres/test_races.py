"""Two connections race "add to group" against "leave the organization", in both orders, 50
times each: never a group member outside the group's organization. Plain SQL, no library: the
foreign keys alone decide (see tests/postgres/interleave.py for how each order is forced)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from psycopg import errors

from tests.postgres.conftest import SCHEMA, Connect, Directory
from tests.postgres.interleave import race

pytestmark = pytest.mark.aigov_postgres

ROUNDS = 50

JOIN = f"INSERT INTO {SCHEMA}.group_members (user_id, group_id) VALUES (%s, %s)"
LEAVE = f"DELETE FROM {SCHEMA}.organization_members WHERE user_id = %s AND organization_id = %s"


def outsiders(sql: Directory) -> object:
    return sql.scalar(
        "SELECT count(*) FROM {s}.group_members gm WHERE NOT EXISTS ("
        " SELECT 1 FROM {s}.organization_members om"
        " WHERE om.user_id = gm.user_id AND om.organization_id = gm.organization_id)"
    )


@pytest.mark.parametrize("first", ["join", "leave"])
def test_join_racing_leave_never_leaves_an_outsider(first: str, connect: Connect, sql: Directory):
    joiner, leaver = connect(), connect()
    org = sql.organization()
    group = sql.group(org)
    with ThreadPoolExecutor(1) as pool:
        for _ in range(ROUNDS):
            user = sql.user()
            sql.org_member(user, org)
            join = (joiner, JOIN, [user, group])
            leave = (leaver, LEAVE, [user, org])
            if first == "join":
                assert race(join, leave, sql.c, pool) is None  # the leave waited, then cascaded
            else:
                error = race(leave, join, sql.c, pool)
                assert isinstance(error, errors.ForeignKeyViolation)
                assert error.diag.constraint_name == "group_members_organization_member_fkey"
            assert outsiders(sql) == 0
            assert (
                sql.scalar("SELECT count(*) FROM {s}.group_members WHERE user_id = %s", user) == 0
            )
