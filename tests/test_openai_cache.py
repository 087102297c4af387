"""OpenAI prompt caching through the gateway: `prompt_tokens_details.cached_tokens` from an
OpenAI-compatible upstream is carried to both kinds of caller and priced as cache reads.

The upstream is a small real aiohttp server on loopback that answers like OpenAI with cached
prompt tokens (the shared mock has no prompt cache)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from aiohttp import web

from conftest import LoopThread, serve_app
from tierwise.config import ConfigError, parse_config
from tierwise.providers.sse import openai_data

PROMPT, CACHED, OUT = 1200, 1024, 5
USAGE = {
    "prompt_tokens": PROMPT,
    "completion_tokens": OUT,
    "total_tokens": PROMPT + OUT,
    "prompt_tokens_details": {"cached_tokens": CACHED},
}


async def chat_completions(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    base = {"id": "chatcmpl-c", "created": 1, "model": body["model"]}
    if not body.get("stream"):
        return web.json_response({
            **base,
            "object": "chat.completion",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "ok"}}],
            "usage": USAGE,
        })
    resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await resp.prepare(request)
    chunk = {**base, "object": "chat.completion.chunk"}
    for choices, usage in (
        ([{"index": 0, "delta": {"role": "assistant", "content": "ok"}, "finish_reason": None}],
         None),
        ([{"index": 0, "delta": {}, "finish_reason": "stop"}], None),
        ([], USAGE),
    ):
        await resp.write(openai_data({**chunk, "choices": choices, "usage": usage}))
    await resp.write(b"data: [DONE]\n\n")
    await resp.write_eof()
    return resp


@pytest.fixture
def upstream(servers: LoopThread) -> Iterator[str]:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat_completions)

    runner, url = serve_app(servers, app)
    yield url
    servers.run(runner.cleanup())


def config(url: str, cache_price: str = "") -> Any:
    return parse_config(
        f"""
tiers:
  - {{name: small, model: gpt-4o-mini, provider: openai, price_in: 1, price_out: 5, {cache_price}
     deployments: [{{provider: openai, base_url: "{url}", api_key: k}}]}}
  - {{name: big, model: gpt-4o, provider: openai, price_in: 5, price_out: 25,
     deployments: [{{provider: openai, base_url: "{url}", api_key: k}}]}}
""",
        "<openai cache test>",
    )


def test_cached_prompt_tokens_reach_both_callers_and_cost_half_by_default(
    make_gateway: Any, upstream: str
) -> None:
    gw = make_gateway(config(upstream))
    oa = openai.OpenAI(base_url=gw.openai_base_url, api_key="caller", max_retries=0)
    raw = oa.chat.completions.with_raw_response.create(
        model="small", messages=[{"role": "user", "content": "hi"}]
    )
    usage = raw.parse().usage
    assert (usage.prompt_tokens, usage.prompt_tokens_details.cached_tokens) == (PROMPT, CACHED)
    row = gw.row(raw.headers["x-tierwise-request-id"])
    assert row.input_tokens == PROMPT
    # OpenAI bills cached input at half the input price (gpt-4o family) unless configured
    assert row.cost_usd == pytest.approx(((PROMPT - CACHED) * 1 + CACHED * 0.5 + OUT * 5) / 1e6)

    stream = oa.chat.completions.create(
        model="small", messages=[{"role": "user", "content": "hi"}], stream=True,
        stream_options={"include_usage": True},
    )
    last = [c for c in stream][-1]
    assert last.usage.prompt_tokens_details.cached_tokens == CACHED

    an = anthropic.Anthropic(base_url=gw.url, api_key="caller", max_retries=0)
    msg = an.messages.create(model="small", max_tokens=9,
                             messages=[{"role": "user", "content": "hi"}])
    assert (msg.usage.input_tokens, msg.usage.cache_read_input_tokens) == (PROMPT - CACHED, CACHED)
    with an.messages.stream(model="small", max_tokens=9,
                            messages=[{"role": "user", "content": "hi"}]) as s:
        final = s.get_final_message()
        rid = s.response.headers["x-tierwise-request-id"]
    assert (final.usage.input_tokens, final.usage.cache_read_input_tokens) == (
        PROMPT - CACHED, CACHED)
    assert gw.row(rid).cost_usd == pytest.approx(row.cost_usd)


def test_a_configured_cache_read_price_is_used(make_gateway: Any, upstream: str) -> None:
    gw = make_gateway(config(upstream, "price_cache_read: 0.25,"))
    oa = openai.OpenAI(base_url=gw.openai_base_url, api_key="caller", max_retries=0)
    raw = oa.chat.completions.with_raw_response.create(
        model="small", messages=[{"role": "user", "content": "hi"}]
    )
    row = gw.row(raw.headers["x-tierwise-request-id"])
    assert row.cost_usd == pytest.approx(((PROMPT - CACHED) * 1 + CACHED * 0.25 + OUT * 5) / 1e6)


def test_a_negative_cache_read_price_is_refused(upstream: str) -> None:
    with pytest.raises(ConfigError, match="price_cache_read"):
        config(upstream, "price_cache_read: -1,")

