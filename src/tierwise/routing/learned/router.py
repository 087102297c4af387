"""The learned policy as a Router: embed + cheap features -> need distribution -> tier."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tierwise.routing.ladder import TierLadder
from tierwise.routing.learned.embed import Embedder
from tierwise.routing.learned.features import feature_matrix, request_text
from tierwise.routing.learned.models import tier_positions
from tierwise.routing.learned.predictor import Predictor
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
        emb = self.embedder.embed([request_text(r) for r in requests])
        feats = feature_matrix(requests)
        need, complexity = self.predictor.predict(self.kind, emb, feats)
        probs = need @ self._map
        probs /= np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)
        return probs, complexity

    def route(self, request: ChatRequest) -> Decision:
        return self.route_many([request])[0]

    def route_many(self, requests: Sequence[ChatRequest]) -> list[Decision]:
        if not requests:
            return []
        probs, complexity = self.scores(requests)
        ladder = self.ladder
        out = []
        for r, p, c in zip(requests, probs.tolist(), complexity.tolist()):
            index = ladder.index_for(c)
            needed = estimate_tokens(r.total_chars()) + (r.max_tokens or 0)
            fitted = ladder.fit_context(index, needed)
            best = max(range(len(p)), key=p.__getitem__)
            reason = (
                f"{self.kind}: complexity {c:.2f}; most likely needed tier "
                f"{ladder.names[best]} (p={p[best]:.2f})"
            )
            if fitted != index:
                reason += (
                    f"; ~{needed} tokens exceed {ladder.names[index]}'s "
                    f"{ladder.context_windows[index]}-token window"
                )
            scores = dict(zip(ladder.names, p))
            out.append(
                Decision(ladder.names[fitted], ladder.models[fitted], c, scores, self.name, reason)
            )
        return out
