"""Cascades at request time: the model calls a `routing.policy: cascade` makes before it settles.

- answer mode: the cheapest cascade tier answers (non-streaming, even for a streaming caller);
  a weak answer (routing/cascade.py says why) goes to the next tier, up to max_escalations; the
  accepted answer is returned, rendered in the caller's format, or replayed as a stream
  through the same encoders the streaming path uses.
- classify mode: the classify tier rates the request 1..N; the digit picks the tier and the
  normal pipeline (streaming included) continues with that decision. An unusable reply or a
  failed call falls back to the base policy's decision, and the reason says so.

Every call is billed, so every call is accounted: the rejected answers and the classifier go
into `Outcome.extra_calls` (ledger tokens and cost), the reason lists each step, and
`x-tierwise-cascade` carries the number of model calls the cascade made.
"""

from __future__ import annotations

import contextlib
import dataclasses
from time import perf_counter
from typing import Any

import orjson
from aiohttp import web

from tierwise.providers import anthropic_format, openai_format
from tierwise.providers.base import UPSTREAM_HEADERS_KEY, ChatResponse, StreamEvent, UpstreamError
from tierwise.routing.cascade import (
    CLASSIFY_MAX_TOKENS,
    CascadeRouter,
    classifier_prompt,
    parse_rating,
)
from tierwise.server.chat import FORMATS, SSE_HEADERS, json_response, upstream_error
from tierwise.server.outcome import Outcome
from tierwise.server.state import GatewayState
from tierwise.types import ChatRequest, Decision, Message

HEADER = "x-tierwise-cascade"


async def run_cascade(
    request: web.Request,
    state: GatewayState,
    o: Outcome,
    chat: ChatRequest,
    policy: Any,
    decision: Decision,
) -> tuple[Decision, web.StreamResponse | None]:
    """(the decision, a finished response) in answer mode; (the decision, None) in classify
    mode, where the caller's normal pipeline sends the request to the decided tier."""
    if not isinstance(policy, CascadeRouter):  # a decision marked "cascade" by another router
        return decision, None
    if policy.mode == "classify":
        decision = await classify(state, o, chat, policy, decision)
        o.decided(decision)
        return decision, None
    return await answer(request, state, o, chat, policy)


# --------------------------------------------------------------------------- classify mode


async def classify(
    state: GatewayState, o: Outcome, chat: ChatRequest, policy: CascadeRouter, base: Decision
) -> Decision:
    n = len(policy.tiers)
    req = ChatRequest(
        [Message("user", classifier_prompt(chat.last_user_text(), n))],
        max_tokens=CLASSIFY_MAX_TOKENS,
        temperature=0.0,
    )
    passthrough = chat.extra.get(UPSTREAM_HEADERS_KEY)
    if passthrough:
        req.extra[UPSTREAM_HEADERS_KEY] = passthrough
    rating: int | None = None
    t = perf_counter()
    try:
        result = await state.dispatcher.complete(
            req, policy.decision(policy.classify_tier, "cascade classifier")
        )
    except UpstreamError as exc:
        o.upstream_s += perf_counter() - t
        note = f"classifier {policy.classify_tier} failed ({exc.status or exc.error_type})"
        o.extra_headers = {HEADER: "1"}
    else:
        o.upstream_s += perf_counter() - t
        usage = result.response.usage
        o.extra_calls = [(result.tier, usage.input_tokens, usage.output_tokens)]
        o.extra_headers = {HEADER: "2"}
        reply = result.response.text().strip()
        rating = parse_rating(reply, n)
        if rating is None:
            note = f"{result.tier} reply {reply[:24]!r} is not a rating 1-{n}"
        else:
            note = f"{result.tier} rated it {rating}/{n}"
    if rating is None:
        base_reason = base.reason.removesuffix(policy.suffix)
        return Decision(
            base.tier,
            base.model,
            base.complexity,
            base.scores,
            base.router,
            f"cascade (classify): {note}; fell back to {base_reason}",
        )
    tier = policy.tier_for_rating(rating)
    return policy.decision(tier, f"cascade (classify): {note} -> {tier}")


# --------------------------------------------------------------------------- answer mode


def _has_tool_call(resp: ChatResponse) -> bool:
    return any(b.get("type") == "tool_use" for b in resp.content)


