"""Concurrent changes of one resource, each through its own store handle: the audit log still
tells one story (one create, then updates whose before is the previous after)."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from uuid import uuid4

import pytest
from sqlalchemy.engine import URL

from aigov import AI_GOVERNANCE, Actor, Governance
from aigov_postgres import PostgresStore

pytestmark = pytest.mark.aigov_postgres

SYSTEM = Actor.system()
ROUNDS = 20
WRITERS = 4


def test_concurrent_upserts_of_one_budget_audit_a_consistent_history(postgres_url: URL):
    stores = [PostgresStore.from_url(postgres_url) for _ in range(WRITERS)]
    govs = [Governance(store, entitlements={AI_GOVERNANCE}) for store in stores]
    try:
        org = uuid4()
        govs[0].create_organization(SYSTEM, org, "Acme")
        with ThreadPoolExecutor(WRITERS) as pool:
            for _ in range(ROUNDS):
                group = uuid4()
                govs[0].create_group(SYSTEM, group, org, f"g-{group}")
                start = Barrier(WRITERS)

                def upsert(n: int, group=group, start=start) -> None:  # type: ignore[no-untyped-def]
                    start.wait()
                    govs[n].upsert_group_budget(SYSTEM, group, 100 + n)

                list(pool.map(upsert, range(WRITERS)))
                history = govs[0].audit_log(
                    SYSTEM, resource_type="group_budget", resource_id=str(group)
                )
                assert [e.action for e in history] == ["create"] + ["update"] * (WRITERS - 1)
                assert history[0].before is None
                for previous, entry in itertools.pairwise(history):
                    assert entry.before == previous.after
                final = govs[0].get_group_budget(SYSTEM, group).spend_limit_micros
                assert history[-1].after == {"group_id": str(group), "spend_limit_micros": final}
    finally:
        for store in stores:
            store.close()
