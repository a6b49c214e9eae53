"""Contact sheet of the label guard on the 20 real Weld-4M views, with per-view metrics.

    python scripts/label_guard_sheet.py --out /tmp/label_guard_sheet.png

Left of each pair: the original (downscaled) with the removed region outlined in red, the
hand-annotated label polygon in green and bead polygon in blue. Right: the guarded image.
Prints per view: label coverage % (of the annotated label polygon inside the removed region),
bead overlap % (of the annotated bead polygon inside the removed region) and time per image.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from benchmark.data.label_guard import GUARD_VERSION, remove_label

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = Path("/work/shared/weld4m/samples/good_weld_08_17_22_plane_plate")
FIXTURE = ROOT / "tests" / "fixtures" / "label_boxes.json"


def poly_mask(shape, pts) -> np.ndarray:
    m = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(m, [np.asarray(pts, np.int32)], 1)
    return m.astype(bool)


def metrics(mask: np.ndarray, ann: dict) -> tuple[float, float]:
    lab = poly_mask(mask.shape, ann["label_poly"])
    bead = poly_mask(mask.shape, ann["bead_poly"])
    return (100.0 * (mask & lab).sum() / lab.sum(), 100.0 * (mask & bead).sum() / bead.sum())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--samples", type=Path, default=SAMPLES)
    ap.add_argument("--width", type=int, default=400, help="width of each tile")
    args = ap.parse_args(argv)
    ann = json.loads(FIXTURE.read_text())
    keys = sorted(k for k in ann if not k.startswith("_"))
    tiles, times = [], []
    print(f"guard {GUARD_VERSION}")
    print(f"{'view':45s} {'found':>5s} {'score':>6s} {'label cov %':>11s} {'bead ovl %':>10s} {'wall ms':>8s} {'cpu ms':>7s}")
    for key in keys:
        run, name = key.split("/")
        bgr = cv2.imread(str(args.samples / run / "images" / name))
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        t, c = time.perf_counter(), time.process_time()
        out, region = remove_label(rgb)
        ms = 1000 * (time.perf_counter() - t)
        cpu = 1000 * (time.process_time() - c)
        times.append((ms, cpu))
        cov, ovl = metrics(region.mask, ann[key])
        print(f"{key:45s} {str(region.found):>5s} {region.score:6.3f} {cov:11.1f} {ovl:10.2f} {ms:8.1f} {cpu:7.1f}")
        h, w = rgb.shape[:2]
        s = args.width / w
        size = (args.width, round(h * s))
        before = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        after = cv2.resize(cv2.cvtColor(out, cv2.COLOR_RGB2BGR), size, interpolation=cv2.INTER_AREA)
        m = cv2.resize(region.mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        cs, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(before, cs, -1, (0, 0, 255), 1)
        for name_, col in (("label_poly", (0, 255, 0)), ("bead_poly", (255, 128, 0))):
            q = (np.asarray(ann[key][name_], np.float64) * s).round().astype(np.int32)
            cv2.polylines(after if name_ == "bead_poly" else before, [q], True, col, 1)
            if name_ == "bead_poly":
                cv2.polylines(before, [q], True, col, 1)
        pair = np.hstack([before, np.full((size[1], 4, 3), 255, np.uint8), after])
        cap = np.zeros((16, pair.shape[1], 3), np.uint8)
        cv2.putText(cap, f"{key}  cov {cov:.1f}%  bead {ovl:.2f}%", (3, 12), 0, 0.38,
                    (255, 255, 255), 1)
        tiles.append(np.vstack([cap, pair]))
    W = max(t.shape[1] for t in tiles)
    H = max(t.shape[0] for t in tiles)
    tiles = [cv2.copyMakeBorder(t, 0, H - t.shape[0] + 4, 0, W - t.shape[1] + 4,
                                cv2.BORDER_CONSTANT) for t in tiles]
    rows = [np.hstack(tiles[i:i + 2] + [np.zeros_like(tiles[0])] * (2 - len(tiles[i:i + 2])))
            for i in range(0, len(tiles), 2)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), np.vstack(rows))
    w_, c_ = np.median(np.array(times), 0)
    print(f"median per image: wall {w_:.1f} ms, process cpu {c_:.1f} ms (cpu counts both threads)")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
