"""The gateway as a drop-in: the official OpenAI and Anthropic SDKs against `tierwise serve`
(in-process, real HTTP on loopback) in front of the mock upstream."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

TW_HEADERS = (
    "x-tierwise-tier",
    "x-tierwise-model",
    "x-tierwise-router",
    "x-tierwise-request-id",
    "x-tierwise-overhead-ms",
)
WEATHER_TOOL_OPENAI = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
WEATHER_TOOL_ANTHROPIC = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": WEATHER_TOOL_OPENAI["function"]["parameters"],
}


def oa(gw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key="caller-key", max_retries=0)


def an(gw: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key="caller-key", max_retries=0)


def assert_tierwise_headers(headers: Any) -> None:
    for h in TW_HEADERS:
        assert headers.get(h), f"missing {h}"
    assert float(headers["x-tierwise-overhead-ms"]) >= 0


# --------------------------------------------------------------------------- OpenAI SDK


def test_openai_sdk_auto_routes_and_reports_headers_usage_and_ledger(gateway: Any) -> None:
    raw = oa(gateway).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "hello there"}]
    )
    completion = raw.parse()
    assert_tierwise_headers(raw.headers)
    assert raw.headers["x-tierwise-tier"] == "haiku"  # a greeting is the cheap tier
    assert raw.headers["x-tierwise-router"] == "heuristic"
    assert completion.model == "claude-haiku-4-5" == raw.headers["x-tierwise-model"]
    text = completion.choices[0].message.content
    assert text.startswith("Mock answer from claude-haiku-4-5")
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens == 16
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    row = gateway.row(raw.headers["x-tierwise-request-id"])
    assert (row.api, row.tier, row.model, row.status, row.streamed) == (
        "openai",
        "haiku",
        "claude-haiku-4-5",
        200,
        False,
    )
    assert row.output_tokens == 16 and row.input_tokens == completion.usage.prompt_tokens
    expected_cost = (row.input_tokens * 1.0 + row.output_tokens * 5.0) / 1e6
    assert row.cost_usd == pytest.approx(expected_cost)
    assert row.requested_model == "auto" and row.router == "heuristic"
    assert 0 <= row.overhead_ms <= row.latency_ms


def test_openai_sdk_manual_tier_alias_and_header_override(gateway: Any) -> None:
    client = oa(gateway)
    raw = client.chat.completions.with_raw_response.create(
        model="best", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-tierwise-tier"] == "opus"
    assert raw.parse().model == "claude-opus-4-5"
    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-tierwise-tier": "sonnet"},
    )
    assert raw.headers["x-tierwise-tier"] == "sonnet"
    assert raw.parse().choices[0].message.content.startswith("Mock answer from claude-sonnet-4-5")


def test_model_command_is_honoured_and_stripped(gateway: Any) -> None:
    raw = oa(gateway).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "/model opus\nhello"}]
    )
    assert raw.headers["x-tierwise-tier"] == "opus"
    assert raw.headers["x-tierwise-router"] == "manual"
    # the mock counts input tokens from what it received: "hello" only (2 tokens), not the command
    assert raw.parse().usage.prompt_tokens == 2


def test_routellm_style_router_model(gateway: Any) -> None:
    client = oa(gateway)
    prompt = [{"role": "user", "content": "Explain how to design a scalable cache."}]
    low = client.chat.completions.with_raw_response.create(
        model="router-heuristic-0.0", messages=prompt
    )
    high = client.chat.completions.with_raw_response.create(
        model="router-heuristic-1.0", messages=prompt
    )
    assert low.headers["x-tierwise-router"] == "heuristic"
    # shifting every cut point by -0.5 / +0.5 pushes the same prompt up / down the ladder
    assert low.headers["x-tierwise-tier"] == "opus"
    assert high.headers["x-tierwise-tier"] == "haiku"


def test_openai_sdk_streaming_with_usage(gateway: Any) -> None:
    client = oa(gateway)
    with client.chat.completions.with_streaming_response.create(
        model="sonnet",
        messages=[{"role": "user", "content": "hello"}],
        stream=True,
        stream_options={"include_usage": True},
    ) as raw:
        assert_tierwise_headers(raw.headers)
        assert raw.headers["x-tierwise-tier"] == "sonnet"
        rid = raw.headers["x-tierwise-request-id"]
        chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Mock answer from claude-sonnet-4-5")
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and finishes.count("stop") == 1
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 16
    assert all(c.usage is None for c in chunks[:-1])
    row = gateway.row(rid)
    assert row.streamed and row.output_tokens == 16 and row.ttft_ms is not None


def test_openai_sdk_stream_without_usage_option_has_no_usage_chunk(gateway: Any) -> None:
    stream = oa(gateway).chat.completions.create(
        model="haiku", messages=[{"role": "user", "content": "hello"}], stream=True
    )
    chunks = list(stream)
    assert all(c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_openai_sdk_tool_call_round_trip(gateway: Any) -> None:
    client = oa(gateway)
    first = client.chat.completions.create(
        model="haiku",
        messages=[{"role": "user", "content": "What is the weather in Paris? Use the tool."}],
        tools=[WEATHER_TOOL_OPENAI],
        tool_choice="required",
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert isinstance(call.function.arguments, str) and "city" in call.function.arguments
    second = client.chat.completions.create(
        model="haiku",
        messages=[
            {"role": "user", "content": "What is the weather in Paris? Use the tool."},
            choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"},
        ],
        tools=[WEATHER_TOOL_OPENAI],
    )
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content


def test_openai_sdk_streamed_tool_call(gateway: Any) -> None:
    chunks = list(
        oa(gateway).chat.completions.create(
            model="haiku",
            messages=[{"role": "user", "content": "weather in Oslo?"}],
            tools=[WEATHER_TOOL_OPENAI],
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
            stream=True,
        )
    )
    calls = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].id and calls[0].function.name == "get_weather"
    args = "".join(tc.function.arguments or "" for tc in calls)
    assert '"city"' in args
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


# --------------------------------------------------------------------------- Anthropic SDK


def test_anthropic_sdk_messages_with_system_and_headers(gateway: Any) -> None:
    raw = an(gateway).messages.with_raw_response.create(
        model="auto",
        max_tokens=256,
        system="You are terse.",
        messages=[{"role": "user", "content": "hello"}],
    )
    msg = raw.parse()
    assert_tierwise_headers(raw.headers)
    assert msg.model == raw.headers["x-tierwise-model"]
    assert msg.content[0].type == "text" and msg.content[0].text.startswith("Mock answer")
    assert msg.stop_reason == "end_turn"
    assert msg.usage.output_tokens == 16 and msg.usage.input_tokens > 0


def test_anthropic_sdk_max_tokens_stop_reason(gateway: Any) -> None:
    msg = an(gateway).messages.create(
        model="haiku", max_tokens=3, messages=[{"role": "user", "content": "hello"}]
    )
    assert msg.stop_reason == "max_tokens" and msg.usage.output_tokens == 3


def test_anthropic_sdk_streaming_event_sequence(gateway: Any) -> None:
    client = an(gateway)
    with client.messages.with_streaming_response.create(
        model="opus", max_tokens=100, stream=True, messages=[{"role": "user", "content": "hi"}]
    ) as raw:
        assert raw.headers["x-tierwise-tier"] == "opus"
        body = b"".join(raw.iter_bytes())
    names = [line[7:] for line in body.decode().splitlines() if line.startswith("event: ")]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"}
    with client.messages.stream(
        model="opus", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.startswith("Mock answer from claude-opus-4-5")
    assert final.usage.output_tokens == 16 and final.stop_reason == "end_turn"


def test_anthropic_sdk_tool_use_round_trip(gateway: Any) -> None:
    client = an(gateway)
    ask = {"role": "user", "content": "What's the weather in Paris? use the tool"}
    first = client.messages.create(
        model="haiku",
        max_tokens=200,
        messages=[ask],
        tools=[WEATHER_TOOL_ANTHROPIC],
        tool_choice={"type": "tool", "name": "get_weather"},
    )
    assert first.stop_reason == "tool_use"
    use = next(b for b in first.content if b.type == "tool_use")
    assert use.name == "get_weather" and "city" in use.input
    second = client.messages.create(
        model="haiku",
        max_tokens=200,
        tools=[WEATHER_TOOL_ANTHROPIC],
        messages=[
            ask,
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18C"}],
            },
        ],
    )
    assert second.stop_reason == "end_turn"


def test_models_list_in_both_formats(gateway: Any) -> None:
    ids = [m.id for m in oa(gateway).models.list()]
    assert ids[0] == "auto"
    for label in ("haiku", "sonnet", "opus", "cheap", "best", "claude-opus-4-5"):
        assert label in ids
    anth_ids = [m.id for m in an(gateway).models.list()]
    assert anth_ids == ids
