"""Ledger reports: traffic mix, cost, latency, errors, fallbacks, feedback and savings.

Aggregation happens in SQL (portable between SQLite and PostgreSQL; `?` placeholders), so a
report over millions of rows moves a few dozen numbers, not the rows. The result is a plain
dict (stable keys, JSON-ready); rendering lives in `render_report`, the CLI in commands/report.

Savings are measured against always using the strongest (last) tier: each row's recorded
tokens re-priced at that tier's prices from the config, savings = 1 - actual / always-strongest.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from tierwise.config import TierConfig
    from tierwise.ledger.store import Reader

DEFAULT_LOW_SCORE = 0.5
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)


def parse_since(text: str | None, now: float | None = None) -> float | None:
    """`24h`, `30m`, `7d`, `2w`, `90s`, an ISO date/time (UTC unless it says otherwise), or
    `all`/None -> a unix timestamp lower bound (None: no bound)."""
    if text is None or text.strip().lower() in ("", "all"):
        return None
    now = time.time() if now is None else now
    m = _DURATION.match(text)
    if m:
        return now - float(m.group(1)) * _UNITS[m.group(2).lower()]
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--since {text!r}: expected a duration like 30m, 24h, 7d, 2w, or an ISO date "
            "like 2026-11-01 or 2026-11-01T12:00"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _tier_key(order: dict[str, int]) -> Any:
    return lambda name: (order.get(name, len(order)), name)


PERCENTILES = (50, 95, 99)


def _percentiles(
    reader: Reader, column: str, where: str, params: Sequence[Any]
) -> dict[str, tuple[float | None, ...]]:
    """Nearest-rank PERCENTILES of `column` per tier, NULLs (no value recorded) left out.

    Ranked with window functions and picked in SQL (SQLite >= 3.25 and PostgreSQL alike), so a
    report still moves a handful of numbers, not the rows. Rank k = ceil(p/100 * n) is written
    with integer division, which both databases truncate the same way.
    """
    cond = f"{where} AND {column} IS NOT NULL" if where else f"WHERE {column} IS NOT NULL"
    picks = ", ".join(
        f"MIN(CASE WHEN rn = ({p} * cnt + 99) / 100 THEN v END)" for p in PERCENTILES
    )
    rows = reader.query(
        f"SELECT tier, {picks} FROM (SELECT tier, {column} AS v, "
        f"ROW_NUMBER() OVER (PARTITION BY tier ORDER BY {column}) AS rn, "
        f"COUNT(*) OVER (PARTITION BY tier) AS cnt FROM requests {cond}) AS ranked GROUP BY tier",
        params,
    )
    return {r[0]: tuple(None if v is None else float(v) for v in r[1:]) for r in rows}


def build_report(
    reader: Reader,
    tiers: Sequence[TierConfig],
    *,
    since: float | None = None,
    low_score: float = DEFAULT_LOW_SCORE,
) -> dict[str, Any]:
    """Every figure of `tierwise report`, from rows with ts >= since (all rows when None)."""
    where, params = ("WHERE ts >= ?", [since]) if since is not None else ("", [])
    order = {t.name: i for i, t in enumerate(tiers)}
    strongest = tiers[-1]
    p_in, p_out = strongest.price_in / 1e6, strongest.price_out / 1e6

    is_error = "(status >= 400 OR error_class IS NOT NULL)"
    tier_rows = reader.query(
        "SELECT tier, COUNT(*), SUM(cost_usd), SUM(input_tokens), SUM(output_tokens), "
        "AVG(latency_ms), AVG(ttft_ms), AVG(overhead_ms), "
        f"SUM(CASE WHEN {is_error} THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN fallback_reason IS NOT NULL THEN 1 ELSE 0 END) "
        f"FROM requests {where} GROUP BY tier",
        params,
    )
    total_n = sum(int(r[1]) for r in tier_rows)
    spread = {c: _percentiles(reader, c, where, params) for c in ("latency_ms", "overhead_ms")}
    none = (None,) * len(PERCENTILES)
    by_tier = []
    for tier, n, cost, tin, tout, lat, ttft, ovh, errs, fbs in sorted(
        tier_rows, key=lambda r: _tier_key(order)(r[0])
    ):
        n, cost, tin, tout = int(n), float(cost or 0), int(tin or 0), int(tout or 0)
        by_tier.append(
            {
                "tier": tier,
                "requests": n,
                "share": _ratio(n, total_n),
                "cost_usd": cost,
                "cost_per_query_usd": _ratio(cost, n),
                "always_strongest_usd": tin * p_in + tout * p_out,
                "mean_latency_ms": lat,
                "mean_ttft_ms": ttft,
                "mean_overhead_ms": ovh,
                **{
                    f"{c[:-3]}_p{p}_ms": v
                    for c, per_tier in spread.items()
                    for p, v in zip(PERCENTILES, per_tier.get(tier, none), strict=True)
                },
                "errors": int(errs or 0),
                "error_rate": _ratio(int(errs or 0), n),
                "fallbacks": int(fbs or 0),
            }
        )

    model_rows = reader.query(
        "SELECT model, COUNT(*), SUM(cost_usd), SUM(input_tokens), SUM(output_tokens), "
        f"AVG(latency_ms) FROM requests {where} GROUP BY model ORDER BY COUNT(*) DESC, model",
        params,
    )
    by_model = [
        {
            "model": model,
            "requests": int(n),
            "share": _ratio(int(n), total_n),
            "cost_usd": float(cost or 0),
            "cost_per_query_usd": _ratio(float(cost or 0), int(n)),
            "input_tokens": int(tin or 0),
            "output_tokens": int(tout or 0),
            "mean_latency_ms": lat,
        }
        for model, n, cost, tin, tout, lat in model_rows
    ]

    total_cost = sum(t["cost_usd"] for t in by_tier)
    strongest_cost = sum(t["always_strongest_usd"] for t in by_tier)
    total_errors = sum(t["errors"] for t in by_tier)

    err_where = f"{where} AND {is_error}" if where else f"WHERE {is_error}"
    errors = [
        {"error_class": cls, "count": int(n), "rate": _ratio(int(n), total_n)}
        for cls, n in reader.query(
            "SELECT COALESCE(error_class, 'http_' || CAST(status AS TEXT)), COUNT(*) "
            f"FROM requests {err_where} GROUP BY 1 ORDER BY 2 DESC, 1",
            params,
        )
    ]

    fb_where = (f"{where} AND " if where else "WHERE ") + "fallback_reason IS NOT NULL"
    fallbacks = [
        {"reason": reason, "tier": tier, "count": int(n), "share": _ratio(int(n), total_n)}
        for reason, tier, n in reader.query(
            f"SELECT fallback_reason, tier, COUNT(*) FROM requests {fb_where} "
            "GROUP BY fallback_reason, tier ORDER BY 3 DESC, 1, 2",
            params,
        )
    ]

    return {
        "window": {"since": since, "until": time.time()},
        "total": {
            "requests": total_n,
            "cost_usd": total_cost,
            "cost_per_query_usd": _ratio(total_cost, total_n),
            "error_rate": _ratio(total_errors, total_n),
            "fallbacks": sum(f["count"] for f in fallbacks),
        },
        "by_tier": by_tier,
        "by_model": by_model,
        "errors": errors,
        "fallbacks": fallbacks,
        "feedback": _feedback(reader, where, params, order, strongest.name, low_score),
        "savings": {
            "strongest_tier": strongest.name,
            "strongest_price_in": strongest.price_in,
            "strongest_price_out": strongest.price_out,
            "actual_usd": total_cost,
            "always_strongest_usd": strongest_cost,
            "savings": (1 - total_cost / strongest_cost) if strongest_cost > 0 else None,
        },
    }


def _feedback(
    reader: Reader,
    where: str,
    params: list[Any],
    order: dict[str, int],
    strongest: str,
    low_score: float,
) -> dict[str, Any]:
    """Quality from user feedback. A request rated several times counts once, at its mean.

    Routing accuracy is a proxy: a low-rated answer from a cheaper tier than the strongest
    counts as a routing miss (a stronger tier might have done better); everything else rated
    counts as a hit. Low-rated answers from the strongest tier are not the router's fault.
    """
    rwhere = "WHERE r.ts >= ?" if where else ""
    rows = reader.query(
        "SELECT tier, model, COUNT(*), AVG(s), SUM(CASE WHEN s < ? THEN 1 ELSE 0 END) FROM ("
        "SELECT r.request_id, r.tier AS tier, r.model AS model, AVG(f.score) AS s "
        f"FROM feedback f JOIN requests r ON r.request_id = f.request_id {rwhere} "
        "GROUP BY r.request_id, r.tier, r.model) per_request GROUP BY tier, model",
        [low_score, *params],
    )
    by_tier: dict[str, list[float]] = {}
    by_model: dict[str, list[float]] = {}
    rated = low = low_cheap = 0
    score_sum = 0.0
    for tier, model, n, mean, n_low in rows:
        n, n_low, mean = int(n), int(n_low or 0), float(mean)
        for key, acc in ((tier, by_tier), (model, by_model)):
            a = acc.setdefault(key, [0, 0.0, 0])
            a[0] += n
            a[1] += mean * n
            a[2] += n_low
        rated += n
        low += n_low
        score_sum += mean * n
        if tier != strongest:
            low_cheap += n_low

    def rows_of(acc: dict[str, list[float]], label: str) -> list[dict[str, Any]]:
        return [
            {label: k, "rated": int(n), "mean_score": s / n, "low_share": nl / n}
            for k, (n, s, nl) in acc.items()
        ]

    tier_list = sorted(rows_of(by_tier, "tier"), key=lambda r: _tier_key(order)(r["tier"]))
    model_list = sorted(rows_of(by_model, "model"), key=lambda r: (-r["rated"], r["model"]))
    return {
        "rated": rated,
        "mean_score": _ratio(score_sum, rated),
        "low_score_threshold": low_score,
        "low_share": _ratio(low, rated),
        "low_from_cheaper_tiers": low_cheap,
        "low_from_cheaper_share": _ratio(low_cheap, low),
        "routing_accuracy": (1 - low_cheap / rated) if rated else None,
        "by_tier": tier_list,
        "by_model": model_list,
    }


# --------------------------------------------------------------------------- rendering


def _fmt(value: Any, kind: str = "") -> str:
    if value is None:
        return "-"
    if kind == "pct":
        return f"{100 * value:.1f}%"
    if kind == "usd":
        return f"${value:.6f}" if abs(value) < 0.01 else f"${value:,.4f}"
    if kind == "ms":
        return f"{value:,.1f}"
    if kind == "score":
        return f"{value:.3f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def render_report(report: dict[str, Any], console: Console, *, plain: bool) -> None:
    """Rich tables on a terminal; borderless, colourless aligned text otherwise (pipes, CI)."""
    from rich import box
    from rich.table import Table

    style = None if plain else box.SIMPLE_HEAVY

    def table(title: str, *columns: str) -> Table:
        t = Table(title=title, box=style, title_justify="left", show_edge=not plain)
        for i, c in enumerate(columns):
            t.add_column(c, justify="left" if i == 0 else "right")
        return t

    tot, sav, fb = report["total"], report["savings"], report["feedback"]
    since = report["window"]["since"]
    when = (
        "all time"
        if since is None
        else "since " + datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%d %H:%M UTC")
    )
    console.print(
        f"tierwise ledger report ({when}): {tot['requests']:,} requests, "
        f"cost {_fmt(tot['cost_usd'], 'usd')}, "
        f"{_fmt(tot['cost_per_query_usd'], 'usd')} per query, "
        f"savings vs always {sav['strongest_tier']}: {_fmt(sav['savings'], 'pct')}"
    )
    if not tot["requests"]:
        return

    t = table(
        "By tier",
        "tier",
        "requests",
        "share",
        "cost",
        "cost/query",
        "latency p50/p95 ms",
        "TTFT ms",
        "overhead p50/p99 ms",
        "errors",
        "fallbacks",
    )
    for r in report["by_tier"]:
        t.add_row(
            r["tier"],
            _fmt(r["requests"]),
            _fmt(r["share"], "pct"),
            _fmt(r["cost_usd"], "usd"),
            _fmt(r["cost_per_query_usd"], "usd"),
            f"{_fmt(r['latency_p50_ms'], 'ms')} / {_fmt(r['latency_p95_ms'], 'ms')}",
            _fmt(r["mean_ttft_ms"], "ms"),
            f"{_fmt(r['overhead_p50_ms'], 'ms')} / {_fmt(r['overhead_p99_ms'], 'ms')}",
            _fmt(r["error_rate"], "pct"),
            _fmt(r["fallbacks"]),
        )
    console.print(t)

    t = table("By model", "model", "requests", "share", "cost", "cost/query", "in tok", "out tok")
    for r in report["by_model"]:
        t.add_row(
            r["model"],
            _fmt(r["requests"]),
            _fmt(r["share"], "pct"),
            _fmt(r["cost_usd"], "usd"),
            _fmt(r["cost_per_query_usd"], "usd"),
            _fmt(r["input_tokens"]),
            _fmt(r["output_tokens"]),
        )
    t.add_row(
        "total",
        _fmt(tot["requests"]),
        "100.0%",
        _fmt(tot["cost_usd"], "usd"),
        _fmt(tot["cost_per_query_usd"], "usd"),
        "",
        "",
    )
    console.print(t)

    t = table("Savings", "measure", "value")
    t.add_row("actual cost", _fmt(sav["actual_usd"], "usd"))
    t.add_row(f"always {sav['strongest_tier']}", _fmt(sav["always_strongest_usd"], "usd"))
    t.add_row("savings", _fmt(sav["savings"], "pct"))
    console.print(t)

    if report["errors"]:
        t = table("Errors", "class", "count", "rate")
        for r in report["errors"]:
            t.add_row(r["error_class"], _fmt(r["count"]), _fmt(r["rate"], "pct"))
        console.print(t)
    if report["fallbacks"]:
        t = table("Fallbacks taken", "reason", "answered by", "count", "share")
        for r in report["fallbacks"]:
            t.add_row(r["reason"], r["tier"], _fmt(r["count"]), _fmt(r["share"], "pct"))
        console.print(t)
    if fb["rated"]:
        t = table("Feedback", "tier / model", "rated", "mean score", "low share")
        for r in fb["by_tier"]:
            t.add_row(
                f"tier {r['tier']}",
                _fmt(r["rated"]),
                _fmt(r["mean_score"], "score"),
                _fmt(r["low_share"], "pct"),
            )
        for r in fb["by_model"]:
            t.add_row(
                r["model"],
                _fmt(r["rated"]),
                _fmt(r["mean_score"], "score"),
                _fmt(r["low_share"], "pct"),
            )
        console.print(t)
        console.print(
            f"routing accuracy (rated answers not low-scored from a cheaper tier, "
            f"low < {fb['low_score_threshold']}): {_fmt(fb['routing_accuracy'], 'pct')}; "
            f"{fb['low_from_cheaper_tiers']} of {round((fb['low_share'] or 0) * fb['rated'])} "
            f"low-rated answers came from tiers below {sav['strongest_tier']}"
        )
    else:
        console.print("no feedback yet: POST scores to the gateway to measure quality by tier")
