"""Training: datasets -> a pooled, weighted training set -> a fitted :class:`Predictor`.

Tier mapping: each dataset's tier models (cheapest first, from meta.json or an explicit list)
are placed on the router's N tiers by relative position (a 2-tier set on a 3-tier router fills
the first and last tier). Weighting: every dataset's total weight is proportional to n**alpha
(alpha=0.5 by default), so an 8,000-item set cannot drown a 144-item one but still counts more.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tierwise.eval.datasets import Dataset
from tierwise.routing.learned.features import FEATURE_NAMES, feature_matrix, prompt_requests
from tierwise.routing.learned.label_audit import InvertedGroup, id_group, inverted_groups
from tierwise.routing.learned.models import (
    MatrixFactorization,
    NeighbourIndex,
    OrdinalLogistic,
    need_distribution,
    tier_positions,
)
from tierwise.routing.learned.predictor import DEFAULT_KNN, OOD_QUANTILE, Predictor

Progress = Callable[[str, float], None]


class TrainingDataError(ValueError):
    """The training data cannot train a router (said in terms of the data, for the CLI)."""


@dataclass
class Params:
    alpha: float = 0.5  # dataset weight ~ n**alpha
    l2: float = 10.0  # classifier ridge strength (per item, on standardised inputs)
    mf_dim: int = 16
    mf_l2: float = 10.0
    mf_iter: int = 200
    max_index: int = 6000  # neighbour-index rows kept (float16)
    knn: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_KNN))
    # chosen on 5-fold CV + leave-one-dataset-out APGR by calls (docs/learned-routing.md):
    # MF adds nothing to this mix
    ensemble: dict[str, float] = field(
        default_factory=lambda: {"classifier": 1.0, "knn": 1.0, "sw": 1.0}
    )
    fixed_effects: bool = True  # per-dataset intercepts / label centring (see models.py)
    # ensemble weight of the prompt-length prior (1.0 = a quarter of the vote): same mean lodo
    # APGR, +0.02 on left-out MMLU, +0.001 cv; and length is what transfers across benchmarks
    # (0.58-0.59 APGR on the held-out sets). Costs APGR-by-cost where answers are 1 token.
    length_weight: float = 1.0
    emb_scale: float = 1.0  # < 1: linear components lean on the cheap features
    # cheap features whose classifier coefficient must be >= 0 (the length-like ones): a set
    # where longer prompts are easier (MATH level 5) must not teach "long = easy" elsewhere;
    # unconstrained, log_lines came out negative and made one-line chat prompts ("hi") the
    # hardest of all. Same cv / lodo APGR of the ensemble (docs/learned-routing.md)
    nonneg: tuple[str, ...] = ("log_tokens", "sig_length", "log_lines")
    # out-of-distribution fallback: below this training quantile of neighbour similarity or
    # length, the ensemble leans on the length prior (0 = off; see Predictor.fallback)
    ood_quantile: float = OOD_QUANTILE
    # leave out item groups whose strongest tier scores far below the cheapest (label_audit.py):
    # RouteLLM's MMLU high-school maths (gpt-4 4%, Mixtral 33%) is a scoring artefact that
    # teaches "school maths -> cheap tier"; lodo APGR 0.517 -> 0.520, cv unchanged
    drop_inverted: bool = True
    seed: int = 0


@dataclass
class TrainingSet:
    names: list[str]  # dataset names
    n_tiers: int
    ds: np.ndarray  # (n,) dataset index per item
    row: np.ndarray  # (n,) row within its dataset
    prompts: list[str]
    emb: np.ndarray  # (n, d) unit rows
    feats: np.ndarray  # (n, f)
    tier_scores: np.ndarray  # (n, N), NaN where a dataset has no model on that tier
    weight: np.ndarray  # (n,) per-item weight, each dataset's total ~ n**alpha
    datasets: list[Dataset]
    tier_models: list[list[str]]  # per dataset, its tier model ids cheapest first
    positions: list[list[int]]  # per dataset, abstract tier of each tier model

    def __len__(self) -> int:
        return len(self.ds)

    def need(self) -> np.ndarray:
        return need_distribution(self.tier_scores)


def build_training_set(
    datasets: Sequence[Dataset],
    n_tiers: int,
    embed: Callable[[list[str]], np.ndarray],
    tier_models: dict[str, list[str]] | None = None,
    alpha: float = 0.5,
) -> TrainingSet:
    """Pool datasets; `tier_models` overrides a dataset's meta.json tiers by dataset name."""
    ds_idx, rows, prompts, scores, weights = [], [], [], [], []
    all_tiers, all_pos = [], []
    for d_i, d in enumerate(datasets):
        models = (tier_models or {}).get(d.name) or d.tiers
        cols = [d.model_index(m) for m in models]
        pos = tier_positions(len(models), n_tiers)
        s = np.full((len(d), n_tiers), np.nan)
        for c, p in zip(cols, pos):
            s[:, p] = d.scores[:, c]
        ds_idx.append(np.full(len(d), d_i))
        rows.append(np.arange(len(d)))
        prompts += d.prompts
        scores.append(s)
        weights.append(np.full(len(d), len(d) ** alpha / len(d)))
        all_tiers.append(list(models))
        all_pos.append(pos)
    w = np.concatenate(weights)
    emb = np.asarray(embed(prompts), dtype=np.float32)
    feats = feature_matrix(prompt_requests(prompts))
    return TrainingSet(
        names=[d.name for d in datasets],
        n_tiers=n_tiers,
        ds=np.concatenate(ds_idx),
        row=np.concatenate(rows),
        prompts=prompts,
        emb=emb,
        feats=feats,
        tier_scores=np.concatenate(scores),
        weight=w * len(w) / w.sum(),
        datasets=list(datasets),
        tier_models=all_tiers,
        positions=all_pos,
    )


