"""`tierwise train`: fit a learned router on benchmark datasets and save it as an artifact.

    tierwise train --data ../shared/data --router ensemble --out my-router.npz

Dataset models map to the router's tiers by order (cheapest -> strongest, from each dataset's
meta.json `tiers`, or `--map DATASET=m1,m2,m3`); a 2-tier dataset fills the first and last tier.
A per-dataset validation split is scored and printed, then the router is refit on all items.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from tierwise.commands.common import fail

ROUTERS = ("classifier", "mf", "knn", "sw", "ensemble")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", nargs="+", required=True, metavar="DIR",
                        help="dataset folders, or folders holding several")
    parser.add_argument("--router", default="ensemble", choices=ROUTERS,
                        help="which learned router to train (default: ensemble)")
    parser.add_argument("--out", required=True, metavar="PATH", help="artifact to write (.npz)")
    parser.add_argument("--tiers", default="cheap,mid,strong",
                        help="names of the router's tiers, cheapest first (default 3 tiers)")
    parser.add_argument("--map", action="append", default=[], metavar="DATASET=M1,M2[,M3]",
                        help="tier models of one dataset, cheapest first (overrides meta.json)")
    parser.add_argument("--val", type=float, default=0.2,
                        help="validation share for the printed report (default 0.2; 0 to skip)")
    parser.add_argument("--seed", type=int, default=0, help="split and model seed (default 0)")
    parser.add_argument("--embedder", default="static", choices=("static", "minilm"))
    parser.add_argument("--params", default="{}", metavar="JSON",
                        help="overrides of training parameters (see routing/learned/train.py)")
    parser.add_argument("--no-refit", action="store_true",
                        help="keep the model fitted on the training split only")
    parser.add_argument("--no-progress", action="store_true", help="never show a progress bar")


def _mapping(specs: list[str]) -> dict[str, list[str]]:
    out = {}
    for spec in specs:
        name, sep, models = spec.partition("=")
        if not sep or not models:
            raise ValueError(f"--map {spec!r}: expected DATASET=MODEL1,MODEL2[,...]")
        out[name.strip()] = [m.strip() for m in models.split(",") if m.strip()]
    return out


def _dataset_meta(path: Path) -> dict[str, Any]:
    meta = json.loads((path / "meta.json").read_text())
    return {k: meta.get(k) for k in ("name", "source", "license", "n_items", "tiers")}


def run(args: argparse.Namespace) -> int:

    from tierwise.eval.datasets import DatasetError, find_datasets, load_dataset
    from tierwise.routing.learned.embed import STATIC_TABLE_PATH, load_embedder
    from tierwise.routing.learned.label_audit import InvertedGroup
    from tierwise.routing.learned.train import (
        Params,
        TrainingDataError,
        build_training_set,
        fit_predictor,
        split,
        validation_report,
    )

    tiers = [t.strip() for t in args.tiers.split(",") if t.strip()]
    if len(tiers) < 2:
        return fail(f"--tiers {args.tiers!r}: need at least 2 tier names")
    if not 0 <= args.val < 1:
        return fail(f"--val {args.val}: expected a share in [0, 1)")
    try:
        mapping = _mapping(args.map)
        params = Params(**json.loads(args.params))
    except (ValueError, TypeError) as exc:
        return fail(str(exc))
    folders = [p for d in args.data for p in find_datasets(d)]
    if not folders:
        return fail(f"--data {' '.join(args.data)}: no dataset folders (meta.json + items.jsonl)")

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    progress = Progress(TextColumn("{task.description:<28}"), BarColumn(), TimeElapsedColumn(),
                        console=console, disable=args.no_progress or not console.is_terminal)
    t0 = time.perf_counter()
    with progress:
        task = progress.add_task("loading datasets", total=100)
        try:
            datasets = [load_dataset(p) for p in folders]
        except DatasetError as exc:
            return fail(str(exc))
        for d in datasets:
            for m in mapping.get(d.name, []):
                try:
                    d.model_index(m)
                except DatasetError as exc:
                    return fail(f"--map: {exc}")
        progress.update(task, completed=5, description="embedding prompts")
        embedder = load_embedder(args.embedder)
        ts = build_training_set(datasets, len(tiers), embedder.embed, mapping, params.alpha)

        def say(msg: str, frac: float, lo: float = 20, hi: float = 60) -> None:
            progress.update(task, completed=lo + (hi - lo) * frac, description=msg)

        report = {}
        kinds = [args.router] if args.router != "ensemble" else ["ensemble", "classifier",
                                                                "mf", "knn", "sw"]
        try:
            if args.val > 0:
                tr, va = split(ts, args.val, args.seed)
                pred = fit_predictor(ts, tr, [args.router], params, tiers, progress=say)
                progress.update(task, description="validation report")
                report = validation_report(pred, ts, va, [k for k in kinds if k in pred.kinds()])
            if args.val == 0 or not args.no_refit:
                pred = fit_predictor(ts, None, [args.router], params, tiers,
                                     progress=lambda m, f: say(m, f, 60, 98))
        except TrainingDataError as exc:
            return fail(str(exc))
        progress.update(task, completed=100, description="done")

    info: dict[str, Any] = {"kind": args.embedder, "dim": int(ts.emb.shape[1])}
    if args.embedder == "static":
        sidecar = STATIC_TABLE_PATH.with_suffix(".json")
        if sidecar.is_file():
            info["table_sha256"] = json.loads(sidecar.read_text()).get("table_sha256")
    pred.embedder = info
    pred.meta.update({
        "router": args.router,
        "datasets": [
            {**_dataset_meta(f), "tier_models": tm, "tier_positions": pos, "items": len(d)}
            for f, d, tm, pos in zip(folders, datasets, ts.tier_models, ts.positions)
        ],
        "validation": {"share": args.val, "seed": args.seed, "apgr": report},
        "refit_on_all": args.val == 0 or not args.no_refit,
        "train_seconds": round(time.perf_counter() - t0, 1),
    })
    path = pred.to_artifact().save(args.out)
    _print_report(report, [k for k in kinds if k in pred.kinds()], ts, pred.kinds())
    for g in pred.meta.get("excluded_groups", []):
        print(f"left out of training (strongest tier far below the cheapest, a scoring artefact "
              f"of the source; --params '{{\"drop_inverted\": false}}' keeps it): "
              f"{InvertedGroup(**g).describe()}")
    size = path.stat().st_size / 1e6
    print(f"wrote {path} ({size:.1f} MB; routers: {', '.join(pred.kinds())}; "
          f"default: {pred.default_kind}; {time.perf_counter() - t0:.0f}s)")
    return 0


def _print_report(report: dict[str, dict[str, float]], kinds: list[str], ts: Any,
                  have: list[str]) -> None:
    if not report:
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="validation APGR (cheapest vs strongest tier; random = 0.5)")
    table.add_column("dataset")
    table.add_column("n", justify="right")
    for k in ("length", *kinds):
        table.add_column(k, justify="right")
    for name, row in report.items():
        table.add_row(name, f"{int(row['n'])}",
                      *(f"{row[k]:.3f}" for k in ("length", *kinds)))
    Console(file=sys.stdout).print(table)
