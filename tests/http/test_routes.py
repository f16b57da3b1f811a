"""Every route of SPEC §14 on both stores, allowed and denied: the JSON field names, the status
codes, the error bodies, 401 without an actor, and 404 (never 403) for what the actor may not
read."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest

from aigov import TokenUsage
from aigov_http import MAX_EXPORT_DAYS
from tests.http.conftest import Api

pytestmark = pytest.mark.anyio

ROUTES_WITH_AN_ACTOR = [
    ("GET", "/api/v2/groups/{team}/ai/budget"),
    ("PUT", "/api/v2/groups/{team}/ai/budget"),
    ("DELETE", "/api/v2/groups/{team}/ai/budget"),
    ("GET", "/api/v2/users/{member}/ai/budget/override"),
    ("PUT", "/api/v2/users/{member}/ai/budget/override"),
    ("DELETE", "/api/v2/users/{member}/ai/budget/override"),
    ("GET", "/api/v2/users/{member}/ai/budget"),
    ("PUT", "/api/v2/users/{member}/ai/budget"),
    ("DELETE", "/api/v2/users/{member}/ai/budget"),
    ("GET", "/api/v2/users/{member}/ai/spend"),
    ("GET", "/api/v2/organizations/{organization}/groups/ai/spend"),
    ("GET", "/api/v2/groups/{team}/ai/spend"),
    ("GET", "/api/v2/groups/{team}/members/ai/spend"),
    ("GET", "/api/v2/organizations/{organization}/ai/spend/export?start=2026-01-01&end=2026-01-02"),
    ("POST", "/api/experimental/ai/model-prices"),
    ("DELETE", "/api/experimental/ai/model-prices/acme-ai/echo-1"),
]


def path_of(api: Api, template: str) -> str:
    world = api.world
    return template.format(
        team=world.team, organization=world.organization, member=world.users["member"]
    )


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["message"], str)
    assert body["message"]
    return body


@pytest.mark.parametrize(("method", "template"), ROUTES_WITH_AN_ACTOR)
async def test_without_an_actor_every_route_that_takes_one_is_401(
    api: Api, method: str, template: str
):
    before = api.snapshot()
    for who in (None, "nobody-we-know"):
        response = await api.call(method, path_of(api, template), as_=who, json={})
        error_of(response, 401)
    assert api.snapshot() == before


async def test_price_reads_take_no_actor(api: Api):
    response = await api.call("GET", "/api/experimental/ai/model-prices", as_=None)
    assert response.status_code == 200
    assert response.json() == {
        "prices": [
            {
                "provider": "acme-ai",
                "model": "echo-1",
                "source": "pricebook",
                "input_price_micros": 1_000_000,
                "output_price_micros": 2_000_000,
                "cache_read_price_micros": None,  # unknown is null, never 0
                "cache_write_price_micros": None,
            }
        ]
    }


# -- group budgets ---------------------------------------------------------------------------------


async def test_a_group_budget_is_put_read_and_deleted(api: Api):
    path = f"/api/v2/groups/{api.world.team}/ai/budget"
    error_of(await api.call("GET", path, as_="org-admin"), 404)
    put = await api.call("PUT", path, as_="org-admin", json={"spend_limit_micros": 5_000})
    assert put.status_code == 200, put.text
    stored = put.json()
    assert set(stored) == {"group_id", "spend_limit_micros", "created_at", "updated_at"}
    assert (stored["group_id"], stored["spend_limit_micros"]) == (str(api.world.team), 5_000)
    assert (await api.call("GET", path, as_="teammate")).json() == stored  # members read it
    again = await api.call("PUT", path, as_="org-admin", json={"spend_limit_micros": 5_000})
    assert again.json() == stored  # the same limit writes nothing
    deleted = await api.call("DELETE", path, as_="org-admin")
    assert (deleted.status_code, deleted.content) == (204, b"")
    error_of(await api.call("DELETE", path, as_="org-admin"), 404)


async def test_who_may_not_read_a_group_gets_404_and_who_may_not_change_it_403(api: Api):
    path = f"/api/v2/groups/{api.world.team}/ai/budget"
    await api.call("PUT", path, json={"spend_limit_micros": 10})
    before = api.snapshot()
    for outsider in ("stranger", "member"):  # another organization; not in the team
        error_of(await api.call("GET", path, as_=outsider), 404)
        error_of(await api.call("PUT", path, as_=outsider, json={"spend_limit_micros": 1}), 404)
    error_of(await api.call("PUT", path, as_="teammate", json={"spend_limit_micros": 1}), 403)
    error_of(await api.call("DELETE", path, as_="org-auditor"), 403)
    unknown = await api.call("GET", f"/api/v2/groups/{uuid4()}/ai/budget", as_="owner")
    assert (
        error_of(unknown, 404).keys()
        == error_of(await api.call("GET", path, as_="stranger"), 404).keys()
    )
    assert api.snapshot() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"spend_limit_micros": -1}, "spend_limit_micros"),
        ({"spend_limit_micros": 2**63}, "spend_limit_micros"),
        ({"spend_limit_micros": "5"}, "spend_limit_micros"),
        ({"spend_limit_micros": 1.5}, "spend_limit_micros"),
        ({}, "spend_limit_micros"),
        ({"spend_limit_micros": 5, "extra": 1}, "extra"),
    ],
)
async def test_a_bad_budget_is_400_with_its_field(api: Api, body: dict, field: str):
    before = api.snapshot()
    response = await api.call("PUT", f"/api/v2/groups/{api.world.team}/ai/budget", json=body)
    answer = error_of(response, 400)
    assert field in [v["field"] for v in answer["validations"]]
    assert all(set(v) == {"field", "detail"} for v in answer["validations"])
    assert api.snapshot() == before


async def test_a_path_id_that_is_not_a_uuid_is_400(api: Api):
    answer = error_of(await api.call("GET", "/api/v2/groups/team/ai/budget"), 400)
    assert [v["field"] for v in answer["validations"]] == ["group"]


# -- overrides -------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["/override", ""])
async def test_an_override_is_put_read_and_deleted_on_both_paths(api: Api, suffix: str):
    world = api.world
    path = f"/api/v2/users/{world.users['teammate']}/ai/budget{suffix}"
    error_of(await api.call("GET", path), 404)
    body = {"group_id": str(world.team), "spend_limit_micros": 700}
    put = await api.call("PUT", path, as_="owner", json=body)
    assert put.status_code == 200, put.text
    stored = put.json()
    assert set(stored) == {"user_id", "group_id", "spend_limit_micros", "created_at", "updated_at"}
    assert (stored["user_id"], stored["group_id"]) == (
        str(world.users["teammate"]),
        str(world.team),
    )
    assert (await api.call("GET", path, as_="teammate")).json() == stored  # they read their own
    error_of(await api.call("DELETE", path, as_="org-admin"), 403)  # may read, not update users
    assert (await api.call("DELETE", path, as_="owner")).status_code == 204
    error_of(await api.call("GET", path), 404)


async def test_an_override_outside_the_users_groups_is_400_and_stores_nothing(api: Api):
    before = api.snapshot()
    path = f"/api/v2/users/{api.world.users['member']}/ai/budget/override"
    body = {"group_id": str(api.world.team), "spend_limit_micros": 1}  # member is not in the team
    answer = error_of(await api.call("PUT", path, json=body), 400)
    assert "validations" in answer
    error_of(await api.call("PUT", path, json={"group_id": "team", "spend_limit_micros": 1}), 400)
    error_of(await api.call("GET", path, as_="stranger"), 404)  # may not read that user
    assert api.snapshot() == before


# -- spend -----------------------------------------------------------------------------------------


async def test_a_users_spend(api: Api):
    world = api.world
    user = world.users["teammate"]
    await api.call(
        "PUT", f"/api/v2/groups/{world.team}/ai/budget", json={"spend_limit_micros": 900}
    )
    api.sync.record_usage(user, "acme-ai", "echo-1", TokenUsage(input_tokens=100))
    hold = api.sync.reserve(user, 50)
    response = await api.call("GET", f"/api/v2/users/{user}/ai/spend", as_="teammate")
    assert response.status_code == 200, response.text
    body = response.json()
    window = await_window(body)
    assert body == {
        "user_id": str(user),
        "effective_group_id": str(world.team),
        "effective_budget": {"spend_limit_micros": 900, "limit_source": "group"},
        "current_spend_micros": 100,
        "held_micros": 50,
        "remaining_micros": 750,
        **window,
    }
    api.sync.release(hold.id)
    no_limit = (await api.call("GET", f"/api/v2/users/{world.users['member']}/ai/spend")).json()
    assert (no_limit["effective_budget"], no_limit["remaining_micros"]) == (None, None)
    assert no_limit["effective_group_id"] == str(world.organization)  # its Everyone group
    for other in ("member", "stranger"):  # plain colleagues and strangers may not read it
        error_of(await api.call("GET", f"/api/v2/users/{user}/ai/spend", as_=other), 404)
    error_of(await api.call("GET", f"/api/v2/users/{uuid4()}/ai/spend"), 404)


def await_window(body: dict) -> dict:
    """The period fields of an answer, checked to be this month's."""
    now = datetime.now(UTC)
    start = datetime.fromisoformat(body["period_start"])
    end = datetime.fromisoformat(body["period_end"])
    assert start <= now < end
    assert (start.day, start.hour, start.tzinfo is not None) == (1, 0, True)
    return {"period_start": body["period_start"], "period_end": body["period_end"]}


