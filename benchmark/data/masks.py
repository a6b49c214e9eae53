"""Pixel masks out and in: the views to annotate as a COCO file (`export_coco`), and COCO
annotations (polygons or RLE, as CVAT and Label Studio export them) turned into the per-view PNG
masks of the real layout, `<run>/masks/<view stem>.png` (0 / 255) (`import_coco`).

Weld-4M ships no pixel masks; a group that annotates defects exports the TEST defect views, loads
the file in CVAT or Label Studio, and imports what it drew here; the pixel metrics are computed on
the welds that have masks (`benchmark.metrics.evaluation` leaves a defective weld without masks
out of them). pycocotools does the polygon and RLE work. Both read every weld whatever the state
of its `masks/` folder (an empty or partial folder is what an annotation in progress looks like;
`load_dataset` would leave such a weld out) and name empty and partial folders.

Export: one COCO image per view (`file_name` relative to the dataset root, the photo's size, the
weld's id and category), one category per defect category, every existing mask an RLE annotation
of its weld's category; with `guarded_images`, the label-guarded views written beside the file
under the same relative paths (annotators should not see the run id either).

Import rules, each refusal naming the file and the view:
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

from .loader import MASK_DIR, load_dataset, view_masks
from .sample import CATEGORY_CODES, DataError, Sample


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
    dataset = load_dataset(root, manifest, require=("image",), allow_missing=True, masks=False)
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
    report.test_defects_with_masks = sum(s.id in masks or _complete(s) for s in defects)
    return report


def _complete(sample: Sample) -> bool:
    found = view_masks(sample.directory, sample.images)
    return found is not None and all(m is not None for m in found)


@dataclass
class MaskExport:
    """What an export wrote."""

    images: int = 0  # COCO images (views)
    welds: int = 0
    annotations: int = 0  # existing masks, one per view with a defect pixel
    guarded: int = 0  # label-guarded views written beside the file
    folders: dict[str, list[str]] = field(default_factory=dict)  # "empty" / "partial" -> weld ids

    def summary(self) -> str:
        notes = "".join(f"; masks/ {state} in {len(ids)} welds ({', '.join(ids[:3])}"
                        f"{', ...' if len(ids) > 3 else ''})" for state, ids in self.folders.items() if ids)
        return (f"{self.images} views of {self.welds} welds, {self.annotations} existing masks as "
                f"annotations" + (f", {self.guarded} label-guarded views written" if self.guarded else "")
                + notes)


def export_coco(root: Path | str, out: Path | str, *, manifest: Path | str | None = None,
                splits: tuple[str, ...] = ("TEST",), guarded_images: bool = False) -> MaskExport:
    """Write the COCO file `out` of every view of the defective welds of `splits` (module doc)."""
    import json

    import cv2
    from pycocotools import mask as rle

    root, out = Path(root), Path(out)
    if guarded_images and out.parent.resolve() == root.resolve():
        raise DataError(out, "the label-guarded views would overwrite the dataset's photos: write "
                             "the COCO file outside the dataset root")
    dataset = load_dataset(root, manifest, require=("image",), allow_missing=True, masks=False)
    welds = [s for s in dataset.samples if s.label == 1 and s.split in splits]
    report = MaskExport(welds=len(welds), folders={"empty": [], "partial": []})
    images, annotations = [], []
    for sample in welds:
        masks = view_masks(sample.directory, sample.images)
        if masks is not None and all(m is None for m in masks):
            report.folders["empty"].append(sample.id)
        elif masks is not None and any(m is None for m in masks):
            report.folders["partial"].append(sample.id)
        for photo, mask_file in zip(sample.images, masks or [None] * len(sample.images)):
            width, height = _photo_size(photo)
            name = photo.relative_to(root).as_posix()
            images.append({"id": len(images) + 1, "file_name": name, "width": width,
                           "height": height, "weld": sample.id, "category": sample.category})
            if guarded_images:
                _write_guarded(photo, out.parent / name)
                report.guarded += 1
            mask = None if mask_file is None else cv2.imread(str(mask_file), cv2.IMREAD_GRAYSCALE)
            if mask is None or not mask.any():
                continue
            code = rle.encode(np.asfortranarray((mask > 0).astype(np.uint8)))
            annotations.append({"id": len(annotations) + 1, "image_id": images[-1]["id"],
                                "category_id": CATEGORY_CODES[sample.category], "iscrowd": 1,
                                "area": int(rle.area(code)), "bbox": [int(v) for v in rle.toBbox(code)],
                                "segmentation": {"size": code["size"], "counts": code["counts"].decode()}})
    categories = sorted({s.category for s in welds}, key=CATEGORY_CODES.get)
    coco = {"info": {"description": f"defect views of {', '.join(splits)} of {root}"},
            "images": images, "annotations": annotations,
            "categories": [{"id": CATEGORY_CODES[c], "name": c} for c in categories]}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(coco, indent=1))
    report.images, report.annotations = len(images), len(annotations)
    return report


def _write_guarded(photo: Path, target: Path) -> None:
    """The photo with its printed label removed, at `target` (same size and format)."""
    import cv2

    from .decode import read_image
    from .label_guard import remove_label

    guarded, _ = remove_label(read_image(photo))
    target.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(target), cv2.cvtColor(guarded, cv2.COLOR_RGB2BGR),
                       [cv2.IMWRITE_JPEG_QUALITY, 95]):
        raise DataError(target, "could not write the label-guarded view")
