"""Time the synthetic twin: `python scripts/bench_synth.py [--size quick] [--seed 0] [--workers 2]`.

Prints samples, seconds, samples/s and the size on disk; the quick size must generate in well
under a minute on 2 cores.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark.data.synth import plan, synthesize  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="quick")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--keep", type=Path, default=None, help="write here and keep it")
    args = parser.parse_args()
    tmp = None
    if args.keep is None:
        tmp = Path(tempfile.mkdtemp(prefix="synth_bench_"))
        out = tmp / "data"
    else:
        out = args.keep
    n = len(plan(args.seed, args.size))
    try:
        start, cpu0 = time.perf_counter(), os.times()
        synthesize(out, args.seed, args.size, workers=args.workers)
        seconds, cpu1 = time.perf_counter() - start, os.times()
        cpu = sum(cpu1[:4]) - sum(cpu0[:4])  # this process and its workers
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"size={args.size} samples={n} seconds={seconds:.1f} samples_per_s={n / seconds:.1f} "
              f"disk_MB={size / 1e6:.0f} cpu_s={cpu:.1f} cpus={os.cpu_count()} load1={load:.1f}")
        print("(wall time depends on other load; cpu_s / cores is the time on idle cores)")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
