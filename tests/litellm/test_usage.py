"""A response's usage as aigov's TokenUsage: every kind counted once, as LiteLLM reports it."""

from __future__ import annotations

from litellm.types.utils import ModelResponse, Usage

from aigov import TokenUsage
from aigov_litellm import token_usage_of


def response(usage: Usage | None) -> ModelResponse:
    reply = ModelResponse(choices=[{"message": {"role": "assistant", "content": "ok"}}])
    if usage is not None:  # a ModelResponse built without one has no usage attribute
        reply.usage = usage
    return reply


def test_openai_cached_tokens_are_cache_reads_inside_the_prompt():
    usage = Usage(
        prompt_tokens=2_000, completion_tokens=300, prompt_tokens_details={"cached_tokens": 1_536}
    )
    assert token_usage_of(response(usage)) == TokenUsage(
        input_tokens=464, output_tokens=300, cache_read_tokens=1_536
    )


def test_anthropic_cache_reads_and_writes_as_litellm_folds_them_into_the_prompt():
    """LiteLLM adds Anthropic's cache_read_input_tokens and cache_creation_input_tokens into
    prompt_tokens and keeps them apart in prompt_tokens_details."""
    usage = Usage(
        prompt_tokens=1_000,
        completion_tokens=50,
        cache_read_input_tokens=600,
        cache_creation_input_tokens=300,
    )
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cache_creation_tokens == 300
    assert token_usage_of(response(usage)) == TokenUsage(
        input_tokens=100, output_tokens=50, cache_read_tokens=600, cache_write_tokens=300
    )


def test_reasoning_tokens_are_output_as_completion_tokens_count_them():
    usage = Usage(prompt_tokens=10, completion_tokens=900, reasoning_tokens=800)
    assert token_usage_of(response(usage)) == TokenUsage(input_tokens=10, output_tokens=900)


def test_a_plain_dict_response_is_read_too():
    reply = {"usage": {"prompt_tokens": 7, "completion_tokens": 3, "prompt_tokens_details": None}}
    assert token_usage_of(reply) == TokenUsage(input_tokens=7, output_tokens=3)


def test_a_response_without_usage_reports_none():
    assert token_usage_of(response(None)) is None
    assert token_usage_of(None) is None


def test_counts_that_are_not_counts_are_zero():
    """Never negative: a prompt reported smaller than its cache parts leaves no input."""
    reply = {"usage": {"prompt_tokens": 5, "completion_tokens": None, "cache_read_input_tokens": 9}}
    assert token_usage_of(reply) == TokenUsage(cache_read_tokens=9)
    assert (
        token_usage_of({"usage": {"prompt_tokens": True, "completion_tokens": -4}}) == TokenUsage()
    )
