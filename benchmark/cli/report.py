"""`bench report [RUN] --html DIR`: the run as one static HTML page."""
from __future__ import annotations

from pathlib import Path

from benchmark.cli import _options as O


def add_parser(sub) -> None:
    from benchmark.results.tables.build import SUBSET_TEXT

    r = sub.add_parser("report", help="a run as one static HTML page (tables, heatmap, curves, maps, "
                                      "provenance)")
    O.add_run_dir(r)
    r.add_argument("--html", type=Path, required=True, metavar="DIR",
                   help="folder of the page: DIR/index.html, DIR/figures/, the CSVs")
    r.add_argument("--seed", type=int, default=0,
                   help="seed whose curves and maps are drawn (a method without it: its lowest seed)")
    r.add_argument("--subset", choices=list(SUBSET_TEXT),
                   help="intervals and tests of the main table on a matched TEST subset (e.g. "
                        "both_matched, the confound-free one) instead of the whole TEST split")
    r.set_defaults(func=command)


def command(args) -> int:
    from benchmark.results.report import write_report

    O.check_output_folder("--html", args.html)
    page = write_report(O.find_run(args.run_dir), args.html, seed=args.seed, subset=args.subset)
    print(f"wrote {page} (open it in a browser; it needs no server)")
    return 0
