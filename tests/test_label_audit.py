"""Item groups whose strongest tier scores far below the cheapest are left out of training."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from tierwise.cli import main
from tierwise.eval.datasets import load_dataset
from tierwise.routing.learned.artifact import load_artifact
from tierwise.routing.learned.embed import load_embedder
from tierwise.routing.learned.label_audit import id_group, inverted_groups
from tierwise.routing.learned.train import Params, build_training_set, fit_predictor

sys.path.insert(0, str(Path(__file__).parent))
from learned_synth import write_dataset


def test_id_group_is_the_prefix_before_the_last_slash():
    assert id_group("mmlu/high_school_mathematics/12") == "mmlu/high_school_mathematics"
    assert id_group("mmlu-pro-72") is None


def _scores(n: int, cheap: float, strong: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.random(n) < cheap).astype(float), (rng.random(n) < strong).astype(float)


def test_only_a_large_clear_inversion_is_flagged():
    ids, cheap, strong = [], [], []
    for group, n, c, s in [("flip", 60, 0.8, 0.1), ("mild", 60, 0.6, 0.55),
                           ("tiny", 10, 0.9, 0.0), ("normal", 60, 0.4, 0.9)]:
        ids += [f"{group}/{i}" for i in range(n)]
        a, b = _scores(n, c, s, seed=len(ids))
        cheap.append(a)
        strong.append(b)
    ids += ["flat-1", "flat-2"]
    cheap.append(np.ones(2))
    strong.append(np.zeros(2))
    found = inverted_groups("d", ids, np.concatenate(cheap), np.concatenate(strong))
    assert [g.group for g in found] == ["flip"]
    g = found[0]
    assert g.n == 60 and g.strong < g.cheap - 0.5 and g.z < -3
    assert "d: flip (60 items" in g.describe()


def _dataset_with_inverted_group(folder: Path) -> Path:
    """The synthetic set, plus 40 items in group "bad/" where only the cheapest model is right."""
    write_dataset(folder, n=120, name="grouped")
    items = [json.loads(line) for line in (folder / "items.jsonl").read_text().splitlines()]
    for i, it in enumerate(items[:40]):
        it["id"] = f"bad/{i}"
        it["scores"].update({"cheap-m": 1.0, "mid-m": 0.0, "strong-m": 0.0})
    for i, it in enumerate(items[40:]):
        it["id"] = f"good/{i}"
    (folder / "items.jsonl").write_text("".join(json.dumps(it) + "\n" for it in items))
    return folder


def test_training_leaves_the_inverted_group_out_and_records_it(tmp_path):
    ds = load_dataset(_dataset_with_inverted_group(tmp_path / "grouped"))
    ts = build_training_set([ds], 3, load_embedder("static").embed)
    pred = fit_predictor(ts, None, ["knn"], Params(max_index=500))
    assert [g["group"] for g in pred.meta["excluded_groups"]] == ["bad"]
    assert len(pred.index.vectors) == 80  # the 40 "bad/" items are not neighbours
    kept = fit_predictor(ts, None, ["knn"], Params(max_index=500, drop_inverted=False))
    assert kept.meta["excluded_groups"] == [] and len(kept.index.vectors) == 120


def test_train_command_says_what_it_left_out(tmp_path, capsys):
    folder = _dataset_with_inverted_group(tmp_path / "data" / "grouped")
    out = tmp_path / "r.npz"
    rc = main(["train", "--data", str(folder), "--router", "knn", "--out", str(out),
               "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "left out of training" in text and "grouped: bad (40 items" in text
    assert load_artifact(out).meta["excluded_groups"][0]["n"] == 40


def test_a_dataset_that_is_all_one_inverted_group_is_a_clear_error(tmp_path, capsys):
    folder = _dataset_with_inverted_group(tmp_path / "data" / "grouped")
    items = [json.loads(line) for line in (folder / "items.jsonl").read_text().splitlines()]
    for i, it in enumerate(items):  # every item in one group, only the cheapest model right
        it["id"] = f"bad/{i}"
        it["scores"].update({"cheap-m": 1.0, "mid-m": 0.0, "strong-m": 0.0})
    (folder / "items.jsonl").write_text("".join(json.dumps(it) + "\n" for it in items))
    rc = main(["train", "--data", str(folder), "--router", "knn",
               "--out", str(tmp_path / "r.npz"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "left no training items" in err and "grouped: bad (" in err
    assert "drop_inverted" in err and not (tmp_path / "r.npz").exists()


def test_recorded_groups_are_plain_json(tmp_path):
    ds = load_dataset(_dataset_with_inverted_group(tmp_path / "grouped"))
    ts = build_training_set([ds], 3, load_embedder("static").embed)
    pred = fit_predictor(ts, None, ["knn"], Params(max_index=500))
    text = json.dumps(pred.meta["excluded_groups"], allow_nan=False)  # no -Infinity
    assert json.loads(text)[0]["z"] == -99.0  # every difference identical: clamped
