"""Cascades through the real gateway: official SDKs -> `tierwise serve` -> real mock upstreams.

The cheap tier (haiku) is served by a "terse" mock whose answers are 2 tokens ("Mock answer",
11 chars); sonnet and opus by a mock with the default 16-token answers. With a question of
>= 160 chars, the terse answer is weak ("short"), so it escalates deterministically. Per
request, `x-mock-answer-tokens` (forwarded upstream by the gateway) makes every tier's answer
long (the cheap answer is accepted) or one token (every answer is weak). No tier falls back
and nothing is retried, so the mocks' request counts are exactly the cascade's calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from conftest import GatewayHandle, LoopThread, MockHandle, _post, memory_ledger
from redis_helpers import free_port
from tierwise.config import parse_config
from tierwise.mock.app import start_mock
from tierwise.mock.config import MockConfig

QUESTION = (
    "Explain, step by step, how a B-tree keeps itself balanced when keys are inserted and "
    "deleted, and why that balance matters for database indexes on spinning disks and SSDs."
)
PRICES = {"haiku": (1.0, 5.0), "sonnet": (3.0, 15.0), "opus": (5.0, 25.0)}  # USD / M tokens
MODELS = {"haiku": "claude-haiku-4-5", "sonnet": "claude-sonnet-4-5", "opus": "claude-opus-4-1"}
LONG = {"x-mock-answer-tokens": "30"}  # every tier answers at length: nothing is weak
ONE = {"x-mock-answer-tokens": "1"}  # every tier answers "Mock": everything is weak


def cost(*calls: tuple[str, int, int]) -> float:
    return sum(t_in * PRICES[t][0] / 1e6 + t_out * PRICES[t][1] / 1e6 for t, t_in, t_out in calls)


def config_text(terse: str, full: str, cascade: str = "{}", opus_url: str | None = None) -> str:
    urls = {"haiku": terse, "sonnet": full, "opus": opus_url or full}
    tiers = "".join(
        f"""
  - name: {name}
    model: {MODELS[name]}
    price_in: {PRICES[name][0]}
    price_out: {PRICES[name][1]}
    fallbacks: []
    deployments: [{{base_url: "{urls[name]}", api_key: test-key}}]"""
        for name in ("haiku", "sonnet", "opus")
    )
    return f"""
tiers:{tiers}
routing:
  policy: cascade
  cascade: {cascade}
