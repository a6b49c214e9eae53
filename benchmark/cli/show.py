"""`bench show [RUN]`: a run's main table in the terminal."""
from __future__ import annotations

from benchmark.cli import _options as O


def add_parser(sub) -> None:
    s = sub.add_parser("show", help="print a run's main table (default: the latest run)")
    O.add_run_dir(s)
    s.add_argument("--ci", action="store_true",
                   help="the main table with 95 %% intervals and marks on the rows that differ "
                        "significantly from the proposed model")
    s.add_argument("--all", action="store_true", help="every table of the run, not only the main one")
    s.add_argument("--markdown", action="store_true", help="print GitHub Markdown")
    s.set_defaults(func=command)


def command(args) -> int:
    import sys

    from benchmark.results.tables import build_tables, to_text

    run_dir = O.find_run(args.run_dir)
    data, tables = build_tables(run_dir)
    if not args.all:
        tables = tables[:1]
    if args.ci:
        from benchmark.results.compare import significance_table

        tables = [significance_table(data), *tables[1:]]
    style = "markdown" if args.markdown else ("ansi" if sys.stdout.isatty() else "plain")
    print(f"run: {run_dir}\n")
    print("\n".join(to_text(t, style) for t in tables))
    return 0
