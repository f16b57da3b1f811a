"""Every command docs/cli.md shows runs, in the page's order, against a test database.

A ``sh`` block of the page holds only ``export NAME=value`` lines and ``aigov …`` commands (this
test fails on anything else, so nothing shown escapes it). ``$NAME`` is expanded from the exports,
and a trailing ``# exit N`` is the exit code the command must end with (0 otherwise). The database
is always the test's: the page's own ``AIGOV_DATABASE_URL`` is a placeholder for yours.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.cli.conftest import Env, invoke

PAGE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
BLOCK = re.compile(r"```sh\n(.*?)```", re.DOTALL)
EXPECTED = re.compile(r"\s+#\s*exit (\d+)$")
VARIABLE = re.compile(r"\$(\w+)")


def documented_lines() -> list[str]:
    blocks = BLOCK.findall(PAGE.read_text(encoding="utf-8"))
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_the_page_shows_commands():
    commands = [line for line in documented_lines() if line.startswith("aigov ")]
    shown = {" ".join(line.split()[1:3]) for line in commands}
    for command in (
        "demo",
        "budget get",
        "budget set",
        "budget delete",
        "override get",
        "override set",
        "override delete",
        "spend status",
        "spend report",
        "spend export",
        "status",
        "migrate",
        "pricebook list",
        "pricebook generate",
        "pricebook apply",
        "version",
    ):
        assert any(s == command or s.startswith(f"{command} ") for s in shown), command


@pytest.mark.aigov_postgres
def test_every_documented_command_runs(postgres_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where --output files land
    url = postgres_url.render_as_string(hide_password=False)
    env: Env = {"AIGOV_DATABASE_URL": url}
    ran = 0
    for line in documented_lines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            if name != "AIGOV_DATABASE_URL":
                env[name] = value
            continue
        assert line.startswith("aigov "), f"docs/cli.md shows a line no test runs: {line}"
        expected = EXPECTED.search(line)
        command = EXPECTED.sub("", line)
        expanded = VARIABLE.sub(lambda m: env[m[1]] or "", command)
        result = invoke(env, *shlex.split(expanded)[1:])
        code = int(expected[1]) if expected else 0
        assert result.exit_code == code, f"{line}\n{result.output}"
        assert result.exception is None or isinstance(result.exception, SystemExit), line
        ran += 1
    assert ran >= 30
