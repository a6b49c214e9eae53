"""`make run`'s time on this machine (issue target: under 4 minutes on 2 cores from a warm install,
twin generation and every registered method counted). Prints its figures; asserts nothing.

    .venv/bin/python scripts/bench_quick.py [--repeats 3] [--out /tmp/bench_quick] [--keep-twin]

Each repeat does what `make run` does, from nothing but the install: the embedded twin is removed
first (so that it is generated, as on first use; `--keep-twin` leaves it), then
`bench run --method all --seeds 0` into a fresh results folder (fresh feature cache) and
`bench table`. Prints each stage of `run.json` (the same table `bench run` ends with) and the wall
time of the two commands, as the minimum and the median over the repeats, with the peak memory
(the process and its workers) and the load average before and after.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

from benchmark.run.plan import twin_path


def timed(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes, the process and its children) of a command."""
    t0 = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        try:
            procs = [proc] + proc.children(recursive=True)
            peak = max(peak, sum(p.memory_info().rss for p in procs if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.2)
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed with exit code {proc.returncode}")
    return time.perf_counter() - t0, peak


def one_make_run(out: Path, keep_twin: bool) -> tuple[list[dict], float, int]:
    """The stages of one `make run`, its wall seconds and peak memory."""
    shutil.rmtree(out, ignore_errors=True)
    if not keep_twin:
        shutil.rmtree(twin_path(), ignore_errors=True)  # NOTE: regenerated, byte for byte, by the run
    bench = [sys.executable, "-m", "benchmark.cli"]
    run_seconds, run_peak = timed(bench + ["run", "--method", "all", "--seeds", "0", "--out", str(out),
                                           "--run", "quick"])
    table_seconds, table_peak = timed(bench + ["table", str(out / "quick"), "--out", str(out / "main.tex")])
    stages = json.loads((out / "quick" / "run.json").read_text())["stages"]
    return stages, run_seconds + table_seconds, max(run_peak, table_peak)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_quick"))
    ap.add_argument("--keep-twin", action="store_true", help="time runs on the generated twin")
    args = ap.parse_args()
    load_before = os.getloadavg()
    runs = [one_make_run(args.out, args.keep_twin) for _ in range(args.repeats)]
    load_after = os.getloadavg()

    names = list(dict.fromkeys(s["name"] for stages, _, _ in runs for s in stages))
    print(f"make run, {args.repeats} repeats ({os.cpu_count()} cores); seconds as min / median")
    print(f"{'stage':28s} {'min':>7s} {'median':>7s}  detail (last run)")
    for name in names:
        rows = [next(s for s in stages if s["name"] == name) for stages, _, _ in runs
                if any(s["name"] == name for s in stages)]
        seconds = [r["seconds"] for r in rows]
        shown = f"  {name}" if rows[-1].get("summed") else name
        print(f"{shown:28s} {min(seconds):7.1f} {statistics.median(seconds):7.1f}  {rows[-1]['detail']}")
    walls = [wall for _, wall, _ in runs]
    print(f"{'make run (wall, both commands)':28s} {min(walls):7.1f} {statistics.median(walls):7.1f}  "
          f"peak memory {max(p for _, _, p in runs) / 2**30:.2f} GiB")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; target: under 240 s")


if __name__ == "__main__":
    main()
