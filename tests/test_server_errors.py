"""Errors reach each caller in its own API's format, with the right status and our headers.

Upstream-error tests run the gateway with SimpleDispatcher (one attempt, no retries), so what
is checked is the server's mapping, not dispatch policy.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import aiohttp
import anthropic
import openai
import orjson
import pytest

from tierwise.config import load_config
from tierwise.server.simple_dispatch import SimpleDispatcher


def oa(gw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key="caller-key", max_retries=0)


def an(gw: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key="caller-key", max_retries=0)


@pytest.fixture
def simple_gateway(make_gateway: Any, mock_upstream: Any) -> Any:
    cfg = load_config(None).with_upstream(mock_upstream.url)
    return make_gateway(cfg, dispatcher_factory=SimpleDispatcher)


def post_raw(gw: Any, path: str, data: bytes, headers: dict[str, str] | None = None):
    async def go() -> tuple[int, dict[str, str], Any]:
        async with (
            aiohttp.ClientSession() as s,
            s.post(
                gw.url + path,
                data=data,
                headers={"content-type": "application/json", **(headers or {})},
            ) as r,
        ):
            return r.status, dict(r.headers), orjson.loads(await r.read())

    return gw.servers.run(go())


ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "k"}


def test_malformed_json_in_each_format(gateway: Any) -> None:
    status, headers, body = post_raw(gateway, "/v1/chat/completions", b"{not json")
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    assert "not valid JSON" in body["error"]["message"]
    assert headers["x-tierwise-request-id"].startswith("twr_")
    status, headers, body = post_raw(gateway, "/v1/messages", b"[1,", ANTHROPIC_HEADERS)
    assert status == 400 and body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert "x-tierwise-overhead-ms" in headers


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/chat/completions", {"model": "auto"}, "messages"),
        (
            "/v1/chat/completions",
            {"model": "auto", "messages": [{"role": "bot"}]},
            "messages[0].role",
        ),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]}, "model"),
        (
            "/v1/chat/completions",
            {"model": "auto", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"},
            "temperature",
        ),
        (
            "/v1/messages",
            {"model": "auto", "messages": [{"role": "user", "content": "x"}]},
            "max_tokens",
        ),
        (
            "/v1/messages",
            {"model": "auto", "max_tokens": 5, "messages": [{"role": "user"}]},
            "messages.0.content",
        ),
        (
            "/v1/messages",
            {
                "model": "auto",
                "max_tokens": 5,
                "stream": "yes",
                "messages": [{"role": "user", "content": "x"}],
            },
            "stream",
        ),
    ],
)
def test_missing_or_mistyped_fields_name_the_field(
    gateway: Any, path: str, body: dict[str, Any], field: str
) -> None:
    headers = ANTHROPIC_HEADERS if path == "/v1/messages" else None
    status, _, out = post_raw(gateway, path, orjson.dumps(body), headers)
    assert status == 400
    if path == "/v1/messages":
        assert out["error"]["message"].startswith(field)
    else:
        assert out["error"]["param"] == field


def test_sdk_sees_bad_request_for_empty_messages(gateway: Any) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        oa(gateway).chat.completions.create(model="auto", messages=[])
    assert exc.value.body["param"] == "messages"


def test_body_over_limit_is_413(make_gateway: Any, mock_upstream: Any) -> None:
    cfg = load_config(None).with_upstream(mock_upstream.url)
    cfg = dataclasses.replace(cfg, server=dataclasses.replace(cfg.server, max_body_bytes=2000))
    gw = make_gateway(cfg)
    big = "x" * 5000
    with pytest.raises(openai.APIStatusError) as exc:
        oa(gw).chat.completions.create(model="auto", messages=[{"role": "user", "content": big}])
    assert exc.value.status_code == 413
    assert "max_body_bytes" in exc.value.body["message"]
    with pytest.raises(anthropic.APIStatusError) as aexc:
        an(gw).messages.create(
            model="auto", max_tokens=5, messages=[{"role": "user", "content": big}]
        )
    assert aexc.value.status_code == 413
    assert aexc.value.body["error"]["type"] == "request_too_large"


def test_unknown_model_lists_valid_names(gateway: Any) -> None:
    with pytest.raises(openai.NotFoundError) as exc:
        oa(gateway).chat.completions.create(
            model="gpt-9", messages=[{"role": "user", "content": "hi"}]
        )
    assert "'gpt-9'" in exc.value.message and "haiku" in exc.value.message
    assert exc.value.response.headers["x-tierwise-request-id"]
    with pytest.raises(anthropic.NotFoundError) as aexc:
        an(gateway).messages.create(
            model="gpt-9", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
    assert aexc.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(openai.BadRequestError) as bexc:
        oa(gateway).chat.completions.create(
            model="auto",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-tierwise-tier": "platinum"},
        )
    assert bexc.value.body["param"] == "x-tierwise-tier"
    with pytest.raises(openai.BadRequestError):
        oa(gateway).chat.completions.create(
            model="router-nosuch-0.5", messages=[{"role": "user", "content": "hi"}]
        )


def test_upstream_429_passes_retry_after(simple_gateway: Any) -> None:
    fault = {"x-mock-status": "429", "x-mock-retry-after": "7"}
    with pytest.raises(openai.RateLimitError) as exc:
        oa(simple_gateway).chat.completions.create(
            model="haiku", messages=[{"role": "user", "content": "hi"}], extra_headers=fault
        )
    assert exc.value.response.headers["retry-after"] == "7"
    assert exc.value.response.headers["x-tierwise-tier"] == "haiku"
    with pytest.raises(anthropic.RateLimitError) as aexc:
        an(simple_gateway).messages.create(
            model="haiku",
            max_tokens=5,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers=fault,
        )
    assert aexc.value.response.headers["retry-after"] == "7"
    assert aexc.value.body["error"]["type"] == "rate_limit_error"
    rid = aexc.value.response.headers["x-tierwise-request-id"]
    row = simple_gateway.row(rid)
    assert row.status == 429 and row.error_class == "rate_limit_error"


def test_upstream_529_maps_per_caller(simple_gateway: Any) -> None:
    fault = {"x-mock-status": "529"}
    with pytest.raises(openai.InternalServerError) as exc:
        oa(simple_gateway).chat.completions.create(
            model="haiku", messages=[{"role": "user", "content": "hi"}], extra_headers=fault
        )
    assert exc.value.status_code == 503
    assert exc.value.body["type"] == "server_error"  # an OpenAI error object
    with pytest.raises(anthropic.InternalServerError) as aexc:
        an(simple_gateway).messages.create(
            model="haiku",
            max_tokens=5,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers=fault,
        )
    assert aexc.value.status_code == 529
    assert aexc.value.body["error"]["type"] == "overloaded_error"


def test_upstream_500_and_streaming_errors(simple_gateway: Any) -> None:
    with pytest.raises(openai.InternalServerError) as exc:
        oa(simple_gateway).chat.completions.create(
            model="opus",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            extra_headers={"x-mock-status": "500"},
        )
    assert exc.value.status_code == 500
    assert exc.value.response.headers["x-tierwise-tier"] == "opus"
    # an error after the stream started arrives in-stream, in the caller's format
    with (
        pytest.raises(anthropic.APIStatusError) as aexc,
        an(simple_gateway).messages.stream(
            model="opus",
            max_tokens=50,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-mock-stream-error-after": "4", "x-mock-status": "529"},
        ) as stream,
    ):
        for _ in stream:
            pass
    assert "overloaded_error" in str(aexc.value)


def test_upstream_key_never_reaches_caller(make_gateway: Any, mock_upstream: Any) -> None:
    secret = "sk-ant-supersecret-abcdef123456"
    cfg = load_config(None).with_upstream(mock_upstream.url)
    for t in cfg.tiers:
        t.deployments[0].api_key = secret
    gw = make_gateway(cfg, dispatcher_factory=SimpleDispatcher)
    with pytest.raises(openai.InternalServerError) as exc:  # our key failed: a 502
        oa(gw).chat.completions.create(
            model="haiku",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-mock-status": "401"},
        )
    assert secret not in exc.value.response.text
    assert all(secret not in v for v in exc.value.response.headers.values())


def test_client_disconnect_cancels_upstream(simple_gateway: Any, mock_upstream: Any) -> None:
    async def go() -> int:
        model = "claude-sonnet-4-5"

        def stats_count(stats: dict[str, Any], key: str) -> int:
            return sum(r["count"] for r in stats[key] if r["model"] == model)

        async with aiohttp.ClientSession() as s:

            async def get_stats() -> dict[str, Any]:
                async with s.get(mock_upstream.url + "/mock/stats") as r:
                    return await r.json()

            before = stats_count(await get_stats(), "cancelled")
            body = {"model": "sonnet", "messages": [{"role": "user", "content": "hi"}]}
            call = asyncio.ensure_future(
                s.post(
                    simple_gateway.url + "/v1/chat/completions",
                    json=body,
                    headers={"x-mock-hang-s": "60"},
                )
            )
            deadline = time.monotonic() + 10
            while (await get_stats())["in_flight"] == 0:  # wait until the upstream has it
                assert time.monotonic() < deadline, "request never reached the upstream"
                await asyncio.sleep(0.005)
            call.cancel()  # the caller goes away
            while stats_count(await get_stats(), "cancelled") == before:
                assert time.monotonic() < deadline, "upstream call was not cancelled"
                await asyncio.sleep(0.005)
            return stats_count(await get_stats(), "cancelled") - before

    assert simple_gateway.servers.run(go()) == 1
