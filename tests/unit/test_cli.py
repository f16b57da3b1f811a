"""The aigov command, through its command-line interface."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from aigov_cli import app

runner = CliRunner()


@pytest.mark.aigov_postgres
def test_migrate_then_status_on_a_given_database(postgres_url):
    url = postgres_url.render_as_string(hide_password=False)
    migrated = runner.invoke(app, ["migrate", "--database-url", url, "--schema", "cli"])
    assert migrated.exit_code == 0, migrated.output
    assert "applied migrations: 1, 2" in migrated.output
    again = runner.invoke(app, ["migrate", "--database-url", url, "--schema", "cli"])
    assert "nothing (already current)" in again.output
    shown = runner.invoke(app, ["status", "--schema", "cli"], env={"AIGOV_DATABASE_URL": url})
    assert shown.exit_code == 0, shown.output
    assert "2 (current)" in shown.output
    assert "organizations" in shown.output


@pytest.mark.aigov_postgres
def test_status_of_an_unmigrated_schema_says_so(postgres_url):
    url = postgres_url.render_as_string(hide_password=False)
    shown = runner.invoke(app, ["status", "--database-url", url, "--schema", "empty"])
    assert shown.exit_code == 0, shown.output
    assert "not migrated" in shown.output


def test_a_bad_url_is_one_line_and_exit_code_2():
    result = runner.invoke(app, ["status", "--database-url", "mysql://nope"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_an_unreachable_database_is_exit_code_1(tmp_path):
    result = runner.invoke(
        app, ["status", "--database-url", f"postgresql://postgres@/postgres?host={tmp_path}"]
    )
    assert result.exit_code == 1
    assert "StorageError" in result.output


def test_version():
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.output.strip()
