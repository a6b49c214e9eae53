"""Label guard: find and remove the printed run-id label from post-weld photos.

Every real Weld-4M post-weld photo shows a paper label on the plate with the run id printed on
it (`08-17-22-0011-00`). The last two digits are the category code, so an image model trained on
normals (all `-00`) could flag defects by reading the label instead of looking at the weld. The
guard removes the label with the *same* transform for TRAIN, VAL and TEST, before any feature is
computed.

Method, and why
---------------
The detector is classical, OCR-free OpenCV: no model download is possible here, OCR would be
slow and would only tell us *that* there is text, while the label is visually very regular:

* a bright, low-saturation paper region (HSV threshold, Otsu on V) that is
* roughly rectangular (contour area vs. ``cv2.minAreaRect`` area, aspect ratio 1.6..9) and
* carries a row of dark, high-frequency print (black-hat morphology inside the region; many
  small glyph blobs of similar height),
* sitting on a darker metallic plate.

A fiducial sheet with large black marker arcs lies under the plate in the real photos; it is also
bright paper but is much bigger, less rectangular in view and carries a few big blobs, not a
row of glyphs, so the glyph score separates them. Where the label touches the sheet in the
thresholded mask, the candidates are re-split by progressively stronger morphological opening
(the paper edges meet only along thin shadowed bridges); among near-best candidates the most
strongly opened one wins, and thinly filled bands along the label's long side (a bead highlight
glued to its edge) are trimmed off before the hull is taken.

Everything is decided on a copy whose longest side is 512 px; the chosen contour is mapped back
and rasterised at full resolution as its convex hull (text holes included), dilated by a small
margin. The fill is ``cv2.inpaint`` (Telea) computed on the downscaled copy and upsampled into the
masked pixels only, which keeps the whole call well under 100 ms on 2064x1548 on two CPU cores.
Pixels outside the mask are returned bit-identical.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

GUARD_VERSION = "label-guard-2"

_WORK_SIDE = 512          # longest side of the detection copy
_MIN_AREA_FRAC = 0.002    # label area vs. image area (detection copy)
_MAX_AREA_FRAC = 0.12


@dataclass(frozen=True)
class LabelRegion:
    mask: np.ndarray                      # bool (H, W), True where the label is (slightly dilated)
    box: tuple[int, int, int, int]        # x0, y0, x1, y1 (exclusive) of the removed region
    found: bool
    score: float                          # detection confidence of the chosen candidate


def _empty(h: int, w: int, score: float = 0.0) -> LabelRegion:
    return LabelRegion(np.zeros((h, w), bool), (0, 0, 0, 0), False, float(score))


def _check(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected uint8 RGB (H, W, 3), got {image.dtype} {image.shape}")
    return image


def _downscale(image: np.ndarray) -> tuple[np.ndarray, float]:
    h, w = image.shape[:2]
    s = min(1.0, _WORK_SIDE / max(h, w))
    if s == 1.0:
        return image, 1.0
    small = cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))),
                       interpolation=cv2.INTER_AREA)
    return small, s


def _bright_mask(small: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    v, s = hsv[..., 2], hsv[..., 1]
    t, _ = cv2.threshold(v, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    t = max(float(t), 90.0)
    return ((v > t) & (s < 70)).astype(np.uint8)


def _glyph_score(gray: np.ndarray, region: np.ndarray, rect) -> tuple[float, int]:
    """How much the inside of `region` looks like one row of printed glyphs.

    Dark blobs (print) inside the paper are counted as glyphs when they are small against the
    region's short side and their centres lie close to the long axis of the region's rectangle:
    the run id is one line of ~16 characters along the label, whereas the fiducial sheet's marker
    arcs are few, large and spread over its whole area.
    """
    (cx, cy), (rw, rh), ang = rect
    short = max(2.0, min(rw, rh))
    inner = cv2.erode(region, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    if inner.sum() < 20:
        return 0.0, 0
    vals = gray[inner > 0]
    paper = float(np.percentile(vals, 75))
    dark = ((gray < paper * 0.6) & (inner > 0)).astype(np.uint8)
    frac = float(dark.sum()) / float(inner.sum())
    n, lab, stats, cents = cv2.connectedComponentsWithStats(dark, connectivity=8)
    # stroke half-width per blob: printed glyphs are thin strokes, marker arcs/dots are thick
    dist = cv2.distanceTransform(dark, cv2.DIST_L2, 3)
    maxd = np.zeros(n, np.float32)
    np.maximum.at(maxd, lab.ravel(), dist.ravel())
    t = np.deg2rad(ang if rw >= rh else ang + 90.0)
    ux, uy = np.cos(t), np.sin(t)          # long-axis direction
    row, off = 0, 0
    for i in range(1, n):
        gh = stats[i, cv2.CC_STAT_HEIGHT]
        gw = stats[i, cv2.CC_STAT_WIDTH]
        a = stats[i, cv2.CC_STAT_AREA]
        if a < 2 or max(gh, gw) > 0.75 * short or max(gh, gw) < 0.08 * short:
            continue
        if 2.0 * maxd[i] > 0.5 * max(gh, gw) and max(gh, gw) > 4:
            off += 1                       # thick blob: not print
            continue
        dx, dy = cents[i, 0] - cx, cents[i, 1] - cy
        across = abs(-uy * dx + ux * dy)
        if across <= 0.22 * short:
            row += 1
        else:
            off += 1
    frac_ok = 1.0 if 0.02 <= frac <= 0.40 else 0.3
    purity = row / max(row + off, 1)
    return frac_ok * purity * min(row, 12) / 12.0, row


def _candidates(mask: np.ndarray):
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return contours


def _score_contour(c, gray: np.ndarray, img_area: float):
    area = cv2.contourArea(c)
    if not (_MIN_AREA_FRAC * img_area <= area <= _MAX_AREA_FRAC * img_area):
        return None
    rect = cv2.minAreaRect(c)
    (rw, rh) = rect[1]
    if min(rw, rh) < 4:
        return None
    aspect = max(rw, rh) / min(rw, rh)
    if not (1.6 <= aspect <= 9.0):
        return None
    hull = cv2.convexHull(c)
    hull_area = max(cv2.contourArea(hull), 1.0)
    rectangularity = hull_area / (rw * rh)
    solidity = area / hull_area
    if rectangularity < 0.7 or solidity < 0.6:
        return None
    bx, by, bw, bh = cv2.boundingRect(hull)
    region = np.zeros((bh, bw), np.uint8)
    cv2.drawContours(region, [hull - np.array([bx, by])], -1, 1, -1)
    (rcx, rcy), rsize, rang = rect
    rect = ((rcx - bx, rcy - by), rsize, rang)
    gray = gray[by:by + bh, bx:bx + bw]
    gscore, nglyph = _glyph_score(gray, region, rect)
    if nglyph < 5:
        return None
    aspect_ok = 1.0 if 2.2 <= aspect <= 6.5 else 0.7
    score = gscore * rectangularity * solidity * aspect_ok
    return score, _trim(hull, c, rect, (bx, by))


def _trim(hull, contour, rect, off):
    """Cut off bands along the label's short axis that are only thinly filled.

    A bead highlight or plate edge touching the label adds a thin sliver along one long side;
    in the label's own frame, rows of the real label are filled along most of its length, the
    sliver's rows are not. Returns the hull of the kept part (full detection-copy coordinates).
    """
    (cx, cy), (rw, rh), ang = rect
    t = np.deg2rad(ang if rw >= rh else ang + 90.0)
    ux, uy = np.cos(t), np.sin(t)
    long_, short = max(rw, rh), min(rw, rh)
    x0, y0 = off
    bx, by, bw, bh = cv2.boundingRect(contour)
    m = np.zeros((bh, bw), np.uint8)
    cv2.drawContours(m, [contour - np.array([bx, by])], -1, 1, -1)
    ys, xs = np.nonzero(m)
    xs = xs + bx - cx
    ys = ys + by - cy
    along = xs * ux + ys * uy
    across = -xs * uy + ys * ux
    nb = max(8, int(round(short)))
    edges = np.linspace(-short / 2, short / 2, nb + 1)
    idx = np.clip(np.digitize(across, edges) - 1, 0, nb - 1)
    fill = np.zeros(nb)
    for b in range(nb):
        sel = along[idx == b]
        fill[b] = (sel.max() - sel.min()) / long_ * min(1.0, sel.size / max(long_, 1)) if sel.size else 0
    good = fill >= 0.55
    mid = nb // 2
    if not good[mid]:
        return hull
    lo = mid
    while lo > 0 and good[lo - 1]:
        lo -= 1
    hi = mid
    while hi < nb - 1 and good[hi + 1]:
        hi += 1
    if lo == 0 and hi == nb - 1:
        return hull
    keep = (idx >= lo) & (idx <= hi)
    kp = np.stack([xs[keep] + cx, ys[keep] + cy], 1).astype(np.float32)
    return cv2.convexHull(kp.round().astype(np.int32))


def _detect_small(small: np.ndarray):
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    bright = _bright_mask(small)
    img_area = float(gray.shape[0] * gray.shape[1])
    found = []
    for k in (0, 3, 5, 7, 9):
        m = bright
        if k:
            m = cv2.morphologyEx(bright, cv2.MORPH_OPEN,
                                 cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
        for c in _candidates(m):
            r = _score_contour(c, gray, img_area)
            if r is not None:
                found.append((r[0], k, r[1]))
    if not found:
        return 0.0, None
    top = max(f[0] for f in found)
    # among near-best candidates prefer the most strongly opened one: opening cuts off bead
    # highlights or fiducial-sheet corners that touch the label through thin bridges
    score, _, hull = max((f for f in found if f[0] >= 0.9 * top), key=lambda f: (f[1], f[0]))
    return score, hull


def find_label(image: np.ndarray) -> LabelRegion:
    """Locate the printed label in a uint8 RGB image (H, W, 3)."""
    image = _check(image)
    h, w = image.shape[:2]
    small, s = _downscale(image)
    score, hull = _detect_small(small)
    if hull is None or score < 0.25:
        return _empty(h, w, score)
    pts = hull.reshape(-1, 2).astype(np.float64)
    # pixel centres: small (i + .5) <-> full (j + .5) / s ... map the hull outwards a little
    full = (pts + 0.5) / s - 0.5
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round(full).astype(np.int32)], 1)
    margin = max(2, int(round(0.75 / s)))  # ~3 px at 2064 wide: JPEG-blurred paper edge
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                                      (2 * margin + 1, 2 * margin + 1)))
    ys, xs = np.nonzero(mask)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return LabelRegion(mask.astype(bool), box, True, float(score))


def remove_label(image: np.ndarray) -> tuple[np.ndarray, LabelRegion]:
    """Return (guarded image, region). Unchanged copy and found=False if no label is found."""
    image = _check(image)
    region = find_label(image)
    out = image.copy()
    if not region.found:
        return out, region
    h, w = image.shape[:2]
    small, s = _downscale(image)
    sh, sw = small.shape[:2]
    # mask on the small copy: must cover every masked full-res pixel, plus a ring so that
    # the fill samples plate colours, not label edge pixels
    msmall = cv2.resize(region.mask.astype(np.uint8), (sw, sh), interpolation=cv2.INTER_AREA)
    msmall = (msmall > 0).astype(np.uint8)
    msmall = cv2.dilate(msmall, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    filled = cv2.inpaint(small, msmall, 5, cv2.INPAINT_TELEA)
    x0, y0, x1, y1 = region.box
    if s == 1.0:
        patch = filled[y0:y1, x0:x1]
    else:
        # upsample only the box: full pixel j maps to small (j + .5) * s - .5
        xs = (np.arange(x0, x1, dtype=np.float32) + 0.5) * s - 0.5
        ys = (np.arange(y0, y1, dtype=np.float32) + 0.5) * s - 0.5
        mx, my = np.meshgrid(xs, ys)
        patch = cv2.remap(filled, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    m = region.mask[y0:y1, x0:x1]
    out[y0:y1, x0:x1][m] = patch[m]
    return out, region
