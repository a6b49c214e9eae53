"""Rows of printed glyphs: found in the blobs of a work copy, followed along over faded print."""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

import cv2
import numpy as np

from ._line import Line
from ._page import Page, median, smooth_paper
from ._paper import beside, edge_profiles, long_edges, paper_share

_MIN_HEIGHT = 6.5      # text height (work px) below which a row is texture: real print is 12-14,
#                        a 0.6x label's 8, the twin's 8
_ROW_GLYPHS = 3        # fewer glyphs are no row
_GAP = 5.0             # widest gap (text heights) walked over in a row: four faded digits
_ROW_LENGTH = 18.0     # longest row (measured text heights): a run id is 12-16 of them


def find_lines(page: Page, near: Callable[[np.ndarray, float], bool] | None = None
               ) -> list[Line]:
    """Every row of print worth at least `_ROW_GLYPHS` glyphs, best first.

    `near(box, reach)` (box x0, y0, x1, y1 of a group of blobs, work px) may say that no row of
    the group matters to the caller: a row's centre lies in its group's box, and its text height
    is at most `reach`, the box's diagonal. Such groups are not split into rows (most of the
    cost); the rows of the others come out exactly as without `near`.
    """
    if near is not None:
        return _lines(page, [g for g in _groups(page) if near(*_extent(page, g))])
    if "lines" not in page.memo:
        page.memo["lines"] = _lines(page, _groups(page))
    return page.memo["lines"]


def _lines(page: Page, groups: list[np.ndarray]) -> list[Line]:
    lines = [line for g in groups for row in _rows(page, g)
             if (line := _line_of(page, row)) is not None]
    return sorted(lines, key=lambda l: -l.score)


def _extent(page: Page, group: np.ndarray) -> tuple[np.ndarray, float]:
    """(box x0, y0, x1, y1 of the group's pixels, the box's diagonal)."""
    x, y, w, h = (page.stats[group, k] for k in range(4))
    box = np.array([x.min(), y.min(), (x + w).max() - 1, (y + h).max() - 1], np.float64)
    return box, float(np.hypot(box[2] - box[0], box[3] - box[1]))


def glyph_count(widths, height: float) -> int:
    # NOTE: at the work scale the digits of a small label merge; a blob counts by its width
    # (a digit is ~0.6 text heights wide, a digit and its gap ~0.8)
    return int(np.maximum(1, np.round(np.asarray(widths) / (0.8 * height))).sum())


# ------------------------------------------------------------------------------ rows


