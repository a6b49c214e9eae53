"""Pixel masks in: COCO annotations (polygons or RLE, as CVAT and Label Studio export them) turned
into the per-view PNG masks of the real layout, `<run>/masks/<view stem>.png` (0 / 255).

Weld-4M ships no pixel masks; a group that annotates defects imports its COCO file here and the
pixel metrics are computed on the welds that have masks (`benchmark.metrics.evaluation` leaves a
defective weld without masks out of them). pycocotools does the polygon and RLE work.

Rules, each refusal naming the file and the view:
* an annotated image is matched to its view by file name: its path relative to the dataset root,
  or its bare file name where that is unique in the dataset;
* its width and height must be the photo's;
* annotations on a Good weld, or on an image that is no view of the dataset, are refused;
* a weld with any annotated image gets a mask for every view (empty where nothing is annotated),
  so the loader finds one mask per view;
* an existing mask is never overwritten without `force`.
Nothing is written unless the whole file passes.
"""
from __future__ import annotations

import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .loader import load_dataset
from .sample import DataError, Sample

MASK_DIR = "masks"


@dataclass
class MaskImport:
    """What an import wrote (or, with `dry_run`, would write)."""

    welds: list[str] = field(default_factory=list)  # sample ids that received masks
    views: int = 0  # mask files written
    annotations: int = 0
    test_defects_with_masks: int = 0
    test_defects: int = 0
    files: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.annotations} annotations -> masks for {len(self.welds)} welds "
                f"({self.views} views); TEST defects with masks: {self.test_defects_with_masks} "
                f"of {self.test_defects}")


def _view_index(samples: list[Sample], root: Path) -> tuple[dict[str, tuple], dict[str, list]]:
    """(relative path -> (sample, view index), file name -> [(sample, view index), ...])."""
    by_path, by_name = {}, defaultdict(list)
    for sample in samples:
        for i, image in enumerate(sample.images):
            by_path[image.relative_to(root).as_posix()] = (sample, i)
            by_name[image.name].append((sample, i))
    return by_path, by_name


def _match(file_name: str, by_path: dict, by_name: dict) -> tuple[tuple | None, str | None]:
    """The (sample, view index) of a COCO image's file name, or the reason there is none."""
    name = file_name.replace("\\", "/").removeprefix("./")
    if name in by_path:
        return by_path[name], None
    hits = by_name.get(Path(name).name, [])
    if len(hits) == 1:
        return hits[0], None
    if hits:
        return None, (f"file name {Path(name).name!r} is a view of {len(hits)} welds "
                      f"({', '.join(s.id for s, _ in hits[:3])}); give its path relative to the "
                      f"dataset root")
    return None, "no view of the dataset has this file name"


def _photo_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        return image.size  # (width, height)


def import_coco(coco_file: Path | str, root: Path | str, *, manifest: Path | str | None = None,
                force: bool = False, dry_run: bool = False) -> MaskImport:
    """Write the masks of `coco_file`'s annotations into the dataset at `root`.

    Raises DataError (naming `coco_file` and every problem) before writing anything when an
    annotation is on a Good weld or an unknown view, an image size differs from its photo, or a
    mask exists and `force` is off."""
    import cv2
    from pycocotools.coco import COCO

    coco_file, root = Path(coco_file), Path(root)
    try:
        coco = COCO(str(coco_file))
    except Exception as exc:  # NOTE: pycocotools raises bare AssertionErrors / JSON errors
        raise DataError(coco_file, f"not a readable COCO annotation file: {exc}") from exc
    dataset = load_dataset(root, manifest, require=("image",), allow_missing=True)
    by_path, by_name = _view_index(dataset.samples, root)

    problems: list[str] = []
    masks: dict[str, dict[int, np.ndarray]] = defaultdict(dict)  # sample id -> view -> mask
    samples: dict[str, Sample] = {}
    report = MaskImport()
    for image_id, info in sorted(coco.imgs.items()):
        file_name = str(info.get("file_name", ""))
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[image_id], iscrowd=None))
        match, why = _match(file_name, by_path, by_name)
        if match is None:
            if anns:
                problems.append(f"image {image_id} {file_name!r}: {why}")
            continue
        sample, view = match
        if sample.label == 0:
            if anns:
                problems.append(f"image {image_id} {file_name!r}: {len(anns)} annotations on "
                                f"{sample.id}, a Good weld")
            continue
        photo = sample.images[view]
        width, height = _photo_size(photo)
        if (info.get("width"), info.get("height")) != (width, height):
            problems.append(f"image {image_id} {file_name!r}: size {info.get('width')} x "
                            f"{info.get('height')} but the photo {photo} is {width} x {height}")
            continue
        mask = np.zeros((height, width), bool)
        for ann in anns:
            try:
                with warnings.catch_warnings():  # NOTE: pycocotools 2.0 vs NumPy 2 copy keyword
                    warnings.simplefilter("ignore", DeprecationWarning)
                    mask |= coco.annToMask(ann).astype(bool)
            except Exception as exc:
                problems.append(f"image {image_id} {file_name!r}: annotation {ann.get('id')} "
                                f"has no usable segmentation ({exc})")
        report.annotations += len(anns)
        masks[sample.id][view] = mask
        samples[sample.id] = sample

    writes: list[tuple[Path, np.ndarray]] = []
    for sample_id, views in sorted(masks.items()):
        sample = samples[sample_id]
        for view, photo in enumerate(sample.images):
            target = sample.directory / MASK_DIR / f"{photo.stem}.png"
            if view in views:
                mask = views[view]
            else:  # NOTE: an unannotated view of an annotated weld shows no defect
                width, height = _photo_size(photo)
                mask = np.zeros((height, width), bool)
            if target.exists() and not force:
                problems.append(f"{target} exists (pass --force to overwrite)")
            writes.append((target, mask))
    if problems:
        shown = "\n  ".join(problems[:20]) + (f"\n  ... and {len(problems) - 20} more"
                                              if len(problems) > 20 else "")
        raise DataError(coco_file, f"{len(problems)} problems, nothing written:\n  {shown}")

    for target, mask in writes:
        if not dry_run:
            target.parent.mkdir(exist_ok=True)
            if not cv2.imwrite(str(target), mask.astype(np.uint8) * 255):
                raise DataError(target, "could not write the mask")
        report.files.append(target)
    report.welds = sorted(masks)
    report.views = len(writes)
    defects = [s for s in dataset.samples if s.split == "TEST" and s.label == 1]
    report.test_defects = len(defects)
    report.test_defects_with_masks = sum(s.id in masks or s.masks is not None for s in defects)
    return report
