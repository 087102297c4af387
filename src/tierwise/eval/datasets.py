"""Load routing datasets in the `../shared/data` format into arrays.

A dataset folder has `meta.json` (models, prices, tiers, score kind) and `items.jsonl` (one
prompt per line with per-model scores and output token counts). Scores are normalised to
[0, 1] (judge10 → (s - 1) / 9) so every metric reads the same on every set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson


class DatasetError(ValueError):
    pass


@dataclass(slots=True)
class Dataset:
    name: str
    score_kind: str
    ids: list[str]
    prompts: list[str]
    models: list[str]  # every model with a score
    tiers: list[str]  # suggested model ids, cheapest first
    scores: np.ndarray  # (n_items, n_models), normalised to [0, 1]
    output_tokens: np.ndarray  # (n_items, n_models)
    prompt_tokens: np.ndarray  # (n_items,)
    price_in: np.ndarray  # (n_models,) USD per 1M tokens, NaN when unknown
    price_out: np.ndarray  # (n_models,)

    def __len__(self) -> int:
        return len(self.ids)

    def model_index(self, model: str) -> int:
        try:
            return self.models.index(model)
        except ValueError:
            raise DatasetError(
                f"{self.name}: no model {model!r}; models: {', '.join(self.models)}"
            ) from None

    def costs(self) -> np.ndarray:
        """USD per item per model (n_items, n_models); NaN for models without a price."""
        return (
            self.prompt_tokens[:, None] * self.price_in[None, :]
            + self.output_tokens * self.price_out[None, :]
        ) / 1e6

    def subset(self, index: np.ndarray | list[int]) -> Dataset:
        idx = np.asarray(index)
        return Dataset(
            name=self.name,
            score_kind=self.score_kind,
            ids=[self.ids[i] for i in idx],
            prompts=[self.prompts[i] for i in idx],
            models=self.models,
            tiers=self.tiers,
            scores=self.scores[idx],
            output_tokens=self.output_tokens[idx],
            prompt_tokens=self.prompt_tokens[idx],
            price_in=self.price_in,
            price_out=self.price_out,
        )


def _normalise(scores: np.ndarray, kind: str) -> np.ndarray:
    if kind == "judge10":
        return np.clip((scores - 1.0) / 9.0, 0.0, 1.0)
    return scores.astype(np.float64)


def load_dataset(path: str | Path) -> Dataset:
    """Read one dataset folder; errors name the file and line that is wrong."""
    folder = Path(path)
    meta_path, items_path = folder / "meta.json", folder / "items.jsonl"
    for p in (meta_path, items_path):
        if not p.is_file():
            raise DatasetError(f"{p}: not found; a dataset folder needs meta.json and items.jsonl")
    try:
        meta: dict[str, Any] = orjson.loads(meta_path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise DatasetError(f"{meta_path}: not valid JSON ({exc})") from None
    models_meta = meta.get("models")
    if not isinstance(models_meta, dict) or not models_meta:
        raise DatasetError(f"{meta_path}: 'models' must be a non-empty mapping")
    models = list(models_meta)
    tiers = list(meta.get("tiers") or [])
    kind = str(meta.get("score_kind", "correct"))

    ids: list[str] = []
    prompts: list[str] = []
    rows: list[list[float]] = []
    toks: list[list[int]] = []
    ptoks: list[int] = []
    with items_path.open("rb") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                item = orjson.loads(line)
                s, o = item["scores"], item.get("output_tokens", {})
                rows.append([float(s[m]) for m in models])
                toks.append([int(o.get(m, 0)) for m in models])
                ids.append(str(item["id"]))
                prompts.append(str(item["prompt"]))
                ptoks.append(int(item.get("prompt_tokens") or max(len(item["prompt"]) // 4, 1)))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise DatasetError(f"{items_path}:{number}: bad item ({exc!r})") from None
    if not ids:
        raise DatasetError(f"{items_path}: no items")

    def price(m: str, key: str) -> float:
        v = models_meta[m].get(key)
        return float(v) if v is not None else float("nan")

    return Dataset(
        name=str(meta.get("name", folder.name)),
        score_kind=kind,
        ids=ids,
        prompts=prompts,
        models=models,
        tiers=tiers or models[:2],
        scores=_normalise(np.asarray(rows, dtype=np.float64), kind),
        output_tokens=np.asarray(toks, dtype=np.float64),
        prompt_tokens=np.asarray(ptoks, dtype=np.float64),
        price_in=np.asarray([price(m, "price_in") for m in models]),
        price_out=np.asarray([price(m, "price_out") for m in models]),
    )


def find_datasets(root: str | Path) -> list[Path]:
    """Dataset folders directly under `root` (or `root` itself if it is one)."""
    root = Path(root)
    if (root / "meta.json").is_file():
        return [root]
    return sorted(p.parent for p in root.glob("*/meta.json"))
