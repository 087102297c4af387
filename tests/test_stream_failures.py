"""Streams that fail after they started: each caller gets an in-stream error in its own format
(the official SDKs raise), the ledger row and metrics record a failure, no second HTTP
response is written into the body, and no in-flight count is left behind. Also: the answering
deployment's own prices are what the ledger bills. Real Dispatcher, real mock upstream."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import anthropic
import openai
import orjson
import pytest
from aiohttp import web

from tierwise.config import Config, parse_config
from tierwise.dispatch import Dispatcher
from tierwise.types import ChatRequest, Decision


def config(mock_url: str, small_url: str | None = None, extra: str = "") -> Config:
    """`small` (Anthropic provider), `mini` (OpenAI provider) and `big`, one attempt each;
    only `small` falls back (to `big`)."""
    small = small_url or mock_url
    return parse_config(
        f"""
tiers:
  - name: small
    model: claude-haiku-4-5
    price_in: 1
    price_out: 5
    fallbacks: [big]
    deployments: [{{base_url: "{small}", api_key: sk-ant-test-key-123456}}]
  - name: mini
    model: gpt-4o-mini
    provider: openai
    price_in: 0.15
    price_out: 0.6
    fallbacks: []
    deployments: [{{provider: openai, base_url: "{small}/v1", api_key: sk-test-key-1234567}}]
  - name: big
    model: claude-opus-4-5
    price_in: 5
    price_out: 25
    fallbacks: []
    deployments: [{{base_url: "{mock_url}", api_key: sk-ant-test-key-123456}}]
