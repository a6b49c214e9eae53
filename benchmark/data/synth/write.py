"""Writing the twin: every sample's files in the real layout, the manifest, the synthetic marker.

The manifest's set-points are the sample's recipe (`SampleSpec.config`): with the `real` recipe
structure they carry the recipe shortcut as Weld-4M's do; with `neutral` they are the
configuration's nominal ones for every category (they do not leak the defect).
"""
from __future__ import annotations

import csv
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from ..sample import CATEGORIES, MANIFEST_COLUMNS
from .audio import render_audio, write_audio
from .images import encode_jpg, encode_png, render_images
from .media import get_media, sized_audio, sized_images, sized_video
from .process import SampleSpec, plan
from .sensor import render_sensor, sensor_csv
from .video import render_video, write_video


def write_sample(out: Path, seed: int, spec: SampleSpec, label: bool = True,
                 media: str = "small") -> None:
    d = out / spec.folder / spec.run_id
    size = get_media(media)  # NOTE: media only resize and loop what is drawn (media.py)
    (d / "images").mkdir(parents=True, exist_ok=True)
    (d / "masks").mkdir(exist_ok=True)
    write_video(d / f"{spec.run_id}.avi", sized_video(render_video(seed, spec), size))
    write_audio(d / f"{spec.run_id}.flac", sized_audio(render_audio(seed, spec), size))
    t, table = render_sensor(seed, spec)
    (d / f"{spec.run_id}.csv").write_bytes(sensor_csv(spec, t, table))
    views, masks = sized_images(*render_images(seed, spec, label=label), size)
    for stem, view, m in zip(spec.image_stems, views, masks):
        (d / "images" / f"{stem}.jpg").write_bytes(encode_jpg(view))
        (d / "masks" / f"{stem}.png").write_bytes(encode_png(m))


def _write_chunk(args) -> int:
    import cv2

    cv2.setNumThreads(1)  # the pool already uses the cores; avoid oversubscription
    out, seed, specs, label, media = args
    for spec in specs:
        write_sample(Path(out), seed, spec, label, media)
    return len(specs)


def manifest_rows(specs: list[SampleSpec]) -> list[dict]:
    rows = []
    for s in specs:
        c = s.config
        rows.append({"CATEGORY": CATEGORIES[s.code], "WELD_TYPE": c.weld_type,
                     "THICKNESS_MM": str(c.thickness_mm), "STEEL_TYPE": c.steel_type,
                     "SAMPLES": str(s.folder_runs), "CURRENT_A": str(c.current_a),
                     "VOLTAGE_V": f"{c.voltage_v:.1f}", "GAS_BAR": f"{c.gas_bar:.1f}",
                     "ROBOT_SPEED_CPM": str(c.speed_cpm), "DIRECTORY": s.folder,
                     "SUBDIRS": s.subdir, "SPLIT": s.split})
    return rows


def synthesize(out: Path, seed: int, size: str = "quick", label: bool = True,
               workers: int | None = None, recipes: str = "real", media: str = "small",
               select=None) -> Path:
    """Write the synthetic twin into `out` (created; must be empty or absent) and return it.
    `recipes`: the recipe structure, `real` (Weld-4M's per category) or `neutral` (see `plan`);
    media: "small" or "full" (the real media sizes, see media.py); select: a function of the
    sample plan returning the samples to write (default: all of them)."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out}: output directory is not empty")
    out.mkdir(parents=True, exist_ok=True)
    get_media(media)  # an unknown name fails before any file is written
    specs = plan(seed, size, recipes)
    specs = list(select(specs)) if select is not None else specs
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    if workers <= 1 or len(specs) < 8:
        _write_chunk((str(out), seed, specs, label, media))
    else:
        chunks = [specs[i::workers * 4] for i in range(workers * 4)]
        # NOTE: spawn, not fork: forking a process whose torch/OpenMP threads are running (a test
        # session, the runner generating the twin on first use) can deadlock the children.
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(_write_chunk, [(str(out), seed, ch, label, media) for ch in chunks]))
    with open(out / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(MANIFEST_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(manifest_rows(specs))
    # NOTE: marks the folder as synthetic so that results and table captions say so.
    (out / "synthetic.json").write_text(json.dumps(
        {"generator": "benchmark.data.synth", "seed": seed, "size": size, "label": label,
         "recipes": recipes, "media": media, "samples": len(specs)}, indent=2))
    return out
