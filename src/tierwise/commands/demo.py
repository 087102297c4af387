"""`tierwise demo`: the mock upstream and the gateway in-process, a few varied requests through
both APIs, and a table of what was routed where and what it cost. No key, no network."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from tierwise.commands.common import add_config_argument, load_or_exit

OPENAI, ANTHROPIC = "openai", "anthropic"
# (api, prompt, model, stream)
REQUESTS: list[tuple[str, str, str, bool]] = [
    (OPENAI, "Hi! How are you today?", "auto", False),
    (
        ANTHROPIC,
        "Design a scalable, distributed rate limiter for a multi-region API gateway. Explain "
        "the trade-offs between token buckets and sliding windows, then implement it step by "
        "step in Python:\n```python\nclass RateLimiter:\n    def allow(self, key: str) -> bool: "
        "...\n```",
        "auto",
        False,
    ),
    (
        OPENAI,
        "Prove that there are infinitely many primes p with p = 4k + 3. Derive each lemma "
        "step by step and justify why the product argument works.",
        "auto",
        False,
    ),
    (ANTHROPIC, "/model opus\nWrite a haiku about routers.", "auto", False),
    (OPENAI, "Translate 'good morning' into French.", "auto", True),
    (ANTHROPIC, "What is the capital of Australia?", "auto", True),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("--router", metavar="NAME", help="routing policy (default: config's)")


def run(args: argparse.Namespace) -> int:
    cfg = load_or_exit(args.config)
    rows = asyncio.run(_demo(cfg, args.router))
    _print(cfg, rows)
    return 0


async def _demo(cfg: Any, router: str | None) -> list[dict[str, Any]]:
    import aiohttp

    from tierwise.mock.app import start_mock
    from tierwise.server.app import start_gateway

    mock_runner, mock_url = await start_mock()
    try:
        ledger = _memory_ledger()
        gw_runner, gw_url = await start_gateway(
            cfg.with_upstream(mock_url), router_name=router, ledger=ledger
        )
        try:
            async with aiohttp.ClientSession() as session:
                rows = [await _send(session, gw_url, *req) for req in REQUESTS]
            await ledger.flush()
            by_id = {r.request_id: r for r in ledger.store.rows}
            for row in rows:
                if row["request_id"] in by_id:
                    row["cost"] = by_id[row["request_id"]].cost_usd
        finally:
            await gw_runner.cleanup()
    finally:
        await mock_runner.cleanup()
    return rows


def _memory_ledger() -> Any:
    from tierwise.ledger import Ledger

    return Ledger.from_url("memory://")


async def _send(session: Any, base: str, api: str, prompt: str, model: str, stream: bool):
    import orjson

    messages = [{"role": "user", "content": prompt}]
    if api == OPENAI:
        url = base + "/v1/chat/completions"
        body: dict[str, Any] = {"model": model, "messages": messages}
        headers = {"authorization": "Bearer demo"}
        if stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
    else:
        url = base + "/v1/messages"
        body = {"model": model, "max_tokens": 512, "messages": messages, "stream": stream}
        headers = {"x-api-key": "demo", "anthropic-version": "2023-06-01"}
    async with session.post(url, json=body, headers=headers) as resp:
        raw = await resp.read()
        h = resp.headers
        tokens_in = tokens_out = 0
        if resp.status == 200 and not stream:
            data = orjson.loads(raw)
            u = data.get("usage") or {}
            tokens_in = u.get("prompt_tokens", u.get("input_tokens", 0))
            tokens_out = u.get("completion_tokens", u.get("output_tokens", 0))
        elif resp.status == 200:
            tokens_in, tokens_out = _stream_usage(raw)
        return {
            "api": api + ("/sse" if stream else ""),
            "prompt": prompt,
            "status": resp.status,
            "tier": h.get("x-tierwise-tier", "?"),
            "model": h.get("x-tierwise-model", "?"),
            "router": h.get("x-tierwise-router", "?"),
            "reason": h.get("x-tierwise-reason", ""),
            "request_id": h.get("x-tierwise-request-id", ""),
            "overhead_ms": float(h.get("x-tierwise-overhead-ms", "nan")),
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "cost": None,
        }


def _stream_usage(raw: bytes) -> tuple[int, int]:
    import orjson

    tin = tout = 0
    for line in raw.split(b"\n"):
        if not line.startswith(b"data: {"):
            continue
        obj = orjson.loads(line[6:])
        u = obj.get("usage") or (obj.get("message") or {}).get("usage") or {}
        tin = u.get("prompt_tokens") or u.get("input_tokens") or tin
        tout = u.get("completion_tokens") or u.get("output_tokens") or tout
    return tin, tout


def _print(cfg: Any, rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    prices = {t.name: (t.price_in, t.price_out) for t in cfg.tiers}
    top = cfg.tiers[-1]
    table = Table(title="tierwise demo — gateway + mock upstream (no API key, no network)")
    for col, kw in [
        ("API", {"min_width": 13}),
        ("prompt", {"max_width": 30}),
        ("tier", {"style": "bold", "min_width": 6}),
        ("model", {"min_width": 17}),
        ("router: reason", {"max_width": 38}),
        ("tokens", {"justify": "right", "min_width": 6}),
        ("cost $", {"justify": "right", "min_width": 8}),
        ("ovh ms", {"justify": "right", "min_width": 6}),
    ]:
        table.add_column(col, no_wrap=True, overflow="ellipsis", **kw)
    total = top_total = 0.0
    for r in rows:
        pin, pout = prices.get(r["tier"], (0.0, 0.0))
        cost = (
            r["cost"]
            if r["cost"] is not None
            else (r["tokens_in"] * pin + r["tokens_out"] * pout) / 1e6
        )
        total += cost
        top_total += (r["tokens_in"] * top.price_in + r["tokens_out"] * top.price_out) / 1e6
        prompt = r["prompt"].replace("\n", " ")
        table.add_row(
            r["api"],
            prompt if len(prompt) <= 60 else prompt[:57] + "...",
            r["tier"] if r["status"] == 200 else f"{r['tier']} ({r['status']})",
            r["model"],
            f"{r['router']}: {r['reason']}",
            f"{r['tokens_in']}/{r['tokens_out']}",
            f"{cost:.6f}",
            f"{r['overhead_ms']:.2f}",
        )
    console = Console()
    if not console.is_terminal:  # logs and pipes: wide enough to read without a terminal
        console = Console(width=150)
    console.print(table)
    saved = (1 - total / top_total) * 100 if top_total else 0.0
    console.print(
        f"total ${total:.6f} vs ${top_total:.6f} if every request went to {top.name} "
        f"({saved:.0f}% saved). Try: tierwise serve --upstream URL, then point the OpenAI or "
        "Anthropic SDK at it."
    )
