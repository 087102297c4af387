"""The ensemble's out-of-distribution fallback: prompts unlike the training data lean on length."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

from tierwise.config import load_config
from tierwise.routing.learned.artifact import load_artifact
from tierwise.routing.learned.embed import load_embedder
from tierwise.routing.learned.predictor import Predictor
from tierwise.routing.registry import build_router
from tierwise.types import ChatRequest

sys.path.insert(0, str(Path(__file__).parent))
from learned_synth import make_items, model_inputs, train_synthetic_ensemble
from test_routing_core import DESIGN_PROMPT

SHORT_CHAT = ("hi", "Thanks!", "What is the capital of France?")


@pytest.fixture(scope="module")
def embedder():
    return load_embedder("static")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, embedder):
    return train_synthetic_ensemble(
        tmp_path_factory.mktemp("data"), tmp_path_factory.mktemp("art"), embedder, mf_iter=30
    )


def test_shipped_default_sends_short_chat_to_the_cheapest_tier_and_design_higher():
    cfg = load_config(None, environ={})
    router = build_router(cfg, "learned")
    names = cfg.tier_names
    design = router.route(ChatRequest.from_prompt(DESIGN_PROMPT))
    for prompt in SHORT_CHAT:
        d = router.route(ChatRequest.from_prompt(prompt))
        assert d.tier == names[0], (prompt, d.reason)
        assert "far from training data" in d.reason
        assert design.complexity > d.complexity
    assert names.index(design.tier) > 0, design.reason
    assert "far from training data" not in design.reason


def test_training_stores_where_the_data_ends(trained):
    pred, _ = trained
    o = pred.ood
    assert o["sim_min"] <= o["sim_at"] < 1.0
    assert o["len_min"] <= o["len_at"]
    assert int(o["sim_k"]) == int(pred.knn["k"])


def test_unseen_in_distribution_prompts_rarely_trigger_the_fallback(trained, embedder):
    pred, _ = trained
    emb, feats = model_inputs(embedder, [it["prompt"] for it in make_items(150, seed=21)])
    detail = pred.predict_detail("ensemble", emb, feats)
    assert np.mean(detail.fallback > 0) < 0.1
    assert np.all(np.isfinite(detail.similarity))


def test_far_out_prompt_takes_the_length_prior_and_in_distribution_ones_do_not(
    trained, embedder
):
    pred, _ = trained
    emb, feats = model_inputs(embedder, ["hi", make_items(3, seed=4)[2]["prompt"]])
    detail = pred.predict_detail("ensemble", emb, feats)
    without = dataclasses.replace(pred, ood={}).predict_detail("ensemble", emb, feats)
    length_prior = pred._calibrated("length", feats[:, 0].astype(np.float64))
    assert detail.fallback[0] == 1.0  # shorter than any training prompt
    assert detail.complexity[0] == pytest.approx(length_prior[0])
    assert detail.fallback[1] == 0.0
    assert detail.complexity[1] == pytest.approx(without.complexity[1])
    assert without.fallback.tolist() == [0.0, 0.0]
    np.testing.assert_allclose(detail.need, without.need)  # only complexity moves


def test_fallback_survives_save_and_old_artifacts_route_without_it(trained, embedder):
    pred, path = trained
    art = load_artifact(path)
    loaded = Predictor.from_artifact(art)
    assert loaded.ood == pytest.approx(pred.ood)
    emb, feats = model_inputs(embedder, ["hi", "ok thanks"])
    np.testing.assert_allclose(
        loaded.predict("ensemble", emb, feats)[1], pred.predict("ensemble", emb, feats)[1]
    )
    del art.meta["ood"]  # an artifact written before the fallback existed
    old = Predictor.from_artifact(art)
    assert old.ood == {}
    assert old.predict_detail("ensemble", emb, feats).fallback.tolist() == [0.0, 0.0]
