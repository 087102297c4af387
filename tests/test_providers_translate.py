"""Field-level translation between the two wire formats and the canonical types."""

from __future__ import annotations

import orjson
import pytest

from tierwise.providers import anthropic_format as af
from tierwise.providers import get_provider
from tierwise.providers import openai_format as of
from tierwise.providers.base import ChatResponse, UpstreamError, Usage
from tierwise.providers.errors import RequestError, redact, status_for, upstream_error_body
from tierwise.providers.http import endpoint_url, parse_retry_after

OPENAI_BODY = {
    "model": "auto",
    "messages": [
        {"role": "system", "content": "Sys one."},
        {"role": "developer", "content": [{"type": "text", "text": "Sys two."}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,QUJD"}},
                {"type": "image_url", "image_url": {"url": "https://x.test/i.png"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "f", "arguments": '{"a": 1}'},
                },
                {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "r1"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "r2"}]},
        {"role": "user", "content": "and now?"},
    ],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "tool_choice": "required",
    "parallel_tool_calls": False,
    "max_completion_tokens": 50,
    "temperature": 1.7,
    "stop": "END",
    "seed": 3,
    "user": "u-42",
    "response_format": {"type": "json_object"},
}


def test_openai_request_to_canonical() -> None:
    req = of.parse_request(OPENAI_BODY)
    assert req.system == "Sys one.\n\nSys two."
    assert [m.role for m in req.messages] == ["user", "assistant", "user"]
    images = req.messages[0].content[1:]
    assert images[0] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/jpeg", "data": "QUJD"},
    }
    assert images[1]["source"] == {"type": "url", "url": "https://x.test/i.png"}
    uses = req.messages[1].content
    assert [(b["type"], b["id"], b["input"]) for b in uses] == [
        ("tool_use", "call_1", {"a": 1}),
        ("tool_use", "call_2", {}),
    ]
    # both tool results and the next user text share one user turn, results first
    last = req.messages[2].content
    assert [b["type"] for b in last] == ["tool_result", "tool_result", "text"]
    assert last[1] == {"type": "tool_result", "tool_use_id": "call_2", "content": "r2"}
    assert req.tools == [{"name": "f", "input_schema": {"type": "object"}}]
    assert req.tool_choice == {"type": "any", "disable_parallel_tool_use": True}
    assert (req.max_tokens, req.stop, req.temperature) == (50, ["END"], 1.7)


def test_openai_request_to_anthropic_body_drops_and_maps() -> None:
    body = af.build_body(of.parse_request(OPENAI_BODY), "claude-x", stream=True)
    assert body["model"] == "claude-x" and body["stream"] is True
    assert body["system"] == "Sys one.\n\nSys two."
    assert body["max_tokens"] == 50 and body["stop_sequences"] == ["END"]
    assert body["temperature"] == 1.0  # clamped to Anthropic's range
    assert body["metadata"] == {"user_id": "u-42"}
    for dropped in ("seed", "response_format", "user", "parallel_tool_calls", "stop"):
        assert dropped not in body
    no_max = of.parse_request({"model": "a", "messages": [{"role": "user", "content": "x"}]})
    assert af.build_body(no_max, "m", stream=False)["max_tokens"] == af.DEFAULT_MAX_TOKENS


def test_openai_request_round_trips_to_openai_body() -> None:
    body = of.build_body(of.parse_request(OPENAI_BODY), "gpt-x", stream=True)
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "tool", "user"]
    assert body["messages"][1]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/jpeg;base64,QUJD"},
    }
    calls = body["messages"][2]["tool_calls"]
    assert orjson.loads(calls[0]["function"]["arguments"]) == {"a": 1}
    assert body["messages"][3] == {"role": "tool", "tool_call_id": "call_1", "content": "r1"}
    assert body["messages"][5] == {"role": "user", "content": "and now?"}
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body
    assert body["tool_choice"] == "required" and body["parallel_tool_calls"] is False
    assert body["seed"] == 3 and body["response_format"] == {"type": "json_object"}
    assert body["stream_options"] == {"include_usage": True}


