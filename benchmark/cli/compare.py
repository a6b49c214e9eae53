"""`bench compare RUN A B`: paired DeLong test and bootstrap interval of the I-AUROC difference of
two methods of one run, overall and per defect category, on the TEST split or a matched subset."""
from __future__ import annotations

from pathlib import Path

from benchmark.cli import _options as O


def add_parser(sub) -> None:
    from benchmark.results.compare import ALPHA, N_BOOT
    from benchmark.results.tables.build import SUBSET_TEXT

    c = sub.add_parser("compare", help="is A better than B? paired DeLong test and bootstrap interval")
    c.add_argument("run_dir", type=Path, metavar="RUN", help=O.RUN_HELP)
    c.add_argument("a", metavar="A", help="method (registry name, see the tables' [name])")
    c.add_argument("b", metavar="B", help="method compared with A on the same TEST samples")
    c.add_argument("--alpha", type=float, default=ALPHA, help="significance level of the marks")
    c.add_argument("--n-boot", type=int, default=N_BOOT, help="bootstrap replicates of the interval")
    c.add_argument("--subset", choices=list(SUBSET_TEXT),
                   help="compare on a matched TEST subset (defects sharing a recipe, a recording "
                        "day, or both with TRAIN normals) instead of the whole TEST split")
    c.add_argument("--markdown", action="store_true", help="print GitHub Markdown")
    c.add_argument("--json", type=Path, help="also write the comparison as JSON here")
    c.set_defaults(func=command)


def command(args) -> int:
    import json
    import sys

    from benchmark.results.compare import compare
    from benchmark.results.tables import RunData

    try:
        result = compare(RunData.load(O.find_run(args.run_dir)), args.a, args.b, alpha=args.alpha,
                         n_boot=args.n_boot, subset=args.subset)
    except ValueError as e:  # unknown method, different TEST samples, no common seed
        print(f"bench: error: {e}", file=sys.stderr)
        return 2
    print(result.render("markdown" if args.markdown else "plain"))
    if args.json:
        args.json.write_text(json.dumps(result.to_json(), indent=2))
        print(f"wrote {args.json}")
    return 0
