"""Cheap, hand-made prompt features that sit next to the embedding in every learned router.

Why: prompt length alone is a strong routing baseline, and a mean-pooled embedding hides length
and surface form (code, maths, multiple-choice options). These features put them back, at a few
microseconds per prompt. They reuse the heuristic router's signals so both policies read the
request the same way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from tierwise.config import HeuristicConfig
from tierwise.routing.heuristic import _window, extract_signals
from tierwise.types import ChatRequest

# Signals of the heuristic router used as features (bias/depth/tools are constant in the
# single-turn training data, so a model could not learn a weight for them).
SIGNALS = (
    "length",
    "reasoning",
    "code",
    "math",
    "questions",
    "multi_step",
    "long_output",
    "simple",
)
FEATURE_NAMES = (
    "log_tokens",
    *(f"sig_{s}" for s in SIGNALS),
    "log_lines",
    "digit_frac",
    "symbol_frac",
    "upper_frac",
    "options",
    "latex",
    "qmark_end",
)

_OPTION_RE = re.compile(r"^\s*\(?[A-J][).:]\s", re.MULTILINE)
_LATEX_RE = re.compile(r"\\[a-z]+|\$")
_HEURISTIC = HeuristicConfig()


def request_text(request: ChatRequest) -> str:
    """The text a learned router reads: the last user turn (what the training prompts were)."""
    return request.last_user_text()


def cheap_features(request: ChatRequest) -> list[float]:
    """One row of FEATURE_NAMES for a request; bounded cost whatever the prompt length."""
    text = request_text(request)
    sig = extract_signals(request, _HEURISTIC).values
    window = _window(text)
    n = max(len(window), 1)
    digits = sum(c.isdigit() for c in window)
    upper = sum(c.isupper() for c in window)
    alnum_space = sum(c.isalnum() or c.isspace() for c in window)
    stripped = text.rstrip()
    return [
        math.log1p(len(text) / 4.0),
        *(sig[s] for s in SIGNALS),
        math.log1p(window.count("\n")),
        digits / n,
        (n - alnum_space) / n,
        upper / n,
        min(len(_OPTION_RE.findall(window)) / 4.0, 2.5),
        min(len(_LATEX_RE.findall(window)) / 5.0, 2.0),
        1.0 if stripped.endswith("?") else 0.0,
    ]


def feature_matrix(requests: Sequence[ChatRequest]) -> np.ndarray:
    """(n, len(FEATURE_NAMES)) float32 for a batch of requests."""
    rows = [cheap_features(r) for r in requests]
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), len(FEATURE_NAMES))


def prompt_requests(prompts: Sequence[str]) -> list[ChatRequest]:
    """Single-turn requests for training prompts."""
    return [ChatRequest.from_prompt(p) for p in prompts]
