"""Shared pieces of the reliability tests and benchmark: mock upstreams with per-instance
faults acting as deployments, configs that point tiers at them, and `tierwise` CLI
subprocesses (mock upstream, gateways) driven through the official `openai` SDK."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from redis_helpers import free_port
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


# --------------------------------------------------------------------------- CLI subprocesses

TIERWISE = [sys.executable, "-m", "tierwise.cli"]
START_TIMEOUT_S = 90.0  # a cold start takes ~1 s; a loaded 2-core box may need many more


class Service:
    """One `tierwise <command> --port P` subprocess on a free loopback port.

    stderr goes to a file, shown when something fails (an unread pipe would eventually block
    the process). Readiness is `GET /health` == 200, polled until a deadline; the pause between
    polls is a wait on the process itself, so an early exit is noticed at once.
    """

    def __init__(self, args: list[str], log_path: Path) -> None:
        self.args = args
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._spawn()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self) -> None:
        self.port = free_port()
        with open(self.log_path, "wb") as err:
            self.proc = subprocess.Popen(
                [*TIERWISE, *self.args, "--port", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, timeout: float = START_TIMEOUT_S, tries: int = 3) -> None:
        """Block until healthy. Respawns on a new port when another process took the one
        `free_port` picked (a race no port choice can exclude); any other failure raises."""
        deadline = time.monotonic() + timeout
        for attempt in range(tries):
            if self._healthy_by(deadline):
                return
            assert self.proc is not None
            exited = self.proc.poll() is not None
            if exited and "cannot listen" in self.log() and attempt + 1 < tries:
                self._spawn()
                continue
            break
        code = self.stop()
        raise RuntimeError(
            f"`tierwise {' '.join(self.args)} --port {self.port}` was not healthy within "
            f"{timeout:.0f} s (exit code {code}); its stderr:\n{self.log()}"
        )

    def _healthy_by(self, deadline: float) -> bool:
        assert self.proc is not None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=5) as r:
                    if r.status == 200:
                        return True
            except OSError:  # refused while starting, or 503 "starting" (HTTPError)
                pass
            try:
                self.proc.wait(timeout=0.1)
                return False  # it exited
            except subprocess.TimeoutExpired:
                pass
        return False

    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=30) as r:
            return json.loads(r.read())

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (graceful for `serve`: drain, flush, exit 0), then SIGKILL if it hangs."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode


def global_rpm_config(upstream: str, state_url: str, rpm: int) -> str:
    """Gateway config: tier `haiku` is one deployment at `rpm` with no fallback (so a limited
    request is a 429, not a sonnet answer), state shared through `state_url`, no ledger."""
    dep = f"{{provider: anthropic, base_url: '{upstream}', api_key: test-key"
    return (
        "tiers:\n"
        f"  - {{name: haiku, model: {MODELS['haiku']}, price_in: 1, price_out: 5, "
        f"fallbacks: [], deployments: [{dep}, rpm: {rpm}}}]}}\n"
        f"  - {{name: sonnet, model: {MODELS['sonnet']}, price_in: 3, price_out: 15, "
        f"deployments: [{dep}}}]}}\n"
        f"state: '{state_url}'\n"
        "ledger: {enabled: false}\n"
    )


@dataclass
class RateRun:
    """What a burst through rate-limited gateways saw, with the client-side timestamps that
    bound the span over which the shared bucket refilled."""

    accepted: list[int]  # 200s per gateway
    limited: int = 0  # 429s
    sent: list[float] = field(default_factory=list)  # time.monotonic() before each request
    done: list[float] = field(default_factory=list)  # ... after each answer

    @property
    def total_accepted(self) -> int:
        return sum(self.accepted)

    @property
    def elapsed(self) -> float:
        return max(self.done) - min(self.sent)

    def allowance(self, rpm: int) -> tuple[float, float]:
        """(low, high) requests the bucket lets through: `rpm` plus rpm/60 per second of the
        span between the first and the last admission check. That span starts before the first
        answer and ends after the last request was sent, so it lies between
        `last sent - first done` and `last done - first sent`."""
        rate = rpm / 60.0
        inner = max(0.0, max(self.sent) - min(self.done))
        return rpm + rate * inner, rpm + rate * self.elapsed


async def fire_alternating(
    urls: list[str], n: int, model: str = "haiku", concurrency: int = 8
) -> RateRun:
    """`n` chat completions, request i to gateway i % len(urls), through the official openai
    SDK without retries; counts 200s and 429s (anything else raises)."""
    import openai

    clients = [
        openai.AsyncOpenAI(base_url=u + "/v1", api_key="test", max_retries=0, timeout=60.0)
        for u in urls
    ]
    run = RateRun(accepted=[0] * len(urls))
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        g = i % len(urls)
        async with sem:
            run.sent.append(time.monotonic())
            try:
                await clients[g].chat.completions.create(
                    model=model, messages=[{"role": "user", "content": "hi"}], max_tokens=8
                )
                run.accepted[g] += 1
            except openai.RateLimitError:
                run.limited += 1
            finally:
                run.done.append(time.monotonic())

    try:
        await asyncio.gather(*(one(i) for i in range(n)))
    finally:
        for c in clients:
            await c.close()
    return run
