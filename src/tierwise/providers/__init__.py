"""Upstream wire adapters: Anthropic Messages and OpenAI Chat Completions, both ways."""
