"""Cascades, the pure half: the weakness signals, the classifier reply parser, the policy object
(no I/O in route()), the replayed event sequence and the config checks."""

from __future__ import annotations

import pytest

from tierwise.config import ConfigError, parse_config
from tierwise.default_config import DEFAULT_CONFIG_YAML
from tierwise.providers.anthropic_format import AnthropicEncoder
from tierwise.providers.base import ChatResponse, Usage
from tierwise.providers.openai_format import OpenAIEncoder
from tierwise.routing.cascade import (
    CascadeRouter,
    answer_weakness,
    classifier_prompt,
    parse_rating,
)
from tierwise.routing.registry import build_router
from tierwise.server.cascade import response_events
from tierwise.types import ChatRequest

LONG_Q = 400  # a question long enough that min_answer_chars applies in full


def weak(
    text: str, stop: str | None = "end_turn", *, tool: bool = False, q: int = LONG_Q, **kw: object
) -> list[str]:
    return answer_weakness(text, stop, has_tool_call=tool, question_chars=q, **kw)  # type: ignore[arg-type]


def cascade_config(extra: str = "", policy: str = "cascade"):
    text = DEFAULT_CONFIG_YAML.replace("policy: heuristic", f"policy: {policy}\n{extra}")
    return parse_config(text, "cfg.yaml", environ={})


# --------------------------------------------------------------------------- weakness


def test_a_plain_full_answer_is_not_weak() -> None:
    assert weak("Paris is the capital of France, on the Seine.") == []


@pytest.mark.parametrize(
    ("text", "signal"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("Paris.", "short (6 chars, want >= 20)"),
        ("I'm not sure, but it may be Lyon or Paris.", 'hedging "i\'m not sure"'),
        ("I\u2019m not sure, but it may be Lyon or Paris.", 'hedging "i\'m not sure"'),
        ("As an AI language model I have no opinions here.", "hedging 'as an ai'"),
        ("I cannot help with that request, sorry about it.", "hedging 'i cannot'"),
    ],
)
def test_each_weak_signal_is_named(text: str, signal: str) -> None:
    assert weak(text) == [signal]


def test_truncation_is_weak_and_combines_with_other_signals() -> None:
    assert weak("A long answer that was cut off in the mi", "max_tokens") == [
        "truncated at max_tokens"
    ]
    assert weak("Hm", "max_tokens") == ["truncated at max_tokens", "short (2 chars, want >= 20)"]


def test_truncation_under_a_small_caller_budget_is_not_weak() -> None:
    cut = "A long answer that was cut off in the mi"
    assert weak(cut, "max_tokens", max_tokens=200) == []  # every tier would be cut at 200
    assert weak(cut, "max_tokens", max_tokens=1024) == ["truncated at max_tokens"]
    assert weak(cut, "max_tokens", max_tokens=200, truncation_min_tokens=100) == [
        "truncated at max_tokens"
    ]
    assert weak("Hm", "max_tokens", max_tokens=50) == ["short (2 chars, want >= 20)"]


def test_truncation_budget_is_configurable_and_checked() -> None:
    cfg = cascade_config("  cascade:\n    truncation_min_tokens: 100")
    assert cfg.routing.cascade.truncation_min_tokens == 100
    with pytest.raises(ConfigError, match="truncation_min_tokens"):
        cascade_config("  cascade:\n    truncation_min_tokens: -1")


def test_short_questions_may_get_short_answers() -> None:
    assert weak("4", q=len("What is 2+2?")) == []  # 12 // 8 = 1 char required
    assert weak("4", q=80) == ["short (1 chars, want >= 10)"]
    assert weak("Paris.", q=LONG_Q, min_answer_chars=5) == []  # the knob caps the requirement


def test_a_tool_call_is_never_weak() -> None:
    assert weak("", "tool_use", tool=True) == []
    assert weak("I'm not sure", "max_tokens", tool=True) == []


def test_hedges_only_count_near_the_start() -> None:
    body = "A complete and confident explanation. " * 10  # > 200 chars
    assert weak(body + "I cannot stress this enough.") == []
    assert weak("I cannot stress this enough. " + body) == ["hedging 'i cannot'"]


def test_extra_phrases_from_config_are_used() -> None:
    router = build_router(cascade_config("  cascade: {weak_phrases: ['Mock answer']}")).policy
    assert isinstance(router, CascadeRouter)
    assert router.weakness("Mock answer from x: amber basalt cedar", "end_turn", False, 400) == [
        "hedging 'Mock answer'"
    ]


# --------------------------------------------------------------------------- classify


@pytest.mark.parametrize(
    ("reply", "n", "want"),
    [
        ("1", 3, 1),
        ("3", 3, 3),
        (" 2", 3, 2),
        ("2.", 3, 2),
        ("**3**", 3, 3),
        ("2\n", 3, 2),
        ("4", 3, None),  # out of range
        ("0", 3, None),
        ("10", 9, None),  # two digits: not one digit 1-9
        ("Mock answer", 3, None),
        ("", 3, None),
        ("Rating: 2", 3, None),  # strict: the digit must lead
    ],
)
def test_parse_rating(reply: str, n: int, want: int | None) -> None:
    assert parse_rating(reply, n) == want


