"""`bench golden update|check`: the metric-regression goldens of the quick profile."""
from __future__ import annotations

import tempfile
from pathlib import Path

from benchmark.cli import _options as O


def add_parser(sub) -> None:
    from benchmark.results.golden import GOLDEN_PATH, SEED

    g = sub.add_parser("golden", help="metric-regression goldens of the quick profile")
    gsub = g.add_subparsers(dest="golden_command", required=True)
    for name, func, text in (
            ("update", update, "rewrite the goldens from a run and print what changed"),
            ("check", check, "compare a run with the goldens (exit 1 on a difference)")):
        p = gsub.add_parser(name, help=text)
        O.add_run_dir(p, f"a quick-profile run with seed {SEED} of every method, its folder or its "
                         f"name in {O.RESULTS}/ (default: run the quick profile now, in a temporary folder)")
        p.add_argument("--golden", type=Path, default=GOLDEN_PATH,
                       help="the goldens file (default: the suite's tests/golden/quick_metrics.json)")
        p.set_defaults(func=func)


def _fresh_quick_run(tmp: Path) -> Path:
    from benchmark.results.golden import PROFILE, SEED
    from benchmark.run.config import RunConfig
    from benchmark.run.runner import run

    print(f"running the quick profile (all methods, seed {SEED}) into {tmp} ...")
    return run(RunConfig(methods=("all",), seeds=(SEED,), profile=PROFILE, out=tmp))


def _run_or_fresh(run: Path | None, tmp: Path) -> Path:
    """The named run folder (a path or a run's name), else a fresh quick run in `tmp`."""
    return O.find_run(run) if run is not None else _fresh_quick_run(tmp)


def update(args) -> int:
    from benchmark.results import golden

    with tempfile.TemporaryDirectory(prefix="bench-golden-") as tmp:
        changes = golden.update(_run_or_fresh(args.run_dir, Path(tmp)), args.golden)
    print(f"goldens written to {args.golden} from {args.run_dir or 'a fresh quick run'}")
    print("\n".join(f"  {c}" for c in changes) if changes else "  no change")
    return 0


def check(args) -> int:
    from benchmark.results import golden

    with tempfile.TemporaryDirectory(prefix="bench-golden-") as tmp:
        diffs = golden.compare(_run_or_fresh(args.run_dir, Path(tmp)), args.golden)
    print("\n".join(diffs) if diffs else f"metrics agree with {args.golden}")
    return 1 if diffs else 0
