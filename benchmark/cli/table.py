"""`bench table`: LaTeX and Markdown tables from a results folder."""
from __future__ import annotations

from pathlib import Path

from benchmark.cli import _options as O


def add_parser(sub) -> None:
    t = sub.add_parser("table", help="LaTeX tables from a results folder")
    O.add_run_dir(t)
    t.add_argument("--out", type=Path,
                   help="the main table's file; the others go next to it (default: "
                        "<run>/tables/main.tex)")
    t.add_argument("--appendix", action="store_true", help="also write the adaptation appendix")
    t.add_argument("--per-config", action="store_true",
                   help="also write per_config.tex and per_config.csv: I-AUROC per weld configuration")
    t.add_argument("--standalone", action="store_true",
                   help="write each table as a document that compiles on its own (preview), "
                        "not as a fragment for \\input")
    t.add_argument("--ci", action="store_true",
                   help="also write significance.tex: the main table with 95 %% intervals and "
                        "marks on the rows that differ significantly from the proposed model")
    t.set_defaults(func=command)


def command(args) -> int:
    import sys

    from benchmark.tables import write_tables

    try:
        paths = write_tables(args.run_dir, args.out, appendix=args.appendix, ci=args.ci,
                             standalone=args.standalone, per_config=args.per_config)
    except ValueError as e:  # a results folder the tables cannot be made from
        print(f"bench: error: {e}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"wrote {path}")
    return 0
