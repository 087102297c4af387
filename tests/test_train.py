"""`tierwise train` end to end on a tiny synthetic dataset."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from tierwise.cli import main
from tierwise.routing.learned.artifact import load_artifact
from tierwise.routing.learned.embed import load_embedder
from tierwise.routing.learned.features import feature_matrix, prompt_requests
from tierwise.routing.learned.predictor import Predictor

sys.path.insert(0, str(Path(__file__).parent))
from learned_synth import make_items, write_dataset


def test_train_command_writes_a_loadable_two_tier_artifact(tmp_path, capsys):
    a = write_dataset(tmp_path / "data" / "a", n=150, seed=1, name="a")
    write_dataset(tmp_path / "data" / "b", n=90, seed=2, name="b")
    out = tmp_path / "r.npz"
    rc = main(["train", "--data", str(a.parent), "--router", "classifier", "--out", str(out),
               "--tiers", "small,large", "--map", "b=cheap-m,strong-m", "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "validation APGR" in text and "wrote" in text
    art = load_artifact(out)
    assert art.meta["tiers"] == ["small", "large"]
    assert {d["name"] for d in art.meta["datasets"]} == {"a", "b"}
    assert art.meta["datasets"][1]["tier_models"] == ["cheap-m", "strong-m"]
    assert out.stat().st_size < 1_000_000
    pred = Predictor.from_artifact(art)
    items = make_items(60, seed=4)
    prompts = [it["prompt"] for it in items]
    emb = load_embedder("static").embed(prompts)
    c = pred.predict("classifier", emb, feature_matrix(prompt_requests(prompts)))[1]
    level = np.arange(60) % 3
    assert c[level == 2].mean() > c[level == 0].mean()


def test_train_rejects_unknown_mapped_model(tmp_path, capsys):
    a = write_dataset(tmp_path / "a", n=30, name="a")
    rc = main(["train", "--data", str(a), "--out", str(tmp_path / "x.npz"),
               "--map", "a=nope,strong-m", "--no-progress"])
    assert rc == 2
    assert "no model 'nope'" in capsys.readouterr().err
