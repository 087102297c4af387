"""An upstream's "prompt is too long" moves the request to a tier with a larger window.

The pre-call estimate (chars / 4) can say a prompt fits when the provider's tokenizer says it
does not. Here haiku and sonnet are served by a mock with a 60-token window although the config
gives them 1,000 tokens (so the estimate passes), opus by a mock without a limit. Official SDKs
call the real gateway; the mocks answer overflow with each API's real error body.
"""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest

from conftest import GatewayHandle, LoopThread, MockHandle, memory_ledger
from tierwise.config import parse_config
from tierwise.mock.app import start_mock
from tierwise.mock.config import MockConfig
from tierwise.providers.base import UpstreamError

LONG_PROMPT = "Summarise the following notes for me. " + "The meeting covered budgets. " * 14
SHORT_PROMPT = "Say hello."


def config_text(small: str, big: str, provider: str, opus_window: int = 200_000) -> str:
    urls = {"haiku": small, "sonnet": small, "opus": big}
    windows = {"haiku": 1_000, "sonnet": 1_000, "opus": opus_window}
    tiers = "".join(
        f"""
  - name: {name}
    model: m-{name}
    provider: {provider}
    price_in: 1
    price_out: 5
    context_window: {windows[name]}
    fallbacks: []
    deployments: [{{base_url: "{urls[name]}", api_key: k}}]"""
        for name in ("haiku", "sonnet", "opus")
    )
    return f"tiers:{tiers}\nretry: {{max_attempts: 1}}\n"


class Setup:
    def __init__(self, servers: LoopThread) -> None:
        r1, self.small_url = servers.run(start_mock(MockConfig(context_window=60)))
        r2, self.big_url = servers.run(start_mock(MockConfig()))
        self.small = MockHandle(servers, r1, self.small_url)
        self.big = MockHandle(servers, r2, self.big_url)
        self.servers = servers
        self.gateways: list[GatewayHandle] = []

    def gateway(self, provider: str, opus_window: int = 200_000) -> GatewayHandle:
        from tierwise.server.app import start_gateway

        text = config_text(self.small_url, self.big_url, provider, opus_window)
        cfg = parse_config(text, "<overflow test config>")
        runner, url = self.servers.run(start_gateway(cfg, ledger=memory_ledger()))
        self.gateways.append(GatewayHandle(self.servers, runner, url))
        return self.gateways[-1]

    def stop(self) -> None:
        for g in self.gateways:
            self.servers.run(g.runner.cleanup())
        self.servers.run(self.small.runner.cleanup())
        self.servers.run(self.big.runner.cleanup())


@pytest.fixture(scope="module")
def setup(servers: LoopThread) -> Iterator[Setup]:
    s = Setup(servers)
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def _fresh(setup: Setup) -> None:
    setup.small.reset()
    setup.big.reset()


def test_anthropic_upstream_overflow_moves_to_the_wider_tier(setup: Setup) -> None:
    # the setup this test relies on: too long for the small mock, not for the config's estimate
    assert 60 < len(LONG_PROMPT) // 4 + 1 < 1_000
    gw = setup.gateway("anthropic")
    client = anthropic.Anthropic(base_url=gw.url, api_key="caller", max_retries=0)
    raw = client.messages.with_raw_response.create(
        model="haiku", max_tokens=50, messages=[{"role": "user", "content": LONG_PROMPT}]
    )
    assert raw.parse().content[0].text.startswith("Mock answer from m-opus")
    assert raw.headers["x-tierwise-tier"] == "opus"
    # haiku was refused once; sonnet (same window) was skipped, not tried
    assert (setup.small.requests_to("m-haiku"), setup.small.requests_to("m-sonnet")) == (1, 0)
    assert setup.big.requests_to("m-opus") == 1
    row = gw.row(raw.headers["x-tierwise-request-id"])
    assert row.fallback_reason == (
        "context: haiku's upstream refused the prompt as too long for its 1000-token window; "
        "used opus"
    )


def test_openai_upstream_overflow_moves_to_the_wider_tier(setup: Setup) -> None:
    gw = setup.gateway("openai")
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key="caller", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="haiku", messages=[{"role": "user", "content": LONG_PROMPT}]
    )
    assert raw.parse().choices[0].message.content.startswith("Mock answer from m-opus")
    assert raw.headers["x-tierwise-tier"] == "opus"
    assert setup.small.requests_to("m-haiku") == 1


def test_a_prompt_that_fits_is_answered_where_it_was_routed(setup: Setup) -> None:
    gw = setup.gateway("anthropic")
    client = anthropic.Anthropic(base_url=gw.url, api_key="caller", max_retries=0)
    raw = client.messages.with_raw_response.create(
        model="haiku", max_tokens=50, messages=[{"role": "user", "content": SHORT_PROMPT}]
    )
    assert raw.headers["x-tierwise-tier"] == "haiku"
    assert setup.big.requests_to("m-opus") == 0


def test_with_no_wider_tier_the_caller_gets_the_upstreams_error(setup: Setup) -> None:
    gw = setup.gateway("anthropic", opus_window=1_000)  # every window equal: nowhere to go
    client = anthropic.Anthropic(base_url=gw.url, api_key="caller", max_retries=0)
    with pytest.raises(anthropic.BadRequestError, match="prompt is too long"):
        client.messages.create(
            model="haiku", max_tokens=50, messages=[{"role": "user", "content": LONG_PROMPT}]
        )
    assert setup.big.requests_to("m-opus") == 0


@pytest.mark.parametrize(
    ("status", "message", "body", "expected"),
    [
        (400, "prompt is too long: 208656 tokens > 200000 maximum", None, True),
        (400, "This model's maximum context length is 128000 tokens.", None, True),
        (400, "bad", {"error": {"code": "context_length_exceeded", "message": "bad"}}, True),
        (413, "Request exceeds the context window", None, True),
        (400, "temperature: Input should be less than or equal to 1", None, False),
        (500, "prompt is too long", None, False),  # a server error, not a refusal
    ],
)
def test_overflow_is_recognised_in_both_apis_shapes(
    status: int, message: str, body: object, expected: bool
) -> None:
    assert UpstreamError(status, message, body=body).context_overflow is expected