async def answer(
    request: web.Request,
    state: GatewayState,
    o: Outcome,
    chat: ChatRequest,
    policy: CascadeRouter,
) -> tuple[Decision, web.StreamResponse]:
    internal = dataclasses.replace(chat, stream=False) if chat.stream else chat
    question_chars = len(chat.last_user_text())
    steps: list[str] = []
    # Answers obtained so far, (tier, input, output) each; all but the returned one are
    # extra calls. Shared with the Outcome at once, so a caller who leaves mid-cascade is
    # still billed for what was spent.
    calls: list[tuple[str, int, int]] = []
    o.extra_calls = calls
    o.extra_headers = {HEADER: "0"}
    best: Any = None  # the last DispatchResult in hand
    tier = policy.tiers[0]
    escalations = 0
    while True:
        d = policy.decision(tier, "cascade (answer) step")
        t = perf_counter()
        try:
            result = await state.dispatcher.complete(internal, d)
        except UpstreamError as exc:
            o.upstream_s += perf_counter() - t
            if best is None:
                o.decided(policy.decision(tier, f"cascade (answer): {tier} failed"))
                o.extra_headers = {HEADER: "0"}
                return d, upstream_error(o, exc)
            steps.append(f"{tier} failed ({exc.status or exc.error_type}); kept {best.tier}'s")
            break
        o.upstream_s += perf_counter() - t
        resp = result.response
        calls.append((result.tier, resp.usage.input_tokens, resp.usage.output_tokens))
        best = result
        weak = policy.weakness(
            resp.text(), resp.stop_reason, _has_tool_call(resp), question_chars, chat.max_tokens
        )
        if not weak:
            steps.append(f"{result.tier} answer accepted")
            break
        what = f"{result.tier} answer weak: {', '.join(weak)}"
        nxt = policy.stronger(result.tier)
        if nxt is None:
            steps.append(f"{what}; kept (top tier)")
            break
        if escalations >= policy.max_escalations:
            steps.append(f"{what}; kept (max_escalations {policy.max_escalations})")
            break
        steps.append(f"{what}; escalated to {nxt}")
        escalations += 1
        tier = nxt
    final = policy.decision(best.tier, "cascade (answer): " + "; ".join(steps))
    o.decided(final)
    o.extra_headers = {HEADER: str(len(calls))}
    _, in_, out_ = calls.pop()  # the returned answer's tokens are the row's own
    o.served_by(best)
    o.input_tokens, o.output_tokens = in_, out_
    if not chat.stream:
        render = FORMATS[o.api][1]
        return final, json_response(o, 200, render(best.response, best.model))
    return final, await replay(request, o, chat, best.response, best.model)


# --------------------------------------------------------------------------- replay as a stream


def response_events(resp: ChatResponse, model: str) -> list[StreamEvent]:
    """A complete answer as the canonical (Anthropic-shaped) event sequence, one delta per
    block, so the streaming encoders can render it for a streaming caller."""
    u = resp.usage
    events: list[StreamEvent] = [
        {
            "type": "message_start",
            "message": {
                "id": resp.id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {**anthropic_format.usage_out(u), "output_tokens": 1},
            },
        }
    ]
    index = 0
    for block in resp.content:
        kind = block.get("type")
        if kind == "text":
            start: dict[str, Any] = {"type": "text", "text": ""}
            delta: dict[str, Any] = {"type": "text_delta", "text": block.get("text", "")}
        elif kind == "tool_use":
            start = {
                "type": "tool_use",
                "id": block.get("id", ""),
                "name": block.get("name", ""),
                "input": {},
            }
            args = orjson.dumps(block.get("input") or {}).decode()
            delta = {"type": "input_json_delta", "partial_json": args}
        else:  # thinking and other blocks have no delta both front ends understand
            continue
        events.append({"type": "content_block_start", "index": index, "content_block": start})
        events.append({"type": "content_block_delta", "index": index, "delta": delta})
        events.append({"type": "content_block_stop", "index": index})
        index += 1
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": resp.stop_reason, "stop_sequence": resp.stop_sequence},
            "usage": {"output_tokens": u.output_tokens},
        }
    )
    events.append({"type": "message_stop"})
    return events


async def replay(
    request: web.Request, o: Outcome, chat: ChatRequest, resp: ChatResponse, model: str
) -> web.StreamResponse:
    encoder: Any
    if o.api == "openai":
        opts = chat.extra.get("stream_options")
        encoder = openai_format.OpenAIEncoder(
            model, isinstance(opts, dict) and bool(opts.get("include_usage"))
        )
    else:
        encoder = anthropic_format.AnthropicEncoder()
    body = b"".join(encoder.encode(e) for e in response_events(resp, model))
    o.status = 200
    o.ttft_ms = (perf_counter() - o.t0) * 1000.0
    headers = o.headers()
    headers.update(SSE_HEADERS)
    out = web.StreamResponse(status=200, headers=headers)
    try:
        await out.prepare(request)
        await out.write(body)
    except ConnectionResetError:
        o.status, o.error_class = 499, "client_disconnected"
    with contextlib.suppress(ConnectionResetError):
        await out.write_eof()
    return out
