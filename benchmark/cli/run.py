"""`bench run`: fit on TRAIN, score TEST once (selection label-free by default, `--selection val`
reads VAL labels within a budget); write results/<run>/ (with its resolved configuration,
`run.toml`, and the leaderboard CSVs). Every option is also a key of a `--config` TOML file
(`benchmark/cli/_config.py`). A run into a folder that holds other methods or seeds adds its
units: `run.toml` and `run.json` then list every unit of the folder."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmark.cli import _config as C
from benchmark.cli import _options as O

CONFIG_FILE = "run.toml"  # the resolved configuration, saved in the run folder


def add_parser(sub) -> None:
    from benchmark.profiles import SELECTION_POLICIES
    from benchmark.run.executors import EXECUTORS

    r = sub.add_parser("run", help="fit on TRAIN, score TEST once (label-free selection unless "
                                   "--selection val); write or add to results/<run>/",
                       formatter_class=O.DefaultsFormatter)
    r.add_argument("--method", type=O.csv_list, default=("all",),
                   help="'all' or names separated by commas (see bench list)")
    O.add_seeds(r)
    O.add_profile(r)
    r.add_argument("--root", type=Path, help="Weld-4M folder (default: the synthetic twin, generated on first use)")
    r.add_argument("--manifest", type=Path, help="manifest CSV with SPLIT (default: <root>/manifest.csv, else derived)")
    O.add_synth_seed(r)
    O.add_confounds(r)
    O.add_device(r)
    r.add_argument("--out", type=Path, default=Path("results"), help="folder of the run folders")
    r.add_argument("--run", help="run name: results/<run>/ (default: <profile>-<dataset folder>); the "
                                 "folder's other methods and seeds join the run (finished units are "
                                 "kept), so its run.toml and run.json list every unit")
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
    r.add_argument("--whole-view", action="store_true",
                   help="image models read each whole view instead of its weld region (located from "
                        "the label; the default)")
    r.add_argument("--split-seed", type=int, default=0, help="seed of the derived split when no manifest has one")
    r.add_argument("--selection", choices=SELECTION_POLICIES, default="last",
                   help="last: every method keeps its final state, equal fusion weights, no VAL label "
                        "read; val: at most --selection-budget VAL I-AUROC queries per method")
    r.add_argument("--selection-budget", type=int, default=10, metavar="K",
                   help="VAL queries per method under --selection val")
    r.add_argument("--rerun", action="store_true",
                   help="redo the finished units whose settings differ (else the run stops and says what changed)")
    r.add_argument("--executor", choices=list(EXECUTORS), default="local",
                   help="local: on this machine (side by side in --workers processes); ray: each "
                        "unit a task on a Ray cluster")
    r.add_argument("--address", help="Ray cluster address (default: start a local cluster)")
    r.add_argument("--workers", type=O.positive_int, default=None, metavar="N",
                   help="local executor: units side by side in N processes (default: on the CPU "
                        "as many as the cores hold units of the profile's size, quick: one per "
                        "core, as memory allows; 1 on a GPU); 1 runs them in this process")
    r.add_argument("--no-table", action="store_true", help="do not print the main table at the end")
    r.add_argument("--save-maps", action="store_true",
                   help="keep the anomaly map of every TEST view (methods with maps) and the "
                        "label-guarded views, for `bench plot --maps` and `bench report`")
    C.add_config_options(r)
    r.add_argument("--dry-run", action="store_true",
                   help="list the units (done / to run), the features (cached / to extract) and "
                        "the resources the run would ask for, and exit without computing")
    r.set_defaults(func=command)


def command(args) -> int:
    from benchmark.run.config import RunConfig
    from benchmark.run.executors import EXECUTORS
    from benchmark.run.runner import run

    from benchmark.profiles import get_profile

    if (args.models or args.backbone) and get_profile(args.profile).preset != "pretrained":
        print(f"bench: error: --models and --backbone choose pretrained checkpoints; profile "
              f"{args.profile!r} uses {get_profile(args.profile).preset} backbones (try --profile paper)",
              file=sys.stderr)
        return 2
    config = RunConfig(
        methods=args.method, seeds=args.seeds, profile=args.profile, root=args.root,
        manifest=args.manifest, device=args.device, out=args.out, run=args.run, cache=args.cache,
        label_guard=not args.no_label_guard, weld_region=not args.whole_view,
        backbones=tuple(args.backbone), models=args.models, smoke=args.smoke,
        split_seed=args.split_seed, synth_seed=args.synth_seed, synth_confounds=args.synth_confounds,
        selection=args.selection, selection_budget=args.selection_budget, rerun=args.rerun,
        save_maps=args.save_maps)
    try:  # NOTE: an option of the other executor (--address, --workers) is refused before any work
        executor = EXECUTORS.get(args.executor)(address=args.address, workers=args.workers)
    except ValueError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        from benchmark.run.dryrun import dry_run

        print(dry_run(config, args.executor, args.address, args.workers).render())
        return 0
    config_text = getattr(args, "config_text", None)  # set by `bench` (main); absent when called directly
    save = None if config_text is None else (lambda plan: (plan.run_dir / CONFIG_FILE).write_text(
        saved_config(args, plan.config)))
    run_dir = run(config, executor, on_prepared=save)
    print(f"results: {run_dir}")
    from benchmark.results.leaderboard import write_leaderboard
    from benchmark.run import stages as S

    t0 = time.perf_counter()
    for path in write_leaderboard(run_dir):
        print(f"wrote {path}")
    if not args.no_table:
        from benchmark.results.tables import print_main_table

        print_main_table(run_dir)
    stages = S.load(run_dir) + [S.Stage("tables", time.perf_counter() - t0,
                                        "leaderboard CSVs" + ("" if args.no_table else ", main table"))]
    S.save(run_dir, stages)
    print(f"\nwhere the time went (also in {run_dir / 'run.json'}):\n{S.render(stages)}")
    return 0


def saved_config(args: argparse.Namespace, config) -> str:
    """The run.toml of the run: the resolved configuration, with the methods and seeds of the
    units the folder already held joined (`plan.join_held_units`), so that `bench run --config
    results/<run>/run.toml` is the whole folder again."""
    if (tuple(config.methods), tuple(config.seeds)) == (tuple(args.method), tuple(args.seeds)):
        return args.config_text
    joined = argparse.Namespace(**{**vars(args), "method": config.methods, "seeds": config.seeds})
    return C.dumps(joined, _run_parser())


def _run_parser() -> argparse.ArgumentParser:
    """`bench run`'s parser, built alone (`benchmark.cli.build_parser` imports this module)."""
    sub = argparse.ArgumentParser(prog=O.PROG).add_subparsers()
    add_parser(sub)
    return sub.choices["run"]
