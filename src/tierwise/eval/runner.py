"""Evaluate one router on one dataset: pick tiers, score every prompt, compute the metrics.

`evaluate_arrays` is the pure part (arrays in, figures out) shared by the CLI, the benchmark
script and the tests; `evaluate_dataset` adds the router (built for the dataset's own tiers).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tierwise.config import Config, TierConfig
from tierwise.eval import metrics as m
from tierwise.eval.datasets import Dataset, DatasetError

QUALITY_TARGET = 0.95


class RouterBuildError(RuntimeError):
    """The named router exists but cannot be built here (missing module or artifact)."""


@dataclass(slots=True)
class Evaluation:
    """JSON-ready `summary` plus the curves the plot needs."""

    summary: dict[str, Any]
    curves: dict[str, Any] = field(default_factory=dict)


def select_tiers(ds: Dataset, tiers: list[str] | None) -> list[int]:
    """Column indices of the tier models (the dataset's own, or `tiers`), checked for prices."""
    names = tiers or ds.tiers
    if len(names) < 2:
        raise DatasetError(f"{ds.name}: need at least 2 tier models, got {names}")
    if len(set(names)) != len(names):
        raise DatasetError(f"{ds.name}: tier models repeat: {names}")
    index = [ds.model_index(name) for name in names]
    unpriced = [ds.models[i] for i in index if np.isnan(ds.price_in[i] + ds.price_out[i])]
    if unpriced:
        priced = [mod for k, mod in enumerate(ds.models)
                  if not np.isnan(ds.price_in[k] + ds.price_out[k])]
        raise DatasetError(
            f"{ds.name}: no price for {', '.join(unpriced)} in meta.json, so no cost can be "
            f"computed; pick priced models with --tiers (priced: {', '.join(priced)})"
        )
    return index


def router_config(base: Config, ds: Dataset, tier_index: list[int]) -> Config:
    """`base` with one tier per dataset tier model: routers only need the tier count and order.

    Thresholds, random mix and default tier name config tiers, so they are dropped when the
    counts or names no longer match; policy settings (heuristic weights, learned artifact) stay.
    """
    tiers = [
        TierConfig(name=ds.models[i], model=ds.models[i],
                   price_in=float(ds.price_in[i]), price_out=float(ds.price_out[i]))
        for i in tier_index
    ]
    r = base.routing
    thresholds = r.thresholds if r.thresholds and len(r.thresholds) == len(tiers) - 1 else None
    seed = 0 if r.random.seed is None else r.random.seed  # reproducible random baseline
    random = dataclasses.replace(r.random, mix={}, seed=seed)
    routing = dataclasses.replace(r, thresholds=thresholds, default_tier=None, random=random)
    return dataclasses.replace(base, tiers=tiers, routing=routing)


def route_complexity(router: Any, prompts: list[str], batch: int = 512) -> np.ndarray:
    """Decision.complexity of every prompt (batched so learned routers can vectorise)."""
    from tierwise.routing.base import route_many
    from tierwise.types import ChatRequest

    out = np.empty(len(prompts))
    for start in range(0, len(prompts), batch):
        chunk = [ChatRequest.from_prompt(p) for p in prompts[start:start + batch]]
        out[start:start + len(chunk)] = [d.complexity for d in route_many(router, chunk)]
    if not np.all(np.isfinite(out)):
        bad = int(np.flatnonzero(~np.isfinite(out))[0])
        raise ValueError(f"router returned a non-finite complexity for item {bad}")
    return out


def evaluate_dataset(ds: Dataset, cfg: Config, router_name: str | None,
                     tiers: list[str] | None = None) -> Evaluation:
    from tierwise.routing.registry import UnknownRouterError, build_policy

    index = select_tiers(ds, tiers)
    try:
        router = build_policy(router_config(cfg, ds, index), router_name)
    except UnknownRouterError:
        raise
    except (ImportError, OSError, ValueError, KeyError) as exc:
        name = router_name or cfg.routing.policy
        raise RouterBuildError(
            f"router {name!r} could not be built ({type(exc).__name__}: {exc}); "
            "is it installed and trained?"
        ) from exc
    complexity = route_complexity(router, ds.prompts)
    costs = ds.costs()
    ev = evaluate_arrays(ds.scores[:, index], costs[:, index], complexity)
    priced = [k for k in range(len(ds.models)) if not np.isnan(ds.price_in[k] + ds.price_out[k])]
    ev.summary = {
        "dataset": ds.name,
        "n_items": len(ds),
        "score_kind": ds.score_kind,
        "router": getattr(router, "name", router_name or cfg.routing.policy),
        "tiers": [ds.models[i] for i in index],
        **ev.summary,
    }
    ev.curves["models"] = [
        (ds.models[k], float(np.nanmean(costs[:, k])), float(ds.scores[:, k].mean()), k in index)
        for k in priced
    ]
    return ev


def evaluate_arrays(scores: np.ndarray, costs: np.ndarray, complexity: np.ndarray,
                    quality_target: float = QUALITY_TARGET) -> Evaluation:
    """Every figure for one router: scores, costs (n, T) of the tier models; complexity (n,)."""
    n, t = scores.shape
    if n == 0 or costs.shape != scores.shape or complexity.shape != (n,):
        raise ValueError(f"shape mismatch: scores {scores.shape}, costs {costs.shape}, "
                         f"complexity {complexity.shape}")
    q = scores.mean(axis=0)
    c = costs.mean(axis=0)
    r = m._round
    summary: dict[str, Any] = {
        "tier_points": [{"cost": r(c[i], 9), "quality": r(q[i])} for i in range(t)],
        "quality_target": quality_target,
    }
    curves: dict[str, Any] = {"tier_cost": c, "tier_quality": q}

    cross = m.crossfit_frontier(scores, costs, complexity)
    router_f = cross.frontier
    random_f = m.upper_frontier(c, q)
    oracle_f = m.oracle_frontier(scores, costs)
    lo, hi = float(c.min()), float(c.max())
    mid_cost = float(c[(t - 1) // 2]) if t >= 3 else (c[0] + c[-1]) / 2
    target = quality_target * float(q[-1])
    frontier: dict[str, Any] = {"cost_range": [r(lo, 9), r(hi, 9)], "mid_cost": r(mid_cost, 9)}
    for name, f in (("router", router_f), ("random", random_f), ("oracle", oracle_f)):
        cost95 = f.min_cost(target)
        frontier[name] = {
            "cost_at_95": r(cost95, 9),
            "cost_at_95_share": r(cost95 / c[-1]) if cost95 is not None and c[-1] > 0 else None,
            "quality_at_mid_cost": r(float(f.at(mid_cost))),
        }
    frontier["position"] = r(cross.position)
    frontier["position_in_sample"] = r(m.position(
        m.upper_frontier(*m.cut_points(scores, costs, complexity)), oracle_f, random_f, lo, hi))
    summary["frontier"] = frontier
    curves.update(router_frontier=router_f, random_frontier=random_f, oracle_frontier=oracle_f)

    if t == 2:
        summary["two_tier"], two_curves = _two_tier(scores, costs, complexity, oracle_f,
                                                    quality_target)
        curves.update(two_curves)
    else:
        # RouteLLM's metrics between the cheapest and the strongest tier, so N-tier sets can be
        # compared with 2-tier results too (the plot keeps the N-tier frontier)
        ends = [0, t - 1]
        s2, c2 = scores[:, ends], costs[:, ends]
        summary["two_tier"], _ = _two_tier(s2, c2, complexity, m.oracle_frontier(s2, c2),
                                           quality_target)
    summary["two_tier"]["tier_indexes"] = [0, t - 1]
    return Evaluation(summary, curves)


def _two_tier(scores: np.ndarray, costs: np.ndarray, complexity: np.ndarray,
              oracle_f: m.Frontier, quality_target: float) -> tuple[dict[str, Any], dict]:
    q_w, q_s = float(scores[:, 0].mean()), float(scores[:, 1].mean())
    c_w, c_s = float(costs[:, 0].mean()), float(costs[:, 1].mean())
    router_c = m.threshold_curve(scores, costs, complexity)
    oracle_c = m.oracle_calls_curve(scores, costs)
    random_c = m.random_curve(scores, costs)
    args = (q_w, q_s, c_w, c_s, quality_target)
    out: dict[str, Any] = {
        "router": m.two_tier_metrics(router_c, *args).to_dict(),
        "random": m.two_tier_metrics(random_c, *args).to_dict(),
    }
    oracle = m.two_tier_metrics(oracle_c, *args)
    # The cheapest way to a quality level orders items by gain per dollar, not gain per call.
    apgr_cost, share = m.frontier_cost_metrics(oracle_f, *args)
    oracle = dataclasses.replace(
        oracle, apgr_cost=apgr_cost, cost_at_95=share,
        savings_at_95=None if share is None else 1.0 - share,
    )
    out["oracle"] = oracle.to_dict()
    a_r, a_o = out["router"]["apgr"], out["oracle"]["apgr"]
    out["position"] = (
        m._round((a_r - 0.5) / (a_o - 0.5)) if a_r is not None and a_o is not None
        and a_o - 0.5 > 1e-12 else None
    )
    return out, {"router_curve": router_c, "oracle_curve": oracle_c, "random_curve": random_c}
