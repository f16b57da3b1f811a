"""``AsyncGovernance``: ``Governance``'s twin for asyncio services (SPEC §13).

The same calls, with the same names, arguments, results and errors, as coroutines: each is the
plan ``Governance`` runs, with its steps awaited. On PostgreSQL the hot path's statements run on
psycopg's ``AsyncConnection`` and units of work on an async driver connection, so that no call
holds the event loop waiting on I/O. The seed, long by nature, runs on a worker thread; the export
reads its rows on one, a batch at a time.
"""

from __future__ import annotations

from types import TracebackType

from aigov._facade import (
    Calls,
    Facade,
    awaiting_method,
    streaming_method,
    threaded_method,
)

__all__ = ["AsyncGovernance"]


class AsyncGovernance(Facade):
    """The service facade over one store, for asyncio: ``Governance``'s twin.

    Takes what ``Governance`` takes. ``await gov.aclose()`` (or ``async with``) closes the store
    it was given, its sync and async connections alike.
    """

    async def aclose(self) -> None:
        """Close the store: afterwards the database sees no connection of it."""
        await self.store.aclose()

    async def __aenter__(self) -> AsyncGovernance:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    create_organization = awaiting_method(Calls.create_organization)
    update_organization = awaiting_method(Calls.update_organization)
    delete_organization = awaiting_method(Calls.delete_organization)
    get_organization = awaiting_method(Calls.get_organization)
    list_organizations = awaiting_method(Calls.list_organizations)
    create_user = awaiting_method(Calls.create_user)
    delete_user = awaiting_method(Calls.delete_user)
    get_user = awaiting_method(Calls.get_user)
    list_users = awaiting_method(Calls.list_users)
    add_organization_member = awaiting_method(Calls.add_organization_member)
    set_organization_member_roles = awaiting_method(Calls.set_organization_member_roles)
    remove_organization_member = awaiting_method(Calls.remove_organization_member)
    get_organization_member = awaiting_method(Calls.get_organization_member)
    list_organization_members = awaiting_method(Calls.list_organization_members)
    create_group = awaiting_method(Calls.create_group)
    delete_group = awaiting_method(Calls.delete_group)
    get_group = awaiting_method(Calls.get_group)
    list_groups = awaiting_method(Calls.list_groups)
    add_group_member = awaiting_method(Calls.add_group_member)
    remove_group_member = awaiting_method(Calls.remove_group_member)
    list_group_members = awaiting_method(Calls.list_group_members)
    list_user_groups = awaiting_method(Calls.list_user_groups)
    is_group_member = awaiting_method(Calls.is_group_member)
    apply_price_book = threaded_method(Calls.apply_price_book)
    get_model_price = awaiting_method(Calls.get_model_price)
    list_model_prices = awaiting_method(Calls.list_model_prices)
    set_custom_price = awaiting_method(Calls.set_custom_price)
    set_custom_prices = awaiting_method(Calls.set_custom_prices)
    delete_custom_price = awaiting_method(Calls.delete_custom_price)
    audit_log = awaiting_method(Calls.audit_log)
    get_group_budget = awaiting_method(Calls.get_group_budget)
    upsert_group_budget = awaiting_method(Calls.upsert_group_budget)
    delete_group_budget = awaiting_method(Calls.delete_group_budget)
    get_user_budget_override = awaiting_method(Calls.get_user_budget_override)
    upsert_user_budget_override = awaiting_method(Calls.upsert_user_budget_override)
    delete_user_budget_override = awaiting_method(Calls.delete_user_budget_override)
    current_period = awaiting_method(Calls.current_period)
    effective_budget = awaiting_method(Calls.effective_budget)
    spend_status = awaiting_method(Calls.spend_status)
    record_usage = awaiting_method(Calls.record_usage)
    pending_budget_events = awaiting_method(Calls.pending_budget_events)
    ack_budget_events = awaiting_method(Calls.ack_budget_events)
    reserve = awaiting_method(Calls.reserve)
    reserve_for = awaiting_method(Calls.reserve_for)
    settle = awaiting_method(Calls.settle)
    release = awaiting_method(Calls.release)
    group_summary = awaiting_method(Calls.group_summary)
    group_summary_of = awaiting_method(Calls.group_summary_of)
    group_members_report = awaiting_method(Calls.group_members_report)
    export_organization_spend = streaming_method(Calls.export_organization_spend)
