"""`tierwise eval --data DIR`: offline cost-quality evaluation of a router.

DIR is one dataset folder (meta.json + items.jsonl, see ../shared/data/README.md) or a folder
of several; each is evaluated in turn. Human tables by default, one JSON object per dataset
with --json, and a quality-against-cost PNG with --plot.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import orjson

from tierwise.commands.common import add_config_argument, fail, load_or_exit
from tierwise.routing.registry import UnknownRouterError, router_names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, metavar="DIR",
                        help="a dataset folder, or a folder of dataset folders")
    parser.add_argument("--router", metavar="NAME",
                        help=f"one of: {', '.join(router_names())} (default: the config's policy)")
    parser.add_argument("--tiers", metavar="A,B[,C]",
                        help="dataset model ids to use as tiers, cheapest first "
                             "(default: the dataset's meta.json 'tiers')")
    parser.add_argument("--plot", metavar="FILE.png",
                        help="write a quality-against-cost plot (one file per dataset when DIR "
                             "holds several: FILE-<dataset>.png)")
    parser.add_argument("--json", action="store_true", help="one JSON object per dataset")
    add_config_argument(parser)


def _plot_path(plot: str, dataset: str, several: bool) -> Path:
    p = Path(plot)
    if not several:
        return p
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", dataset)
    return p.with_name(f"{p.stem}-{safe}{p.suffix}")


def run(args: argparse.Namespace) -> int:
    from tierwise.eval.datasets import DatasetError, find_datasets, load_dataset
    from tierwise.eval.render import print_summary
    from tierwise.eval.runner import RouterBuildError, evaluate_dataset

    data = Path(args.data)
    if not data.is_dir():
        return fail(f"--data {args.data}: no such folder")
    folders = find_datasets(data)
    if not folders:
        return fail(f"--data {args.data}: no dataset found (a dataset folder holds meta.json "
                    "and items.jsonl; see ../shared/data/README.md)")
    tiers = [t.strip() for t in args.tiers.split(",") if t.strip()] if args.tiers else None
    if tiers is not None and len(tiers) < 2:
        return fail(f"--tiers {args.tiers!r}: name at least 2 model ids, cheapest first")
    if args.plot:
        plot = Path(args.plot)
        if plot.suffix.lower() != ".png":
            return fail(f"--plot {args.plot}: expected a .png file name")
        if not plot.parent.is_dir():
            return fail(f"--plot {args.plot}: folder {plot.parent} does not exist")
    cfg = load_or_exit(args.config)

    failed = 0
    for folder in folders:
        try:
            ds = load_dataset(folder)
            ev = evaluate_dataset(ds, cfg, args.router, tiers)
        except (UnknownRouterError, RouterBuildError) as exc:
            return fail(str(exc))
        except DatasetError as exc:
            fail(str(exc))
            failed += 1
            continue
        if args.plot:
            from tierwise.eval.plots import plot_evaluation

            out = _plot_path(args.plot, folder.name, len(folders) > 1)
            ev.summary["plot"] = str(plot_evaluation(ev, out))
        if args.json:
            sys.stdout.buffer.write(orjson.dumps(ev.summary) + b"\n")
            sys.stdout.buffer.flush()
        else:
            print_summary(ev.summary)
    return 2 if failed else 0