def _mf_pairs(ts: TrainingSet, idx: np.ndarray) -> dict[str, Any]:
    """(item, model) pairs for MF over every model of every dataset in the subset."""
    items, vecs, biases, targets, weights = [], [], [], [], []
    next_vec, next_bias = ts.n_tiers, 0
    tier_bias: list[list[tuple[int, float]]] = [[] for _ in range(ts.n_tiers)]
    for d_i, d in enumerate(ts.datasets):
        local = np.nonzero(ts.ds[idx] == d_i)[0]
        if len(local) == 0:
            continue
        rows = ts.row[idx[local]]
        tier_cols = {d.model_index(m): p for m, p in zip(ts.tier_models[d_i], ts.positions[d_i])}
        n_aux = len(d.models) - len(tier_cols)
        share = np.sum(ts.weight[idx[local]])
        for m_i in range(len(d.models)):
            if m_i in tier_cols:
                vec = tier_cols[m_i]
                wt = (0.5 if n_aux else 1.0) / len(tier_cols)
                tier_bias[vec].append((next_bias, float(share)))
            else:
                vec, next_vec = next_vec, next_vec + 1
                wt = 0.5 / n_aux
            items.append(local)
            vecs.append(np.full(len(local), vec))
            biases.append(np.full(len(local), next_bias))
            next_bias += 1
            targets.append(d.scores[rows, m_i])
            weights.append(ts.weight[idx[local]] * wt)
    for k, ids in enumerate(tier_bias):
        if not ids:  # a tier no dataset fills: borrow its neighbours' biases
            tier_bias[k] = tier_bias[k - 1] if k > 0 and tier_bias[k - 1] else tier_bias[k + 1]
    return {
        "pairs_item": np.concatenate(items),
        "pairs_vec": np.concatenate(vecs),
        "pairs_bias": np.concatenate(biases),
        "pairs_target": np.concatenate(targets),
        "pairs_weight": np.concatenate(weights),
        "tier_bias_ids": tier_bias,
    }


def audit_labels(ts: TrainingSet, idx: np.ndarray) -> tuple[np.ndarray, list[InvertedGroup]]:
    """(rows of `idx` outside inverted groups, the groups found among `idx`)."""
    keep = np.ones(len(idx), dtype=bool)
    found: list[InvertedGroup] = []
    for d_i, d in enumerate(ts.datasets):
        local = np.nonzero(ts.ds[idx] == d_i)[0]
        filled = [k for k in range(ts.n_tiers) if not np.isnan(ts.tier_scores[idx[local], k]).all()]
        if len(local) == 0 or len(filled) < 2:
            continue
        ids = [d.ids[r] for r in ts.row[idx[local]]]
        s = ts.tier_scores[idx[local]]
        groups = inverted_groups(d.name, ids, s[:, filled[0]], s[:, filled[-1]])
        bad = {g.group for g in groups}
        if bad:
            keep[local] = [g not in bad for g in map(id_group, ids)]
        found += groups
    return idx[keep], found