async def test_group_summaries_of_an_organization(api: Api):
    world = api.world
    await api.call(
        "PUT", f"/api/v2/groups/{world.team}/ai/budget", json={"spend_limit_micros": 300}
    )
    api.sync.record_usage(world.users["teammate"], "acme-ai", "echo-1", TokenUsage(input_tokens=7))
    path = f"/api/v2/organizations/{world.organization}/groups/ai/spend"
    whole = await api.call("GET", path, as_="org-auditor")
    assert whole.status_code == 200, whole.text
    body = whole.json()
    await_window(body)
    assert body["next"] is None
    lines = {line["group_id"]: line for line in body["groups"]}
    assert set(lines) == {str(world.organization), str(world.team)}
    assert lines[str(world.team)] == {
        "group_id": str(world.team),
        "spend_limit_micros": 300,
        "total_spend_limit_micros": 300,
        "member_count": 1,
        "override_count": 0,
        "current_spend_micros": 7,
    }
    some = await api.call("GET", f"{path}?group_ids={world.team}", as_="org-admin")
    assert [g["group_id"] for g in some.json()["groups"]] == [str(world.team)]
    one = await api.call("GET", f"/api/v2/groups/{world.team}/ai/spend", as_="owner")
    assert one.json() == {**lines[str(world.team)], **await_window(one.json())}
    # Membership is not a reporting role: a member may see the group (403), a stranger not (404).
    for denied, status in (("teammate", 403), ("stranger", 404)):
        error_of(await api.call("GET", f"/api/v2/groups/{world.team}/ai/spend", as_=denied), status)
    error_of(await api.call("GET", path, as_="stranger"), 404)
    error_of(await api.call("GET", f"/api/v2/groups/{uuid4()}/ai/spend"), 404)
    error_of(await api.call("GET", f"{path}?group_ids={uuid4()}"), 404)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("group_ids=not-a-uuid", "group_ids"),
        ("group_ids=" + ",".join(str(uuid4()) for _ in range(101)), "group_ids"),
        ("after=x", "after"),
    ],
)
async def test_bad_group_queries_are_400(api: Api, query: str, field: str):
    path = f"/api/v2/organizations/{api.world.organization}/groups/ai/spend?{query}"
    answer = error_of(await api.call("GET", path), 400)
    assert [v["field"] for v in answer["validations"]] == [field]


