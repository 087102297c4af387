"""Deterministic fake model output and the mock's token-count approximation.

The mock has to be boringly predictable: the same (model, prompt) must always
produce the same answer so tests, benchmarks and cached-response checks can
compare runs byte for byte. Nothing here touches a tokenizer; token counts use
a documented approximation (``ceil(chars / 4)``) because the mock sits in
throughput benchmarks and must not spend time on real tokenization.

An answer is a tuple of *pieces*; every piece counts as exactly one output
token, which makes ``max_tokens`` truncation exact and easy to reason about.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

CHARS_PER_TOKEN = 4
"""The approximation used for every input-token and tool-argument count."""

_WORDS: tuple[str, ...] = (
    "amber", "basalt", "cedar", "delta", "ember", "fjord", "granite", "harbor",
    "indigo", "juniper", "kelp", "lagoon", "meadow", "nectar", "obsidian", "pebble",
    "quartz", "river", "saffron", "tundra", "umber", "valley", "willow", "xenon",
    "yarrow", "zephyr", "aurora", "breeze", "canyon", "dune", "estuary", "forest",
    "glacier", "heron", "island", "jasper", "kestrel", "lichen", "marsh", "nimbus",
    "orchid", "prairie", "quill", "reef", "sierra", "thistle", "upland", "vapor",
    "wren", "yonder", "zinnia", "alder", "bramble", "coral", "drift", "egret",
    "fern", "grove", "hollow", "iris", "jade", "knoll", "lark", "moss",
)  # fmt: skip

_TOOL_TRIGGER = re.compile(r"use the tool|\bcall\b", re.IGNORECASE)


def count_tokens(text: str) -> int:
    """Approximate token count: ``ceil(len(text) / 4)``, at least 1 for non-empty text."""
    return -(-len(text) // CHARS_PER_TOKEN)


def answer_pieces(model: str, prompt: str, n_tokens: int) -> tuple[str, ...]:
    """Return the answer for (model, prompt) as ``n_tokens`` one-token pieces.

    The prefix ``"Mock answer from {model}:"`` makes answers easy to recognise in
    logs; the rest are words chosen by a BLAKE2b hash of model and prompt, so the
    text is stable across processes (unlike ``hash()``, which is salted).
    """
    key = hashlib.blake2b(prompt.encode(), digest_size=16).digest()
    return _pieces(model, key, n_tokens)


@lru_cache(maxsize=4096)
def _pieces(model: str, prompt_key: bytes, n_tokens: int) -> tuple[str, ...]:
    """Cached on a prompt digest, not the prompt: benchmarks replay prompts, and
    keeping thousands of long prompts alive as cache keys would hog memory."""
    prefix = ("Mock", " answer", " from", f" {model}:")
    n_words = max(0, n_tokens - len(prefix))
    words: list[str] = []
    block = 0
    while len(words) < n_words:
        digest = hashlib.blake2b(
            model.encode() + b"\x00" + prompt_key + block.to_bytes(4, "little"), digest_size=64
        ).digest()
        words.extend(" " + _WORDS[b & 63] for b in digest)
        block += 1
    return (prefix + tuple(words[:n_words]))[: max(n_tokens, 1)]


@dataclass(frozen=True, slots=True)
class Completion:
    """The text to return plus why generation stopped, in provider-neutral terms.

    ``stop`` is one of ``"end"``, ``"max_tokens"`` or ``"stop_sequence"``; each API
    module maps it to its own vocabulary (``end_turn``/``stop``, ...).
    """

    pieces: tuple[str, ...]
    stop: str
    stop_sequence: str | None

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def output_tokens(self) -> int:
        return len(self.pieces)


def complete(
    model: str,
    prompt: str,
    answer_tokens: int,
    max_tokens: int | None,
    stop_sequences: Sequence[str] | None,
) -> Completion:
    """Build the completion, honouring ``max_tokens`` and stop sequences.

    Like the real APIs, the matched stop sequence is not included in the text,
    and it only counts if it appears before ``max_tokens`` cuts the answer off.
    """
    limit = answer_tokens if max_tokens is None else min(answer_tokens, max_tokens)
    pieces = answer_pieces(model, prompt, answer_tokens)
    truncated = limit < len(pieces)
    pieces = pieces[:limit]
    if stop_sequences:
        text = "".join(pieces)
        best: tuple[int, str] | None = None
        for seq in stop_sequences:
            if seq:
                pos = text.find(seq)
                if pos >= 0 and (best is None or pos < best[0]):
                    best = (pos, seq)
        if best is not None:
            return Completion(_cut(pieces, best[0]), "stop_sequence", best[1])
    return Completion(pieces, "max_tokens" if truncated else "end", None)


def _cut(pieces: tuple[str, ...], pos: int) -> tuple[str, ...]:
    """Keep the text before character ``pos``; a partial piece still costs a token."""
    out: list[str] = []
    seen = 0
    for piece in pieces:
        if seen + len(piece) <= pos:
            out.append(piece)
            seen += len(piece)
            continue
        if pos > seen:
            out.append(piece[: pos - seen])
        break
    return tuple(out)


def wants_tool(prompt: str) -> bool:
    """The deterministic tool-use rule: the prompt says "use the tool" or "call"."""
    return _TOOL_TRIGGER.search(prompt) is not None


_TYPE_DEFAULTS: dict[str, Any] = {
    "string": "mock",
    "integer": 1,
    "number": 1.0,
    "boolean": True,
    "array": [],
    "object": {},
    "null": None,
}


def tool_input(schema: dict[str, Any] | None) -> dict[str, Any]:
    """Build a tool-call argument object with a plausible value for each required property."""
    if not isinstance(schema, dict):
        return {}
    props = schema.get("properties") or {}
    out: dict[str, Any] = {}
    for name in schema.get("required") or ():
        spec = props.get(name) or {}
        out[name] = _value_for(spec)
    return out


def _value_for(spec: dict[str, Any]) -> Any:
    if spec.get("enum"):
        return spec["enum"][0]
    if "const" in spec:
        return spec["const"]
    kind = spec.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" and spec.get("properties"):
        return tool_input(spec)
    value = _TYPE_DEFAULTS.get(kind, "mock")
    return (
        list(value)
        if isinstance(value, list)
        else dict(value)
        if isinstance(value, dict)
        else value
    )


def split_json(text: str, n_chunks: int) -> Iterable[str]:
    """Split a JSON string into roughly even fragments, as tool-argument streams arrive."""
    size = max(1, -(-len(text) // max(1, n_chunks)))
    for i in range(0, len(text), size):
        yield text[i : i + size]
