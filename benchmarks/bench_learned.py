"""Learned routers vs length / heuristic / random / oracle on every dataset in ../shared/data.

    .venv/bin/python benchmarks/bench_learned.py                  # CV + leave-one-dataset-out
    .venv/bin/python benchmarks/bench_learned.py --only lodo --routers classifier,ensemble
    .venv/bin/python benchmarks/bench_learned.py --latency        # decision latency only

Two protocols:
* cv   - 5 folds within every dataset; each fold's model is trained on the other 4 folds of
         *all* datasets (pooled, per-dataset weights) and scored on the held-out fold.
* lodo - leave one dataset out: train on the other datasets, test on the whole left-out one.
         This is the proxy for unseen traffic, and what the defaults were chosen on.

Metrics per (dataset, tier setting): APGR / CPT(50%) / CPT(80%) between the cheapest and the
strongest tier; cost at 95% of the strongest tier's quality (relative to all-strongest);
and for 3-tier settings the frontier position (random mixing 0, per-prompt oracle 1).
Embeddings are cached in /tmp/tierwise-bench (never in the repo).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from tierwise.config import HeuristicConfig
from tierwise.eval.datasets import Dataset, find_datasets, load_dataset
from tierwise.eval.runner import evaluate_arrays
from tierwise.routing.heuristic import HeuristicRouter
from tierwise.routing.learned.embed import STATIC_TABLE_PATH, load_embedder
from tierwise.routing.learned.models import expected_need, need_distribution
from tierwise.routing.learned.train import Params, TrainingSet, build_training_set, fit_predictor
from tierwise.types import ChatRequest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CACHE = Path("/tmp/tierwise-bench")
N_TIERS = 3

# Extra tier settings evaluated (not trained on): 3-tier variants named in the data README.
EXTRA_SETTINGS = {
    "zeroeval-math-l5": [
        ["claude-3-haiku-20240307", "claude-3-5-haiku-20241022", "claude-3-5-sonnet-20241022"]
    ],
    "mmlu-pro": [
        ["Meta-Llama-3.1-8B-Instruct", "Meta-Llama-3.1-70B-Instruct", "gemini-1.5-pro-002"]
    ],
    "arena-bench-v1-dev": [["claude-instant-1", "gpt-4-1106-preview"]],
}


def embed_cached(prompts: list[str], kind: str) -> np.ndarray:
    emb = load_embedder(kind)
    tag = hashlib.sha256("\x00".join(prompts).encode()).hexdigest()[:16]
    table = ""
    if kind == "static":
        table = hashlib.sha256(STATIC_TABLE_PATH.read_bytes()).hexdigest()[:8]
    path = CACHE / f"{kind}{table}-{tag}.npy"
    if path.is_file():
        return np.load(path)
    t = time.perf_counter()
    x = emb.embed(prompts)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, x)
    print(f"embedded {len(prompts)} prompts with {kind} in {time.perf_counter() - t:.1f}s",
          file=sys.stderr)
    return x


def settings(d: Dataset) -> list[list[str]]:
    return [d.tiers, *EXTRA_SETTINGS.get(d.name, [])]


def metrics_for(c: np.ndarray, d: Dataset, rows: np.ndarray, tiers: list[str]) -> dict[str, float]:
    """The eval module's figures (tierwise.eval.runner), so numbers match `tierwise eval`."""
    cols = [d.model_index(m) for m in tiers]
    s = d.scores[rows][:, cols]
    cost = d.costs()[rows][:, cols]
    summ = evaluate_arrays(s, cost, c).summary
    out = {
        "pos": summ["frontier"]["position"],
        "cost95": summ["frontier"]["router"]["cost_at_95_share"],
    }
    two = summ["two_tier"] or evaluate_arrays(s[:, [0, -1]], cost[:, [0, -1]], c).summary[
        "two_tier"]
    for k in ("apgr", "apgr_cost", "cpt50", "cpt80"):
        out[k] = two["router"][k]
    if len(tiers) < 3:  # the 2-tier position is APGR-based; report the frontier one for 3+
        out.pop("pos")
    return out