async def test_the_members_report_pages_by_user_id(api: Api):
    world = api.world
    everyone = world.organization
    path = f"/api/v2/groups/{everyone}/members/ai/spend"
    first = await api.call("GET", path, as_="org-admin")
    assert first.status_code == 200, first.text
    body = first.json()
    await_window(body)
    members = sorted(
        str(world.users[n]) for n in ("org-admin", "org-auditor", "teammate", "member")
    )
    assert [m["user_id"] for m in body["members"]] == members
    assert body["next"] is None
    assert set(body["members"][0]) == {
        "user_id",
        "effective_spend_limit_micros",
        "effective_limit_source",
        "effective_group_id",
        "current_spend_micros",
        "remaining_micros",
        "over_budget",
    }
    after = await api.call("GET", f"{path}?after={members[1]}")
    assert [m["user_id"] for m in after.json()["members"]] == members[2:]
    some = await api.call("GET", f"{path}?user_ids={members[3]},{members[0]}")
    assert [m["user_id"] for m in some.json()["members"]] == [members[0], members[3]]
    over = await api.call("GET", f"{path}?over_budget=true")
    assert over.json()["members"] == []
    error_of(await api.call("GET", path, as_="teammate"), 403)  # sees the group, not its report
    error_of(await api.call("GET", path, as_="stranger"), 404)
    error_of(await api.call("GET", f"{path}?over_budget=maybe"), 400)


