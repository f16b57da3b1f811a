"""The LLM the gateway calls: a protocol a real client implements, and a deterministic fake.

The gateway needs two things from a provider: a token count of the prompt before the call (to
reserve the worst case) and the usage the call really had (to settle it). Providers offer both
(a token-counting endpoint or a local tokenizer, and usage on every response). The call is a
coroutine, as a provider's async SDK makes it; the count is a plain call, as a local tokenizer
makes it (a token-counting endpoint would make it a coroutine too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from aigov import TokenUsage

__all__ = ["LLM", "Completion", "EchoLLM", "LLMError"]


@dataclass(frozen=True)
class Completion:
    """A finished call: the reply, and the tokens the provider bills for it."""

    text: str
    usage: TokenUsage


class LLMError(Exception):
    """Raised by an ``LLM`` when the provider call fails (timeout, 5xx, refused request) and no
    tokens were billed, so the gateway releases the hold instead of settling it."""


class LLM(Protocol):
    """What the gateway calls; a real implementation wraps a provider's async SDK."""

    def count_tokens(self, provider: str, model: str, prompt: str) -> int:
        """How many input tokens the prompt is for this model."""
        ...

    async def complete(self, provider: str, model: str, prompt: str, max_tokens: int) -> Completion:
        """Run the prompt, writing at most ``max_tokens``; LLMError when the call fails."""
        ...


class EchoLLM:
    """A deterministic stand-in for a provider: one token per word, and the prompt's words back
    as the reply, cut at ``max_tokens``. The same request always costs the same."""

    def count_tokens(self, provider: str, model: str, prompt: str) -> int:
        return max(1, len(prompt.split()))

    async def complete(self, provider: str, model: str, prompt: str, max_tokens: int) -> Completion:
        words = prompt.split()[:max_tokens]
        usage = TokenUsage(
            input_tokens=self.count_tokens(provider, model, prompt), output_tokens=len(words)
        )
        return Completion(text=" ".join(words), usage=usage)
