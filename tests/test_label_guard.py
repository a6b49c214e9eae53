"""Tests for benchmark.data.label_guard (the run-id label leak guard).

The acceptance figures of issue 13, on the 20 shared real views and on the synthetic stress
set of `label_stress.py`: in every one at most 5 % of the label left untouched and no pixel
farther than ~60 px from the label changed; the same on its worn labels (issue 21: first
characters faded, a character missing), whose paper must go with the print. Then the guard's
check of its own output (a half removed label, or a faded one's paper left, is noticed and
fixed; an unsure view is marked, and blanked in strict mode), the counters the feature
extractor keeps, the synthetic twin, the time a view takes, and the shortcuts that time rests
on (each gives what the plain computation gives).
"""
from __future__ import annotations

import time
from dataclasses import replace

import cv2
import numpy as np
import pytest

import label_stress as stress  # tests/label_stress.py: the stress set and the two measures
from benchmark.data.label_guard import GUARD_VERSION, LabelRegion, find_label, remove_label

ANN, REAL_KEYS = stress.ANN, stress.REAL_KEYS
CASES = stress.stress_cases()


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
    assert r.status == "found" and not r.unsure
    assert isinstance(GUARD_VERSION, str) and GUARD_VERSION
    with pytest.raises(ValueError):
        find_label(img.astype(np.float32))


@pytest.mark.parametrize("angle", [0.0, 8.0, -15.0])
@pytest.mark.parametrize("text", ["08-17-22-0011-00", "08-18-22-0093-07"])
def test_synthetic_drawn_scene(angle, text):
    img, label, bead = _draw_scene(text=text, angle=angle)
    out, r = remove_label(img)
    assert r.status == "found"
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
    assert r.status == "not found" and not r.found
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
def test_real_view_leftover_and_reach(key):
    """The acceptance figures on a real view: label paper left <= 5 %, nothing changed
    farther than 60 px from the label (its hand-drawn outline or its paper)."""
    r = stress.measure_real(key)
    assert r["status"] == "found", key
    assert r["leftover"] <= stress.MAX_LEFTOVER, f"{key}: {100 * r['leftover']:.1f} % left"
    assert r["reach"] <= stress.MAX_REACH_PX, f"{key}: changed {r['reach']:.0f} px away"


@pytest.mark.parametrize("key", REAL_KEYS)
def test_real_view_bead_untouched(key):
    img = stress.load_real(key)
    ann = ANN[key]
    out, r = remove_label(img)
    label = stress.poly_mask(img.shape, ann["label_poly"])
    bead = stress.poly_mask(img.shape, ann["bead_poly"])
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
        lab, bead = stress.poly_mask(shape, a["label_poly"]), stress.poly_mask(shape, a["bead_poly"])
        assert (lab & bead).sum() == 0, key


@pytest.mark.parametrize("key", REAL_KEYS[::5])
def test_real_background_without_label_is_left_alone(key):
    """A real view with its label painted out (from the annotation): nothing found, nothing
    changed, so the guard's check never grows into a photo that has no label."""
    bg = stress.clean_background(key)
    out, r = remove_label(bg)
    assert r.status == "not found", key
    assert np.array_equal(out, bg)


def test_real_speed():
    """Target: < 100 ms wall per 2064x1548 view on 2 cores (scripts/bench_label_guard.py
    prints it). Checked on process CPU time (all threads), which other jobs sharing the
    machine do not inflate the way they inflate wall time; the bound leaves room for slower
    CPUs and for the views the check regrows."""
    img = stress.load_real(REAL_KEYS[0])
    remove_label(img)  # warm-up
    n = 5
    c = time.process_time()
    for _ in range(n):
        remove_label(img)
    cpu = (time.process_time() - c) / n
    assert cpu < 0.2, f"{cpu * 1000:.0f} ms CPU per image"


# ----------------------------------------------------------------- what the speed rests on

