"""Shared fixtures: a real mock upstream and a real gateway on free loopback ports.

Both run on one asyncio loop in a background thread, so tests can drive them with blocking
clients (the official `openai` / `anthropic` SDKs, which is the point) or submit coroutines with
`servers.run(coro)`. Synchronisation is by futures, never sleeps.

Fixtures (reuse them in any test module):

- `servers` (session): the `LoopThread`; `servers.run(coro)` runs a coroutine on the loop.
- `mock_upstream` (session): `MockHandle` with `.url` (no `/v1`), `.stats()` (GET /mock/stats as
  a dict) and `.reset()` (POST /mock/reset). Fault injection per request: send `x-mock-*`
  headers (the gateway forwards them upstream), see `tierwise mock-upstream --help`.
- `gateway` (session): `GatewayHandle` for the built-in haiku/sonnet/opus config (all
  Anthropic-provider tiers) pointed at the mock, with an in-memory ledger. `.url`,
  `.openai_base_url` (`url + "/v1"`, for `openai.OpenAI(base_url=...)`), `.state`
  (the app's GatewayState), `.ledger_rows()` (flushes, then returns the rows written so far).
- `make_gateway` (function): `make_gateway(cfg, **create_app_kwargs) -> GatewayHandle` starts
  one more gateway (e.g. with mixed-provider tiers); stopped at the end of the test.
- `mixed_config` (function): a 2-tier config whose cheap tier `mini` is an OpenAI-provider
  deployment (`gpt-4o-mini`) and strong tier `claude` an Anthropic one, both on the mock:
  exercises cross-translation from either front end.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from typing import Any

import aiohttp
import pytest

from tierwise.config import Config, load_config, parse_config


class LoopThread:
    """An asyncio loop in a daemon thread; `run` blocks until the coroutine finishes."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


class MockHandle:
    def __init__(self, servers: LoopThread, runner: Any, url: str) -> None:
        self.servers, self.runner, self.url = servers, runner, url

    def stats(self) -> dict[str, Any]:
        return self.servers.run(_get_json(self.url + "/mock/stats"))

    def reset(self) -> None:
        self.servers.run(_post(self.url + "/mock/reset"))

    def requests_to(self, model: str) -> int:
        """Requests the mock answered for `model` (any status)."""
        return sum(r["count"] for r in self.stats()["requests"] if r["model"] == model)


class GatewayHandle:
    def __init__(self, servers: LoopThread, runner: Any, url: str) -> None:
        self.servers, self.runner, self.url = servers, runner, url
        self.openai_base_url = url + "/v1"

    @property
    def state(self) -> Any:
        from tierwise.server.state import STATE

        return self.runner.app[STATE]

    def ledger_rows(self) -> list[Any]:
        ledger = self.state.ledger
        if ledger is None:
            return []
        self.servers.run(ledger.flush())
        return list(ledger.store.rows)

    def row(self, request_id: str) -> Any:
        rows = [r for r in self.ledger_rows() if r.request_id == request_id]
        assert rows, f"no ledger row for {request_id}"
        return rows[0]


async def _get_json(url: str) -> Any:
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        return await r.json()


async def _post(url: str) -> None:
    async with aiohttp.ClientSession() as s, s.post(url) as r:
        await r.read()


def serve_app(servers: LoopThread, app: Any) -> tuple[Any, str]:
    """Run an aiohttp app on a free loopback port: (runner, base URL). A hand-written upstream
    for behaviour the shared mock does not have (prompt caches, say)."""
    from aiohttp import web

    async def start() -> tuple[Any, str]:
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"

    return servers.run(start())


def memory_ledger() -> Any:
    """An in-memory ledger that flushes often (tests read its rows)."""
    from tierwise.ledger import Ledger

    return Ledger.from_url("memory://", flush_interval_s=0.05)


async def _start_gateway(cfg: Config, kwargs: dict[str, Any]) -> tuple[Any, str]:
    from tierwise.server.app import start_gateway

    kwargs.setdefault("ledger", memory_ledger())
    return await start_gateway(cfg, **kwargs)


@pytest.fixture(scope="session")
def servers() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.stop()


@pytest.fixture(scope="session")
def mock_upstream(servers: LoopThread) -> Iterator[MockHandle]:
    from tierwise.mock.app import start_mock

    runner, url = servers.run(start_mock())
    yield MockHandle(servers, runner, url)
    servers.run(runner.cleanup())


@pytest.fixture(scope="session")
def gateway(servers: LoopThread, mock_upstream: MockHandle) -> Iterator[GatewayHandle]:
    cfg = load_config(None).with_upstream(mock_upstream.url)
    runner, url = servers.run(_start_gateway(cfg, {}))
    yield GatewayHandle(servers, runner, url)
    servers.run(runner.cleanup())


@pytest.fixture
def make_gateway(servers: LoopThread) -> Iterator[Any]:
    started: list[Any] = []

    def make(cfg: Config, **kwargs: Any) -> GatewayHandle:
        runner, url = servers.run(_start_gateway(cfg, kwargs))
        started.append(runner)
        return GatewayHandle(servers, runner, url)

    yield make
    for runner in started:
        servers.run(runner.cleanup())


@pytest.fixture
def mixed_config(mock_upstream: MockHandle) -> Config:
    url = mock_upstream.url
    return parse_config(
        f"""
tiers:
  - name: mini
    model: gpt-4o-mini
    provider: openai
    price_in: 0.15
    price_out: 0.6
    deployments: [{{provider: openai, base_url: "{url}/v1", api_key: sk-test-openai-key-123456}}]
  - name: claude
    model: claude-sonnet-4-5
    provider: anthropic
    price_in: 3.0
    price_out: 15.0
    deployments: [{{provider: anthropic, base_url: "{url}", api_key: sk-ant-test-key-123456}}]
routing:
  policy: heuristic
""",
        "<mixed test config>",
    )
