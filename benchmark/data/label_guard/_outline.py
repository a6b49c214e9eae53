"""A label's outline around its row of print: where its paper stops, side by side."""
from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from ._line import Line
from ._page import Page, edge
from ._paper import CAP_ACROSS, LABEL_LENGTH, edge_bounds, long_edges, paper_run
from ._print import find_lines

CAP_ALONG = 1.0        # label margin (measured text heights) beyond the print's ends where no
#                        edge shows (the real label's is ~0.8)
_MAX_END = 1.4         # farthest (text heights) a leaning end's far corner is believed (real: 1.2)


def hull(points: np.ndarray) -> np.ndarray:
    return cv2.convexHull(np.asarray(points, np.float32)).reshape(-1, 2).astype(np.float64)


@dataclass(frozen=True)
class Quad:
    """A label's outline in its text line's frame: a convex polygon, fitted as a quadrilateral
    (perspective leans a label's ends against its print), with more corners once grown over
    what a check found left."""

    line: Line
    poly: np.ndarray      # (k, 2) frame points (a, c), convex
    edges: tuple[float | None, float | None] = (None, None)  # long edges seen (`long_edges`)
    bounds: tuple[bool, bool] = (False, False)  # which of them bound the paper (`edge_bounds`)

    @property
    def box(self) -> tuple[float, float, float, float]:
        (a0, c0), (a1, c1) = self.poly.min(0), self.poly.max(0)
        return a0, a1, c0, c1

    def corners(self) -> np.ndarray:
        """The outline in work-copy pixels."""
        return self.line.to_image(self.poly)

    def contains(self, point: np.ndarray) -> bool:
        fa, fc = self.line.to_frame(point)
        return cv2.pointPolygonTest(self.poly.astype(np.float32), (float(fa), float(fc)),
                                    False) >= 0

    def union(self, a0, a1, c0, c1) -> Quad:
        box = np.array([[a0, c0], [a1, c0], [a1, c1], [a0, c1]], np.float64)
        return replace(self, poly=hull(np.concatenate([self.poly, box])))

    def widened(self, by: float) -> Quad:
        steps = np.array([[-by, -by], [by, -by], [by, by], [-by, by]])
        return replace(self, poly=hull((self.poly[:, None] + steps[None]).reshape(-1, 2)))

    def whole(self) -> Quad:
        """This outline with every margin at least at its cap: the whole rectangle a label of
        this print can have, whatever its paper showed, as long as the outline reaches (its
        paper may run on past the print found: `paper_run`)."""
        a0, a1, c0, c1 = self.line.box
        qa0, qa1, _, _ = self.box
        h = self.line.height
        return self.union(min(qa0, a0 - CAP_ALONG * h), max(qa1, a1 + CAP_ALONG * h),
                          c0 - CAP_ACROSS * h, c1 + CAP_ACROSS * h)


def detect(page: Page) -> tuple[list[Quad], float]:
    """(outline of every label on the work copy, best score of a row of print)."""
    lines = find_lines(page)
    quads: list[Quad] = []
    for line in (l for l in lines if l.is_label):  # best first
        # NOTE: a row within two text heights of a label found is a piece of its print or a
        # bead's spots beside its paper, not a second label
        if not any(q.widened(2 * q.line.height).contains(line.centre) for q in quads):
            quads.append(fit_quad(page, line))
    return quads, max((l.score for l in lines), default=0.0)


def fit_quad(page: Page, line: Line) -> Quad:
    """The label's outline: from the print outwards to where the paper stops.

    The label's long edges run with its print (`long_edges`). Beyond the print's ends (in
    three segments across) the paper need only be bright (faded print is paper there); each
    end is a line that leans as the print does (`_end`).
    """
    a0, a1, c0, c1 = line.box
    h = line.height
    across_cap, along_cap, far = CAP_ACROSS * h, CAP_ALONG * h, _MAX_END * h
    wa0, wc0 = a0 - far - 2, c0 - across_cap - 2
    gray, valid = page.rectify(line, (wa0, a1 + far + 2), (wc0, c1 + across_cap + 2))
    ia0, ia1 = round(a0 - wa0), round(a1 - wa0)
    ic0, ic1 = round(c0 - wc0), round(c1 - wc0)
    bright = (gray >= 0.75 * line.level) | ~valid  # out of frame: the label may go on
    (top, top_seen), (bottom, bottom_seen) = long_edges(page, line)
    # the end scans use rows known to be label: up to an edge seen, else near the print
    r0 = ic0 - (int(top) if top_seen else int(0.5 * h))
    r1 = ic1 + (int(bottom) if bottom_seen else int(0.5 * h))
    rows = np.array_split(np.arange(max(0, r0), min(gray.shape[0], r1 + 1)), 3)

    def along(cols: np.ndarray, lean: float) -> tuple[float, float]:  # columns outwards
        return _end([(seg.mean() + wc0, edge(cols[seg].mean(0), 0.5)) for seg in rows],
                    along_cap, lean)

    edges = (top if top_seen else None, bottom if bottom_seen else None)
    # NOTE: a worn ribbon prints a run id's first characters too faint to find, and a missing
    # character leaves paper: where the label's paper runs on past the cap, between its long
    # edges, the end goes with it (up to a whole label), leaning as the print does; the run
    # stops where the first margin does, at the end's nearer corner
    run_cap = max(far, LABEL_LENGTH * h - (a1 - a0))
    bounds = edge_bounds(page, line, edges)
    margins = (c0 - (top + 0.5 * h) / 2, c1 + (bottom + 0.5 * h) / 2)
    ends = []
    for end, sign, cols, lean in ((a0, -1, bright[:, ia0 - 1::-1] if ia0 > 0 else bright[:, :0],
                                   -line.shear), (a1, 1, bright[:, ia1 + 1:], line.shear)):
        p, q = along(cols, lean)
        cap = far
        if (run := paper_run(page, line, edges, bounds, end, sign, run_cap)) > far:
            p, q = run - min(lean * c for c in margins), lean
            cap = p + abs(q) * (c1 - c0 + top + bottom)
        ends.append((end, sign, p, q, cap))
    corners = [(end + sign * np.clip(p + q * c, 0.0, cap), c)
               for end, sign, p, q, cap in ends for c in (c0 - top, c1 + bottom)]
    return Quad(line, hull(np.array(corners)), edges, bounds)


def _end(found: list[tuple[float, int | None]], cap: float, lean: float) -> tuple[float, float]:
    """A label's end as a line offset(c) = p + q c (c: across the row, offset: how far beyond
    the print) through the edges its row segments found; with no edge at all, the cap.

    The end leans as the print does (`Line.shear`; q = `lean`): perspective leans both, and
    an end fitted to three segments alone would follow whatever edge a segment ran into (the
    sheet's, a highlight's). Of the segments' offsets at the print's middle the median is
    taken (the lower of two): a segment whose paper ran on is the odd one out.
    """
    closed = sorted(e + 1.0 - lean * c for c, e in found if e is not None)
    if not closed:
        return cap, 0.0
    return float(min(closed[(len(closed) - 1) // 2], cap)), lean