async def test_a_full_page_has_a_next(api: Api, monkeypatch: pytest.MonkeyPatch):
    from aigov_http import _spend_routes  # noqa: PLC0415

    monkeypatch.setattr(_spend_routes, "PAGE", 2)
    path = f"/api/v2/groups/{api.world.organization}/members/ai/spend"
    members: list[str] = []
    cursor = ""
    for _ in range(4):
        page = (await api.call("GET", f"{path}{cursor}")).json()
        members += [m["user_id"] for m in page["members"]]
        if page["next"] is None:
            break
        cursor = f"?after={page['next']}"
    assert members == sorted(members)
    assert len(members) == 4


# -- the export ------------------------------------------------------------------------------------


async def test_the_export_streams_csv_and_json_lines(api: Api):
    world = api.world
    user = world.users["teammate"]
    record = api.sync.record_usage(user, "acme-ai", "echo-1", TokenUsage(input_tokens=3))
    day = record.day
    path = f"/api/v2/organizations/{world.organization}/ai/spend/export"
    window = f"start={day}&end={day + timedelta(days=1)}"
    as_csv = await api.call("GET", f"{path}?{window}", as_="org-auditor")
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["content-disposition"]
    assert list(csv.reader(io.StringIO(as_csv.text))) == [
        ["user_id", "group_id", "day", "spend_micros"],
        [str(user), str(world.organization), str(day), "3"],  # no team budget: Everyone's
    ]
    as_jsonl = await api.call("GET", f"{path}?{window}&format=jsonl", as_="owner")
    assert [json.loads(line) for line in as_jsonl.text.splitlines()] == [
        {
            "user_id": str(user),
            "group_id": str(world.organization),
            "day": str(day),
            "spend_micros": 3,
        }
    ]
    empty = await api.call("GET", f"{path}?start=2020-01-01&end=2020-01-02&format=jsonl")
    assert (empty.status_code, empty.text) == (200, "")
    for denied, status in (("teammate", 403), ("stranger", 404), ("nobody", 401)):
        error_of(await api.call("GET", f"{path}?{window}", as_=denied), status)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("start=2026-01-01&end=2026-02-02", "end"),  # 32 days
        ("start=2026-01-02&end=2026-01-01", "end"),
        ("start=2026-01-01", "end"),
        ("start=yesterday&end=2026-01-01", "start"),
        ("start=2026-01-01&end=2026-01-02&format=xlsx", "format"),
    ],
)
async def test_bad_exports_are_400(api: Api, query: str, field: str):
    path = f"/api/v2/organizations/{api.world.organization}/ai/spend/export?{query}"
    answer = error_of(await api.call("GET", path), 400)
    assert field in [v["field"] for v in answer["validations"]]


async def test_an_export_of_31_days_is_allowed(api: Api):
    start = date(2026, 1, 1)
    end = start + timedelta(days=MAX_EXPORT_DAYS)
    path = f"/api/v2/organizations/{api.world.organization}/ai/spend/export"
    response = await api.call("GET", f"{path}?start={start}&end={end}")
    assert response.status_code == 200, response.text


