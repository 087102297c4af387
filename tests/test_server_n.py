"""OpenAI's `n` > 1 through the real gateway: one upstream call per choice, billed in full."""

from __future__ import annotations

import uuid

import anthropic
import openai
import pytest

from conftest import GatewayHandle, MockHandle

PROMPT = "Suggest a name for a bakery."


def client(gw: GatewayHandle) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key="caller", max_retries=0)


def test_n_choices_come_from_n_calls_and_all_are_billed(
    gateway: GatewayHandle, mock_upstream: MockHandle
) -> None:
    before = mock_upstream.requests_to("claude-haiku-4-5")
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="haiku", n=3, messages=[{"role": "user", "content": PROMPT}]
    )
    c = raw.parse()
    assert [ch.index for ch in c.choices] == [0, 1, 2]
    assert all(ch.message.content.startswith("Mock answer from claude-haiku-4-5") for ch in c.choices)
    assert mock_upstream.requests_to("claude-haiku-4-5") - before == 3
    one = client(gateway).chat.completions.create(
        model="haiku", messages=[{"role": "user", "content": PROMPT}]
    )
    assert c.usage.prompt_tokens == 3 * one.usage.prompt_tokens  # every call read the prompt
    assert c.usage.completion_tokens == 3 * one.usage.completion_tokens
    row = gateway.row(raw.headers["x-tierwise-request-id"])
    assert (row.input_tokens, row.output_tokens) == (
        c.usage.prompt_tokens, c.usage.completion_tokens)
    price_in, price_out = 1.0, 5.0  # the built-in haiku tier, USD per million tokens
    assert row.cost_usd == pytest.approx(
        (c.usage.prompt_tokens * price_in + c.usage.completion_tokens * price_out) / 1e6)


def test_a_failed_choice_fails_the_request_but_the_answers_obtained_are_billed(
    gateway: GatewayHandle,
) -> None:
    # the first of the two calls gets a non-retryable 400, the other one answers
    fail_one = {"x-mock-fail-first": "1", "x-mock-status": "400", "x-mock-key": uuid.uuid4().hex}
    with pytest.raises(openai.BadRequestError) as exc:
        client(gateway).chat.completions.create(
            model="haiku", n=2, messages=[{"role": "user", "content": PROMPT}],
            extra_headers=fail_one,
        )
    row = gateway.row(exc.value.response.headers["x-tierwise-request-id"])
    assert row.status == 400
    assert row.output_tokens == 16 and row.cost_usd > 0  # the one answer obtained (16 tokens)


def test_streaming_with_n_is_refused_naming_n(gateway: GatewayHandle) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        client(gateway).chat.completions.create(
            model="haiku", n=2, stream=True, messages=[{"role": "user", "content": PROMPT}]
        )
    assert exc.value.body["param"] == "n"


def test_an_anthropic_body_with_n_gets_one_answer(
    gateway: GatewayHandle, mock_upstream: MockHandle
) -> None:
    before = mock_upstream.requests_to("claude-haiku-4-5")
    an = anthropic.Anthropic(base_url=gateway.url, api_key="caller", max_retries=0)
    msg = an.messages.create(
        model="haiku", max_tokens=32, messages=[{"role": "user", "content": PROMPT}],
        extra_body={"n": 3},  # not an Anthropic field: ignored, not fanned out
    )
    assert msg.content[0].text.startswith("Mock answer from claude-haiku-4-5")
    assert mock_upstream.requests_to("claude-haiku-4-5") - before == 1
