"""The aigov command: status, migrate, version and the price book."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from aigov import pricebook_seed
from aigov_cli import app
from aigov_cli._common import EXIT_CODES
from aigov_postgres._migrations import latest_version

runner = CliRunner()


@pytest.mark.aigov_postgres
def test_migrate_then_status_on_a_given_database(postgres_url):
    url = postgres_url.render_as_string(hide_password=False)
    migrated = runner.invoke(app, ["migrate", "--database-url", url, "--schema", "cli"])
    assert migrated.exit_code == 0, migrated.output
    versions = ", ".join(str(v) for v in range(1, latest_version() + 1))
    assert f"applied migrations: {versions}" in migrated.output
    again = runner.invoke(app, ["migrate", "--database-url", url, "--schema", "cli"])
    assert "nothing (already current)" in again.output
    shown = runner.invoke(app, ["status", "--schema", "cli"], env={"AIGOV_DATABASE_URL": url})
    assert shown.exit_code == 0, shown.output
    assert f"{latest_version()} (current)" in shown.output
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


def test_pricebook_generate_prints_a_seed_and_writes_the_embedded_module(tmp_path):
    printed = runner.invoke(app, ["pricebook", "generate", "--provider", "anthropic"])
    assert printed.exit_code == 0, printed.output
    assert '"provider": "anthropic"' in printed.stdout
    assert '"provider": "openai"' not in printed.stdout
    module = tmp_path / "seed.py"
    written = runner.invoke(app, ["pricebook", "generate", "--output", str(module)])
    assert written.exit_code == 0, written.output
    embedded = Path(pricebook_seed.__file__).read_text(encoding="utf-8")
    assert module.read_text(encoding="utf-8") == embedded


def test_pricebook_generate_from_a_file(tmp_path):
    catalogue = tmp_path / "api.json"
    catalogue.write_text('{"acme": {"models": {"m": {"cost": {"input": 0.5}}, "n": {}}}}')
    result = runner.invoke(
        app, ["pricebook", "generate", "--from-file", str(catalogue), "--provider", "acme"]
    )
    assert result.exit_code == 0, result.output
    assert '"input_price": 500000' in result.stdout
    assert "1 skipped" in result.output


@pytest.mark.parametrize(
    "arguments",
    [
        ["--from-file", "/nonexistent/api.json"],
        ["--provider", "nowhere"],
        ["--from-file", "x", "--url", "https://example.invalid/api.json"],
        ["--url", "ftp://example.invalid/api.json"],
    ],
)
def test_pricebook_generate_refuses_bad_input_with_exit_code_2(arguments):
    result = runner.invoke(app, ["pricebook", "generate", *arguments])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


@pytest.mark.aigov_postgres
def test_pricebook_apply_and_list(postgres_url, tmp_path):
    url = postgres_url.render_as_string(hide_password=False)
    applied = runner.invoke(app, ["pricebook", "apply", "--database-url", url])
    assert applied.exit_code == 0, applied.output
    assert f"inserted {pricebook_seed.MODEL_COUNT}, updated 0, unchanged 0" in applied.output
    seed = tmp_path / "seed.json"
    seed.write_text(
        '[{"provider": "acme", "model": "m", "input_price": 1, "output_price": null,'
        ' "cache_read_price": 0, "cache_write_price": 0}]'
    )
    again = runner.invoke(app, ["pricebook", "apply", str(seed), "--database-url", url])
    assert "inserted 1, updated 0, unchanged 0" in again.output
    listed = runner.invoke(
        app, ["pricebook", "list", "--provider", "acme", "--database-url", url], terminal_width=200
    )
    assert listed.exit_code == 0, listed.output
    assert "acme" in listed.output
    bad = tmp_path / "bad.json"
    bad.write_text('[{"provider": "acme"}]')
    refused = runner.invoke(app, ["pricebook", "apply", str(bad), "--database-url", url])
    assert refused.exit_code == 2
    assert "element 0" in refused.output


def test_the_help_lists_every_exit_code():
    result = runner.invoke(app, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    for code, what in EXIT_CODES:
        assert f"{code}  {what.split(':')[0]}" in result.output
