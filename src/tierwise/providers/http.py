"""The HTTP call both adapters share: one POST, its errors mapped to UpstreamError.

Per-deployment constants (URL, auth headers) are computed once and cached, so the hot path
only merges per-request passthrough headers. Keys never leave this module except in the
`Authorization`/`x-api-key` header itself; error messages are redacted.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from tierwise.providers.base import (
    UPSTREAM_HEADERS_KEY,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamTimeout,
)
from tierwise.providers.errors import credentials_rejected, redact
from tierwise.providers.sse import iter_sse
from tierwise.types import ChatRequest

if TYPE_CHECKING:
    from tierwise.config import DeploymentConfig

log = logging.getLogger("tierwise.providers")


def endpoint_url(base_url: str, path: str) -> str:
    """`base_url` + `/v1/<path>`, unless the base already ends in a version (`…/v1`)."""
    base = base_url.rstrip("/")
    tail = base.rsplit("/", 1)[-1]
    if len(tail) >= 2 and tail[0] == "v" and tail[1:].isdigit():
        return f"{base}/{path}"
    return f"{base}/v1/{path}"


class Endpoint:
    """What is constant for one deployment: where to POST and the auth headers."""

    __slots__ = ("deployment", "headers", "secret", "stream_timeout", "timeout", "url")

    def __init__(self, deployment: DeploymentConfig, path: str, headers: dict[str, str]) -> None:
        self.deployment = deployment  # keeps id(deployment) unique while cached
        self.url = endpoint_url(deployment.base_url, path)
        self.headers = headers
        self.secret = deployment.api_key
        self.timeout = aiohttp.ClientTimeout(total=deployment.timeout_s)
        self.stream_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=min(deployment.timeout_s, 30.0), sock_read=deployment.timeout_s
        )


class EndpointCache:
    def __init__(self, path: str, make_headers: Callable[[DeploymentConfig], dict[str, str]]):
        self.path = path
        self.make_headers = make_headers
        self._cache: dict[int, Endpoint] = {}

    def get(self, deployment: DeploymentConfig) -> Endpoint:
        ep = self._cache.get(id(deployment))
        if ep is None or ep.deployment is not deployment:
            ep = Endpoint(deployment, self.path, self.make_headers(deployment))
            self._cache[id(deployment)] = ep
        return ep


def request_headers(ep: Endpoint, request: ChatRequest) -> dict[str, str]:
    passthrough = request.extra.get(UPSTREAM_HEADERS_KEY) if request.extra else None
    return {**ep.headers, **passthrough} if passthrough else ep.headers


def parse_retry_after(headers: Any) -> float | None:
    """Seconds from `retry-after-ms` / `retry-after` (seconds or an HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


async def error_from_response(resp: aiohttp.ClientResponse, ep: Endpoint) -> UpstreamError:
    """Read an error response into an UpstreamError (either API's error envelope)."""
    raw = await resp.read()
    body: Any = None
    message = ""
    etype = "api_error"
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        message = raw[:300].decode("utf-8", "replace")
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        message = str(err.get("message") or "")
        etype = str(err.get("type") or etype)
    message = redact(message or resp.reason or "", ep.secret)
    if resp.status in (401, 403):  # the caller's key is never sent: this is *our* key
        log.warning(
            "%s (%s) rejected the deployment's api_key: %s %s",
            deployment_label(ep),
            ep.url,
            resp.status,
            message,
        )
        message = credentials_rejected(deployment_label(ep))
    return UpstreamError(
        resp.status,
        message,
        error_type=etype,
        retry_after=parse_retry_after(resp.headers),
        body=body,
    )


async def post_json(
    session: aiohttp.ClientSession, ep: Endpoint, request: ChatRequest, body: dict[str, Any]
) -> Any:
    """POST a non-streaming request; returns the parsed JSON or raises UpstreamError."""
    try:
        async with session.post(
            ep.url,
            data=orjson.dumps(body),
            headers=request_headers(ep, request),
            timeout=ep.timeout,
        ) as resp:
            if resp.status >= 400:
                raise await error_from_response(resp, ep)
            raw = await resp.read()
    except UpstreamError:
        raise
    except TimeoutError:
        log.warning("%s (%s): no answer within %ss", deployment_label(ep), ep.url, ep.timeout.total)
        raise UpstreamTimeout(
            f"{deployment_label(ep)}: no answer within {ep.timeout.total}s"
        ) from None
    except (aiohttp.ClientError, OSError) as exc:
        raise connection_error(ep, exc) from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        log.warning("%s (%s) returned a body that is not JSON", deployment_label(ep), ep.url)
        raise UpstreamError(
            502, f"{deployment_label(ep)} returned a body that is not JSON"
        ) from None


def deployment_label(ep: Endpoint) -> str:
    """How messages that reach a caller name a deployment: its name or id, never its URL."""
    dep = ep.deployment
    return f"upstream deployment {dep.name or dep.id!r}"


def connection_error(ep: Endpoint, exc: BaseException) -> UpstreamError:
    """A transport failure; the URL and the exception's details (hosts, ports) go to the log,
    the caller gets the deployment's name or id."""
    who = deployment_label(ep)
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        log.warning("%s (%s): stream stalled for %ss", who, ep.url, ep.stream_timeout.sock_read)
        return UpstreamTimeout(f"{who}: stream stalled for {ep.stream_timeout.sock_read}s")
    log.warning("%s (%s): %s: %s", who, ep.url, type(exc).__name__, redact(str(exc), ep.secret))
    return UpstreamConnectionError(f"{who}: connection failed ({type(exc).__name__})")


async def post_sse(
    session: aiohttp.ClientSession, ep: Endpoint, request: ChatRequest, body: dict[str, Any]
) -> AsyncIterator[tuple[str | None, bytes]]:
    """POST a streaming request and yield its SSE (event name, data) pairs.

    HTTP errors before the stream starts become UpstreamError; transport failures mid-stream
    become connection errors or timeouts. Each adapter decodes the events of its own API.
    """
    try:
        async with session.post(
            ep.url,
            data=orjson.dumps(body),
            headers=request_headers(ep, request),
            timeout=ep.stream_timeout,
        ) as resp:
            if resp.status >= 400:
                raise await error_from_response(resp, ep)
            async for pair in iter_sse(resp.content):
                yield pair
    except UpstreamError:
        raise
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise connection_error(ep, exc) from None
