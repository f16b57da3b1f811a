"""The decision function against an independent oracle, and the docs' table against the code."""

from __future__ import annotations

import re
from pathlib import Path
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from aigov import Actor
from aigov.authorization import GRANTS, Facts, Need, may, permission_table

ROOT = Path(__file__).resolve().parents[2]

USERS = [UUID(int=n) for n in range(1, 4)]
ORGS = [UUID(int=100 + n) for n in range(2)]
GROUPS = [*ORGS, UUID(int=200), UUID(int=201)]  # the Everyone groups, and one ordinary each
GROUP_ORG = {ORGS[0]: ORGS[0], ORGS[1]: ORGS[1], GROUPS[2]: ORGS[0], GROUPS[3]: ORGS[1]}
ORG_ROLES = [
    "organization-admin",
    "organization-user-admin",
    "organization-auditor",
    "organization-member",
]


class TableFacts(Facts):
    def __init__(
        self, roles: dict[tuple[UUID, UUID], frozenset[str]], members: frozenset[tuple[UUID, UUID]]
    ) -> None:
        self.roles, self.members = roles, members

    def organization_of_group(self, group_id):
        return GROUP_ORG.get(group_id)

    def organization_roles(self, user_id, organization_id):
        return self.roles.get((user_id, organization_id), frozenset())

    def organizations_of_user(self, user_id):
        return frozenset(o for (u, o) in self.roles if u == user_id)

    def is_group_member(self, user_id, group_id):
        if group_id in ORGS:
            return (user_id, group_id) in self.roles
        return (user_id, group_id) in self.members


def oracle(  # noqa: PLR0911 - one return per row of the table
    actor: Actor, permission: str, key: UUID | None, facts: TableFacts
) -> bool:
    """SPEC §6.1, row by row, written independently of GRANTS."""
    if actor.is_system:
        return True
    site, me = actor.site_roles, actor.user_id
    org_roles = frozenset()
    if permission in ("read_group", "update_group", "read_group_spend") and key in GROUP_ORG:
        org_roles = facts.organization_roles(me, GROUP_ORG[key])
    if permission in ("read_user", "update_user") and key is not None:
        org_roles = frozenset().union(
            *(facts.organization_roles(me, o) for o in facts.organizations_of_user(key))
        )
    readers = {"organization-admin", "organization-user-admin", "organization-auditor"}
    if permission == "read_group":
        return bool(
            site & {"owner", "user-admin", "auditor"}
            or org_roles & readers
            or (key is not None and facts.is_group_member(me, key))
        )
    if permission == "update_group":
        return bool(
            site & {"owner", "user-admin"}
            or org_roles & {"organization-admin", "organization-user-admin"}
        )
    if permission == "read_user":
        return bool(key == me or site & {"owner", "user-admin", "auditor"} or org_roles & readers)
    if permission == "update_user":
        return bool(site & {"owner", "user-admin"})
    if permission == "manage_prices":
        return "owner" in site
    if permission == "read_prices":
        return True
    if permission == "read_audit_log":
        return bool(site & {"owner", "auditor"})
    if permission == "read_group_spend":
        return bool(site & {"owner", "user-admin", "auditor"} or org_roles & readers)
    if permission == "export_organization":
        org_roles = facts.organization_roles(me, key) if key is not None else frozenset()
        return bool(
            site & {"owner", "auditor"}
            or org_roles & {"organization-admin", "organization-auditor"}
        )
    assert permission == "write_directory"
    return False


actors = st.one_of(
    st.just(Actor.system()),
    st.builds(
        lambda user, roles: Actor.user(user, site_roles=roles),
        st.sampled_from(USERS),
        st.frozensets(st.sampled_from(["owner", "user-admin", "auditor", "member"]), max_size=2),
    ),
)
facts = st.builds(
    TableFacts,
    st.dictionaries(
        st.tuples(st.sampled_from(USERS), st.sampled_from(ORGS)),
        st.frozensets(st.sampled_from(ORG_ROLES), max_size=2),
        max_size=5,
    ),
    st.frozensets(st.tuples(st.sampled_from(USERS), st.sampled_from(GROUPS[2:])), max_size=4),
)


@given(actor=actors, permission=st.sampled_from(list(GRANTS)), facts=facts, data=st.data())
def test_the_decision_agrees_with_the_oracle(actor, permission, facts, data):
    if permission in ("read_user", "update_user"):
        key = data.draw(st.sampled_from(USERS))
    elif permission in ("read_group", "update_group", "read_group_spend"):
        key = data.draw(st.sampled_from(GROUPS))
    elif permission == "export_organization":
        key = data.draw(st.sampled_from(ORGS))
    else:
        key = None
    assert may(actor, Need(permission, key), facts) == oracle(actor, permission, key, facts)


def test_the_docs_table_is_the_codes():
    page = (ROOT / "docs" / "authorization.md").read_text(encoding="utf-8")
    shown = re.search(
        r"<!-- permission-table:start -->\n(.*?)<!-- permission-table:end -->", page, re.DOTALL
    )
    assert shown is not None
    assert shown[1] == permission_table(), (
        "docs/authorization.md is out of date: paste permission_table()'s output into it"
    )
