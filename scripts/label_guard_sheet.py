"""Contact sheet of the label guard on the 20 real Weld-4M views, with per-view figures.

    python scripts/label_guard_sheet.py --out /tmp/label_guard_sheet.png

Left of each pair: the original with the removed region outlined in red, the hand-drawn label
outline in green and bead outline in blue; right: the guarded photo. Prints per view the
guard's status, the share of the label left (`tests/label_stress.py`: the paper inside the
hand-drawn outline), how far from the label a pixel changed, the bead overlap and the time.
The annotations and measures are the tests' (tests/label_stress.py), imported from there.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from benchmark.data.label_guard import GUARD_VERSION, remove_label
from benchmark.data.label_guard.sheet import contact_sheet, view_tile, write_png

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import label_stress  # the hand-drawn outlines and the two measures live with the tests

LABEL, BEAD = (0, 255, 0), (0, 128, 255)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--width", type=int, default=400, help="width of each half of a tile")
    args = ap.parse_args(argv)
    tiles = []
    print(f"guard {GUARD_VERSION}")
    print(f"{'view':42s} {'status':9s} {'left %':>6s} {'reach px':>8s} {'bead %':>6s} {'wall ms':>7s}")
    for key in label_stress.REAL_KEYS:
        image = label_stress.load_real(key)
        ann = label_stress.ANN[key]
        t = time.perf_counter()
        out, region = remove_label(image)
        ms = 1000 * (time.perf_counter() - t)
        label = label_stress.real_label_mask(image, key)
        extent = label_stress.poly_mask(image.shape, ann["label_poly"]) | label
        left = 100 * label_stress.leftover(region.mask, label)
        reach = label_stress.reach(image, out, region.mask, extent)
        bead = label_stress.poly_mask(image.shape, ann["bead_poly"])
        overlap = 100 * (region.mask & bead).sum() / bead.sum()
        print(f"{key:42s} {region.status:9s} {left:6.2f} {reach:8.0f} {overlap:6.2f} {ms:7.1f}")
        caption = f"{key}  {region.status}  left {left:.1f}%  reach {reach:.0f}px  bead {overlap:.2f}%"
        tiles.append(view_tile(image, out, region, caption, args.width,
                               outlines=[(np.asarray(ann["label_poly"]), LABEL),
                                         (np.asarray(ann["bead_poly"]), BEAD)]))
    note = "red: removed; green: hand-drawn label outline; blue: bead outline"
    print(f"wrote {write_png(args.out, contact_sheet(tiles, note=note))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