retry: {{max_attempts: 1}}
"""


class Mocks:
    def __init__(self, servers: LoopThread) -> None:
        r1, self.terse_url = servers.run(start_mock(MockConfig(answer_tokens=2)))
        r2, self.full_url = servers.run(start_mock(MockConfig()))
        self.terse = MockHandle(servers, r1, self.terse_url)
        self.full = MockHandle(servers, r2, self.full_url)
        self.servers = servers

    def calls(self) -> dict[str, int]:
        """Requests per tier model across both mocks."""
        out = {t: 0 for t in MODELS}
        for handle in (self.terse, self.full):
            for r in handle.stats()["requests"]:
                for tier, model in MODELS.items():
                    if r["model"] == model:
                        out[tier] += r["count"]
        return out

    def reset(self) -> None:
        self.servers.run(_post(self.terse_url + "/mock/reset"))
        self.servers.run(_post(self.full_url + "/mock/reset"))

    def stop(self) -> None:
        self.servers.run(self.terse.runner.cleanup())
        self.servers.run(self.full.runner.cleanup())


@pytest.fixture(scope="module")
def mocks(servers: LoopThread) -> Iterator[Mocks]:
    m = Mocks(servers)
    yield m
    m.stop()


def start(servers: LoopThread, text: str) -> GatewayHandle:
    from tierwise.server.app import start_gateway

    cfg = parse_config(text, "<cascade test config>")
    runner, url = servers.run(start_gateway(cfg, ledger=memory_ledger()))
    return GatewayHandle(servers, runner, url)


@pytest.fixture(scope="module")
def gw(servers: LoopThread, mocks: Mocks) -> Iterator[GatewayHandle]:
    g = start(servers, config_text(mocks.terse_url, mocks.full_url))
    yield g
    servers.run(g.runner.cleanup())


@pytest.fixture
def extra_gw(servers: LoopThread) -> Iterator[Any]:
    started: list[GatewayHandle] = []

    def make(text: str) -> GatewayHandle:
        started.append(start(servers, text))
        return started[-1]

    yield make
    for g in started:
        servers.run(g.runner.cleanup())


@pytest.fixture(autouse=True)
def _fresh_mocks(mocks: Mocks) -> None:
    mocks.reset()


def oa(g: GatewayHandle) -> openai.OpenAI:
    return openai.OpenAI(base_url=g.openai_base_url, api_key="caller", max_retries=0)


def an(g: GatewayHandle) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=g.url, api_key="caller", max_retries=0)


def row(g: GatewayHandle, headers: Any) -> Any:
    assert g.state.ledger is not None, "the gateway fixture must record a ledger"
    return g.row(headers["x-tierwise-request-id"])


def test_question_is_long_enough_for_the_terse_answer_to_be_weak() -> None:
    assert len(QUESTION) // 8 >= 20 > len("Mock answer")


# --------------------------------------------------------------------------- answer mode


def test_a_strong_cheap_answer_is_accepted_with_one_call(gw: GatewayHandle, mocks: Mocks) -> None:
    raw = oa(gw).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": QUESTION}], extra_headers=LONG
    )
    c = raw.parse()
    h = raw.headers
    assert (h["x-tierwise-tier"], h["x-tierwise-router"], h["x-tierwise-cascade"]) == (
        "haiku",
        "cascade",
        "1",
    )
    assert h["x-tierwise-reason"] == "cascade (answer): haiku answer accepted"
    assert c.choices[0].message.content.startswith("Mock answer from claude-haiku-4-5:")
    assert mocks.calls() == {"haiku": 1, "sonnet": 0, "opus": 0}
    r = row(gw, h)
    assert (r.tier, r.router, r.output_tokens) == ("haiku", "cascade", 30)
    assert r.cost_usd == pytest.approx(cost(("haiku", c.usage.prompt_tokens, 30)))


def test_a_weak_cheap_answer_escalates_and_the_ledger_pays_for_both(
    gw: GatewayHandle, mocks: Mocks
) -> None:
    raw = an(gw).messages.with_raw_response.create(
        model="auto", max_tokens=200, messages=[{"role": "user", "content": QUESTION}]
    )
    msg = raw.parse()
    h = raw.headers
    assert (h["x-tierwise-tier"], h["x-tierwise-cascade"]) == ("sonnet", "2")
    assert h["x-tierwise-model"] == "claude-sonnet-4-5" == msg.model
    assert h["x-tierwise-reason"] == (
        "cascade (answer): haiku answer weak: short (11 chars, want >= 20); "
        "escalated to sonnet; sonnet answer accepted"
    )
    assert msg.content[0].text.startswith("Mock answer from claude-sonnet-4-5:")
    assert msg.usage.output_tokens == 16  # the caller sees the answer it got
    assert mocks.calls() == {"haiku": 1, "sonnet": 1, "opus": 0}
    r = row(gw, h)
    t_in = msg.usage.input_tokens  # same request to both tiers: same input tokens
    assert (r.tier, r.input_tokens, r.output_tokens) == ("sonnet", 2 * t_in, 2 + 16)
    assert r.cost_usd == pytest.approx(cost(("haiku", t_in, 2), ("sonnet", t_in, 16)))


def test_an_answer_cut_by_the_callers_small_budget_is_not_escalated(
    gw: GatewayHandle, mocks: Mocks
) -> None:
    raw = an(gw).messages.with_raw_response.create(
        model="auto",
        max_tokens=25,  # under truncation_min_tokens: every tier would be cut here
        messages=[{"role": "user", "content": QUESTION}],
        extra_headers=LONG,
    )
    msg = raw.parse()
    assert msg.stop_reason == "max_tokens" and msg.usage.output_tokens == 25
    assert (raw.headers["x-tierwise-tier"], raw.headers["x-tierwise-cascade"]) == ("haiku", "1")
    assert mocks.calls() == {"haiku": 1, "sonnet": 0, "opus": 0}


def test_n_above_one_is_refused_under_the_cascade(gw: GatewayHandle, mocks: Mocks) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        oa(gw).chat.completions.create(
            model="auto", n=2, messages=[{"role": "user", "content": QUESTION}]
        )
    assert exc.value.body["param"] == "n" and "cascade" in exc.value.body["message"]
    assert mocks.calls() == {"haiku": 0, "sonnet": 0, "opus": 0}


def test_escalation_stops_at_the_top_tier(gw: GatewayHandle, mocks: Mocks) -> None:
    raw = an(gw).messages.with_raw_response.create(
        model="auto",
        max_tokens=200,
        messages=[{"role": "user", "content": QUESTION}],
        extra_headers=ONE,
    )
    h = raw.headers
    assert (h["x-tierwise-tier"], h["x-tierwise-cascade"]) == ("opus", "3")
    assert h["x-tierwise-reason"].endswith(
        "opus answer weak: short (4 chars, want >= 20); kept (top tier)"
    )
    assert raw.parse().content[0].text == "Mock"
    assert mocks.calls() == {"haiku": 1, "sonnet": 1, "opus": 1}
    r = row(gw, h)
    assert r.output_tokens == 3


def test_max_escalations_caps_the_calls(extra_gw: Any, mocks: Mocks) -> None:
    g = extra_gw(config_text(mocks.terse_url, mocks.full_url, "{max_escalations: 1}"))
    raw = oa(g).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": QUESTION}], extra_headers=ONE
    )
    assert (raw.headers["x-tierwise-tier"], raw.headers["x-tierwise-cascade"]) == ("sonnet", "2")
    assert raw.headers["x-tierwise-reason"].endswith("kept (max_escalations 1)")
    assert mocks.calls() == {"haiku": 1, "sonnet": 1, "opus": 0}


def test_a_failed_escalation_keeps_the_answer_in_hand(extra_gw: Any, mocks: Mocks) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    g = extra_gw(config_text(mocks.terse_url, mocks.full_url, opus_url=dead))
    raw = an(g).messages.with_raw_response.create(
        model="auto",
        max_tokens=200,
        messages=[{"role": "user", "content": QUESTION}],
        extra_headers=ONE,
    )
    h = raw.headers
    assert (h["x-tierwise-tier"], h["x-tierwise-cascade"]) == ("sonnet", "2")
    assert (
        "escalated to opus; opus failed (connection_error); kept sonnet's" in h["x-tierwise-reason"]
    )
    assert raw.parse().model == "claude-sonnet-4-5"
    r = row(g, h)
    t_in = raw.parse().usage.input_tokens
    assert r.cost_usd == pytest.approx(cost(("haiku", t_in, 1), ("sonnet", t_in, 1)))


def test_a_first_call_error_answers_in_the_callers_format(gw: GatewayHandle, mocks: Mocks) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        an(gw).messages.create(
            model="auto",
            max_tokens=200,
            messages=[{"role": "user", "content": QUESTION}],
            extra_headers={"x-mock-status": "400"},
        )
    h = info.value.response.headers
    assert (h["x-tierwise-router"], h["x-tierwise-tier"], h["x-tierwise-cascade"]) == (
        "cascade",
        "haiku",
        "0",
    )
    assert mocks.calls() == {"haiku": 1, "sonnet": 0, "opus": 0}


def test_a_tool_call_is_never_weak(gw: GatewayHandle, mocks: Mocks) -> None:
    tool = {
        "name": "get_weather",
        "description": "Current weather for a city",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
    raw = an(gw).messages.with_raw_response.create(
        model="auto",
        max_tokens=200,
        tools=[tool],
        messages=[{"role": "user", "content": "Please use the tool. " + QUESTION}],
    )
    msg = raw.parse()
    assert msg.stop_reason == "tool_use" and msg.content[0].name == "get_weather"
    assert (raw.headers["x-tierwise-tier"], raw.headers["x-tierwise-cascade"]) == ("haiku", "1")
    assert mocks.calls()["haiku"] == 1


def test_manual_choices_beat_the_cascade(gw: GatewayHandle, mocks: Mocks) -> None:
    raw = oa(gw).chat.completions.with_raw_response.create(
        model="opus", messages=[{"role": "user", "content": QUESTION}]
    )
    assert (raw.headers["x-tierwise-tier"], raw.headers["x-tierwise-router"]) == ("opus", "manual")
    assert "x-tierwise-cascade" not in raw.headers
    assert mocks.calls() == {"haiku": 0, "sonnet": 0, "opus": 1}


async def _post_json(url: str, body: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.post(url, json=body) as r:
        return r.status, await r.json()


def test_route_endpoint_does_no_io(gw: GatewayHandle, mocks: Mocks) -> None:
    status, body = gw.servers.run(_post_json(gw.url + "/v1/route", {"prompt": QUESTION}))
    assert status == 200 and body["router"] == "cascade"
    assert body["reason"].startswith("heuristic: ")
    assert body["reason"].endswith("; the cascade (answer) decides at request time")
    assert mocks.calls() == {"haiku": 0, "sonnet": 0, "opus": 0}


# --------------------------------------------------------------------------- streaming callers


def test_openai_stream_gets_the_escalated_answer(gw: GatewayHandle, mocks: Mocks) -> None:
    raw = oa(gw).chat.completions.with_raw_response.create(
        model="auto",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert text.startswith("Mock answer from claude-sonnet-4-5:") and len(text.split()) == 16
    assert finish == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 16
    assert (raw.headers["x-tierwise-tier"], raw.headers["x-tierwise-cascade"]) == ("sonnet", "2")
    assert mocks.calls() == {"haiku": 1, "sonnet": 1, "opus": 0}
    r = row(gw, raw.headers)
    assert (r.streamed, r.status, r.output_tokens) == (True, 200, 18)


def test_anthropic_stream_gets_the_escalated_answer(gw: GatewayHandle, mocks: Mocks) -> None:
    with an(gw).messages.stream(
        model="auto", max_tokens=200, messages=[{"role": "user", "content": QUESTION}]
    ) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
        headers = s.response.headers
    assert text == final.content[0].text
    assert text.startswith("Mock answer from claude-sonnet-4-5:")
    assert (final.stop_reason, final.usage.output_tokens) == ("end_turn", 16)
    assert (headers["x-tierwise-tier"], headers["x-tierwise-cascade"]) == ("sonnet", "2")
    assert mocks.calls() == {"haiku": 1, "sonnet": 1, "opus": 0}


def test_openai_stream_replays_a_tool_call(gw: GatewayHandle, mocks: Mocks) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
    stream = oa(gw).chat.completions.create(
        model="auto",
        tools=[tool],
        messages=[{"role": "user", "content": "Please call get_weather. " + QUESTION}],
        stream=True,
    )
    calls, args, finish = [], "", None
    for c in stream:
        d = c.choices[0]
        for tc in d.delta.tool_calls or []:
            if tc.function.name:
                calls.append(tc.function.name)
            args += tc.function.arguments or ""
        finish = d.finish_reason or finish
    assert (calls, args, finish) == (["get_weather"], '{"city":"mock"}', "tool_calls")
    assert mocks.calls()["haiku"] == 1


# --------------------------------------------------------------------------- classify mode


def test_classify_falls_back_when_the_reply_is_not_a_rating(extra_gw: Any, mocks: Mocks) -> None:
    g = extra_gw(config_text(mocks.terse_url, mocks.full_url, "{mode: classify}"))
    with an(g).messages.stream(
        model="auto", max_tokens=200, messages=[{"role": "user", "content": "hello there"}]
    ) as s:
        final = s.get_final_message()
        headers = s.response.headers
    # The mock's 2-token classifier reply is "Mock answer": not a digit, so the heuristic's
    # decision (a greeting: haiku) stands, and the reason says why.
    assert headers["x-tierwise-reason"].startswith(
        "cascade (classify): haiku reply 'Mock answer' is not a rating 1-3; fell back to heuristic:"
    )
    assert (headers["x-tierwise-tier"], headers["x-tierwise-cascade"]) == ("haiku", "2")
    assert final.content[0].text == "Mock answer"  # the terse mock answered the request too
    assert mocks.calls() == {"haiku": 2, "sonnet": 0, "opus": 0}
    r = row(g, headers)
    t_in = final.usage.input_tokens
    stats = mocks.terse.stats()["requests"]
    assert [x["count"] for x in stats] == [2]
    # classifier call: its own prompt's tokens, 2 output tokens; then the answer's
    assert r.output_tokens == 2 + 2 and r.input_tokens > t_in
    cls_in = r.input_tokens - t_in
    assert r.cost_usd == pytest.approx(cost(("haiku", cls_in, 2), ("haiku", t_in, 2)))


def test_classify_falls_back_when_the_classifier_call_fails(extra_gw: Any, mocks: Mocks) -> None:
    g = extra_gw(config_text(mocks.terse_url, mocks.full_url, "{mode: classify}"))
    raw = oa(g).chat.completions.with_raw_response.create(
        model="auto",
        messages=[{"role": "user", "content": "hello there"}],
        extra_headers={"x-mock-fail-first": "1", "x-mock-key": "cascade-classify-fails"},
    )
    h = raw.headers
    assert h["x-tierwise-reason"].startswith(
        "cascade (classify): classifier haiku failed (500); fell back to heuristic:"
    )
    assert (h["x-tierwise-tier"], h["x-tierwise-cascade"]) == ("haiku", "1")
    assert raw.parse().choices[0].message.content == "Mock answer"
