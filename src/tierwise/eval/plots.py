"""Quality-against-cost plot of one evaluation (matplotlib, imported only when a plot is asked)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tierwise.eval.runner import Evaluation


def plot_evaluation(ev: Evaluation, path: str | Path) -> Path:
    """Write a PNG: router curve, random mixing, oracle, single models (tier models labelled)."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed; safe in CI and over SSH
    import matplotlib.pyplot as plt

    s, c = ev.summary, ev.curves
    per_k = 1000.0  # USD per 1,000 requests reads better than per request
    fig, ax = plt.subplots(figsize=(9, 6), dpi=110)
    try:
        others = [(n, x, y) for n, x, y, is_tier in c.get("models", []) if not is_tier]
        if others:
            ax.scatter([x * per_k for _, x, _ in others], [y for _, _, y in others],
                       s=14, color="0.7", label="other priced models", zorder=2)
        oracle = c["oracle_frontier"]
        top = max(float(c["tier_cost"].max()), float(oracle.cost[-1]))
        ox, oy = list(oracle.cost), list(oracle.quality)
        ox.append(top)  # the oracle stays at its best quality once it can afford it
        oy.append(oy[-1])
        ax.plot([x * per_k for x in ox], oy, color="tab:green", lw=1.8, label="oracle",
                zorder=3)
        rnd = c["random_frontier"]
        ax.plot(rnd.cost * per_k, rnd.quality, color="0.35", lw=1.4, ls="--",
                label="random mixing", zorder=3)
        if "router_curve" in c:
            curve = c["router_curve"]
            ax.plot(curve.cost * per_k, curve.quality, color="tab:blue", lw=1.8,
                    label=f"{s['router']} (threshold sweep)", zorder=4)
        else:
            f = c["router_frontier"]
            ax.plot(f.cost * per_k, f.quality, color="tab:blue", lw=1.8,
                    label=f"{s['router']} (cut points, cross-fitted)", zorder=4)
        for name, x, y in zip(s["tiers"], c["tier_cost"], c["tier_quality"]):
            ax.scatter([x * per_k], [y], s=60, color="tab:red", edgecolor="black", zorder=5)
            ax.annotate(name, (x * per_k, y), textcoords="offset points", xytext=(6, -12),
                        fontsize=8)
        target = s["quality_target"] * float(c["tier_quality"][-1])
        ax.axhline(target, color="tab:red", lw=0.8, ls=":",
                   label=f"{100 * s['quality_target']:.0f}% of strongest tier")
        xs = [x for x in _all_costs(c) if x > 0]
        if xs and max(xs) / min(xs) > 20:
            ax.set_xscale("log")
        pos = s["frontier"]["position"]
        where = "" if pos is None else f"; random→oracle {pos + 0.0:.2f}"
        if s.get("two_tier") and s["two_tier"]["router"]["apgr"] is not None:
            where += f"; APGR {s['two_tier']['router']['apgr']:.3f}"
        ax.set_title(f"{s['dataset']} ({s['n_items']} items): {s['router']}{where}")
        ax.set_xlabel("cost, USD per 1,000 requests")
        ax.set_ylabel(f"mean quality ({s['score_kind']}, normalised to 0-1)")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
        out = Path(path)
        fig.savefig(out, format="png", bbox_inches="tight")
    finally:
        plt.close(fig)
    return out


def _all_costs(c: dict[str, Any]) -> list[float]:
    xs = [float(x) * 1000.0 for x in c["tier_cost"]]
    xs += [x * 1000.0 for _, x, _, _ in c.get("models", [])]
    return xs
