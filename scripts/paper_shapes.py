"""Cost of the paper-shape check (tests/test_paper_shapes.py): the same run, with its figures.

    python scripts/paper_shapes.py --out /tmp/wb-paper-shapes      # build and run, then report
    python scripts/paper_shapes.py --run-dir RESULTS/paper-shapes   # report a finished run

Builds shallow random-weight checkpoints of the published configurations (`bench models random`),
the six-weld twin at full media size (`bench data synth --size tiny --media full --minimum`) and
runs `bench run --profile paper --models ... --smoke` for every method; then prints, per stage
and per method, wall time, fit time, scoring time and peak resident memory (efficiency.json:
sampled every 20 ms while the unit fits and scores), and the feature passes per backbone.
"""
from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path


def build_and_run(out: Path) -> tuple[Path, dict]:
    from benchmark.cli import main
    from benchmark.data.synth import synthesize
    from benchmark.data.synth.media import protocol_minimum
    from benchmark.features.checkpoints import write_random_models

    stages = {}
    t0 = time.perf_counter()
    write_random_models(out / "models", depth="shallow")
    stages["checkpoints"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    twin = synthesize(out / "twin", seed=0, size="tiny", media="full", select=protocol_minimum, workers=1)
    stages["twin"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    code = main(["run", "--profile", "paper", "--models", str(out / "models"), "--smoke", "--root",
                 str(twin), "--out", str(out / "results"), "--run", "paper-shapes", "--no-table"])
    stages["run"] = time.perf_counter() - t0
    if code:
        raise SystemExit(f"bench run failed with exit code {code}")
    return out / "results" / "paper-shapes", stages


def report(run_dir: Path, stages: dict) -> None:
    info = json.loads((run_dir / "run.json").read_text())["features"]
    gib = 2**30
    for name, seconds in stages.items():
        print(f"stage {name:<12} {seconds:8.1f} s")
    print(f"\n{'features':<10} {'passes':>6} {'seconds':>8}")
    for name, st in info["extractors"].items():
        print(f"{name:<10} {st['computed']:6d} {st['seconds']:8.1f}")
    print(f"\n{'method':<26} {'fit s':>7} {'score s':>8} {'peak RSS GiB':>13}")
    for eff_path in sorted(run_dir.glob("*/seed0/efficiency.json")):
        eff = json.loads(eff_path.read_text())
        n_test = json.loads((eff_path.parent / "config.json").read_text())["n_test"]
        score_s = eff["inference_ms_per_sample"] * n_test / 1000
        print(f"{eff_path.parent.parent.name:<26} {eff['fit_seconds']:7.1f} {score_s:8.1f} "
              f"{eff['peak_rss_bytes'] / gib:13.2f}")
    print(f"\nprocess peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, help="work folder (checkpoints, twin, results)")
    p.add_argument("--run-dir", type=Path, help="report a finished paper-shape run instead")
    args = p.parse_args()
    if args.run_dir:
        report(args.run_dir, {})
    elif args.out:
        report(*build_and_run(args.out))
    else:
        p.error("give --out or --run-dir")
