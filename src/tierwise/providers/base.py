"""The contract between dispatch and the wire adapters.

Canonical response and stream shapes follow the Anthropic Messages API's semantics (content
blocks, `stop_reason`, the message_start … message_stop event sequence); the OpenAI front end
and the OpenAI upstream adapter translate to and from them. One canonical form means each
direction of translation is written once.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from tierwise.types import ChatRequest, ContentBlock

if TYPE_CHECKING:
    import aiohttp

    from tierwise.config import DeploymentConfig

# Canonical stop reasons (Anthropic's names).
STOP_REASONS = ("end_turn", "max_tokens", "stop_sequence", "tool_use")


@dataclass(slots=True)
class Usage:
    """Token counts of one answer.

    `input_tokens` counts every prompt token the model read, cached or not (OpenAI's
    `prompt_tokens` meaning), so accounting never misses prompt-cache traffic. The cache
    fields say how many of them were read from / written to Anthropic's prompt cache (billed
    at ~0.1x / 1.25x the input price); the Anthropic renderers subtract them again, since
    Anthropic's own `input_tokens` excludes them.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    @property
    def uncached_input_tokens(self) -> int:
        """Anthropic's `input_tokens`: the prompt tokens neither read from nor written to cache."""
        return self.input_tokens - self.cache_read_input_tokens - self.cache_creation_input_tokens


@dataclass(slots=True)
class ChatResponse:
    """A complete answer: content blocks are `{"type": "text", "text"}` or
    `{"type": "tool_use", "id", "name", "input"}`."""

    id: str
    model: str
    content: list[ContentBlock]
    stop_reason: str | None
    usage: Usage
    stop_sequence: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        return "".join(b.get("text", "") for b in self.content if b.get("type") == "text")


# A canonical stream event is a dict shaped exactly like an Anthropic SSE event's data, with
# its "type": message_start, content_block_start, content_block_delta, content_block_stop,
# message_delta, message_stop (ping events are not part of the canonical stream).
StreamEvent = dict[str, Any]


_CONTEXT_OVERFLOW = re.compile(
    r"prompt is too long|maximum context length|context[ _]length|context window|"
    r"input length and `?max_tokens`? exceed",
    re.IGNORECASE,
)


class UpstreamError(Exception):
    """A provider call failed. `status` is the HTTP status (0 for connection errors/timeouts)."""

    retryable_statuses = frozenset({408, 409, 429, 500, 502, 503, 504, 529})

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "api_error",
        retry_after: float | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(f"upstream {status or 'connection'} {error_type}: {message}")
        self.status = status
        self.message = message
        self.error_type = error_type
        self.retry_after = retry_after
        self.body = body

    @property
    def retryable(self) -> bool:
        return self.status == 0 or self.status in self.retryable_statuses or self.status >= 500

    @property
    def context_overflow(self) -> bool:
        """The upstream refused the prompt as longer than the model's context window.

        Anthropic: 400 `prompt is too long: N tokens > M maximum`; OpenAI: 400 with code
        `context_length_exceeded` ("This model's maximum context length is ..."); some
        OpenAI-compatible servers answer 413 or only say so in the message.
        """
        if self.status not in (400, 413):
            return False
        err = self.body.get("error") if isinstance(self.body, dict) else None
        if isinstance(err, dict) and err.get("code") == "context_length_exceeded":
            return True
        return bool(_CONTEXT_OVERFLOW.search(self.message))


class UpstreamTimeout(UpstreamError):
    def __init__(self, message: str = "upstream timed out") -> None:
        super().__init__(0, message, error_type="timeout_error")


class UpstreamConnectionError(UpstreamError):
    def __init__(self, message: str = "could not connect to upstream") -> None:
        super().__init__(0, message, error_type="connection_error")


class Provider(Protocol):
    """A wire adapter for one upstream API (Anthropic Messages or OpenAI Chat Completions)."""

    kind: str  # "anthropic" | "openai"

    async def complete(
        self, session: aiohttp.ClientSession, deployment: DeploymentConfig, request: ChatRequest
    ) -> ChatResponse:
        """Send a non-streaming request; raise UpstreamError (or a subclass) on failure."""
        ...

    def stream(
        self, session: aiohttp.ClientSession, deployment: DeploymentConfig, request: ChatRequest
    ) -> AsyncIterator[StreamEvent]:
        """Yield canonical stream events. Errors before the first event raise UpstreamError."""
        ...


# Key in `ChatRequest.extra` holding request headers the gateway passes on to the upstream
# (e.g. `anthropic-beta`, the mock's `x-mock-*` fault headers). Providers send these as
# headers, never as body fields: every `extra` key starting with "_" is private to tierwise.
UPSTREAM_HEADERS_KEY = "_upstream_headers"