def test_ink_and_blobs_are_the_formula_and_opencvs():
    """`Page.of` reads its ink from a table per paper level and sums the blobs' stats over the
    ink alone: the same bits as the formula and cv2.connectedComponentsWithStats."""
    from benchmark.data.label_guard import _page

    for key in REAL_KEYS[::4]:
        small, _ = _page.downscale(stress.load_real(key))
        page = _page.Page.of(small)
        p = page.paper.astype(np.int16)
        ink = ((p - page.gray > _page._INK_CONTRAST * p) & (page.paper >= page.floor))
        _, lab, stats, cents = cv2.connectedComponentsWithStats(ink.astype(np.uint8),
                                                                connectivity=8)
        assert np.array_equal(page.lab, lab), key
        assert np.array_equal(page.stats[1:], stats[1:]) and page.stats.dtype == stats.dtype, key
        assert np.array_equal(page.cents[1:], cents[1:]), key
    blank = _page.Page.of(np.full((40, 60, 3), 200, np.uint8))
    assert blank.stats.shape == (1, 5) and not len(blank.glyphs)


def test_median_is_numpys():
    from benchmark.data.label_guard._page import median

    rng = np.random.default_rng(0)
    for n in range(1, 12):
        for values in (rng.normal(size=n), rng.integers(0, 256, n).astype(np.uint8),
                       rng.integers(-50, 50, n).astype(np.int32), list(rng.normal(size=n))):
            got = median(values)
            assert got == np.median(values) and got.dtype == np.float64


def _one_run(c, size, seed, origin, u, tol):
    """The row search's rule for one line, written plainly: the blobs within tol of the line,
    in one run with the seed without a gap of more than 1.5 glyphs."""
    d = c - origin
    across, along = np.abs(d @ np.array([-u[1], u[0]])), d @ u
    if across[seed] > tol:
        return [seed]
    on = sorted(np.flatnonzero(across <= tol), key=lambda k: along[k])
    glyph = np.median(np.minimum(size[on], 2 * size[on].min()))
    run = [on[0]]
    for prev, k in zip(on, on[1:]):
        if along[k] - along[prev] - size[prev] / 2 - size[k] / 2 > 1.5 * glyph:
            if seed in run:
                break
            run = []
        run.append(k)
    return run


