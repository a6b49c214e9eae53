"""Tests for benchmark.data.label_guard (the run-id label leak guard)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmark.data.label_guard import GUARD_VERSION, LabelRegion, find_label, remove_label

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "fixtures" / "label_boxes.json"
SAMPLES = Path("/work/shared/weld4m/samples/good_weld_08_17_22_plane_plate")

ANN = {k: v for k, v in json.loads(FIXTURE.read_text()).items() if not k.startswith("_")}
REAL_KEYS = sorted(ANN)


def _poly(shape, pts) -> np.ndarray:
    m = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(m, [np.asarray(pts, np.int32)], 1)
    return m.astype(bool)


def _load(key: str) -> np.ndarray:
    run, name = key.split("/")
    path = SAMPLES / run / "images" / name
    # NOTE: the 20 real views are the guard's acceptance test: missing files fail, never skip.
    assert path.exists(), f"real sample {path} not found: ../shared/weld4m must sit beside the repo"
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


# --------------------------------------------------------------------------- synthetic drawing

def _draw_scene(seed: int = 0, text: str = "08-17-22-0011-07", angle: float = 8.0,
                size=(480, 640), with_label: bool = True):
    """Dark background, grey-brown plate, bright bead stripe, white label with black print.

    Returns (rgb, label_mask, bead_mask).
    """
    rng = np.random.default_rng(seed)
    h, w = size
    img = np.full((h, w, 3), 25, np.uint8)
    img = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
    cv2.rectangle(img, (80, 90), (w - 80, h - 120), (95, 70, 55), -1)          # plate (RGB)
    bead = np.zeros((h, w), np.uint8)
    cv2.rectangle(bead, (110, 150), (w - 110, 185), 1, -1)
    tex = rng.normal(165, 35, (h, w)).clip(0, 255).astype(np.uint8)
    for c in range(3):
        img[..., c] = np.where(bead > 0, tex, img[..., c])
    label = np.zeros((h, w), np.uint8)
    if with_label:
        lab = np.full((70, 300, 3), (238, 238, 232), np.uint8)
        cv2.putText(lab, text, (12, 48), cv2.FONT_HERSHEY_SIMPLEX, 0.95, (15, 15, 15), 2,
                    cv2.LINE_AA)
        M = cv2.getRotationMatrix2D((150, 35), angle, 1.0)
        M[:, 2] += (w / 2 - 150, 275 - 35)
        warped = cv2.warpAffine(lab, M, (w, h), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
        label = cv2.warpAffine(np.ones((70, 300), np.uint8), M, (w, h),
                               flags=cv2.INTER_NEAREST, borderValue=0)
        img = np.where(label[..., None] > 0, warped, img)
    return img.astype(np.uint8), label.astype(bool), bead.astype(bool)


def test_api_types():
    img, _, _ = _draw_scene()
    r = find_label(img)
    assert isinstance(r, LabelRegion)
    assert r.mask.dtype == bool and r.mask.shape == img.shape[:2]
    assert isinstance(GUARD_VERSION, str) and GUARD_VERSION
    with pytest.raises(ValueError):
        find_label(img.astype(np.float32))


@pytest.mark.parametrize("angle", [0.0, 8.0, -15.0])
@pytest.mark.parametrize("text", ["08-17-22-0011-00", "08-18-22-0093-07"])
def test_synthetic_drawn_scene(angle, text):
    img, label, bead = _draw_scene(text=text, angle=angle)
    out, r = remove_label(img)
    assert r.found
    assert (r.mask & label).sum() / label.sum() >= 0.97
    assert (r.mask & bead).sum() == 0
    x0, y0, x1, y1 = r.box
    ys, xs = np.nonzero(r.mask)
    assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x0, y0, x1, y1)
    # no print left: inside the label the guarded image has no dark strokes
    inner = cv2.erode(label.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    gray = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)
    assert (gray[inner] < 60).mean() < 0.01


def test_no_label_returns_unchanged():
    img, _, _ = _draw_scene(with_label=False)
    out, r = remove_label(img)
    assert not r.found
    assert not r.mask.any()
    assert np.array_equal(out, img)
    assert out is not img


def test_pixels_outside_region_unchanged_synthetic():
    img, _, _ = _draw_scene(angle=-5.0)
    out, r = remove_label(img)
    assert r.found
    assert np.array_equal(out[~r.mask], img[~r.mask])
    assert not np.array_equal(out[r.mask], img[r.mask])


def test_same_label_removed_identically_across_splits():
    """Same transform whatever the split: the guard is a pure function of the image."""
    img, _, _ = _draw_scene(angle=3.0)
    a, ra = remove_label(img)
    b, rb = remove_label(img.copy())
    assert np.array_equal(a, b) and np.array_equal(ra.mask, rb.mask)


# --------------------------------------------------------------------------- real photos

@pytest.mark.parametrize("key", REAL_KEYS)
def test_real_view_label_removed_bead_untouched(key):
    img = _load(key)
    ann = ANN[key]
    out, r = remove_label(img)
    assert r.found, key
    label = _poly(img.shape, ann["label_poly"])
    bead = _poly(img.shape, ann["bead_poly"])
    cov = (r.mask & label).sum() / label.sum()
    ovl = (r.mask & bead).sum() / bead.sum()
    assert cov >= 0.90, f"{key}: label coverage {cov:.3f}"
    assert ovl < 0.01, f"{key}: bead overlap {ovl:.4f}"
    # outside the removed region nothing changed
    assert np.array_equal(out[~r.mask], img[~r.mask])


def test_real_annotations_consistent():
    assert len(ANN) == 20
    for key, a in ANN.items():
        for name in ("label", "bead"):
            x0, y0, x1, y1 = a[name]
            assert x0 < x1 and y0 < y1, key
            pts = np.asarray(a[f"{name}_poly"])
            assert pts[:, 0].min() == x0 and pts[:, 1].max() == y1, key
        # the annotated bead and label must not overlap much themselves
        shape = (1600, 2100)
        lab, bead = _poly(shape, a["label_poly"]), _poly(shape, a["bead_poly"])
        assert (lab & bead).sum() == 0, key


def test_real_speed():
    """Target: < 100 ms per 2064x1548 image on an idle 2-core machine (measured ~50-70 ms).

    Checked on process CPU time (all threads), which other jobs sharing the machine do not
    inflate the way they inflate wall time; the bound leaves room for slower CPUs.
    """
    img = _load(REAL_KEYS[0])
    remove_label(img)  # warm-up
    n = 5
    c = time.process_time()
    for _ in range(n):
        remove_label(img)
    cpu = (time.process_time() - c) / n
    assert cpu < 0.2, f"{cpu * 1000:.0f} ms CPU per image"


# --------------------------------------------------------------------------- synthetic twin

def _synth():
    from benchmark.data import synth

    return synth


def test_synthetic_twin_render_views():
    """Every view of a range of twin samples: label found, covered, defect masks untouched.

    Ground truth for the label comes from rendering the same sample with label=False.
    """
    synth = _synth()
    specs = synth.plan(0, "quick")
    # one sample per category code if possible, plus the first few
    seen, chosen = set(), []
    for sp in specs:
        code = int(sp.run_id[-2:])
        if code not in seen:
            seen.add(code)
            chosen.append(sp)
    chosen += specs[:6]
    for sp in chosen:
        with_l, masks = synth.render_images(0, sp, label=True)
        without, _ = synth.render_images(0, sp, label=False)
        for v, (a, b, m) in enumerate(zip(with_l, without, masks)):
            out, r = remove_label(a)
            assert r.found, f"{sp.run_id} view {v}"
            gt = np.abs(a.astype(int) - b.astype(int)).max(2) > 40
            assert (r.mask & gt).sum() >= 0.9 * gt.sum(), f"{sp.run_id} view {v}"
            assert not (r.mask & m).any(), f"{sp.run_id} view {v}: defect mask touched"
            assert np.array_equal(out[m], a[m])


@pytest.mark.slow
def test_synthetic_twin_synthesize(tmp_path):
    """End to end on synthesize() output: label found in every view, defect masks untouched."""
    synth = _synth()
    out = synth.synthesize(tmp_path / "twin", seed=0, size="quick", label=True)
    runs = sorted(p for p in Path(out).rglob("masks") if p.is_dir())
    assert runs, "synthesize wrote no masks/"
    n = 0
    for mdir in runs:
        run = mdir.parent
        for mpath in sorted(mdir.glob("*.png")):
            imgs = list((run / "images").glob(mpath.stem + ".*"))
            assert imgs, f"no image for {mpath}"
            img = cv2.cvtColor(cv2.imread(str(imgs[0])), cv2.COLOR_BGR2RGB)
            m = cv2.imread(str(mpath), cv2.IMREAD_GRAYSCALE) > 127
            guarded, r = remove_label(img)
            assert r.found, f"{run.name}/{imgs[0].name}"
            assert not (r.mask & m).any(), f"{run.name}/{imgs[0].name}: defect mask touched"
            assert np.array_equal(guarded[m], img[m])
            n += 1
    assert n > 0