def _groups(page: Page) -> list[np.ndarray]:
    """Blobs linked to a neighbour of similar thickness (within 2.5x: merged print at a slant
    has a taller box) less than a glyph away.

    Gaps between boxes, not distances between centres, so that a blob of merged digits (a
    small label at the work scale) still links to the single digits beside it.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    idx = page.glyphs
    if len(idx) < 2:
        return []
    x, y, w, h = (page.stats[idx, k].astype(np.float64) for k in range(4))
    gap = np.maximum(np.maximum(x[None] - (x + w)[:, None], x[:, None] - (x + w)[None]),
                     np.maximum(y[None] - (y + h)[:, None], y[:, None] - (y + h)[None]))
    short = np.minimum(w, h)
    lo, hi = np.minimum(short[:, None], short[None]), np.maximum(short[:, None], short[None])
    i, j = np.nonzero(np.triu((gap <= lo) & (hi <= 2.5 * lo), 1))
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(len(idx),) * 2)
    _, comp = connected_components(graph, directed=False)
    order = np.argsort(comp, kind="stable")  # stable: each group's blobs in index order
    groups = np.split(idx[order], np.flatnonzero(np.diff(comp[order])) + 1)
    return [g for g in groups if len(g) >= 2]


def _rows(page: Page, group: np.ndarray) -> list[np.ndarray]:
    """Split a group into straight runs of blobs, longest first.

    A label touching the bead links its glyphs to the bead's spots into one group. The row is
    the line through a blob and one of its two nearest neighbours that most blobs lie on, in
    one run without a gap of more than two glyphs or so; the rest is split again.
    """
    rows, rest = [], group
    while len(rest) >= 3:
        c = page.cents[rest]
        size = page.size(rest).astype(np.float64)
        d = np.linalg.norm(c[:, None] - c[None], axis=-1)
        np.fill_diagonal(d, np.inf)
        seeds = np.repeat(np.arange(len(rest)), 2)  # each blob with each of its two nearest
        pairs = np.argsort(d, axis=1)[:, :2].ravel()
        us = (c[pairs] - c[seeds]) / d[seeds, pairs][:, None]
        runs = _runs(c, size, seeds, c[seeds], us, 0.3 * np.minimum(size[seeds], size[pairs]))
        # NOTE: a direction from two neighbours is good to a few degrees only: the run's own
        # line takes in a merged blob whose centre lies farther out
        again = [k for k, run in enumerate(runs) if len(run) >= 3]
        if again:
            fits = np.array([cv2.fitLine(c[runs[k]].astype(np.float32), cv2.DIST_L2, 0, 0.01,
                                         0.01).ravel() for k in again], np.float64)
            tols = np.array([0.3 * median(size[runs[k]]) for k in again])
            for k, run in zip(again, _runs(c, size, seeds[again], fits[:, 2:], fits[:, :2], tols)):
                runs[k] = run
        best = runs[int(np.argmax([len(run) for run in runs]))]  # the first of the longest
        if len(best) < 2:
            break
        rows.append(rest[best])
        rest = np.delete(rest, best)
    if len(rest) == 2:
        rows.append(rest)  # a pair: two blobs of merged print can be a small label's row
    return rows or [group]


def _runs(c: np.ndarray, size: np.ndarray, seeds: np.ndarray, origins: np.ndarray,
          us: np.ndarray, tols: np.ndarray) -> list[np.ndarray]:
    """For each line k (origins[k], unit us[k]): the blobs within tols[k] of it, in one run
    with blob seeds[k] without a gap between blobs of more than ~1.5 glyphs (a blob of merged
    digits is long: its centre is far from the next one's, its end is not); [seed] where the
    seed is off the line. All lines at once: the row search asks for two per blob."""
    lines, n = np.arange(len(seeds)), len(c)
    dx, dy = c[None, :, 0] - origins[:, None, 0], c[None, :, 1] - origins[:, None, 1]
    across = np.abs(dx * -us[:, None, 1] + dy * us[:, None, 0])
    along = dx * us[:, None, 0] + dy * us[:, None, 1]
    on = across <= tols[:, None]
    count = on.sum(1)
    order = np.argsort(np.where(on, along, np.inf), axis=1, kind="stable")  # on the line first
    half = size[order] / 2
    gaps = np.diff(along[lines[:, None], order], axis=1) - half[:, :-1] - half[:, 1:]
    # the glyph size: the median over the line's blobs, merged blobs counting less
    smallest = np.where(on, size, np.inf).min(1, keepdims=True)
    sizes = np.sort(np.where(on, np.minimum(size, 2 * smallest), np.inf), axis=1)
    k = count // 2
    glyph = np.where(count % 2 == 1, sizes[lines, k], (sizes[lines, k - 1] + sizes[lines, k]) / 2)
    cut = (gaps > 1.5 * glyph[:, None]) & (np.arange(n - 1) < count[:, None] - 1)
    run = np.concatenate([np.zeros((len(seeds), 1), int), np.cumsum(cut, axis=1)], axis=1)
    at = np.argmax(order == seeds[:, None], axis=1)  # where the seed is along its line
    member = (run == run[lines, at][:, None]) & (np.arange(n) < count[:, None])
    return [order[k][member[k]] if on[k, seeds[k]] else seeds[k:k + 1] for k in lines]


def _line_of(page: Page, group: np.ndarray) -> Line | None:
    """Fit a text line to a row of blobs: the glyphs whose tops and bottoms line up, then the
    glyphs that continue the row at its ends (`walk_row`)."""
    c = page.cents[group].astype(np.float32)
    vx, vy, x0, y0 = cv2.fitLine(c, cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
    off = np.abs((c - [x0, y0]) @ np.array([-vy, vx]))
    group = group[off <= 0.5 * median(page.size(group))]  # off the row: a bead, a marker
    if len(group) < 2 or (len(group) == 2 and _small_pair(page, group)):
        return None
    centre = page.cents[group].mean(0)
    pixels = [page.pixels(i) for i in group]
    ink = np.concatenate(pixels), np.cumsum([0] + [len(p) for p in pixels[:-1]])
    # NOTE: the row's direction from its blobs' centres, or from their ink: a stray spot or a
    # marker's piece in the row tilts one or the other by degrees; the one that lines up the
    # most glyphs wins, then the direction is refitted to the ink of those glyphs alone
    # NOTE: the Huber fit of the ink is most of a row's cost: it is skipped where an earlier
    # direction lines up every blob (a later one could only tie, and the first wins)
    points = ink[0].astype(np.float32)
    fits = []
    for dist in (None, cv2.DIST_L2, cv2.DIST_HUBER):
        if any(f[-1].all() for f in fits):
            break
        u = (np.array([vx, vy]) if dist is None
             else cv2.fitLine(points, dist, 0, 0.01, 0.01).ravel()[:2])
        if (f := _fit(page, group, ink, centre, u)) is not None:
            fits.append(f)
    if not fits:
        return None
    best = max(fits, key=lambda f: f[-1].sum())
    on = np.concatenate([page.pixels(i) for i in group[best[-1]]]).astype(np.float32)
    vx, vy, cx, cy = cv2.fitLine(on, cv2.DIST_L2, 0, 0.01, 0.01).ravel()
    refit = _fit(page, group, ink, np.array([cx, cy]), np.array([vx, vy]))
    if refit is not None and refit[-1].sum() >= best[-1].sum():
        best = refit
    frame, in_frame, extents, height, aligned = best
    a_lo, a_hi, lo, hi = extents[aligned].T
    glyphs = glyph_count(a_hi - a_lo, height)
    if glyphs < _ROW_GLYPHS or a_hi.max() - a_lo.min() < 2.0 * height:
        return None  # a cluster, not a row
    a0, a1, c0, c1 = a_lo.min(), a_hi.max(), lo.min(), hi.max()
    x, y = np.concatenate([page.pixels(i) for i in group[aligned]]).astype(int).T
    level = float(np.median(page.paper[y, x]))
    spans = np.split(in_frame, ink[1][1:])  # each blob's ink in the frame
    line = Line(frame.centre, frame.u, (a0, a1, c0, c1), height, glyphs,
                _shear([spans[k] for k in np.flatnonzero(aligned)]), 0.0, level)
    (a0, a1), widths = walk_row(page, line, a0, a1)
    line = replace(line, box=(a0, a1, c0, c1), glyphs=glyphs + glyph_count(widths, height))
    return replace(line, paper=paper_share(page, line))


def _small_pair(page: Page, pair: np.ndarray) -> bool:
    """Whether two blobs are too small to make a row in any direction (most pairs are specks of
    the plate, and `_fit` would tell them in four directions): a pair's text height is the mean
    of its two blobs' extents across the row, at least `_MIN_HEIGHT`, and with two blobs the
    `_ROW_GLYPHS` need one 1.5 glyphs long (1.2 text heights); no extent passes a blob's box
    diagonal."""
    w, h = page.stats[pair, cv2.CC_STAT_WIDTH] - 1, page.stats[pair, cv2.CC_STAT_HEIGHT] - 1
    diagonal = np.hypot(w, h) + 1e-6  # NOTE: room for the rounding of the extents' projection
    return diagonal.mean() < _MIN_HEIGHT or diagonal.max() < 1.2 * _MIN_HEIGHT


def _fit(page: Page, group: np.ndarray, ink: tuple[np.ndarray, np.ndarray], centre: np.ndarray,
         u: np.ndarray):
    """The row's frame at (centre, u) and its blobs in it: (frame, the ink in the frame,
    extents (a0, a1, c0, c1 of each blob), text height, which blobs are glyphs lined up on the
    row); None where the print is too small. `ink`: the blobs' pixels, one after the other, and
    where each blob begins."""
    u = np.asarray(u, np.float64) / np.linalg.norm(u)
    u = -u if (u[0], u[1]) < (0, 0) else u
    frame = Line(np.asarray(centre, np.float64), u, (0, 0, 0, 0), 1.0, 0, 0.0, 0.0, 0.0)
    (x, y), starts = (ink[0] - frame.centre).T, ink[1]
    # NOTE: all blobs in one projection, written out: a matrix product per blob took a fifth
    # of the guard's time (and its last bits hang on the BLAS build)
    a, c = x * u[0] + y * u[1], y * u[0] - x * u[1]
    extents = np.stack([np.minimum.reduceat(a, starts), np.maximum.reduceat(a, starts),
                        np.minimum.reduceat(c, starts), np.maximum.reduceat(c, starts)], 1)
    lo, hi = extents[:, 2], extents[:, 3]
    top, bottom = median(lo), median(hi)
    height = bottom - top
    if height < _MIN_HEIGHT:
        return None
    tol = max(1.5, 0.15 * height)
    aligned = (np.abs(lo - top) <= tol) & (np.abs(hi - bottom) <= tol)
    strokes = page.strokes(group)
    # a marker's piece that happens to line up is thicker than print; merged digits are thick
    # at their joints too, but long along the row
    long = extents[:, 1] - extents[:, 0] >= 1.6 * (hi - lo)
    if aligned.any():
        aligned &= (strokes <= 1.3 * median(strokes[aligned]) + 0.5) | long
    if aligned.sum() < 2:
        return None
    return frame, np.stack([a, c], 1), extents, height, aligned


def _shear(spans: list[np.ndarray]) -> float:
    """How the glyphs lean: the median over glyphs of the regression of a on c of their ink.
    Upright print leans 0 (a 7's or a 2's diagonal cancels out in the median); perspective
    leans the print and the label's ends by the same amount."""
    leans = []
    for p in spans:
        d = p - p.mean(0)
        var = (d[:, 1] ** 2).sum()
        if var > 0:
            leans.append((d[:, 0] * d[:, 1]).sum() / var)
    return float(np.clip(median(leans), -0.6, 0.6)) if leans else 0.0