def test_anthropic_request_to_openai_body() -> None:
    req = af.parse_request(
        {
            "model": "auto",
            "max_tokens": 10,
            "system": [{"type": "text", "text": "S"}],
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": "AAA"},
                        },
                        {"type": "text", "text": "hi"},
                    ],
                }
            ],
            "stop_sequences": ["###"],
            "top_k": 4,
            "metadata": {"user_id": "u1"},
            "tool_choice": {"type": "tool", "name": "f"},
            "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object"}}],
        }
    )
    body = of.build_body(req, "gpt-x", stream=False)
    assert body["messages"][0] == {"role": "system", "content": "S"}
    assert body["messages"][1]["content"][0]["image_url"]["url"] == "data:image/png;base64,AAA"
    assert body["stop"] == ["###"] and body["max_tokens"] == 10 and body["user"] == "u1"
    assert "top_k" not in body and "metadata" not in body and "stream" not in body
    assert body["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert body["tools"] == [
        {
            "type": "function",
            "function": {"name": "f", "description": "d", "parameters": {"type": "object"}},
        }
    ]
    abody = af.build_body(req, "claude", stream=False)
    assert abody["top_k"] == 4 and abody["metadata"] == {"user_id": "u1"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ([], None),
        ({"model": 3, "messages": []}, "model"),
        (
            {"model": "a", "messages": [{"role": "user", "content": [{"type": "audio"}]}]},
            "messages[0].content[0].type",
        ),
        (
            {"model": "a", "messages": [{"role": "tool", "content": "x"}]},
            "messages[0].tool_call_id",
        ),
        (
            {"model": "a", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0},
            "max_tokens",
        ),
        ({"model": "a", "messages": [{"role": "user", "content": "x"}], "n": 0}, "n"),
        ({"model": "a", "messages": [{"role": "user", "content": "x"}], "n": 17}, "n"),
        ({"model": "a", "messages": [{"role": "user", "content": "x"}], "n": True}, "n"),
        (
            {"model": "a", "messages": [{"role": "user", "content": "x"}], "n": 2,
             "stream": True},
            "n",
        ),
        ({"model": "a", "messages": [{"role": "user", "content": "x"}], "stop": [1]}, "stop"),
    ],
)
def test_openai_parse_errors_name_the_field(body: object, param: str | None) -> None:
    with pytest.raises(RequestError) as exc:
        of.parse_request(body)
    assert exc.value.param == param and exc.value.status == 400


def test_openai_response_and_stop_reasons_both_ways() -> None:
    resp = of.parse_response(
        {
            "id": "chatcmpl-1",
            "model": "gpt",
            "choices": [
                {
                    "message": {
                        "content": "hey",
                        "tool_calls": [
                            {"id": "c", "function": {"name": "f", "arguments": '{"x": 2}'}}
                        ],
                    },
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 7},
        }
    )
    assert resp.stop_reason == "tool_use" and resp.usage == Usage(5, 7)
    assert resp.content == [
        {"type": "text", "text": "hey"},
        {"type": "tool_use", "id": "c", "name": "f", "input": {"x": 2}},
    ]
    anth = af.render_response(resp, "gpt")
    assert anth["id"] == "msg_1" and anth["stop_reason"] == "tool_use"
    for stop, finish in [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
    ]:
        r = ChatResponse("msg_a", "m", [{"type": "text", "text": "t"}], stop, Usage(1, 2))
        out = of.render_response(r, "m")
        assert out["choices"][0]["finish_reason"] == finish
        assert out["usage"] == {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3,
                                "prompt_tokens_details": {"cached_tokens": 0}}
    for finish, stop in [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
    ]:
        r = of.parse_response({"choices": [{"message": {"content": "t"}, "finish_reason": finish}]})
        assert r.stop_reason == stop


def _chunk(delta: dict, finish: str | None = None, usage: dict | None = None) -> dict:
    c = {
        "id": "chatcmpl-9",
        "model": "gpt",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        c = {"id": "chatcmpl-9", "model": "gpt", "choices": [], "usage": usage}
    return c


def test_openai_stream_decodes_to_canonical_events() -> None:
    d = of.OpenAIDecoder()
    events = []
    for ch in [
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"content": "Hel"}),
        _chunk({"content": "lo"}),
        _chunk(
            {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": ""}}]}
        ),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a"'}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}),
        _chunk({}, "tool_calls"),
        _chunk({}, usage={"prompt_tokens": 3, "completion_tokens": 9}),
    ]:
        events.extend(d.feed(ch))
    events.extend(d.finish())
    kinds = [e["type"] for e in events]
    assert kinds == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[5]["content_block"] == {"type": "tool_use", "id": "c1", "name": "f", "input": {}}
    assert events[-2]["delta"]["stop_reason"] == "tool_use"
    assert events[-2]["usage"] == {"input_tokens": 3, "output_tokens": 9,
                                   "cache_read_input_tokens": 0}
    # and back out to an OpenAI caller: same text, same tool call, usage last
    enc = of.OpenAIEncoder("gpt", include_usage=True)
    lines = b"".join(enc.encode(e) for e in events).split(b"\n\n")
    datas = [ln[6:] for ln in lines if ln.startswith(b"data: ")]
    assert datas[-1] == b"[DONE]"
    chunks = [orjson.loads(x) for x in datas[:-1]]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 9
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1])
    assert text == "Hello"
    args = "".join(
        tc["function"].get("arguments", "")
        for c in chunks[:-1]
        for tc in c["choices"][0]["delta"].get("tool_calls", [])
    )
    assert args == '{"a": 1}'
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_anthropic_encoder_inserts_one_ping_after_first_block_start() -> None:
    enc = af.AnthropicEncoder()
    out = b"".join(
        enc.encode(e)
        for e in [
            {"type": "message_start", "message": {"id": "chatcmpl-1", "usage": {}}},
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "a"},
            },
            {"type": "content_block_stop", "index": 0},
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "text", "text": ""},
            },
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {}},
            {"type": "message_stop"},
        ]
    ).decode()
    names = [ln[7:] for ln in out.splitlines() if ln.startswith("event: ")]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "message_delta",
        "message_stop",
    ]
    assert '"id":"msg_1"' in out


