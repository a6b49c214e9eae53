"""Audio: the arc hum while welding.

Pitch ~ voltage, loudness ~ current, broadband noise ~ heat input; under it, arc on or off, the
session's background noise (`Nuisance.audio_floor`, `audio_colour`). Choice (not a fact of the real
data): 16 kHz mono 16-bit FLAC.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .process import DURATION_S, S_AUDIO, SampleSpec, process_draws
from .sessions import Nuisance, nuisance_for

AUDIO_RATE = 16000


def render_audio(seed: int, spec: SampleSpec, code: int | None = None) -> np.ndarray:
    """float32 mono wave at 16 kHz in [-1, 1]: arc hum + arc noise while welding."""
    show, p, ev, rng = process_draws(seed, spec, code, "audio", S_AUDIO)
    n = int(round(DURATION_S * AUDIO_RATE))
    t = np.arange(n, dtype=np.float64) / AUDIO_RATE
    ramp = 0.02
    env = np.clip((t - p.t_on) / ramp, 0, 1) * np.clip((p.t_off - t) / ramp, 0, 1)
    f0 = 40.0 + 12.0 * p.voltage * (1 + 0.004 * rng.standard_normal())
    phase = rng.uniform(0, 2 * np.pi, 3)
    hum_amp = 0.10 * p.current / 180.0
    hum = hum_amp * (np.sin(2 * np.pi * f0 * t + phase[0]) + 0.5 * np.sin(4 * np.pi * f0 * t + phase[1])
                     + 0.25 * np.sin(6 * np.pi * f0 * t + phase[2]))
    white = rng.standard_normal(n)
    arc_noise = 0.05 * math.sqrt(p.heat / 4300.0) * white
    bg = _background(rng.standard_normal(n), nuisance_for(seed, spec))
    wave = env * (hum + arc_noise) + bg
    if show in (3, 4):  # porosity: crackle bursts (short broadband clicks)
        _add_bursts(wave, ev.pores, rng, length_s=0.004, amp=0.45, tone=None)
    if show == 9:  # spatter: pops (decaying 3-5 kHz tones)
        _add_bursts(wave, ev.pops, rng, length_s=0.010, amp=0.55, tone=(3000, 5000))
    if show == 2:  # burnthrough: a loud burst, then the arc nearly drops out
        i0 = int(ev.t_burn * AUDIO_RATE)
        i1 = i0 + int(0.06 * AUDIO_RATE)
        i2 = i1 + int(0.30 * AUDIO_RATE)
        wave[i0:i1] += 0.6 * rng.standard_normal(i1 - i0)
        wave[i1:i2] *= 0.15
    return np.clip(wave, -1, 1).astype(np.float32)


def _background(white: np.ndarray, nuisance: Nuisance) -> np.ndarray:
    """The session's background noise: white noise through a one-pole low-pass (its colour),
    rescaled to the session's level."""
    from scipy.signal import lfilter

    a = nuisance.audio_colour
    coloured = lfilter([1 - a], [1, -a], white) * math.sqrt((1 + a) / (1 - a))  # unit variance
    return nuisance.audio_floor * coloured


def _add_bursts(wave, times, rng, length_s, amp, tone):
    m = int(length_s * AUDIO_RATE)
    k = np.arange(m)
    decay = np.exp(-k / (m / 4))
    for time in times:
        i = int(time * AUDIO_RATE)
        if tone is None:
            burst = np.diff(rng.standard_normal(m + 1))  # high-passed noise
        else:
            burst = np.sin(2 * np.pi * rng.uniform(*tone) * k / AUDIO_RATE)
        wave[i:i + m] += (amp * rng.uniform(0.6, 1.0) * decay * burst)[: len(wave) - i]


def write_audio(path: Path, wave: np.ndarray) -> None:
    import soundfile

    pcm = np.round(np.clip(wave, -1, 1) * 32767).astype(np.int16)
    soundfile.write(str(path), pcm, AUDIO_RATE, subtype="PCM_16", format="FLAC")
