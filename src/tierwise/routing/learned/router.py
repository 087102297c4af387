"""The learned policy as a Router: embed + cheap features -> need distribution -> tier."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from tierwise.routing.ladder import TierLadder
from tierwise.routing.learned.embed import Embedder
from tierwise.routing.learned.features import feature_matrix, request_text
from tierwise.routing.learned.models import tier_positions
from tierwise.routing.learned.predictor import Prediction, Predictor
from tierwise.types import ChatRequest, Decision, estimate_tokens


class LearnedRouter:
    """Routes with one component (`kind`) of a trained Predictor.

    The artifact's N trained tiers are mapped onto the ladder's tiers by relative position; the
    tier is chosen by the ladder's cut points on the calibrated complexity, then moved up if the
    prompt does not fit the chosen tier's context window.
    """

    def __init__(
        self, predictor: Predictor, kind: str, ladder: TierLadder, embedder: Embedder, name: str
    ) -> None:
        self.predictor = predictor
        self.kind = kind
        self.ladder = ladder
        self.embedder = embedder
        self.name = name
        n_to = len(ladder)
        self._map = np.zeros((predictor.n_tiers, n_to))
        for k, pos in enumerate(tier_positions(predictor.n_tiers, n_to)):
            self._map[k, pos] = 1.0

    def scores(self, requests: Sequence[ChatRequest]) -> tuple[np.ndarray, np.ndarray]:
        """(tier probabilities on the ladder (n, len(ladder)), complexity (n,))."""
        probs, pred, _ = self._predict(requests)
        return probs, pred.complexity

    def _predict(
        self, requests: Sequence[ChatRequest]
    ) -> tuple[np.ndarray, Prediction, np.ndarray]:
        """(ladder probabilities, the predictor's detail, log-length feature) per request."""
        emb = self.embedder.embed([request_text(r) for r in requests])
        feats = feature_matrix(requests)
        pred = self.predictor.predict_detail(self.kind, emb, feats)
        probs = pred.need @ self._map
        probs /= np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)
        return probs, pred, feats[:, 0]

    def _fallback_reason(self, weight: float, sim: float, length: float) -> str:
        """Why the length prior took over, e.g. 'far from training data (similarity 0.44,
        shorter than the training prompts): leaning on prompt length (weight 1.00)'."""
        ood = self.predictor.ood
        why = []
        if sim == sim and sim < ood.get("sim_at", -1.0):  # sim == sim: not NaN
            why.append(f"similarity {sim:.2f}")
        if length < ood.get("len_at", -1.0):
            why.append("shorter than the training prompts")
        return (
            f"; far from training data ({', '.join(why)}): leaning on prompt length "
            f"(weight {weight:.2f})"
        )

    def route(self, request: ChatRequest) -> Decision:
        return self.route_many([request])[0]

    def route_many(self, requests: Sequence[ChatRequest]) -> list[Decision]:
        if not requests:
            return []
        probs, pred, length = self._predict(requests)
        ladder = self.ladder
        out = []
        rows = zip(
            requests,
            probs.tolist(),
            pred.complexity.tolist(),
            pred.fallback.tolist(),
            pred.similarity.tolist(),
            length.tolist(),
        )
        for r, p, c, fb, sim, ln in rows:
            index = ladder.index_for(c)
            needed = estimate_tokens(r.total_chars()) + (r.max_tokens or 0)
            fitted = ladder.fit_context(index, needed)
            best = max(range(len(p)), key=p.__getitem__)
            reason = (
                f"{self.kind}: complexity {c:.2f}; most likely needed tier "
                f"{ladder.names[best]} (p={p[best]:.2f})"
            )
            if fb > 0:
                reason += self._fallback_reason(fb, sim, ln)
            if fitted != index:
                reason += (
                    f"; ~{needed} tokens exceed {ladder.names[index]}'s "
                    f"{ladder.context_windows[index]}-token window"
                )
            scores = dict(zip(ladder.names, p))
            enough = dict(zip(ladder.names, itertools.accumulate(p)))
            enough[ladder.names[-1]] = 1.0  # the strongest tier is enough by definition
            out.append(
                Decision(
                    ladder.names[fitted], ladder.models[fitted], c, scores, self.name, reason,
                    enough,
                )
            )
        return out
