"""Tests for ``tierwise mock-upstream``, driven through the official SDKs over real HTTP.

The point of the mock is that real client code cannot tell it from the providers, so
most assertions go through ``anthropic`` / ``openai`` SDK objects rather than raw JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine, Iterator
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from tierwise.mock.__main__ import build_parser, main
from tierwise.mock.answers import answer_pieces, complete, count_tokens, tool_input
from tierwise.mock.app import start_mock
from tierwise.mock.config import MockConfig, parse_status_mix

HAIKU = "claude-haiku-4-5"
MINI = "gpt-4o-mini"
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer"},
    },
    "required": ["city", "unit"],
}
ANTHROPIC_TOOLS = [
    {"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA}
]
OPENAI_TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}
]


class MockServer:
    """A mock upstream on its own event loop in a background thread."""

    def __init__(self, config: MockConfig) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runner, self.base_url = self.run(start_mock(config))

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def close(self) -> None:
        self.run(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """Raw HTTP, for things the SDKs refuse to send (no key, bad bodies)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("content-type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def stats(self) -> dict[str, Any]:
        return json.loads(self.request("GET", "/mock/stats")[2])

    def count(self, api: str, model: str, status: int) -> int:
        return sum(
            r["count"]
            for r in self.stats()["requests"]
            if (r["api"], r["model"], r["status"]) == (api, model, status)
        )


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    srv = MockServer(MockConfig(answer_tokens=16))
    yield srv
    srv.close()


@pytest.fixture(autouse=True)
def _reset(request: pytest.FixtureRequest) -> None:
    if "server" in request.fixturenames:
        srv: MockServer = request.getfixturevalue("server")
        assert srv.request("POST", "/mock/reset")[0] == 200


@pytest.fixture
def claude(server: MockServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base_url, api_key="test-key", max_retries=0)


@pytest.fixture
def gpt(server: MockServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key="test-key", max_retries=0)


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


# --------------------------------------------------------------------------- pure helpers


def test_answers_are_deterministic_and_model_dependent() -> None:
    a = answer_pieces(HAIKU, "hello", 12)
    assert a == answer_pieces(HAIKU, "hello", 12)
    assert a != answer_pieces(HAIKU, "goodbye", 12)
    assert a != answer_pieces(MINI, "hello", 12)
    assert "".join(a).startswith(f"Mock answer from {HAIKU}:")
    assert len(answer_pieces(HAIKU, "x", 300)) == 300


def test_complete_honours_max_tokens_and_stop() -> None:
    assert complete(HAIKU, "p", 16, 5, None).stop == "max_tokens"
    assert complete(HAIKU, "p", 16, 16, None).stop == "end"
    done = complete(HAIKU, "p", 16, None, ["from", "answer"])
    assert (done.text, done.stop, done.stop_sequence) == ("Mock ", "stop_sequence", "answer")
    assert count_tokens("abcdefgh") == 2 and count_tokens("abcdefghi") == 3


def test_tool_input_fills_required_props_from_schema() -> None:
    assert tool_input(WEATHER_SCHEMA) == {"city": "mock", "unit": "celsius"}


def test_parse_status_mix() -> None:
    assert parse_status_mix("429:0.5,500:0.3,529:0.2") == ((429, 0.5), (500, 0.3), (529, 0.2))
    assert parse_status_mix("hang:1,disconnect:2") == (("hang", 1.0), ("disconnect", 2.0))
    for bad in ("", "200:1", "abc:1", "500:-1"):
        with pytest.raises(ValueError):
            parse_status_mix(bad)


# --------------------------------------------------------------------------- Anthropic


def test_anthropic_message(server: MockServer, claude: anthropic.Anthropic) -> None:
    msg = claude.messages.create(model=HAIKU, max_tokens=100, messages=user("What is 2+2?"))
    again = claude.messages.create(model=HAIKU, max_tokens=100, messages=user("What is 2+2?"))
    assert msg.id.startswith("msg_") and msg.type == "message" and msg.role == "assistant"
    assert msg.model == HAIKU
    assert msg.stop_reason == "end_turn" and msg.stop_sequence is None
    assert msg.content[0].type == "text"
    assert msg.content[0].text.startswith(f"Mock answer from {HAIKU}:")
    assert msg.content[0].text == again.content[0].text
    assert msg.usage.output_tokens == 16
    assert msg.usage.input_tokens == count_tokens("What is 2+2?")
    assert server.count("anthropic", HAIKU, 200) == 2


def test_anthropic_stream_event_sequence(claude: anthropic.Anthropic) -> None:
    events = list(
        claude.messages.create(model=HAIKU, max_tokens=100, messages=user("hi"), stream=True)
    )
    kinds = [e.type for e in events]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(kinds[2:-3]) == {"content_block_delta"}
    start = events[0].message
    assert start.content == [] and start.usage.input_tokens >= 1 and start.stop_reason is None
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    final = claude.messages.create(model=HAIKU, max_tokens=100, messages=user("hi"))
    assert text == final.content[0].text
    assert events[-2].delta.stop_reason == "end_turn"
    assert events[-2].usage.output_tokens == 16


def test_anthropic_raw_sse_has_ping(server: MockServer) -> None:
    status, headers, body = server.request(
        "POST",
        "/v1/messages",
        {"model": HAIKU, "max_tokens": 3, "messages": user("hi"), "stream": True},
        {"x-api-key": "k", "anthropic-version": "2023-06-01"},
    )
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    names = [ln[7:] for ln in body.decode().splitlines() if ln.startswith("event: ")]
    assert names == [
        "message_start", "content_block_start", "ping",
        "content_block_delta", "content_block_delta", "content_block_delta",
        "content_block_stop", "message_delta", "message_stop",
    ]  # fmt: skip


def test_anthropic_stream_helper_final_message(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(model=HAIKU, max_tokens=5, messages=user("hi")) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "max_tokens" and final.usage.output_tokens == 5


def test_anthropic_max_tokens_and_stop_sequences(claude: anthropic.Anthropic) -> None:
    cut = claude.messages.create(model=HAIKU, max_tokens=3, messages=user("hi"))
    assert cut.stop_reason == "max_tokens" and cut.usage.output_tokens == 3
    assert cut.content[0].text == "Mock answer from"
    stopped = claude.messages.create(
        model=HAIKU, max_tokens=100, messages=user("hi"), stop_sequences=["zzz", " from"]
    )
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == " from"
    assert stopped.content[0].text == "Mock answer"


def test_anthropic_tool_use(claude: anthropic.Anthropic) -> None:
    msg = claude.messages.create(
        model=HAIKU, max_tokens=200, tools=ANTHROPIC_TOOLS,
        messages=user("Please use the tool for Paris"),
    )  # fmt: skip
    assert msg.stop_reason == "tool_use"
    block = msg.content[0]
    assert block.type == "tool_use" and block.id.startswith("toolu_")
    assert block.name == "get_weather" and block.input == {"city": "mock", "unit": "celsius"}
    with claude.messages.stream(
        model=HAIKU, max_tokens=200, tools=ANTHROPIC_TOOLS, messages=user("call it")
    ) as stream:
        streamed = stream.get_final_message()
    assert streamed.stop_reason == "tool_use"
    assert streamed.content[0].input == {"city": "mock", "unit": "celsius"}
    tool_turn = block.model_dump(include={"type", "id", "name", "input"})
    follow_up = [
        *user("use the tool"),
        {"role": "assistant", "content": [tool_turn]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": block.id, "content": "sunny"}]},
    ]  # fmt: skip
    answer = claude.messages.create(
        model=HAIKU, max_tokens=200, tools=ANTHROPIC_TOOLS, messages=follow_up
    )
    assert answer.stop_reason == "end_turn" and answer.content[0].type == "text"
    plain = claude.messages.create(
        model=HAIKU, max_tokens=200, tools=ANTHROPIC_TOOLS, messages=user("hello")
    )
    assert plain.content[0].type == "text"


def test_anthropic_injected_errors(server: MockServer, claude: anthropic.Anthropic) -> None:
    kw: dict[str, Any] = {"model": HAIKU, "max_tokens": 10, "messages": user("hi")}
    with pytest.raises(anthropic.RateLimitError) as rate:
        claude.messages.create(**kw, extra_headers={"x-mock-status": "429"})
    assert rate.value.response.headers["retry-after"] == "1"
    assert rate.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    with pytest.raises(anthropic.InternalServerError) as over:
        claude.messages.create(**kw, extra_headers={"x-mock-status": "529"})
    assert over.value.status_code == 529
    assert over.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    with pytest.raises(anthropic.InternalServerError) as boom:
        claude.messages.create(**kw, extra_headers={"x-mock-status": "500"})
    assert boom.value.body["error"]["type"] == "api_error"  # type: ignore[index]
    assert server.count("anthropic", HAIKU, 429) == 1
    assert server.count("anthropic", HAIKU, 529) == 1
    assert server.count("anthropic", HAIKU, 500) == 1


def test_anthropic_validation_and_auth_errors(server: MockServer) -> None:
    good = {"model": HAIKU, "max_tokens": 10, "messages": user("hi")}
    auth = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    status, _, body = server.request("POST", "/v1/messages", good, {"anthropic-version": "x"})
    assert status == 401
    assert json.loads(body)["error"]["type"] == "authentication_error"
    status, _, body = server.request("POST", "/v1/messages", good, {"x-api-key": "k"})
    assert status == 400 and "anthropic-version" in json.loads(body)["error"]["message"]
    status, _, body = server.request(
        "POST", "/v1/messages", {"model": HAIKU, "messages": user("hi")}, auth
    )
    err = json.loads(body)
    assert status == 400 and err["type"] == "error"
    assert err["error"] == {
        "type": "invalid_request_error",
        "message": "max_tokens: Field required",
    }
    assert err["request_id"].startswith("req_")


def test_anthropic_mid_stream_disconnect(server: MockServer, claude: anthropic.Anthropic) -> None:
    received: list[str] = []
    # Unlike openai's, the anthropic SDK lets the transport error escape mid-stream.
    with pytest.raises((anthropic.APIConnectionError, httpx2.TransportError)):
        for event in claude.messages.create(
            model=HAIKU, max_tokens=100, messages=user("hi"), stream=True,
            extra_headers={"x-mock-disconnect-after": "4"},
        ):  # fmt: skip
            received.append(event.type)
    assert received == ["message_start", "content_block_start", "content_block_delta"]
    assert server.stats()["disconnects"] == [{"api": "anthropic", "model": HAIKU, "count": 1}]


def test_anthropic_in_stream_error_event(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.APIStatusError) as exc:
        list(
            claude.messages.create(
                model=HAIKU, max_tokens=100, messages=user("hi"), stream=True,
                extra_headers={"x-mock-stream-error-after": "3"},
            )
        )  # fmt: skip
    assert "overloaded_error" in str(exc.value)


def test_fail_first_then_succeed_with_sdk_retries(server: MockServer) -> None:
    client = anthropic.Anthropic(base_url=server.base_url, api_key="k", max_retries=3)
    headers = {
        "x-mock-status": "429", "x-mock-fail-first": "2",
        "x-mock-key": "retry-test", "x-mock-retry-after": "0.01",
    }  # fmt: skip
    msg = client.messages.create(
        model=HAIKU, max_tokens=10, messages=user("hi"), extra_headers=headers
    )
    assert msg.stop_reason == "max_tokens"
    assert server.count("anthropic", HAIKU, 429) == 2
    assert server.count("anthropic", HAIKU, 200) == 1


# --------------------------------------------------------------------------- OpenAI


def test_openai_completion(server: MockServer, gpt: openai.OpenAI) -> None:
    out = gpt.chat.completions.create(model=MINI, messages=user("What is 2+2?"))
    assert out.id.startswith("chatcmpl-") and out.object == "chat.completion"
    assert out.model == MINI and out.created > 0
    choice = out.choices[0]
    assert choice.index == 0 and choice.finish_reason == "stop" and choice.logprobs is None
    assert choice.message.role == "assistant"
    assert choice.message.content is not None
    assert choice.message.content.startswith(f"Mock answer from {MINI}:")
    assert out.usage is not None and out.usage.completion_tokens == 16
    assert out.usage.total_tokens == out.usage.prompt_tokens + 16
    assert server.count("openai", MINI, 200) == 1


def test_openai_stream_with_usage(gpt: openai.OpenAI) -> None:
    chunks = list(
        gpt.chat.completions.create(
            model=MINI, messages=user("hi"), stream=True, stream_options={"include_usage": True}
        )
    )
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    first, final, usage = chunks[0], chunks[-2], chunks[-1]
    assert first.choices[0].delta.role == "assistant" and first.choices[0].delta.content == ""
    assert final.choices[0].finish_reason == "stop" and final.usage is None
    assert usage.choices == [] and usage.usage is not None
    assert usage.usage.completion_tokens == 16
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    plain = gpt.chat.completions.create(model=MINI, messages=user("hi"))
    assert text == plain.choices[0].message.content
    no_usage = list(gpt.chat.completions.create(model=MINI, messages=user("hi"), stream=True))
    assert no_usage[-1].choices[0].finish_reason == "stop"


def test_openai_raw_stream_ends_with_done(server: MockServer) -> None:
    status, _, body = server.request(
        "POST", "/v1/chat/completions",
        {"model": MINI, "messages": user("hi"), "stream": True, "max_tokens": 2},
        {"authorization": "Bearer k"},
    )  # fmt: skip
    lines = [ln for ln in body.decode().split("\n\n") if ln]
    assert status == 200 and lines[-1] == "data: [DONE]"
    assert all(ln.startswith("data: ") for ln in lines)
    assert json.loads(lines[-2][6:])["choices"][0]["finish_reason"] == "length"


def test_openai_max_tokens_and_stop(gpt: openai.OpenAI) -> None:
    cut = gpt.chat.completions.create(model=MINI, messages=user("hi"), max_tokens=3)
    assert cut.choices[0].finish_reason == "length" and cut.usage is not None
    assert cut.usage.completion_tokens == 3
    newer = gpt.chat.completions.create(model=MINI, messages=user("hi"), max_completion_tokens=2)
    assert newer.choices[0].message.content == "Mock answer"
    stopped = gpt.chat.completions.create(model=MINI, messages=user("hi"), stop=" from")
    assert stopped.choices[0].finish_reason == "stop"
    assert stopped.choices[0].message.content == "Mock answer"


def test_openai_tool_calls(gpt: openai.OpenAI) -> None:
    out = gpt.chat.completions.create(
        model=MINI, messages=user("use the tool please"), tools=OPENAI_TOOLS
    )
    choice = out.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert call.id.startswith("call_") and call.type == "function"
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "mock", "unit": "celsius"}  # type: ignore[union-attr]
    chunks = list(
        gpt.chat.completions.create(
            model=MINI, messages=user("call it"), tools=OPENAI_TOOLS, stream=True
        )
    )
    args = "".join(
        tc.function.arguments or ""
        for c in chunks
        for tc in c.choices[0].delta.tool_calls or ()
        if tc.function is not None
    )
    assert json.loads(args) == {"city": "mock", "unit": "celsius"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    forced = gpt.chat.completions.create(
        model=MINI, messages=user("hello"), tools=OPENAI_TOOLS, tool_choice="required"
    )
    assert forced.choices[0].finish_reason == "tool_calls"


def test_openai_injected_errors(server: MockServer, gpt: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as rate:
        gpt.chat.completions.create(
            model=MINI, messages=user("hi"),
            extra_headers={"x-mock-status": "429", "x-mock-retry-after": "7"},
        )  # fmt: skip
    assert rate.value.response.headers["retry-after"] == "7"
    assert rate.value.code == "rate_limit_exceeded"
    with pytest.raises(openai.InternalServerError) as boom:
        gpt.chat.completions.create(
            model=MINI, messages=user("hi"), extra_headers={"x-mock-status": "500"}
        )
    assert boom.value.type == "server_error"
    assert server.count("openai", MINI, 429) == 1 and server.count("openai", MINI, 500) == 1


def test_openai_validation_and_auth_errors(server: MockServer, gpt: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        gpt.chat.completions.create(model=MINI, messages=[])
    assert bad.value.param == "messages" and bad.value.code == "empty_array"
    status, _, body = server.request(
        "POST", "/v1/chat/completions", {"model": MINI, "messages": user("hi")}
    )
    err = json.loads(body)["error"]
    assert status == 401 and set(err) == {"message", "type", "param", "code"}
    status, _, body = server.request(
        "POST", "/v1/chat/completions", {"model": MINI}, {"authorization": "Bearer k"}
    )
    assert status == 400
    assert json.loads(body)["error"]["code"] == "missing_required_parameter"


def test_openai_disconnects(server: MockServer, gpt: openai.OpenAI) -> None:
    got: list[str | None] = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in gpt.chat.completions.create(
            model=MINI, messages=user("hi"), stream=True,
            extra_headers={"x-mock-disconnect-after": "3"},
        ):  # fmt: skip
            got.append(chunk.choices[0].delta.content)
    assert got == ["", "Mock", " answer"]
    with pytest.raises(openai.APIConnectionError):
        gpt.chat.completions.create(
            model=MINI, messages=user("hi"), extra_headers={"x-mock-disconnect-after": "0"}
        )
    with pytest.raises(openai.APIError, match="server had an error"):
        list(
            gpt.chat.completions.create(
                model=MINI, messages=user("hi"), stream=True,
                extra_headers={"x-mock-stream-error-after": "2"},
            )
        )  # fmt: skip
    assert server.count("openai", MINI, 0) == 1


# --------------------------------------------------------------------------- timing faults


def test_latency_and_stream_pacing(gpt: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    t0 = time.perf_counter()
    gpt.chat.completions.create(
        model=MINI, messages=user("hi"), extra_headers={"x-mock-latency-ms": "150"}
    )
    assert time.perf_counter() - t0 >= 0.15
    t0 = time.perf_counter()
    stream = claude.messages.create(
        model=HAIKU, max_tokens=100, messages=user("hi"), stream=True,
        extra_headers={"x-mock-ttft-ms": "100", "x-mock-tokens-per-s": "200"},
    )  # fmt: skip
    arrivals: list[float] = []
    for event in stream:
        if event.type == "content_block_delta":
            arrivals.append(time.perf_counter())
    assert arrivals[0] - t0 >= 0.1  # no token before the time to first token
    # The server cannot send the last token before TTFT + 15 gaps at 200 tokens/s. Measured
    # from the request's start (a lower bound), since the client may read events in batches.
    assert arrivals[-1] - t0 >= 0.1 + 15 / 200 * 0.9


def test_hang_times_out_client_and_is_cancelled(
    server: MockServer, claude: anthropic.Anthropic
) -> None:
    with pytest.raises(anthropic.APITimeoutError):
        claude.messages.create(
            model=HAIKU, max_tokens=10, messages=user("hi"),
            extra_headers={"x-mock-hang-s": "10"}, timeout=0.3,
        )  # fmt: skip
    deadline = time.monotonic() + 5
    while not server.stats()["cancelled"] and time.monotonic() < deadline:
        time.sleep(0.02)  # polling the server's own counters, bounded
    assert server.stats()["cancelled"] == [{"api": "anthropic", "model": HAIKU, "count": 1}]


def test_bad_mock_header_is_a_400(gpt: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="x-mock-status"):
        gpt.chat.completions.create(
            model=MINI, messages=user("hi"), extra_headers={"x-mock-status": "nope"}
        )


# --------------------------------------------------------------------------- random faults


def test_seeded_random_faults_repeat_after_reset() -> None:
    cfg = MockConfig(error_rate=0.5, status_mix=parse_status_mix("429:1,500:1,529:1"), seed=7)
    srv = MockServer(cfg)
    try:
        client = openai.OpenAI(base_url=srv.base_url + "/v1", api_key="k", max_retries=0)

        def run() -> list[int]:
            codes = []
            for _ in range(30):
                try:
                    client.chat.completions.create(model=MINI, messages=user("hi"))
                    codes.append(200)
                except openai.APIStatusError as exc:
                    codes.append(exc.status_code)
            return codes

        first = run()
        srv.request("POST", "/mock/reset")
        assert run() == first
        assert {200, 429, 500, 529} <= set(first)
        assert srv.stats()["total"] == 30
    finally:
        srv.close()


def test_configured_disconnect_and_hang_outcomes() -> None:
    cut = MockServer(MockConfig(error_rate=1.0, status_mix=(("disconnect", 1.0),)))
    slow = MockServer(MockConfig(error_rate=1.0, status_mix=(("hang", 1.0),), hang_s=0.2))
    try:
        client = openai.OpenAI(base_url=cut.base_url + "/v1", api_key="k", max_retries=0)
        got: list[str | None] = []
        with pytest.raises(openai.APIConnectionError):
            for chunk in client.chat.completions.create(
                model=MINI, messages=user("hi"), stream=True
            ):
                got.append(chunk.choices[0].delta.content)
        assert got == ["", "Mock"]  # default --disconnect-after 2
        client = openai.OpenAI(base_url=slow.base_url + "/v1", api_key="k", max_retries=0)
        t0 = time.perf_counter()
        out = client.chat.completions.create(model=MINI, messages=user("hi"))
        assert time.perf_counter() - t0 >= 0.2 and out.choices[0].finish_reason == "stop"
    finally:
        cut.close()
        slow.close()


# --------------------------------------------------------------------------- misc endpoints


def test_models_health_stats(server: MockServer) -> None:
    status, _, body = server.request("GET", "/health")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    listing = json.loads(server.request("GET", "/v1/models")[2])
    assert listing["object"] == "list" and listing["data"][0]["object"] == "model"
    claude_listing = json.loads(
        server.request("GET", "/v1/models", headers={"anthropic-version": "2023-06-01"})[2]
    )
    assert claude_listing["data"][0]["type"] == "model" and claude_listing["has_more"] is False
    stats = server.stats()
    assert stats["total"] == 0 and stats["in_flight"] == 0


# --------------------------------------------------------------------------- CLI


def test_cli_help_is_accurate(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--port PORT" in out and "default: 8099" in out and "default: 127.0.0.1" in out
    assert "x-mock-fail-first" in out
    args = build_parser().parse_args([])
    assert (args.host, args.port) == ("127.0.0.1", 8099)


def test_python_dash_m_serves(tmp_path: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tierwise.mock", "--port", str(port), "--no-auth"],
        stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline().decode()  # printed once the socket is listening
        assert f"127.0.0.1:{port}" in line
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0)
        out = client.chat.completions.create(model=MINI, messages=user("hi"))
        assert out.choices[0].message.content.startswith("Mock answer")  # type: ignore[union-attr]
    finally:
        proc.terminate()
        proc.wait(timeout=5)
