"""`bench runs`: the runs of a results folder, with date, profile, dataset, fingerprint and units
done / planned (a run.json lists every unit of its folder, those of methods added later too)."""
from __future__ import annotations

import sys
from pathlib import Path

from benchmark.cli import _options as O


def add_parser(sub) -> None:
    r = sub.add_parser("runs", help="list the runs of a results folder: date, profile, dataset, "
                                    "fingerprint, units done/planned")
    r.add_argument("--out", type=Path, default=O.RESULTS, help="the results folder")
    r.set_defaults(func=command)


def command(args) -> int:
    from tabulate import tabulate

    from benchmark.results.leaderboard import list_runs

    runs = list_runs(args.out)
    if not runs:
        print(f"{args.out}/: no run with results")
        return 0
    columns = ("run", "updated", "profile", "dataset", "fingerprint", "units", "methods", "seeds")
    print(tabulate([[r[c] for c in columns] for r in runs], headers=columns, disable_numparse=True))
    for r in runs:
        if "problem" in r:
            print(f"{r['run']} BROKEN: {r['problem']}", file=sys.stderr)
    return 0
