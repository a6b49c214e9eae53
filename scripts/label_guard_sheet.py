"""Contact sheet of the label guard on the 20 real Weld-4M views, with per-view figures.

    python scripts/label_guard_sheet.py --out /tmp/label_guard_sheet.png
    python scripts/label_guard_sheet.py --out /tmp/stress_sheet.png --stress 0 --worst 12

Left of each pair: the original with the removed region outlined in red, the hand-drawn label
outline in green and bead outline in blue; right: the guarded photo. Prints per view the
guard's status, the share of the label left (`tests/label_stress.py`: the paper inside the
hand-drawn outline), how far from the label a pixel changed, the bead overlap and the time.
With `--stress SEED` the sheet shows the synthetic stress set of that seed instead: its `--worst`
views by label left, then by reach (green: the drawn label's true outline).
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
    ap.add_argument("--stress", type=int, help="show the stress set of this seed instead")
    ap.add_argument("--worst", type=int, default=12, help="stress views on the sheet")
    args = ap.parse_args(argv)
    if args.stress is not None:
        return stress_sheet(args)
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


def stress_sheet(args) -> int:
    import cv2

    rows = []
    for case in label_stress.stress_cases(args.stress):
        photo, label = label_stress.render(case)
        out, region = remove_label(photo)
        left = label_stress.leftover(region.mask, label)
        reach = label_stress.reach(photo, out, region.mask, label)  # as label_stress.measure
        rows.append((left, reach, case.name, photo, out, region, label, region.status))
    rows.sort(key=lambda row: (-row[0], -row[1]))
    tiles = []
    print(f"guard {GUARD_VERSION}, stress set seed {args.stress}: {len(rows)} views, worst {args.worst}")
    for left, reach, name, photo, out, region, label, status in rows[:args.worst]:
        print(f"{name:42s} {status:9s} left {100 * left:5.2f} %  reach {reach:4.0f} px")
        contours, _ = cv2.findContours(label.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        outline = max(contours, key=cv2.contourArea)[:, 0]
        caption = f"{name}  {status}  left {100 * left:.1f}%  reach {reach:.0f}px"
        tiles.append(view_tile(photo, out, region, caption, args.width, outlines=[(outline, LABEL)]))
    note = "red: removed; green: the drawn label's outline"
    print(f"wrote {write_png(args.out, contact_sheet(tiles, note=note))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
