"""What the guard says about a view: the region it replaced and how sure it is (its own module, so
that the contact sheets can name it without importing the guard)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LabelRegion:
    mask: np.ndarray                      # bool (H, W), True where pixels were (or would be) replaced
    box: tuple[int, int, int, int]        # x0, y0, x1, y1 (exclusive) of the mask
    found: bool
    score: float                          # confidence of the best row of print, 0..1
    unsure: bool = False                  # print or paper may be left: never pass it silently
    grown: bool = False                   # the first check found something left and grew the region
    blanked: bool = False                 # strict mode blanked the widened label rectangle
    left: tuple[str, ...] = ()            # what the last check saw left: "print", "paper", "label"

    @property
    def status(self) -> str:
        """'found', 'unsure' or 'not found': the outcomes the data check reports."""
        return "unsure" if self.unsure else "found" if self.found else "not found"
