"""Which price-book row a LiteLLM model is priced by (SPEC §15): ``(provider, model)``.

LiteLLM names a model ``provider/model`` (``anthropic/claude-haiku-4-5``), or by its bare name
when it can tell the provider (``gpt-4o-mini``), or with ``custom_llm_provider``; it strips the
prefix itself (``litellm.get_llm_provider``). Its provider ids are not models.dev's, which the
price book uses (``gemini`` is ``google`` there, ``bedrock`` is ``amazon-bedrock``): ``PROVIDERS``
translates the ones whose model ids are the same on both sides, and any other provider keeps
LiteLLM's name (a custom price can be set under it). A deployment's own names (an Azure
deployment, a Router's or proxy's model group) go in ``model_map``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from litellm.exceptions import BadRequestError
from litellm.litellm_core_utils.get_llm_provider_logic import get_llm_provider

__all__ = ["PROVIDERS", "ModelKey", "ModelMap", "check_model_map", "price_book_key"]

ModelKey = tuple[str, str]
"""``(provider, model)`` as the price book names them."""

ModelMap = Mapping[str, ModelKey]
"""A LiteLLM model name, as a request or a deployment gives it, to its price-book key."""

PROVIDERS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "anthropic": "anthropic",
        "azure": "azure",
        "bedrock": "amazon-bedrock",
        "cerebras": "cerebras",
        "cohere": "cohere",
        "cohere_chat": "cohere",
        "deepseek": "deepseek",
        "fireworks_ai": "fireworks-ai",
        "gemini": "google",
        "groq": "groq",
        "mistral": "mistral",
        "openai": "openai",
        "openrouter": "openrouter",
        "perplexity": "perplexity",
        "text-completion-openai": "openai",
        "together_ai": "togetherai",
        "vertex_ai": "google-vertex",
        "xai": "xai",
    }
)
"""LiteLLM's provider id → the price book's (models.dev's), where they differ or are known to
agree; tests check every row against the models.dev catalogue."""


def check_model_map(model_map: Mapping[str, object] | None) -> ModelMap:
    """``model_map`` as given, once every key is a model name and every value a pair of
    non-empty strings; TypeError or ValueError naming the bad entry otherwise."""
    if model_map is None:
        return MappingProxyType({})
    if not isinstance(model_map, Mapping):
        raise TypeError(f"model_map must be a mapping, not {type(model_map).__name__}")
    checked: dict[str, ModelKey] = {}
    for name, key in model_map.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"model_map: {name!r} is not a model name")
        if (
            not isinstance(key, tuple)
            or len(key) != 2
            or not all(isinstance(part, str) and part for part in key)
        ):
            raise ValueError(f"model_map[{name!r}] must be a (provider, model) pair of strings")
        checked[name] = (key[0], key[1])
    return MappingProxyType(checked)


def price_book_key(
    model: str,
    custom_llm_provider: str | None = None,
    model_map: ModelMap | None = None,
    *,
    model_group: str | None = None,
) -> ModelKey | None:
    """The price-book key of a LiteLLM model, or None when LiteLLM cannot tell its provider.

    ``model_map`` is asked first: by the name as given, by the Router's model group the
    deployment serves (``model_group``), then as ``provider/model``. Else LiteLLM's provider,
    translated by ``PROVIDERS``, and the model without its prefix.
    """
    names = model_map or {}
    for name in (model, model_group):
        if name is not None and name in names:
            return names[name]
    try:
        bare, provider, _, _ = get_llm_provider(
            model=model, custom_llm_provider=custom_llm_provider
        )
    except BadRequestError:  # "LLM Provider NOT provided"
        return None
    if not provider or not bare:
        return None
    return names.get(f"{provider}/{bare}", (PROVIDERS.get(provider, provider), bare))
