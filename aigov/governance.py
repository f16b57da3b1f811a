"""``Governance``: the public face of aigov, for callers that wait by blocking.

Every call validates its input, checks who may make it, and then does its work in one unit of work
of the store, so that a caller never half-applies a change and never reaches what it may not. The
calls are written once (``aigov._facade.Calls``, one module per concern); ``AsyncGovernance`` is
this class's twin for asyncio.
"""

from __future__ import annotations

from aigov._facade import Calls, Facade, blocking_method
from aigov._service import AI_GOVERNANCE, PriceListing

__all__ = ["AI_GOVERNANCE", "Governance", "PriceListing"]


class Governance(Facade):
    __doc__ = Facade.__doc__

    create_organization = blocking_method(Calls.create_organization)
    update_organization = blocking_method(Calls.update_organization)
    delete_organization = blocking_method(Calls.delete_organization)
    get_organization = blocking_method(Calls.get_organization)
    list_organizations = blocking_method(Calls.list_organizations)
    create_user = blocking_method(Calls.create_user)
    delete_user = blocking_method(Calls.delete_user)
    get_user = blocking_method(Calls.get_user)
    list_users = blocking_method(Calls.list_users)
    add_organization_member = blocking_method(Calls.add_organization_member)
    set_organization_member_roles = blocking_method(Calls.set_organization_member_roles)
    remove_organization_member = blocking_method(Calls.remove_organization_member)
    get_organization_member = blocking_method(Calls.get_organization_member)
    list_organization_members = blocking_method(Calls.list_organization_members)
    create_group = blocking_method(Calls.create_group)
    delete_group = blocking_method(Calls.delete_group)
    get_group = blocking_method(Calls.get_group)
    list_groups = blocking_method(Calls.list_groups)
    add_group_member = blocking_method(Calls.add_group_member)
    remove_group_member = blocking_method(Calls.remove_group_member)
    list_group_members = blocking_method(Calls.list_group_members)
    list_user_groups = blocking_method(Calls.list_user_groups)
    is_group_member = blocking_method(Calls.is_group_member)
    apply_price_book = blocking_method(Calls.apply_price_book)
    get_model_price = blocking_method(Calls.get_model_price)
    list_model_prices = blocking_method(Calls.list_model_prices)
    set_custom_price = blocking_method(Calls.set_custom_price)
    set_custom_prices = blocking_method(Calls.set_custom_prices)
    delete_custom_price = blocking_method(Calls.delete_custom_price)
    audit_log = blocking_method(Calls.audit_log)
    get_group_budget = blocking_method(Calls.get_group_budget)
    upsert_group_budget = blocking_method(Calls.upsert_group_budget)
    delete_group_budget = blocking_method(Calls.delete_group_budget)
    get_user_budget_override = blocking_method(Calls.get_user_budget_override)
    upsert_user_budget_override = blocking_method(Calls.upsert_user_budget_override)
    delete_user_budget_override = blocking_method(Calls.delete_user_budget_override)
    current_period = blocking_method(Calls.current_period)
    effective_budget = blocking_method(Calls.effective_budget)
    spend_status = blocking_method(Calls.spend_status)
    record_usage = blocking_method(Calls.record_usage)
    pending_budget_events = blocking_method(Calls.pending_budget_events)
    ack_budget_events = blocking_method(Calls.ack_budget_events)
    reserve = blocking_method(Calls.reserve)
    reserve_for = blocking_method(Calls.reserve_for)
    settle = blocking_method(Calls.settle)
    release = blocking_method(Calls.release)
    group_summary = blocking_method(Calls.group_summary)
    group_summary_of = blocking_method(Calls.group_summary_of)
    group_members_report = blocking_method(Calls.group_members_report)
    export_organization_spend = blocking_method(Calls.export_organization_spend)
