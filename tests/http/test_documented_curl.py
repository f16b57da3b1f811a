"""docs/http.md's curl blocks run, in order, against the API served over TCP with a bearer
token: each exits 0 (``curl -f`` fails on an answer of 400 or more) and says what the page says
it does."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy.engine import URL

from aigov import AI_GOVERNANCE, Actor, Governance
from aigov_postgres import PostgresStore
from tests.http.served import Served, serve_in_a_thread

pytestmark = pytest.mark.aigov_postgres

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```sh\n(.*?)^```$", re.DOTALL | re.MULTILINE)
SYSTEM = Actor.system()


@pytest.fixture
def served(postgres_url: URL, tmp_path: Path) -> Iterator[tuple[Served, dict[str, str]]]:
    store = PostgresStore.from_url(postgres_url)
    gov = Governance(store, entitlements={AI_GOVERNANCE})
    org, team, ann = uuid4(), uuid4(), uuid4()
    gov.create_organization(SYSTEM, org, "Acme", is_default=True)
    gov.create_group(SYSTEM, team, org, "team")
    gov.create_user(SYSTEM, ann, "ann")
    gov.add_organization_member(SYSTEM, ann, org)
    gov.add_group_member(SYSTEM, ann, team)
    gov.apply_price_book()
    store.close()
    with serve_in_a_thread(postgres_url, tmp_path) as api:
        yield api, {"ORG": str(org), "TEAM": str(team), "ANN": str(ann)}


def test_every_curl_block_of_the_page_runs(
    served: tuple[Served, dict[str, str]], tmp_path: Path
) -> None:
    api, ids = served
    blocks = FENCE.findall((ROOT / "docs" / "http.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 5
    env = {**os.environ, "AIGOV": api.base_url, "TOKEN": api.token, **ids}
    outputs = []
    for block in blocks:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"{block}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        outputs.append(result.stdout)
    budget, read, standing = documents(outputs[0])
    assert budget == read
    assert budget["spend_limit_micros"] == 5_000_000
    assert standing["effective_budget"] == {
        "spend_limit_micros": 5_000_000,
        "limit_source": "group",
    }
    override, through_the_seed_path = documents(outputs[1])
    assert override == through_the_seed_path
    groups, one, members = documents(outputs[2])
    assert [g["group_id"] for g in groups["groups"]] == [one["group_id"]] == [ids["TEAM"]]
    assert members["members"] == []
    assert outputs[3].strip() == "user_id,group_id,day,spend_micros"
    listed, stored = documents(outputs[4])
    assert [(p["provider"], p["model"]) for p in listed["prices"]] == [
        ("anthropic", "claude-haiku-4-5")
    ]
    assert stored["prices"][0]["source"] == "custom"


def documents(output: str) -> list[Any]:
    """The JSON documents curl wrote one after the other (without newlines between)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(output):
        document, at = decoder.raw_decode(output, at)
        found.append(document)
    return found
