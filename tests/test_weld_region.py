"""The weld's region of a view (`benchmark.data.weld_region`): known answers on the twin, whose
defect masks say where the weld's defects are, and on the 20 shared real views, where the marker
sheet is the only large white paper once the label is removed."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from benchmark.data.label_guard import remove_label
from benchmark.data.weld_region import crop_region, map_to_view, scale_corners, weld_region
from label_stress import REAL_KEYS, load_real

SIDE = 112


def _paper(image: np.ndarray) -> np.ndarray:
    """White paper: bright and unsaturated (the marker sheet; the label is removed before)."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    return (hsv[..., 2] > 170) & (hsv[..., 1] < 40)


def _region(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    guarded, label = remove_label(image)
    corners = weld_region(label.mask)
    assert corners is not None, "the label guard found no label"
    return guarded, corners


def _area(corners: np.ndarray) -> float:
    (a, b) = corners[1] - corners[0], corners[2] - corners[0]
    return abs(float(a[0] * b[1] - a[1] * b[0]))


def test_no_label_no_region():
    assert weld_region(np.zeros((60, 80), bool)) is None


def test_a_crop_map_goes_back_where_it_was_cut():
    """A rotated region of a view whose pixels hold their own x: the crop's values warped back
    land on the pixels they came from; outside the region the map's lowest value."""
    h, w = 120, 160
    x_of = np.broadcast_to(np.arange(w, dtype=np.float32), (h, w)).copy()
    t = np.deg2rad(20)
    along, up = np.float32([np.cos(t), np.sin(t)]), np.float32([np.sin(t), -np.cos(t)])
    origin = np.float32([40, 70])
    corners = np.float32([origin, origin + 80 * along, origin - 30 * up])
    crop = crop_region(x_of[..., None].repeat(3, -1), corners, (SIDE, SIDE))[..., 0]
    back = map_to_view(crop, corners, (h, w))
    cover = cv2.warpAffine(np.ones((SIDE, SIDE), np.float32), cv2.getAffineTransform(
        np.float32([[0, 0], [SIDE, 0], [0, SIDE]]), corners), (w, h))
    core = cv2.erode((cover > 0.999).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert core.sum() > 1000
    np.testing.assert_allclose(back[core], x_of[core], atol=1.0)
    outside = cover == 0
    assert outside.sum() > 10000 and np.all(back[outside] == crop.min())
    np.testing.assert_allclose(scale_corners(corners, (h, w), (2 * h, w)), corners * [1, 2])


def test_twin_region_holds_the_defects_and_leaves_the_sheet():
    """Twin (tiny, confound-free, seed 3), every defect view: the region holds >= 98 % of the
    defect mask, and white paper fills >= 15 % of a whole view but <= 9 % of its region."""
    from benchmark.data.synth.images import render_images
    from benchmark.data.synth.process import plan

    held, paper_view, paper_region = [], [], []
    for spec in plan(3, "tiny", "none")[::4]:
        views, masks = render_images(3, spec)
        for view, mask in zip(views, masks):
            guarded, corners = _region(view)
            paper_view.append(_paper(guarded).mean())
            paper_region.append(_paper(crop_region(guarded, corners, (SIDE, SIDE))).mean())
            if mask.any():
                inside = crop_region(mask.astype(np.float32), corners, (2 * SIDE, 2 * SIDE))
                held.append(inside.sum() * _area(corners) / (2 * SIDE) ** 2 / mask.sum())
    assert len(held) >= 50
    assert min(held) >= 0.98, sorted(held)[:5]
    assert np.mean(paper_view) >= 0.15 and max(paper_region) <= 0.09, (np.mean(paper_view),
                                                                          max(paper_region))


@pytest.mark.parametrize("key", REAL_KEYS)
def test_real_region_leaves_the_marker_sheet(key):
    """The 20 shared real views: white paper (the sheet) fills >= 8 % of the whole view and
    <= 3 % of the weld's region."""
    guarded, corners = _region(load_real(key))
    whole = cv2.resize(guarded, (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    assert _paper(whole).mean() >= 0.08
    assert _paper(crop_region(guarded, corners, (SIDE, SIDE))).mean() <= 0.03


def test_region_maps_land_in_their_part_of_the_view():
    """A token map of a region that is the right half of the view, warped onto a view grid 4x
    finer (`region_maps_to_views`): the left half holds the map's lowest value, the right half
    the map's columns in order."""
    from benchmark.method import Inputs
    from methods._blocks import region_maps_to_views

    grid = np.broadcast_to(np.arange(1, 5, dtype=np.float32), (4, 4))  # value = column + 1
    right_half = np.float32([[0.5, 0], [1, 0], [0.5, 1]])
    inputs = Inputs(configs=(None,), features={"image_region": [right_half[None]]})
    (view,) = region_maps_to_views(grid[None, None], inputs, 16)[0]
    assert view.shape == (16, 16)
    assert np.all(view[:, :7] == 1.0)  # outside: the map's lowest value
    cols = view[8].round(3)  # (the region's last column blends with the outside, bilinearly)
    assert np.all(np.diff(cols[8:15]) > 0) and cols[8] == 1.0 and cols[14] == 4.0
