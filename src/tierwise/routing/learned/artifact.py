"""Router artifacts on disk: one .npz of named arrays plus JSON metadata, no pickle.

The metadata (format version, tiers, embedder, training report, provenance) is stored inside the
same .npz as a UTF-8 byte array under ``__meta__``, so an artifact is a single file that numpy
loads with ``allow_pickle=False`` - loading never executes code from the file.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tierwise.routing.registry import UnknownRouterError

FORMAT = "tierwise-router"
FORMAT_VERSION = 1
META_KEY = "__meta__"
#: The router shipped in the package, used when `routing.learned.artifact` is "builtin".
BUILTIN_PATH = Path(__file__).resolve().parents[2] / "data" / "routers" / "default.npz"


class ArtifactError(UnknownRouterError):
    """An artifact file is missing, unreadable, or from an incompatible format version.

    A kind of "this router cannot be used": subclassing the registry's error lets every command
    that builds routers (route, score, eval, serve) report it as a one-line message.
    """

    def __init__(self, message: str) -> None:
        ValueError.__init__(self, message)


@dataclass
class Artifact:
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, **self.meta}
        blob = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
        buf = io.BytesIO()
        np.savez_compressed(buf, **{META_KEY: blob}, **self.arrays)
        path.write_bytes(buf.getvalue())
        return path

    def section(self, prefix: str) -> dict[str, np.ndarray]:
        """Arrays stored under `prefix/`, with the prefix stripped."""
        p = prefix + "/"
        return {k[len(p) :]: v for k, v in self.arrays.items() if k.startswith(p)}


def load_artifact(path: str | Path) -> Artifact:
    """Read an artifact; errors say which file, what is wrong and what to do."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(
            f"{path}: router artifact not found; train one with `tierwise train` "
            "or set routing.learned.artifact to 'builtin'"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path}: not a tierwise router artifact (.npz): {exc}") from None
    blob = arrays.pop(META_KEY, None)
    if blob is None:
        raise ArtifactError(f"{path}: no {META_KEY} entry; not a tierwise router artifact")
    try:
        meta = json.loads(blob.tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: unreadable metadata ({exc})") from None
    if meta.get("format") != FORMAT:
        raise ArtifactError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise ArtifactError(
            f"{path}: artifact format version {version}, but this tierwise reads version "
            f"{FORMAT_VERSION}; retrain it with `tierwise train` from this version"
        )
    return Artifact(meta=meta, arrays=arrays)
