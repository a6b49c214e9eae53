"""Session probes: shortcut floors that read the recording session from the media, never the weld.

Weld-4M's defects were recorded in their own sessions (each folder one category, most recording
days only Good or only defective welds; `benchmark/data/confounds.py`), so whatever a session
leaves in the media (lighting, camera exposure, bench, room noise, sensor offsets) is a near-label.
Each probe reads ONE modality, only where the weld cannot be: it summarises a weld by a session
descriptor and scores a TEST weld by the standardised distance of its descriptor to the nearest
TRAIN weld's (`NearestStandardised`). How well a probe ranks the defects is how far that
modality's session shortcut goes; a method that does no better than the probe of its own
modalities has shown nothing about the weld. Reference rows, shown and never ranked; the manifest's
own session floors are `session_manifest` and `recipe_session_manifest`
(`methods/shortcut_floors.py`).

* image (`image_pixels`, label-guarded views): per view, the per-channel median of each of the
  four border strips (`border` of the side, 10 %: top, bottom, left, right), the views averaged.
  The bead lies in the middle of every view, the label on the plate just below it and the marker
  sheet below that: the twin's bead centre line is row ~100 of 240, its ends at columns ~55 and
  ~265 of 320 (pose jitter moves them by ~30 px), the label rows ~130-185
  (`benchmark/data/synth/images.py`; on the tiny twin 24 of 83,924 defect-mask pixels fall in
  the strips, at most 1 % of any strip); in the real 2064 x 1548 photos plate and bead fill the
  central area and the strips show the dark bench (the 2000 x 900 photos of another day, squashed
  to the square view, bring a plate corner near the top strip). Where a view's pose pushes a
  corner of the plate, or a bead's end, into a strip, it covers far less than half of it, and a
  median does not move for a minority of pixels: the descriptor reads the bench, the room's light
  and the camera's white balance and exposure. (The label, the guard removes anyway.)
* audio (`audio_stft`, log power): the noise floor before arc-on. The arc burns for most of every
  recording (~30 of ~38 s in Weld-4M, ~4 of 6 s in the twin), so a frame's total energy is at the
  arc's level at the median and at the room's at the minimum; the arc is on from the first frame
  above halfway between them (in log power). The descriptor is, per band (`bands` equal bands up
  to 8 kHz), the median log power over the frames before that one, less a `guard` frame that may
  straddle ignition (a quick-profile frame averages ~1.2 s of real audio, a paper one is 43 ms;
  both shapes are handled alike). Room, extraction fans, mains hum, the microphone's gain: before
  anything is welded.
* video (`video_frame_stats`, a cheap extractor: per frame the mean R, G, B and the 99th
  percentile of the luma of a downscaled frame): the exposure before arc-on. The arc's glare
  lights the bright tail, and its onset is found as for the audio (from the 99th percentile); the
  descriptor is the median of the four statistics over the frames before it, less a `guard`
  frame: the scene's brightness and colour under the session's light, before the arc lights it.
* sensor (`sensor`, six channels resampled to a fixed length): per channel, the median of the
  rows before the current first exceeds `arc_on_a` (10 A, the loader's arc-on threshold, as the
  recipe floor `recipe_sensors` uses), less a `guard` row that may interpolate into ignition: the
  zero offsets of flow, feed, current and voltage, the wire counter's residue. Rows after the arc
  goes off are left out: there feed, flow and pressure decay from their welding values, which
  carry the weld's process (the surplus feed of Excessive Convexity). The gas pressure is left out
  too (`channels`): at rest it reads the recipe's gas setting (the line pressure before the valve
  opens; in the twin rest pressure = 0.94 x gas), the recipe's shortcut, not the session's.

A recording that starts with the arc already on has no idle head: its first step stands in (and
there the probe sees the arc). No training, nothing to select, no VAL query. Suite-defined: no
paper, no licence.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.data.recipes import NearestStandardised
from benchmark.data.sample import SENSOR_CHANNELS
from benchmark.method import (FitContext, Group, Inputs, Method, Role, Scores, ViewPooling,
                              register_method, unchanged)
from methods.shortcut_floors import NOTHING_TO_SELECT

CURRENT = SENSOR_CHANNELS.index("Primary Weld Current")


def arc_on(level: np.ndarray, fraction: float) -> np.ndarray:
    """(T,) bool: the steps whose `level` is above `fraction` of the way from the minimum (the
    idle level) to the median (the arc's: it burns for most of every recording)."""
    level = np.asarray(level, dtype=np.float64)
    low, high = level.min(), np.median(level)
    return level > low + fraction * (high - low)


def idle_head(on: np.ndarray, guard: int) -> slice:
    """The steps before the first `on` step, less the last `guard` (they may straddle ignition);
    at least the first step."""
    on = np.asarray(on, dtype=bool)
    first = int(np.argmax(on)) if on.any() else len(on)
    return slice(0, max(first - guard, 1))


# ---------------------------------------------------------------------------- descriptors
# NOTE: each probe's hyperparameters are its descriptor: data, one `describe` per modality.
@dataclass(frozen=True)
class BorderStrips:
    border: float = 0.1  # strip width, share of the view's height (top, bottom) or width (sides)

    def describe(self, views: np.ndarray) -> np.ndarray:
        """(V, H, W, 3) views -> (12,): per strip and channel the median, averaged over views."""
        views = np.asarray(views, dtype=np.float64)
        n, h, w = views.shape[:3]
        dh, dw = max(1, round(self.border * h)), max(1, round(self.border * w))
        strips = (views[:, :dh], views[:, h - dh:], views[:, :, :dw], views[:, :, w - dw:])
        per_view = np.concatenate([np.median(s.reshape(n, -1, 3), 1) for s in strips], 1)
        return per_view.mean(0)


@dataclass(frozen=True)
class AudioNoiseFloor:
    bands: int = 16  # equal bands of the STFT bins (~500 Hz each at 16 kHz)
    fraction: float = 0.5  # arc onset: this share of the way from idle to arc energy (log power)
    guard: int = 1  # frames dropped before the onset (one may straddle ignition)

    def describe(self, log_power: np.ndarray) -> np.ndarray:
        """(frames, bins) log10 power -> (bands,) median log power of the idle head."""
        x = np.asarray(log_power, dtype=np.float64)
        top = x.max(1, keepdims=True)
        energy = top[:, 0] + np.log10(np.sum(10.0 ** (x - top), 1))  # log10 of the frame's power
        idle = x[idle_head(arc_on(energy, self.fraction), self.guard)]
        bands = np.stack([b.mean(1) for b in np.array_split(idle, self.bands, axis=1)], 1)
        return np.median(bands, 0)


@dataclass(frozen=True)
class VideoExposure:
    fraction: float = 0.5  # arc onset: this share of the way from idle to arc glare (p99 luma)
    guard: int = 1  # frames dropped before the onset (one may catch the arc igniting)

    def describe(self, stats: np.ndarray) -> np.ndarray:
        """(frames, 4) mean R, G, B, p99 luma -> (4,) their medians over the idle head."""
        stats = np.asarray(stats, dtype=np.float64)
        return np.median(stats[idle_head(arc_on(stats[:, 3], self.fraction), self.guard)], 0)


@dataclass(frozen=True)
class SensorIdle:
    arc_on_a: float = 10.0  # current above which the arc is on (the loader's threshold)
    guard: int = 1  # resampled rows dropped before ignition (one may interpolate into it)
    # every channel but the gas pressure, whose rest value reads the recipe's gas setting
    channels: tuple[str, ...] = tuple(c for c in SENSOR_CHANNELS if c != "Pressure")

    def describe(self, trace: np.ndarray) -> np.ndarray:
        """(6, T) sensor trace -> per-channel medians of `channels` over the rows before arc-on."""
        trace = np.asarray(trace, dtype=np.float64)
        rows = trace[[SENSOR_CHANNELS.index(c) for c in self.channels]]
        return np.median(rows[:, idle_head(trace[CURRENT] > self.arc_on_a, self.guard)], 1)


# ---------------------------------------------------------------------------- the adapter
class SessionProbe(Method):
    """Standardised distance of a weld's session descriptor (`hp.describe` of its one feature)
    to the nearest TRAIN weld's."""

    group = Group.SHORTCUT

    def _describe(self, inputs: Inputs) -> np.ndarray:
        (feature,) = self.features
        return np.stack([self.hp.describe(x) for x in inputs[feature]])

    def fit(self, train: Inputs, val: Inputs, ctx: FitContext) -> None:
        self.nearest = NearestStandardised().fit(self._describe(train))

    def score(self, inputs: Inputs) -> Scores:
        return Scores(sample=self.nearest(self._describe(inputs)))


_PROBE = dict(group=Group.SHORTCUT, role=Role.REFERENCE, family="session_probe")
register_method(
    "session_probe_image", SessionProbe, hparams=unchanged(BorderStrips(), NOTHING_TO_SELECT),
    features=("image_pixels",), modalities=("image",), view_pooling=ViewPooling.FEATURES,
    display_name="Session probe (image)", row_code="R.5", **_PROBE,
    summary="suite-defined floor: colour medians of the views' border strips (bench, light; no "
            "bead, no label), standardised distance to the nearest TRAIN weld")
register_method(
    "session_probe_audio", SessionProbe, hparams=unchanged(AudioNoiseFloor(), NOTHING_TO_SELECT),
    features=("audio_stft",), modalities=("audio",),
    display_name="Session probe (audio)", row_code="R.6", **_PROBE,
    summary="suite-defined floor: band energies of the noise floor before arc-on, standardised "
            "distance to the nearest TRAIN weld")
register_method(
    "session_probe_video", SessionProbe, hparams=unchanged(VideoExposure(), NOTHING_TO_SELECT),
    features=("video_frame_stats",), modalities=("video",),
    display_name="Session probe (video)", row_code="R.7", **_PROBE,
    summary="suite-defined floor: brightness and colour of the frames before arc-on, "
            "standardised distance to the nearest TRAIN weld")
register_method(
    "session_probe_sensor", SessionProbe, hparams=unchanged(SensorIdle(), NOTHING_TO_SELECT),
    features=("sensor",), modalities=("sensor",),
    display_name="Session probe (sensor)", row_code="R.8", **_PROBE,
    summary="suite-defined floor: per-channel medians of the sensor rows before arc-on "
            "(offsets, gas at rest), standardised distance to the nearest TRAIN weld")