# ------------------------------------------------------------------------------ walking a row


def walk_row(page: Page, line: Line, a0: float, a1: float,
             edges: tuple[float | None, float | None] | None = None
             ) -> tuple[tuple[float, float], list[float]]:
    """Walk the row outwards from a0 and a1 over glyphs of its height on paper.

    Faded print splits a run id into pieces, so a gap of up to `_GAP` text heights is crossed
    when a piece (two glyphs at least) lies beyond it and the gap is label: paper in the row,
    and the label's long edges (`long_edges`, or `edges` where the label is gone) running on
    through it; on the sheet, where no edge shows, a gap ends the row. A run id is no longer
    than `_ROW_LENGTH`. Returns the new ends and the widths of the glyphs walked over.
    """
    _, _, c0, c1 = line.box
    h = line.height
    mid = (line.box[0] + line.box[1]) / 2
    ca, cc = line.to_frame(page.cents[page.glyphs]).T
    band = np.flatnonzero((np.abs(cc - (c0 + c1) / 2) <= 0.75 * h)
                          & ((ca < a0) | (ca > a1)) & (np.abs(ca - mid) <= _ROW_LENGTH * h))
    pieces = []
    for k in band:
        i = page.glyphs[k]
        pa, pc = line.to_frame(page.pixels(i)).T
        fits = _aligned(pc, line, pa.mean() - mid) or (page.cut(i) and _within(pc, line))
        if fits and not _dot(page, i, pa, pc, h):
            pieces.append((pa.min(), pa.max()))
    if not pieces:
        return (a0, a1), []
    if edges is None:
        edges = tuple(e if seen else None for e, seen in long_edges(page, line))
    w0, w1 = min(a0, *(p[0] for p in pieces)), max(a1, *(p[1] for p in pieces))
    out = 2.0 * h
    gray, valid = page.rectify(line, (w0, w1), (c0 - out, c1 + out))
    paper = (smooth_paper(gray, line.level) | ~valid).astype(np.float32)
    first = np.floor(c0 - out)  # NOTE: rectify floors the window's first row; a round(out)
    top, bottom = round(c0 - first), round(c1 - first)  # here put the margin rows ~1 px off
    near, far = beside(h)
    margins = np.concatenate([paper[top - far:top - near + 1],
                              paper[bottom + near:bottom + far + 1]]).mean(0)
    inrow = paper[top:bottom + 1].mean(0)
    inrow = np.minimum(inrow, np.roll(inrow, 1))  # two columns of plate make a gap no paper
    pieces = [p for p in pieces if margins[int(p[0] - w0):int(np.ceil(p[1] - w0)) + 1].mean() >= 0.4]
    skip = max(2, round(0.2 * h))
    sides = edge_profiles(paper, top, bottom, edges, skip)

    def gap_is_label(lo: float, hi: float) -> bool:
        i0, i1 = max(int(np.floor(lo - w0)), 0), int(np.ceil(hi - w0))
        if i1 <= i0 + 1:
            return True
        if inrow[i0:i1].min() < 0.4:
            return False
        for margin, beyond in sides:
            if margin[i0:i1].mean() < 0.5 or beyond[i0:i1].mean() >= 0.5:
                return False  # the label's margin, then its edge, do not run on through the gap
        return bool(sides)

    widths = []
    for side in (1, -1):  # right, then left: pieces as (near end, far end) seen from the row
        seq = sorted((p[0], p[1]) if side == 1 else (-p[1], -p[0]) for p in pieces)
        end, start = (a1, a0) if side == 1 else (-a0, -a1)
        for n, (near_end, far_end) in enumerate(seq):
            if far_end <= end:
                continue
            gap = near_end - end
            if far_end - start > _ROW_LENGTH * h:
                break
            if gap > 1.5 * h:
                nxt = seq[n + 1][0] if n + 1 < len(seq) else np.inf
                piece = far_end - near_end >= 1.2 * h or nxt - far_end <= 1.5 * h
                lo, hi = (end, near_end) if side == 1 else (-near_end, -end)
                if gap > _GAP * h or not piece or not gap_is_label(lo, hi):
                    break
            widths.append(far_end - near_end)
            end = far_end
        if side == 1:
            a1 = end
        else:
            a0 = -end
    return (a0, a1), widths


