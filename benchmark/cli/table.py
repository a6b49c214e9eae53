"""`bench table`: LaTeX and Markdown tables from a results folder."""
from __future__ import annotations

import os
from pathlib import Path

from benchmark.cli import _options as O

MAIN_FILE = "main.tex"  # the main table's name in a folder given as --out


def add_parser(sub) -> None:
    t = sub.add_parser("table", help="LaTeX tables from a results folder")
    O.add_run_dir(t)
    t.add_argument("--out", metavar="PATH",
                   help=f"a folder (existing, ending in / or without a suffix: the main table goes to "
                        f"PATH/{MAIN_FILE}) or the main table's .tex file; the other tables go beside "
                        f"it (default: <run>/tables/{MAIN_FILE})")
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


def main_table_file(out: str) -> Path:
    """The main table's file that `--out` names: DIR/main.tex for a folder (one that exists, a
    path ending in / or one without a suffix), else the .tex file itself. Any other suffix is
    refused: the tables would overwrite it (notes.txt) and land beside it."""
    path = Path(out)
    if out.endswith(("/", os.sep)) or path.is_dir() or not path.suffix:
        return path / MAIN_FILE
    if path.suffix != ".tex":
        raise O.OptionError(f"--out {out}: expected a folder or a .tex file, not a {path.suffix} file "
                            f"(end a folder's name with /)")
    return path


def command(args) -> int:
    import sys

    from benchmark.results.tables import write_tables

    out = None
    if args.out is not None:
        out = main_table_file(args.out)
        O.check_output_folder("--out", out.parent)  # NOTE: a parent that is a file, before any work
    try:
        paths = write_tables(O.find_run(args.run_dir), out, appendix=args.appendix, ci=args.ci,
                             standalone=args.standalone, per_config=args.per_config)
    except ValueError as e:  # a results folder the tables cannot be made from
        print(f"bench: error: {e}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"wrote {path}")
    return 0
