"""SPEC §5.2 under concurrency: an override written while the membership it relies on is being
removed ends with the removal waiting and cascading, or the write failing; never an override of a
non-member. Each removal, in both orders, 50 times, on two plain-SQL connections."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

import pytest
from psycopg import errors

from tests.postgres.conftest import SCHEMA, Connect, Directory
from tests.postgres.interleave import race

pytestmark = pytest.mark.aigov_postgres

ROUNDS = 50

WRITE = (
    f"INSERT INTO {SCHEMA}.user_ai_budget_overrides (user_id, group_id, spend_limit_micros)"
    " VALUES (%s, %s, 100)"
)
REMOVALS = {
    "leave the group": (
        f"DELETE FROM {SCHEMA}.group_members WHERE user_id = %(user)s AND group_id = %(group)s"
    ),
    "leave the organization": (
        f"DELETE FROM {SCHEMA}.organization_members"
        " WHERE user_id = %(user)s AND organization_id = %(org)s"
    ),
    "delete the user": f"DELETE FROM {SCHEMA}.users WHERE id = %(user)s",
    "delete the group": f"DELETE FROM {SCHEMA}.groups WHERE id = %(group)s",
    "delete the organization": f"DELETE FROM {SCHEMA}.organizations WHERE id = %(org)s",
}
# What the refused write fails with, by what was removed first.
REFUSALS = {
    "leave the group": (errors.CheckViolation, "user_ai_budget_overrides_must_be_group_member"),
    "leave the organization": (
        errors.CheckViolation,
        "user_ai_budget_overrides_must_be_group_member",
    ),
    "delete the user": (errors.ForeignKeyViolation, "user_ai_budget_overrides_user_id_fkey"),
    "delete the group": (errors.ForeignKeyViolation, "user_ai_budget_overrides_group_id_fkey"),
    "delete the organization": (
        errors.ForeignKeyViolation,
        "user_ai_budget_overrides_group_id_fkey",
    ),
}


def orphans(sql: Directory) -> object:
    return sql.scalar(
        "SELECT count(*) FROM {s}.user_ai_budget_overrides o"
        " WHERE NOT {s}.is_group_member(o.user_id, o.group_id)"
    )


# An Everyone group is neither left nor deleted on its own: its override races the others.
CASES = [
    (target, removal)
    for target in ("ordinary group", "everyone group")
    for removal in REMOVALS
    if target == "ordinary group"
    or removal in ("leave the organization", "delete the user", "delete the organization")
]


@pytest.mark.parametrize(("target", "removal"), CASES)
@pytest.mark.parametrize("first", ["write", "remove"])
def test_an_override_racing_the_loss_of_its_membership(
    first: str, target: str, removal: str, connect: Connect, sql: Directory
):
    writer, remover = connect(), connect()
    with ThreadPoolExecutor(1) as pool:
        for _ in range(ROUNDS):
            org = sql.organization()
            user = sql.user()
            group = sql.group(org)
            sql.org_member(user, org)
            sql.group_member(user, group)
            attributed: UUID = group if target == "ordinary group" else org
            write = (writer, WRITE, [user, attributed])
            remove = (remover, REMOVALS[removal], {"user": user, "group": group, "org": org})
            if first == "write":
                assert race(write, remove, sql.c, pool) is None  # the removal waited, cascaded
            else:
                error = race(remove, write, sql.c, pool)
                kind, constraint = REFUSALS[removal]
                assert isinstance(error, kind), error
                assert error.diag.constraint_name == constraint
            assert orphans(sql) == 0
            assert (
                sql.scalar(
                    "SELECT count(*) FROM {s}.user_ai_budget_overrides WHERE user_id = %s", user
                )
                == 0
            )


MOVE = f"UPDATE {SCHEMA}.user_ai_budget_overrides SET group_id = %s WHERE user_id = %s"


@pytest.mark.parametrize("first", ["move", "remove"])
def test_moving_an_override_racing_the_loss_of_the_new_membership(
    first: str, connect: Connect, sql: Directory
):
    """An override moved into a group while the user leaves that group."""
    writer, remover = connect(), connect()
    org = sql.organization()
    with ThreadPoolExecutor(1) as pool:
        for _ in range(ROUNDS):
            user, old, new = sql.user(), sql.group(org), sql.group(org)
            sql.org_member(user, org)
            sql.group_member(user, old)
            sql.group_member(user, new)
            sql.c.execute(WRITE, [user, old])
            move = (writer, MOVE, [new, user])
            leave = (remover, REMOVALS["leave the group"], {"user": user, "group": new, "org": org})
            if first == "move":
                assert race(move, leave, sql.c, pool) is None  # the leave waited, then cascaded
                assert (
                    sql.scalar(
                        "SELECT count(*) FROM {s}.user_ai_budget_overrides WHERE user_id = %s", user
                    )
                    == 0
                )
            else:
                error = race(leave, move, sql.c, pool)
                assert isinstance(error, errors.CheckViolation), error
                assert error.diag.constraint_name == "user_ai_budget_overrides_must_be_group_member"
                assert (
                    sql.scalar(
                        "SELECT group_id FROM {s}.user_ai_budget_overrides WHERE user_id = %s", user
                    )
                    == old
                )
            assert orphans(sql) == 0
