"""``aigov demo``: a day of governed requests, reported; the same report on every run."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from aigov_cli._demo_schema import MARK
from tests.cli.conftest import assert_fails, assert_ok, invoke

pytestmark = pytest.mark.aigov_postgres


@pytest.fixture
def env(postgres_url):
    return {"AIGOV_DATABASE_URL": postgres_url.render_as_string(hide_password=False)}


def test_the_demo_replays_a_day_and_prints_its_reports(env):
    out = assert_ok(invoke(env, "demo"))
    for heading in (
        "Acme's people",
        "Acme's groups and budgets",
        "The day, 08:00 to 18:00 UTC",
        "Spend status at 18:00, March 2026",
        "Groups of Acme, March 2026",
        "Members of engineering, March 2026",
        "Budget thresholds crossed",
    ):
        assert heading in out
    assert "refused: over budget" in out
    assert "16:30 fay, claude-opus-4-1" in out  # the long job her $4.00 cannot hold
    assert "needed $4.65" in out
    assert "incomplete: gus, gpt-image-1" in out
    assert "The data stays in schema aigov_demo" in out


def test_a_second_run_starts_over_and_prints_the_same_report(env):
    first = assert_ok(invoke(env, "demo"))
    second = assert_ok(invoke(env, "demo"))
    assert first == second


def test_the_demo_marks_its_schema_and_refuses_one_it_did_not_make(env, postgres_url):
    assert_ok(invoke(env, "demo", "--schema", "mine"))
    line = assert_fails(invoke(env, "demo", "--schema", "public"), 2)
    assert "was not made by aigov demo" in line
    assert_ok(invoke(env, "status", "--schema", "public"))  # public was left alone
    engine = create_engine(postgres_url)
    with engine.connect() as connection:
        comment = connection.exec_driver_sql(
            "SELECT obj_description('mine'::regnamespace, 'pg_namespace')"
        ).scalar()
    engine.dispose()
    assert comment == MARK


def test_without_a_url_the_demo_runs_on_an_embedded_server():
    out = assert_ok(invoke({}, "demo"))
    assert "Spend status at 18:00, March 2026" in out
    assert "The embedded server and its data are gone now" in out
