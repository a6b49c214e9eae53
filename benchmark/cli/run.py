"""`bench run`: fit on TRAIN, select on VAL, score TEST once; write results/<run>/."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.cli import _options as O


def add_parser(sub) -> None:
    from benchmark.executors import EXECUTORS

    r = sub.add_parser("run", help="fit, select on VAL, score TEST; write results/<run>/",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    r.add_argument("--method", type=O.csv_list, default=("all",),
                   help="'all' or names separated by commas (see bench list)")
    O.add_seeds(r)
    O.add_profile(r)
    r.add_argument("--root", type=Path, help="Weld-4M folder (default: the synthetic twin, generated on first use)")
    r.add_argument("--manifest", type=Path, help="manifest CSV with SPLIT (default: <root>/manifest.csv, else derived)")
    O.add_synth_seed(r)
    O.add_device(r)
    r.add_argument("--out", type=Path, default=Path("results"))
    r.add_argument("--run", help="run name: results/<run>/ (default: <profile>-<dataset folder>)")
    O.add_cache(r)
    r.add_argument("--models", type=Path,
                   help="folder written by `bench models fetch` (checked against its lock file): "
                        "the pretrained checkpoints, no network needed")
    r.add_argument("--backbone", type=O.backbone_source, action="append", default=[],
                   help="NAME=HUB_ID_OR_FOLDER for one backbone of the pretrained preset (overrides "
                        "--models), e.g. vjepa2=/models/vjepa2 or wide_resnet50_2=/models/wrn")
    r.add_argument("--smoke", action="store_true",
                   help="cut every method's training to a few steps (each method's declared smoke "
                        "changes): checks loading, shapes and memory; the numbers are no result")
    r.add_argument("--no-label-guard", action="store_true", help="feed post-weld photos with the printed run id")
    r.add_argument("--split-seed", type=int, default=0, help="seed of the derived split when no manifest has one")
    r.add_argument("--executor", choices=list(EXECUTORS), default="local")
    r.add_argument("--address", help="Ray cluster address (default: start a local cluster)")
    r.add_argument("--no-table", action="store_true", help="do not print the main table at the end")
    r.set_defaults(func=command)


def command(args) -> int:
    from benchmark.executors import EXECUTORS
    from benchmark.runner import RunConfig, run

    from benchmark.profiles import get_profile

    if (args.models or args.backbone) and get_profile(args.profile).preset != "pretrained":
        print(f"bench: error: --models and --backbone choose pretrained checkpoints; profile "
              f"{args.profile!r} uses {get_profile(args.profile).preset} backbones (try --profile paper)",
              file=sys.stderr)
        return 2
    config = RunConfig(
        methods=args.method, seeds=args.seeds, profile=args.profile, root=args.root,
        manifest=args.manifest, device=args.device, out=args.out, run=args.run, cache=args.cache,
        label_guard=not args.no_label_guard, backbones=tuple(args.backbone), models=args.models,
        smoke=args.smoke, split_seed=args.split_seed, synth_seed=args.synth_seed)
    run_dir = run(config, EXECUTORS.get(args.executor)(address=args.address))
    print(f"results: {run_dir}")
    if not args.no_table:
        from benchmark.tables import print_main_table

        print_main_table(run_dir)
    return 0
