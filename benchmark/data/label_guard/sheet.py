"""Contact sheets of the label guard: each view as the photo with the removed region outlined,
beside the guarded photo, under a caption. `bench data check --label-guard` draws the views it
is unsure of or found no label in; `scripts/label_guard_sheet.py` draws the 20 real views with
their hand-drawn outlines."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ._region import LabelRegion

REMOVED = (255, 0, 0)  # outline of the removed region (RGB)
_CAPTION_H = 18


def view_tile(image: np.ndarray, guarded: np.ndarray, region: LabelRegion, caption: str,
              width: int = 400,
              outlines: Sequence[tuple[np.ndarray, tuple[int, int, int]]] = ()) -> np.ndarray:
    """One view, RGB uint8: the photo (the removed region outlined in red, and any `outlines`,
    (k, 2) polygons in photo pixels with their colours) beside the guarded photo, each `width`
    px wide, under `caption`."""
    h, w = image.shape[:2]
    s = width / w
    size = (width, max(1, round(h * s)))
    before = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    after = cv2.resize(guarded, size, interpolation=cv2.INTER_AREA)
    m = cv2.resize(region.mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(before, contours, -1, REMOVED, 1)
    for pts, colour in outlines:
        q = (np.asarray(pts, np.float64) * s).round().astype(np.int32)
        cv2.polylines(before, [q], True, colour, 1)
    pair = np.hstack([before, np.full((size[1], 4, 3), 255, np.uint8), after])
    cap = np.zeros((_CAPTION_H, pair.shape[1], 3), np.uint8)
    cv2.putText(cap, caption, (3, _CAPTION_H - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.38,
                (255, 255, 255), 1, cv2.LINE_AA)
    return np.vstack([cap, pair])


def contact_sheet(tiles: Sequence[np.ndarray], columns: int = 2, note: str = "") -> np.ndarray:
    """Tiles in rows of `columns`, padded to one size, with `note` as a last line."""
    if not tiles:
        raise ValueError("a contact sheet needs at least one tile")
    th = max(t.shape[0] for t in tiles) + 4
    tw = max(t.shape[1] for t in tiles) + 4
    cells = [cv2.copyMakeBorder(t, 0, th - t.shape[0], 0, tw - t.shape[1], cv2.BORDER_CONSTANT)
             for t in tiles]
    cells += [np.zeros((th, tw, 3), np.uint8)] * (-len(cells) % columns)
    sheet = np.vstack([np.hstack(cells[i:i + columns]) for i in range(0, len(cells), columns)])
    if note:
        line = np.zeros((_CAPTION_H + 4, sheet.shape[1], 3), np.uint8)
        cv2.putText(line, note, (3, _CAPTION_H - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (255, 255, 0), 1, cv2.LINE_AA)
        sheet = np.vstack([sheet, line])
    return sheet


def write_png(path: Path | str, rgb: np.ndarray) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1])):
        raise OSError(f"{path}: could not write the PNG")
    return path
