"""Time AU-PRO (benchmark.metrics.aupro) on 200 random 256x256 maps with random blob masks.

Prints wall time and peak Python-allocated memory (tracemalloc, numpy buffers included) for
fpr_limit 0.3 and 0.01, plus P-AUROC + both AU-PROs via pixel_metrics. Target: aupro < 2 s.

    python scripts/bench_metrics.py [--n 200] [--size 256] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmark.metrics import aupro, pixel_metrics  # noqa: E402


def make_data(n: int, size: int, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Random blob masks (0-4 regions per image, ~1/4 of images without any) and noisy maps."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    maps, masks = [], []
    for _ in range(n):
        mask = np.zeros((size, size), dtype=bool)
        n_blobs = rng.integers(0, 5) if rng.random() > 0.25 else 0
        for _ in range(n_blobs):
            cy, cx = rng.integers(0, size, 2)
            ry, rx = rng.integers(3, size // 8, 2)
            mask |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
        smooth = ndimage.gaussian_filter(rng.random((size, size)).astype(np.float32), 4)
        amap = (0.25 * mask + smooth + 0.3 * rng.random((size, size))).astype(np.float32)
        maps.append(amap)
        masks.append(mask)
    return maps, masks


def timed(fn, repeats: int):
    """Best wall time, best process CPU time (robust to other load on the machine), peak memory."""
    best, best_cpu, peak, value = float("inf"), float("inf"), 0, None
    for _ in range(repeats):
        tracemalloc.start()
        t0, c0 = time.perf_counter(), time.process_time()
        value = fn()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        _, p = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        best, best_cpu, peak = min(best, dt), min(best_cpu, dc), max(peak, p)
    return value, best, best_cpu, peak


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    maps, masks = make_data(args.n, args.size)
    n_pix = args.n * args.size * args.size
    input_mb = sum(m.nbytes + g.nbytes for m, g in zip(maps, masks)) / 2**20
    print(f"input: {args.n} maps of {args.size}x{args.size} float32 ({n_pix / 1e6:.1f} M pixels, "
          f"{input_mb:.0f} MiB incl. bool masks); "
          f"{sum(int(g.any()) for g in masks)} images with regions; best of {args.repeats}")
    ok = True
    for limit in (0.3, 0.01):
        value, dt, dc, peak = timed(lambda: aupro(maps, masks, fpr_limit=limit), args.repeats)
        ok &= dt < 2.0
        print(f"aupro(fpr_limit={limit:<4}) = {value:.6f}   time {dt:.3f} s (CPU {dc:.3f} s)   peak Python memory "
              f"{peak / 2**20:.0f} MiB ({peak / n_pix:.1f} B/pixel)")
    value, dt, dc, peak = timed(lambda: pixel_metrics(maps, masks, (0.3, 0.01)), 1)
    print(f"pixel_metrics (P-AUROC + P-AUPRO@30% + @1%): time {dt:.3f} s (CPU {dc:.3f} s)   peak {peak / 2**20:.0f} MiB   "
          + ", ".join(f"{k}={v:.6f}" for k, v in value.items()))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"aupro under 2 s: {'yes' if ok else 'NO'}   (1-min load average {load:.1f} on {os.cpu_count()} cores)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
