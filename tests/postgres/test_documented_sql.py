"""The guarded upsert docs/spend.md shows is real SQL that grants exactly what fits."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from sqlalchemy.engine import URL

from aigov import AI_GOVERNANCE, Actor, Governance
from aigov_postgres import PostgresStore
from tests.postgres.conftest import libpq_uri

pytestmark = pytest.mark.aigov_postgres

PAGE = Path(__file__).resolve().parents[2] / "docs" / "spend.md"


def test_the_guarded_upsert_of_the_docs_grants_what_fits(postgres_url: URL):
    (sql,) = re.findall(r"^```sql\n(.*?)^```$", PAGE.read_text(encoding="utf-8"), re.M | re.S)
    statement = re.sub(r"\$(\w+)", r"%(\1)s", sql)
    store = PostgresStore.from_url(postgres_url)
    try:
        gov = Governance(store, entitlements={AI_GOVERNANCE})
        org, user = uuid4(), uuid4()
        gov.create_organization(Actor.system(), org, "Acme")
        gov.create_user(Actor.system(), user, "ann")
    finally:
        store.close()
    values = {"user": user, "group": org, "period": datetime(2026, 11, 1, tzinfo=UTC)}
    with psycopg.connect(libpq_uri(postgres_url), autocommit=True) as connection:
        granted = [
            connection.execute(statement, values | {"amount": amount, "limit": 100}).rowcount
            for amount in (60, 41, 40, 1)
        ]
        held = connection.execute("SELECT held_micros FROM ai_spend_counters").fetchall()
    assert granted == [1, 0, 1, 0]
    assert held == [(100,)]
