"""The label's paper seen from a row of print: its margins beside the print, its long edges,
and how far along the row it runs on beyond the print."""
from __future__ import annotations

import numpy as np

from ._line import Line
from ._page import Page, edge, median, smooth_paper

CAP_ACROSS = 1.5       # label margin (measured text heights) above and below the print, where no
#                        edge shows and at most (the real label's is ~1.4)
LABEL_LENGTH = 19.0    # longest label (measured text heights): a run id's 18 and its margins


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


def edge_profiles(paper: np.ndarray, top: int, bottom: int, edges, skip: int
                  ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per column of a window in the row's frame (`paper`: its share of paper per pixel; `top`,
    `bottom`: the print's first and last rows), for each long edge seen (`edges`, text rows
    beyond the print; None: not seen): (paper share of the label's margin, past the strokes'
    halo `skip`; paper share just beyond the edge). Where the label runs on, the first is high
    and the second low: its margin, then its edge."""
    sides = []
    for rows, e in ((paper[top - 1::-1], edges[0]), (paper[bottom + 1:], edges[1])):
        if e is None:
            continue
        e = round(e)
        margin, beyond = rows[skip:max(e - 1, skip + 1)], rows[e + 1:e + 1 + 2 * skip]
        sides.append((margin.mean(0), beyond.mean(0) if len(beyond) else np.zeros(rows.shape[1])))
    return sides


def _window(page: Page, line: Line, edges, span):
    """(grey, paper share, print's top and bottom row, halo) of `span` along the row, across
    to just beyond the long edges seen."""
    _, _, c0, c1 = line.box
    skip = max(2, round(0.2 * line.height))
    out = max(e for e in edges if e is not None) + 2 * skip + 2
    gray, valid = page.rectify(line, span, (c0 - out, c1 + out))
    first = np.floor(c0 - out)  # rectify floors the window's first row
    paper = (smooth_paper(gray, line.level) & valid).astype(np.float32)
    return np.where(valid, gray, 0), paper, round(c0 - first), round(c1 - first), skip


def edge_bounds(page: Page, line: Line, edges) -> tuple[bool, bool]:
    """Which long edges bound the label beside its print: a seen edge with no paper beyond it
    (not one along the sheet, whose paper runs on beyond it)."""
    if edges[0] is None and edges[1] is None:
        return False, False
    _, paper, top, bottom, skip = _window(page, line, edges, line.box[:2])
    beyond = iter(median(b) < 0.5 for _, b in edge_profiles(paper, top, bottom, edges, skip))
    return tuple(e is not None and next(beyond) for e in edges)


def paper_run(page: Page, line: Line, edges, bounds: tuple[bool, bool], a: float, sign: int,
              limit: float, every: bool = False) -> float:
    """How far (frame px, at most `limit`) from `a` along the row, outwards (`sign`), the
    label's paper runs on as it lies beside the print: its margins smooth paper, and a long
    edge that bounds it there (`edge_bounds`) bounding it still (the sheet's paper has no such
    edge, a bead no smooth margin), with the print's rows light (faded print, a missing
    character and plain paper all are); with `every`, each bounding edge. 0 where no edge
    bounds it."""
    if not any(bounds):
        return 0.0
    gray, paper, top, bottom, skip = _window(page, line, edges, (a, a + limit) if sign > 0
                                             else (a - limit, a))
    if sign < 0:
        gray, paper = gray[:, ::-1], paper[:, ::-1]
    label = (gray[top:bottom + 1] >= 0.5 * line.level).mean(0) >= 0.5
    seen = [b for e, b in zip(edges, bounds) if e is not None]
    sides = edge_profiles(paper, top, bottom, edges, skip)
    for margin, _ in sides:
        label &= margin >= 0.5
    # NOTE: one bounding edge that goes on is enough where the label's end is still to be
    # found (the plate beyond the other may be as light as paper there); not where the end
    # that told the label from the sheet was filled
    going_on = [beyond < 0.5 for (_, beyond), bound in zip(sides, seen) if bound]
    label &= np.all(going_on, axis=0) if every else np.any(going_on, axis=0)
    stop = edge(label.astype(np.float32), 0.5)
    return float(len(label) if stop is None else stop)
