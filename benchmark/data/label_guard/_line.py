"""A row of printed glyphs in its own frame: what the row search finds and every later step
reads (its own module, so that the work copy and the paper can name it without importing the
search)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_GLYPHS = 6         # glyphs in a row that make it a label's text line (a run id has 14)
MIN_PAPER = 0.6        # share of smooth paper beside a label's print (a bead's spots have less)


@dataclass(frozen=True)
class Line:
    """A row of printed glyphs, in its own frame: a along the row (unit u), c across (unit v)."""

    centre: np.ndarray    # (2,) work px
    u: np.ndarray         # (2,) unit, along the print
    box: tuple[float, float, float, float]  # a0, a1, c0, c1 of the print, frame px
    height: float         # text height, work px
    glyphs: int           # glyphs in the row (merged blobs counted by their width)
    shear: float          # da/dc of the glyphs: perspective leans print and label alike
    paper: float          # share of smooth paper beside the print
    level: float          # grey level of the paper under the print

    @property
    def v(self) -> np.ndarray:
        return np.array([-self.u[1], self.u[0]])

    @property
    def score(self) -> float:
        return min(self.glyphs, 12) / 12.0 * self.paper

    @property
    def is_label(self) -> bool:
        return self.glyphs >= MIN_GLYPHS and self.paper >= MIN_PAPER

    def to_frame(self, pts) -> np.ndarray:
        d = np.asarray(pts, np.float64) - self.centre
        return np.stack([d @ self.u, d @ self.v], axis=-1)

    def to_image(self, pts) -> np.ndarray:
        pts = np.asarray(pts, np.float64)
        return self.centre + pts[..., :1] * self.u + pts[..., 1:] * self.v
