"""Learned routers: training on tiny synthetic data, artifacts, routing and the factory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tierwise.config import parse_config
from tierwise.routing.ladder import TierLadder
from tierwise.routing.learned.artifact import BUILTIN_PATH, ArtifactError, load_artifact
from tierwise.routing.learned.embed import load_embedder
from tierwise.routing.learned.factory import build_learned_router
from tierwise.routing.learned.models import expected_need, need_distribution
from tierwise.routing.learned.predictor import Predictor
from tierwise.routing.learned.router import LearnedRouter
from tierwise.routing.registry import build_policy
from tierwise.types import ChatRequest

sys.path.insert(0, str(Path(__file__).parent))
from learned_synth import make_items, model_inputs, train_synthetic_ensemble

KINDS = ("classifier", "mf", "knn", "sw", "ensemble")


@pytest.fixture(scope="module")
def embedder():
    return load_embedder("static")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, embedder):
    return train_synthetic_ensemble(
        tmp_path_factory.mktemp("data"), tmp_path_factory.mktemp("art"), embedder, mf_iter=60
    )


def _cfg(tiers: int, artifact: Path | str, thresholds: str = "") -> object:
    names = ["haiku", "sonnet", "opus"][:tiers] if tiers <= 3 else [f"t{i}" for i in range(tiers)]
    body = "\n".join(
        f"  - {{name: {n}, model: m-{n}, price_in: {i + 1}, price_out: {5 * (i + 1)}}}"
        for i, n in enumerate(names)
    )
    text = f"tiers:\n{body}\nrouting:\n  policy: learned\n  learned: {{artifact: '{artifact}'}}\n"
    return parse_config(text + thresholds, "test.yaml")


def test_need_distribution_marks_cheapest_sufficient_tier():
    s = np.array([[1, 1, 1], [0, 1, 1], [0, 0, 1], [0, 0, 0], [1, 0, 0], [0, np.nan, 1]], float)
    need = need_distribution(s)
    assert need.argmax(axis=1).tolist() == [0, 1, 2, 0, 0, 2]
    assert np.allclose(need.sum(axis=1), 1.0)


def test_save_load_gives_identical_predictions(trained, embedder):
    pred, path = trained
    loaded = Predictor.from_artifact(load_artifact(path))
    emb, feats = model_inputs(embedder, [it["prompt"] for it in make_items(60, seed=7)])
    assert set(loaded.kinds()) == set(KINDS)
    for kind in KINDS:
        n1, c1 = pred.predict(kind, emb, feats)
        n2, c2 = loaded.predict(kind, emb, feats)
        np.testing.assert_allclose(n1, n2, atol=1e-5)
        np.testing.assert_allclose(c1, c2, atol=1e-5)


@pytest.mark.parametrize("kind", ["classifier", "mf", "knn", "sw"])
def test_complexity_is_monotone_in_predicted_need(trained, embedder, kind):
    pred, _ = trained
    emb, feats = model_inputs(embedder, [it["prompt"] for it in make_items(90, seed=3)])
    need, c = pred.predict(kind, emb, feats)
    order = np.argsort(expected_need(need), kind="stable")
    assert np.all(np.diff(c[order]) >= -1e-9)
    assert c.min() >= 0.0 and c.max() <= 1.0
    assert np.allclose(need.sum(axis=1), 1.0)


@pytest.mark.parametrize("kind", KINDS)
def test_routers_learn_that_hard_prompts_need_stronger_tiers(trained, embedder, kind):
    pred, _ = trained
    items = make_items(120, seed=11)  # unseen prompts, same generator
    emb, feats = model_inputs(embedder, [it["prompt"] for it in items])
    c = pred.predict(kind, emb, feats)[1]
    level = np.arange(len(items)) % 3
    assert c[level == 2].mean() > c[level == 0].mean() + 0.2


def test_route_many_equals_route(trained, embedder):
    pred, _ = trained
    cfg = _cfg(3, "unused")
    router = LearnedRouter(pred, "ensemble", TierLadder.from_config(cfg), embedder, "learned")
    reqs = [ChatRequest.from_prompt(it["prompt"]) for it in make_items(30, seed=5)]
    batch = router.route_many(reqs)
    single = [router.route(r) for r in reqs]
    assert [d.tier for d in batch] == [d.tier for d in single]
    # batches search neighbours with BLAS, single queries with einsum: float32 rounding differs
    np.testing.assert_allclose([d.complexity for d in batch], [d.complexity for d in single],
                               atol=1e-5)
    for d in batch:
        assert set(d.scores) == {"haiku", "sonnet", "opus"}
        assert abs(sum(d.scores.values()) - 1.0) < 1e-6
        # P(tier is enough): the running sum of the need distribution, 1 at the top
        ok = d.success
        assert ok is not None and list(ok) == ["haiku", "sonnet", "opus"]
        assert ok["haiku"] == pytest.approx(d.scores["haiku"])
        assert ok["haiku"] <= ok["sonnet"] <= ok["opus"] == 1.0


def test_wrong_format_version_is_rejected_clearly(trained, tmp_path):
    _, path = trained
    art = load_artifact(path)
    import io

    meta = dict(art.meta, format_version=999)
    blob = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, __meta__=blob, **art.arrays)
    bad = tmp_path / "old.npz"
    bad.write_bytes(buf.getvalue())
    with pytest.raises(ArtifactError, match=r"format version 999.*retrain"):
        load_artifact(bad)
    with pytest.raises(ArtifactError, match="not found"):
        load_artifact(tmp_path / "missing.npz")


def test_factory_maps_three_tier_artifact_onto_two_tier_ladder(trained):
    _, path = trained
    cfg = _cfg(2, path)
    router = build_policy(cfg, "learned")
    items = make_items(60, seed=9)
    decisions = router.route_many([ChatRequest.from_prompt(it["prompt"]) for it in items])
    assert {d.tier for d in decisions} == {"haiku", "sonnet"}
    for d in decisions:
        assert set(d.scores) == {"haiku", "sonnet"}
        assert abs(sum(d.scores.values()) - 1.0) < 1e-6
    hard = [d.tier for d, it in zip(decisions, items) if int(it["id"][1:]) % 3 == 2]
    assert hard.count("sonnet") > len(hard) / 2


def test_factory_uses_artifact_thresholds_only_when_config_has_none(trained, tmp_path):
    pred, _ = trained
    art = pred.to_artifact()
    art.meta["thresholds"] = [0.05, 0.1]
    path = art.save(tmp_path / "th.npz")
    assert build_learned_router(_cfg(3, path), TierLadder.from_config(_cfg(3, path)),
                                "learned").ladder.thresholds == (0.05, 0.1)
    cfg = _cfg(3, path, "  thresholds: [0.4, 0.8]\n")
    assert build_learned_router(cfg, TierLadder.from_config(cfg), "mf").ladder.thresholds == (
        0.4, 0.8)


def test_missing_component_is_a_clear_error(trained, tmp_path):
    pred, _ = trained
    art = pred.to_artifact()
    art.arrays = {k: v for k, v in art.arrays.items() if not k.startswith("mf/")}
    art.meta["ensemble_weights"] = {}
    path = art.save(tmp_path / "nomf.npz")
    cfg = _cfg(3, path)
    with pytest.raises(ArtifactError, match="no 'mf' router"):
        build_learned_router(cfg, TierLadder.from_config(cfg), "mf")


@pytest.mark.skipif(not BUILTIN_PATH.is_file(), reason="default router artifact not built yet")
def test_shipped_default_routes_from_the_cli():
    out = subprocess.run(
        [sys.executable, "-m", "tierwise.cli", "route", "--router", "learned", "--json",
         "Prove that the square root of 2 is irrational."],
        capture_output=True, text=True, timeout=60, check=True,
    )
    d = json.loads(out.stdout)
    assert d["router"] == "learned" and d["tier"] in ("haiku", "sonnet", "opus")
    assert 0.0 <= d["complexity"] <= 1.0
    assert abs(sum(d["scores"].values()) - 1.0) < 1e-4
    assert d["success"]["opus"] == 1.0 and d["success"]["haiku"] <= d["success"]["sonnet"]


def test_ordinal_nonneg_constraint_blocks_a_negative_length_effect():
    """A training set where the 'length' column ranks prompts backwards: unconstrained, the
    classifier learns a negative weight; with the column in `nonneg` the weight stays >= 0."""
    from tierwise.routing.learned.models import OrdinalLogistic

    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 3))
    hard = (x[:, 1] - x[:, 0] + 0.3 * rng.normal(size=400)) > 0  # column 0 = "longer is easier"
    need = np.stack([~hard, np.zeros(400, bool), hard], axis=1).astype(float)
    w = np.ones(400)
    free = OrdinalLogistic.fit(x, need, w, l2=1.0)
    held = OrdinalLogistic.fit(x, need, w, l2=1.0, nonneg=[0])
    assert free.coef[0] < -0.5
    assert held.coef[0] >= 0.0 and held.coef[1] > 0.5
