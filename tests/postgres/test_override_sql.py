"""SPEC §4-§5 for a plain SQL writer (no library), from a connection whose search_path is not
the store's schema."""

from __future__ import annotations

from uuid import UUID

import psycopg
import pytest
from psycopg import errors

from tests.postgres.conftest import SCHEMA, Directory

pytestmark = pytest.mark.aigov_postgres

CONSTRAINT = "user_ai_budget_overrides_must_be_group_member"


def override(sql: Directory, user: UUID, group: UUID, limit: int = 100) -> None:
    sql.c.execute(
        f"INSERT INTO {SCHEMA}.user_ai_budget_overrides (user_id, group_id, spend_limit_micros)"
        " VALUES (%s, %s, %s)",
        [user, group, limit],
    )


def overrides_of(sql: Directory, user: UUID) -> object:
    return sql.scalar("SELECT count(*) FROM {s}.user_ai_budget_overrides WHERE user_id = %s", user)


@pytest.fixture
def world(sql: Directory) -> tuple[UUID, UUID, UUID]:
    """An organization, one of its groups, and a user in both."""
    org = sql.organization()
    group, user = sql.group(org), sql.user()
    sql.org_member(user, org)
    sql.group_member(user, group)
    return org, group, user


def test_an_override_of_a_non_member_fails_with_the_constraints_name(sql: Directory, world):
    org, group, _ = world
    outsider = sql.user()
    for target in (group, org):
        with pytest.raises(errors.CheckViolation) as raised:
            override(sql, outsider, target)
        assert raised.value.diag.constraint_name == CONSTRAINT


def test_moving_an_override_to_a_group_of_non_membership_fails(sql: Directory, world):
    org, group, user = world
    other_group = sql.group(org)
    override(sql, user, group)
    with pytest.raises(errors.CheckViolation) as raised:
        sql.c.execute(
            f"UPDATE {SCHEMA}.user_ai_budget_overrides SET group_id = %s WHERE user_id = %s",
            [other_group, user],
        )
    assert raised.value.diag.constraint_name == CONSTRAINT
    sql.c.execute(
        f"UPDATE {SCHEMA}.user_ai_budget_overrides SET spend_limit_micros = 0 WHERE user_id = %s",
        [user],
    )


@pytest.mark.parametrize(
    ("attributed", "removal"),
    [
        ("group", "DELETE FROM {s}.group_members WHERE user_id = %(user)s"),
        ("group", "DELETE FROM {s}.organization_members WHERE user_id = %(user)s"),
        ("everyone", "DELETE FROM {s}.organization_members WHERE user_id = %(user)s"),
        ("group", "DELETE FROM {s}.users WHERE id = %(user)s"),
        ("everyone", "DELETE FROM {s}.users WHERE id = %(user)s"),
        ("group", "DELETE FROM {s}.groups WHERE id = %(group)s"),
        ("group", "DELETE FROM {s}.organizations WHERE id = %(org)s"),
        ("everyone", "DELETE FROM {s}.organizations WHERE id = %(org)s"),
    ],
)
def test_losing_the_membership_removes_the_override(
    sql: Directory, world, attributed: str, removal: str
):
    org, group, user = world
    override(sql, user, group if attributed == "group" else org)
    sql.c.execute(removal.format(s=SCHEMA), {"user": user, "group": group, "org": org})
    assert overrides_of(sql, user) == 0


def test_leaving_another_group_keeps_the_override(sql: Directory, world):
    org, group, user = world
    override(sql, user, org)
    sql.c.execute(f"DELETE FROM {SCHEMA}.group_members WHERE group_id = %s", [group])
    assert overrides_of(sql, user) == 1


def test_limits_are_never_negative(sql: Directory, world):
    _, group, user = world
    with pytest.raises(errors.CheckViolation):
        override(sql, user, group, -1)
    with pytest.raises(errors.CheckViolation):
        sql.c.execute(
            f"INSERT INTO {SCHEMA}.group_ai_budgets (group_id, spend_limit_micros) VALUES (%s, -1)",
            [group],
        )


def test_no_check_constraint_calls_a_function(db: psycopg.Connection):
    """A CHECK calling a STABLE function reads a snapshot: the invariant is a locking trigger."""
    checks = db.execute(
        "SELECT conname, pg_get_constraintdef(c.oid) FROM pg_constraint c"
        " JOIN pg_namespace n ON n.oid = c.connamespace"
        " WHERE n.nspname = %s AND contype = 'c'",
        [SCHEMA],
    ).fetchall()
    assert checks
    assert not [name for name, definition in checks if "is_group_member" in definition]
    trigger = db.execute(
        "SELECT tgconstraint <> 0 FROM pg_trigger t JOIN pg_class r ON r.oid = t.tgrelid"
        " JOIN pg_namespace n ON n.oid = r.relnamespace"
        " WHERE n.nspname = %s AND tgname = %s",
        [SCHEMA, CONSTRAINT],
    ).fetchone()
    assert trigger == (True,), "the invariant is a constraint trigger"


def audit_rows(sql: Directory) -> list[tuple[object, ...]]:
    return sql.c.execute(
        f"SELECT actor, action, resource_id, before ->> 'group_id' FROM {SCHEMA}.ai_audit_log"
        " ORDER BY id"
    ).fetchall()


@pytest.mark.parametrize(
    "removal",
    [
        "DELETE FROM {s}.group_members WHERE user_id = %(user)s",
        "DELETE FROM {s}.organization_members WHERE user_id = %(user)s",
        "DELETE FROM {s}.users WHERE id = %(user)s",
        "DELETE FROM {s}.groups WHERE id = %(group)s",
        "DELETE FROM {s}.organizations WHERE id = %(org)s",
    ],
)
def test_a_cascade_by_another_writer_is_audited_naming_its_role(
    sql: Directory, world, removal: str
):
    org, group, user = world
    override(sql, user, group)
    sql.c.execute(removal.format(s=SCHEMA), {"user": user, "group": group, "org": org})
    role = sql.scalar("SELECT session_user")
    assert audit_rows(sql) == [(f"sql:{role}", "cascade_delete", str(user), str(group))]


def test_a_cascade_names_the_actor_the_library_set(sql: Directory, world):
    _org, group, user = world
    override(sql, user, group)
    with sql.c.transaction():
        sql.c.execute("SELECT set_config('aigov.actor', 'user:someone', true)")
        sql.c.execute(f"DELETE FROM {SCHEMA}.group_members WHERE user_id = %s", [user])
    assert audit_rows(sql) == [("user:someone", "cascade_delete", str(user), str(group))]


def test_a_direct_delete_of_an_override_is_not_a_cascade(sql: Directory, world):
    _org, group, user = world
    override(sql, user, group)
    sql.c.execute(f"DELETE FROM {SCHEMA}.user_ai_budget_overrides WHERE user_id = %s", [user])
    assert audit_rows(sql) == []
