"""``aigov serve``: the HTTP API as a real process on a TCP port, its bearer tokens and its log.

The served processes run on the test PostgreSQL (``--database-url``); one runs on the embedded
server, to show its data persists in ``--data-dir``. Each process binds ``--port 0`` (no race
for a free port) and prints the address it took.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID, uuid4

import httpx2
import pytest
from sqlalchemy import create_engine, text
from starlette.testclient import TestClient

from aigov import AI_GOVERNANCE, Actor, AsyncGovernance, Governance, InvalidInputError
from aigov_http import ACCESS_LOG, BearerTokens, create_served_app, create_token_file
from aigov_memory import MemoryStore
from aigov_postgres import PostgresStore
from tests.cli.conftest import CLEAN, assert_fails, invoke

SYSTEM_TOKEN = "system-token-0123456789abcdef"
AUDITOR_TOKEN = "auditor-token-0123456789abcdef"
PRICES = "/api/experimental/ai/model-prices"
LISTENING = re.compile(r"Serving the aigov HTTP API on (http://\S+)")
START_SECONDS = 60.0
"""Generous: two cores in CI import FastAPI, SQLAlchemy and psycopg for every process."""


@dataclass
class Served:
    """A running ``aigov serve``: its process, its address and its output so far."""

    process: subprocess.Popen[bytes]
    base_url: str
    stdout: Path
    stderr: Path

    def out(self) -> str:
        return self.stdout.read_text(encoding="utf-8")

    def err(self) -> str:
        return self.stderr.read_text(encoding="utf-8")

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; its exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


def _environment() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name not in CLEAN}


@contextmanager
def serving(scratch: Path, *args: str) -> Iterator[Served]:
    """``aigov serve --port 0 ARGS`` as a process, once it answers over TCP; stopped (and
    killed, if a test failed before it could stop it) at the end."""
    scratch.mkdir(parents=True, exist_ok=True)
    stdout, stderr = scratch / "stdout", scratch / "stderr"
    command = [sys.executable, "-c", "import aigov_cli; aigov_cli.main()", "serve", *args]
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [*command, "--port", "0"], stdout=out, stderr=err, env=_environment()
        )
    try:
        served = Served(process, _wait_until_it_answers(process, stdout, stderr), stdout, stderr)
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_it_answers(process: subprocess.Popen[bytes], stdout: Path, stderr: Path) -> str:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"aigov serve exited {process.returncode}:\n{_output(stdout, stderr)}")
        found = LISTENING.search(stdout.read_text(encoding="utf-8"))
        if found:
            try:
                if httpx2.get(found[1] + PRICES, timeout=5).status_code == 200:
                    return found[1]
            except httpx2.TransportError:
                pass
        time.sleep(0.1)
    pytest.fail(f"aigov serve did not answer in {START_SECONDS} s:\n{_output(stdout, stderr)}")


def _output(stdout: Path, stderr: Path) -> str:
    return f"{stdout.read_text(encoding='utf-8')}\n{stderr.read_text(encoding='utf-8')}"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _connections_of_others(url: str) -> int:
    """Connections to the database at ``url`` other than this check's own."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


