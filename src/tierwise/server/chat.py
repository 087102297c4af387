"""`POST /v1/chat/completions` and `POST /v1/messages`: one pipeline, two wire formats.

read (size-capped) → parse once with orjson → route with the prebuilt router → dispatch →
render in the caller's format → metrics + one ledger row. Our own time ("overhead") is the
total minus the time spent awaiting the dispatcher; for streams it is measured to the first
byte. Every response, error or not, carries the x-tierwise-* headers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from time import perf_counter
from typing import Any

import orjson
from aiohttp import web

from tierwise.dispatch.result import DispatchResult
from tierwise.providers import anthropic_format, openai_format
from tierwise.providers.base import (
    UPSTREAM_HEADERS_KEY,
    ChatResponse,
    StreamEvent,
    UpstreamError,
)
from tierwise.providers.errors import RequestError, error_body, redact, upstream_error_body
from tierwise.providers.sse import error_from_event
from tierwise.routing.ladder import UnknownModelError
from tierwise.server.outcome import Outcome, finish
from tierwise.server.routers import RouterSpecError
from tierwise.server.state import STATE, GatewayState, log
from tierwise.types import ChatRequest, Decision

SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
PASSTHROUGH_PREFIXES = ("x-mock-", "anthropic-beta")

Parse = Callable[[Any], ChatRequest]
Render = Callable[[ChatResponse, str], dict[str, Any]]
FORMATS: dict[str, tuple[Parse, Render]] = {
    "openai": (openai_format.parse_request, openai_format.render_response),
    "anthropic": (anthropic_format.parse_request, anthropic_format.render_response),
}


# --------------------------------------------------------------------------- helpers


async def read_json(request: web.Request, state: GatewayState) -> Any:
    """The parsed body; RequestError (413/400) when it is too large or not JSON."""
    limit = state.max_body
    size = request.content_length
    if size is not None and size > limit:
        raise RequestError(
            f"request body of {size} bytes exceeds the gateway's limit of {limit} bytes "
            "(server.max_body_bytes)",
            status=413,
        )
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise RequestError(
            f"request body exceeds the gateway's limit of {limit} bytes (server.max_body_bytes)",
            status=413,
        ) from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"request body is not valid JSON: {exc}") from None


def passthrough_headers(request: web.Request) -> dict[str, str] | None:
    out = None
    for k, v in request.headers.items():
        lk = k.lower()
        if lk.startswith(PASSTHROUGH_PREFIXES):
            if out is None:
                out = {}
            out[lk] = v
    return out


def json_response(o: Outcome, status: int, body: Any, extra: dict[str, str] | None = None):
    o.status = status
    headers = o.headers()
    if extra:
        headers.update(extra)
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


def request_error(o: Outcome, exc: RequestError) -> web.Response:
    o.error_class = "request_too_large" if exc.status == 413 else "invalid_request"
    return json_response(
        o, exc.status, error_body(o.api, exc.status, exc.message, exc.param, exc.code)
    )


def upstream_error(o: Outcome, exc: UpstreamError) -> web.Response:
    status, body = upstream_error_body(o.api, exc)
    o.error_class = exc.error_type or f"upstream_{exc.status}"
    extra = None
    if exc.retry_after is not None:
        ra = exc.retry_after
        extra = {"retry-after": str(int(ra)) if ra == int(ra) else f"{ra:.3f}"}
    log.warning(
        "request %s: upstream %s %s: %s",
        o.request_id,
        exc.status,
        exc.error_type,
        redact(exc.message),
    )
    return json_response(o, status, body, extra)


# --------------------------------------------------------------------------- the pipeline


async def openai_chat(request: web.Request) -> web.StreamResponse:
    return await _chat(request, "openai")


async def anthropic_messages(request: web.Request) -> web.StreamResponse:
    return await _chat(request, "anthropic")


async def _chat(request: web.Request, api: str) -> web.StreamResponse:
    state = request.app[STATE]
    o = Outcome(api)
    state.metrics.in_flight += 1
    try:
        return await _handle(request, state, o)
    except asyncio.CancelledError:
        o.status, o.error_class = 499, "client_disconnected"  # the caller went away
        raise
    except Exception:
        log.exception("request %s: internal error", o.request_id)
        o.error_class = "internal_error"
        if o.sse is not None:  # a stream is already on the wire: never a second response
            o.status = 500
            with contextlib.suppress(ConnectionResetError):
                await o.sse.write_eof()
            return o.sse
        return json_response(o, 500, error_body(api, 500, "internal gateway error; see logs"))
    finally:
        state.metrics.in_flight -= 1
        asyncio.get_running_loop().call_soon(finish, state, o, perf_counter())


async def _handle(request: web.Request, state: GatewayState, o: Outcome) -> web.StreamResponse:
    parse, render = FORMATS[o.api]
    try:
        chat = parse(await read_json(request, state))
    except RequestError as exc:
        return request_error(o, exc)
    o.requested_model = chat.model
    o.streamed = chat.stream
    override = request.headers.get("x-tierwise-tier")
    if override:
        chat.tier_override = override
    passthrough = passthrough_headers(request)
    if passthrough:
        chat.extra[UPSTREAM_HEADERS_KEY] = passthrough
    o.prompt_chars = chat.total_chars()
    try:
        router = await state.routers.resolve(chat.model)
        decision = router.route(chat)
    except UnknownModelError as exc:
        o.error_class = "unknown_model"
        param = "x-tierwise-tier" if override and exc.label == override else "model"
        status = 400 if param != "model" else 404
        return json_response(
            o, status, error_body(o.api, status, str(exc), param, "model_not_found")
        )
    except RouterSpecError as exc:
        o.error_class = "unknown_model"
        return json_response(o, 400, error_body(o.api, 400, str(exc), "model"))
    o.decided(decision)
    # OpenAI's choice count, validated by its parser (1..MAX_N, not streamed); an Anthropic body
    # has no such field, and whatever it sends under that name is not ours to act on
    n = (chat.extra.get("n") or 1) if o.api == "openai" else 1
    if n > 1 and decision.router == "cascade":
        exc = RequestError(
            "'n' > 1 is not supported with the cascade policy (its answer depends on the first "
            "one's weakness); send n: 1, or name a tier or another router in 'model'.",
            "n",
            code="unsupported_value",
        )
        return request_error(o, exc)
    answered = None
    if decision.router == "cascade":  # it calls models before it settles (server/cascade.py)
        from tierwise.server.cascade import run_cascade

        decision, answered = await run_cascade(request, state, o, chat, router.policy, decision)
    state.mix.observe(decision, router is state.routers.default)
    if answered is not None:
        return answered
    if chat.stream:
        return await _stream(request, state, o, chat, decision)
    if n > 1:
        return await _choices(state, o, chat, decision, n)
    t = perf_counter()
    try:
        result = await state.dispatcher.complete(chat, decision)
    except UpstreamError as exc:
        o.upstream_s += perf_counter() - t
        return upstream_error(o, exc)
    o.upstream_s += perf_counter() - t
    o.served_by(result)
    o.counted(result.response.usage)
    return json_response(o, 200, render(result.response, result.model))


async def _choices(
    state: GatewayState, o: Outcome, chat: ChatRequest, decision: Decision, n: int
) -> web.Response:
    """OpenAI's `n` > 1: n independent answers from the routed tier, one call each and all at
    once (Anthropic has no `n`, and one path for both keeps retries and fallbacks per answer).
    All or nothing: if any call fails the caller gets that error, and the ledger still bills
    the calls that succeeded."""
    t = perf_counter()
    results = await asyncio.gather(
        *(state.dispatcher.complete(chat, decision) for _ in range(n)), return_exceptions=True
    )
    o.upstream_s += perf_counter() - t
    ok = [r for r in results if isinstance(r, DispatchResult)]
    calls = [(r.tier, r.response.usage.input_tokens, r.response.usage.output_tokens) for r in ok]
    failed = next((r for r in results if isinstance(r, BaseException)), None)
    if failed is not None:
        o.extra_calls = calls
        if isinstance(failed, UpstreamError):
            return upstream_error(o, failed)
        raise failed
    o.served_by(ok[0])
    o.counted(ok[0].response.usage)
    o.extra_calls = calls[1:]  # billed like a cascade's earlier calls
    return json_response(o, 200, openai_format.render_choices([r.response for r in ok],
                                                              ok[0].model))


async def _stream(
    request: web.Request, state: GatewayState, o: Outcome, chat: ChatRequest, decision: Decision
) -> web.StreamResponse:
    t = perf_counter()
    try:
        sd = await state.dispatcher.stream(chat, decision)
    except UpstreamError as exc:
        o.upstream_s += perf_counter() - t
        return upstream_error(o, exc)
    o.upstream_s += perf_counter() - t
    o.ttft_ms = (perf_counter() - o.t0) * 1000.0
    o.served_by(sd)
    try:
        return await _write_stream(request, o, chat, sd.events)
    finally:  # also when the relay never started (the caller left before the first write)
        await sd.close()


async def _write_stream(
    request: web.Request, o: Outcome, chat: ChatRequest, events: AsyncIterator[StreamEvent]
) -> web.StreamResponse:
    """Write the stream in the caller's format. Once the response is prepared nothing may
    escape but cancellation: a failure becomes an in-stream error and the stream ends."""
    encoder: Any
    if o.api == "openai":
        opts = chat.extra.get("stream_options")
        encoder = openai_format.OpenAIEncoder(
            o.model, isinstance(opts, dict) and bool(opts.get("include_usage"))
        )
    else:
        encoder = anthropic_format.AnthropicEncoder()
    usage = anthropic_format.StreamUsage()
    o.status = 200
    headers = o.headers()
    headers.update(SSE_HEADERS)
    resp = web.StreamResponse(status=200, headers=headers)
    try:
        await resp.prepare(request)
        o.sse = resp
        async for event in events:
            if event.get("type") == "error":  # the dispatcher's end-of-stream failure
                raise error_from_event(event)
            usage.observe(event)
            data = encoder.encode(event)
            if data:
                await resp.write(data)
    except UpstreamError as exc:  # after the first byte: report it in-stream
        status, body = upstream_error_body(o.api, exc)
        o.status, o.error_class = status, exc.error_type or f"upstream_{exc.status}"
        log.warning(
            "request %s: stream failed: upstream %s %s: %s",
            o.request_id,
            exc.status,
            exc.error_type,
            redact(exc.message),
        )
        with contextlib.suppress(ConnectionResetError):
            await resp.write(encoder.error(body))
    except ConnectionResetError:
        o.status, o.error_class = 499, "client_disconnected"
    except Exception:
        if o.sse is None:
            raise  # nothing sent yet: _chat answers with a plain 500
        log.exception("request %s: internal error mid-stream", o.request_id)
        o.status, o.error_class = 500, "internal_error"
        body = error_body(o.api, 500, "internal gateway error; see logs")
        with contextlib.suppress(ConnectionResetError):
            await resp.write(encoder.error(body))
    finally:
        o.input_tokens, o.output_tokens = usage.input_tokens, usage.output_tokens
        o.cache_read = usage.cache_read_input_tokens
        o.cache_write = usage.cache_creation_input_tokens
    with contextlib.suppress(ConnectionResetError):
        await resp.write_eof()
    return resp
