"""aigov for LiteLLM (SPEC §15): exact budgets around ``litellm.acompletion``, the Router and
the proxy, as one callback.

``AigovCallback(gov)`` over an ``AsyncGovernance``, registered with ``litellm.callbacks``
(or the proxy's ``callbacks:``), holds each chat completion's worst case before the provider
is called, settles what the response used, and releases what a failure did not spend. Over
budget is ``litellm.BudgetExceededError``; a request aigov cannot govern is
``RequestRefusedError`` (a ``litellm.BadRequestError``).
"""

from aigov_litellm._callback import AigovCallback, UserOf, default_user_of
from aigov_litellm._errors import RefusalReason, RequestRefusedError
from aigov_litellm._models import PROVIDERS, ModelKey, ModelMap, price_book_key
from aigov_litellm._usage import token_usage_of

__all__ = [
    "PROVIDERS",
    "AigovCallback",
    "ModelKey",
    "ModelMap",
    "RefusalReason",
    "RequestRefusedError",
    "UserOf",
    "default_user_of",
    "price_book_key",
    "token_usage_of",
]
