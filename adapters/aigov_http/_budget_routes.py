"""The budget routes of SPEC §14: group budgets and user overrides (the seed's paths too).

No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations when they
are declared, and ``Acting`` is local to ``add_budget_routes``."""

from collections.abc import Awaitable, Callable
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends

from aigov import Actor, AsyncGovernance, GroupAIBudget, UserAIBudgetOverride
from aigov_http._bodies import GroupBudgetChange, OverrideChange

__all__ = ["add_budget_routes"]


def add_budget_routes(
    router: APIRouter, gov: AsyncGovernance, acting: Callable[..., Awaitable[Actor]]
) -> None:
    Acting = Annotated[Actor, Depends(acting)]  # noqa: N806 - a type, local to these routes

    @router.get("/api/v2/groups/{group}/ai/budget", tags=["budgets"])
    async def get_group_budget(group: UUID, who: Acting) -> GroupAIBudget:
        """The group's per-member AI budget; 404 when it has none."""
        return await gov.get_group_budget(who, group)

    @router.put("/api/v2/groups/{group}/ai/budget", tags=["budgets"])
    async def put_group_budget(group: UUID, body: GroupBudgetChange, who: Acting) -> GroupAIBudget:
        """Create or replace the group's per-member AI budget."""
        return await gov.upsert_group_budget(who, group, body.spend_limit_micros)

    @router.delete("/api/v2/groups/{group}/ai/budget", status_code=204, tags=["budgets"])
    async def delete_group_budget(group: UUID, who: Acting) -> None:
        """Delete the group's AI budget: no limit applies through it afterwards."""
        await gov.delete_group_budget(who, group)

    async def get_override(user: UUID, who: Acting) -> UserAIBudgetOverride:
        """The user's AI budget override; 404 when they have none."""
        return await gov.get_user_budget_override(who, user)

    async def put_override(user: UUID, body: OverrideChange, who: Acting) -> UserAIBudgetOverride:
        """Create, replace or move the user's override: it supersedes their group budgets and
        attributes their spend to ``group_id``, a group of theirs."""
        return await gov.upsert_user_budget_override(
            who, user, body.group_id, body.spend_limit_micros
        )

    async def delete_override(user: UUID, who: Acting) -> None:
        """Delete the user's override: their group budgets apply again."""
        await gov.delete_user_budget_override(who, user)

    handlers = (
        ("GET", get_override, None),
        ("PUT", put_override, None),
        ("DELETE", delete_override, 204),
    )
    for path, name in (
        ("/api/v2/users/{user}/ai/budget/override", "override"),
        ("/api/v2/users/{user}/ai/budget", "budget"),  # the seed's path, the same handlers
    ):
        for method, handler, status in handlers:
            router.add_api_route(
                path,
                handler,
                methods=[method],
                status_code=status,
                operation_id=f"{method.lower()}_user_ai_{name}",
                tags=["budgets"],
            )
