"""The guard's look at its own output: print or paper left near each removed outline, and
label print anywhere in the view."""
from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from ._outline import Quad, fit_quad, hull
from ._page import Page, smooth_paper
from ._paper import paper_run
from ._print import find_lines, glyph_count, walk_row

_SEARCH_ALONG = 8.0    # how far along the row (text heights) paper left is followed


def leftovers(out_small: np.ndarray, quads: list[Quad], original: Page
              ) -> tuple[list[Quad], tuple[str, ...]]:
    """Check the work copy of a guarded photo. Returns the outlines grown over what was left,
    and what was left: "print" (glyphs of a removed row), "paper" (label paper beside or
    beyond an outline), "label" (a label's row of print elsewhere).

    Print or paper left beyond an end grows that end: it is refitted on the original photo
    from inside what was left, so that an end is found beyond a faded piece of the label;
    paper left beside an outline is joined to it.
    """
    page = Page.of(out_small, original.floor)
    grown, left = [], []
    for quad in quads:
        ends, boxes = [], []
        if _print_through(page, quad):
            left.append("print")
            quad = quad.whole()  # the outline cut through its own print: trust none of its sides
        if (reach := _print_near(page, quad)) is not None:
            left.append("print")
            ends.append(reach)
        if (reach := _paper_beyond(page, quad)) is not None:
            left.append("paper")
            ends.append(reach)
        if (box := _paper_around(page, quad)) is not None:
            left.append("paper")
            boxes.append(box)
        if ends:
            qa0, qa1, _, _ = quad.box
            a0, a1, c0, c1 = quad.line.box
            a0, a1 = min(a0, *(e[0] for e in ends)), max(a1, *(e[1] for e in ends))
            refit = fit_quad(original, replace(quad.line, box=(a0, a1, c0, c1))).poly
            mid = (qa0 + qa1) / 2  # only the ends that grew take the refit's corners
            keep = ((refit[:, 0] < mid) & (a0 < qa0)) | ((refit[:, 0] > mid) & (a1 > qa1))
            quad = replace(quad, poly=hull(np.concatenate([quad.poly, refit[keep]])))
        for b in boxes:
            quad = quad.union(*b)
        grown.append(quad)
    before = [l.centre for l in find_lines(original) if l.is_label]
    # NOTE: only the rows in an outline or near a label found matter below, and rows elsewhere
    # are most of the search; an outline added for a label passed over widens what matters,
    # so the look is redone with it until it adds none that was not looked at
    looked: list[np.ndarray] = []
    while True:
        added, said = [], []
        for line in find_lines(page, _near([q.corners() for q in grown] + looked, before)):
            if not line.is_label:
                continue
            if any(q.contains(line.centre) for q in grown + added):
                said.append("print")  # a row of print inside what was filled: the fill smeared it
            elif any(np.linalg.norm(line.centre - c) <= line.height for c in before):
                said.append("label")  # a label the first search passed over
                added.append(fit_quad(original, line))
            # else: a row that only the fill made look like print (a bead's spots beside the
            # smooth fill); the original shows it is none
        new = [o for o in (q.corners() for q in added)
               if not any(np.array_equal(o, k) for k in looked)]
        if not new:
            break
        looked += new
    grown += added
    left += said
    return grown, tuple(dict.fromkeys(left))


def _near(outlines: list[np.ndarray], centres: list[np.ndarray]):
    """`find_lines`'s `near`: whether a group's rows can have their centre in one of the
    `outlines` (work px) or within their text height of one of `centres`. The box is widened by
    1 px for the rounding of a centre: a centre inside an outline then leaves an overlap of area."""
    def near(box: np.ndarray, reach: float) -> bool:
        lo, hi = box[:2] - 1, box[2:] + 1
        rect = np.array([lo, (hi[0], lo[1]), hi, (lo[0], hi[1])], np.float32)
        return (any(cv2.intersectConvexConvex(rect, o.astype(np.float32))[0] > 0 for o in outlines)
                or any(np.linalg.norm(c - np.clip(c, lo, hi)) <= reach + 1 for c in centres))
    return near


def _print_through(page: Page, quad: Quad) -> bool:
    """Whether pieces of glyphs are left where the row's own print was: an outline that cut
    through it (the lower half of a run id left legible, as a guard that trusted the paper
    alone once did). Two pieces a third of the print high at least: a speck the fill smeared
    in from a bead is not print."""
    line = quad.line
    a0, a1, c0, c1 = line.box
    ca, cc = line.to_frame(page.cents[page.glyphs]).T
    inside = page.glyphs[(ca >= a0) & (ca <= a1) & (cc >= c0) & (cc <= c1)]
    tall = [i for i in inside if np.ptp(line.to_frame(page.pixels(i))[:, 1]) >= line.height / 3]
    return len(tall) >= 2


