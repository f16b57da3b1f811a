"""The audit log (SPEC §10): one entry per change, written in the same transaction as the change.

Entries record *values*, not rows: a budget's ``{group_id, spend_limit_micros}``, an override's
``{user_id, group_id, spend_limit_micros}``, a price's provider, model and four prices; a seed's
entry holds its counts and changed keys. The log has no foreign keys, so an entry outlives what
it describes.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
)

from aigov.actor import Actor
from aigov.budgets import GroupAIBudget, UserAIBudgetOverride
from aigov.directory import storable_text
from aigov.money import MAX_MICROS
from aigov.prices import PRICE_FIELDS, ModelPrice, SeedResult

__all__ = [
    "AuditAction",
    "AuditEntry",
    "AuditFilter",
    "AuditRecord",
    "ResourceType",
    "actor_label",
    "audit_values",
    "change_record",
    "price_resource_id",
    "seed_record",
]

AuditAction = Literal["create", "update", "delete", "seed", "cascade_delete"]
ResourceType = Literal["group_budget", "user_budget_override", "custom_price", "price_book"]


class AuditRecord(BaseModel):
    """An entry before the store numbers it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: AwareDatetime
    actor: str
    action: AuditAction
    resource_type: ResourceType
    resource_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditEntry(AuditRecord):
    """A stored entry; ``id`` increases with every entry a store writes (the paging key)."""

    id: int


Text = Annotated[
    str, StringConstraints(strict=True, max_length=1000), AfterValidator(storable_text)
]
Position = Annotated[int, Strict(), Field(ge=0, le=MAX_MICROS)]


class AuditFilter(BaseModel):
    """Which entries to read: all given conditions hold; ``after`` is the last id already seen."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    resource_type: ResourceType | None = None
    resource_id: Text | None = None
    actor: Text | None = None
    since: AwareDatetime | None = None
    after: Position | None = None
    limit: Annotated[int, Strict(), Field(ge=1)] = 100


def actor_label(actor: Actor | UUID | None) -> str:
    """How an entry names who acted: ``system``, or ``user:<id>``. (Other SQL writers are named
    ``sql:<role>`` by the database itself.)"""
    if isinstance(actor, Actor):
        actor = actor.user_id
    return "system" if actor is None else f"user:{actor}"


def price_resource_id(provider: str, model: str) -> str:
    """An unambiguous id for a model's price: the JSON array ``["provider", "model"]``."""
    return json.dumps([provider, model])


def audit_values(
    row: GroupAIBudget | UserAIBudgetOverride | ModelPrice | None,
) -> dict[str, Any] | None:
    """The values an entry records for a row (none of its timestamps)."""
    if row is None:
        return None
    if isinstance(row, GroupAIBudget):
        return {"group_id": str(row.group_id), "spend_limit_micros": row.spend_limit_micros}
    if isinstance(row, UserAIBudgetOverride):
        return {
            "user_id": str(row.user_id),
            "group_id": str(row.group_id),
            "spend_limit_micros": row.spend_limit_micros,
        }
    return {"provider": row.provider, "model": row.model} | row.model_dump(
        include=set(PRICE_FIELDS)
    )


def change_record(
    *,
    at: datetime,
    actor: str,
    resource_type: ResourceType,
    resource_id: str,
    before: GroupAIBudget | UserAIBudgetOverride | ModelPrice | None,
    after: GroupAIBudget | UserAIBudgetOverride | ModelPrice | None,
    cascade: bool = False,
) -> AuditRecord:
    """The entry for one change: create (nothing before), delete (nothing after), or update."""
    action: AuditAction = (
        "cascade_delete"
        if cascade
        else "create"
        if before is None
        else "delete"
        if after is None
        else "update"
    )
    return AuditRecord(
        at=at,
        actor=actor,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        before=audit_values(before),
        after=audit_values(after),
    )


def seed_record(*, at: datetime, actor: str, result: SeedResult) -> AuditRecord:
    """The entry of one seed application: its counts and the keys it changed."""
    return AuditRecord(
        at=at,
        actor=actor,
        action="seed",
        resource_type="price_book",
        resource_id="pricebook",
        before=None,
        after={
            "inserted": result.inserted,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "inserted_keys": [list(key) for key in result.inserted_keys],
            "updated_keys": [list(key) for key in result.updated_keys],
        },
    )
