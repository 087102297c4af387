"""Build a learned router from config: load the artifact, pick the component, fit the ladder."""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

from tierwise.config import Config
from tierwise.routing.ladder import TierLadder
from tierwise.routing.learned.artifact import BUILTIN_PATH, ArtifactError, load_artifact
from tierwise.routing.learned.embed import STATIC_TABLE_PATH, load_embedder
from tierwise.routing.learned.predictor import Predictor
from tierwise.routing.learned.router import LearnedRouter


def artifact_path(spec: str) -> Path:
    return BUILTIN_PATH if spec in ("builtin", "", "default") else Path(spec).expanduser()


def load_predictor(spec: str) -> Predictor:
    """The Predictor stored at `spec` ("builtin" or a path)."""
    return Predictor.from_artifact(load_artifact(artifact_path(spec)))


def _check_embedder(pred: Predictor, configured: str, where: Path) -> str:
    """The artifact's embedder wins (its weights only make sense in that space); say so."""
    kind = str(pred.embedder.get("kind", "static"))
    if kind != configured:
        warnings.warn(
            f"{where}: router was trained on {kind!r} embeddings; using {kind!r} although "
            f"routing.learned.embedder is {configured!r}",
            stacklevel=3,
        )
    want = pred.embedder.get("table_sha256")
    if kind == "static" and want:
        sidecar = STATIC_TABLE_PATH.with_suffix(".json")
        try:
            have = json.loads(sidecar.read_text()).get("table_sha256")
        except (OSError, ValueError):
            have = None
        if have and have != want:
            warnings.warn(
                f"{where}: router was trained with static table {want[:12]}, but the installed "
                f"table is {have[:12]}; retrain with `tierwise train` for reliable routing",
                stacklevel=3,
            )
    return kind


def build_learned_router(cfg: Config, ladder: TierLadder, name: str) -> LearnedRouter:
    """Registry entry for learned, mf, classifier, knn, sw and ensemble.

    `learned` uses the artifact's default component. The ladder's cut points are used unless the
    config sets none and the artifact carries calibrated ones for the same number of tiers.
    """
    spec = cfg.routing.learned.artifact
    path = artifact_path(spec)
    pred = Predictor.from_artifact(load_artifact(path))
    kind = pred.default_kind if name == "learned" else name
    if kind not in pred.kinds():
        raise ArtifactError(
            f"{path}: no {kind!r} router in this artifact; it has {', '.join(pred.kinds())} "
            f"(train one with `tierwise train --router {kind}`)"
        )
    th = pred.thresholds
    if cfg.routing.thresholds is None and th is not None and len(th) == len(ladder) - 1:
        ladder = dataclasses.replace(ladder, thresholds=tuple(th))
    emb_kind = _check_embedder(pred, cfg.routing.learned.embedder, path)
    embedder = load_embedder(emb_kind)
    return LearnedRouter(pred, kind, ladder, embedder, name=name)
