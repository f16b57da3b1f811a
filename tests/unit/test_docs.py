"""The code the docs show runs: README examples execute, and the adapter guide's test file passes
when run exactly as the guide says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def python_blocks(page: str) -> list[str]:
    return BLOCK.findall((ROOT / page).read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("page", "code"),
    [
        (page, code)
        for page in (
            "README.md",
            "docs/prices.md",
            "docs/budgets.md",
            "docs/audit.md",
            "docs/resolution.md",
            "docs/embedding.md",
        )
        for code in python_blocks(page)
    ],
)
def test_examples_run(page: str, code: str):
    exec(compile(code, page, "exec"), {})


def test_the_adapter_guides_test_file_passes(tmp_path: Path):
    (block,) = [code for code in python_blocks("docs/writing-an-adapter.md") if "# test_" in code]
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
