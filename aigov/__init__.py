"""aigov: AI spend governance as a library.

What does this model cost, who pays for it, how much may this person still spend, and who may change
that: the rules are pure functions and pydantic models here; stores (``aigov_memory``,
``aigov_postgres``) keep the state, and ``Governance`` is the facade a service calls.
"""

from aigov.actor import SITE_ROLES, Actor, SiteRole
from aigov.clock import Clock, system_clock
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
from aigov.ports import Store, UnitOfWork

__version__ = "0.1.0.dev0"

__all__ = [
    "AI_GOVERNANCE",
    "EVERYONE_GROUP_NAME",
    "ORGANIZATION_ROLES",
    "SITE_ROLES",
    "Actor",
    "AigovError",
    "AmountOutOfRangeError",
    "BudgetExceededError",
    "Clock",
    "ConflictError",
    "DirectoryRuleError",
    "FeatureDisabledError",
    "ForbiddenError",
    "Governance",
    "Group",
    "GroupMember",
    "InvalidInputError",
    "MembershipInvariantError",
    "NotFoundError",
    "Organization",
    "OrganizationMember",
    "OrganizationRole",
    "PolicyViolationError",
    "SiteRole",
    "StorageError",
    "Store",
    "TransientError",
    "UnitOfWork",
    "UnknownPriceError",
    "User",
    "__version__",
    "system_clock",
]