def _print_near(page: Page, quad: Quad) -> tuple[float, float] | None:
    """Glyphs of the removed row left beyond the outline's ends (`walk_row` from them, with the
    label's long edges as the original showed them; two glyphs at least). Returns how far
    along (a0, a1) the print reaches, or None."""
    a0, a1, _, _ = quad.box
    (a0, a1), widths = walk_row(page, quad.line, a0, a1, quad.edges)
    if not widths or glyph_count(widths, quad.line.height) < 2:
        return None
    return a0, a1


def _paper_beyond(page: Page, quad: Quad) -> tuple[float, float] | None:
    """Label paper left beyond the outline's ends: bright paper across the outline's height
    (smooth in good part: print and a bead are not), with no paper just above and below it (a
    piece of label between darker plate, as faded print leaves it), up to a closed end within
    a text height; paper that is not bounded so is the sheet's. Or the label's own box running
    on (`paper_run`: smooth margins between long edges as beside the print), which a bead's
    bright highlight along an edge does not hide. Returns how far along (a0, a1) the paper
    reaches, or None."""
    line = quad.line
    h = line.height
    qa0, qa1, qc0, qc1 = quad.box
    strip = max(2, round(0.4 * h))
    wa0, wc0 = qa0 - _SEARCH_ALONG * h, qc0 - strip
    gray, valid = page.rectify(line, (wa0, qa1 + _SEARCH_ALONG * h), (wc0, qc1 + strip))
    smooth = smooth_paper(gray, line.level) & valid
    bright = (gray >= 0.75 * line.level) & valid
    ia0, ia1 = round(qa0 - wa0), round(qa1 - wa0)
    inside = slice(strip, -strip)
    seen = valid[inside].sum(0)  # shares of the part in frame; a column out of it ends a piece
    out = seen < 0.1 * valid[inside].shape[0]
    label = (bright[inside].sum(0) >= 0.5 * seen) & (smooth[inside].sum(0) >= 0.3 * seen) & ~out
    ends = (bright[inside].sum(0) < 0.25 * seen) | out
    bounded = (bright[:strip].mean(0) <= 0.6) & (bright[-strip:].mean(0) <= 0.6)
    reach = []
    for order in (np.arange(ia0 - 1, -1, -1), np.arange(ia1 + 1, gray.shape[1])):
        k = 0
        while k < len(order) and label[order[k]] and bounded[order[k]]:
            k += 1
        closed = ends[order[k:k + int(h) + 1]].any()  # a slanted or rounded end
        reach.append(k if k >= 2 and closed else 0)
    # the label's own box running on past the outline: its margins and long edges as the
    # original showed them beside the print (faded print and a missing character leave it).
    # NOTE: only where every edge seen bounds it: along the sheet, the sheet's own edge can
    # run on in line with the label's, and the fill has taken the end that told them apart
    closed_box = all(b for e, b in zip(quad.edges, quad.bounds) if e is not None)
    for side, (a, sign) in enumerate(((qa0, -1), (qa1, 1)) if closed_box else ()):
        run = paper_run(page, line, quad.edges, quad.bounds, a, sign, _SEARCH_ALONG * h, True)
        if run >= h:  # a character of paper at least: the fill's blurred rim is none
            reach[side] = max(reach[side], round(run))
    if not any(reach):
        return None
    return qa0 - reach[0], qa1 + reach[1]


def _paper_around(page: Page, quad: Quad) -> tuple[float, float, float, float] | None:
    """Label paper left around the outline: smooth paper touching it within a band of one text
    height that ends inside the band (a strip or a corner of label), not beyond it (the sheet,
    a highlight), and does not wrap round a corner. Returns the frame box it spans, or None."""
    h = quad.line.height
    ba0, ba1, bc0, bc1 = quad.widened(h).box
    gray, valid = page.rectify(quad.line, (ba0, ba1), (bc0, bc1))
    paper = (smooth_paper(gray, quad.line.level) & valid).astype(np.uint8)
    inner = np.zeros(paper.shape, np.uint8)
    cv2.fillPoly(inner, [np.round(quad.poly - [np.floor(ba0), np.floor(bc0)]).astype(np.int32)], 1)
    paper[inner > 0] = 0
    touch = (cv2.dilate(inner, np.ones((5, 5), np.uint8)) > 0) & (inner == 0)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(paper, connectivity=8)
    found = None
    for i in range(1, n):
        x, y, w, hh, area = stats[i]
        if area < 0.25 * h * h or not touch[lab == i].any():
            continue
        if x == 0 or y == 0 or x + w >= paper.shape[1] or y + hh >= paper.shape[0]:
            continue  # runs on beyond the band: the sheet or a highlight, not a strip of label
        if w > 1.5 * h and hh > 1.5 * h:
            continue  # wraps round a corner: paper between the label and something dark
        box = (ba0 + x, ba0 + x + w, bc0 + y, bc0 + y + hh)
        found = box if found is None else (min(found[0], box[0]), max(found[1], box[1]),
                                           min(found[2], box[2]), max(found[3], box[3]))
    return found
