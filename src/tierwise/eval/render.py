"""Human-readable tables of an evaluation: rich on a terminal, aligned plain text otherwise."""

from __future__ import annotations

import sys
from typing import Any, TextIO

ROWS = ("router", "random", "oracle")


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _num(v: float | None, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def tables(summary: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, headers, rows) of every table for one dataset's summary."""
    out: list[tuple[str, list[str], list[list[str]]]] = []
    tier_rows = [
        [name, f"${1000 * p['cost']:.3f}", _num(p["quality"])]
        for name, p in zip(summary["tiers"], summary["tier_points"])
    ]
    out.append(("Tier models", ["model", "USD / 1k requests", "quality"], tier_rows))

    f = summary["frontier"]
    mid = "mid tier" if len(summary["tiers"]) >= 3 else "midpoint"
    positions = {"router": f["position"], "random": 0.0, "oracle": 1.0}
    out.append((
        f"Cost-quality frontier ({len(summary['tiers'])} tiers)",
        ["", "cost to reach 95% of strongest", f"quality at {mid} cost", "random→oracle"],
        [[r, _pct(f[r]["cost_at_95_share"]), _num(f[r]["quality_at_mid_cost"]),
          _num(positions[r], 2)] for r in ROWS],
    ))

    two = summary.get("two_tier")
    if two:
        positions = {"router": two["position"], "random": 0.0, "oracle": 1.0}
        which = "Two tiers" if len(summary["tiers"]) == 2 else "Cheapest vs strongest tier"
        out.append((
            f"{which} (RouteLLM metrics; CPT = share of strong calls)",
            ["", "APGR", "APGR 11-pt", "APGR cost", "CPT(50%)", "CPT(80%)",
             "cost@CPT(50%)", "cost@CPT(80%)", "cost@95%", "savings@95%", "random→oracle"],
            [[r, _num(two[r]["apgr"]), _num(two[r]["apgr_11pt"]), _num(two[r]["apgr_cost"]),
              _pct(two[r]["cpt50"]), _pct(two[r]["cpt80"]), _pct(two[r]["cpt50_cost"]),
              _pct(two[r]["cpt80_cost"]), _pct(two[r]["cost_at_95"]),
              _pct(two[r]["savings_at_95"]), _num(positions[r], 2)] for r in ROWS],
        ))
    return out


def print_summary(summary: dict[str, Any], stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    tty = stream.isatty()
    head = (
        f"{summary['dataset']}: {summary['n_items']} items ({summary['score_kind']}), "
        f"router {summary['router']}\ntiers: {' < '.join(summary['tiers'])}"
    )
    if summary.get("plot"):
        head += f"\nplot: {summary['plot']}"
    if tty:
        from rich.console import Console
        from rich.table import Table

        console = Console(file=stream)
        console.print(head, style="bold", highlight=False)
        for title, headers, rows in tables(summary):
            table = Table(title=title, title_justify="left")
            for i, h in enumerate(headers):
                table.add_column(h, justify="left" if i == 0 else "right")
            for row in rows:
                table.add_row(*row)
            console.print(table)
        return
    print(head, file=stream)
    for title, headers, rows in tables(summary):
        print(f"\n{title}", file=stream)
        widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
        for row in [headers, *rows]:
            cells = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                     enumerate(zip(row, widths))]
            print("  ".join(cells).rstrip(), file=stream)
    print(file=stream)