async def test_the_export_route_escapes_what_a_spreadsheet_would_run(
    api: Api, monkeypatch: pytest.MonkeyPatch
):
    """The store's rows are ids, days and amounts; should a cell ever begin with a formula
    character, the route writes it escaped."""

    async def rows(*args: object, **kwargs: object) -> AsyncIterator[str]:
        yield "user_id,group_id,day,spend_micros\r\n"
        yield '=HYPERLINK("x"),+1,-2,@SUM(A1)\r\n'

    monkeypatch.setattr(api.gov, "export_organization_spend", rows)
    path = f"/api/v2/organizations/{api.world.organization}/ai/spend/export"
    response = await api.call("GET", f"{path}?start=2026-01-01&end=2026-01-02")
    assert response.status_code == 200, response.text
    assert list(csv.reader(io.StringIO(response.text)))[1] == [
        '\'=HYPERLINK("x")',
        "'+1",
        "'-2",
        "'@SUM(A1)",
    ]


def test_csv_cells_a_spreadsheet_would_run_are_escaped():
    from aigov_http._spend_routes import _escaped  # noqa: PLC0415

    assert _escaped("a,b,2026-01-01,5\r\n") == "a,b,2026-01-01,5\r\n"
    assert _escaped("=SUM(A1),+1,-2,@x\r\n") == "'=SUM(A1),'+1,'-2,'@x\r\n"
    assert _escaped('"=a,b",c\r\n') == '"\'=a,b",c\r\n'
    assert _escaped("\tx,y\r\n") == "'\tx,y\r\n"


# -- prices ----------------------------------------------------------------------------------------


async def test_custom_prices_are_set_all_or_nothing_and_deleted(api: Api):
    path = "/api/experimental/ai/model-prices"
    good = {"provider": "self", "model": "llama/70b", "input_price_micros": 5}
    before = api.snapshot()
    bad = await api.call(
        "POST",
        path,
        as_="owner",
        json={"prices": [good, {**good, "model": "x", "output_price_micros": -1}]},
    )
    answer = error_of(bad, 400)
    assert [v["field"] for v in answer["validations"]] == ["prices[1].output_price_micros"]
    twice = await api.call("POST", path, as_="owner", json={"prices": [good, good]})
    error_of(twice, 400)
    error_of(await api.call("POST", path, as_="org-admin", json={"prices": [good]}), 403)
    assert api.snapshot() == before

    stored = await api.call("POST", path, as_="owner", json={"prices": [good]})
    assert stored.status_code == 200, stored.text
    assert stored.json() == {
        "prices": [
            {
                "provider": "self",
                "model": "llama/70b",
                "source": "custom",
                "input_price_micros": 5,
                "output_price_micros": None,
                "cache_read_price_micros": None,
                "cache_write_price_micros": None,
            }
        ]
    }
    listed = await api.call("GET", f"{path}?provider=self&source=custom", as_=None)
    assert listed.json() == stored.json()
    error_of(await api.call("DELETE", f"{path}/self/llama/70b", as_="auditor"), 403)
    assert (await api.call("DELETE", f"{path}/self/llama/70b", as_="owner")).status_code == 204
    error_of(await api.call("DELETE", f"{path}/self/llama/70b", as_="owner"), 404)
    error_of(await api.call("GET", f"{path}?source=cheapest"), 400)


# -- the feature gate and the store ----------------------------------------------------------------


async def test_without_the_entitlement_governed_routes_are_403(http_store):
    import httpx2  # noqa: PLC0415

    from aigov import AsyncGovernance, Governance  # noqa: PLC0415
    from aigov_http import create_app  # noqa: PLC0415
    from tests.http.conftest import World, actor_of  # noqa: PLC0415

    world = World()
    world.build(Governance(http_store, entitlements={"ai_governance"}))
    gov = AsyncGovernance(http_store, entitlements=set())
    transport = httpx2.ASGITransport(app=create_app(gov, actor=actor_of(world)))
    async with httpx2.AsyncClient(transport=transport, base_url="http://aigov") as client:
        budget = await client.get(
            f"/api/v2/groups/{world.team}/ai/budget", headers={"X-Actor": "system"}
        )
        prices = await client.get("/api/experimental/ai/model-prices")
    await gov.aclose()
    error_of(budget, 403)
    assert prices.status_code == 200  # price reads are not gated
