"""Shared pieces of the reliability tests and benchmark: mock upstreams with per-instance
faults acting as deployments, and configs that point tiers at them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from tierwise.config import Config, parse_config
from tierwise.mock.app import start_mock
from tierwise.mock.config import MockConfig, parse_status_mix
from tierwise.types import ChatRequest, Decision


def faulty(
    rate: float, mix: str = "500:1", retry_after: float | None = 1.0, seed: int = 1
) -> MockConfig:
    return MockConfig(
        error_rate=rate, status_mix=parse_status_mix(mix), retry_after=retry_after, seed=seed
    )


@contextlib.asynccontextmanager
async def mocks(*configs: MockConfig) -> AsyncIterator[list[str]]:
    """Start one mock upstream per config; yields their base URLs."""
    runners, urls = [], []
    try:
        for c in configs:
            runner, url = await start_mock(c)
            runners.append(runner)
            urls.append(url)
        yield urls
    finally:
        for r in runners:
            await r.cleanup()


async def stats(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with session.get(f"{url}/mock/stats") as resp:
        return await resp.json()  # type: ignore[no-any-return]


def status_count(st: dict[str, Any], status: int) -> int:
    return sum(r["count"] for r in st["requests"] if r["status"] == status)


MODELS = {"haiku": "claude-haiku-4-5", "sonnet": "claude-sonnet-4-5", "opus": "claude-opus-4-1"}


def tiers_config(
    urls: dict[str, list[str]],
    *,
    retry: str = "{backoff_base_s: 0.0, backoff_max_s: 0.0, jitter: 0.0}",
    extra: str = "",
    tier_extra: dict[str, str] | None = None,
    dep_extra: str = "",
    provider: str = "anthropic",
) -> Config:
    lines = ["tiers:"]
    for name in ("haiku", "sonnet", "opus"):
        if name not in urls:
            continue
        lines.append(
            f"  - {{name: {name}, model: {MODELS[name]}, price_in: 1, price_out: 5, "
            f"provider: {provider}{(tier_extra or {}).get(name, '')}, deployments: ["
            + ", ".join(
                f"{{provider: {provider}, base_url: '{u}', api_key: test-key{dep_extra}}}"
                for u in urls[name]
            )
            + "]}"
        )
    lines.append(f"retry: {retry}")
    lines.append(extra)
    return parse_config("\n".join(lines) + "\n", "<reliability test>")


def decision(tier: str) -> Decision:
    return Decision(tier, MODELS.get(tier, tier), 0.5, {}, "test", "test")


def req(text: str = "hello there", **kw: Any) -> ChatRequest:
    return ChatRequest.from_prompt(text, max_tokens=32, **kw)


def rpm_worker(base_url: str, state_url: str, n: int, barrier: Any, out: Any) -> None:
    """One tierwise instance in its own process: fires `n` requests at a rate-limited tier."""
    import asyncio
    import time

    from tierwise.dispatch import Dispatcher
    from tierwise.providers.base import UpstreamError

    async def go() -> tuple[int, int, float]:
        cfg = tiers_config(
            {"haiku": [base_url], "sonnet": [base_url]},
            extra=f"state: '{state_url}'",
            tier_extra={"haiku": ", fallbacks: []"},
            dep_extra=", rpm: 60",
        )
        async with aiohttp.ClientSession() as s:
            d = Dispatcher(cfg, s)
            await d.start()
            ok = limited = 0
            sem = asyncio.Semaphore(4)

            async def one() -> None:
                nonlocal ok, limited
                async with sem:
                    try:
                        await d.complete(req(), decision("haiku"))
                        ok += 1
                    except UpstreamError as e:
                        if e.status != 429:
                            raise
                        limited += 1

            barrier.wait(timeout=30)
            t0 = time.monotonic()
            await asyncio.gather(*(one() for _ in range(n)))
            elapsed = time.monotonic() - t0
            await d.close()
            return ok, limited, elapsed

    out.put(asyncio.run(go()))
