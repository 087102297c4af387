"""What a caller learns when the gateway's own side of an upstream call fails: a bad
deployment key is a 502 (not the caller's AuthenticationError), and no internal upstream URL
reaches the caller (it goes to the log instead). Real Dispatcher, real mock, official SDKs."""

from __future__ import annotations

import logging
from typing import Any

import anthropic
import openai
import pytest

from redis_helpers import free_port
from tierwise.config import Config, parse_config


def two_tiers(url: str, key: str = "sk-ant-test-key-123456") -> Config:
    return parse_config(
        f"""
tiers:
  - name: small
    model: claude-haiku-4-5
    price_in: 1
    price_out: 5
    fallbacks: []
    deployments: [{{base_url: "{url}", api_key: {key}}}]
  - name: big
    model: claude-opus-4-5
    price_in: 5
    price_out: 25
    fallbacks: []
    deployments: [{{base_url: "{url}", api_key: {key}}}]
retry: {{max_attempts: 1}}
""",
        "<test config>",
    )


def oa(gw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key="caller-key", max_retries=0)


def an(gw: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key="caller-key", max_retries=0)


@pytest.mark.parametrize("upstream_status", ["401", "403"])
def test_deployment_key_rejected_is_a_502_for_both_callers(
    make_gateway: Any, mock_upstream: Any, upstream_status: str
) -> None:
    gw = make_gateway(two_tiers(mock_upstream.url))
    bad = {"x-mock-status": upstream_status}
    with pytest.raises(openai.InternalServerError) as oexc:
        oa(gw).chat.completions.create(
            model="small", messages=[{"role": "user", "content": "hi"}], extra_headers=bad
        )
    assert oexc.value.status_code == 502
    message = oexc.value.body["message"]  # type: ignore[index]
    assert "rejected the gateway's credentials (check the deployment's api_key)" in message
    assert "x-api-key" not in message and "sk-ant" not in oexc.value.response.text
    with pytest.raises(anthropic.InternalServerError) as aexc:
        an(gw).messages.create(
            model="big",
            max_tokens=16,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers=bad,
        )
    assert aexc.value.status_code == 502
    body = aexc.value.body
    assert body["error"]["type"] == "api_error"  # type: ignore[index]
    assert "rejected the gateway's credentials" in body["error"]["message"]  # type: ignore[index]


def test_connection_failure_names_the_deployment_and_logs_the_url(
    make_gateway: Any, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    cfg = two_tiers(url)
    dep_id = cfg.tiers[0].deployments[0].id
    gw = make_gateway(cfg)
    with caplog.at_level(logging.WARNING, logger="tierwise.providers"):
        with pytest.raises(openai.APIStatusError) as oexc:
            oa(gw).chat.completions.create(
                model="small", messages=[{"role": "user", "content": "hi"}]
            )
        with pytest.raises(anthropic.APIStatusError) as aexc:
            an(gw).messages.create(
                model="small", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
            )
    for exc in (oexc.value, aexc.value):
        assert exc.status_code == 502
        assert "127.0.0.1" not in exc.response.text and url not in exc.response.text
        assert dep_id in exc.response.text
    logged = [r.getMessage() for r in caplog.records if r.name == "tierwise.providers"]
    assert any(url in m and dep_id in m for m in logged), logged