def test_classifier_prompt_names_the_scale_and_caps_the_question() -> None:
    p = classifier_prompt("Prove Fermat's little theorem.", 3)
    assert "one digit 1-3" in p and "Prove Fermat's little theorem." in p
    assert len(classifier_prompt("x" * 100_000, 3)) < 4500


# --------------------------------------------------------------------------- the policy object


def test_route_is_the_base_decision_marked_cascade_without_io() -> None:
    chain = build_router(cascade_config())
    base = build_router(cascade_config(policy="heuristic"))
    req = "Design a distributed consensus protocol and prove its safety under partitions."
    d, b = chain.route(ChatRequest.from_prompt(req)), base.route(ChatRequest.from_prompt(req))
    assert (d.tier, d.complexity, d.router) == (b.tier, b.complexity, "cascade")
    assert d.reason == f"heuristic: {b.reason}; the cascade (answer) decides at request time"
    many = chain.route_many([ChatRequest.from_prompt("hi"), ChatRequest.from_prompt(req)])
    assert [x.router for x in many] == ["cascade", "cascade"]


def test_manual_choices_beat_the_cascade() -> None:
    chain = build_router(cascade_config())
    assert chain.route(ChatRequest.from_prompt("hi", model="opus")).router == "manual"
    assert chain.route(ChatRequest.from_prompt("/model sonnet hi")).tier == "sonnet"


def test_tiers_ladder_and_classify_tier() -> None:
    p = build_router(cascade_config("  cascade: {tiers: [haiku, opus], mode: classify}")).policy
    assert isinstance(p, CascadeRouter)
    assert p.tiers == ("haiku", "opus") and p.classify_tier == "haiku"
    assert p.stronger("haiku") == "opus" and p.stronger("sonnet") == "opus"
    assert p.stronger("opus") is None
    assert [p.tier_for_rating(r) for r in (1, 2)] == ["haiku", "opus"]
    d = p.decision("opus", "why")
    assert (d.tier, d.model, d.router, d.scores["opus"]) == (
        "opus",
        "claude-opus-4-5",
        "cascade",
        1,
    )


# --------------------------------------------------------------------------- config


def test_cascade_config_problems_are_reported_with_their_paths() -> None:
    bad = (
        "  cascade: {mode: guess, tiers: [opus, haiku, gpt5], classify_tier: hiku,"
        " max_escalations: -1, min_answer_chars: -2, weak_phrases: ['  ']}"
    )
    with pytest.raises(ConfigError) as info:
        cascade_config(bad)
    msgs = [f"{p.path}: {p.message}" for p in info.value.problems]
    assert msgs == [
        "routing.cascade.mode: found 'guess'; expected one of 'answer', 'classify'",
        "routing.cascade.tiers[2]: unknown tier 'gpt5'; expected one of "
        "['haiku', 'sonnet', 'opus']",
        "routing.cascade.tiers: found ['opus', 'haiku', 'gpt5']; expected cheapest first, "
        "as in tiers: ['haiku', 'sonnet', 'opus']",
        "routing.cascade.max_escalations: found -1; expected >= 0",
        "routing.cascade.min_answer_chars: found -2; expected >= 0",
        "routing.cascade.classify_tier: unknown tier 'hiku' (did you mean 'haiku'?); "
        "expected one of ['haiku', 'sonnet', 'opus']",
        "routing.cascade.weak_phrases[0]: found an empty phrase; expected some text",
    ]


def test_a_single_tier_cascade_is_rejected() -> None:
    with pytest.raises(ConfigError, match="at least 2 tiers"):
        cascade_config("  cascade: {tiers: [sonnet]}")


# --------------------------------------------------------------------------- replay events


def _response(content: list[dict], stop: str) -> ChatResponse:
    return ChatResponse("msg_1", "m", content, stop, Usage(12, 7))


def test_replayed_text_answer_encodes_as_a_complete_stream_in_both_formats() -> None:
    resp = _response([{"type": "text", "text": "Hello there"}], "end_turn")
    events = response_events(resp, "claude-x")
    assert [e["type"] for e in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    anth = b"".join(AnthropicEncoder().encode(e) for e in events).decode()
    assert '"text":"Hello there"' in anth and "event: ping" in anth
    assert anth.rstrip().endswith('data: {"type":"message_stop"}')
    enc = OpenAIEncoder("claude-x", include_usage=True)
    oa = b"".join(enc.encode(e) for e in events).decode()
    assert '"content":"Hello there"' in oa and '"finish_reason":"stop"' in oa
    assert '"completion_tokens":7' in oa and oa.rstrip().endswith("data: [DONE]")


def test_replayed_tool_call_carries_its_arguments() -> None:
    block = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}
    events = response_events(_response([block], "tool_use"), "m")
    enc = OpenAIEncoder("m", include_usage=False)
    oa = b"".join(enc.encode(e) for e in events).decode()
    assert '"name":"get_weather"' in oa and '{\\"city\\":\\"Oslo\\"}' in oa
    assert '"finish_reason":"tool_calls"' in oa
