"""Report figures on a small hand-made ledger, checked against arithmetic done by hand.

Prices (built-in config, USD per million tokens in/out): haiku 1/5, sonnet 3/15, opus 5/25.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest

from test_ledger import make_row  # tests/ is on sys.path (pytest rootdir-less import)
from tierwise.cli import main
from tierwise.config import load_config
from tierwise.ledger import Ledger
from tierwise.ledger.report import build_report, parse_since
from tierwise.ledger.store import open_reader

NOW = time.time()
HOUR = 3600.0


def price(tokens_in: int, tokens_out: int, p_in: float, p_out: float) -> float:
    return (tokens_in * p_in + tokens_out * p_out) / 1e6


ROWS = [
    # id, tier, model, in, out, cost, latency, ttft, overhead, status, error, fallback, age
    make_row(1, request_id="r1", tier="haiku", model="claude-haiku-4-5", input_tokens=1000,
             output_tokens=200, cost_usd=price(1000, 200, 1, 5), latency_ms=100.0, ttft_ms=10.0,
             overhead_ms=1.0, status=200, error_class=None, fallback_reason=None, ts=NOW - HOUR),
    make_row(2, request_id="r2", tier="haiku", model="claude-haiku-4-5", input_tokens=2000,
             output_tokens=400, cost_usd=price(2000, 400, 1, 5), latency_ms=300.0, ttft_ms=None,
             overhead_ms=3.0, status=200, error_class=None, fallback_reason=None, ts=NOW - HOUR),
    make_row(3, request_id="r3", tier="sonnet", model="claude-sonnet-4-5", input_tokens=1000,
             output_tokens=1000, cost_usd=price(1000, 1000, 3, 15), latency_ms=1000.0,
             ttft_ms=100.0, overhead_ms=2.0, status=200, error_class=None,
             fallback_reason="rate_limited", ts=NOW - HOUR),
    make_row(4, request_id="r4", tier="opus", model="claude-opus-4-5", input_tokens=1000,
             output_tokens=1000, cost_usd=price(1000, 1000, 5, 25), latency_ms=2000.0,
             ttft_ms=200.0, overhead_ms=4.0, status=200, error_class=None, fallback_reason=None,
             ts=NOW - HOUR),
    make_row(5, request_id="r5", tier="haiku", model="claude-haiku-4-5", input_tokens=0,
             output_tokens=0, cost_usd=0.0, latency_ms=50.0, ttft_ms=None, overhead_ms=2.0,
             status=529, error_class="overloaded", fallback_reason=None, ts=NOW - HOUR),
    # three days old: outside --since 24h
    make_row(6, request_id="r6", tier="haiku", model="claude-haiku-4-5", input_tokens=1000,
             output_tokens=0, cost_usd=price(1000, 0, 1, 5), latency_ms=10.0, ttft_ms=None,
             overhead_ms=1.0, status=200, error_class=None, fallback_reason=None,
             ts=NOW - 72 * HOUR),
]  # fmt: skip
FEEDBACK = [("r1", 1.0), ("r1", 0.0), ("r2", 0.2), ("r3", 0.9), ("r4", 0.1)]


@pytest.fixture(scope="module")
def ledger_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('report')}/ledger.db"

    async def fill() -> None:
        async with Ledger.from_url(url) as ledger:
            for r in ROWS:
                ledger.record(r)
            for rid, score in FEEDBACK:
                assert await ledger.feedback(rid, score)
            assert await ledger.feedback("unknown", 1.0) is False

    asyncio.run(fill())
    return url


def report(url: str, since: float | None) -> dict:
    reader = open_reader(url)
    try:
        return build_report(reader, load_config().tiers, since=since)
    finally:
        reader.close()


def test_savings_and_cost_per_query_over_the_last_day(ledger_url: str) -> None:
    rep = report(ledger_url, parse_since("24h"))
    # actual: r1 0.002 + r2 0.004 + r3 0.018 + r4 0.030 + r5 0 = 0.054
    assert rep["total"]["requests"] == 5
    assert rep["total"]["cost_usd"] == pytest.approx(0.054)
    assert rep["total"]["cost_per_query_usd"] == pytest.approx(0.054 / 5)
    # always opus: 5000 in * $5/M + 2600 out * $25/M = 0.025 + 0.065 = 0.090
    assert rep["savings"]["always_strongest_usd"] == pytest.approx(0.090)
    assert rep["savings"]["savings"] == pytest.approx(1 - 0.054 / 0.090)  # 40%
    assert rep["savings"]["strongest_tier"] == "opus"


def test_all_time_includes_old_rows(ledger_url: str) -> None:
    rep = report(ledger_url, None)
    assert rep["total"]["requests"] == 6
    # + r6: 0.001 actual; 1000 in * $5/M = 0.005 always-opus
    assert rep["savings"]["savings"] == pytest.approx(1 - 0.055 / 0.095)


def test_mix_cost_and_latency_by_tier_and_model(ledger_url: str) -> None:
    rep = report(ledger_url, parse_since("24h"))
    tiers = {t["tier"]: t for t in rep["by_tier"]}
    assert [t["tier"] for t in rep["by_tier"]] == ["haiku", "sonnet", "opus"]  # config order
    h = tiers["haiku"]
    assert (h["requests"], h["share"]) == (3, pytest.approx(0.6))
    assert h["cost_per_query_usd"] == pytest.approx(0.006 / 3)
    assert h["mean_latency_ms"] == pytest.approx((100 + 300 + 50) / 3)
    assert h["mean_ttft_ms"] == pytest.approx(10.0)  # requests without a TTFT are not zeros
    assert h["mean_overhead_ms"] == pytest.approx(2.0)
    # nearest rank over [50, 100, 300]: p50 = 2nd value, p95 and p99 = 3rd
    assert (h["latency_p50_ms"], h["latency_p95_ms"], h["latency_p99_ms"]) == (100, 300, 300)
    assert tiers["opus"]["latency_p50_ms"] == tiers["opus"]["latency_p99_ms"]  # one request
    assert h["error_rate"] == pytest.approx(1 / 3)
    assert tiers["sonnet"]["fallbacks"] == 1
    models = {m["model"]: m for m in rep["by_model"]}
    assert models["claude-opus-4-5"]["cost_per_query_usd"] == pytest.approx(0.030)
    assert models["claude-haiku-4-5"]["input_tokens"] == 3000
    assert sum(m["share"] for m in rep["by_model"]) == pytest.approx(1.0)


def test_errors_and_fallbacks(ledger_url: str) -> None:
    rep = report(ledger_url, parse_since("24h"))
    assert rep["errors"] == [{"error_class": "overloaded", "count": 1, "rate": pytest.approx(0.2)}]
    assert rep["total"]["error_rate"] == pytest.approx(0.2)
    assert rep["fallbacks"] == [
        {"reason": "rate_limited", "tier": "sonnet", "count": 1, "share": pytest.approx(0.2)}
    ]


def test_feedback_quality_and_routing_accuracy(ledger_url: str) -> None:
    fb = report(ledger_url, parse_since("24h"))["feedback"]
    # per request: r1 mean(1, 0) = 0.5 (not low: low is < 0.5), r2 0.2 low, r3 0.9, r4 0.1 low
    assert fb["rated"] == 4
    assert fb["mean_score"] == pytest.approx((0.5 + 0.2 + 0.9 + 0.1) / 4)
    assert fb["low_share"] == pytest.approx(0.5)
    # r2 (haiku) is a low score from a cheaper tier; r4 is low but already on opus
    assert fb["low_from_cheaper_tiers"] == 1
    assert fb["low_from_cheaper_share"] == pytest.approx(0.5)
    assert fb["routing_accuracy"] == pytest.approx(0.75)
    tiers = {t["tier"]: t for t in fb["by_tier"]}
    assert tiers["haiku"] == {"tier": "haiku", "rated": 2, "mean_score": pytest.approx(0.35),
                              "low_share": pytest.approx(0.5)}  # fmt: skip
    models = {m["model"]: m for m in fb["by_model"]}
    assert models["claude-opus-4-5"]["mean_score"] == pytest.approx(0.1)


def test_parse_since() -> None:
    assert parse_since("24h", now=100_000.0) == 100_000.0 - 86_400
    assert parse_since("30m", now=1000.0) == 1000.0 - 1800
    assert parse_since("2w", now=0.0) == -14 * 86_400
    assert parse_since("all") is None and parse_since(None) is None
    assert parse_since("2026-11-01") == 1_793_491_200.0  # midnight UTC
    with pytest.raises(ValueError, match="30m, 24h"):
        parse_since("yesterday")


def test_cli_json(ledger_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--ledger", ledger_url, "--since", "24h", "--json"]) == 0
    rep = orjson.loads(capsys.readouterr().out)
    assert rep["total"]["requests"] == 5
    assert rep["savings"]["savings"] == pytest.approx(0.4)


def test_cli_plain_text_and_config_prices(
    ledger_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ledger URL and prices come from --config; output is plain text when not a terminal."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "tiers:\n"
        "  - {name: haiku, model: claude-haiku-4-5, price_in: 1, price_out: 5}\n"
        "  - {name: opus, model: claude-opus-4-5, price_in: 10, price_out: 50}\n"
        f"ledger:\n  url: {ledger_url}\n"
    )
    assert main(["report", "--config", str(cfg), "--since", "24h"]) == 0
    out = capsys.readouterr().out
    assert "\x1b[" not in out
    # always opus at $10/$50: 5000*10e-6 + 2600*50e-6 = 0.18; savings 1 - 0.054/0.18 = 70%
    assert "savings vs always opus: 70.0%" in out
    for heading in ("By tier", "By model", "Errors", "Fallbacks taken", "Feedback"):
        assert heading in out
    assert "routing accuracy" in out and "75.0%" in out


def test_cli_explains_a_missing_ledger(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--ledger", f"sqlite:///{tmp_path}/none.db"]) == 2
    assert "no ledger at" in capsys.readouterr().err
    assert main(["report", "--ledger", "mysql://x/y"]) == 2
    assert "sqlite:///PATH" in capsys.readouterr().err
    assert main(["report", "--since", "soon"]) == 2
    assert "--since 'soon'" in capsys.readouterr().err


def test_empty_ledger_reports_zeros_not_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/empty.db"

    async def create() -> None:
        async with Ledger.from_url(url):
            pass

    asyncio.run(create())
    rep = report(url, None)
    assert rep["total"]["requests"] == 0 and rep["savings"]["savings"] is None
    assert rep["feedback"]["rated"] == 0 and rep["feedback"]["routing_accuracy"] is None
    assert main(["report", "--ledger", url]) == 0
    assert "0 requests" in capsys.readouterr().out
