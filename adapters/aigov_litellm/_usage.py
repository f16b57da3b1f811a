"""What a LiteLLM response used, as aigov's ``TokenUsage`` (SPEC §15).

LiteLLM reports OpenAI's shape for every provider: ``prompt_tokens`` counts the whole prompt,
cached reads and cache writes included (it adds Anthropic's ``cache_read_input_tokens`` and
``cache_creation_input_tokens`` into it), and ``prompt_tokens_details`` says how much of it was
read from the cache (``cached_tokens``) or written to it (``cache_write_tokens``, mirrored as
``cache_creation_tokens``). Each kind is priced apart, so each is counted once: input is what
remains of the prompt.
"""

from __future__ import annotations

from typing import Any

from aigov import TokenUsage

__all__ = ["token_usage_of"]


def _count(value: object) -> int:
    """A token count LiteLLM reported, or 0 for one it did not (None, absent, not an int)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _field(source: object, name: str) -> object:
    """``source.name`` or ``source[name]``: LiteLLM's objects answer both, a plain dict one."""
    if isinstance(source, dict):
        return source.get(name)
    return getattr(source, name, None)


def token_usage_of(response: Any) -> TokenUsage | None:
    """The usage a response reports, or None when it reports none (a provider that sends no
    usage, a stream asked without it)."""
    usage = _field(response, "usage")
    if usage is None:
        return None
    details = _field(usage, "prompt_tokens_details")
    cache_read = _count(_field(details, "cached_tokens")) or _count(
        _field(usage, "cache_read_input_tokens")
    )
    cache_write = (
        _count(_field(details, "cache_write_tokens"))
        or _count(_field(details, "cache_creation_tokens"))
        or _count(_field(usage, "cache_creation_input_tokens"))
    )
    prompt = _count(_field(usage, "prompt_tokens"))
    return TokenUsage(
        input_tokens=max(0, prompt - cache_read - cache_write),
        output_tokens=_count(_field(usage, "completion_tokens")),
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
    )
