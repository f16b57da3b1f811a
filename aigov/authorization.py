"""Who may do what (SPEC §6.1). Decisions are pure functions of the actor and the facts."""

from __future__ import annotations

from aigov.actor import Actor

__all__ = ["may_manage_prices"]


def may_manage_prices(actor: Actor) -> bool:
    """Custom prices and seeds: the owner role, and the system."""
    return actor.is_system or "owner" in actor.site_roles
