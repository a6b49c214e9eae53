"""`bench data masks import`: COCO annotations (RLE, polygons) into the per-view PNG masks of the
real layout, on a copy of the tiny twin's photos and masks (no media: the import reads images)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmark.data.loader import MANIFEST_NAME, load_dataset
from benchmark.data.masks import import_coco
from benchmark.data.sample import DataError


def _copy_twin(tiny_twin: Path, root: Path, masks_to: Path) -> Path:
    """The twin's manifest and photos at `root` (no media: the mask tools read images), its
    masks under `masks_to` at the same relative paths."""
    root.mkdir()
    shutil.copy(tiny_twin / MANIFEST_NAME, root / MANIFEST_NAME)
    for images in tiny_twin.glob("*/*/images"):
        run = images.parent.relative_to(tiny_twin)
        shutil.copytree(images, root / run / "images")
        if (images.parent / "masks").is_dir():
            shutil.copytree(images.parent / "masks", masks_to / run / "masks")
    return root


@pytest.fixture()
def photos(tiny_twin: Path, tmp_path: Path) -> Path:
    """The twin's manifest, photos and masks (the masks moved aside to `<tmp>/truth`)."""
    return _copy_twin(tiny_twin, tmp_path / "data", tmp_path / "truth")


def _read(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) > 0


def _coco(images: list[dict], annotations: list[dict], path: Path) -> Path:
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": 1, "name": "defect"}]}))
    return path


def _twin_coco(root: Path, truth: Path, out: Path) -> tuple[Path, list]:
    """A COCO file (RLE) of every defective weld's twin masks; returns it and those welds."""
    from pycocotools import mask as rle

    defects = [s for s in load_dataset(root, require=("image",)).samples if s.label == 1]
    images, annotations = [], []
    for sample in defects:
        for photo in sample.images:
            mask = _read(truth / photo.parent.parent.relative_to(root) / "masks" / f"{photo.stem}.png")
            image_id = len(images) + 1
            images.append({"id": image_id, "file_name": photo.relative_to(root).as_posix(),
                           "width": mask.shape[1], "height": mask.shape[0]})
            if mask.any():
                code = rle.encode(np.asfortranarray(mask.astype(np.uint8)))
                annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                    "category_id": 1, "iscrowd": 1, "area": int(mask.sum()),
                                    "bbox": [0, 0, 0, 0],
                                    "segmentation": {"size": code["size"],
                                                     "counts": code["counts"].decode()}})
    return _coco(images, annotations, out), defects


def test_twin_masks_round_trip(photos: Path, tmp_path: Path):
    truth = tmp_path / "truth"
    coco, defects = _twin_coco(photos, truth, tmp_path / "coco.json")
    report = import_coco(coco, photos)
    assert report.welds == sorted(s.id for s in defects)
    assert report.views == sum(len(s.images) for s in defects)
    for sample in load_dataset(photos, require=("image",)).samples:
        if sample.label == 0:
            assert sample.masks is None
            continue
        for photo, mask in zip(sample.images, sample.masks):
            original = truth / sample.directory.relative_to(photos) / "masks" / mask.name
            np.testing.assert_array_equal(_read(mask), _read(original))
    tests = [s for s in defects if s.split == "TEST"]
    assert report.test_defects == report.test_defects_with_masks == len(tests)
    # nothing is overwritten without --force; with it the same masks are written again
    with pytest.raises(DataError, match="exists"):
        import_coco(coco, photos)
    assert import_coco(coco, photos, force=True).views == report.views


def test_polygon_by_file_name(photos: Path, tmp_path: Path):
    """A polygon on one view, matched by its bare file name: that view's mask is the rectangle,
    the weld's other views get empty masks."""
    sample = next(s for s in load_dataset(photos, require=("image",)).samples if s.label == 1)
    photo = sample.images[1]
    h, w = _read_shape(photo)
    coco = _coco([{"id": 7, "file_name": photo.name, "width": w, "height": h}],
                 [{"id": 1, "image_id": 7, "category_id": 1, "iscrowd": 0, "area": 400.0,
                   "bbox": [10, 20, 20, 20], "segmentation": [[10, 20, 30, 20, 30, 40, 10, 40]]}],
                 tmp_path / "poly.json")
    import_coco(coco, photos)
    masks = [_read(sample.directory / "masks" / f"{p.stem}.png") for p in sample.images]
    assert all(not m.any() for i, m in enumerate(masks) if i != 1)
    assert masks[1][25:35, 15:25].all() and not masks[1][:15].any() and not masks[1][:, 35:].any()
    assert abs(int(masks[1].sum()) - 400) <= 2 * 40  # the rectangle, give or take its edge


def _read_shape(photo: Path) -> tuple[int, int]:
    return cv2.imread(str(photo)).shape[:2]


