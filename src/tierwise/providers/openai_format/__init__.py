"""OpenAI Chat Completions wire format <-> canonical (Anthropic-shaped) types.

One module per job, each covering both directions so a field's mapping is written once:
`request` (caller bodies -> ChatRequest, ChatRequest -> upstream bodies), `response`
(`chat.completion` objects), `stream` (`chat.completion.chunk` SSE), `mapping` (finish/stop
reasons, tool calls and ids they share). This package re-exports their public names.
"""

from __future__ import annotations

from tierwise.providers.openai_format.mapping import FINISH_TO_STOP, STOP_TO_FINISH
from tierwise.providers.openai_format.request import ACCEPTED_EXTRA, build_body, parse_request
from tierwise.providers.openai_format.response import (
    parse_response,
    render_choices,
    render_response,
)
from tierwise.providers.openai_format.stream import OpenAIDecoder, OpenAIEncoder

__all__ = [
    "ACCEPTED_EXTRA",
    "FINISH_TO_STOP",
    "STOP_TO_FINISH",
    "OpenAIDecoder",
    "OpenAIEncoder",
    "build_body",
    "parse_request",
    "parse_response",
    "render_choices",
    "render_response",
]
