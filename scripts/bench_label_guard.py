"""Time the label guard on the 20 shared real Weld-4M views (2064x1548 and 2000x900).

    python scripts/bench_label_guard.py [--repeats 5] [--threads 1] [--per-view]

Prints, per photo size, the wall and the process CPU time per view (the best of `--repeats`
runs of each view, so that a burst of another job on the machine does not count) as mean,
median and worst over the views, and the load average before and after. The target: < 100 ms
per full-size (2064x1548) view, median over the views, on one thread (`--threads 1`, the
default, sets OpenCV's; the rest of the guard runs on one). On a loaded machine wall time says
little: the CPU time is the figure to read there.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import cv2
import numpy as np

from benchmark.data.decode import read_image
from benchmark.data.label_guard import GUARD_VERSION, remove_label

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "weld4m" / "samples"
FULL_SIZE = "2064x1548"  # a Weld-4M post-weld photo at full resolution


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=Path, default=SAMPLES)
    ap.add_argument("--repeats", type=int, default=5, help="runs per view; the best one counts")
    ap.add_argument("--threads", type=int, default=1, help="OpenCV threads (the target: one)")
    ap.add_argument("--per-view", action="store_true", help="print every view's times")
    args = ap.parse_args(argv)
    paths = sorted(args.samples.glob("*/*/images/*.jpg"))
    if not paths:
        raise SystemExit(f"{args.samples}: no */*/images/*.jpg views found")
    cv2.setNumThreads(args.threads)
    images = [read_image(p) for p in paths]
    remove_label(images[0])  # warm-up: imports, OpenCV's first calls
    load_before = os.getloadavg()
    walls, cpus, sizes, statuses, every = [], [], [], [], []
    for path, image in zip(paths, images):
        best_wall, best_cpu = np.inf, np.inf
        for _ in range(args.repeats):
            t, c = time.perf_counter(), time.process_time()
            _, region = remove_label(image)
            every.append(1000 * (time.perf_counter() - t))
            best_wall = min(best_wall, every[-1] / 1000)
            best_cpu = min(best_cpu, time.process_time() - c)
        walls.append(1000 * best_wall)
        cpus.append(1000 * best_cpu)
        sizes.append(f"{image.shape[1]}x{image.shape[0]}")
        statuses.append(region.status)
        if args.per_view:
            print(f"{path.parent.parent.name}/{path.name} {sizes[-1]} {region.status:9s} "
                  f"wall {walls[-1]:6.1f} ms  cpu {cpus[-1]:6.1f} ms"
                  f"{'  (regrown)' if region.grown else ''}")
    load_after = os.getloadavg()
    walls, cpus, sizes = np.array(walls), np.array(cpus), np.array(sizes)
    print(f"{GUARD_VERSION}: {len(paths)} real views, OpenCV threads {cv2.getNumThreads()}, "
          f"{os.cpu_count()} CPUs, best of {args.repeats} runs per view")
    for size in dict.fromkeys(sizes):
        w, c = walls[sizes == size], cpus[sizes == size]
        target = " (full size; target: median < 100 ms, one thread)"
        full = target if size == FULL_SIZE else ""
        print(f"{size}{full}, {len(w)} views: wall mean {w.mean():.1f} ms, median "
              f"{np.median(w):.1f}, worst {w.max():.1f}; process cpu (all threads) mean "
              f"{c.mean():.1f}, median {np.median(c):.1f}, worst {c.max():.1f}")
    print(f"every run ({len(every)}): median {np.median(every):.1f} ms, worst {max(every):.1f} ms")
    print("load average (1, 5, 15 min): before " + ", ".join(f"{x:.2f}" for x in load_before)
          + "; after " + ", ".join(f"{x:.2f}" for x in load_after))
    print("status: " + ", ".join(f"{s} {statuses.count(s)}" for s in ("found", "unsure", "not found")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