def _aligned(pc: np.ndarray, line: Line, along: float = 0.0) -> bool:
    """Whether a blob's across coordinates are a glyph of the row: the row's text height, at
    the row's place (`along` away from the row's middle its angle is less certain: ~2 degrees
    for a short piece)."""
    h, (c0, c1) = line.height, line.box[2:]
    tol = max(1.5, 0.15 * h)
    drift = 0.035 * min(abs(along), 8 * h)
    return (abs(np.ptp(pc) - (c1 - c0)) <= tol
            and abs((pc.min() + pc.max()) / 2 - (c0 + c1) / 2) <= tol + drift)


def _within(pc: np.ndarray, line: Line) -> bool:
    """Whether a glyph cut by the frame's border lies within the row's height."""
    tol = max(1.5, 0.15 * line.height)
    return pc.min() >= line.box[2] - tol and pc.max() <= line.box[3] + tol


def _dot(page: Page, i: int, pa: np.ndarray, pc: np.ndarray, h: float) -> bool:
    """Whether blob i is a solid round dot (a marker's centre), not print: thick, round and
    filling its box (merged digits may be thick and solid, but are long along the row)."""
    w, t = np.ptp(pa) + 1, np.ptp(pc) + 1
    fill = page.stats[i, cv2.CC_STAT_AREA] / (w * t)
    return page.strokes([i])[0] > max(2.5, 0.45 * h) and fill >= 0.65 and w < 1.6 * t
