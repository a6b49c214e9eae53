"""The label's paper seen from a row of print: its margins beside the print, its long edges."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._page import Page, edge, median, smooth_paper

if TYPE_CHECKING:
    from ._print import Line

CAP_ACROSS = 1.5       # label margin (measured text heights) above and below the print, where no
#                        edge shows and at most (the real label's is ~1.4)


def beside(h: float) -> tuple[int, int]:
    """Rows (from, to) beyond the print's top or bottom that are the label's margin: past the
    strokes' blurred halo, within the narrowest margin a label has (the twin's)."""
    return max(1, round(0.1 * h) + 1), max(2, round(0.3 * h))


def paper_share(page: Page, line: Line) -> float:
    """Share of smooth paper in the label's margins just above and below the print: print has
    paper on both sides, a row of a bead's spots beside a label has it on one at most."""
    a0, a1, c0, c1 = line.box
    near, far = beside(line.height)
    gray, valid = page.rectify(line, (a0, a1), (c0 - far, c1 + far))
    paper = smooth_paper(gray, line.level)
    rows = np.zeros(gray.shape, bool)
    rows[:far - near + 1] = rows[-(far - near + 1):] = True
    sel = rows & valid
    return float(paper[sel].mean()) if sel.any() else 0.0


def long_edges(page: Page, line: Line) -> tuple[tuple[float, bool], tuple[float, bool]]:
    """How far above and below the print the label's long edges are, and whether each shows.

    Scanned in six segments along the print, where the paper must be smooth as well as bright
    (so that the scan stops at a bead highlight glued to the label's edge); a side takes the
    farthest edge its segments agree on (a part on the sheet shows none), up to the cap.
    """
    a0, a1, c0, c1 = line.box
    h = line.height
    cap = CAP_ACROSS * h
    gray, valid = page.rectify(line, (a0, a1), (c0 - cap - 2, c1 + cap + 2))
    smooth = smooth_paper(gray, line.level) | ~valid  # out of frame: the label may go on
    ic0, ic1 = round(cap + 2), round(cap + 2 + c1 - c0)
    skip = max(2, round(0.2 * h))  # the strokes' blurred halo is not the paper's edge

    def side(rows: np.ndarray) -> tuple[float, bool]:  # rows outwards from the print
        found = [edge(rows[skip:, seg].mean(1), 0.5)
                 for seg in np.array_split(np.arange(rows.shape[1]), 6)]
        closed = np.array([e + skip + 1.0 for e in found if e is not None])
        if not len(closed):
            return cap, False
        # the farthest edge that agrees with the others: a segment whose paper ran on into a
        # smooth patch of bead or sheet found that patch's edge instead
        agree = closed[closed <= median(closed) + 0.5 * h]
        return min(float(agree.max()), cap), True

    return side(smooth[ic0 - 1::-1]), side(smooth[ic1 + 1:])
