"""Replacing the pixels inside outlines: inpainted on the work copy, or blanked."""
from __future__ import annotations

import cv2
import numpy as np

from ._outline import Quad


def mask_of(quads: list[Quad], s: float, shape: tuple[int, int]
            ) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """(full-size bool mask of the outlines, a few pixels wider; its box x0, y0, x1, y1)."""
    mask = np.zeros(shape, bool)
    if not quads:
        return mask, (0, 0, 0, 0)
    margin = max(2, round(2.0 / s))  # ~5 px at 2064 wide: the blurred rim of the paper
    polys = [(q.corners() + 0.5) / s - 0.5 for q in quads]
    pts = np.concatenate(polys)
    x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int) - margin - 1, 0)
    x1, y1 = np.minimum(np.ceil(pts.max(0)).astype(int) + margin + 2, shape[::-1])
    if x1 <= x0 or y1 <= y0:
        return mask, (0, 0, 0, 0)
    crop = np.zeros((y1 - y0, x1 - x0), np.uint8)  # NOTE: drawn in the box only: 3 Mpx is slow
    cv2.fillPoly(crop, [np.round(p - [x0, y0]).astype(np.int32) for p in polys], 1)
    crop = cv2.dilate(crop, cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                                      (2 * margin + 1, 2 * margin + 1)))
    mask[y0:y1, x0:x1] = crop > 0
    bx0, by0, bx1, by1 = box_of(crop)
    return mask, (bx0 + x0, by0 + y0, bx1 + x0, by1 + y0) if bx1 else (0, 0, 0, 0)


def box_of(mask: np.ndarray) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 (exclusive) of the nonzero pixels of a uint8 mask; zeros if none."""
    x, y, w, h = cv2.boundingRect(mask)
    return (x, y, x + w, y + h) if w else (0, 0, 0, 0)


def fill(image: np.ndarray, small: np.ndarray, s: float, quads: list[Quad],
         mask: np.ndarray, box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Inpaint the outlines on the work copy and upsample the fill into the masked full-size
    pixels of `box`. Returns (the guarded pixels of the box, for `paste`; the guarded photo's
    work copy: what the check looks at)."""
    x0, y0, x1, y1 = box
    if not quads:
        return image[y0:y1, x0:x1].copy(), small.copy()
    sh, sw = small.shape[:2]
    # the work-copy mask covers every masked full-size pixel, plus a ring so that the fill
    # samples plate colours, not label edge pixels
    msmall = np.zeros((sh, sw), np.uint8)
    cv2.fillPoly(msmall, [np.round(q.corners()).astype(np.int32) for q in quads], 1)
    msmall = cv2.dilate(msmall, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7)))
    u0, v0, u1, v1 = box_of(msmall)
    u0, v0, u1, v1 = max(u0 - 8, 0), max(v0 - 8, 0), min(u1 + 8, sw), min(v1 + 8, sh)
    filled = small.copy()
    filled[v0:v1, u0:u1] = _inpaint(small[v0:v1, u0:u1], msmall[v0:v1, u0:u1])
    if s == 1.0:
        upsampled = filled[y0:y1, x0:x1]
    else:
        # upsample only the box: full pixel j maps to work pixel (j + .5) * s - .5
        xs = (np.arange(x0, x1, dtype=np.float32) + 0.5) * s - 0.5
        ys = (np.arange(y0, y1, dtype=np.float32) + 0.5) * s - 0.5
        mx, my = np.meshgrid(xs, ys)
        upsampled = cv2.remap(filled, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # NOTE: OpenCV's masked copy; numpy's (copyto with where) takes ~5 ms for a label's box
    patch = cv2.copyTo(upsampled, mask[y0:y1, x0:x1].view(np.uint8), image[y0:y1, x0:x1].copy())
    if s == 1.0:
        return patch, paste(small, patch, box)
    # the work copy of the output: the original's, with the box around the fill downscaled
    # again (a pixel or two wider, so that the mixed edge pixels are the output's own)
    p = int(np.ceil(2 / s))
    h, w = image.shape[:2]
    rx0, ry0, rx1, ry1 = max(x0 - p, 0), max(y0 - p, 0), min(x1 + p, w), min(y1 + p, h)
    around = image[ry0:ry1, rx0:rx1].copy()
    around[y0 - ry0:y1 - ry0, x0 - rx0:x1 - rx0] = patch
    u0, v0 = round(rx0 * s), round(ry0 * s)
    u1, v1 = min(round(rx1 * s), sw), min(round(ry1 * s), sh)
    out_small = small.copy()
    if u1 > u0 and v1 > v0:
        out_small[v0:v1, u0:u1] = cv2.resize(around, (u1 - u0, v1 - v0),
                                             interpolation=cv2.INTER_AREA)
    return patch, out_small


def paste(image: np.ndarray, patch: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """A copy of `image` with `patch` in `box` (the only full-size copy the guard makes)."""
    x0, y0, x1, y1 = box
    out = image.copy()
    out[y0:y1, x0:x1] = patch
    return out


def _inpaint(crop: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Telea inpainting of `mask` in `crop`, computed at half the size: the fill is a smooth
    plate colour either way, and Telea's cost grows with the masked pixels (~20 ms a label at
    the work scale, ~5 at half of it)."""
    h, w = mask.shape
    if min(h, w) < 16:
        return cv2.inpaint(np.ascontiguousarray(crop), mask, 5, cv2.INPAINT_TELEA)
    half = (max(1, w // 2), max(1, h // 2))
    c2 = cv2.resize(crop, half, interpolation=cv2.INTER_AREA)
    m2 = cv2.resize(mask, half, interpolation=cv2.INTER_AREA) > 0  # any part masked: masked
    f2 = cv2.inpaint(c2, m2.astype(np.uint8), 3, cv2.INPAINT_TELEA)
    up = cv2.resize(f2, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.where(mask[..., None] > 0, up, crop)


def blank(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fill `mask` flat with the median colour of the ring around it: certain, if plain."""
    out = image.copy()
    ring = cv2.dilate(mask.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool) & ~mask
    colour = np.median(image[ring] if ring.any() else image.reshape(-1, 3), axis=0)
    out[mask] = colour.astype(np.uint8)
    return out
