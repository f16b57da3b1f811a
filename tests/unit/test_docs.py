"""The code the docs show runs: README examples execute, and the adapter guide's test file passes
when run exactly as the guide says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


PAGES = sorted(["README.md", *(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))])
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.DOTALL | re.MULTILINE)
# Where the blocks that are not Python run: each page's shell commands have a test of their own.
SHELL_RUNS_IN = {
    "README.md": "test_the_readme_set_up_commands_are_what_ci_runs",
    "docs/cli.md": "tests/cli/test_documented_commands.py",
    "docs/http.md": "tests/http/test_documented_curl.py",
    "docs/writing-an-adapter.md": "test_the_adapter_guides_test_file_passes",
}
SQL_RUNS_IN = {"docs/spend.md": "tests/postgres/test_documented_sql.py"}
YAML_RUNS_IN = {"docs/litellm.md": "tests/litellm/test_documented_proxy.py"}


def blocks(page: str) -> list[tuple[str, str]]:
    return FENCE.findall((ROOT / page).read_text(encoding="utf-8"))


@pytest.mark.parametrize("page", PAGES)
def test_every_block_of_the_page_runs(page: str):
    """Python blocks run here, in order, in one namespace per page (a page reads as one
    session); every other block is of a kind a named test runs."""
    namespace: dict[str, object] = {}
    for language, code in blocks(page):
        if language == "python":
            exec(compile(code, page, "exec"), namespace)
        elif language == "sh":
            assert page in SHELL_RUNS_IN, f"{page} shows shell commands no test runs"
        elif language == "sql":
            assert page in SQL_RUNS_IN, f"{page} shows SQL no test runs"
        elif language == "yaml":
            assert page in YAML_RUNS_IN, f"{page} shows YAML no test loads"
        else:
            assert language == "", f"{page} has a block of kind {language!r} no test runs"
            pytest.fail(f"{page} has a block without a language: say what it is, and run it")


def test_the_readme_set_up_commands_are_what_ci_runs():
    install, check = [code.strip() for language, code in blocks("README.md") if language == "sh"]
    assert install == (
        "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/aigov demo"
    )  # tests/cli runs `aigov demo`, embedded server included
    assert check == "bash .ci/run"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "-m venv .venv" in ci
    assert "-e '.[dev]'" in ci


def test_the_adapter_guides_test_file_passes(tmp_path: Path):
    (block,) = [
        code
        for language, code in blocks("docs/writing-an-adapter.md")
        if language == "python" and "# test_" in code
    ]
    (tmp_path / "test_my_store.py").write_text(block, encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "aigov_contracts.plugin",
            "test_my_store.py",
            "-p",
            "no:cacheprovider",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b\d{2,} passed\b", result.stdout), result.stdout
