"""Budget, override and audit-log calls of ``Governance`` (SPEC §4, §5, §10)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from aigov._validation import as_uuid, validated
from aigov.actor import Actor
from aigov.audit import (
    AuditEntry,
    AuditFilter,
    ResourceType,
    actor_label,
)
from aigov.authorization import Need, NoFacts, authorize
from aigov.budgets import (
    GroupAIBudget,
    UserAIBudgetOverride,
    plan_group_budget,
    plan_override,
)
from aigov.ports import UnitOfWork

__all__ = ["BudgetCalls"]

from aigov._service import (  # the facade's private helpers, shared by its parts
    Call,
    Service,
    _amount_micros,
    _authorize,
    _check_actor,
    _found,
    _page_size,
)


class BudgetCalls(Service):
    # -- the audit log ---------------------------------------------------------------------------

    def audit_log(
        self,
        actor: Actor,
        *,
        resource_type: ResourceType | None = None,
        resource_id: str | None = None,
        actor_id: UUID | str | None = None,
        since: datetime | None = None,
        after: int | None = None,
        limit: int = 100,
    ) -> Call[Sequence[AuditEntry]]:
        """Audit entries, oldest first, at most ``limit`` (1 … 1000) per page; pass the last
        entry's ``id`` as ``after`` for the next page. Filters: the resource, who acted
        (a user id, ``"system"``, or ``"sql:<role>"`` for another SQL writer's cascades), and
        entries at or after ``since``. Needs the owner or
        auditor role."""
        label = None
        if isinstance(actor_id, str) and (actor_id == "system" or actor_id.startswith("sql:")):
            label = actor_id
        elif actor_id is not None:
            label = actor_label(as_uuid(actor_id, "actor_id"))
        query = validated(
            AuditFilter,
            resource_type=resource_type,
            resource_id=resource_id,
            actor=label,
            since=since,
            after=after,
            limit=_page_size(limit, at_most=1000),
        )
        _check_actor(actor)
        authorize(actor, "read the audit log", [Need("read_audit_log")], NoFacts())
        return (yield from self._run(lambda uow: uow.audit.list_audit(query)))

    def get_group_budget(self, actor: Actor, group_id: UUID | str) -> Call[GroupAIBudget]:
        """The group's budget. NotFoundError when the group has none (no limit is enforced)."""
        yield from self._require_feature()
        key = as_uuid(group_id, "group_id")
        _check_actor(actor)

        def work(uow: UnitOfWork) -> GroupAIBudget:
            _authorize(uow, actor, "read the budget of", Need("read_group", key))
            return _found(uow.budgets.get_group_budget(key), "group budget", key)

        return (yield from self._run(work))

    def upsert_group_budget(
        self, actor: Actor, group_id: UUID | str, spend_limit_micros: int
    ) -> Call[GroupAIBudget]:
        """Create or replace the group's per-member limit (SPEC §4). Setting the same limit
        again writes nothing."""
        yield from self._require_feature()
        key = as_uuid(group_id, "group_id")
        limit = _amount_micros(spend_limit_micros, "spend_limit_micros")
        _check_actor(actor)
        now = self._now()

        def work(uow: UnitOfWork) -> GroupAIBudget:
            _authorize(uow, actor, "set the budget of", Need("update_group", key))
            uow.audit.lock_resource("group_budget", str(key))
            existing = uow.budgets.get_group_budget(key)
            planned = plan_group_budget(existing, key, limit, now)
            if planned is None:
                return _found(existing, "group budget", key)
            uow.budgets.put_group_budget(planned)
            self._audit(uow, actor, now, "group_budget", str(key), existing, planned)
            return planned

        return (yield from self._run(work, acting=actor, at=now))

    def delete_group_budget(self, actor: Actor, group_id: UUID | str) -> Call[GroupAIBudget]:
        """Delete the group's budget (no limit is enforced for it afterwards); return it."""
        yield from self._require_feature()
        key = as_uuid(group_id, "group_id")
        _check_actor(actor)
        now = self._now()

        def work(uow: UnitOfWork) -> GroupAIBudget:
            _authorize(uow, actor, "delete the budget of", Need("update_group", key))
            uow.audit.lock_resource("group_budget", str(key))
            deleted = uow.budgets.delete_group_budget(key)
            self._audit(uow, actor, now, "group_budget", str(key), deleted, None)
            return deleted

        return (yield from self._run(work, acting=actor, at=now))

    def get_user_budget_override(
        self, actor: Actor, user_id: UUID | str
    ) -> Call[UserAIBudgetOverride]:
        """The user's override. NotFoundError when there is none."""
        yield from self._require_feature()
        key = as_uuid(user_id, "user_id")
        _check_actor(actor)

        def work(uow: UnitOfWork) -> UserAIBudgetOverride:
            _authorize(uow, actor, "read the budget override of", Need("read_user", key))
            return _found(uow.budgets.get_override(key), "override", key)

        return (yield from self._run(work))

    def upsert_user_budget_override(
        self,
        actor: Actor,
        user_id: UUID | str,
        group_id: UUID | str,
        spend_limit_micros: int,
    ) -> Call[UserAIBudgetOverride]:
        """Create, replace or move the user's override: it supersedes group budgets for them and
        attributes their spend to ``group_id``, of which they must be a member (SPEC §5). Needs
        update rights on the user and on the group, and on the old group when it moves."""
        yield from self._require_feature()
        user_key = as_uuid(user_id, "user_id")
        group_key = as_uuid(group_id, "group_id")
        limit = _amount_micros(spend_limit_micros, "spend_limit_micros")
        _check_actor(actor)
        now = self._now()

        def work(uow: UnitOfWork) -> UserAIBudgetOverride:
            uow.audit.lock_resource("user_budget_override", str(user_key))
            existing = uow.budgets.get_override(user_key)
            needs = [Need("update_user", user_key), Need("update_group", group_key)]
            if existing is not None and existing.group_id != group_key:
                needs.append(Need("update_group", existing.group_id))
            _authorize(uow, actor, "set the budget override of", *needs)
            planned = plan_override(existing, user_key, group_key, limit, now)
            if planned is None:
                return _found(existing, "override", user_key)
            uow.budgets.put_override(planned)
            self._audit(uow, actor, now, "user_budget_override", str(user_key), existing, planned)
            return planned

        return (yield from self._run(work, acting=actor, at=now))

    def delete_user_budget_override(
        self, actor: Actor, user_id: UUID | str
    ) -> Call[UserAIBudgetOverride]:
        """Delete the user's override and return it; group budgets apply to them again. Needs
        update rights on the user and on the override's group (read first to learn it)."""
        yield from self._require_feature()
        key = as_uuid(user_id, "user_id")
        _check_actor(actor)
        now = self._now()

        def work(uow: UnitOfWork) -> UserAIBudgetOverride:
            uow.audit.lock_resource("user_budget_override", str(key))
            existing = uow.budgets.get_override(key)
            needs = [Need("update_user", key)]
            if existing is not None:
                needs.append(Need("update_group", existing.group_id))
            _authorize(uow, actor, "delete the budget override of", *needs)
            deleted = uow.budgets.delete_override(_found(existing, "override", key).user_id)
            self._audit(uow, actor, now, "user_budget_override", str(key), deleted, None)
            return deleted

        return (yield from self._run(work, acting=actor, at=now))
