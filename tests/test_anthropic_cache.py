"""Anthropic prompt caching through the gateway: `cache_control` on system blocks reaches an
Anthropic upstream, and cache reads/writes are carried back and counted in the ledger.

The upstream is a small real aiohttp server on loopback that records each body and answers
with Anthropic's cache usage fields (the shared mock has no prompt cache)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from aiohttp import web

from conftest import LoopThread, serve_app
from tierwise.config import parse_config
from tierwise.providers import anthropic_format as af
from tierwise.providers import openai_format as of
from tierwise.providers.base import Usage
from tierwise.providers.sse import anthropic_event
from tierwise.types import ChatRequest

UNCACHED, READ, WRITE, OUT = 7, 1000, 200, 5
CACHE_USAGE = {
    "input_tokens": UNCACHED,
    "cache_read_input_tokens": READ,
    "cache_creation_input_tokens": WRITE,
    "output_tokens": OUT,
}
SYSTEM = [
    {"type": "text", "text": "You are terse."},
    {"type": "text", "text": "A long policy " * 50, "cache_control": {"type": "ephemeral"}},
]


def test_usage_carries_cache_counts_both_ways() -> None:
    resp = af.parse_response({"id": "msg_1", "content": [], "usage": CACHE_USAGE})
    assert resp.usage == Usage(UNCACHED + READ + WRITE, OUT, READ, WRITE)
    assert af.render_response(resp, "m")["usage"] == CACHE_USAGE  # what the upstream said
    assert of.render_response(resp, "m")["usage"]["prompt_tokens"] == UNCACHED + READ + WRITE
    plain = af.parse_response({"id": "msg_2", "content": [], "usage": {"input_tokens": 3}})
    assert plain.usage == Usage(3, 0) and plain.usage.uncached_input_tokens == 3


def test_stream_usage_counts_cache_reads_and_writes() -> None:
    usage = af.StreamUsage()
    usage.observe(
        {"type": "message_start", "message": {"usage": {**CACHE_USAGE, "output_tokens": 1}}}
    )
    usage.observe({"type": "message_delta", "delta": {}, "usage": {"output_tokens": OUT}})
    assert (usage.input_tokens, usage.output_tokens) == (UNCACHED + READ + WRITE, OUT)


def test_system_blocks_keep_cache_control_for_anthropic_and_flatten_for_openai() -> None:
    body = {
        "model": "auto",
        "max_tokens": 9,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": "hi"}],
    }
    req = af.parse_request(body)
    assert req.system == "You are terse.\n\n" + SYSTEM[1]["text"]  # what routing reads
    assert req.total_chars() == len(req.system) + 2
    assert af.build_body(req, "claude", False)["system"] == SYSTEM
    assert of.build_body(req, "gpt", False)["messages"][0] == {
        "role": "system",
        "content": req.system,
    }
    req.system = "rewritten by tierwise"  # the blocks no longer describe it: the text wins
    assert af.build_body(req, "claude", False)["system"] == "rewritten by tierwise"
    plain = af.parse_request({**body, "system": "just text"})
    assert af.build_body(plain, "claude", False)["system"] == "just text"
    openai_caller = ChatRequest.from_prompt("hi", system="sys")
    assert af.build_body(openai_caller, "claude", False)["system"] == "sys"


class CachingUpstream:
    """An Anthropic Messages endpoint that reports cache usage and keeps the bodies it got."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    async def messages(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.bodies.append(body)
        message = {
            "id": "msg_cache",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [{"type": "text", "text": "ok"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": CACHE_USAGE,
        }
        if not body.get("stream"):
            return web.json_response(message)
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        start = {**message, "content": [], "stop_reason": None}
        start["usage"] = {**CACHE_USAGE, "output_tokens": 1}
        for event in (
            {"type": "message_start", "message": start},
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "ok"},
            },
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": OUT},
            },
            {"type": "message_stop"},
        ):
            await resp.write(anthropic_event(event))
        await resp.write_eof()
        return resp


@pytest.fixture
def caching_upstream(servers: LoopThread) -> Iterator[tuple[CachingUpstream, str]]:
    upstream = CachingUpstream()
    app = web.Application()
    app.router.add_post("/v1/messages", upstream.messages)

    runner, url = serve_app(servers, app)
    yield upstream, url
    servers.run(runner.cleanup())


def test_cache_control_reaches_upstream_and_cache_tokens_are_counted(
    make_gateway: Any, caching_upstream: tuple[CachingUpstream, str]
) -> None:
    upstream, url = caching_upstream
    cfg = parse_config(
        f"""
tiers:
  - {{name: small, model: claude-haiku-4-5, price_in: 1, price_out: 5,
     deployments: [{{base_url: "{url}", api_key: test-key}}]}}
  - {{name: big, model: claude-opus-4-5, price_in: 5, price_out: 25,
     deployments: [{{base_url: "{url}", api_key: test-key}}]}}
""",
        "<cache test>",
    )
    gw = make_gateway(cfg)
    client = anthropic.Anthropic(base_url=gw.url, api_key="caller", max_retries=0)
    raw = client.messages.with_raw_response.create(
        model="small", max_tokens=16, system=SYSTEM, messages=[{"role": "user", "content": "hi"}]
    )
    msg = raw.parse()
    assert upstream.bodies[-1]["system"] == SYSTEM  # cache_control kept
    assert msg.usage.input_tokens == UNCACHED
    assert msg.usage.cache_read_input_tokens == READ
    assert msg.usage.cache_creation_input_tokens == WRITE
    row = gw.row(raw.headers["x-tierwise-request-id"])
    total_in = UNCACHED + READ + WRITE
    assert (row.input_tokens, row.output_tokens) == (total_in, OUT)
    # cache reads at 0.1x and writes at 1.25x the input price, as Anthropic bills them
    assert row.cost_usd == pytest.approx((UNCACHED * 1 + READ * 0.1 + WRITE * 1.25 + OUT * 5) / 1e6)

    with client.messages.stream(
        model="small", max_tokens=16, system=SYSTEM, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        final = stream.get_final_message()
        rid = stream.response.headers["x-tierwise-request-id"]
    assert final.usage.cache_read_input_tokens == READ
    assert upstream.bodies[-1]["system"] == SYSTEM and upstream.bodies[-1]["stream"] is True
    assert gw.row(rid).input_tokens == total_in

    oa = openai.OpenAI(base_url=gw.openai_base_url, api_key="caller", max_retries=0)
    completion = oa.chat.completions.create(
        model="small",
        messages=[{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}],
    )
    assert upstream.bodies[-1]["system"] == "sys"
    assert completion.usage.prompt_tokens == total_in  # OpenAI's prompt_tokens include cache