def test_all_lines_at_once_are_each_line_alone():
    from benchmark.data.label_guard._print import _runs

    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(3, 25))
        c = rng.uniform(0, 200, (n, 2))
        c[: n // 2, 1] = 100 + rng.normal(0, 1, n // 2)  # a row among scattered blobs
        size = rng.uniform(3, 15, n)
        seeds = rng.integers(0, n, 6)
        angles = rng.uniform(-0.3, 0.3, 6)
        us = np.stack([np.cos(angles), np.sin(angles)], 1)
        origins, tols = c[seeds], rng.uniform(0.5, 6, 6)
        for k, run in enumerate(_runs(c, size, seeds, origins, us, tols)):
            assert list(run) == _one_run(c, size, seeds[k], origins[k], us[k], tols[k])


def _line_key(line) -> tuple:
    return (*line.centre, *line.u, *line.box, line.height, line.glyphs, line.shear, line.paper,
            line.level)


def _pages():
    from benchmark.data.label_guard import _page

    for key in REAL_KEYS:
        small, _ = _page.downscale(stress.load_real(key))
        yield key, small, _page.Page.of(small)


def test_rows_near_the_outlines_are_the_whole_searchs():
    """The check searches rows only in groups that can hold a row in an outline or near a label
    found (`_check._near`): every such row of the whole search comes out the same. Asked on the
    photo itself, where the label's own rows are such rows."""
    from benchmark.data.label_guard import _check, _outline, _page, _print

    for key, small, page in _pages():
        quads, _ = _outline.detect(page)
        centres = [l.centre for l in _print.find_lines(page) if l.is_label]

        def matters(line):
            return (any(q.contains(line.centre) for q in quads)
                    or any(np.linalg.norm(line.centre - c) <= line.height for c in centres))

        whole = [_line_key(l) for l in _print.find_lines(page) if matters(l)]
        near = _check._near([q.corners() for q in quads], centres)
        got = [_line_key(l) for l in _print.find_lines(_page.Page.of(small), near) if matters(l)]
        assert whole and got == whole, key


def test_pairs_passed_over_make_no_row(monkeypatch):
    """The row search passes over pairs of specks (`_print._small_pair`) without fitting them:
    fitted, none of them makes a row."""
    from benchmark.data.label_guard import _print

    small_pair, passed = _print._small_pair, []

    def counted(page, pair):
        passed.append(small_pair(page, pair))
        return passed[-1]

    for key, _, page in _pages():
        for group in _print._groups(page):
            for row in _print._rows(page, group):
                monkeypatch.setattr(_print, "_small_pair", counted)
                fast = _print._line_of(page, row)
                monkeypatch.setattr(_print, "_small_pair", lambda page, pair: False)
                whole = _print._line_of(page, row)
                assert (fast is None and whole is None) or _line_key(fast) == _line_key(whole), key
    assert sum(passed) >= 50 and not all(passed)  # it passed over many pairs, and not every one


# --------------------------------------------------------------------------- stress set

@pytest.mark.slow
def test_stress_set_covers_every_case():
    """Every placement meets every angle 0-90; every scale and exposure occurs; and each
    placement does what it says on the real background it is drawn on."""
    assert {(c.placement, c.angle) for c in CASES} == {
        (p, a) for p in stress.PLACEMENTS for a in stress.ANGLES}
    assert {c.scale for c in CASES} == set(stress.SCALES)
    assert {c.exposure for c in CASES} == set(stress.EXPOSURES)
    assert {c.edge_shadow for c in CASES} == {True, False}
    for case in CASES:
        photo, label = stress.render(case)
        assert photo.shape[:2] == label.shape and label.any(), case.name
        bead = stress.poly_mask(photo.shape, ANN[case.key]["bead_poly"])
        near_bead = cv2.dilate(bead.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
        sheet = stress.sheet_mask(case.key)
        if case.placement == "bead_touch":
            assert (label & near_bead).any() and (label & bead).sum() < 0.2 * label.sum(), case.name
        elif case.placement == "bead_overlap":
            assert (label & bead).any(), case.name
        elif case.placement == "sheet_touch":
            near_sheet = cv2.dilate(sheet.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
            assert (label & near_sheet).any(), case.name
        elif case.placement == "sheet_overlap":
            assert (label & sheet).sum() >= 0.1 * label.sum(), case.name
        elif case.placement == "out_of_frame":
            full = stress.label_area(case)
            assert 0.3 * full <= label.sum() <= 0.9 * full, case.name


# NOTE: known failures of the worn set, each two hard things at once (issue 21's report): a
# label 40 % out of frame at exposure 1.5 whose legible print is five glyphs (not found), or
# whose faded end lies on the saturated sheet (paper and sheet are one white); a faded label
# on the saturated sheet whose long edge runs on in line with the sheet's (grown 73 px too far)
_KNOWN = {"086-bead_overlap-a30-s1-e1.5-fade7": "reach: the sheet's edge runs on the label's",
          "089-out_of_frame-a75-s0.8-e1.5-fade6": "not found: five legible glyphs in frame",
          "095-out_of_frame-a60-s1.3-e1.5-fade8": "faded end on the saturated sheet"}


@pytest.mark.parametrize("case", [
    pytest.param(c, marks=pytest.mark.xfail(reason=_KNOWN[c.name], strict=True))
    if c.name in _KNOWN else c for c in CASES], ids=[c.name for c in CASES])
def test_stress_case(case):
    photo, label = stress.render(case)
    r = stress.measure(photo, label)
    assert r["status"] == "found", case.name
    assert r["leftover"] <= stress.MAX_LEFTOVER, f"{case.name}: {100 * r['leftover']:.1f} % left"
    assert r["reach"] <= stress.MAX_REACH_PX, f"{case.name}: changed {r['reach']:.0f} px away"


def test_worn_labels_print_as_a_worn_ribbon():
    """The worn set's labels: the first characters ramp from near-invisible up to full
    contrast, or one character is not printed at all; the rest prints as a plain label."""
    worn = [c for c in CASES if c.worn]
    assert {c.worn for c in worn} == {"faded", "missing"}
    assert {c.placement for c in worn} == set(stress.PLACEMENTS)
    assert {c.missing for c in worn} >= {0, 15} and {c.fade for c in worn} >= {5, 8}
    text = "08-17-22-0011-07"
    plain, _ = stress._label_sprite(text, 620, np.random.default_rng(0))
    ink = plain.mean(2) < 120
    cols = np.flatnonzero(ink.any(0))
    for fade, missing in ((6, None), (0, 4)):
        sprite, _ = stress._label_sprite(text, 620, np.random.default_rng(0), fade, missing)
        gone = (sprite.mean(2) - plain.mean(2)).clip(0)  # print taken away against the plain
        if fade:
            first = slice(cols[0], cols[0] + 15)  # the first character's left part
            assert gone[:, first][ink[:, first]].min() > 0.8 * 100  # near-invisible
            assert np.abs(sprite[:, -150:] - plain[:, -150:]).max() <= 2  # the end is plain
        else:
            assert 0 < np.flatnonzero(gone.max(0) > 100).size < 40  # one character's columns


# --------------------------------------------------------------------------- the check

@pytest.mark.parametrize("cut", ["lower half", "right half"])
@pytest.mark.parametrize("key", REAL_KEYS[:2])
def test_check_notices_a_half_removed_label_and_regrows(key, cut):
    """The failure of issue 13: an outline that covers half the label (the lower half of the
    run id left legible). The check on the output must see the print left, and the outline it
    regrows must leave at most 5 % of the label, with nothing left at the second look."""
    from benchmark.data.label_guard import _check, _fill, _outline, _page

    image = stress.load_real(key)
    label = stress.real_label_mask(image, key)
    small, s = _page.downscale(image)
    page = _page.Page.of(small)
    (quad,), _ = _outline.detect(page)
    poly = quad.poly.copy()
    axis = 1 if cut == "lower half" else 0
    poly[:, axis] = np.minimum(poly[:, axis], 0.0)  # keep the upper (left) half of the outline
    half = [replace(quad, poly=_outline.hull(poly))]
    mask, box = _fill.mask_of(half, s, image.shape[:2])
    _, out_small = _fill.fill(image, small, s, half, mask, box)
    assert stress.leftover(mask, label) > 0.3  # the cut really leaves a good part
    grown, left = _check.leftovers(out_small, half, page)
    assert "print" in left
    mask, box = _fill.mask_of(grown, s, image.shape[:2])
    _, out_small = _fill.fill(image, small, s, grown, mask, box)
    assert stress.leftover(mask, label) <= stress.MAX_LEFTOVER
    assert _check.leftovers(out_small, grown, page)[1] == ()


@pytest.mark.parametrize("index", [90, 96])
def test_check_finds_paper_left_beyond_an_outline(index):
    """Issue 21: an outline that stops where the found print does, leaving a faded run id's
    first characters on their paper. The check's look along the row sees the label's box run
    on past the outline (`paper_run`, where the whole outline shows none), says "paper", and
    the regrown outline leaves at most 5 % of the paper, nothing at the second look."""
    from benchmark.data.label_guard import _check, _fill, _outline, _page, _paper

    case = next(c for c in CASES if c.index == index)
    assert case.fade
    photo, label = stress.render(case)
    small, s = _page.downscale(photo)
    page = _page.Page.of(small)
    (quad,), _ = _outline.detect(page)
    h, a0 = quad.line.height, quad.line.box[0]
    cut = replace(quad, poly=_outline.hull(np.maximum(quad.poly, [a0 + 2 * h, -np.inf])))

    def guarded(quads):
        mask, box = _fill.mask_of(quads, s, photo.shape[:2])
        return mask, _fill.fill(photo, small, s, quads, mask, box)[1]

    def run_on(quads, out_small):  # paper along the row beyond the outline's faded end
        return _paper.paper_run(_page.Page.of(out_small, page.floor), quad.line, quad.edges,
                                quad.bounds, quads[0].box[0], -1, 8 * h, every=True)

    mask, out_small = guarded([cut])
    assert stress.leftover(mask, label) > 0.15  # the cut leaves the faded characters' paper
    assert run_on([cut], out_small) >= 2 * h
    assert run_on([quad], guarded([quad])[1]) < h
    grown, left = _check.leftovers(out_small, [cut], page)
    assert "paper" in left
    mask, out_small = guarded(grown)
    assert stress.leftover(mask, label) <= stress.MAX_LEFTOVER
    assert _check.leftovers(out_small, grown, page)[1] == ()


def _always_left(out_small, quads, original):
    return quads, ("paper",)


def test_unsure_view_is_marked_and_strict_mode_blanks(monkeypatch):
    """When the check still sees something after regrowing, the view is unsure (never passed
    silently); strict mode then blanks the whole label rectangle, widened, in one flat colour."""
    import benchmark.data.label_guard as guard

    monkeypatch.setattr(guard, "leftovers", _always_left)
    img, label, _ = _draw_scene(angle=8.0)
    _, r = remove_label(img)
    assert r.status == "unsure" and r.unsure and r.found and r.grown and not r.blanked
    assert r.left == ("paper",)
    strict_out, sr = remove_label(img, strict=True)
    assert sr.status == "unsure" and sr.blanked
    assert sr.mask.sum() > r.mask.sum() and (sr.mask & label).sum() == label.sum()
    assert len(np.unique(strict_out[sr.mask], axis=0)) == 1  # blanked flat
    assert np.array_equal(strict_out[~sr.mask], img[~sr.mask])


def test_feature_extractor_counts_unsure_and_missed_views(tiny_twin, tmp_path, monkeypatch):
    """The pixels extractor counts the guard's unsure and not-found views; the feature store
    keeps them in the stats the runner writes into run.json."""
    import benchmark.data.label_guard as guard
    from benchmark.data import load_dataset
    from benchmark.features.cache import FeatureStore
    from benchmark.profiles import FeatureOptions, get_profile

    outcomes = iter(["unsure", "not found", "found"] * 100)

    def fake_remove(image, strict=False):
        status = next(outcomes)
        region = LabelRegion(np.zeros(image.shape[:2], bool), (0, 0, 0, 0), status != "not found",
                             0.5, unsure=status == "unsure")
        return image.copy(), region

    monkeypatch.setattr(guard, "remove_label", fake_remove)
    samples = load_dataset(tiny_twin).samples[:2]
    store = FeatureStore(tmp_path / "cache", get_profile("quick"), FeatureOptions())
    store.get(samples, ("image_pixels",))
    views = sum(len(s.images) for s in samples)
    stats = store.report()["pixels"]
    assert stats["labels_unsure"] == len(range(0, views, 3))
    assert stats["labels_missed"] == len(range(1, views, 3))


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
            assert r.status == "found", f"{sp.run_id} view {v}"
            gt = np.abs(a.astype(int) - b.astype(int)).max(2) > 40
            assert (r.mask & gt).sum() >= 0.9 * gt.sum(), f"{sp.run_id} view {v}"
            assert not (r.mask & m).any(), f"{sp.run_id} view {v}: defect mask touched"
            assert np.array_equal(out[m], a[m])


# Known misses on the quick twin (seed 0): a label whose lower edge lies on the marker sheet, moved
# there by the session's pose shift (without the shift every view of the weld is found); listed so
# that a fix and a new miss both fail the test.
TWIN_KNOWN_MISSES = {("01-25-23-0359-04", "20230126_100215_001.jpg"),
                     ("02-09-23-0290-04", "20230210_100521_004.jpg")}


@pytest.mark.slow
def test_synthetic_twin_synthesize(quick_twin):
    """End to end on synthesize() output (the quick twin, seed 0, label drawn): label found in
    every view but the known misses, defect masks untouched."""
    runs = sorted(p for p in quick_twin.rglob("masks") if p.is_dir())
    assert runs, "synthesize wrote no masks/"
    n, missed = 0, set()
    for mdir in runs:
        run = mdir.parent
        for mpath in sorted(mdir.glob("*.png")):
            imgs = list((run / "images").glob(mpath.stem + ".*"))
            assert imgs, f"no image for {mpath}"
            img = cv2.cvtColor(cv2.imread(str(imgs[0])), cv2.COLOR_BGR2RGB)
            m = cv2.imread(str(mpath), cv2.IMREAD_GRAYSCALE) > 127
            guarded, r = remove_label(img)
            if not r.found:
                missed.add((run.name, imgs[0].name))
            assert not (r.mask & m).any(), f"{run.name}/{imgs[0].name}: defect mask touched"
            assert np.array_equal(guarded[m], img[m])
            n += 1
    assert n == 2080 and missed == TWIN_KNOWN_MISSES, sorted(missed ^ TWIN_KNOWN_MISSES)
