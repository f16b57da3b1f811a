"""``aigov budget`` and ``aigov override`` on the demo's data: dollars in and out, the actor
chosen with --as-user, and an exit code for each kind of refusal."""

from __future__ import annotations

import pytest

from aigov_cli._demo_day import demo_id
from tests.cli.conftest import assert_fails, assert_ok, invoke

pytestmark = pytest.mark.aigov_postgres

ACME = str(demo_id("organization", "Acme"))
ENGINEERING = str(demo_id("group", "engineering"))
RESEARCH = str(demo_id("group", "research"))
SUPPORT = str(demo_id("group", "support"))
ANN, BOB, CHO, EVE = (str(demo_id("user", name)) for name in ("ann", "bob", "cho", "eve"))
NOBODY = "00000000-0000-0000-0000-000000000001"


def test_budget_get_set_delete(demo_env):
    shown = assert_ok(invoke(demo_env, "budget", "get", ENGINEERING))
    assert shown == f"engineering ({ENGINEERING}): $5.00 per member per month\n"
    changed = assert_ok(invoke(demo_env, "budget", "set", SUPPORT, "$1,250.000001"))
    assert changed == f"set support ({SUPPORT}): $1,250.000001 per member per month\n"
    deleted = assert_ok(invoke(demo_env, "budget", "delete", SUPPORT))
    assert deleted.startswith(f"deleted the budget of support ({SUPPORT}): $1,250.000001")
    assert_fails(invoke(demo_env, "budget", "get", SUPPORT), 3)
    assert_fails(invoke(demo_env, "budget", "delete", SUPPORT), 3)
    assert_ok(invoke(demo_env, "budget", "set", SUPPORT, "4"))


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["set", ENGINEERING, "--", "-1"], "limit must be dollars"),
        (["set", ENGINEERING, "1.0000001"], "at most 6 decimals"),
        (["set", ENGINEERING, "1e3"], "limit must be dollars"),
        (["set", ENGINEERING, "9223372036854.775808"], "outside"),
        (["set", "not-a-uuid", "1"], "not a UUID"),
        (["get", ENGINEERING, "--as-user", "nobody"], "UUID"),
        (["get", ENGINEERING, "--as-user", BOB, "--site-role", "wizard"], "--site-role"),
        (["get", ENGINEERING, "--site-role", "owner"], "--site-role needs --as-user"),
    ],
)
def test_budget_bad_input_is_exit_code_2(demo_env, arguments, says):
    line = assert_fails(invoke(demo_env, "budget", *arguments), 2)
    assert says in line


def test_budget_of_a_group_that_does_not_exist_is_exit_code_3(demo_env):
    assert_fails(invoke(demo_env, "budget", "get", NOBODY), 3)
    assert_fails(invoke(demo_env, "budget", "set", NOBODY, "5"), 3)


def test_budget_as_a_user_follows_their_rights(demo_env):
    """A plain member reads their group's budget but may not change it (4) and does not see
    another group's (3); an organization-admin changes it."""
    assert_ok(invoke(demo_env, "budget", "get", ENGINEERING, "--as-user", BOB))
    line = assert_fails(invoke(demo_env, "budget", "set", ENGINEERING, "6", "--as-user", BOB), 4)
    assert "may not set the budget" in line
    assert_fails(invoke(demo_env, "budget", "get", SUPPORT, "--as-user", BOB), 3)
    as_admin = {**demo_env, "AIGOV_AS_USER": ANN}
    assert_ok(invoke(as_admin, "budget", "set", ENGINEERING, "5"))
    owner = invoke(demo_env, "budget", "get", SUPPORT, "--as-user", BOB, "--site-role", "owner")
    assert_ok(owner)


def test_override_get_set_delete(demo_env):
    shown = assert_ok(invoke(demo_env, "override", "get", CHO))
    assert shown == f"cho ({CHO}): $15.00 per month, spending in research ({RESEARCH})\n"
    made = assert_ok(invoke(demo_env, "override", "set", EVE, ACME, "0"))
    assert made == f"set eve ({EVE}): $0.00 per month, spending in Everyone ({ACME})\n"
    deleted = assert_ok(invoke(demo_env, "override", "delete", EVE))
    assert deleted.startswith(f"deleted the override of eve ({EVE})")
    assert_fails(invoke(demo_env, "override", "get", EVE), 3)
    assert_fails(invoke(demo_env, "override", "delete", EVE), 3)


def test_override_for_a_group_the_user_is_not_in_is_exit_code_5(demo_env):
    line = assert_fails(invoke(demo_env, "override", "set", BOB, RESEARCH, "8"), 5)
    assert "is not a member of group" in line


@pytest.mark.parametrize(
    "arguments",
    [
        ["set", BOB, ENGINEERING, "eight"],
        ["set", BOB, "engineering", "8"],
        ["get", "bob"],
    ],
)
def test_override_bad_input_is_exit_code_2(demo_env, arguments):
    assert_fails(invoke(demo_env, "override", *arguments), 2)


def test_override_as_a_plain_member_is_not_found_or_forbidden(demo_env):
    """Bob may not read Cho (3); he may read himself but not give himself an override (4)."""
    assert_fails(invoke(demo_env, "override", "get", CHO, "--as-user", BOB), 3)
    assert_fails(invoke(demo_env, "override", "set", BOB, ENGINEERING, "99", "--as-user", BOB), 4)


def test_a_missing_argument_is_click_usage_error_2(demo_env):
    result = invoke(demo_env, "budget", "set", ENGINEERING)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
