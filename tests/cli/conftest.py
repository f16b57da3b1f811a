"""The command line through typer's CliRunner, and a database that ``aigov demo`` filled once per
module, for the commands that read and change it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import Result
from typer.testing import CliRunner

from aigov_cli import app
from tests.conftest import require_databases

runner = CliRunner()

Env = dict[str, str | None]

CLEAN: Env = {"AIGOV_DATABASE_URL": None, "AIGOV_SCHEMA": None, "AIGOV_AS_USER": None}
"""The CLI's variables unset, so the caller's shell cannot change what a test runs."""


def invoke(env: Env, *args: str) -> Result:
    return runner.invoke(app, list(args), env={**CLEAN, **env})


def assert_ok(result: Result) -> str:
    """The command succeeded; its stdout."""
    assert result.exit_code == 0, result.output
    assert result.exception is None, result.exception
    return result.stdout


def assert_fails(result: Result, code: int) -> str:
    """The command failed with ``code``: one line on stderr, nothing on stdout, no traceback."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture(scope="module")
def demo_env() -> Iterator[Env]:
    """A fresh database where ``aigov demo`` ran once (schema aigov_demo), as the environment
    that points the commands at it."""
    databases = require_databases()
    url = databases.create()
    env: Env = {
        "AIGOV_DATABASE_URL": url.render_as_string(hide_password=False),
        "AIGOV_SCHEMA": "aigov_demo",
    }
    assert_ok(invoke(env, "demo"))
    yield env
    databases.drop(url)
