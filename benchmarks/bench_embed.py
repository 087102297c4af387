"""Speed and routing quality of the static and MiniLM embedders, side by side.

    .venv/bin/python benchmarks/bench_embed.py              # speed + quality, ~10 min on 2 cores
    .venv/bin/python benchmarks/bench_embed.py --only speed
    .venv/bin/python benchmarks/bench_embed.py --tables /tmp/a.npy /tmp/b.npy   # compare tables

Speed: latency of one ``embed([prompt])`` call (cache off) for prompts of ~20, ~200 and ~2000
WordPiece tokens cut from real dataset prompts, p50/p99 over many distinct prompts; and batched
throughput (one call with 256 prompts of ~200 tokens); and the cold start (first call).

Quality: how well each embedding supports routing. For every dataset in ``../shared/data`` (at most
``--n-max`` items, fixed seed), 5-fold stratified CV of a logistic regression (standardised
features, C chosen per training fold by an inner 3-fold CV over {0.003, 0.03, 0.3}) predicting
(a) the cheap tier answers well and (b) the strongest tier scores higher than the cheap tier;
reported as ROC AUC. Feature sets:
length only (log prompt tokens), static, static+length, minilm. Also how close static is to
MiniLM: mean cosine after a ridge map static -> MiniLM (fit on half, scored on the other half) and
the overlap of the 10 nearest neighbours in the two spaces.

MiniLM embeddings are cached under ``out/bench_embed/`` (gitignored) so reruns are quick.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from tierwise.routing.learned.embed import (
    Embedder,
    StaticEmbedder,
    TransformerEmbedder,
    load_tokenizer,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CACHE = ROOT / "out" / "bench_embed"


# ------------------------------------------------------------------------------------------ data


def load_dataset(name: str, n_max: int, seed: int = 0) -> tuple[list[dict[str, Any]], dict]:
    """Items (deterministic subsample of at most ``n_max``) and meta of one dataset."""
    meta = json.loads((DATA / name / "meta.json").read_text())
    with (DATA / name / "items.jsonl").open() as f:
        items = [json.loads(line) for line in f]
    if len(items) > n_max:
        idx = np.random.default_rng(seed).choice(len(items), n_max, replace=False)
        items = [items[i] for i in sorted(idx)]
    return items, meta


def labels(items: list[dict[str, Any]], meta: dict) -> dict[str, np.ndarray]:
    """Binary routing targets: cheap tier good; strongest tier beats the cheap tier."""
    cheap, strong = meta["tiers"][0], meta["tiers"][-1]
    c = np.array([it["scores"][cheap] for it in items], dtype=float)
    s = np.array([it["scores"][strong] for it in items], dtype=float)
    good = {"correct": 0.5, "judge10": 8.0, "winprob": 0.5}[meta["score_kind"]]
    return {"cheap_ok": (c >= good).astype(int), "strong_beats_cheap": (s > c).astype(int)}


def embed_cached(emb: Embedder, texts: list[str], tag: str) -> np.ndarray:
    """Embed with an on-disk cache keyed by embedder tag and the texts' hash."""
    h = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    path = CACHE / f"{tag}-{h}.npy"
    if path.exists():
        return np.load(path)
    x = emb.embed(texts)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, x)
    return x


# ----------------------------------------------------------------------------------------- speed


def prompts_of_length(n_tokens: int, count: int) -> list[str]:
    """``count`` distinct prompts of ~``n_tokens`` WordPiece tokens cut from real prompts."""
    tok = load_tokenizer()
    items, _ = load_dataset("mmlu-pro", 4000, seed=1)
    pool = [it["prompt"] for it in items]
    out: list[str] = []
    i = 0
    while len(out) < count:
        parts: list[str] = []
        n = 0
        while n < n_tokens:
            p = pool[i % len(pool)]
            i += 1
            parts.append(p)
            n += len(tok.encode(p, add_special_tokens=False).ids)
        enc = tok.encode("\n\n".join(parts), add_special_tokens=False)
        end = enc.offsets[min(n_tokens, len(enc.ids)) - 1][1]
        out.append("\n\n".join(parts)[:end])
    return out


def latency(emb: Embedder, texts: list[str]) -> dict[str, float]:
    """p50/p99 milliseconds of single-prompt calls."""
    emb.embed(texts[:3])  # warm up
    ts = []
    for t in texts:
        a = time.perf_counter()
        emb.embed([t])
        ts.append((time.perf_counter() - a) * 1000)
    ts.sort()
    return {
        "p50_ms": round(statistics.median(ts), 3),
        "p99_ms": round(ts[min(len(ts) - 1, int(0.99 * len(ts)))], 3),
        "n": len(ts),
    }