def baselines(ts: TrainingSet, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Complexity per item for the non-learned routers (oracle filled per setting later)."""
    h = HeuristicRouter(None, HeuristicConfig())  # type: ignore[arg-type]  # ladder unused
    heur = np.array([h.complexity(ChatRequest.from_prompt(p))[0] for p in ts.prompts])
    length = np.log1p(np.array([len(p) for p in ts.prompts], dtype=float))
    return {"length": length, "heuristic": heur + 1e-9 * length, "random": rng.random(len(ts))}


def evaluate(
    ts: TrainingSet, routers: list[str], protocol: str, params: Params, seed: int
) -> dict[str, Any]:
    """Complexity for every item under `protocol`, then metrics per dataset and setting."""
    rng = np.random.default_rng(seed)
    comp = {r: np.zeros(len(ts)) for r in routers}
    fallback = np.zeros(len(ts))  # the ensemble's out-of-distribution fallback weight
    t0 = time.perf_counter()
    if protocol == "cv":
        fold = np.zeros(len(ts), dtype=int)
        for d in range(len(ts.names)):
            rows = np.nonzero(ts.ds == d)[0]
            fold[rng.permutation(rows)] = np.arange(len(rows)) % 5
        groups = [(np.nonzero(fold != f)[0], np.nonzero(fold == f)[0]) for f in range(5)]
    else:
        groups = [(np.nonzero(ts.ds != d)[0], np.nonzero(ts.ds == d)[0])
                  for d in range(len(ts.names))]
    for g, (tr, te) in enumerate(groups):
        pred = fit_predictor(ts, tr, kinds=["ensemble", *routers], params=params)
        for r in routers:
            detail = pred.predict_detail(r, ts.emb[te], ts.feats[te])
            comp[r][te] = detail.complexity
            if r == "ensemble":
                fallback[te] = detail.fallback
        print(f"  {protocol} group {g + 1}/{len(groups)} done ({time.perf_counter() - t0:.0f}s)",
              file=sys.stderr)
    comp.update(baselines(ts, rng))
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(CACHE / f"complexity-{protocol}.npz", **comp)  # for offline ensemble analysis
    results: dict[str, Any] = {}
    print(f"\n### {protocol}: ensemble out-of-distribution fallback (share of items with "
          "weight > 0 / mean weight)\n")
    for d_i, name in enumerate(ts.names):
        fb = fallback[ts.ds == d_i]
        print(f"| {name} | {np.mean(fb > 0):.3f} | {fb.mean():.3f} |")
    for d_i, d in enumerate(ts.datasets):
        rows_all = np.nonzero(ts.ds == d_i)[0]
        rows = ts.row[rows_all]
        for tiers in settings(d):
            key = f"{d.name} [{len(tiers)}t]" + ("" if tiers == d.tiers else " alt")
            cols = [d.model_index(m) for m in tiers]
            s = d.scores[rows][:, cols]
            oracle = expected_need(need_distribution(s)) + 1e-6 * (s[:, -1] - s[:, 0])
            res = {}
            for r, c in [*comp.items(), ("oracle", None)]:
                cc = oracle if c is None else c[rows_all]
                res[r] = metrics_for(cc.astype(np.float64), d, rows, tiers)
            results[key] = res
    return results


def fmt(x: float) -> str:
    return "  —  " if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.3f}"


def table(results: dict[str, Any], metric: str, routers: list[str]) -> str:
    cols = [*routers, "length", "heuristic", "random", "oracle"]
    lines = ["| dataset | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for key, res in results.items():
        if metric not in res[cols[0]]:
            continue
        lines.append(f"| {key} | " + " | ".join(fmt(res[c][metric]) for c in cols) + " |")
    return "\n".join(lines)


def latency(kind: str, router: str) -> dict[str, float]:
    """Decision latency of the shipped router for ~200-token prompts, embedding included."""
    from tierwise.config import load_config
    from tierwise.routing.registry import build_policy

    cfg = load_config(None)
    pol = build_policy(cfg, router)
    d = load_dataset(DATA / "arena-bench-v1-dev")
    base = " ".join(" ".join(d.prompts).split())
    words = base.split()
    prompts = [" ".join(words[i * 37 % (len(words) - 160):][:150]) for i in range(400)]
    pol.route(ChatRequest.from_prompt("warm up"))
    times = []
    for p in prompts:
        t = time.perf_counter()
        pol.route(ChatRequest.from_prompt(p))
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {"p50_ms": statistics.median(times), "p99_ms": times[int(0.99 * len(times)) - 1]}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--routers", default="classifier,mf,knn,sw,ensemble")
    ap.add_argument("--only", choices=["cv", "lodo"])
    ap.add_argument("--embedder", default="static")
    ap.add_argument("--latency", action="store_true", help="only measure decision latency")
    ap.add_argument("--params", default="{}", help="JSON overrides of train.Params")
    ap.add_argument("--json", type=Path, default=CACHE / "bench_learned.json")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.latency:
        for r in args.routers.split(","):
            print(r, latency(args.embedder, r))
        return 0
    datasets = [load_dataset(p) for p in find_datasets(args.data)]
    ts = build_training_set(datasets, N_TIERS, lambda ps: embed_cached(ps, args.embedder))
    params = Params(**json.loads(args.params))
    routers = args.routers.split(",")
    out: dict[str, Any] = {"params": params.__dict__, "embedder": args.embedder}
    for protocol in ["cv", "lodo"] if args.only is None else [args.only]:
        res = evaluate(ts, routers, protocol, params, args.seed)
        out[protocol] = res
        for metric in ("apgr", "apgr_cost", "pos", "cpt50", "cpt80", "cost95"):
            print(f"\n### {protocol}: {metric}\n")
            print(table(res, metric, routers))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
