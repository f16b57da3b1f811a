"""Reports (SPEC §9) as tests for any store: group summaries and group-member reports."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from uuid import UUID, uuid4

import pytest

from aigov import (
    Actor,
    FeatureDisabledError,
    ForbiddenError,
    Governance,
    InvalidInputError,
    NotFoundError,
    SiteRole,
    Store,
    _report_calls,
)
from aigov.cost import TokenUsage
from aigov_contracts.clock import ManualClock
from aigov_contracts.directory import DirectoryFixtures
from aigov_contracts.facades import GovernanceFactory

__all__ = ["ReportContract"]

SYSTEM = Actor.system()
PER_MILLION = {"input_price": 1_000_000, "output_price": 0, "cache_read_price": 0,
               "cache_write_price": 0}  # fmt: skip


class ReportContract(DirectoryFixtures):
    """Reports agree with what was set and spent, page by key, and are authorized."""

    @pytest.fixture
    def team(self, gov: Governance, org: UUID, group: UUID) -> list[UUID]:
        """Three members of the group (sorted): one with an override, two on the group budget;
        each has spent 10 times their position."""
        gov.apply_price_book([{"provider": "p", "model": "m", **PER_MILLION}])
        gov.upsert_group_budget(SYSTEM, group, 25)
        users = sorted(uuid4() for _ in range(3))
        for n, user in enumerate(users, start=1):
            gov.create_user(SYSTEM, user, f"member {n}")
            gov.add_organization_member(SYSTEM, user, org)
            gov.add_group_member(SYSTEM, user, group)
            gov.record_usage(user, "p", "m", TokenUsage(input_tokens=10 * n))
        gov.upsert_user_budget_override(SYSTEM, users[0], group, 100)
        return users

    def test_the_group_summary(
        self, gov: Governance, org: UUID, group: UUID, team: list[UUID]
    ) -> None:
        (summary,) = gov.group_summary(SYSTEM, org, group_ids=[group])
        assert (summary.group_id, summary.per_member_limit_micros) == (group, 25)
        assert (summary.member_count, summary.override_count) == (3, 1)
        assert summary.total_limit_micros == 25 * 2 + 100
        assert summary.spent_micros == 10 + 20 + 30
        everyone = next(s for s in gov.group_summary(SYSTEM, org) if s.group_id == org)
        assert (everyone.per_member_limit_micros, everyone.total_limit_micros) == (None, None)
        assert everyone.member_count == 3

    def test_group_summaries_page_by_group_id(self, gov: Governance, org: UUID) -> None:
        for n in range(4):
            gov.create_group(SYSTEM, uuid4(), org, f"g{n}")
        every = [s.group_id for s in gov.group_summary(SYSTEM, org)]
        assert every == sorted(every)
        assert len(every) == 5  # and the Everyone group
        first = gov.group_summary(SYSTEM, org, limit=2)
        rest = gov.group_summary(SYSTEM, org, after=first[-1].group_id)
        assert [s.group_id for s in [*first, *rest]] == every

    def test_no_group_ids_means_no_groups(self, gov: Governance, org: UUID) -> None:
        assert gov.group_summary(SYSTEM, org, group_ids=[]) == []

    def test_group_summaries_refuse_too_many_or_foreign_groups(
        self, gov: Governance, org: UUID
    ) -> None:
        with pytest.raises(InvalidInputError):
            gov.group_summary(SYSTEM, org, group_ids=[uuid4() for _ in range(101)])
        with pytest.raises(InvalidInputError):
            gov.group_summary(SYSTEM, org, limit=101)
        with pytest.raises(NotFoundError):
            gov.group_summary(SYSTEM, org, group_ids=[uuid4()])
        with pytest.raises(NotFoundError):
            gov.group_summary(SYSTEM, uuid4())

    def test_one_groups_summary_is_its_line_of_the_organizations(
        self, gov: Governance, org: UUID, group: UUID
    ) -> None:
        line = next(s for s in gov.group_summary(SYSTEM, org) if s.group_id == group)
        assert gov.group_summary_of(SYSTEM, group) == line
        with pytest.raises(NotFoundError):
            gov.group_summary_of(SYSTEM, uuid4())

    def test_an_outsider_learns_nothing_of_an_organizations_groups(
        self, gov: Governance, org: UUID, group: UUID
    ) -> None:
        """Rights come before existence (SPEC §6.2): a user of no organization gets the same
        NotFoundError for a real organization, whatever it asks, as for none."""
        stranger = uuid4()
        gov.create_user(SYSTEM, stranger, "stranger")
        outsider = Actor.user(stranger)
        asks: list[tuple[Callable[[], object], bool]] = [  # and whether it named the group
            (lambda: gov.group_summary(outsider, org), False),
            (lambda: gov.group_summary(outsider, org, group_ids=[]), False),
            (lambda: gov.group_summary(outsider, org, after=UUID(int=2**128 - 1)), False),
            (lambda: gov.group_summary(outsider, org, group_ids=[group]), True),
            (lambda: gov.group_summary_of(outsider, group), True),
        ]
        for ask, named in asks:
            with pytest.raises(NotFoundError) as refused:
                ask()
            assert (str(group) in str(refused.value)) <= named  # no id it did not give
        missing = uuid4()
        with pytest.raises(NotFoundError) as unknown:
            gov.group_summary(outsider, missing)
        with pytest.raises(NotFoundError) as real:
            gov.group_summary(outsider, org)
        assert str(unknown.value).replace(str(missing), "X") == str(real.value).replace(
            str(org), "X"
        )

    def test_the_group_members_report(self, gov: Governance, group: UUID, team: list[UUID]) -> None:
        rows = gov.group_members_report(SYSTEM, group)
        assert [r.user_id for r in rows] == team
        assert [(r.spend_limit_micros, r.limit_source) for r in rows] == [
            (100, "user_override"),
            (25, "group"),
            (25, "group"),
        ]
        assert [(r.spent_micros, r.remaining_micros, r.over_budget) for r in rows] == [
            (10, 90, False),
            (20, 5, False),
            (30, 0, True),
        ]
        assert [
            r.user_id for r in gov.group_members_report(SYSTEM, group, over_budget_only=True)
        ] == [team[2]]
        first = gov.group_members_report(SYSTEM, group, limit=2)
        assert gov.group_members_report(SYSTEM, group, after=first[-1].user_id) == rows[2:]

    def test_the_group_members_report_of_some_users(
        self, gov: Governance, group: UUID, team: list[UUID]
    ) -> None:
        """``user_ids`` keeps the members among those users; others given are not members."""
        whole = gov.group_members_report(SYSTEM, group)
        some = gov.group_members_report(SYSTEM, group, user_ids=[str(team[2]), team[0], uuid4()])
        assert some == [whole[0], whole[2]]
        assert gov.group_members_report(SYSTEM, group, user_ids=[]) == []
        assert gov.group_members_report(
            SYSTEM, group, user_ids=team, over_budget_only=True, after=team[0]
        ) == [whole[2]]
        with pytest.raises(InvalidInputError):
            gov.group_members_report(SYSTEM, group, user_ids=[uuid4() for _ in range(101)])
        with pytest.raises(InvalidInputError):
            gov.group_members_report(SYSTEM, group, user_ids=str(team[0]))
        with pytest.raises(InvalidInputError):
            gov.group_members_report(SYSTEM, group, user_ids=["not-a-uuid"])

    def test_a_report_longer_than_a_batch_is_the_same(
        self,
        gov: Governance,
        group: UUID,
        team: list[UUID],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Members are read a batch at a time (one round trip each on PostgreSQL): pages and
        the over-budget filter cross batches unchanged, and each line agrees with the member's
        own spend status."""
        whole = gov.group_members_report(SYSTEM, group)
        monkeypatch.setattr(_report_calls, "MEMBERS_AT_ONCE", 2)
        assert gov.group_members_report(SYSTEM, group) == whole
        assert gov.group_members_report(SYSTEM, group, over_budget_only=True) == whole[2:]
        assert gov.group_members_report(SYSTEM, group, after=team[0], limit=1) == whole[1:2]
        for row in whole:
            status = gov.spend_status(SYSTEM, row.user_id)
            assert (row.spend_limit_micros, row.effective_group_id, row.spent_micros) == (
                status.spend_limit_micros,
                status.group_id,
                status.spent_micros,
            )

    def test_members_whose_spend_goes_elsewhere_show_it(
        self, gov: Governance, org: UUID, group: UUID, team: list[UUID]
    ) -> None:
        gov.upsert_user_budget_override(SYSTEM, team[1], org, 7)
        row = gov.group_members_report(SYSTEM, group)[1]
        assert (row.effective_group_id, row.spend_limit_micros, row.spent_micros) == (org, 7, 0)

    def test_reports_need_the_reporting_roles_not_membership(
        self, gov: Governance, org: UUID, group: UUID, team: list[UUID]
    ) -> None:
        member = Actor.user(team[1])
        with pytest.raises(ForbiddenError):
            gov.group_members_report(member, group)  # a member reads the group, not the report
        with pytest.raises(ForbiddenError):
            gov.group_summary(member, org, group_ids=[group])
        with pytest.raises(NotFoundError):
            gov.group_members_report(Actor.user(uuid4()), group)
        auditor = Actor.user(uuid4(), site_roles=("auditor",))
        assert len(gov.group_members_report(auditor, group)) == 3
        org_auditor = uuid4()
        gov.create_user(SYSTEM, org_auditor, "org auditor")
        gov.add_organization_member(SYSTEM, org_auditor, org, roles=["organization-auditor"])
        assert len(gov.group_summary(Actor.user(org_auditor), org)) == 2

    def test_reports_are_feature_gated(
        self, facade: GovernanceFactory, store: Store, org: UUID, group: UUID
    ) -> None:
        ungated = facade(store, entitlements=())
        with pytest.raises(FeatureDisabledError):
            ungated.group_summary(SYSTEM, org)
        with pytest.raises(FeatureDisabledError):
            ungated.group_members_report(SYSTEM, group)

    def test_the_organization_export_streams_the_ledger_as_csv_or_json_lines(
        self, gov: Governance, org: UUID, group: UUID, team: list[UUID], clock: ManualClock
    ) -> None:
        day = clock().date()
        gov.delete_group(SYSTEM, group)  # history survives, and is still the organization's
        rows = list(
            gov.export_organization_spend(SYSTEM, org, start=day, end=day + timedelta(days=1))
        )
        assert rows[0] == "user_id,group_id,day,spend_micros\r\n"
        assert rows[1:] == [
            f"{user},{group},{day.isoformat()},{10 * n}\r\n" for n, user in enumerate(team, 1)
        ]
        lines = gov.export_organization_spend(
            SYSTEM, org, start=day, end=day + timedelta(days=1), format="jsonl"
        )
        assert [json.loads(line) for line in lines] == [
            {
                "user_id": str(u),
                "group_id": str(group),
                "day": day.isoformat(),
                "spend_micros": 10 * n,
            }
            for n, u in enumerate(team, 1)
        ]
        empty = gov.export_organization_spend(SYSTEM, org, start=day, end=day)
        assert list(empty) == ["user_id,group_id,day,spend_micros\r\n"]
        other = uuid4()
        gov.create_organization(SYSTEM, other, "Other")
        assert len(list(gov.export_organization_spend(SYSTEM, other, start=day, end=day))) == 1

    def test_the_export_needs_an_organization_reporter(
        self, gov: Governance, org: UUID, team: list[UUID], clock: ManualClock
    ) -> None:
        day = clock().date()

        def export(actor: Actor, organization: UUID = org) -> list[str]:
            return list(
                gov.export_organization_spend(
                    actor, organization, start=day, end=day + timedelta(days=1)
                )
            )

        viewers: list[tuple[SiteRole, ...]] = [("owner",), ("auditor",)]
        for roles in viewers:
            assert len(export(Actor.user(uuid4(), site_roles=roles))) == 4
        for role in ("organization-admin", "organization-auditor", "organization-user-admin"):
            someone = uuid4()
            gov.create_user(SYSTEM, someone, role)
            gov.add_organization_member(SYSTEM, someone, org, roles=[role])
            if role == "organization-user-admin":
                with pytest.raises(ForbiddenError):
                    export(Actor.user(someone))
            else:
                assert len(export(Actor.user(someone))) == 4
        with pytest.raises(ForbiddenError):
            export(Actor.user(team[0]))  # a member: knows the organization, may not export it
        with pytest.raises(NotFoundError):
            export(SYSTEM, uuid4())
        stranger = uuid4()  # of no organization: its existence is not disclosed (SPEC §6.2)
        gov.create_user(SYSTEM, stranger, "stranger")
        with pytest.raises(NotFoundError) as unknown:
            export(Actor.user(stranger))
        assert (unknown.value.resource, unknown.value.key) == ("organization", org)

    @pytest.mark.parametrize(
        "bad",
        [
            {"start": date(2026, 1, 2), "end": date(2026, 1, 1)},
            {"start": "2026-01-01", "end": date(2026, 1, 2)},
            {"start": date(2026, 1, 1), "end": date(2026, 1, 2), "format": "xml"},
        ],
    )
    def test_bad_export_requests_are_invalid(
        self, gov: Governance, org: UUID, bad: dict[str, object]
    ) -> None:
        with pytest.raises(InvalidInputError):
            gov.export_organization_spend(SYSTEM, org, **bad)  # type: ignore[arg-type]
