"""SPEC §2's rules hold for a plain SQL writer, from a connection whose search_path is not the
store's schema: no library involved."""

from __future__ import annotations

from uuid import uuid4

import psycopg
import pytest
from psycopg import errors

from tests.postgres.conftest import SCHEMA, Directory

pytestmark = pytest.mark.aigov_postgres


def refused(sql: Directory, query: str, *params: object) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as raised:
        sql.c.execute(query.format(s=SCHEMA), list(params))
    return raised.value


def test_inserting_an_organization_creates_its_everyone_group(sql: Directory):
    org = sql.organization()
    assert (
        sql.scalar("SELECT name FROM {s}.groups WHERE id = %s AND organization_id = %s", org, org)
        == "Everyone"
    )


def test_an_insert_of_user_and_group_fills_the_organization(sql: Directory):
    org = sql.organization()
    user, group = sql.user(), sql.group(org)
    sql.org_member(user, org)
    sql.group_member(user, group)
    assert (
        sql.scalar("SELECT organization_id FROM {s}.group_members WHERE user_id = %s", user) == org
    )


def test_group_expanded_membership_and_the_predicate(sql: Directory):
    org = sql.organization()
    user, group = sql.user(), sql.group(org)
    assert sql.scalar("SELECT {s}.is_group_member(%s, %s)", user, org) is False
    sql.org_member(user, org)
    sql.group_member(user, group)
    assert sql.scalar("SELECT {s}.is_group_member(%s, %s)", user, org) is True
    assert sql.scalar("SELECT {s}.is_group_member(%s, %s)", user, group) is True
    assert (
        sql.scalar("SELECT count(*) FROM {s}.group_members_expanded WHERE user_id = %s", user) == 2
    )


def test_leaving_an_organization_removes_its_group_memberships_only(sql: Directory):
    org, other = sql.organization(), sql.organization()
    user = sql.user()
    groups = [sql.group(org), sql.group(org)]
    other_group = sql.group(other)
    sql.org_member(user, org)
    sql.org_member(user, other)
    for group in [*groups, other_group]:
        sql.group_member(user, group)
    sql.c.execute(
        f"DELETE FROM {SCHEMA}.organization_members WHERE user_id = %s AND organization_id = %s",
        [user, org],
    )
    assert sql.scalar(
        "SELECT array_agg(group_id) FROM {s}.group_members WHERE user_id = %s", user
    ) == [other_group]


def test_deleting_a_user_or_a_group_removes_their_memberships(sql: Directory):
    org = sql.organization()
    user, group = sql.user(), sql.group(org)
    sql.org_member(user, org)
    sql.group_member(user, group)
    sql.c.execute(f"DELETE FROM {SCHEMA}.groups WHERE id = %s", [group])
    assert sql.scalar("SELECT count(*) FROM {s}.group_members") == 0
    sql.c.execute(f"DELETE FROM {SCHEMA}.users WHERE id = %s", [user])
    assert sql.scalar("SELECT count(*) FROM {s}.organization_members") == 0


def test_deleting_an_organization_takes_its_everyone_group(sql: Directory):
    org = sql.organization()
    user, group = sql.user(), sql.group(org)
    sql.org_member(user, org)
    sql.group_member(user, group)
    sql.c.execute(f"DELETE FROM {SCHEMA}.organizations WHERE id = %s", [org])
    assert sql.scalar("SELECT count(*) FROM {s}.groups") == 0
    assert sql.scalar("SELECT count(*) FROM {s}.group_members") == 0


def test_a_group_member_outside_the_organization_is_refused(sql: Directory):
    org = sql.organization()
    user, group = sql.user(), sql.group(org)
    error = refused(
        sql, "INSERT INTO {s}.group_members (user_id, group_id) VALUES (%s, %s)", user, group
    )
    assert isinstance(error, errors.ForeignKeyViolation)
    assert error.diag.constraint_name == "group_members_organization_member_fkey"


