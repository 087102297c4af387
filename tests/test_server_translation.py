"""Cross-translation through the real gateway: OpenAI callers answered by an Anthropic
deployment and Anthropic callers answered by an OpenAI-compatible one (see `mixed_config`)."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

TOOL_OPENAI = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look a word up",
        "parameters": {
            "type": "object",
            "properties": {"word": {"type": "string"}},
            "required": ["word"],
        },
    },
}
TOOL_ANTHROPIC = {
    "name": "lookup",
    "description": "Look a word up",
    "input_schema": TOOL_OPENAI["function"]["parameters"],
}
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


@pytest.fixture
def mixed(make_gateway: Any, mixed_config: Any, mock_upstream: Any) -> Any:
    mock_upstream.reset()
    return make_gateway(mixed_config)


def upstream_apis(mock: Any) -> set[tuple[str, str]]:
    return {(r["api"], r["model"]) for r in mock.stats()["requests"]}


def test_openai_caller_to_anthropic_deployment(mixed: Any, mock_upstream: Any) -> None:
    client = openai.OpenAI(base_url=mixed.openai_base_url, api_key="k", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="claude",
        messages=[
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this image?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
                ],
            },
            {"role": "assistant", "content": "A pixel."},
            {"role": "user", "content": "hello again"},
        ],
        temperature=1.5,  # above Anthropic's maximum of 1: clamped, not rejected
        seed=7,  # not accepted by Anthropic: dropped, not forwarded
        stop=["zzz"],
    )
    out = raw.parse()
    assert raw.headers["x-tierwise-tier"] == "claude"
    assert out.choices[0].message.content.startswith("Mock answer from claude-sonnet-4-5")
    assert out.choices[0].finish_reason == "stop" and out.usage.completion_tokens == 16
    assert ("anthropic", "claude-sonnet-4-5") in upstream_apis(mock_upstream)


def test_openai_caller_tools_against_anthropic_deployment(mixed: Any) -> None:
    client = openai.OpenAI(base_url=mixed.openai_base_url, api_key="k", max_retries=0)
    first = client.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": "look up 'tierwise'"}],
        tools=[TOOL_OPENAI],
        tool_choice="required",
        max_tokens=100,
    )
    msg = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert msg.tool_calls[0].function.name == "lookup"
    second = client.chat.completions.create(
        model="claude",
        tools=[TOOL_OPENAI],
        max_tokens=100,
        messages=[
            {"role": "user", "content": "look up 'tierwise'"},
            msg.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": msg.tool_calls[0].id, "content": "a router"},
        ],
    )
    assert second.choices[0].finish_reason == "stop"
    stream = client.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": "x"}],
        tools=[TOOL_OPENAI],
        tool_choice={"type": "function", "function": {"name": "lookup"}},
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].function.name == "lookup" and calls[0].id
    assert '"word"' in "".join(tc.function.arguments or "" for tc in calls)
    assert chunks[-1].usage.completion_tokens > 0


def test_anthropic_caller_to_openai_deployment(mixed: Any, mock_upstream: Any) -> None:
    client = anthropic.Anthropic(base_url=mixed.url, api_key="k", max_retries=0)
    raw = client.messages.with_raw_response.create(
        model="mini",
        max_tokens=4,
        system="Be brief.",
        extra_body={"top_k": 5},
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hello"},
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://example.com/a.png"},
                    },
                ],
            }
        ],
    )
    msg = raw.parse()
    assert raw.headers["x-tierwise-tier"] == "mini"
    assert msg.id.startswith("msg_") and msg.model == "gpt-4o-mini"
    assert msg.stop_reason == "max_tokens" and msg.usage.output_tokens == 4  # length -> max_tokens
    assert ("openai", "gpt-4o-mini") in upstream_apis(mock_upstream)


def test_anthropic_caller_streams_from_openai_deployment(mixed: Any) -> None:
    client = anthropic.Anthropic(base_url=mixed.url, api_key="k", max_retries=0)
    with client.messages.stream(
        model="mini", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.startswith("Mock answer from gpt-4o-mini")
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 16
    with client.messages.stream(
        model="mini",
        max_tokens=100,
        tools=[TOOL_ANTHROPIC],
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "look it up"}],
    ) as stream:
        final = stream.get_final_message()
    use = final.content[-1]
    assert final.stop_reason == "tool_use"
    assert use.type == "tool_use" and use.name == "lookup" and "word" in use.input


def test_anthropic_caller_tool_result_to_openai_deployment(mixed: Any) -> None:
    client = anthropic.Anthropic(base_url=mixed.url, api_key="k", max_retries=0)
    first = client.messages.create(
        model="mini",
        max_tokens=100,
        tools=[TOOL_ANTHROPIC],
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "look it up"}],
    )
    use = next(b for b in first.content if b.type == "tool_use")
    second = client.messages.create(
        model="mini",
        max_tokens=100,
        tools=[TOOL_ANTHROPIC],
        messages=[
            {"role": "user", "content": "look it up"},
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "found"}],
            },
        ],
    )
    assert second.stop_reason == "end_turn" and second.content[0].type == "text"