def _index_rows(ts: TrainingSet, idx: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """Subsample the neighbour index: per-dataset quotas ~ n**0.5, all of the small sets."""
    rng = np.random.default_rng(seed)
    groups = [idx[ts.ds[idx] == d] for d in range(len(ts.names))]
    groups = [g for g in groups if len(g)]
    if sum(len(g) for g in groups) <= cap:
        return idx
    share = np.array([len(g) ** 0.5 for g in groups])
    quota = np.minimum([len(g) for g in groups], np.floor(cap * share / share.sum())).astype(int)
    return np.concatenate([rng.choice(g, q, replace=False) for g, q in zip(groups, quota)])


def _centred_needs(ts: TrainingSet, need: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Each dataset's needs shifted to the pooled prior: neighbours then vote on how much
    harder a prompt is than its own dataset's average, not on which dataset it resembles."""
    out = need.copy()
    for d in range(len(ts.names)):
        m = ts.ds == d
        if m.any():
            out[m] += prior - need[m].mean(axis=0)
    out = np.clip(out, 0.0, None)
    return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-12)


def fit_predictor(
    ts: TrainingSet,
    idx: np.ndarray | None = None,
    kinds: Sequence[str] = ("classifier", "mf", "knn"),
    params: Params | None = None,
    tiers: Sequence[str] | None = None,
    embedder: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> Predictor:
    """Fit the requested components on rows `idx` (all rows by default)."""
    p = params or Params()
    idx = np.arange(len(ts)) if idx is None else np.asarray(idx)
    excluded: list[InvertedGroup] = []
    if p.drop_inverted:
        idx, excluded = audit_labels(ts, idx)
        if len(idx) == 0:
            raise TrainingDataError(
                "the label audit left no training items: "
                + "; ".join(g.describe() for g in excluded)
                + ". Every group has the strongest tier far below the cheapest: check the tier "
                "order (--map), or keep them with --params '{\"drop_inverted\": false}'"
            )
    say = progress or (lambda _msg, _frac: None)
    emb, feats, w = ts.emb[idx], ts.feats[idx], ts.weight[idx]
    need = ts.need()[idx]
    e_std = emb.std(axis=0) + 1e-6
    f_std = feats.std(axis=0)
    f_std = np.where(f_std > 1e-6, f_std, 1.0)
    pred = Predictor(
        tiers=list(tiers or [f"tier{k}" for k in range(ts.n_tiers)]),
        embedder=embedder or {"kind": "static", "dim": int(ts.emb.shape[1])},
        emb_mean=emb.mean(axis=0).astype(np.float64),
        emb_std=e_std.astype(np.float64),
        feat_mean=feats.mean(axis=0).astype(np.float64),
        feat_std=f_std.astype(np.float64),
        knn=dict(p.knn),
        emb_scale=p.emb_scale,
    )
    x = pred.inputs(emb, feats)
    wanted = set(kinds)
    if "ensemble" in wanted:  # ship every component so each registry name works
        wanted |= {"classifier", "mf", "knn"}
    if "sw" in wanted:
        wanted.add("knn")
    if "classifier" in wanted:
        say("classifier", 0.1)
        group = ts.ds[idx] if p.fixed_effects else None
        dim_e = emb.shape[1]
        nonneg = [dim_e + FEATURE_NAMES.index(name) for name in p.nonneg]
        pred.classifier = OrdinalLogistic.fit(
            x, need, w, l2=p.l2, group=group, nonneg=nonneg
        )
    if "mf" in wanted:
        say("matrix factorization", 0.3)
        pairs = _mf_pairs(ts, idx)
        pred.mf = MatrixFactorization.fit(
            x, **pairs, n_tiers=ts.n_tiers, dim=p.mf_dim, l2=p.mf_l2, seed=p.seed,
            maxiter=p.mf_iter,
        )
    index_rows: np.ndarray | None = None  # training rows kept in the neighbour index
    if "knn" in wanted:
        say("neighbour index", 0.8)
        rows = index_rows = _index_rows(ts, idx, p.max_index, p.seed)
        prior = (need * w[:, None]).sum(axis=0) / w.sum()
        labels = ts.need()
        if p.fixed_effects:
            labels = _centred_needs(ts, labels, prior)
        pred.index = NeighbourIndex(
            vectors=ts.emb[rows].astype(np.float16),
            needs=labels[rows].astype(np.float32),
            prior=prior,
        )
    say("calibration", 0.9)
    for kind in pred.kinds():
        pred.calibrate(kind, pred.raw(kind, emb, feats)[1], w)
    if "ensemble" in kinds:
        pred.ensemble_weights = {k: v for k, v in p.ensemble.items() if v > 0}
        if p.length_weight > 0:
            pred.ensemble_weights["length"] = p.length_weight
            pred.calibrate("length", feats[:, 0].astype(np.float64), w)
        pred.calibrate("ensemble", pred.raw("ensemble", emb, feats)[1], w)
    if "ensemble" in kinds and "length" in pred.ensemble_weights and p.ood_quantile > 0:
        pred.ood = _ood_statistics(pred, idx, index_rows, emb, feats, w, p.ood_quantile)
    available = pred.kinds()
    pred.default_kind = next(k for k in (*kinds, *available) if k in available)
    pred.meta["features"] = list(FEATURE_NAMES)
    pred.meta["excluded_groups"] = [asdict(g) for g in excluded]
    pred.meta["params"] = {k: v for k, v in p.__dict__.items()}
    pred.meta["trained_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return pred


def _weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    order = np.argsort(x, kind="stable")
    cum = np.cumsum(w[order])
    return float(np.interp(q * cum[-1], cum, x[order]))


def _ood_statistics(
    pred: Predictor,
    idx: np.ndarray,
    index_rows: np.ndarray | None,
    emb: np.ndarray,
    feats: np.ndarray,
    w: np.ndarray,
    q: float,
) -> dict[str, float]:
    """Where the training prompts end: the weighted `q` quantile and the minimum of log length
    and of the mean similarity to the k nearest index prompts, leaving each prompt itself out
    (an index prompt is its own nearest neighbour, which would make everything look familiar)."""
    length = feats[:, 0].astype(np.float64)
    out = {"quantile": q, "len_at": _weighted_quantile(length, w, q)}
    out["len_min"] = float(length.min())
    if pred.index is None or index_rows is None:
        return out
    k = int(pred.knn["k"])
    sims, hit = pred.index.search(emb, k + 1)
    pos = np.full(int(max(idx.max(), index_rows.max())) + 1, -1)
    pos[index_rows] = np.arange(len(index_rows))
    own = hit == pos[idx][:, None]  # at most one True per row
    keep = np.argsort(own, axis=1, kind="stable")[:, :k]  # the self hit, if any, sorts last
    sim = np.take_along_axis(sims, keep, axis=1).astype(np.float64).mean(axis=1)
    out.update(sim_k=float(k), sim_at=_weighted_quantile(sim, w, q), sim_min=float(sim.min()))
    return out


def split(ts: TrainingSet, val: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-dataset random split so every set appears in both halves."""
    rng = np.random.default_rng(seed)
    tr, va = [], []
    for d in range(len(ts.names)):
        rows = rng.permutation(np.nonzero(ts.ds == d)[0])
        k = round(len(rows) * val)
        va.append(rows[:k])
        tr.append(rows[k:])
    return np.concatenate(tr), np.concatenate(va)


def validation_report(
    pred: Predictor, ts: TrainingSet, rows: np.ndarray, kinds: Sequence[str]
) -> dict[str, dict[str, float]]:
    """APGR (cheapest vs strongest tier of each dataset) on `rows`, next to prompt length."""
    from tierwise.routing.learned.metrics import apgr

    report: dict[str, dict[str, float]] = {}
    for d_i, name in enumerate(ts.names):
        sel = rows[ts.ds[rows] == d_i]
        if len(sel) < 10:
            continue
        s = ts.tier_scores[sel]
        cols = [k for k in range(ts.n_tiers) if not np.isnan(s[:, k]).all()]
        weak, strong = s[:, cols[0]], s[:, cols[-1]]
        entry = {"n": float(len(sel)), "length": apgr(ts.feats[sel, 0].astype(float), weak, strong)}
        for k in kinds:
            c = pred.predict(k, ts.emb[sel], ts.feats[sel])[1]
            entry[k] = apgr(c, weak, strong)
        report[name] = entry
    return report
