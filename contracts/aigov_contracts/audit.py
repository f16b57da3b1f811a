"""The audit log (SPEC §10) as tests, for any store (one fixture: ``store``)."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from aigov import (
    Actor,
    ConflictError,
    ForbiddenError,
    Governance,
    InvalidInputError,
    MembershipInvariantError,
    SiteRole,
    Store,
)
from aigov.audit import AuditEntry
from aigov_contracts.clock import ManualClock
from aigov_contracts.directory import DirectoryFixtures
from aigov_contracts.facades import GovernanceFactory

__all__ = ["AuditContract"]

SYSTEM = Actor.system()
PRICES = {"input_price": 1, "output_price": 2, "cache_read_price": None, "cache_write_price": 0}


def entries(gov: Governance, **filters: object) -> list[AuditEntry]:
    return list(gov.audit_log(SYSTEM, **filters))  # type: ignore[arg-type]


def summary(gov: Governance) -> list[tuple[str, str, str]]:
    return [(e.action, e.resource_type, e.resource_id) for e in entries(gov)]


class AuditContract(DirectoryFixtures):
    """One entry per successful change, in the same transaction; none for failed ones."""

    def test_budget_changes_are_audited_with_before_and_after(
        self, gov: Governance, group: UUID, clock: ManualClock
    ) -> None:
        owner = Actor.user(uuid4(), site_roles=("owner",))
        gov.upsert_group_budget(owner, group, 5)
        clock.advance(timedelta(seconds=1))
        gov.upsert_group_budget(SYSTEM, group, 7)
        gov.upsert_group_budget(SYSTEM, group, 7)  # no change: no entry
        gov.delete_group_budget(SYSTEM, group)
        created, updated, deleted = entries(gov)
        assert (created.action, created.actor, created.before) == (
            "create",
            f"user:{owner.user_id}",
            None,
        )
        assert created.after == {"group_id": str(group), "spend_limit_micros": 5}
        assert (updated.action, updated.actor, updated.at) == ("update", "system", clock())
        assert (updated.before, updated.after) == (
            created.after,
            {**created.after, "spend_limit_micros": 7},
        )
        assert (deleted.action, deleted.before, deleted.after) == ("delete", updated.after, None)
        assert created.id < updated.id < deleted.id
        assert {e.resource_id for e in (created, updated, deleted)} == {str(group)}

    def test_override_changes_are_audited(
        self, gov: Governance, org: UUID, group: UUID, member: UUID
    ) -> None:
        gov.add_group_member(SYSTEM, member, group)
        gov.upsert_user_budget_override(SYSTEM, member, org, 1)
        gov.upsert_user_budget_override(SYSTEM, member, group, 1)
        gov.delete_user_budget_override(SYSTEM, member)
        assert summary(gov) == [
            ("create", "user_budget_override", str(member)),
            ("update", "user_budget_override", str(member)),
            ("delete", "user_budget_override", str(member)),
        ]
        moved = entries(gov)[1]
        assert (moved.before["group_id"], moved.after["group_id"]) == (str(org), str(group))  # type: ignore[index]

    def test_custom_prices_and_seeds_are_audited(self, gov: Governance) -> None:
        gov.set_custom_price(SYSTEM, "p", "m", **PRICES)
        gov.set_custom_price(SYSTEM, "p", "m", **PRICES)  # no change: no entry
        gov.delete_custom_price(SYSTEM, "p", "m")
        seed = [
            {"provider": "p", "model": "m", **PRICES},
            {"provider": "p", "model": "n", **PRICES},
        ]
        gov.apply_price_book(seed)
        gov.apply_price_book(seed)  # changed nothing: no entry
        gov.apply_price_book([{**seed[0], "input_price": 9}])
        assert summary(gov) == [
            ("create", "custom_price", '["p", "m"]'),
            ("delete", "custom_price", '["p", "m"]'),
            ("seed", "price_book", "pricebook"),
            ("seed", "price_book", "pricebook"),
        ]
        first_seed, second_seed = entries(gov, resource_type="price_book")
        assert first_seed.after == {
            "inserted": 2,
            "updated": 0,
            "unchanged": 0,
            "inserted_keys": [["p", "m"], ["p", "n"]],
            "updated_keys": [],
        }
        assert second_seed.after == {
            "inserted": 0,
            "updated": 1,
            "unchanged": 0,
            "inserted_keys": [],
            "updated_keys": [["p", "m"]],
        }
        assert entries(gov)[0].after == {"provider": "p", "model": "m", **PRICES}

    def test_failed_changes_leave_no_entry(
        self, gov: Governance, group: UUID, member: UUID
    ) -> None:
        with pytest.raises(MembershipInvariantError):
            gov.upsert_user_budget_override(SYSTEM, member, group, 1)
        with pytest.raises(ForbiddenError):
            gov.upsert_group_budget(Actor.user(uuid4(), site_roles=("auditor",)), group, 1)
        with pytest.raises(ConflictError):
            gov.apply_price_book(
                [
                    {"provider": "p", "model": "m", **PRICES},
                    {"provider": "p", "model": "m", **PRICES},
                ]
            )
        assert entries(gov) == []

    @pytest.mark.parametrize(
        "loss", ["leave group", "leave organization", "delete user", "delete group"]
    )
    def test_overrides_lost_with_a_membership_are_cascade_deletes(
        self, gov: Governance, org: UUID, group: UUID, member: UUID, clock: ManualClock, loss: str
    ) -> None:
        gov.add_group_member(SYSTEM, member, group)
        gov.upsert_user_budget_override(SYSTEM, member, group, 3)
        clock.advance(timedelta(seconds=1))
        {
            "leave group": lambda: gov.remove_group_member(SYSTEM, member, group),
            "leave organization": lambda: gov.remove_organization_member(SYSTEM, member, org),
            "delete user": lambda: gov.delete_user(SYSTEM, member),
            "delete group": lambda: gov.delete_group(SYSTEM, group),
        }[loss]()
        created, cascaded = entries(gov)
        assert (cascaded.action, cascaded.actor, cascaded.at) == (
            "cascade_delete",
            "system",
            clock(),
        )
        assert (cascaded.before, cascaded.after) == (created.after, None)

    def test_reading_needs_the_owner_or_the_auditor(self, gov: Governance, group: UUID) -> None:
        gov.upsert_group_budget(SYSTEM, group, 1)
        readers: list[tuple[SiteRole, ...]] = [("owner",), ("auditor",)]
        for roles in readers:
            assert len(gov.audit_log(Actor.user(uuid4(), site_roles=roles))) == 1
        others: list[tuple[SiteRole, ...]] = [(), ("user-admin",), ("member",)]
        for roles in others:
            with pytest.raises(ForbiddenError):
                gov.audit_log(Actor.user(uuid4(), site_roles=roles))

    def test_filters_and_keyset_pages(
        self, gov: Governance, org: UUID, group: UUID, clock: ManualClock
    ) -> None:
        owner = Actor.user(uuid4(), site_roles=("owner",))
        gov.upsert_group_budget(SYSTEM, group, 1)
        start = clock.advance(timedelta(hours=1))
        for limit in range(2, 7):
            gov.upsert_group_budget(owner, org, limit)
        everything = entries(gov)
        assert len(everything) == 6
        assert [
            e.resource_id
            for e in entries(gov, resource_type="group_budget", resource_id=str(group))
        ] == [str(group)]
        assert len(entries(gov, actor_id=owner.user_id)) == 5
        assert len(entries(gov, actor_id="system")) == 1
        assert entries(gov, since=start) == everything[1:]
        pages, after = [], None
        while page := entries(gov, after=after, limit=4):
            pages.append(page)
            after = page[-1].id
        assert [len(p) for p in pages] == [4, 2]
        assert [e for p in pages for e in p] == everything
        for bad in ({"limit": 0}, {"limit": 1001}, {"actor_id": "nobody"}, {"resource_type": "x"}):
            with pytest.raises(InvalidInputError):
                entries(gov, **bad)

    def test_a_budget_deleted_with_its_group_is_a_cascade_delete(
        self, gov: Governance, group: UUID
    ) -> None:
        gov.upsert_group_budget(SYSTEM, group, 4)
        gov.delete_group(SYSTEM, group)
        created, cascaded = entries(gov)
        assert (cascaded.action, cascaded.resource_type) == ("cascade_delete", "group_budget")
        assert (cascaded.before, cascaded.after) == (created.after, None)

    @pytest.mark.parametrize(
        "bad",
        [
            {"resource_id": "lone\ud800"},
            {"resource_id": "nul\x00"},
            {"after": 2**70},
            {"after": -1},
            {"limit": True},
            {"since": "yesterday"},
        ],
    )
    def test_bad_audit_filters_are_invalid_input(
        self, gov: Governance, bad: dict[str, object]
    ) -> None:
        with pytest.raises(InvalidInputError):
            entries(gov, **bad)

    def test_other_writers_are_filterable_by_their_sql_role(self, gov: Governance) -> None:
        assert entries(gov, actor_id="sql:postgres") == []

    def test_audit_and_price_reads_are_not_feature_gated(
        self, facade: GovernanceFactory, store: Store, org: UUID
    ) -> None:
        """SPEC §6.3: price-book, audit-log and directory calls work without the entitlement."""
        ungated = facade(store, entitlements=())
        ungated.apply_price_book([{"provider": "p", "model": "m", **PRICES}])
        assert ungated.get_model_price("p", "m") is not None
        assert ungated.audit_log(SYSTEM)[0].action == "seed"
        ungated.create_group(SYSTEM, uuid4(), org, "still works")
