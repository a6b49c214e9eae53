"""The work copy of a photo and what every step reads from it: grey, the surface under the
print, the print's blobs, and windows of it in a text row's own frame."""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ._line import Line

WORK_SIDE = 768        # longest side of the work copy: a 0.6x label's glyphs are still ~8 px
_CLOSE = 11            # closing kernel (work px): wider than a printed stroke, narrower than a marker arc
_INK_CONTRAST = 0.18   # print is this much darker than the paper under it (faded print too)


def _darker() -> np.ndarray:
    """For each paper level P, how many grey levels g are print on it: P - g > contrast * P
    holds exactly for g below the count (as the formula computes it, in float64)."""
    paper = np.arange(256, dtype=np.int16)[:, None]
    print_on = paper - np.arange(256, dtype=np.uint8)[None] > _INK_CONTRAST * paper
    return print_on.sum(1)


_DARKER = _darker()


def _blobs(ink: np.ndarray) -> tuple[np.ndarray, ...]:
    """(labels, stats, centroids) of the 8-connected blobs of `ink`, as
    cv2.connectedComponentsWithStats gives them for every blob (the background's row is left
    zero), and (points, starts): the x, y of every blob's pixels, blob after blob, each in
    raster order, and where each blob's begin. NOTE: OpenCV's stats pass over the whole image
    costs four times its labelling; ink is a few thousand pixels, summed here alone."""
    n, lab = cv2.connectedComponents(ink, connectivity=8)
    points = cv2.findNonZero(ink)  # in raster order, as np.nonzero, at a quarter of its time
    xs, ys = points.reshape(-1, 2).T if points is not None else np.zeros((2, 0), np.int32)
    ids = lab[ys, xs]
    area = np.bincount(ids, minlength=n)
    lo = np.full((2, n), np.iinfo(np.int32).max, np.int32)
    hi = np.full((2, n), -1, np.int32)
    for k, v in enumerate((xs, ys)):
        np.minimum.at(lo[k], ids, v)
        np.maximum.at(hi[k], ids, v)
    stats = np.stack([lo[0], lo[1], hi[0] - lo[0] + 1, hi[1] - lo[1] + 1, area], 1).astype(np.int32)
    cents = np.zeros((n, 2))
    cents[1:] = np.stack([np.bincount(ids, xs, n), np.bincount(ids, ys, n)], 1)[1:] / area[1:, None]
    stats[0] = 0
    order = np.argsort(ids, kind="stable")  # stable: raster order within a blob
    points = np.stack([xs[order], ys[order]], 1).astype(np.float64)
    return lab, stats, cents, points, np.concatenate([[0], np.cumsum(area)])


def check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected uint8 RGB (H, W, 3), got {image.dtype} {image.shape}")
    return image


def downscale(image: np.ndarray) -> tuple[np.ndarray, float]:
    """(work copy, its scale): the longest side at most `WORK_SIDE`."""
    h, w = image.shape[:2]
    s = min(1.0, WORK_SIDE / max(h, w))
    if s == 1.0:
        return image, 1.0
    size = (max(1, round(w * s)), max(1, round(h * s)))
    if s < 0.5:  # NOTE: halving first takes OpenCV's fast path: ~7 ms instead of ~15 for 2064 px
        image = cv2.resize(image, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), s


def _gradient(gray: np.ndarray) -> np.ndarray:
    return cv2.morphologyEx(cv2.GaussianBlur(gray, (3, 3), 0), cv2.MORPH_GRADIENT,
                            np.ones((3, 3), np.uint8))


def smooth_paper(gray: np.ndarray, level: float) -> np.ndarray:
    """Bright, smooth pixels of paper of grey `level`: label paper (and the marker sheet), not
    a bead highlight, which is as bright but textured."""
    return (gray >= 0.75 * level) & (_gradient(gray) <= 0.15 * level)


def median(values) -> np.float64:
    """np.median of a short 1-D array of finite values, as a float64, without its overhead: the
    row search takes thousands of them, each of a few blobs."""
    v = np.sort(np.asarray(values, np.float64))
    k = len(v) // 2
    return v[k] if len(v) % 2 else (v[k - 1] + v[k]) / 2


def edge(profile: np.ndarray, share: float) -> int | None:
    """First offset where a profile of paper shares drops below `share` for two lines running;
    None where it never does."""
    low = profile < share
    hits = np.flatnonzero(low[:-1] & low[1:])
    return int(hits[0]) if len(hits) else None