def test_a_mismatched_organization_is_refused(sql: Directory):
    org, other = sql.organization(), sql.organization()
    user, group = sql.user(), sql.group(org)
    sql.org_member(user, org)
    sql.org_member(user, other)
    error = refused(
        sql,
        "INSERT INTO {s}.group_members (user_id, group_id, organization_id) VALUES (%s, %s, %s)",
        user,
        group,
        other,
    )
    assert error.diag.constraint_name == "group_members_organization_matches_group"


def test_direct_members_of_an_everyone_group_are_refused(sql: Directory):
    org, user = sql.organization(), sql.user()
    sql.org_member(user, org)
    error = refused(
        sql, "INSERT INTO {s}.group_members (user_id, group_id) VALUES (%s, %s)", user, org
    )
    assert isinstance(error, errors.CheckViolation)
    assert error.diag.constraint_name == "group_members_not_everyone_group"


def test_deleting_an_everyone_group_is_refused_while_its_organization_exists(sql: Directory):
    org = sql.organization()
    error = refused(sql, "DELETE FROM {s}.groups WHERE id = %s", org)
    assert isinstance(error, errors.RestrictViolation)
    assert error.diag.constraint_name == "groups_everyone_group_undeletable"


@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("organization_members", "user_id"),
        ("organization_members", "organization_id"),
        ("group_members", "user_id"),
        ("group_members", "group_id"),
        ("group_members", "organization_id"),
        ("groups", "organization_id"),
        ("groups", "id"),
        ("organizations", "id"),
        ("users", "id"),
    ],
)
def test_key_columns_cannot_be_updated(sql: Directory, table: str, column: str):
    org, other = sql.organization(), sql.organization()
    user, group = sql.user(), sql.group(org)
    sql.org_member(user, org)
    sql.group_member(user, group)
    error = refused(sql, f"UPDATE {{s}}.{table} SET {column} = %s", other)
    assert error.diag.constraint_name == f"{table}_key_columns_immutable"
    assert error.diag.column_name == column


def test_other_columns_can_be_updated(sql: Directory):
    org, user = sql.organization(), sql.user()
    sql.org_member(user, org)
    sql.c.execute(f"UPDATE {SCHEMA}.organization_members SET roles = '{{organization-admin}}'")
    sql.c.execute(f"UPDATE {SCHEMA}.groups SET name = 'Everybody' WHERE id = %s", [org])
    sql.c.execute(f"UPDATE {SCHEMA}.organization_members SET user_id = user_id")  # unchanged key


@pytest.mark.parametrize(
    ("statement", "constraint"),
    [
        ("TRUNCATE {s}.organization_members CASCADE", None),
        ("TRUNCATE {s}.group_members", "group_members_no_truncate"),
        ("TRUNCATE {s}.organizations CASCADE", None),
        ("TRUNCATE {s}.users CASCADE", None),
    ],
)
def test_truncating_membership_tables_is_refused(
    sql: Directory, statement: str, constraint: str | None
):
    org, user = sql.organization(), sql.user()
    sql.org_member(user, org)
    error = refused(sql, statement)
    assert error.diag.constraint_name in (
        [constraint]
        if constraint
        else ["organization_members_no_truncate", "group_members_no_truncate"]
    )
    assert sql.scalar("SELECT count(*) FROM {s}.organization_members") == 1


def test_at_most_one_default_organization(sql: Directory):
    sql.c.execute(
        f"INSERT INTO {SCHEMA}.organizations (id, name, is_default) VALUES (%s, 'A', true)",
        [uuid4()],
    )
    error = refused(
        sql, "INSERT INTO {s}.organizations (id, name, is_default) VALUES (%s, 'B', true)", uuid4()
    )
    assert isinstance(error, errors.UniqueViolation)
    assert error.diag.constraint_name == "organizations_single_default"


def test_unknown_organization_roles_are_refused(sql: Directory):
    org, user = sql.organization(), sql.user()
    error = refused(
        sql,
        "INSERT INTO {s}.organization_members (user_id, organization_id, roles) "
        "VALUES (%s, %s, '{{owner}}')",
        user,
        org,
    )
    assert error.diag.constraint_name == "organization_members_roles_known"