def speed(tables: list[Path | None], reps: int) -> dict[str, Any]:
    """Latency per prompt size, batch throughput and cold start for each embedder."""
    res: dict[str, Any] = {}
    sizes = {20: reps, 200: reps, 2000: max(50, reps // 4)}
    texts = {n: prompts_of_length(n, c) for n, c in sizes.items()}
    batch = prompts_of_length(200, 256)
    makers: list[tuple[str, Any]] = [
        (f"static:{t.name if t else 'shipped'}", lambda t=t: StaticEmbedder(t, cache_size=0))
        for t in tables
    ]
    makers.append(("minilm", lambda: TransformerEmbedder(cache_size=0)))
    for name, make in makers:
        emb = make()
        a = time.perf_counter()
        emb.embed(["cold start"])
        row: dict[str, Any] = {"cold_start_ms": round((time.perf_counter() - a) * 1000, 1)}
        for n, tx in texts.items():
            row[f"{n}_tokens"] = latency(emb, tx if name != "minilm" else tx[: max(50, reps // 4)])
        a = time.perf_counter()
        emb.embed(batch)
        row["batch256_per_s"] = round(len(batch) / (time.perf_counter() - a), 1)
        res[name] = row
        print(name, json.dumps(row), flush=True)
    return res


# --------------------------------------------------------------------------------------- quality


def cv_auc(x: np.ndarray, y: np.ndarray, seed: int = 0) -> float:
    """Mean ROC AUC of 5-fold stratified CV logistic regression (nested choice of C)."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    warnings.filterwarnings("ignore", category=FutureWarning, module="sklearn")
    inner = LogisticRegressionCV(Cs=[0.003, 0.03, 0.3], cv=3, scoring="roc_auc", max_iter=2000)
    model = make_pipeline(StandardScaler(), inner)
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    return float(cross_val_score(model, x, y, cv=folds, scoring="roc_auc").mean())


def similarity(xs: np.ndarray, xm: np.ndarray, k: int = 10) -> dict[str, float]:
    """Ridge map static -> MiniLM (held-out mean cosine) and kNN overlap between the spaces."""
    from sklearn.linear_model import Ridge

    n = len(xs)
    perm = np.random.default_rng(0).permutation(n)
    tr, te = perm[: n // 2], perm[n // 2 :]
    pred = Ridge(alpha=1.0).fit(xs[tr], xm[tr]).predict(xs[te])
    pred /= np.linalg.norm(pred, axis=1, keepdims=True)
    cos_map = float((pred * xm[te]).sum(axis=1).mean())
    sub = perm[: min(n, 3000)]

    def knn(x: np.ndarray) -> np.ndarray:
        s = x[sub] @ x[sub].T
        np.fill_diagonal(s, -np.inf)
        return np.argsort(-s, axis=1)[:, :k]

    a, b = knn(xs), knn(xm)
    overlap = float(np.mean([len(set(a[i]) & set(b[i])) / k for i in range(len(sub))]))
    # chance level for reference
    return {
        "mapped_cosine": round(cos_map, 4),
        f"knn{k}_overlap": round(overlap, 4),
        f"knn{k}_chance": round(k / (len(sub) - 1), 4),
    }


def quality(tables: list[Path | None], n_max: int) -> dict[str, Any]:
    """Per-dataset CV AUCs for every feature set, plus static-vs-MiniLM similarity."""
    mini = TransformerEmbedder(cache_size=0)
    res: dict[str, Any] = {}
    pooled_s: dict[str, list[np.ndarray]] = {}
    pooled_m: list[np.ndarray] = []
    for ds in sorted(p.name for p in DATA.iterdir() if (p / "meta.json").exists()):
        items, meta = load_dataset(ds, n_max)
        texts = [it["prompt"] for it in items]
        length = np.log1p(np.array([[it["prompt_tokens"]] for it in items], dtype=float))
        a = time.perf_counter()
        xm = embed_cached(mini, texts, "minilm")
        t_m = time.perf_counter() - a
        pooled_m.append(xm)
        feats: dict[str, np.ndarray] = {"length": length}
        for t in tables:
            tag = f"static:{t.name if t else 'shipped'}"
            xs = StaticEmbedder(t, cache_size=0).embed(texts)
            pooled_s.setdefault(tag, []).append(xs)
            feats[tag] = xs
            feats[tag + "+len"] = np.hstack([xs, length])
        feats["minilm"] = xm
        row: dict[str, Any] = {"n": len(items), "minilm_embed_s": round(t_m, 1)}
        for lab, y in labels(items, meta).items():
            if min(y.sum(), len(y) - y.sum()) < 20:
                continue
            row[lab] = {"pos_rate": round(float(y.mean()), 3)} | {
                f: round(cv_auc(x, y), 4) for f, x in feats.items()
            }
        res[ds] = row
        print(ds, json.dumps(row), flush=True)
    xm_all = np.vstack(pooled_m)
    res["similarity_to_minilm"] = {
        tag: similarity(np.vstack(xs), xm_all) for tag, xs in pooled_s.items()
    }
    print(json.dumps(res["similarity_to_minilm"]), flush=True)
    return res


def main() -> None:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=["speed", "quality"], default=None)
    ap.add_argument(
        "--tables",
        type=Path,
        nargs="*",
        default=None,
        help="static tables to compare (default: the shipped one)",
    )
    ap.add_argument("--n-max", type=int, default=3000, help="items per dataset for quality")
    ap.add_argument("--reps", type=int, default=300, help="single-prompt calls per size")
    ap.add_argument("--json", type=Path, default=CACHE / "results.json")
    args = ap.parse_args()
    tables: list[Path | None] = list(args.tables) if args.tables else [None]
    res: dict[str, Any] = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "date": time.strftime("%Y-%m-%d"),
    }
    if args.only in (None, "speed"):
        load_before = os.getloadavg()[0]
        res["speed"] = speed(tables, args.reps)
        # other processes on the machine inflate the MiniLM numbers most; keep it on record
        res["speed"]["load_avg_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    if args.only in (None, "quality"):
        res["quality"] = quality(tables, args.n_max)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
