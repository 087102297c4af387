"""A trained bundle of predictors: inputs -> need distribution -> calibrated complexity.

Holds the input scaling (embedding and cheap-feature standardisation), every trained component
(classifier, mf, neighbour index), and per-router calibration that turns the expected needed
tier into a complexity in [0, 1] that is uniform on the training prompts - so the default cut
points i/N give an even tier mix on training-like traffic, and `tierwise calibrate` moves them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tierwise.routing.learned.artifact import Artifact, ArtifactError
from tierwise.routing.learned.models import (
    MatrixFactorization,
    NeighbourIndex,
    OrdinalLogistic,
    expected_need,
)

ROUTER_KINDS = ("classifier", "mf", "knn", "sw", "ensemble")
#: Training quantile below which a prompt counts as out of distribution (see `Predictor.ood`).
OOD_QUANTILE = 0.02
DEFAULT_KNN = {"k": 50, "sw_k": 200, "sw_temperature": 0.05, "shrink": 2.0}
QUANTILES = 201


@dataclass
class Prediction:
    need: np.ndarray  # (n, N) need distribution
    complexity: np.ndarray  # (n,) in [0, 1], after the out-of-distribution fallback
    fallback: np.ndarray  # (n,) weight the length prior got instead of the learned parts
    similarity: np.ndarray  # (n,) mean top-k neighbour similarity (NaN when not computed)


def _ramp(x: np.ndarray, at: float, lowest: float) -> np.ndarray:
    """0 at or above `at`, rising linearly to 1 at `lowest` and below."""
    return np.clip((at - x) / max(at - lowest, 1e-9), 0.0, 1.0)


@dataclass
class Predictor:
    tiers: list[str]
    embedder: dict[str, Any]  # {"kind", "dim", "table_sha256"?}
    emb_mean: np.ndarray
    emb_std: np.ndarray
    feat_mean: np.ndarray
    feat_std: np.ndarray
    classifier: OrdinalLogistic | None = None
    mf: MatrixFactorization | None = None
    index: NeighbourIndex | None = None
    knn: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_KNN))
    ensemble_weights: dict[str, float] = field(default_factory=dict)
    quantiles: dict[str, np.ndarray] = field(default_factory=dict)  # kind -> raw need levels
    default_kind: str = "ensemble"
    # embedding columns are multiplied by this before the linear components: below 1 it is a
    # stronger ridge penalty on the embedding than on the cheap features (which transfer better)
    emb_scale: float = 1.0
    thresholds: list[float] | None = None  # calibrated cut points carried by the artifact
    # out-of-distribution fallback of the ensemble (`fallback`): training statistics of the
    # neighbour similarity and of log length; {} (old artifacts) = no fallback
    ood: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_tiers(self) -> int:
        return len(self.tiers)

    def kinds(self) -> list[str]:
        out = []
        if self.classifier is not None:
            out.append("classifier")
        if self.mf is not None:
            out.append("mf")
        if self.index is not None:
            out += ["knn", "sw"]
        if self.ensemble_weights:
            out.append("ensemble")
        return out

    def inputs(self, emb: np.ndarray, feats: np.ndarray) -> np.ndarray:
        """The standardised design matrix the linear components read."""
        e = (emb - self.emb_mean) / self.emb_std * self.emb_scale
        f = (feats - self.feat_mean) / self.feat_std
        return np.concatenate([e, f], axis=1).astype(np.float64)

    def need(self, kind: str, emb: np.ndarray, feats: np.ndarray) -> np.ndarray:
        """(n, N) need distribution predicted by router `kind`."""
        return self.raw(kind, emb, feats)[0]

    def raw(
        self,
        kind: str,
        emb: np.ndarray,
        feats: np.ndarray,
        hits: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(need distribution, uncalibrated monotone score) for router `kind`.

        Components score by expected needed tier. The ensemble averages the components'
        *calibrated* complexities (each uniform on the training prompts, so no component's
        scale dominates), optionally with the prompt-length prior, and their need distributions.
        """
        if kind == "ensemble":
            weights = {k: w for k, w in self.ensemble_weights.items() if w > 0}
            if not weights:
                raise ArtifactError("this router artifact has no ensemble component")
            total = sum(weights.values())
            learned = sum(w for k, w in weights.items() if k != "length") or 1.0
            need: np.ndarray = np.zeros((len(emb), self.n_tiers))
            score = np.zeros(len(emb))
            if hits is None and "knn" in weights and "sw" in weights and self.index is not None:
                hits = self.index.search(emb, int(max(self.knn["k"], self.knn["sw_k"])))
            for k, w in weights.items():
                if k == "length":
                    score += (w / total) * self._calibrated("length", feats[:, 0].astype(float))
                    continue
                n_k, r_k = self.raw(k, emb, feats, hits)
                need += (w / learned) * n_k
                score += (w / total) * self._calibrated(k, r_k)
            return need, score
        if kind == "classifier" and self.classifier is not None:
            need = self.classifier.predict(self.inputs(emb, feats))
        elif kind == "mf" and self.mf is not None:
            need = self.mf.predict(self.inputs(emb, feats))
        elif kind in ("knn", "sw") and self.index is not None:
            p = self.knn
            if kind == "knn":
                need = self.index.predict(emb, int(p["k"]), None, p["shrink"], hits)
            else:
                need = self.index.predict(
                    emb, int(p["sw_k"]), p["sw_temperature"], p["shrink"], hits
                )
        else:
            raise ArtifactError(
                f"this router artifact has no {kind!r} component; it has: {', '.join(self.kinds())}"
            )
        return need, expected_need(need)

    def predict(
        self, kind: str, emb: np.ndarray, feats: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(need distribution (n, N), complexity (n,) in [0, 1]) for router `kind`."""
        p = self.predict_detail(kind, emb, feats)
        return p.need, p.complexity

    def predict_detail(self, kind: str, emb: np.ndarray, feats: np.ndarray) -> Prediction:
        """`predict` plus the out-of-distribution fallback's weight and similarity per prompt.

        For the ensemble, prompts unlike the training data (see `fallback`) have their
        complexity moved towards the length prior's: the learned parts extrapolate there
        (benchmark-trained embedding neighbours of "hi" are arbitrary), length does not.
        """
        n = len(emb)
        weight, sim = np.zeros(n), np.full(n, np.nan)
        use_ood = kind == "ensemble" and bool(self.ood) and "length" in self.quantiles
        hits = None
        if use_ood and self.index is not None:
            k = int(max(self.knn["k"], self.knn["sw_k"]))
            hits = self.index.search(emb, k)  # the one search knn and sw share anyway
        need, raw = self.raw(kind, emb, feats, hits)
        complexity = self._calibrated(kind, raw)
        if use_ood:
            weight, sim = self.fallback(feats, hits)
            prior = self._calibrated("length", feats[:, 0].astype(np.float64))
            complexity = (1.0 - weight) * complexity + weight * prior
        return Prediction(need, complexity, weight, sim)

    def fallback(
        self, feats: np.ndarray, hits: tuple[np.ndarray, np.ndarray] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(weight of the length prior in [0, 1], mean top-k neighbour similarity) per prompt.

        Two ways to be out of the training distribution, each measured against the training
        set's own statistics: the mean cosine similarity of the k nearest training prompts
        (leave-one-out on the training prompts), and the prompt's log length. Above the
        `OOD_QUANTILE` quantile of the training values the weight is 0; below it, it rises
        linearly to 1 at the training minimum (nothing that far out was ever seen). The weight
        is the larger of the two.
        """
        o = self.ood
        length = feats[:, 0].astype(np.float64)
        weight = _ramp(length, o["len_at"], o["len_min"])
        sim = np.full(len(feats), np.nan)
        if hits is not None and "sim_at" in o:
            sim = hits[0][:, : int(o["sim_k"])].astype(np.float64).mean(axis=1)
            weight = np.maximum(weight, _ramp(sim, o["sim_at"], o["sim_min"]))
        return weight, sim

    def calibrate(self, kind: str, raw: np.ndarray, weight: np.ndarray | None = None) -> None:
        """Store weighted quantiles of `raw` so complexity is uniform on these prompts."""
        order = np.argsort(raw, kind="stable")
        w = np.ones(len(raw)) if weight is None else weight
        cum = np.cumsum(w[order])
        cum = (cum - 0.5 * w[order]) / cum[-1]
        levels = np.linspace(0, 1, QUANTILES)
        self.quantiles[kind] = np.interp(levels, cum, raw[order]).astype(np.float64)

    def _calibrated(self, kind: str, raw: np.ndarray) -> np.ndarray:
        """Monotone map of a raw score to [0, 1] via the stored quantiles."""
        q = self.quantiles.get(kind)
        if q is None:
            return np.clip(raw, 0.0, 1.0)
        levels = np.linspace(0, 1, len(q))
        # strictly increasing x for interp, so tied quantiles do not make a flat step
        x = q + np.arange(len(q)) * 1e-12
        return np.interp(raw, x, levels)

    # ------------------------------------------------------------------------ persistence

    def to_artifact(self) -> Artifact:
        arrays: dict[str, np.ndarray] = {
            "scale/emb_mean": self.emb_mean.astype(np.float32),
            "scale/emb_std": self.emb_std.astype(np.float32),
            "scale/feat_mean": self.feat_mean.astype(np.float32),
            "scale/feat_std": self.feat_std.astype(np.float32),
        }
        for name, comp in (("classifier", self.classifier), ("mf", self.mf), ("index", self.index)):
            if comp is not None:
                arrays.update({f"{name}/{k}": v for k, v in comp.arrays().items()})
        arrays.update({f"quantiles/{k}": v for k, v in self.quantiles.items()})
        meta = {
            **self.meta,
            "tiers": self.tiers,
            "embedder": self.embedder,
            "knn": self.knn,
            "ensemble_weights": self.ensemble_weights,
            "default_router": self.default_kind,
            "thresholds": self.thresholds,
            "emb_scale": self.emb_scale,
            "ood": self.ood,
        }
        return Artifact(meta=meta, arrays=arrays)

    @classmethod
    def from_artifact(cls, art: Artifact) -> Predictor:
        m = art.meta
        scale = art.section("scale")
        try:
            pred = cls(
                tiers=list(m["tiers"]),
                embedder=dict(m["embedder"]),
                emb_mean=scale["emb_mean"].astype(np.float64),
                emb_std=scale["emb_std"].astype(np.float64),
                feat_mean=scale["feat_mean"].astype(np.float64),
                feat_std=scale["feat_std"].astype(np.float64),
                knn={**DEFAULT_KNN, **m.get("knn", {})},
                ensemble_weights=dict(m.get("ensemble_weights") or {}),
                quantiles=dict(art.section("quantiles")),
                default_kind=str(m.get("default_router", "ensemble")),
                thresholds=m.get("thresholds"),
                emb_scale=float(m.get("emb_scale", 1.0)),
                ood={k: float(v) for k, v in (m.get("ood") or {}).items()},
                meta={k: v for k, v in m.items() if k not in ("knn",)},
            )
        except KeyError as exc:
            raise ArtifactError(f"router artifact is missing {exc}; retrain it") from None
        if art.section("classifier"):
            pred.classifier = OrdinalLogistic.from_arrays(art.section("classifier"))
        if art.section("mf"):
            pred.mf = MatrixFactorization.from_arrays(art.section("mf"))
        if art.section("index"):
            pred.index = NeighbourIndex.from_arrays(art.section("index"))
        return pred
