"""The learned predictors. Each maps prompts to a *need distribution* over N ordered tiers.

need[k] = probability that tier k is the cheapest tier that answers as well as any tier can
(see :func:`need_distribution`). Every predictor is plain numpy at prediction time and stores its
parameters as named arrays, so an artifact is an .npz file (no pickle) that loads without the
training data.

* :class:`OrdinalLogistic` (`classifier`) - P(need >= k) = sigmoid(x.w + b_k): one learned
  direction, N-1 cut points. Few parameters, so it generalises to unseen data sets.
* :class:`MatrixFactorization` (`mf`) - RouteLLM's MF generalised to N tiers and to every model
  in a data set: P(model m answers | prompt) = sigmoid(v_m . (x W) + b_m). The tier models share
  one vector per tier across data sets; all other models are extra training signal.
* :class:`NeighbourIndex` (`knn`, `sw`) - the need distributions of similar training prompts,
  averaged uniformly over the k nearest (`knn`) or with softmax similarity weights (`sw`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Arrays = dict[str, np.ndarray]


def need_distribution(scores: np.ndarray) -> np.ndarray:
    """(n, N) per-tier scores in [0, 1] (NaN: tier not measured) -> (n, N) need distribution.

    need[k>0] = how much tier k improves on the best cheaper tier; need[0] = the rest. For 0/1
    scores this is one-hot on the cheapest tier that gets the best score (tier 0 when no tier
    does); continuous scores give soft labels. Also used on predicted quality vectors.
    """
    s = np.asarray(scores, dtype=np.float64)
    n, tiers = s.shape
    out = np.zeros((n, tiers))
    best = np.nan_to_num(s[:, 0], nan=0.0)
    for k in range(1, tiers):
        col = s[:, k]
        ok = ~np.isnan(col)
        gain = np.where(ok, np.maximum(np.nan_to_num(col) - best, 0.0), 0.0)
        out[:, k] = gain
        best = np.where(ok, np.maximum(best, np.nan_to_num(col)), best)
    out[:, 0] = np.clip(1.0 - out[:, 1:].sum(axis=1), 0.0, 1.0)
    return out / out.sum(axis=1, keepdims=True)


def tier_positions(n_from: int, n_to: int) -> list[int]:
    """Where tier j of n_from lands among n_to tiers (relative position, rounded)."""
    if n_from == 1:
        return [n_to - 1]
    return [round(j * (n_to - 1) / (n_from - 1)) for j in range(n_from)]


def expected_need(need: np.ndarray) -> np.ndarray:
    """Expected needed tier index scaled to [0, 1]: the raw, uncalibrated complexity."""
    tiers = need.shape[1]
    return need @ np.arange(tiers, dtype=np.float64) / max(tiers - 1, 1)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _bce_grad(
    logit: np.ndarray, target: np.ndarray, weight: np.ndarray
) -> tuple[float, np.ndarray]:
    """Weighted binary cross-entropy with soft targets, and its gradient w.r.t. the logits."""
    p = _sigmoid(logit)
    eps = 1e-9
    loss = -(weight * (target * np.log(p + eps) + (1 - target) * np.log(1 - p + eps))).sum()
    return float(loss), weight * (p - target)


# ----------------------------------------------------------------------------- ordinal logistic


@dataclass
class OrdinalLogistic:
    """Proportional-odds logistic regression on soft cumulative targets."""

    coef: np.ndarray  # (D,)
    cuts: np.ndarray  # (N-1,)

    kind = "classifier"

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        need: np.ndarray,
        weight: np.ndarray,
        l2: float = 1.0,
        group: np.ndarray | None = None,
        nonneg: Sequence[int] = (),
    ) -> OrdinalLogistic:
        """`group` (dataset id per row) gives each dataset its own cut points during training
        (fixed effects), so the shared direction learns what ranks prompts *within* a dataset
        rather than which dataset a prompt came from; prediction uses the weighted mean cuts.
        `nonneg`: input columns whose coefficient may not go below 0 (e.g. prompt length: a set
        where longer prompts happen to be easier must not teach "long = easy" elsewhere)."""
        from scipy.optimize import minimize

        n, dim = x.shape
        g_id = np.zeros(n, dtype=np.int64)
        if group is not None:
            g_id = np.unique(group, return_inverse=True)[1]
        n_groups = int(g_id.max()) + 1
        # target[:, j] = P(need >= j+1)
        target = np.cumsum(need[:, ::-1], axis=1)[:, ::-1][:, 1:]
        n_cuts = target.shape[1]
        w = weight / weight.sum()

        def f(theta: np.ndarray) -> tuple[float, np.ndarray]:
            coef = theta[:dim]
            cuts = theta[dim:].reshape(n_groups, n_cuts)
            logit = (x @ coef)[:, None] + cuts[g_id]
            loss, g = _bce_grad(logit, target, w[:, None])
            loss += 0.5 * l2 * float(coef @ coef) / n
            gcoef = x.T @ g.sum(axis=1) + l2 * coef / n
            gcuts = np.zeros((n_groups, n_cuts))
            np.add.at(gcuts, g_id, g)
            return loss, np.concatenate([gcoef, gcuts.ravel()])

        theta0 = np.zeros(dim + n_groups * n_cuts)
        for k in range(n_groups):
            m = g_id == k
            prior = np.clip(target[m].T @ w[m] / w[m].sum(), 1e-3, 1 - 1e-3)
            theta0[dim + k * n_cuts : dim + (k + 1) * n_cuts] = np.log(prior / (1 - prior))
        bounds = [(0.0, None) if j in set(nonneg) else (None, None) for j in range(dim)]
        bounds += [(None, None)] * (len(theta0) - dim)
        res = minimize(
            f, theta0, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 500}
        )
        share = np.bincount(g_id, weights=w, minlength=n_groups)
        cuts = (res.x[dim:].reshape(n_groups, n_cuts) * share[:, None]).sum(axis=0) / share.sum()
        return cls(coef=res.x[:dim].astype(np.float32), cuts=np.sort(cuts)[::-1].astype(np.float32))

    def predict(self, x: np.ndarray) -> np.ndarray:
        z = x @ self.coef
        cum = _sigmoid(z[:, None] + self.cuts[None, :].astype(np.float64))
        cum = np.minimum.accumulate(cum, axis=1)  # P(need >= k) never rises with k
        ones = np.ones((len(z), 1))
        upper = np.concatenate([ones, cum], axis=1)
        lower = np.concatenate([cum, np.zeros((len(z), 1))], axis=1)
        return np.clip(upper - lower, 0.0, 1.0)

    def arrays(self) -> Arrays:
        return {"coef": self.coef, "cuts": self.cuts}

    @classmethod
    def from_arrays(cls, a: Arrays) -> OrdinalLogistic:
        return cls(coef=a["coef"], cuts=a["cuts"])


# ----------------------------------------------------------------------------- matrix factorization


@dataclass
class MatrixFactorization:
    """Bilinear prompt x model scorer; only the tier part is kept after training."""

    proj: np.ndarray  # (D, k) prompt projection
    tier_vecs: np.ndarray  # (N, k)
    tier_bias: np.ndarray  # (N,)

    kind = "mf"

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        pairs_item: np.ndarray,
        pairs_vec: np.ndarray,
        pairs_bias: np.ndarray,
        pairs_target: np.ndarray,
        pairs_weight: np.ndarray,
        n_tiers: int,
        tier_bias_ids: list[list[tuple[int, float]]],
        dim: int = 16,
        l2: float = 1.0,
        seed: int = 0,
        maxiter: int = 300,
    ) -> MatrixFactorization:
        """Fit on (item, model) pairs. Vector ids < n_tiers are the shared tier vectors;
        `tier_bias_ids[k]` lists (bias id, weight) pairs averaged into tier k's bias."""
        from scipy.optimize import minimize

        n, d_in = x.shape
        n_vec = int(pairs_vec.max()) + 1
        n_bias = int(pairs_bias.max()) + 1
        rng = np.random.default_rng(seed)
        w = pairs_weight / pairs_weight.sum()
        sizes = (d_in * dim, n_vec * dim, n_bias)

        def unpack(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            a, b = sizes[0], sizes[0] + sizes[1]
            return theta[:a].reshape(d_in, dim), theta[a:b].reshape(n_vec, dim), theta[b:]

        reg = l2 / n

        def f(theta: np.ndarray) -> tuple[float, np.ndarray]:
            proj, vecs, bias = unpack(theta)
            z = x @ proj  # (n, k)
            logit = np.einsum("ij,ij->i", z[pairs_item], vecs[pairs_vec]) + bias[pairs_bias]
            loss, g = _bce_grad(logit, pairs_target, w)
            gz = np.zeros_like(z)
            np.add.at(gz, pairs_item, g[:, None] * vecs[pairs_vec])
            gv = np.zeros_like(vecs)
            np.add.at(gv, pairs_vec, g[:, None] * z[pairs_item])
            gb = np.bincount(pairs_bias, weights=g, minlength=n_bias)
            gproj = x.T @ gz
            loss += 0.5 * reg * (float((proj**2).sum()) + float((vecs**2).sum()))
            grad = np.concatenate([(gproj + reg * proj).ravel(), (gv + reg * vecs).ravel(), gb])
            return loss, grad

        theta0 = np.concatenate(
            [rng.normal(0, 0.05, sizes[0]), rng.normal(0, 0.3, sizes[1]), np.zeros(sizes[2])]
        )
        res = minimize(f, theta0, jac=True, method="L-BFGS-B", options={"maxiter": maxiter})
        proj, vecs, bias = unpack(res.x)
        tb = np.array(
            [sum(bias[b] * wt for b, wt in ids) / sum(wt for _, wt in ids) for ids in tier_bias_ids]
        )
        return cls(
            proj=proj.astype(np.float32),
            tier_vecs=vecs[:n_tiers].astype(np.float32),
            tier_bias=tb.astype(np.float32),
        )

    def quality(self, x: np.ndarray) -> np.ndarray:
        """(n, N) predicted probability that each tier answers well."""
        z = x @ self.proj
        return _sigmoid(z @ self.tier_vecs.T + self.tier_bias[None, :])

    def predict(self, x: np.ndarray) -> np.ndarray:
        return need_distribution(self.quality(x))

    def arrays(self) -> Arrays:
        return {"proj": self.proj, "tier_vecs": self.tier_vecs, "tier_bias": self.tier_bias}

    @classmethod
    def from_arrays(cls, a: Arrays) -> MatrixFactorization:
        return cls(proj=a["proj"], tier_vecs=a["tier_vecs"], tier_bias=a["tier_bias"])


# ----------------------------------------------------------------------------- neighbours


@dataclass
class NeighbourIndex:
    """Unit-norm training embeddings with their need distributions; exact top-k by matmul.

    Exact search is a (m, d) x (d,) product: ~0.2 ms for the shipped 5,844 x 128 on one core,
    and batched for many queries, so no approximate index is needed at the sizes we ship.
    """

    vectors: np.ndarray  # (m, d) float16/float32, unit rows
    needs: np.ndarray  # (m, N)
    prior: np.ndarray  # (N,) weighted mean need, used for shrinkage

    def __post_init__(self) -> None:
        # float16 on disk halves the artifact; float32 in memory keeps the matmul fast
        self._vecs32 = np.ascontiguousarray(self.vectors, dtype=np.float32)
        self._needs64 = np.asarray(self.needs, dtype=np.float64)

    def search(self, emb: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (similarities, indices) per query row, most similar first (so any prefix is a
        smaller top-k), in batches to bound memory."""
        vecs = self._vecs32
        k = min(k, len(vecs))
        sims_out = np.empty((len(emb), k), dtype=np.float32)
        idx_out = np.empty((len(emb), k), dtype=np.int64)
        for start in range(0, len(emb), 512):
            q = emb[start : start + 512].astype(np.float32)
            # a few queries (the request path): einsum's own loop, ~0.3 ms and no BLAS thread
            # hand-off, which costs milliseconds on a busy 2-core box; batches: BLAS
            sims = np.einsum("qd,md->qm", q, vecs) if len(q) <= 4 else q @ vecs.T
            idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            top = np.take_along_axis(sims, idx, axis=1)
            order = np.argsort(-top, axis=1, kind="stable")
            sims_out[start : start + 512] = np.take_along_axis(top, order, axis=1)
            idx_out[start : start + 512] = np.take_along_axis(idx, order, axis=1)
        return sims_out, idx_out

    def predict(
        self,
        emb: np.ndarray,
        k: int = 50,
        temperature: float | None = None,
        shrink: float = 2.0,
        hits: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Mean need of the k nearest (uniform, or softmax(sim / temperature) weighted).
        `hits`: a previous `search` with at least k results, reused (knn and sw share one)."""
        if hits is None or hits[1].shape[1] < min(k, len(self._vecs32)):
            hits = self.search(emb, k)
        sims, idx = hits[0][:, :k], hits[1][:, :k]
        k = sims.shape[1]
        if temperature is None:
            weights = np.ones_like(sims, dtype=np.float64)
        else:
            z = (sims - sims.max(axis=1, keepdims=True)) / temperature
            weights = np.exp(z.astype(np.float64))
            weights *= k / weights.sum(axis=1, keepdims=True)
        needs = self._needs64[idx]  # (n, k, N)
        num = np.einsum("nk,nkt->nt", weights, needs) + shrink * self.prior[None, :]
        return num / (weights.sum(axis=1, keepdims=True) + shrink)

    def arrays(self) -> Arrays:
        return {"vectors": self.vectors, "needs": self.needs, "prior": self.prior}

    @classmethod
    def from_arrays(cls, a: Arrays) -> NeighbourIndex:
        return cls(vectors=a["vectors"], needs=a["needs"], prior=a["prior"].astype(np.float64))
