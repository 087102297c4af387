"""Find groups of training items whose labels contradict the tier order.

Why: a router learns "which prompts need the strong tier" from where the strong model succeeds and
the cheap one fails. When a whole group of items (an MMLU subject) has the strong model far
*below* the cheap one, that is a scoring artefact of the source, not a property of the prompts:
in RouteLLM's MMLU data gpt-4-1106-preview answers 4% of high-school mathematics correctly
(Mixtral 33%; one generated token, so an answer that starts with reasoning scores 0). Trained on,
it teaches "school maths needs only the cheap tier", exactly wrong for maths word problems.
Such groups are left out of training and named in the artifact's metadata.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class InvertedGroup:
    dataset: str
    group: str  # the item ids' shared prefix, e.g. "mmlu/high_school_mathematics"
    n: int
    cheap: float  # mean score of the cheapest tier model
    strong: float  # mean score of the strongest tier model
    z: float  # paired difference (strong - cheap) over its standard error

    def describe(self) -> str:
        return (f"{self.dataset}: {self.group} ({self.n} items; cheapest tier {self.cheap:.2f}, "
                f"strongest {self.strong:.2f})")


def id_group(item_id: str) -> str | None:
    """The group an item id names ("mmlu/<subject>/12" -> "mmlu/<subject>"); None if flat."""
    head, sep, _ = item_id.rpartition("/")
    return head if sep else None


def inverted_groups(
    dataset: str,
    ids: list[str],
    cheap: np.ndarray,
    strong: np.ndarray,
    margin: float = 0.15,
    min_items: int = 30,
    min_z: float = 3.0,
) -> list[InvertedGroup]:
    """Groups of >= `min_items` where the strongest tier scores `margin` below the cheapest,
    at least `min_z` standard errors of the paired difference below zero."""
    groups: dict[str, list[int]] = {}
    for i, item_id in enumerate(ids):
        g = id_group(item_id)
        if g is not None:
            groups.setdefault(g, []).append(i)
    found = []
    for g, rows in sorted(groups.items()):
        if len(rows) < min_items:
            continue
        diff = strong[rows] - cheap[rows]
        mean = float(diff.mean())
        se = float(diff.std(ddof=1)) / np.sqrt(len(rows)) if len(rows) > 1 else 0.0
        # identical differences (se 0) are the strongest evidence there is; clamped so the
        # artifact's JSON metadata stays standard (no -Infinity)
        z = max(mean / se, -99.0) if se > 0 else (-99.0 if mean < 0 else 0.0)
        if mean < -margin and z <= -min_z:
            found.append(InvertedGroup(dataset, g, len(rows), float(cheap[rows].mean()),
                                       float(strong[rows].mean()), float(z)))
    return found
