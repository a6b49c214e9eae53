"""`bench plot`: ROC and PR curves, per-category score distributions and anomaly-map overlays
(PDF and PNG)."""
from __future__ import annotations

from pathlib import Path

from benchmark.cli import _options as O


def add_parser(sub) -> None:
    p = sub.add_parser("plot", help="ROC and PR curves, score distributions, map overlays (PDF and PNG)")
    O.add_run_dir(p)
    p.add_argument("--out", type=Path, help="folder of the figures (default: <run>/plots)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed whose scores are plotted (a method without it: its lowest seed)")
    p.add_argument("--maps", action="store_true",
                   help="overlay the saved anomaly maps (bench run --save-maps) on the views of the "
                        "highest- and lowest-scored TEST sample of each category")
    p.set_defaults(func=command)


def command(args) -> int:
    from benchmark.results.plots import write_plots
    from benchmark.results.tables import default_out

    if args.out is not None:
        O.check_output_folder("--out", args.out)
    run_dir = O.find_run(args.run_dir)
    out = args.out if args.out is not None else default_out(run_dir, "plots")
    for path in write_plots(run_dir, out, seed=args.seed, maps=args.maps or False):
        print(f"wrote {path}")
    return 0
