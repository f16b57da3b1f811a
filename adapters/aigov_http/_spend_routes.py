"""The spend routes of SPEC §14: a user's standing, group summaries, group-member reports and
the organization's export (streamed).

No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations when they
are declared, and ``Acting`` is local to ``add_spend_routes``."""

import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, timedelta
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from aigov import Actor, AsyncGovernance
from aigov_http._bodies import GroupsSpend, MembersSpend, OneGroupSpend, UserSpend
from aigov_http._query import MAX_EXPORT_DAYS, MAX_IDS, PAGE, ids_of, invalid

__all__ = ["add_spend_routes"]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""How a CSV cell that a spreadsheet would run as a formula begins."""


def add_spend_routes(
    router: APIRouter, gov: AsyncGovernance, acting: Callable[..., Awaitable[Actor]]
) -> None:
    Acting = Annotated[Actor, Depends(acting)]  # noqa: N806 - a type, local to these routes

    @router.get("/api/v2/users/{user}/ai/spend", tags=["spend"])
    async def get_user_spend(user: UUID, who: Acting) -> UserSpend:
        """Where the user stands this period: limit, spend, live holds and what remains."""
        return UserSpend.of(await gov.spend_status(who, user))

    @router.get("/api/v2/organizations/{organization}/groups/ai/spend", tags=["spend"])
    async def get_groups_spend(
        organization: UUID,
        who: Acting,
        group_ids: Annotated[
            str | None, Query(description=f"comma-separated group ids, at most {MAX_IDS}")
        ] = None,
        after: UUID | None = None,
    ) -> GroupsSpend:
        """The organization's groups (or those named), by group id after ``after``: budget,
        members, overrides and spend this period."""
        chosen = ids_of(group_ids, "group_ids")
        window = await gov.current_period()
        rows = await gov.group_summary(who, organization, group_ids=chosen, after=after)
        return GroupsSpend.of(window, rows, PAGE)

    @router.get("/api/v2/groups/{group}/ai/spend", tags=["spend"])
    async def get_group_spend(group: UUID, who: Acting) -> OneGroupSpend:
        """One group's budget, members, overrides and spend this period."""
        window = await gov.current_period()
        return OneGroupSpend.of_group(window, await gov.group_summary_of(who, group))

    @router.get("/api/v2/groups/{group}/members/ai/spend", tags=["spend"])
    async def get_members_spend(
        group: UUID,
        who: Acting,
        user_ids: Annotated[
            str | None, Query(description=f"comma-separated user ids, at most {MAX_IDS}")
        ] = None,
        over_budget: bool = False,
        after: UUID | None = None,
    ) -> MembersSpend:
        """The group's members (or those named), by user id after ``after``: each one's limit,
        where their spend goes, and what they spent and have left this period."""
        chosen = ids_of(user_ids, "user_ids")
        window = await gov.current_period()
        rows = await gov.group_members_report(
            who, group, over_budget_only=over_budget, user_ids=chosen, after=after
        )
        return MembersSpend.of(window, rows, PAGE)

    @router.get(
        "/api/v2/organizations/{organization}/ai/spend/export",
        tags=["spend"],
        response_class=StreamingResponse,
        responses={
            200: {
                "description": "daily spend rows, streamed",
                "content": {"text/csv": {}, "application/jsonl": {}},
            }
        },
    )
    async def export_spend(
        organization: UUID,
        who: Acting,
        start: date,
        end: date,
        format: Literal["csv", "jsonl"] = "csv",
    ) -> StreamingResponse:
        """The organization's daily spend for days in [start, end), at most 31 days, as CSV
        (cells a spreadsheet would run as a formula escaped) or JSON lines."""
        if end < start:
            raise invalid("end", f"end {end} is before start {start}")
        if end - start > timedelta(days=MAX_EXPORT_DAYS):
            raise invalid("end", f"at most {MAX_EXPORT_DAYS} days, not {(end - start).days}")
        rows = gov.export_organization_spend(who, organization, start=start, end=end, format=format)
        try:
            first = await anext(rows)  # input and rights are checked now, before the answer
        except StopAsyncIteration:
            first = None
        media = "text/csv; charset=utf-8" if format == "csv" else "application/jsonl"
        name = f"ai-spend-{organization}-{start}-{end}.{format}"
        return StreamingResponse(
            _streamed(first, rows, escape=format == "csv"),
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )


async def _streamed(
    first: str | None, rest: AsyncIterator[str], *, escape: bool
) -> AsyncIterator[str]:
    if first is None:
        return
    yield _escaped(first) if escape else first
    async for row in rest:
        yield _escaped(row) if escape else row


def _escaped(line: str) -> str:
    """A CSV line whose cells a spreadsheet would run as a formula (``= + - @``, tab, CR at
    the start) are prefixed with ``'`` (OWASP's advice); other lines unchanged."""
    if not any(cell.startswith(FORMULA_STARTS) for cell in line.split(",")) and '"' not in line:
        return line
    (cells,) = csv.reader([line])
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(
        f"'{cell}" if cell.startswith(FORMULA_STARTS) else cell for cell in cells
    )
    return buffer.getvalue()
