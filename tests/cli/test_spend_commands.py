"""``aigov spend status | report | export`` on the demo's day (Monday 2 March 2026)."""

from __future__ import annotations

import csv
import json

import pytest

from aigov_cli._demo_day import demo_id
from tests.cli.conftest import assert_fails, assert_ok, invoke

pytestmark = pytest.mark.aigov_postgres

ACME = str(demo_id("organization", "Acme"))
ENGINEERING = str(demo_id("group", "engineering"))
ANN, BOB, CHO, GUS = (str(demo_id("user", name)) for name in ("ann", "bob", "cho", "gus"))
EVENING = "2026-03-02T18:00Z"


def row_of(table: str, name: str) -> list[str]:
    """The cells of the table row that starts with ``name``."""
    (line,) = [line for line in table.splitlines() if line.startswith(f"│ {name} ")]
    return [cell.strip() for cell in line.strip("│").split("│")]


def test_status_shows_limit_source_group_spent_held_remaining(demo_env):
    out = assert_ok(invoke(demo_env, "spend", "status", BOB, CHO, GUS, "--at", EVENING))
    assert row_of(out, "bob") == [
        "bob", "$5.00", "group budget", "engineering", "$4.229155", "$0.30", "$0.470845"
    ]  # fmt: skip
    assert row_of(out, "cho")[:4] == ["cho", "$15.00", "override", "research"]
    assert row_of(out, "gus")[:4] == ["gus", "$2.00", "group budget", "Everyone"]


def test_status_in_another_period_starts_from_nothing(demo_env):
    out = assert_ok(invoke(demo_env, "spend", "status", BOB, "--at", "2026-04-01"))
    assert row_of(out, "bob")[4:] == ["$0.00", "$0.00", "$5.00"]


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        (["status", BOB, "--at", "tomorrow"], 2),
        (["status", "bob"], 2),
        (["status", "00000000-0000-0000-0000-000000000001"], 3),
        (["status", ANN, "--as-user", BOB], 3),  # a plain member sees only themself
        (["report"], 2),
        (["report", "--organization", ACME, "--group", ENGINEERING], 2),
        (["report", "--organization", ACME, "--over-budget"], 2),
        (["report", "--group", ENGINEERING, "--as-user", BOB], 4),
        (["report", "--organization", "00000000-0000-0000-0000-000000000001"], 3),
        (["export", "--organization", ACME, "--format", "xml"], 2),
        (["export", "--organization", ACME, "--start", "2026-3-1"], 2),
        (["export", "--organization", ACME, "--start", "2026-04-01", "--end", "2026-03-01"], 2),
        (["export", "--organization", ACME, "--as-user", BOB], 4),
    ],
)
def test_refusals_have_their_exit_codes(demo_env, arguments, code):
    assert_fails(invoke(demo_env, "spend", *arguments), code)


def test_status_as_the_user_or_an_auditor(demo_env):
    assert_ok(invoke(demo_env, "spend", "status", BOB, "--as-user", BOB))
    auditor = ["--as-user", BOB, "--site-role", "auditor"]
    assert_ok(invoke(demo_env, "spend", "status", ANN, *auditor))


def test_report_of_an_organization_summarizes_its_groups(demo_env):
    out = assert_ok(invoke(demo_env, "spend", "report", "--organization", ACME, "--at", EVENING))
    assert "Groups of Acme, this month" in out
    assert row_of(out, "engineering") == [
        "engineering", "$5.00", "3", "0", "$10.00", "$6.649090"
    ]  # fmt: skip
    assert row_of(out, "research")[2:5] == ["2", "1", "$24.00"]


def test_report_of_a_group_lists_its_members(demo_env):
    out = assert_ok(invoke(demo_env, "spend", "report", "--group", ENGINEERING, "--at", EVENING))
    assert row_of(out, "cho")[:4] == ["cho", "$15.00", "override", "research"]
    assert {"ann", "bob", "cho"} <= {line.split()[1] for line in out.splitlines() if "$" in line}
    over = ["spend", "report", "--group", ENGINEERING, "--at", EVENING, "--over-budget"]
    assert "$" not in assert_ok(invoke(demo_env, *over))  # nobody is over budget that day
    as_admin = ["--as-user", ANN]  # organization-admin of Acme
    assert_ok(invoke(demo_env, "spend", "report", "--group", ENGINEERING, *as_admin))


def test_export_writes_csv_to_stdout_and_json_lines_to_a_file(demo_env, tmp_path):
    march = ["--start", "2026-03-01", "--end", "2026-04-01"]
    result = invoke(demo_env, "spend", "export", "--organization", ACME, *march)
    rows = list(csv.reader(assert_ok(result).splitlines()))
    assert rows[0] == ["user_id", "group_id", "day", "spend_micros"]
    assert [BOB, ENGINEERING, "2026-03-02", "4229155"] in rows
    summary = f"{len(rows) - 1} rows, days 2026-03-01 to 2026-04-01 (exclusive)"
    assert result.stderr.strip() == summary
    target = tmp_path / "march.jsonl"
    written = invoke(
        demo_env, "spend", "export", "--organization", ACME, *march, "--format", "jsonl",
        "--output", str(target),
    )  # fmt: skip
    assert assert_ok(written) == ""
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(lines) == len(rows) - 1
    bob = {"user_id": BOB, "group_id": ENGINEERING, "day": "2026-03-02", "spend_micros": 4229155}
    assert bob in lines


def test_export_of_a_range_without_spend_is_only_the_header(demo_env):
    result = invoke(
        demo_env, "spend", "export", "--organization", ACME, "--start", "2025-01-01",
        "--end", "2025-02-01",
    )  # fmt: skip
    assert_ok(result)
    assert result.stdout_bytes == b"user_id,group_id,day,spend_micros\r\n"  # RFC 4180 line ends


def test_the_commands_need_a_migrated_database(demo_env):
    line = assert_fails(invoke({}, "spend", "status", BOB), 2)
    assert "AIGOV_DATABASE_URL" in line
    unmigrated = {**demo_env, "AIGOV_SCHEMA": "nothing_here"}
    line = assert_fails(invoke(unmigrated, "budget", "get", ENGINEERING), 1)
    assert "not migrated" in line
