"""Directory rules under concurrency: opted into by stores that can open several handles on the
same data (the ``store_factory`` fixture: a picklable callable returning a new store each call)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from threading import Barrier
from uuid import UUID, uuid4

import pytest

from aigov import (
    AI_GOVERNANCE,
    Actor,
    Governance,
    MembershipInvariantError,
    Store,
)

__all__ = ["DirectoryConcurrencyContract", "StoreFactory"]

StoreFactory = Callable[[], Store]
SYSTEM = Actor.system()
ROUNDS = 25


@pytest.mark.aigov_store_factory
class DirectoryConcurrencyContract:
    """Racing "join a group" against "leave the organization" from two store handles never
    leaves a group member outside the group's organization."""

    def test_join_group_racing_leave_organization_keeps_the_rule(
        self, store_factory: StoreFactory
    ) -> None:
        stores = [store_factory(), store_factory()]
        try:
            first, second = (Governance(s, entitlements={AI_GOVERNANCE}) for s in stores)
            org, group = uuid4(), uuid4()
            first.create_organization(SYSTEM, org, "Acme")
            first.create_group(SYSTEM, group, org, "engineering")
            for _ in range(ROUNDS):
                user = uuid4()
                first.create_user(SYSTEM, user, "racer")
                first.add_organization_member(SYSTEM, user, org)
                barrier = Barrier(2)

                def join(user: UUID = user, barrier: Barrier = barrier) -> None:
                    barrier.wait()
                    # Refused when the membership went first: the rule held either way.
                    with suppress(MembershipInvariantError):
                        first.add_group_member(SYSTEM, user, group)

                def leave(user: UUID = user, barrier: Barrier = barrier) -> None:
                    barrier.wait()
                    second.remove_organization_member(SYSTEM, user, org)

                with ThreadPoolExecutor(2) as pool:
                    for future in [pool.submit(join), pool.submit(leave)]:
                        future.result()

                assert not first.is_group_member(user, group)
                assert not second.is_group_member(user, group)
                assert user not in second.list_group_members(group)
        finally:
            for s in stores:
                s.close()
