"""A twin of any number of welds, cheap to draw: every k-th weld of the real-size plan (so every
category and split keeps its share), about `distinct` of them drawn, the others hard-linking the
media of a drawn weld of their category. Each weld keeps its own id and sensor CSV, so every weld
goes through the extractors (the cache key hashes the id). Used by `scripts/gpu_throughput.py`
(Weld-4M's size on a GPU) and `scripts/bench_scale.py` (the growth of each stage)."""
from __future__ import annotations

import csv
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from .media import get_media, sized_sensor
from .process import SampleSpec, plan
from .sensor import render_sensor, sensor_csv
from .write import manifest_rows, write_sample

MARKER = "synthetic.json"


def _link_sample(out: Path, src: SampleSpec, dst: SampleSpec, seed: int, media: str) -> None:
    """dst's files: its own sensor CSV, hard links to src's video, audio, photos and masks."""
    s_dir, d_dir = out / src.folder / src.run_id, out / dst.folder / dst.run_id
    (d_dir / "images").mkdir(parents=True, exist_ok=True)
    (d_dir / "masks").mkdir(exist_ok=True)
    for ext in ("avi", "flac"):
        os.link(s_dir / f"{src.run_id}.{ext}", d_dir / f"{dst.run_id}.{ext}")
    for a, b in zip(src.image_stems, dst.image_stems):
        os.link(s_dir / "images" / f"{a}.jpg", d_dir / "images" / f"{b}.jpg")
        os.link(s_dir / "masks" / f"{a}.png", d_dir / "masks" / f"{b}.png")
    # NOTE: sized as `write_sample` sizes it: a CSV of the drawn length beside full-length media
    # is a short recording, and the loader's screen excludes the weld
    t, table = sized_sensor(*render_sensor(seed, dst), get_media(media))
    (d_dir / f"{dst.run_id}.csv").write_bytes(sensor_csv(dst, t, table))


def make_twin(root: Path, welds: int, distinct: int, media: str, workers: int, seed: int = 0,
              generator: str = "benchmark.data.synth.scaled") -> Path:
    """A twin of `welds` welds in `root` (left as it is when already made), about `distinct`
    drawn (at least one per category), the others linking a drawn weld of their category."""
    from benchmark.data.sample import MANIFEST_COLUMNS

    root = Path(root)
    if (root / MARKER).exists():
        return root
    specs = [s for s in plan(seed, "full") if s.code != 12]  # NOTE: code 12 is the twin's own
    step = max(1, len(specs) // welds)
    specs = specs[::step][:welds]
    by_code: dict[int, list] = {}
    for s in specs:
        by_code.setdefault(s.code, []).append(s)
    drawn, links = [], []
    for group in by_code.values():
        k = max(1, round(distinct * len(group) / len(specs)))
        drawn += group[:k]
        links += [(group[i % k], s) for i, s in enumerate(group[k:])]
    root.mkdir(parents=True, exist_ok=True)
    ctx = multiprocessing.get_context("spawn")  # NOTE: no fork of a process with torch threads
    with ProcessPoolExecutor(max(1, workers), mp_context=ctx) as pool:
        list(pool.map(write_sample, [root] * len(drawn), [seed] * len(drawn), drawn,
                      [True] * len(drawn), [media] * len(drawn), chunksize=4))
    for src, dst in links:
        _link_sample(root, src, dst, seed, media)
    with open(root / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(MANIFEST_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(manifest_rows(specs))
    (root / MARKER).write_text(json.dumps(
        {"generator": generator, "seed": seed, "welds": len(specs), "distinct": len(drawn),
         "media": media}, indent=2))
    return root