@pytest.mark.parametrize("problem", ["size", "unknown view", "good weld"])
def test_bad_coco_files_are_refused(photos: Path, tmp_path: Path, problem: str):
    samples = load_dataset(photos, require=("image",)).samples
    sample = next(s for s in samples if s.label == (0 if problem == "good weld" else 1))
    photo = sample.images[0]
    h, w = _read_shape(photo)
    image = {"id": 1, "file_name": photo.relative_to(photos).as_posix(), "width": w, "height": h}
    if problem == "size":
        image["width"] = w * 2
    if problem == "unknown view":
        image["file_name"] = "elsewhere/20990101_000000_001.jpg"
    coco = _coco([image], [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 4.0,
                            "bbox": [0, 0, 2, 2], "segmentation": [[0, 0, 2, 0, 2, 2, 0, 2]]}],
                 tmp_path / "bad.json")
    expected = {"size": "photo", "unknown view": "no view", "good weld": "a Good weld"}[problem]
    with pytest.raises(DataError, match=expected) as err:
        import_coco(coco, photos)
    assert str(coco) in str(err.value) and "nothing written" in str(err.value)
    assert not list(photos.glob("*/*/masks"))


def test_cli(photos: Path, tmp_path: Path, capsys):
    from benchmark.cli import main

    coco, _ = _twin_coco(photos, tmp_path / "truth", tmp_path / "coco.json")
    assert main(["data", "masks", "import", "--coco", str(coco), "--root", str(photos)]) == 0
    assert "TEST defects with masks" in capsys.readouterr().out
    assert main(["data", "masks", "import", "--coco", str(coco), "--root", str(photos)]) == 2
    assert "--force" in capsys.readouterr().err


@pytest.fixture()
def with_masks(tiny_twin: Path, tmp_path: Path) -> Path:
    """The twin's manifest, photos and masks, in the real layout."""
    return _copy_twin(tiny_twin, tmp_path / "data", tmp_path / "data")


def test_export_then_import_gives_the_masks_back(with_masks: Path, tmp_path: Path):
    """The TEST defect views go out with their masks as RLE annotations and come back through
    `import` with IoU >= 0.99 on every view with a defect pixel (empty views stay empty)."""
    from benchmark.data.masks import export_coco

    coco = tmp_path / "out" / "test_defects.json"
    report = export_coco(with_masks, coco)
    saved = json.loads(coco.read_text())
    test = [s for s in load_dataset(with_masks, require=("image",)).samples
            if s.split == "TEST" and s.label == 1]
    assert report.welds == len(test) and report.images == len(saved["images"]) == sum(len(s.images) for s in test)
    assert {i["file_name"] for i in saved["images"]} == {p.relative_to(with_masks).as_posix()
                                                         for s in test for p in s.images}
    assert report.annotations == len(saved["annotations"]) > 0
    truth = {}
    for sample in test:
        for mask in sample.masks:
            truth[mask.relative_to(with_masks)] = _read(mask)
            mask.unlink()
    import_coco(coco, with_masks)
    for rel, expected in truth.items():
        got = _read(with_masks / rel)
        if expected.any():
            assert (got & expected).sum() / (got | expected).sum() >= 0.99, rel
        else:
            assert not got.any(), rel


def test_empty_and_partial_mask_folders_are_named(with_masks: Path, tmp_path: Path):
    """A weld whose masks/ is empty or partial is left out of a run, the reason saying which; the
    export names both and the import writes into them (an annotation in progress)."""
    from benchmark.data.masks import export_coco

    test = [s for s in load_dataset(with_masks, require=("image",)).samples
            if s.split == "TEST" and s.label == 1]
    empty, partial = test[0], test[1]
    for mask in empty.masks:
        mask.unlink()
    partial.masks[0].unlink()
    excluded = {e.id: e.reason for e in load_dataset(with_masks, require=("image",),
                                                     allow_missing=True).excluded}
    assert "masks/ is empty" in excluded[empty.id]
    assert f"masks/ is partial: {len(partial.images) - 1} of {len(partial.images)}" in excluded[partial.id]
    report = export_coco(with_masks, tmp_path / "coco.json")
    assert report.folders == {"empty": [empty.id], "partial": [partial.id]}
    assert "masks/ empty in 1 welds" in report.summary()
    photo = empty.images[0]
    h, w = _read_shape(photo)
    coco = _coco([{"id": 1, "file_name": photo.relative_to(with_masks).as_posix(), "width": w, "height": h}],
                 [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 4.0,
                   "bbox": [0, 0, 2, 2], "segmentation": [[0, 0, 2, 0, 2, 2, 0, 2]]}], tmp_path / "one.json")
    assert import_coco(coco, with_masks).welds == [empty.id]
    back = load_dataset(with_masks, require=("image",), allow_missing=True)  # (the partial one is out)
    assert empty.id in {s.id for s in back.samples} and [e.id for e in back.excluded] == [partial.id]


def test_export_writes_label_guarded_views_beside_the_file(with_masks: Path, tmp_path: Path, capsys):
    from benchmark.cli import main

    out = tmp_path / "annotate" / "coco.json"
    assert main(["data", "masks", "export", "--root", str(with_masks), "--out", str(out),
                 "--guarded-images"]) == 0
    assert "label-guarded views written" in capsys.readouterr().out
    for image in json.loads(out.read_text())["images"]:
        guarded, original = out.parent / image["file_name"], with_masks / image["file_name"]
        assert guarded.is_file() and _read_shape(guarded) == _read_shape(original)
    # beside the photos themselves it would overwrite them: refused, one line
    assert main(["data", "masks", "export", "--root", str(with_masks), "--out",
                 str(with_masks / "coco.json"), "--guarded-images"]) == 2
    assert "overwrite the dataset's photos" in capsys.readouterr().err
