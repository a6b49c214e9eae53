"""The `bench` command. One function per subcommand; heavy imports stay inside them so that
`bench --help` is fast."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def _csv(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def _seeds(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in _csv(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be integers separated by commas, got {text!r}")


def _backbone(text: str) -> tuple[str, str]:
    name, sep, source = text.partition("=")
    if not sep or not source:
        raise argparse.ArgumentTypeError(f"expected NAME=HUB_ID_OR_FOLDER, got {text!r}")
    return name, source


def cmd_run(args) -> int:
    from benchmark.runner import RunConfig, run

    config = RunConfig(
        methods=args.method, seeds=args.seeds, profile=args.profile,
        root=args.root, manifest=args.manifest, device=args.device, out=args.out, run=args.run,
        cache=args.cache, label_guard=not args.no_label_guard, backbones=tuple(args.backbone),
        split_seed=args.split_seed)
    if args.executor == "ray":
        from benchmark.executors.ray_executor import RayExecutor

        executor = RayExecutor(address=args.address)
    else:
        executor = None
    run_dir = run(config, executor)
    print(f"results: {run_dir}")
    if not args.no_table:
        from benchmark.tables import print_main_table

        print_main_table(run_dir)
    return 0


def cmd_list(args) -> int:
    from tabulate import tabulate

    from benchmark.method import load_methods

    rows = [(name, f"({s.group.letter}) {s.group.value}", "+".join(s.modalities),
             "yes" if s.yields_maps else "no", s.summary) for name, s in load_methods().items()]
    rows.sort(key=lambda r: (r[1], r[0]))
    print(tabulate(rows, headers=["method", "group", "modalities", "maps", "summary"]))
    return 0


def cmd_data_synth(args) -> int:
    from benchmark.data.synth import synthesize

    out = synthesize(args.out, seed=args.seed, size=args.size, label=not args.no_label)
    print(f"synthetic twin written to {out}")
    return 0


def cmd_data_check(args) -> int:
    from benchmark.data.check import main_check

    return main_check(args.root, args.manifest, args.json)


def cmd_table(args) -> int:
    from benchmark.tables import write_tables

    try:
        paths = write_tables(args.run_dir, args.out, appendix=args.appendix)
    except ValueError as e:  # a results folder the tables cannot be made from
        print(f"bench: error: {e}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench", description="Weld-4M multimodal anomaly detection benchmark")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="fit, select on VAL, score TEST; write results/<run>/",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    r.add_argument("--method", type=_csv, default=("all",), help="'all' or names separated by commas (see bench list)")
    r.add_argument("--seeds", type=_seeds, default=(0,), help="e.g. 0,1,2")
    r.add_argument("--profile", choices=("quick", "paper"), default="quick",
                   help="quick: tiny backbones, CPU; paper: pretrained backbones at paper resolutions")
    r.add_argument("--root", type=Path, help="Weld-4M folder (default: the synthetic twin, generated on first use)")
    r.add_argument("--manifest", type=Path, help="manifest CSV with SPLIT (default: <root>/manifest.csv, else derived)")
    r.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    r.add_argument("--out", type=Path, default=Path("results"))
    r.add_argument("--run", help="run name: results/<run>/ (default: <profile>-<dataset folder>)")
    r.add_argument("--cache", type=Path, help="feature cache folder (default: <out>/.feature_cache)")
    r.add_argument("--backbone", type=_backbone, action="append", default=[],
                   help="NAME=HUB_ID_OR_FOLDER for the pretrained preset, e.g. vjepa2=/models/vjepa2")
    r.add_argument("--no-label-guard", action="store_true", help="feed post-weld photos with the printed run id")
    r.add_argument("--split-seed", type=int, default=0, help="seed of the derived split when no manifest has one")
    r.add_argument("--executor", choices=("local", "ray"), default="local")
    r.add_argument("--address", help="Ray cluster address (default: start a local cluster)")
    r.add_argument("--no-table", action="store_true", help="do not print the main table at the end")
    r.set_defaults(func=cmd_run)

    ls = sub.add_parser("list", help="registered methods")
    ls.set_defaults(func=cmd_list)

    d = sub.add_parser("data", help="synthetic twin and data checks")
    dsub = d.add_subparsers(dest="data_command", required=True)
    s = dsub.add_parser("synth", help="write the synthetic twin in the real layout")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--size", choices=("quick", "full"), default="quick")
    s.add_argument("--no-label", action="store_true", help="draw the photos without the printed run-id label")
    s.set_defaults(func=cmd_data_synth)
    c = dsub.add_parser("check", help="validate every sample of a dataset folder")
    c.add_argument("--root", type=Path, required=True)
    c.add_argument("--manifest", type=Path)
    c.add_argument("--json", type=Path, default=Path("check_report.json"),
                   help="machine-readable report (written here, not into the dataset folder)")
    c.set_defaults(func=cmd_data_check)

    t = sub.add_parser("table", help="LaTeX tables from a results folder")
    t.add_argument("run_dir", type=Path, nargs="?", default=None, help="results/<run> (default: the latest run)")
    t.add_argument("--out", type=Path, default=Path("tables/main.tex"))
    t.add_argument("--appendix", action="store_true", help="also write the adaptation appendix")
    t.set_defaults(func=cmd_table)

    from benchmark.audit import add_audit_parser
    from benchmark.golden import add_golden_parser
    from benchmark.plots import add_plot_parser

    add_plot_parser(sub)  # bench plot [RUN_DIR] --out plots/
    add_golden_parser(sub)  # bench golden update|check [RUN_DIR]
    add_audit_parser(sub)  # bench audit [--root DIR] [--method NAME ...]
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    from benchmark.data.sample import DataError
    from benchmark.protocol import ProtocolError
    from benchmark.registry import UnknownNameError

    try:
        return args.func(args)
    except (DataError, ProtocolError, FileNotFoundError, UnknownNameError) as e:
        # NOTE: bad input gets one clear line naming the file and the problem, not a traceback
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"bench: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
