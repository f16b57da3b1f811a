"""aigov: AI spend governance as a library.

What does this model cost, who pays for it, how much may this person still spend, and who may change
that: the rules are pure functions and pydantic models here; stores (``aigov_memory``,
``aigov_postgres``) keep the state, and ``Governance`` is the facade a service calls.
"""

from aigov.actor import SITE_ROLES, Actor, SiteRole
from aigov.async_governance import AsyncGovernance
from aigov.audit import AuditEntry
from aigov.budgets import GroupAIBudget, UserAIBudgetOverride
from aigov.clock import Clock, system_clock
from aigov.cost import Cost, TokenUsage
from aigov.directory import (
    EVERYONE_GROUP_NAME,
    ORGANIZATION_ROLES,
    Group,
    GroupMember,
    Organization,
    OrganizationMember,
    OrganizationRole,
    User,
)
from aigov.exceptions import (
    AigovError,
    AmountOutOfRangeError,
    BudgetExceededError,
    ConflictError,
    DirectoryRuleError,
    FeatureDisabledError,
    ForbiddenError,
    InvalidInputError,
    MembershipInvariantError,
    NotFoundError,
    PolicyViolationError,
    StorageError,
    TransientError,
    UnknownPriceError,
)
from aigov.governance import AI_GOVERNANCE, Governance
from aigov.ports import Store, StoreSnapshot, UnitOfWork
from aigov.prices import ModelPrice, SeedResult
from aigov.resolution import EffectiveBudget
from aigov.settings import GovernanceSettings
from aigov.spend import Reservation, UsageRecord

__version__ = "0.1.0.dev0"

__all__ = [
    "AI_GOVERNANCE",
    "EVERYONE_GROUP_NAME",
    "ORGANIZATION_ROLES",
    "SITE_ROLES",
    "Actor",
    "AigovError",
    "AmountOutOfRangeError",
    "AsyncGovernance",
    "AuditEntry",
    "BudgetExceededError",
    "Clock",
    "ConflictError",
    "Cost",
    "DirectoryRuleError",
    "EffectiveBudget",
    "FeatureDisabledError",
    "ForbiddenError",
    "Governance",
    "GovernanceSettings",
    "Group",
    "GroupAIBudget",
    "GroupMember",
    "InvalidInputError",
    "MembershipInvariantError",
    "ModelPrice",
    "NotFoundError",
    "Organization",
    "OrganizationMember",
    "OrganizationRole",
    "PolicyViolationError",
    "Reservation",
    "SeedResult",
    "SiteRole",
    "StorageError",
    "Store",
    "StoreSnapshot",
    "TokenUsage",
    "TransientError",
    "UnitOfWork",
    "UnknownPriceError",
    "UsageRecord",
    "User",
    "UserAIBudgetOverride",
    "__version__",
    "system_clock",
]
