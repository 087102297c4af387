"""Adapter for the OpenAI Chat Completions API (also vLLM, Ollama, OpenRouter, LM Studio…)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import aiohttp
import orjson

from tierwise.providers import openai_format
from tierwise.providers.base import ChatResponse, StreamEvent, UpstreamError
from tierwise.providers.http import EndpointCache, post_json, post_sse
from tierwise.providers.sse import malformed_event
from tierwise.types import ChatRequest

if TYPE_CHECKING:
    from tierwise.config import DeploymentConfig


def _headers(deployment: DeploymentConfig) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if deployment.api_key:  # local servers (Ollama, vLLM) often need none
        headers["authorization"] = f"Bearer {deployment.api_key}"
    return headers


class OpenAIProvider:
    kind = "openai"

    def __init__(self) -> None:
        self._endpoints = EndpointCache("chat/completions", _headers)

    async def complete(
        self, session: aiohttp.ClientSession, deployment: DeploymentConfig, request: ChatRequest
    ) -> ChatResponse:
        ep = self._endpoints.get(deployment)
        body = openai_format.build_body(request, deployment.model, stream=False)
        return openai_format.parse_response(await post_json(session, ep, request, body))

    async def stream(
        self, session: aiohttp.ClientSession, deployment: DeploymentConfig, request: ChatRequest
    ) -> AsyncIterator[StreamEvent]:
        ep = self._endpoints.get(deployment)
        body = openai_format.build_body(request, deployment.model, stream=True)
        decoder = openai_format.OpenAIDecoder()
        async for _name, data in post_sse(session, ep, request, body):
            if data == b"[DONE]":
                break
            try:
                chunk = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise malformed_event(data, ep.secret) from None
            if not isinstance(chunk, dict):
                raise malformed_event(data, ep.secret)
            err = chunk.get("error")
            if isinstance(err, dict):
                code = err.get("code")
                raise UpstreamError(
                    code if isinstance(code, int) else 500,
                    str(err.get("message", "")),
                    error_type=str(err.get("type") or "api_error"),
                    body=chunk,
                )
            try:
                events = decoder.feed(chunk)
            except (AttributeError, TypeError, KeyError, ValueError):  # a field of the wrong shape
                raise malformed_event(data, ep.secret) from None
            for event in events:
                yield event
        if decoder.started:
            for event in decoder.finish():
                yield event