def test_error_status_mapping_and_redaction() -> None:
    assert status_for("openai", 529) == 503 and status_for("anthropic", 529) == 529
    assert status_for("anthropic", 503) == 529 and status_for("openai", 429) == 429
    assert status_for("openai", 0, "timeout_error") == 504 and status_for("anthropic", 0) == 502
    exc = UpstreamError(401, "Incorrect API key provided: sk-abc123456789xyz", retry_after=None)
    status, body = upstream_error_body("openai", exc)  # the gateway's key, not the caller's
    assert status == 502 and "sk-abc" not in body["error"]["message"]
    assert "rejected the gateway's credentials" in body["error"]["message"]
    exc = UpstreamError(500, "boom: sk-abc123456789xyz")
    status, body = upstream_error_body("anthropic", exc)
    assert status == 500 and body["error"]["message"] == "boom: [redacted]"
    assert redact("key is s3cretvalue!", "s3cretvalue!") == "key is [redacted]"
    assert parse_retry_after({"retry-after": "12"}) == 12.0
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({}) is None


def test_endpoint_urls_and_provider_lookup() -> None:
    assert endpoint_url("http://h:1", "messages") == "http://h:1/v1/messages"
    assert endpoint_url("http://h:11434/v1/", "chat/completions") == (
        "http://h:11434/v1/chat/completions"
    )
    assert endpoint_url("https://openrouter.ai/api/v1", "chat/completions").endswith(
        "/api/v1/chat/completions"
    )
    assert get_provider("openai").kind == "openai"
    # a new adapter each time: its owner (a Dispatcher) keeps it, nothing process-wide does
    assert get_provider("anthropic") is not get_provider("anthropic")
    with pytest.raises(ValueError, match="unknown provider"):
        get_provider("bedrock")


def test_openai_stream_prompt_tokens_include_anthropic_cache_tokens() -> None:
    enc = of.OpenAIEncoder("gpt", include_usage=True)
    usage = {"input_tokens": 5, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20,
             "output_tokens": 1}
    events = [
        {"type": "message_start", "message": {"id": "msg_1", "usage": usage}},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
         "usage": {"output_tokens": 7}},
        {"type": "message_stop"},
    ]
    lines = b"".join(enc.encode(e) for e in events).split(b"\n\n")
    chunks = [orjson.loads(ln[6:]) for ln in lines if ln.startswith(b"data: {")]
    assert chunks[-1]["usage"] == {"prompt_tokens": 125, "completion_tokens": 7,
                                   "total_tokens": 132,
                                   "prompt_tokens_details": {"cached_tokens": 100}}


def test_openai_cached_prompt_tokens_become_cache_reads_both_ways() -> None:
    usage = {"prompt_tokens": 1200, "completion_tokens": 9,
             "prompt_tokens_details": {"cached_tokens": 1024}}
    resp = of.parse_response(
        {"id": "c", "choices": [{"message": {"content": "t"}, "finish_reason": "stop"}],
         "usage": usage}
    )
    assert resp.usage == Usage(1200, 9, cache_read_input_tokens=1024)
    anth = af.render_response(resp, "gpt")  # Anthropic callers: input_tokens leaves reads out
    assert (anth["usage"]["input_tokens"], anth["usage"]["cache_read_input_tokens"]) == (176, 1024)
    assert of.render_response(resp, "gpt")["usage"]["prompt_tokens_details"] == {
        "cached_tokens": 1024}
    d = of.OpenAIDecoder()  # streamed: the usage chunk carries the same details
    events = [*d.feed(_chunk({"content": "t"})), *d.feed(_chunk({}, "stop")),
              *d.feed(_chunk({}, usage=usage)), *d.finish()]
    delta = next(e for e in events if e["type"] == "message_delta")
    assert delta["usage"] == {"input_tokens": 176, "output_tokens": 9,
                              "cache_read_input_tokens": 1024}
