"""`bench plot`: ROC curves and per-category score distributions (PNG)."""
from __future__ import annotations

from pathlib import Path

from benchmark.cli import _options as O


def add_parser(sub) -> None:
    p = sub.add_parser("plot", help="ROC curves and per-category score distributions (PNG)")
    O.add_run_dir(p)
    p.add_argument("--out", type=Path, default=Path("plots"))
    p.add_argument("--seed", type=int, default=0,
                   help="seed whose scores are plotted (a method without it: its lowest seed)")
    p.set_defaults(func=command)


def command(args) -> int:
    from benchmark.plots import write_plots

    for path in write_plots(args.run_dir, args.out, seed=args.seed):
        print(f"wrote {path}")
    return 0
