"""`tierwise eval` end to end on dataset folders written here (and one real shared set)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from tierwise.cli import main

CRUX = Path(__file__).resolve().parents[2] / "shared" / "data" / "zeroeval-crux"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_dataset(folder: Path, tiers: list[str], n: int = 120, seed: int = 0) -> Path:
    """Prompts of rising length; the longer the prompt, the more only stronger models solve it.

    The `length` router reads prompt length, so on this data it must beat random mixing.
    """
    rng = np.random.default_rng(seed)
    models = {"m-small": (0.25, 1.25), "m-mid": (3.0, 15.0), "m-big": (15.0, 75.0),
              "m-unpriced": (None, None)}
    skill = {"m-small": 0.35, "m-mid": 0.7, "m-big": 0.95, "m-unpriced": 0.5}
    folder.mkdir(parents=True)
    meta = {
        "name": folder.name, "score_kind": "correct", "tiers": tiers, "n_items": n,
        "models": {k: {"price_in": p, "price_out": q, "tier_hint": None}
                   for k, (p, q) in models.items()},
    }
    (folder / "meta.json").write_bytes(orjson.dumps(meta))
    lines = []
    for i in range(n):
        hardness = (i + 0.5) / n
        words = int(5 * 2 ** (8 * hardness))
        prompt = " ".join(["word"] * words) + f" item {i}?"
        flip = rng.random() < 0.05
        scores = {m: float((hardness < s) != flip) for m, s in skill.items()}
        lines.append(orjson.dumps({
            "id": f"q{i}", "prompt": prompt, "scores": scores,
            # Equal token counts: cost does not follow difficulty, so routing pays off.
            "output_tokens": dict.fromkeys(models, 50), "prompt_tokens": 100,
        }))
    (folder / "items.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return folder


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict]]:
    rc = main(["eval", *args, "--json"])
    out = capsys.readouterr().out
    return rc, [orjson.loads(line) for line in out.splitlines() if line.strip()]


def test_folder_of_datasets_json_and_plots(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "data"
    write_dataset(root / "two", ["m-small", "m-big"])
    write_dataset(root / "three", ["m-small", "m-mid", "m-big"])
    plot = tmp_path / "plot.png"
    rc, results = run_json(capsys, "--data", str(root), "--router", "length",
                           "--plot", str(plot))
    assert rc == 0
    by_name = {r["dataset"]: r for r in results}
    assert set(by_name) == {"two", "three"}
    for name, r in by_name.items():
        png = Path(r["plot"])
        assert png.name == f"plot-{name}.png"
        assert png.read_bytes()[:8] == PNG_MAGIC
        assert r["router"] == "length" and r["n_items"] == 120
        f = r["frontier"]
        assert f["random"]["cost_at_95"] is not None
        assert 0.0 < f["position"] <= 1.0  # length tracks difficulty here
        assert f["oracle"]["cost_at_95"] <= f["router"]["cost_at_95"]
        assert f["router"]["cost_at_95"] < f["random"]["cost_at_95"]
    two = by_name["two"]["two_tier"]
    assert two["random"]["apgr"] == 0.5
    assert 0.5 < two["router"]["apgr"] <= two["oracle"]["apgr"]
    assert 0.0 <= two["router"]["cpt50"] <= two["router"]["cpt80"] <= 1.0
    assert 0.0 < two["router"]["savings_at_95"] < 1.0
    three = by_name["three"]["two_tier"]  # between the cheapest and the strongest tier
    assert three["tier_indexes"] == [0, 2]
    assert 0.5 < three["router"]["apgr"] <= three["oracle"]["apgr"]
    assert by_name["three"]["tiers"] == ["m-small", "m-mid", "m-big"]


def test_tiers_option_and_human_tables(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_dataset(tmp_path / "set", ["m-small", "m-mid", "m-big"])
    rc = main(["eval", "--data", str(folder), "--router", "random", "--tiers", "m-small,m-big"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "tiers: m-small < m-big" in out
    assert "Two tiers (RouteLLM" in out and "Cost-quality frontier (2 tiers)" in out
    two_tier = out[out.index("Two tiers (RouteLLM"):]
    random_row = next(line for line in two_tier.splitlines() if line.startswith("random "))
    assert random_row.split()[1:4] == ["0.500", "0.500", "0.500"]


def test_constant_signal_router_reads_as_random(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    # `manual` gives every prompt the same complexity: fair ties make it exactly random.
    folder = write_dataset(tmp_path / "set", ["m-small", "m-big"])
    rc, (r,) = run_json(capsys, "--data", str(folder), "--router", "manual")
    assert rc == 0
    assert r["two_tier"]["router"]["apgr"] == pytest.approx(0.5)
    assert r["frontier"]["position"] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "{tmp}/nope"], "no such folder"),
        (["--data", "{tmp}"], "no dataset found"),
        (["--data", "{set}", "--tiers", "m-small,m-huge"],
         "no model 'm-huge'; models: m-small, m-mid, m-big, m-unpriced"),
        (["--data", "{set}", "--tiers", "m-small,m-unpriced"], "no price for m-unpriced"),
        (["--data", "{set}", "--tiers", "m-small"], "at least 2"),
        (["--data", "{set}", "--router", "nonsense"], "unknown router 'nonsense'"),
        (["--data", "{set}", "--plot", "{tmp}/out.jpg"], "expected a .png"),
    ],
)
def test_bad_input_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               args: list[str], message: str) -> None:
    folder = write_dataset(tmp_path / "sets" / "set", ["m-small", "m-big"], n=10)
    empty = tmp_path / "empty"
    empty.mkdir()
    filled = [a.format(tmp=empty, set=folder) for a in args]
    assert main(["eval", *filled]) == 2
    err = capsys.readouterr().err
    assert message in err


@pytest.mark.skipif(not CRUX.is_dir(), reason=f"shared dataset {CRUX} not present")
def test_real_dataset_heuristic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plot = tmp_path / "crux.png"
    rc = main(["eval", "--data", str(CRUX), "--router", "heuristic", "--plot", str(plot)])
    out = capsys.readouterr().out
    assert rc == 0
    assert plot.read_bytes()[:8] == PNG_MAGIC
    assert "claude-3-haiku-20240307 < claude-3-sonnet-20240229 < claude-3-opus-20240229" in out
    assert "Cost-quality frontier (3 tiers)" in out
    oracle_row = next(line for line in out.splitlines() if line.startswith("oracle "))
    assert "1.00" in oracle_row
