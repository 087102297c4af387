"""Adapter for the Anthropic Messages API (`POST /v1/messages`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import aiohttp
import orjson

from tierwise.providers import anthropic_format
from tierwise.providers.base import ChatResponse, StreamEvent, UpstreamError
from tierwise.providers.http import EndpointCache, post_json, post_sse
from tierwise.providers.sse import malformed_event
from tierwise.types import ChatRequest

if TYPE_CHECKING:
    from tierwise.config import DeploymentConfig

ANTHROPIC_VERSION = "2023-06-01"

# In-stream error types -> the HTTP status the same error has as a response.
_STREAM_ERROR_STATUS = {
    "overloaded_error": 529,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
}


def _headers(deployment: DeploymentConfig) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "anthropic-version": ANTHROPIC_VERSION,
        "x-api-key": deployment.api_key,
    }


class AnthropicProvider:
    kind = "anthropic"

    def __init__(self) -> None:
        self._endpoints = EndpointCache("messages", _headers)

    async def complete(
        self, session: aiohttp.ClientSession, deployment: DeploymentConfig, request: ChatRequest
    ) -> ChatResponse:
        ep = self._endpoints.get(deployment)
        body = anthropic_format.build_body(request, deployment.model, stream=False)
        return anthropic_format.parse_response(await post_json(session, ep, request, body))

    async def stream(
        self, session: aiohttp.ClientSession, deployment: DeploymentConfig, request: ChatRequest
    ) -> AsyncIterator[StreamEvent]:
        ep = self._endpoints.get(deployment)
        body = anthropic_format.build_body(request, deployment.model, stream=True)
        async for name, data in post_sse(session, ep, request, body):
            if name == "ping":
                continue
            try:
                event = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise malformed_event(data, ep.secret) from None
            if not isinstance(event, dict):
                raise malformed_event(data, ep.secret)
            if name == "error" or event.get("type") == "error":
                err = event.get("error")
                if not isinstance(err, dict):
                    err = {}
                etype = err.get("type", "api_error")
                raise UpstreamError(
                    _STREAM_ERROR_STATUS.get(etype, 500),
                    str(err.get("message", "")),
                    error_type=etype,
                    body=event,
                )
            yield event
