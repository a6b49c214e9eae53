"""Where the weld is in a post-weld view: a region anchored on the printed label.

Every Weld-4M photo shows the plate from above at a varying angle and distance, with the marker
sheet (white paper with black coded fiducials) under it and the run-id label stuck on the plate
along the bead. An image model given the whole view spends most of its patches on the bench and
the sheet, and a memory bank's largest distance of a normal view falls on the fiducials, whose
pose changes from photo to photo; the weld is a band of a few percent of the view. The label guard
already finds the label in every view, and the label lies along the bead on the plate, so the
label's rectangle gives the weld's direction, place and scale in one step.

The region is a rectangle in the label's own frame (its long axis along the print, "up" the side
towards the top of the photo): `ALONG` label lengths either side of its centre, `ABOVE` label
heights up from its centre and `BELOW` down. On the 20 shared real views and the twin it holds the
plate with the whole bead and at most a strip of the sheet (`tests/test_weld_region.py`). It is
warped (affine) to an upright square crop; the inverse warp brings a crop's anomaly map back onto
the view, where pixels outside the region take the map's lowest value.
"""
from __future__ import annotations

import numpy as np

ALONG = 1.0   # label lengths either side of the label's centre: the bead is ~1.8 label lengths
ABOVE = 3.0   # label heights above its centre: the plate's far edge (twin: 3.3, real: ~1.6)
BELOW = 0.75  # label heights below its centre: the plate's near edge, the sheet just beyond
REGION_VERSION = f"label-anchored-{ALONG}-{ABOVE}-{BELOW}"


def weld_region(label_mask: np.ndarray) -> np.ndarray | None:
    """Three corners (top-left, top-right, bottom-left; x, y in the mask's pixels, float32 (3, 2))
    of the weld's region from the label guard's mask of a view; None where no label was found."""
    import cv2

    ys, xs = np.nonzero(label_mask)
    if len(xs) < 3:
        return None
    (cx, cy), (w, h), angle = cv2.minAreaRect(np.stack([xs, ys], 1).astype(np.float32))
    if h > w:
        w, h, angle = h, w, angle + 90.0
    t = np.deg2rad(angle)
    along = np.array([np.cos(t), np.sin(t)])
    along = -along if along[0] < 0 else along  # left to right
    up = np.array([along[1], -along[0]])
    up = -up if up[1] > 0 else up  # towards the top of the photo
    c = np.array([cx, cy])
    left, right = c - ALONG * w * along, c + ALONG * w * along
    return np.float32([left + ABOVE * h * up, right + ABOVE * h * up, left - BELOW * h * up])


def _affine(corners: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The 2x3 affine map from view pixels to the (H, W) crop of the region."""
    import cv2

    h, w = size
    return cv2.getAffineTransform(np.float32(corners), np.float32([[0, 0], [w, 0], [0, h]]))


def scale_corners(corners: np.ndarray, source: tuple[int, int], target: tuple[int, int]) -> np.ndarray:
    """Corners in pixels of a (H, W) `source` image -> the same points in a resized (H, W) `target`."""
    return np.float32(corners) * np.float32([target[1] / source[1], target[0] / source[0]])


def crop_region(image: np.ndarray, corners: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The region of `image` (H, W, C) warped to an upright (size) crop; area-averaged when it
    shrinks, pixels beyond the photo's edge repeat its border."""
    import cv2

    return cv2.warpAffine(image, _affine(corners, size), (size[1], size[0]), flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_REPLICATE)


def map_to_view(amap: np.ndarray, corners: np.ndarray, view: tuple[int, int]) -> np.ndarray:
    """A crop's map (h, w) back onto the (H, W) view (bilinear); pixels outside the region take
    the map's lowest value (the method did not look there)."""
    import cv2

    amap = np.asarray(amap, np.float32)
    return cv2.warpAffine(amap, _affine(corners, amap.shape), (view[1], view[0]),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=float(amap.min()))