def _eventually_no_connections(url: str) -> int:
    """A backend ends a moment after its client closed: wait for that moment, briefly."""
    deadline = time.monotonic() + 10
    while (count := _connections_of_others(url)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return count


def _organization(url: str) -> UUID:
    """A new organization (whose id is also its Everyone group's), written as the host would."""
    store = PostgresStore.from_url(url)
    try:
        organization = uuid4()
        Governance(store, entitlements={AI_GOVERNANCE}).create_organization(
            Actor.system(), organization, "Acme"
        )
        return organization
    finally:
        store.close()


# --- the served process ------------------------------------------------------------------------


@pytest.mark.aigov_postgres
def test_a_served_api_authenticates_by_bearer_token_logs_each_request_and_stops_cleanly(
    postgres_url, tmp_path
):
    """401 without a known token, the token's actor otherwise; a log line per request without
    secrets; SIGTERM ends it with exit 0 and no connection of it left."""
    url = postgres_url.render_as_string(hide_password=False)
    organization = _organization(url)
    tokens = tmp_path / "tokens"
    tokens.write_text(
        f"# the host's process\n{SYSTEM_TOKEN} system\n\n"
        f"{AUDITOR_TOKEN} {uuid4()} auditor  # reads everything, changes nothing\n",
        encoding="utf-8",
    )
    tokens.chmod(0o600)
    budget = f"/api/v2/groups/{organization}/ai/budget"
    with serving(tmp_path / "run", "--database-url", url, "--tokens", str(tokens)) as served:
        with httpx2.Client(base_url=served.base_url, timeout=30) as client:
            assert client.get(PRICES, params={"provider": "query-secret"}).status_code == 200
            missing = client.put(budget, json={"spend_limit_micros": 5_000_000})
            assert missing.status_code == 401
            assert missing.headers["www-authenticate"] == "Bearer"
            assert missing.json()["message"]
            wrong = client.put(
                budget, json={"spend_limit_micros": 5_000_000}, headers=_bearer("x" * 32)
            )
            assert wrong.status_code == 401
            basic = client.get(budget, headers={"Authorization": f"Basic {SYSTEM_TOKEN}"})
            assert basic.status_code == 401
            put = client.put(
                budget, json={"spend_limit_micros": 5_000_000}, headers=_bearer(SYSTEM_TOKEN)
            )
            assert put.status_code == 200, put.text
            assert put.json()["spend_limit_micros"] == 5_000_000
            read = client.get(budget, headers=_bearer(AUDITOR_TOKEN))
            assert read.status_code == 200, read.text
            change = client.delete(budget, headers=_bearer(AUDITOR_TOKEN))
            assert change.status_code == 403, change.text
        assert served.stop() == 0
        log = served.err()
    assert f"INFO aigov_http.access: PUT {budget} 200 " in log
    assert f"PUT {budget} 401 " in log
    assert f"DELETE {budget} 403 " in log
    assert re.search(rf"GET {PRICES} 200 \d+\.\dms", log)
    assert log.count("aigov_http.access") == 8  # with the one that found it ready
    assert "uvicorn.access" not in log
    for secret in (SYSTEM_TOKEN, AUDITOR_TOKEN, "query-secret"):
        assert secret not in log
        assert secret not in served.out()
    assert "Application shutdown complete" in log
    assert _eventually_no_connections(url) == 0


@pytest.mark.aigov_postgres
def test_it_says_where_it_listens_and_where_the_docs_are(postgres_url, tmp_path):
    """The start prints the address, the docs' address, the store without its password."""
    url = postgres_url.render_as_string(hide_password=False)
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{SYSTEM_TOKEN} system\n", encoding="utf-8")
    tokens.chmod(0o600)
    with serving(tmp_path / "run", "--database-url", url, "--tokens", str(tokens)) as served:
        assert served.base_url.startswith("http://127.0.0.1:")
        assert f"API docs: {served.base_url}/docs" in served.out()
        assert f"tokens:   1 from {tokens}" in served.out()
        assert httpx2.get(served.base_url + "/docs", timeout=30).status_code == 200
        document = httpx2.get(served.base_url + "/openapi.json", timeout=30).json()
        assert "HTTPBearer" in document["components"]["securitySchemes"]
        assert served.stop() == 0


@pytest.mark.aigov_postgres
def test_an_unmigrated_schema_is_refused_with_what_to_run(postgres_url, tmp_path):
    """Exit 1, one line naming both commands that would fix it, and nothing made on disk."""
    url = postgres_url.render_as_string(hide_password=False)
    state = tmp_path / "state"
    result = invoke(
        {}, "serve", "--database-url", url, "--schema", "fresh", "--data-dir", str(state)
    )
    line = assert_fails(result, 1)
    assert "schema fresh is not migrated" in line
    assert "aigov migrate --database-url … --schema fresh" in line
    assert "aigov serve --migrate --database-url … --schema fresh" in line
    assert url not in line
    assert not state.exists()


@pytest.mark.aigov_postgres
def test_with_migrate_an_unmigrated_schema_is_migrated_then_served(postgres_url, tmp_path):
    """``--migrate`` brings the schema to the latest version before serving it."""
    url = postgres_url.render_as_string(hide_password=False)
    arguments = ("--database-url", url, "--schema", "fresh", "--data-dir", str(tmp_path / "state"))
    with serving(tmp_path / "run", *arguments, "--migrate") as served:
        assert "Migrated schema fresh: applied 1, " in served.out()
        assert served.stop() == 0
    store = PostgresStore.from_url(url, schema="fresh")
    try:
        assert store.schema_version() == store.latest_schema_version()
    finally:
        store.close()


@pytest.mark.aigov_postgres
def test_without_tokens_one_system_token_is_made_shown_once_and_kept_private(
    postgres_url, tmp_path
):
    """The first start makes ``DATA-DIR/tokens`` (0600) and prints its token with a curl line;
    a later start reuses it and prints no token."""
    url = postgres_url.render_as_string(hide_password=False)
    state = tmp_path / "state"
    arguments = ("--database-url", url, "--data-dir", str(state))
    group = f"/api/v2/groups/{uuid4()}/ai/budget"
    with serving(tmp_path / "first", *arguments) as served:
        found = re.search(r"export AIGOV_TOKEN=(\S+)", served.out())
        assert found, served.out()
        token = found[1]
        assert served.out().count(token) == 1
        assert f'curl -H "Authorization: Bearer $AIGOV_TOKEN" {served.base_url}/' in served.out()
        assert stat.S_IMODE((state / "tokens").stat().st_mode) == 0o600
        authenticated = httpx2.get(served.base_url + group, headers=_bearer(token), timeout=30)
        assert authenticated.status_code == 404  # authenticated as system; no such budget
        assert served.stop() == 0
    assert token not in served.err()
    with serving(tmp_path / "second", *arguments) as served:
        assert "AIGOV_TOKEN=" not in served.out()
        assert token not in served.out()
        again = httpx2.get(served.base_url + group, headers=_bearer(token), timeout=30)
        assert again.status_code == 404
        assert served.stop() == 0


def test_the_embedded_database_persists_in_the_data_dir(tmp_path):
    """Without --database-url: an embedded PostgreSQL, migrated and priced by the server, whose
    data outlives the process."""
    state = tmp_path / "state"
    price = {"provider": "acme-ai", "model": "echo-1", "input_price_micros": 1_000_000}
    with serving(tmp_path / "first", "--data-dir", str(state)) as served:
        found = re.search(r"export AIGOV_TOKEN=(\S+)", served.out())
        assert found, served.out()
        token = found[1]
        seeded = httpx2.get(served.base_url + PRICES, params={"source": "pricebook"}, timeout=30)
        assert seeded.json()["prices"], "the embedded price book is applied"
        posted = httpx2.post(
            served.base_url + PRICES, json={"prices": [price]}, headers=_bearer(token), timeout=30
        )
        assert posted.status_code == 200, posted.text
        assert served.stop() == 0
    assert (state / "postgres" / "PG_VERSION").exists()
    with serving(tmp_path / "second", "--data-dir", str(state)) as served:
        custom = httpx2.get(served.base_url + PRICES, params={"source": "custom"}, timeout=30)
        assert [(p["model"], p["input_price_micros"]) for p in custom.json()["prices"]] == [
            ("echo-1", 1_000_000)
        ]
        assert served.stop() == 0


# --- refusals before serving -------------------------------------------------------------------


def test_a_malformed_tokens_file_is_refused_naming_the_line_not_the_token(tmp_path):
    """Exit 2 before any database is touched; the line number, never the line."""
    tokens = tmp_path / "tokens"
    tokens.write_text(f"# ok\n{SYSTEM_TOKEN} system\n{AUDITOR_TOKEN} nobody\n", encoding="utf-8")
    result = invoke(
        {}, "serve", "--tokens", str(tokens), "--database-url", "postgresql://nobody@/nowhere"
    )
    line = assert_fails(result, 2)
    assert f"{tokens}, line 3:" in line
    assert AUDITOR_TOKEN not in line
    assert "nobody" not in line


def test_a_tokens_file_that_does_not_exist_is_a_usage_error(tmp_path):
    result = invoke({}, "serve", "--tokens", str(tmp_path / "missing"))
    assert result.exit_code == 2
    assert "Invalid value for '--tokens'" in result.output


@pytest.mark.aigov_postgres
def test_a_port_in_use_is_refused_in_one_line(postgres_url, tmp_path):
    url = postgres_url.render_as_string(hide_password=False)
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{SYSTEM_TOKEN} system\n", encoding="utf-8")
    tokens.chmod(0o600)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        result = invoke({}, "serve", "--database-url", url, "--tokens", str(tokens), "--port", port)
    line = assert_fails(result, 1)
    assert f"cannot listen on 127.0.0.1 port {port}" in line


@pytest.mark.aigov_postgres
def test_a_tokens_file_others_may_read_is_served_with_a_warning(postgres_url, tmp_path):
    """A loose mode is worth a warning, not a refusal (the operator may share it on purpose)."""
    url = postgres_url.render_as_string(hide_password=False)
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{SYSTEM_TOKEN} system\n", encoding="utf-8")
    tokens.chmod(0o644)
    with serving(tmp_path / "run", "--database-url", url, "--tokens", str(tokens)) as served:
        assert f"warning: {tokens} is readable by others than its owner" in served.err()
        assert served.stop() == 0


# --- the tokens file ---------------------------------------------------------------------------


def test_tokens_skip_comments_and_blank_lines_and_map_to_their_actors():
    user = uuid4()
    tokens = BearerTokens.parse(
        "# a comment\n\n"
        f"   {SYSTEM_TOKEN}   system   # the host\n"
        f"{AUDITOR_TOKEN}\t{user}\tauditor,owner\n"
        f"plain-user-token-0123456789 {user}\n"
    )
    assert len(tokens) == 3
    assert tokens.actor_of(SYSTEM_TOKEN) == Actor.system()
    assert tokens.actor_of(AUDITOR_TOKEN) == Actor.user(user, site_roles=("owner", "auditor"))
    assert tokens.actor_of("plain-user-token-0123456789") == Actor.user(user)
    assert tokens.actor_of("not-a-known-token-0123456789") is None
    assert tokens.actor_of(SYSTEM_TOKEN[:-1]) is None
    assert tokens.actor_of("") is None


@pytest.mark.parametrize(
    ("line", "says"),
    [
        (SYSTEM_TOKEN, "expected TOKEN USER-ID [SITE-ROLES]"),
        (f"{SYSTEM_TOKEN} system owner extra", "found 4 fields"),
        (f"{SYSTEM_TOKEN} not-a-uuid", "a user id (a UUID) or 'system'"),
        (f"{SYSTEM_TOKEN} system owner", "the system actor takes no site roles"),
        (f"{SYSTEM_TOKEN} {uuid4()} owner,wizard", "site roles are a comma-separated list"),
        (f"{SYSTEM_TOKEN} {uuid4()} ,", "site roles are a comma-separated list"),
        ("short-token system", "shorter than 16 characters"),
        ('bad"token"0123456789 system', "characters a bearer token cannot carry"),
    ],
)
def test_a_malformed_line_is_refused_by_its_number_without_quoting_it(line, says):
    with pytest.raises(InvalidInputError) as refused:
        BearerTokens.parse(f"# first\n\n{line}\n", source="tokens")
    message = str(refused.value)
    assert message.startswith("tokens, line 3: ")
    assert says in message
    assert SYSTEM_TOKEN not in message
    assert "short-token" not in message
    assert "wizard" not in message


def test_a_token_given_twice_is_refused_naming_both_lines():
    text = f"{SYSTEM_TOKEN} system\n# another\n{SYSTEM_TOKEN} {uuid4()}\n"
    with pytest.raises(InvalidInputError, match=r"tokens, line 3: the same token as line 1"):
        BearerTokens.parse(text, source="tokens")


def test_a_file_without_tokens_is_refused():
    with pytest.raises(InvalidInputError, match="holds no token"):
        BearerTokens.parse("# nothing yet\n\n")


def test_a_made_tokens_file_is_private_holds_one_system_token_and_is_made_once(tmp_path):
    path = tmp_path / "tokens"
    token = create_token_file(path)
    assert token is not None
    assert len(token) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert BearerTokens.read(path).actor_of(token) == Actor.system()
    assert create_token_file(path) is None
    assert BearerTokens.read(path).actor_of(token) == Actor.system()


# --- the served app, in process ----------------------------------------------------------------


def test_the_access_log_has_method_path_status_and_duration_only(caplog):
    """No query string, no header; a path's control characters cannot forge a second line."""
    tokens = BearerTokens([(SYSTEM_TOKEN, Actor.system())])
    app = create_served_app(AsyncGovernance(MemoryStore(), entitlements={AI_GOVERNANCE}), tokens)
    with caplog.at_level(logging.INFO, logger=ACCESS_LOG), TestClient(app) as client:
        assert client.get(PRICES, params={"provider": "query-secret"}).status_code == 200
        assert client.get("/nothing%0Ahere", headers=_bearer(SYSTEM_TOKEN)).status_code == 404
    records = [r for r in caplog.records if r.name == ACCESS_LOG]
    assert [r.getMessage().rsplit(" ", 1)[0] for r in records] == [
        f"GET {PRICES} 200",
        "GET /nothing%0Ahere 404",
    ]
    assert all(re.fullmatch(r"\d+\.\dms", r.getMessage().rsplit(" ", 1)[1]) for r in records)
    assert records[0].__dict__["status"] == 200
    assert records[0].__dict__["path"] == PRICES
    assert records[0].__dict__["duration_ms"] >= 0


# --- docs/cli.md -------------------------------------------------------------------------------

PAGE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def _serving_section() -> str:
    return PAGE.read_text(encoding="utf-8").split("## Serving the HTTP API", 1)[1]


def test_every_serve_command_the_page_shows_parses():
    """The page's test cannot run a command that serves until stopped: these are checked to be
    commands ``aigov serve`` accepts (``--help`` is answered once every option parsed)."""
    shown = re.findall(r"`(aigov serve[^`]*)`", _serving_section())
    assert len(shown) >= 4
    for command in shown:
        result = invoke({}, *command.split()[1:], "--help")
        assert result.exit_code == 0, f"{command}\n{result.output}"


def test_the_tokens_file_the_page_shows_reads_as_it_says():
    tokens_part = _serving_section().split("**Tokens.**", 1)[1]
    lines = re.findall(r"^\| `([^`]*)` \|", tokens_part, re.MULTILINE)
    tokens = BearerTokens.parse("\n".join(lines))
    assert len(tokens) == 3
    actors = [tokens.actor_of(line.split()[0]) for line in lines[1:]]
    assert actors == [
        Actor.system(),
        Actor.user("0a7b8adb-bdd9-5a46-a6fa-9d2eaf30e43a"),
        Actor.user("dbe613c7-ca16-5374-8064-a4ccc5a9c806", site_roles=("owner", "auditor")),
    ]
