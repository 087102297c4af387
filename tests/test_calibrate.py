"""Calibration math, drift tracking and the `tierwise calibrate` command."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tierwise.cli import main
from tierwise.routing.calibrate import (
    CalibrationError,
    best_tradeoff,
    mix_for_thresholds,
    parse_mix,
    thresholds_for_mix,
)
from tierwise.routing.mix import MixTracker

sys.path.insert(0, str(Path(__file__).parent))
from learned_synth import make_items, write_dataset

CONFIG = """\
tiers:
  - {name: haiku, model: m-h, price_in: 1, price_out: 5}
  - {name: sonnet, model: m-s, price_in: 3, price_out: 15}
  - {name: opus, model: m-o, price_in: 5, price_out: 25}
routing:
  policy: heuristic
"""


def test_thresholds_hit_target_mix_on_continuous_scores():
    c = np.random.default_rng(0).beta(2, 5, size=400)
    for target in ([0.3, 0.5, 0.2], [0.6, 0.3, 0.1], [0.0, 0.5, 0.5], [1.0, 0.0, 0.0]):
        th = thresholds_for_mix(c, target)
        assert th == sorted(th) and all(0 <= t <= 1 for t in th)
        got = mix_for_thresholds(c, th)
        assert np.allclose(got, target, atol=0.02), (target, got)


def test_parse_mix_normalises_and_names_bad_tiers():
    assert parse_mix("haiku=3,opus=1", ["haiku", "sonnet", "opus"]) == [0.75, 0.0, 0.25]
    with pytest.raises(CalibrationError, match="'gpt' is not in the config"):
        parse_mix("gpt=1", ["haiku", "opus"])
    with pytest.raises(CalibrationError, match="TIER=SHARE"):
        parse_mix("haiku", ["haiku", "opus"])


def test_quality_floor_picks_the_cheapest_setting_that_meets_it():
    rng = np.random.default_rng(1)
    c = rng.random(500)
    # the cheap tier fails exactly on the most complex 40%
    scores = np.stack([(c < 0.6).astype(float), np.ones(500)], axis=1)
    costs = np.tile([1.0, 10.0], (500, 1))
    best = best_tradeoff(c, scores, costs, quality_floor=0.99)
    assert best.quality_ratio >= 0.99
    assert best.mix[1] == pytest.approx(0.4, abs=0.03)  # no more strong calls than needed
    capped = best_tradeoff(c, scores, costs, max_cost_ratio=0.5)
    assert capped.cost_ratio <= 0.5


def test_mix_tracker_reports_drift():
    t = MixTracker(["haiku", "sonnet", "opus"], [0.5, 0.3, 0.2])
    for tier in ["haiku"] * 8 + ["opus"] * 2:
        t.observe(tier)
    d = t.drift()
    assert d["total"] == 10
    assert d["tiers"]["haiku"]["delta"] == pytest.approx(0.3)
    assert d["tiers"]["sonnet"]["actual"] == 0.0
    assert d["max_abs_delta"] == pytest.approx(0.3)


def _classifier_artifact(tmp_path: Path) -> Path:
    from tierwise.eval.datasets import load_dataset
    from tierwise.routing.learned.embed import load_embedder
    from tierwise.routing.learned.train import build_training_set, fit_predictor

    ds = load_dataset(write_dataset(tmp_path / "train", n=150))
    ts = build_training_set([ds], 3, load_embedder("static").embed)
    pred = fit_predictor(ts, None, ["classifier"], tiers=["a", "b", "c"])
    return pred.to_artifact().save(tmp_path / "clf.npz")


def test_calibrate_command_reaches_mix_and_writes_config(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    art = _classifier_artifact(tmp_path)
    cfg.write_text(CONFIG + f"  learned: {{artifact: '{art}'}}\n")
    prompts = tmp_path / "p.jsonl"
    with prompts.open("w") as fh:
        for it in make_items(300, seed=2):
            fh.write(json.dumps({"prompt": it["prompt"]}) + "\n")
    rc = main(["calibrate", "--config", str(cfg), "--prompts", str(prompts), "--router", "classifier",
               "--target", "haiku=0.3,sonnet=0.5,opus=0.2", "--write", str(cfg)])
    out = capsys.readouterr().out
    assert rc == 0, out
    written = yaml.safe_load(cfg.read_text())
    th = written["routing"]["thresholds"]
    assert len(th) == 2 and th[0] <= th[1]
    assert written["routing"]["policy"] == "heuristic"  # the rest is kept
    assert written["routing"]["target_mix"] == {"haiku": 0.3, "sonnet": 0.5, "opus": 0.2}
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line[:1].isalpha()}
    achieved = [float(rows[t][2].rstrip("%")) / 100 for t in ("haiku", "sonnet", "opus")]
    assert np.allclose(achieved, [0.3, 0.5, 0.2], atol=0.02), out


def test_write_keeps_comments_layout_and_everything_else(tmp_path):
    from tierwise.commands.calibrate import write_thresholds
    from tierwise.default_config import DEFAULT_CONFIG_YAML

    cfg = tmp_path / "c.yaml"
    original = DEFAULT_CONFIG_YAML.replace(
        "routing:\n", "routing:  # my routing notes\n  thresholds: [0.5, 0.9]  # old cuts\n", 1)
    cfg.write_text(original)
    write_thresholds(str(cfg), [0.25, 0.75], {"haiku": 0.3, "sonnet": 0.5, "opus": 0.2})
    text = cfg.read_text()
    changed = [(a, b) for a, b in zip(original.splitlines(), text.splitlines()) if a != b]
    assert len(changed) == 1 and changed[0][0] == "  thresholds: [0.5, 0.9]  # old cuts"
    assert changed[0][1].split() == ["thresholds:", "[0.25,", "0.75]", "#", "old", "cuts"]
    assert text.splitlines()[len(original.splitlines()):] == [
        "  target_mix: {haiku: 0.3, sonnet: 0.5, opus: 0.2}"]
    assert "# tierwise configuration" in text and "# my routing notes" in text


def test_write_refuses_an_invalid_result_and_leaves_the_file_alone(tmp_path):
    from tierwise.commands.calibrate import write_thresholds

    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG)
    with pytest.raises(ValueError, match="would be invalid"):
        write_thresholds(str(cfg), [0.9, 0.1])  # decreasing cut points
    assert cfg.read_text() == CONFIG
    assert [p.name for p in tmp_path.iterdir()] == ["c.yaml"]  # no temp file left behind
    with pytest.raises(ValueError, match="no such file"):
        write_thresholds(str(tmp_path / "missing.yaml"), [0.3, 0.6])


def test_write_follows_symlinks_and_keeps_crlf_and_four_space_indents(tmp_path):
    from tierwise.commands.calibrate import write_thresholds

    four = (
        "# four-space layout\n"
        "tiers:\n"
        "    - name: haiku\n"
        "      model: m-h\n"
        "      price_in: 1\n"
        "      price_out: 5\n"
        "    - {name: opus, model: m-o, price_in: 5, price_out: 25}\n"
        "routing:\n"
        "    policy: heuristic   # keep\n"
        "    heuristic:\n"
        "        weights: {length: 1.5}\n"
    )
    real = tmp_path / "real.yaml"
    real.write_bytes(four.replace("\n", "\r\n").encode())
    link = tmp_path / "c.yaml"
    link.symlink_to(real)
    write_thresholds(str(link), [0.4])
    assert link.is_symlink()  # the link still points at the file that was updated
    raw = real.read_bytes()
    assert b"\r\n" in raw and raw.count(b"\n") == raw.count(b"\r\n")
    old, new = four.splitlines(), raw.decode().split("\r\n")
    assert new[: len(old)] == old  # nothing above the new key moved: 4-space layout kept
    assert new[len(old)] == "    thresholds: [0.4]"


def test_a_failed_replace_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    import os

    from tierwise.commands.calibrate import write_thresholds

    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG)

    def broken(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_thresholds(str(cfg), [0.3, 0.6])
    assert cfg.read_text() == CONFIG
    assert [p.name for p in tmp_path.iterdir()] == ["c.yaml"]


def test_a_missing_prompts_file_is_named(tmp_path, capsys):
    rc = main(["calibrate", "--prompts", str(tmp_path / "none.jsonl"), "--target", "haiku=1"])
    assert rc == 2
    assert "none.jsonl: no such file" in capsys.readouterr().err


def test_calibrate_quality_floor_from_labelled_data(tmp_path, capsys):
    data = write_dataset(tmp_path / "synth", n=150)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG)
    rc = main(["calibrate", "--config", str(cfg), "--data", str(data), "--router", "heuristic",
               "--quality-floor", "0.9"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "of the strongest tier" in out
    ratio = float(out.split("quality ")[1].split("%")[0])
    assert ratio >= 90.0