retry: {{max_attempts: 1}}
{extra}
""",
        "<stream failure test config>",
    )


def oa(gw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key="caller-key", max_retries=0)


def an(gw: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key="caller-key", max_retries=0)


HI = [{"role": "user", "content": "hi"}]


def wait_row(gw: Any, request_id: str) -> Any:
    """The request's ledger row. A streamed body can reach the client before the handler has
    finished (the row is written after it), so poll for it, with a deadline."""
    deadline = time.monotonic() + 10
    while True:
        rows = [r for r in gw.ledger_rows() if r.request_id == request_id]
        if rows:
            return rows[0]
        assert time.monotonic() < deadline, f"no ledger row for {request_id}"
        time.sleep(0.01)


def assert_nothing_in_flight(gw: Any) -> None:
    state = gw.state
    assert state.metrics.in_flight == 0
    d = state.dispatcher
    assert isinstance(d, Dispatcher)  # the real one, not the test-only SimpleDispatcher
    for tier in state.cfg.tiers:
        for dep in tier.deployments:
            assert d.state.inflight(dep.id) == 0, f"{tier.name} deployment left in flight"


def openai_stream_fails(gw: Any, model: str, headers: dict[str, str]) -> tuple[str, Exception]:
    with oa(gw).chat.completions.with_streaming_response.create(
        model=model, messages=HI, stream=True, extra_headers=headers
    ) as raw:
        assert raw.status_code == 200
        rid = raw.headers["x-tierwise-request-id"]
        with pytest.raises(openai.APIError) as exc:
            for _ in raw.parse():
                pass
    return rid, exc.value


def anthropic_stream_fails(
    gw: Any, model: str, headers: dict[str, str]
) -> tuple[str, anthropic.APIStatusError]:
    with an(gw).messages.with_streaming_response.create(
        model=model, max_tokens=64, messages=HI, stream=True, extra_headers=headers
    ) as raw:
        assert raw.status_code == 200
        rid = raw.headers["request-id"]
        with pytest.raises(anthropic.APIStatusError) as exc:
            for _ in raw.parse():
                pass
    return rid, exc.value


# --------------------------------------------------------------------------- mid-stream faults

OVERLOADED = {"x-mock-stream-error-after": "4", "x-mock-status": "529"}
DROPPED = {"x-mock-disconnect-after": "3"}


@pytest.mark.parametrize("tier", ["small", "mini"])  # Anthropic and OpenAI upstream adapters
@pytest.mark.parametrize(
    ("fault", "openai_status", "anthropic_status", "error_class"),
    [
        (OVERLOADED, None, None, None),  # per upstream, checked below
        (DROPPED, 502, 502, "connection_error"),
    ],
    ids=["upstream-error-event", "upstream-disconnect"],
)
def test_mid_stream_failure_reaches_both_sdks_and_the_ledger(
    make_gateway: Any,
    mock_upstream: Any,
    tier: str,
    fault: dict[str, str],
    openai_status: int | None,
    anthropic_status: int | None,
    error_class: str | None,
) -> None:
    gw = make_gateway(config(mock_upstream.url))
    if fault is OVERLOADED:
        if tier == "small":  # Anthropic's in-stream overloaded_error = a 529
            openai_status, anthropic_status, error_class = 503, 529, "overloaded_error"
        else:  # the mock's OpenAI error chunk carries no numeric code: a 500
            openai_status, anthropic_status = 500, 500
    rid, oexc = openai_stream_fails(gw, tier, fault)
    assert oexc.message  # the SDK raised on the gateway's `data: {"error": ...}` chunk
    row = wait_row(gw, rid)
    assert row.streamed and row.tier == tier
    assert row.status == openai_status and row.error_class
    if error_class:
        assert row.error_class == error_class

    rid, aexc = anthropic_stream_fails(gw, tier, fault)
    body = aexc.body
    assert isinstance(body, dict) and body["type"] == "error" and body["error"]["message"]
    row = wait_row(gw, rid)
    assert row.status == anthropic_status and row.error_class
    if error_class:
        assert row.error_class == error_class

    errors = sum(n for labels, n in gw.state.metrics.errors.items() if labels[1] == tier)
    assert errors == 2  # both failures counted as errors, not successes
    assert_nothing_in_flight(gw)


def test_openai_error_chunk_is_the_last_thing_on_the_wire(
    make_gateway: Any, mock_upstream: Any
) -> None:
    """`data: {"error": {message, type, code}}`, then the stream ends: no `[DONE]`, which
    would tell a raw-SSE reader the answer was complete."""
    gw = make_gateway(config(mock_upstream.url))
    body = {"model": "small", "messages": HI, "stream": True}
    status, raw = post_raw(gw, "/v1/chat/completions", body, OVERLOADED)
    assert status == 200
    events = [e for e in raw.split(b"\n\n") if e]
    assert b"[DONE]" not in raw
    last = orjson.loads(events[-1].removeprefix(b"data: "))
    assert set(last) == {"error"}
    assert last["error"]["type"] == "server_error" and last["error"]["message"]
    assert "code" in last["error"]
    assert len(events) > 1  # some of the answer came first: this was mid-stream


def post_raw(
    gw: Any, path: str, body: dict[str, Any], headers: dict[str, str]
) -> tuple[int, bytes]:
    async def go() -> tuple[int, bytes]:
        async with (
            aiohttp.ClientSession() as s,
            s.post(
                gw.url + path,
                json=body,
                headers={"anthropic-version": "2023-06-01", **headers},
            ) as r,
        ):
            return r.status, await r.read()

    return gw.servers.run(go())


# --------------------------------------------------------------------------- malformed events


class BadUpstream:
    """A tiny upstream speaking both APIs whose streams carry one malformed `data:` line,
    first (`x-mock-bad: first`) or after two good events (`x-mock-bad: mid`); the gateway
    forwards x-mock-* headers."""

    def __init__(self) -> None:
        self.calls = 0
        app = web.Application()
        app.router.add_post("/v1/messages", self.messages)
        app.router.add_post("/v1/chat/completions", self.chat)
        self.runner = web.AppRunner(app)
        self.url = ""

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def _send(self, request: web.Request, good: list[bytes]) -> web.StreamResponse:
        self.calls += 1
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        bad = b"data: {oops\n\n"
        if request.headers.get("x-mock-bad") == "first":
            await resp.write(bad)
        for event in good:
            await resp.write(event)
        await resp.write(bad)
        await resp.write_eof()
        return resp

    async def messages(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        start = {
            "type": "message_start",
            "message": {
                "id": "msg_bad",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 3, "output_tokens": 1},
            },
        }
        block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}}
        return await self._send(
            request,
            [
                b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n"
                for e in (start, block)
            ],
        )

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        base = {"id": "chatcmpl-bad", "object": "chat.completion.chunk", "model": body["model"]}
        chunks = [
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
            {**base, "choices": [{"index": 0, "delta": {"content": "Hel"}}]},
        ]
        return await self._send(request, [b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks])


@pytest.fixture
def bad_upstream(servers: Any) -> Any:
    up = BadUpstream()
    servers.run(up.start())
    yield up
    servers.run(up.runner.cleanup())


@pytest.mark.parametrize("tier", ["small", "mini"])
def test_malformed_event_mid_stream_is_an_in_stream_error(
    make_gateway: Any, mock_upstream: Any, bad_upstream: BadUpstream, tier: str
) -> None:
    gw = make_gateway(config(mock_upstream.url, bad_upstream.url))
    mid = {"x-mock-bad": "mid"}
    rid, oexc = openai_stream_fails(gw, tier, mid)
    assert "malformed stream event" in oexc.message
    row = wait_row(gw, rid)
    assert row.status == 502 and row.error_class == "api_error"

    rid, aexc = anthropic_stream_fails(gw, tier, mid)
    assert "malformed stream event" in str(aexc.body)
    assert wait_row(gw, rid).status == 502

    # On the wire: one 200 SSE response, ending in the error event; never a second response
    # (the old failure: a JSON 500 written into the already-started stream).
    status, raw = post_raw(
        gw, "/v1/messages", {"model": tier, "max_tokens": 8, "messages": HI, "stream": True}, mid
    )
    assert status == 200 and b"HTTP/1.1" not in raw
    assert raw.startswith(b"event: message_start")
    assert raw.rstrip().split(b"\n\n")[-1].startswith(b"event: error\n")
    assert_nothing_in_flight(gw)


def test_malformed_first_event_fails_over_like_any_upstream_error(
    make_gateway: Any, mock_upstream: Any, bad_upstream: BadUpstream
) -> None:
    gw = make_gateway(config(mock_upstream.url, bad_upstream.url))
    with oa(gw).chat.completions.with_streaming_response.create(
        model="small", messages=HI, stream=True, extra_headers={"x-mock-bad": "first"}
    ) as raw:
        assert raw.headers["x-tierwise-tier"] == "big"  # small's upstream failed: fell back
        assert "502" in raw.headers["x-tierwise-fallback"]
        text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text.startswith("Mock answer from claude-opus-4-5")
    assert bad_upstream.calls == 1
    # without a fallback (mini), the caller gets a plain 502 response, not a stream
    with pytest.raises(openai.APIStatusError) as exc:
        oa(gw).chat.completions.create(
            model="mini", messages=HI, stream=True, extra_headers={"x-mock-bad": "first"}
        )
    assert exc.value.status_code == 502 and "malformed stream event" in exc.value.message
    assert_nothing_in_flight(gw)


# --------------------------------------------------------------------------- in-flight counts


def test_closing_an_unstarted_stream_ends_the_upstream_call(mock_upstream: Any, servers: Any):
    """The server may never iterate the events (the caller left before the first write);
    StreamDispatch.close() must still end the call, once."""

    async def go() -> list[int]:
        cfg = config(mock_upstream.url)
        seen = []
        async with aiohttp.ClientSession() as session:
            d = Dispatcher(cfg, session)
            await d.start()
            try:
                req = ChatRequest.from_prompt("hi", model="small")
                req.stream = True
                decision = Decision("small", "claude-haiku-4-5", 0.0, {}, "manual", "test")
                sd = await d.stream(req, decision)
                seen.append(d.state.inflight(sd.deployment_id))
                await sd.close()  # never iterated
                seen.append(d.state.inflight(sd.deployment_id))
                await sd.close()  # idempotent: not -1
                seen.append(d.state.inflight(sd.deployment_id))
                sd = await d.stream(req, decision)
                assert (await anext(aiter(sd.events)))["type"] == "message_start"
                await sd.close()  # part-read
                seen.append(d.state.inflight(sd.deployment_id))
            finally:
                await d.close()
        return seen

    assert servers.run(go()) == [1, 0, 0, 0]


@pytest.mark.parametrize(
    "delay",
    [{"x-mock-latency-ms": "30000"}, {"x-mock-ttft-ms": "30000"}],
    ids=["before-first-byte", "after-headers"],
)
def test_client_disconnect_leaves_nothing_in_flight(
    make_gateway: Any, mock_upstream: Any, delay: dict[str, str]
) -> None:
    gw = make_gateway(config(mock_upstream.url))
    body = {"model": "small", "messages": HI, "stream": True}

    async def go() -> str:
        async with aiohttp.ClientSession() as s:
            rid: asyncio.Future[str] = asyncio.get_running_loop().create_future()

            async def call() -> None:
                async with s.post(gw.url + "/v1/chat/completions", json=body, headers=delay) as r:
                    rid.set_result(r.headers["x-tierwise-request-id"])
                    await r.read()  # blocks: the upstream is stalled

            task = asyncio.ensure_future(call())
            if "x-mock-ttft-ms" in delay:
                request_id = await asyncio.wait_for(rid, 10)  # headers arrived
            else:
                deadline = time.monotonic() + 10
                while gw.state.metrics.in_flight == 0:  # the gateway is awaiting the upstream
                    assert time.monotonic() < deadline, "request never reached the gateway"
                    await asyncio.sleep(0.005)
                request_id = ""
            task.cancel()  # the caller goes away
            with pytest.raises(asyncio.CancelledError):
                await task
            return request_id

    request_id = gw.servers.run(go())
    deadline = time.monotonic() + 10
    while not (rows := [r for r in gw.ledger_rows() if r.status == 499]):
        assert time.monotonic() < deadline, "the disconnect was never recorded"
        time.sleep(0.01)
    if request_id:
        assert rows[0].request_id == request_id
    assert rows[0].error_class == "client_disconnected"
    assert_nothing_in_flight(gw)


# --------------------------------------------------------------------------- deployment prices


def test_ledger_bills_the_answering_deployments_prices(
    make_gateway: Any, mock_upstream: Any
) -> None:
    url = mock_upstream.url
    cfg = parse_config(
        f"""
