"""The public surface: curated, sorted, complete, and free of adapters."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import aigov
import aigov_contracts
from aigov import exceptions


def _isort_order(name: str) -> tuple[int, str]:
    """Constants, then classes, then the rest (ruff's RUF022 order)."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted_and_every_name_exists():
    for module in (aigov, aigov_contracts, exceptions):
        assert list(module.__all__) == sorted(module.__all__, key=_isort_order), module.__name__
        assert len(set(module.__all__)) == len(module.__all__)
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{module.__name__}.{name}"


def test_every_error_is_exported_and_drawn_in_the_tree():
    """Each aigov error is in aigov.__all__, in the module docstring's tree, and says when it is
    raised."""
    classes = [
        obj
        for _, obj in inspect.getmembers(exceptions, inspect.isclass)
        if issubclass(obj, exceptions.AigovError)
    ]
    assert len(classes) == len(exceptions.__all__)
    for cls in classes:
        assert cls.__name__ in aigov.__all__
        assert f"── {cls.__name__}" in exceptions.__doc__ or cls is exceptions.AigovError
        assert cls.__doc__ is not None
        assert cls.__doc__.startswith("Raised"), cls.__name__


def test_errors_mix_in_the_builtin_they_resemble():
    assert issubclass(exceptions.InvalidInputError, ValueError)
    assert issubclass(exceptions.NotFoundError, LookupError)
    assert issubclass(exceptions.ForbiddenError, PermissionError)
    assert issubclass(exceptions.TransientError, exceptions.StorageError)
    assert issubclass(exceptions.MembershipInvariantError, exceptions.PolicyViolationError)


def test_the_core_imports_no_adapter_and_no_sql_driver():
    """``import aigov`` loads neither an adapter nor SQLAlchemy nor psycopg."""
    probe = (
        "import sys, aigov; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "{'sqlalchemy', 'psycopg', 'aigov_memory', 'aigov_postgres', 'aigov_contracts'}]; "
        "print(bad)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_the_version_is_exposed():
    assert aigov.__version__.count(".") >= 2


def test_the_changelog_names_the_version_being_made():
    changelog = (Path(__file__).resolve().parents[2] / "CHANGELOG.md").read_text(encoding="utf-8")
    release = aigov.__version__.split(".dev")[0]
    assert f"## [Unreleased] — {release}" in changelog or f"## [{release}]" in changelog
