"""Upstream wire adapters: Anthropic Messages and OpenAI Chat Completions, both ways.

`get_provider(kind)` returns a new adapter. Its owner (a Dispatcher, one per gateway app) keeps
it for its lifetime: an adapter caches per-deployment constants (URL, auth headers holding the
API key), so a process-wide instance would keep every app's deployments and keys alive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tierwise.providers.base import Provider

PROVIDER_KINDS = ("anthropic", "openai")


def get_provider(kind: str) -> Provider:
    """A new adapter for a deployment's `provider` ("anthropic" | "openai"); cache it yourself."""
    if kind == "anthropic":
        from tierwise.providers.anthropic import AnthropicProvider

        return AnthropicProvider()
    if kind == "openai":
        from tierwise.providers.openai import OpenAIProvider

        return OpenAIProvider()
    raise ValueError(f"unknown provider {kind!r}; expected one of: {', '.join(PROVIDER_KINDS)}")
