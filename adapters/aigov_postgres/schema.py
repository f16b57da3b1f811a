"""The tables the store queries, declared once with SQLAlchemy Core.

The DDL itself (tables, constraints, functions, triggers) lives in the versioned SQL migrations
beside this module; a test checks that every column declared here is what a migrated database has.
Tables carry no schema: the store maps them into its own with ``schema_translate_map``.
"""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB

__all__ = [
    "audit_log",
    "budget_events",
    "daily_spend",
    "governance_settings",
    "group_ai_budgets",
    "group_members",
    "group_members_expanded",
    "groups",
    "metadata",
    "model_prices",
    "organization_members",
    "organizations",
    "reservations",
    "schema_migrations",
    "spend_counters",
    "usage_records",
    "user_ai_budget_overrides",
    "users",
]

metadata = MetaData(
    naming_convention={
        "pk": "%(table_name)s_pkey",
        "fk": "%(table_name)s_%(column_0_name)s_fkey",
        "uq": "%(table_name)s_%(column_0_N_name)s_key",
        "ix": "%(table_name)s_%(column_0_N_name)s_idx",
        "ck": "%(table_name)s_%(constraint_name)s",
    }
)


_KINDS = ("input", "output", "cache_read", "cache_write")


def _timestamp(name: str) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=False)


schema_migrations = Table(
    "ai_schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False),
    _timestamp("applied_at"),
)

organizations = Table(
    "organizations",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", Text, nullable=False),
    Column("is_default", Boolean, nullable=False),
    Column("deleted", Boolean, nullable=False),
    _timestamp("created_at"),
)

users = Table(
    "users",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("username", Text, nullable=False),
    _timestamp("created_at"),
)

organization_members = Table(
    "organization_members",
    metadata,
    Column("user_id", Uuid, nullable=False),
    Column("organization_id", Uuid, nullable=False),
    Column("roles", ARRAY(Text), nullable=False),
    _timestamp("created_at"),
    PrimaryKeyConstraint("organization_id", "user_id"),
)

groups = Table(
    "groups",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("name", Text, nullable=False),
)

group_members = Table(
    "group_members",
    metadata,
    Column("user_id", Uuid, nullable=False),
    Column("group_id", Uuid, nullable=False),
    Column("organization_id", Uuid, nullable=False),
    PrimaryKeyConstraint("group_id", "user_id"),
)

model_prices = Table(
    "ai_model_prices",
    metadata,
    Column("provider", Text, nullable=False),
    Column("model", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("input_price", BigInteger),
    Column("output_price", BigInteger),
    Column("cache_read_price", BigInteger),
    Column("cache_write_price", BigInteger),
    _timestamp("created_at"),
    _timestamp("updated_at"),
    PrimaryKeyConstraint("provider", "model", "source"),
)

group_ai_budgets = Table(
    "group_ai_budgets",
    metadata,
    Column("group_id", Uuid, primary_key=True),
    Column("spend_limit_micros", BigInteger, nullable=False),
    _timestamp("created_at"),
    _timestamp("updated_at"),
)

user_ai_budget_overrides = Table(
    "user_ai_budget_overrides",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("group_id", Uuid, nullable=False),
    Column("spend_limit_micros", BigInteger, nullable=False),
    _timestamp("created_at"),
    _timestamp("updated_at"),
)

audit_log = Table(
    "ai_audit_log",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    _timestamp("at"),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("resource_type", Text, nullable=False),
    Column("resource_id", Text, nullable=False),
    Column("before", JSONB),
    Column("after", JSONB),
)

governance_settings = Table(
    "ai_governance_settings",
    metadata,
    Column("singleton", Boolean, primary_key=True),
    Column("settings", JSONB, nullable=False),
    _timestamp("created_at"),
)

usage_records = Table(
    "ai_usage_records",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", Uuid, nullable=False),
    Column("effective_group_id", Uuid, nullable=False),
    Column("organization_id", Uuid, nullable=False),
    Column("provider", Text, nullable=False),
    Column("model", Text, nullable=False),
    *(Column(f"{kind}_tokens", BigInteger, nullable=False) for kind in _KINDS),
    Column("price_source", Text),
    *(Column(f"{kind}_price", BigInteger) for kind in _KINDS),
    Column("cost_micros", BigInteger, nullable=False),
    Column("unpriced_kinds", ARRAY(Text), nullable=False),
    _timestamp("at"),
    Column("day", Date, nullable=False),
    _timestamp("period_start"),
    Column("idempotency_key", Text),
    Column("reservation_id", Uuid),
    Column("overrun_micros", BigInteger, nullable=False),
)

reservations = Table(
    "ai_spend_reservations",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", Uuid, nullable=False),
    Column("group_id", Uuid, nullable=False),
    _timestamp("period_start"),
    Column("amount_micros", BigInteger, nullable=False),
    _timestamp("expires_at"),
    _timestamp("created_at"),
    Column("state", Text, nullable=False),
)

daily_spend = Table(
    "ai_user_daily_spend",
    metadata,
    Column("user_id", Uuid, nullable=False),
    Column("effective_group_id", Uuid, nullable=False),
    Column("organization_id", Uuid, nullable=False),
    Column("day", Date, nullable=False),
    Column("spend_micros", BigInteger, nullable=False),
    PrimaryKeyConstraint("user_id", "effective_group_id", "day"),
)

spend_counters = Table(
    "ai_spend_counters",
    metadata,
    Column("user_id", Uuid, nullable=False),
    Column("group_id", Uuid, nullable=False),
    _timestamp("period_start"),
    Column("spent_micros", BigInteger, nullable=False),
    Column("held_micros", BigInteger, nullable=False),
    PrimaryKeyConstraint("user_id", "group_id", "period_start"),
)

budget_events = Table(
    "ai_budget_events",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", Uuid, nullable=False),
    Column("group_id", Uuid, nullable=False),
    _timestamp("period_start"),
    Column("percent", Integer, nullable=False),
    Column("limit_micros", BigInteger, nullable=False),
    Column("spent_micros", BigInteger, nullable=False),
    _timestamp("at"),
    Column("acknowledged", Boolean, nullable=False),
)

group_members_expanded = Table(
    "group_members_expanded",
    MetaData(),  # a view: queried, never created from here
    Column("user_id", Uuid),
    Column("group_id", Uuid),
    Column("organization_id", Uuid),
)
