"""Upstream wire adapters: Anthropic Messages and OpenAI Chat Completions, both ways.

`get_provider(kind)` returns one shared adapter per kind; adapters are stateless apart from a
cache of per-deployment constants, so sharing them across requests and dispatchers is safe.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tierwise.providers.base import Provider

PROVIDER_KINDS = ("anthropic", "openai")
_instances: dict[str, Provider] = {}


def get_provider(kind: str) -> Provider:
    """The adapter for a deployment's `provider` ("anthropic" | "openai")."""
    provider = _instances.get(kind)
    if provider is not None:
        return provider
    if kind == "anthropic":
        from tierwise.providers.anthropic import AnthropicProvider

        provider = AnthropicProvider()
    elif kind == "openai":
        from tierwise.providers.openai import OpenAIProvider

        provider = OpenAIProvider()
    else:
        raise ValueError(f"unknown provider {kind!r}; expected one of: {', '.join(PROVIDER_KINDS)}")
    _instances[kind] = provider
    return provider