tiers:
  - name: cheap
    model: claude-haiku-4-5
    price_in: 1
    price_out: 5
    deployments: [{{base_url: "{url}", api_key: sk-ant-test-key-123456,
                   price_in: 0.5, price_out: 2}}]
  - name: dear
    model: claude-opus-4-5
    price_in: 5
    price_out: 25
    deployments: [{{base_url: "{url}", api_key: sk-ant-test-key-123456, price_out: 20}}]
""",
        "<price test config>",
    )
    gw = make_gateway(cfg)
    client = oa(gw)
    raw = client.chat.completions.with_raw_response.create(model="cheap", messages=HI)
    usage = raw.parse().usage
    row = wait_row(gw, raw.headers["x-tierwise-request-id"])
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    expected = (usage.prompt_tokens * 0.5 + usage.completion_tokens * 2) / 1e6
    assert row.cost_usd == pytest.approx(expected)
    assert row.cost_usd != pytest.approx(
        (usage.prompt_tokens * 1 + usage.completion_tokens * 5) / 1e6
    )

    # streamed, and only price_out set on the deployment: price_in is the tier's
    with client.chat.completions.with_streaming_response.create(
        model="dear", messages=HI, stream=True, stream_options={"include_usage": True}
    ) as sraw:
        rid = sraw.headers["x-tierwise-request-id"]
        last = list(sraw.parse())[-1]
    row = wait_row(gw, rid)
    u = last.usage
    assert row.cost_usd == pytest.approx((u.prompt_tokens * 5 + u.completion_tokens * 20) / 1e6)
    total = sum(gw.state.metrics.cost.values())
    assert total == pytest.approx(
        sum(r.cost_usd for r in gw.ledger_rows())
    )  # metrics bill the same


def test_openai_encoder_renders_a_canonical_error_event() -> None:
    """The encoder alone (e.g. for an embedder's own stream) turns the dispatcher's error
    event into an OpenAI error chunk, status mapped as for an error response."""
    from tierwise.dispatch import error_event
    from tierwise.providers.base import UpstreamError
    from tierwise.providers.openai_format import OpenAIEncoder

    enc = OpenAIEncoder("m", include_usage=True)
    err = UpstreamError(529, "busy, key sk-abcdef1234567890", error_type="overloaded_error")
    raw = enc.encode(error_event(err))
    assert raw.startswith(b"data: ") and raw.endswith(b"\n\n") and b"[DONE]" not in raw
    body = orjson.loads(raw.removeprefix(b"data: "))
    assert body["error"]["type"] == "server_error"  # 529 -> 503 for OpenAI callers
    assert body["error"]["code"] == "overloaded"
    assert "busy" in body["error"]["message"] and "sk-abcdef" not in body["error"]["message"]
