"""Tiny synthetic routing datasets for the learned-router tests (no shared data needed)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

EASY = ["capital of {x}", "spell {x}", "translate {x} to French", "what colour is {x}"]
MID = ["summarise the history of {x} in three paragraphs with dates",
       "compare {x} and its neighbours, listing pros and cons of each one"]
HARD = ["prove that the {x} conjecture implies the integral of f over the manifold is bounded, "
        "derive every lemma step by step and analyse the asymptotic complexity",
        "design a distributed consensus algorithm for {x}, prove its safety theorem and "
        "optimise the concurrency of the implementation in detail"]
WORDS = ["france", "oak", "lemon", "river", "copper", "violin", "falcon", "glacier", "orbit",
         "saffron", "basalt", "cobalt", "tundra", "harbor", "meadow", "quartz"]
MODELS = ["cheap-m", "mid-m", "strong-m", "aux-a", "aux-b"]


def make_items(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    items = []
    for i in range(n):
        level = i % 3
        tpl = rng.choice([EASY, MID, HARD][level])
        prompt = tpl.format(x=rng.choice(WORDS)) + f" (#{rng.randint(0, 99)})"
        noisy = rng.random() < 0.1
        cheap = float(level == 0) if not noisy else float(rng.random() < 0.5)
        mid = float(level <= 1)
        items.append({
            "id": f"s{i}",
            "prompt": prompt,
            "scores": {"cheap-m": cheap, "mid-m": mid, "strong-m": 1.0,
                       "aux-a": float(level == 0), "aux-b": mid},
            "output_tokens": dict.fromkeys(MODELS, 20 + 30 * level),
            "prompt_tokens": len(prompt) // 4 + 1,
        })
    return items


def write_dataset(folder: Path, n: int = 240, seed: int = 0, name: str = "synth") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    prices = {"cheap-m": (0.25, 1.25), "mid-m": (3, 15), "strong-m": (15, 75),
              "aux-a": (None, None), "aux-b": (None, None)}
    meta = {
        "name": name, "description": "synthetic", "source": "tests", "license": "Apache-2.0",
        "score_kind": "correct", "tiers": ["cheap-m", "mid-m", "strong-m"], "n_items": n,
        "models": {m: {"price_in": pi, "price_out": po, "tier_hint": None}
                   for m, (pi, po) in prices.items()},
    }
    (folder / "meta.json").write_text(json.dumps(meta))
    with (folder / "items.jsonl").open("w") as fh:
        for it in make_items(n, seed):
            fh.write(json.dumps(it) + "\n")
    return folder


def train_synthetic_ensemble(
    data_dir: Path, art_dir: Path, embedder: Any, mf_iter: int = 60
) -> tuple[Any, Path]:
    """Train a small ensemble on a 240-item synthetic set; return (predictor, artifact path)."""
    from tierwise.eval.datasets import load_dataset
    from tierwise.routing.learned.train import Params, build_training_set, fit_predictor

    folder = write_dataset(data_dir / "synth", n=240)
    ts = build_training_set([load_dataset(folder)], 3, embedder.embed)
    params = Params(mf_iter=mf_iter, max_index=500, length_weight=0.5, fixed_effects=False)
    pred = fit_predictor(ts, None, ["ensemble"], params, ["cheap", "mid", "strong"])
    return pred, pred.to_artifact().save(art_dir / "r.npz")


def model_inputs(embedder: Any, prompts: list[str]) -> tuple[Any, Any]:
    """What a predictor takes for these prompts: embeddings and cheap features."""
    from tierwise.routing.learned.features import feature_matrix, prompt_requests

    return embedder.embed(prompts), feature_matrix(prompt_requests(prompts))
