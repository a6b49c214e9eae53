"""Media sizes of the twin: `small` (the default) or `full` (the real files' sizes), for checks of
the paper profile's loading path, tensor shapes, memory and throughput.

`small`: what the modules draw (64x48 video and audio of `DURATION_S` = 6 s, 320x240 photos).
`full`: the same weld brought to the real sizes after it is drawn (the drawing code works at the
small size, so full media add pixels and time, not detail):

- photos and masks resized to 2064x1548, the usual Weld-4M photo size (bicubic; masks nearest);
- video frames resized to `FULL_VIDEO_WH` and the clip looped to `FULL_SECONDS` (~38 s, the
  real clips' length; 30 fps: 1140 frames, so 64-frame sampling spans many ignitions);
- audio looped to the same length (16 kHz);
- the sensor log looped to the same length too (its rows repeated with their time stamps moved
  on), so that audio and sensor log agree as in the real data (`bench run` checks it).

Choices (not facts of the real data): the video frame size (the real camera's is not recorded in
the dataset's description; 640x480 is a common machine-vision size and larger than every
processor's input), and looping rather than drawing a longer weld.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .audio import AUDIO_RATE
from .process import DURATION_S
from .video import FPS

FULL_PHOTO_WH = (2064, 1548)
FULL_VIDEO_WH = (640, 480)
FULL_SECONDS = 38.0


@dataclass(frozen=True)
class Media:
    name: str
    photo_wh: tuple[int, int] | None  # None: as drawn
    video_wh: tuple[int, int] | None
    seconds: float  # video and audio length


MEDIA = {
    "small": Media("small", None, None, DURATION_S),
    "full": Media("full", FULL_PHOTO_WH, FULL_VIDEO_WH, FULL_SECONDS),
}


def get_media(name: str) -> Media:
    try:
        return MEDIA[name]
    except KeyError:
        raise ValueError(f"unknown media size {name!r}; expected one of {sorted(MEDIA)}") from None


def _loop(x: np.ndarray, n: int) -> np.ndarray:
    return np.concatenate([x] * math.ceil(n / len(x)))[:n]


def sized_video(frames: np.ndarray, media: Media) -> np.ndarray:
    """uint8 (T, H, W, 3) frames at the media's frame size and length."""
    import cv2

    if media.video_wh is not None:
        frames = np.stack([cv2.resize(f, media.video_wh, interpolation=cv2.INTER_LINEAR) for f in frames])
    return _loop(frames, int(round(media.seconds * FPS))) if media.seconds != DURATION_S else frames


def sized_audio(wave: np.ndarray, media: Media) -> np.ndarray:
    return _loop(wave, int(round(media.seconds * AUDIO_RATE))) if media.seconds != DURATION_S else wave


def sized_sensor(t: np.ndarray, table: np.ndarray, media: Media) -> tuple[np.ndarray, np.ndarray]:
    """(row times, rows) of the sensor log at the media's length: whole drawn logs one after
    another, each starting one row step after the last."""
    if media.seconds == DURATION_S:
        return t, table
    period = t[-1] + float(np.median(np.diff(t)))
    repeats = math.ceil(media.seconds / period)
    times = np.concatenate([t + k * period for k in range(repeats)])
    keep = times <= media.seconds
    return times[keep], np.concatenate([table] * repeats)[keep]


def sized_images(views: list[np.ndarray], masks: list[np.ndarray], media: Media
                 ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Photos (bicubic) and masks (nearest, stay binary) at the media's photo size."""
    import cv2

    if media.photo_wh is None:
        return views, masks
    views = [cv2.resize(v, media.photo_wh, interpolation=cv2.INTER_CUBIC) for v in views]
    masks = [cv2.resize(m.astype(np.uint8), media.photo_wh, interpolation=cv2.INTER_NEAREST).astype(m.dtype)
             for m in masks]
    return views, masks


def protocol_minimum(specs: list) -> list:
    """The fewest samples that run the whole protocol (for `synthesize(select=...)`): two
    normal TRAIN welds, and one normal and one defective weld in VAL and in TEST, so that VAL can
    rank candidates and TEST has both classes. Defects are burnthroughs (code 2: visible in every
    modality), the first of each kind in the plan."""
    want = {("TRAIN", 0): 2, ("VAL", 0): 1, ("VAL", 2): 1, ("TEST", 0): 1, ("TEST", 2): 1}
    out = []
    for s in specs:
        key = (s.split, s.code)
        if want.get(key, 0) > 0:
            want[key] -= 1
            out.append(s)
    if any(want.values()):
        raise ValueError(f"the plan lacks samples for {[k for k, n in want.items() if n]}")
    return out