@dataclass(frozen=True)
class Page:
    """One work copy as every step reads it."""

    gray: np.ndarray      # uint8
    paper: np.ndarray     # uint8, morphological closing of gray: the surface under the strokes
    lab: np.ndarray       # int32 labels of the print blobs
    stats: np.ndarray     # cv2 connected-component stats of `lab` (row 0, the background: zeros)
    cents: np.ndarray     # (n, 2) blob centroids
    glyphs: np.ndarray    # indices of the blobs that may be print
    floor: float          # grey level a surface needs to carry print (Otsu of the photo)
    points: np.ndarray    # (k, 2) float64 x, y of the blobs' pixels, blob after blob (`pixels`)
    starts: np.ndarray    # (n + 1,) where each blob's pixels begin in `points`
    memo: dict = field(default_factory=dict, compare=False, repr=False)  # strokes, rows

    @classmethod
    def of(cls, small: np.ndarray, floor: float | None = None) -> Page:
        """`floor` from the original photo when checking its guarded copy: the removal moves
        the Otsu level, and the check must look with the eyes that found the label."""
        gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        paper = cv2.morphologyEx(gray, cv2.MORPH_CLOSE,
                                 cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (_CLOSE, _CLOSE)))
        if floor is None:
            otsu, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
            floor = max(float(otsu), 60.0)
        # ink: darker than the paper under it by the contrast, on a surface that can carry print
        darker = np.where(np.arange(256) >= floor, _DARKER, 0).astype(np.uint8)
        ink = (gray < cv2.LUT(paper, darker)).view(np.uint8)
        lab, stats, cents, points, starts = _blobs(ink)
        # NOTE: the print of a small or bold label merges into long blobs at the work scale:
        # a glyph's box is short on one side, or (a row at a slant) mostly empty
        w, h = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
        area = stats[:, cv2.CC_STAT_AREA]
        glyphs = np.flatnonzero((np.maximum(w, h) >= 3) & (np.maximum(w, h) <= 400) & (area >= 3)
                                & ((np.minimum(w, h) <= 40) | (area <= 0.35 * w * h)))
        return cls(gray, paper, lab, stats, cents, glyphs[glyphs > 0], floor, points,
                   starts)

    def size(self, i) -> np.ndarray:
        return np.maximum(self.stats[i, cv2.CC_STAT_WIDTH], self.stats[i, cv2.CC_STAT_HEIGHT])

    def pixels(self, i: int) -> np.ndarray:
        """(k, 2) x, y of blob i, in raster order."""
        return self.points[self.starts[i]:self.starts[i + 1]]

    def strokes(self, idx) -> np.ndarray:
        """Half-widths (px) of the thickest strokes of blobs `idx`: print is thin, a marker's dot
        is not."""
        known = self.memo.setdefault("strokes", np.full(len(self.stats), np.nan))
        idx = np.asarray(idx)
        for i in idx[np.isnan(known[idx])]:
            x, y, w, h = self.stats[i, :4]
            blob = (self.lab[y:y + h, x:x + w] == i).view(np.uint8)
            blob = cv2.copyMakeBorder(blob, 1, 1, 1, 1, cv2.BORDER_CONSTANT)  # np.pad's, faster
            known[i] = float(cv2.distanceTransform(blob, cv2.DIST_L2, 3).max())
        return known[idx]

    def cut(self, i: int) -> bool:
        """Whether blob i touches the border of the photo (a glyph cut by the frame)."""
        x, y, w, h = self.stats[i, :4]
        return x == 0 or y == 0 or x + w >= self.gray.shape[1] or y + h >= self.gray.shape[0]

    def rectify(self, line: Line, a_range, c_range) -> tuple[np.ndarray, np.ndarray]:
        """(grey, in frame) of the window a_range x c_range of `line`'s frame, one work px per
        frame px: rows run across the print, columns along it."""
        a0, c0 = np.floor(a_range[0]), np.floor(c_range[0])
        w, h = int(np.ceil(a_range[1] - a0)) + 1, int(np.ceil(c_range[1] - c0)) + 1
        u, v = line.u, line.v
        origin = line.centre + a0 * u + c0 * v
        m = np.array([[u[0], v[0], origin[0]], [u[1], v[1], origin[1]]], np.float64)
        gray = cv2.warpAffine(self.gray, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)
        valid = cv2.warpAffine(np.ones_like(self.gray), m, (w, h),
                               flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderValue=0)
        return gray, valid.astype(bool)
