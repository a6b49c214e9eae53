"""`bench known-answers RUN`: does each method of a run on the confound-free twin detect the
categories its media show and sit at chance on the others (`benchmark.results.known_answers`)."""
from __future__ import annotations

import json
from pathlib import Path

from benchmark.cli import _options as O


def add_parser(sub) -> None:
    k = sub.add_parser("known-answers", formatter_class=O.DefaultsFormatter,
                       help="known answers on the confound-free twin: visible categories detected, "
                            "invisible ones at chance",
                       description="Judge the methods of a run made on a confound-free synthetic twin "
                                   "(bench run --synth-confounds none --synth-seed N ...) against what "
                                   "their media show by construction.")
    k.add_argument("run_dir", type=Path, metavar="RUN", help=O.RUN_HELP)
    k.add_argument("--method", type=O.csv_list, nargs="+", default=None,
                   help="methods to judge, names or comma lists (default: every method of the run)")
    k.add_argument("--n-boot", type=int, default=2000, help="bootstrap replicates of each interval")
    k.add_argument("--json", type=Path, help="also write the verdicts as JSON to this file")
    k.set_defaults(func=command)


def command(args) -> int:
    from benchmark.results.known_answers import check_run, render, to_json, twin_confounds

    run_dir = O.find_run(args.run_dir)
    confounds = twin_confounds(run_dir)
    if confounds != "none":
        print(f"bench: error: {run_dir}: known answers need a run on the confound-free synthetic "
              f"twin (its dataset: {confounds}); run bench run --synth-confounds none ...")
        return 2
    methods = None if args.method is None else [m for group in args.method for m in group]
    answers = check_run(run_dir, methods, args.n_boot)
    print(render(answers))
    if args.json:
        args.json.write_text(json.dumps(to_json(answers), indent=2))
        print(f"wrote {args.json}")
    return 0
