"""The synthetic twin of Weld-4M: same layout and formats, a physical toy with a causal chain.

    synthesize(out, seed, size="quick", label=True) -> out

writes `<out>/<configuration folder>/<run id>/<run id>.avi|.flac|.csv`, `images/<stem>.jpg`
(5 views), `masks/<stem>.png` (one per view, 0/255) and `<out>/manifest.csv` (MANIFEST_COLUMNS).

Causal chain. Eight weld configurations (weld type x steel x thickness, `CONFIGS`) have their own
set-points. One *process* draw per sample (realised current, voltage, feed, speed, gas, arc
on/off times) drives every process modality: the weld-pool blob in the video (size and brightness
~ current*voltage, plate texture scrolls with the travel speed), the arc hum in the audio
(pitch ~ voltage, loudness ~ current, broadband noise ~ heat input) and the sensor CSV
(current/voltage/feed/flow/pressure/cumulative wire). The *result*, the bead in the post-weld
photos, is a deterministic function of the same realised process (width ~ sqrt(heat input /
speed) / sqrt(feed ratio), height ~ feed / speed, ripple pitch ~ speed, heat-tint band ~ heat
input) plus small image noise. The configurations are far apart, so a bead normal for one
configuration is abnormal for another; code 12 (Process_Result_Mismatch) exploits exactly that:
its video/audio/sensor are a normal run of its configuration A (the manifest's), its photos are a
normal run of a partner configuration B of the same weld type (`PARTNER`).

Defects touch only the modalities of their row in `VISIBLE` (V video, A audio, S sensor, I image).
Every modality has its own random stream, `np.random.default_rng([seed, index, stream])`, and the
process / defect-event streams are separate too, so switching a defect off re-renders the other
modalities byte for byte: a modality outside a defect's row is *exactly* a normal draw of its
configuration. `render_video/render_audio/render_sensor/render_images` take a `code` override for
such counterfactual re-renders (the tests use it).

Ground truth is only the manifest (category; the run id ends in the code) and the masks (every
image-visible defect region, never the label). The photos carry a paper label with the run id
printed on it (the deliberate leak of the real data); `label=False` leaves it out and changes
nothing else (only the JPGs differ).

Choices (documented, not facts of the real data):
- media are small and short: video 64x48 mjpeg AVI at 30 fps, audio 16 kHz mono 16-bit FLAC,
  sensor CSV at ~9 Hz, all `DURATION_S` = 6 s long (real ~38 s) with the arc on for ~3.8 s in the
  middle; photos 320x240 JPG (real 2064x1548).
- set-points in the manifest are the configuration's nominal ones for every category (they do not
  leak the defect).
- sizes: "tiny" (tests), "quick" (default), "full" (real category counts); see `SIZES`.
"""
from __future__ import annotations

import csv
import io
import json
import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

from .sample import CATEGORIES, MANIFEST_COLUMNS, SENSOR_HEADER

# ------------------------------------------------------------------------------------ constants

FPS = 30
DURATION_S = 6.0
VIDEO_W, VIDEO_H = 64, 48
AUDIO_RATE = 16000
CSV_DT = 0.109  # mean row spacing of the real CSVs (~9 Hz)
IMG_W, IMG_H = 320, 240  # photo size
CANVAS_W, CANVAS_H = 400, 300  # canonical (top-down) scene, each view warps a crop of it
N_VIEWS = 5
OCV_V = 40.23  # open-circuit voltage the real sensor shows just before ignition
FEED_PER_A = 0.39  # wire-feed set-point per ampere (real: ~70 at 180 A)
WIRE_PER_FEED_S = 1.3  # wire-consumed units per (feed unit * second) while the arc is on

# Visibility table (the issue's): which modalities show each defect.
VISIBLE: dict[int, str] = {
    0: "", 1: "VASI", 2: "VASI", 3: "AS", 4: "VASI", 5: "I", 6: "I", 7: "V", 8: "SI",
    9: "VAI", 10: "I", 11: "SI", 12: "",
}
MODALITY_LETTER = {"video": "V", "audio": "A", "sensor": "S", "image": "I"}
FILLET_ONLY = (5, 6, 8, 11)
NON_FILLET_ONLY = (2, 3, 7, 9, 10)

# RNG stream ids: np.random.default_rng([seed, sample index, stream]).
S_PROCESS, S_VIDEO, S_AUDIO, S_SENSOR, S_IMAGE, S_PROCESS_B, S_EVENTS, S_META = range(8)
PLAN_STREAM = 1_000_003


@dataclass(frozen=True)
class Config:
    weld_type: str
    steel_type: str
    thickness_mm: int
    current_a: int
    voltage_v: float
    gas_bar: float
    speed_cpm: int

    @property
    def feed(self) -> float:
        return FEED_PER_A * self.current_a

    @property
    def heat(self) -> float:
        return self.current_a * self.voltage_v


# weld type x steel x thickness; set-points spread so each configuration's bead (heat/speed, feed/
# speed, speed) is many noise sigmas from the others of its weld type.
CONFIGS: tuple[Config, ...] = (
    Config("NON_FILLET", "FE410", 3, 140, 19.0, 4.0, 40),
    Config("NON_FILLET", "FE410", 7, 180, 24.0, 4.0, 30),
    Config("NON_FILLET", "BSK46", 3, 150, 21.0, 3.5, 30),
    Config("NON_FILLET", "BSK46", 7, 200, 26.0, 3.5, 25),
    Config("FILLET", "FE410", 3, 150, 20.0, 4.0, 35),
    Config("FILLET", "FE410", 7, 190, 25.0, 4.0, 28),
    Config("FILLET", "BSK46", 3, 160, 22.0, 3.2, 30),
    Config("FILLET", "BSK46", 7, 210, 27.0, 3.2, 24),
)
NON_FILLET_CFGS = (0, 1, 2, 3)
FILLET_CFGS = (4, 5, 6, 7)
# Code 12: the photos come from this partner configuration (same weld type, far-off bead).
PARTNER = {0: 3, 1: 0, 2: 3, 3: 0, 4: 7, 5: 4, 6: 7, 7: 4}

# Samples per (code, weld type). "full": the real Weld-4M counts per category, derived by hand once
# from the published manifest (4040 runs: Good 659 non-fillet + 160 fillet, ..., Crater_Cracks
# 161); code 12 does not exist in the real data and comes on top (80 + 80), so full = 4200.
# "quick": 128 normals (90 TRAIN) and 24 per defect (12 VAL / 12 TEST) = 416; normals are 31 %
# instead of the real 20 % so TRAIN has enough of them. "tiny" (tests): 32 normals (22 TRAIN) and 8
# per defect (4 VAL / 4 TEST) = 128.
SIZES: dict[str, dict[int, tuple[int, int]]] = {
    "full": {0: (659, 160), 1: (320, 160), 2: (320, 0), 3: (340, 0), 4: (320, 160), 5: (0, 160),
             6: (0, 160), 7: (320, 0), 8: (0, 160), 9: (320, 0), 10: (320, 0), 11: (0, 161),
             12: (80, 80)},
    "quick": {0: (64, 64), **{c: ((12, 12) if c in (1, 4, 12) else
                                   (24, 0) if c in NON_FILLET_ONLY else (0, 24))
                              for c in range(1, 13)}},
    "tiny": {0: (16, 16), **{c: ((4, 4) if c in (1, 4, 12) else
                                  (8, 0) if c in NON_FILLET_ONLY else (0, 8))
                             for c in range(1, 13)}},
}
TRAIN_SHARE_OF_NORMALS = 576 / 819  # the real protocol
FOLDER_RUNS = 20  # runs per configuration folder (as in most real folders)


@dataclass(frozen=True)
class SampleSpec:
    index: int
    code: int
    cfg: int  # configuration index (the manifest's, the process's)
    img_cfg: int  # configuration of the photographed bead (== cfg except for code 12)
    folder: str
    run_id: str
    split: str
    start: datetime  # first CSV row time stamp
    image_stems: tuple[str, ...]
    folder_runs: int

    @property
    def subdir(self) -> str:
        return f"{self.folder}/{self.run_id}"


def _slug(code: int) -> str:
    return "good_weld" if code == 0 else CATEGORIES[code].lower()


def plan(seed: int, size: str = "quick") -> list[SampleSpec]:
    """Every sample's identity, configuration, folder, run id, split and time stamps."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; expected one of {sorted(SIZES)}")
    rng = np.random.default_rng([seed, PLAN_STREAM])
    # 1. groups: (code, cfg) with their sample counts; configs cycle within the weld type
    groups: list[tuple[int, int, int]] = []
    for code in sorted(SIZES[size]):
        n_nf, n_f = SIZES[size][code]
        for n, cfgs in ((n_nf, NON_FILLET_CFGS), (n_f, FILLET_CFGS)):
            per = [n // len(cfgs) + (1 if k < n % len(cfgs) else 0) for k in range(len(cfgs))]
            groups += [(code, c, m) for c, m in zip(cfgs, per) if m > 0]
    # 2. splits per category (seeded shuffle, as the published split)
    splits: dict[int, list[str]] = {}
    for code in sorted(SIZES[size]):
        n = sum(SIZES[size][code])
        n_train = round(n * TRAIN_SHARE_OF_NORMALS) if code == 0 else 0
        rest = n - n_train
        labels = ["TRAIN"] * n_train + ["VAL"] * ((rest + 1) // 2) + ["TEST"] * (rest // 2)
        splits[code] = [labels[i] for i in rng.permutation(n)]
    taken = {code: 0 for code in splits}
    # 3. folders of <= FOLDER_RUNS runs, one date each (dates unique -> run ids unique)
    specs: list[SampleSpec] = []
    day0 = date(2022, 8, 1)
    folder_no: dict[int, int] = {}
    day = 0
    for code, cfg_i, m in groups:
        cfg = CONFIGS[cfg_i]
        for chunk0 in range(0, m, FOLDER_RUNS):
            runs = min(FOLDER_RUNS, m - chunk0)
            folder_no[code] = folder_no.get(code, 0) + 1
            d = day0 + timedelta(days=day)
            day += 1
            tag = "fillet" if cfg.weld_type == "FILLET" else "plane_plate"
            folder = (f"{_slug(code)}_{folder_no[code]}_{d:%m-%d-%y}_{tag}_"
                      f"{cfg.steel_type}_{cfg.thickness_mm}mm")
            first = int(rng.integers(1, 400))
            t = datetime(d.year, d.month, d.day, 7, 0, 0) + timedelta(
                seconds=int(rng.integers(0, 3600)))
            shot = datetime(d.year, d.month, d.day, 10, 0, 0) + timedelta(days=1)
            for k in range(runs):
                t += timedelta(seconds=int(rng.integers(120, 400)),
                               milliseconds=int(rng.integers(0, 1000)))
                shot += timedelta(seconds=int(rng.integers(30, 90)))
                shot2 = shot + timedelta(seconds=8)
                fa = np.sort(rng.choice(np.arange(1, 30), 2, replace=False))
                fb = np.sort(rng.choice(np.arange(1, 30), 3, replace=False))
                stems = tuple([f"{shot:%Y%m%d_%H%M%S}_{f:03d}" for f in fa]
                              + [f"{shot2:%Y%m%d_%H%M%S}_{f:03d}" for f in fb])
                run_id = f"{d:%m-%d-%y}-{first + k:04d}-{code:02d}"
                split = splits[code][taken[code]]
                taken[code] += 1
                specs.append(SampleSpec(
                    index=len(specs), code=code, cfg=cfg_i,
                    img_cfg=PARTNER[cfg_i] if code == 12 else cfg_i, folder=folder,
                    run_id=run_id, split=split, start=t, image_stems=stems, folder_runs=runs))
    return specs


# ------------------------------------------------------------------------------------- process


@dataclass(frozen=True)
class Process:
    current: float
    voltage: float
    feed: float
    speed: float
    gas: float
    t_on: float
    t_off: float

    @property
    def heat(self) -> float:
        return self.current * self.voltage


def _rng(seed: int, spec: SampleSpec, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, spec.index, stream])


def draw_process(cfg: Config, rng: np.random.Generator) -> Process:
    n = rng.standard_normal(5)
    t_on = float(rng.uniform(0.9, 1.3))
    t_off = DURATION_S - float(rng.uniform(0.9, 1.3))
    return Process(current=cfg.current_a * (1 + 0.015 * n[0]),
                   voltage=cfg.voltage_v * (1 + 0.012 * n[1]),
                   feed=cfg.feed * (1 + 0.01 * n[2]),
                   speed=cfg.speed_cpm * (1 + 0.01 * n[3]),
                   gas=cfg.gas_bar * (1 + 0.02 * n[4]), t_on=t_on, t_off=t_off)


def process_of(seed: int, spec: SampleSpec, code: int | None = None) -> Process:
    """The realised process of a sample, with the process-level effect of its defect (heat for
    01/02/04, seen by V A S I; surplus wire feed for 08, which only S and I read)."""
    code = spec.code if code is None else code
    p = draw_process(CONFIGS[spec.cfg], _rng(seed, spec, S_PROCESS))
    if code in (1, 4):
        p = _replace(p, current=p.current * 1.22, voltage=p.voltage * 1.08)
    elif code == 2:
        p = _replace(p, current=p.current * 1.30, voltage=p.voltage * 1.10)
    elif code == 8:
        p = _replace(p, feed=p.feed * 1.40)
    return p


def _replace(p: Process, **kw) -> Process:
    return Process(**{**p.__dict__, **kw})


@dataclass(frozen=True)
class Events:
    """Defect event times, shared by the modalities that show them (own stream)."""
    t_burn: float  # burnthrough moment
    pores: np.ndarray  # porosity burst times
    pops: np.ndarray  # spatter pop times


def events_of(seed: int, spec: SampleSpec, p: Process) -> Events:
    rng = _rng(seed, spec, S_EVENTS)
    on = p.t_off - p.t_on
    t_burn = p.t_on + on * float(rng.uniform(0.35, 0.75))
    pores = np.sort(p.t_on + 0.2 + (on - 0.4) * rng.random(int(rng.integers(30, 45))))
    pops = np.sort(p.t_on + 0.1 + (on - 0.2) * rng.random(int(rng.integers(25, 40))))
    return Events(t_burn=t_burn, pores=pores, pops=pops)


def _has(code: int, modality: str) -> bool:
    return MODALITY_LETTER[modality] in VISIBLE[code]


# --------------------------------------------------------------------------------------- video


def render_video(seed: int, spec: SampleSpec, code: int | None = None) -> np.ndarray:
    """uint8 (T, 48, 64, 3) RGB: the torch-arm view of the weld pool."""
    code = spec.code if code is None else code
    show = code if _has(code, "video") else 0
    p = process_of(seed, spec, code if _has(code, "video") else 0)
    ev = events_of(seed, spec, p)
    rng = _rng(seed, spec, S_VIDEO)
    T = int(round(DURATION_S * FPS))
    t = np.arange(T) / FPS
    on = (t >= p.t_on) & (t < p.t_off)
    # plate texture scrolling with the travel speed
    tex = rng.normal(0.0, 1.0, 256).astype(np.float32)
    tex = np.convolve(tex, np.ones(5) / 5, mode="same") * 10
    shift = np.cumsum(on * p.speed / 30 * 1.6) + 0 * t  # px per frame ~ speed while welding
    xs = np.arange(VIDEO_W)[None, :] + shift[:, None]
    band = np.interp(xs % 256, np.arange(256), tex).astype(np.float32)  # (T, W)
    yy, xx = np.mgrid[0:VIDEO_H, 0:VIDEO_W].astype(np.float32)
    base = 34 + band[:, None, :] + 3 * np.sin(yy / 5.0)[None].astype(np.float32)
    # weld pool: radius and brightness ~ heat input, flicker per frame
    heat = p.heat / 4000.0
    flick = 1 + 0.04 * rng.standard_normal(T)
    cx = 32 + 0.6 * rng.standard_normal(T)
    cy = 26 + 0.6 * rng.standard_normal(T)
    r = (5.0 + 3.2 * math.sqrt(heat)) * (1 + 0.03 * rng.standard_normal(T))
    amp = (70 + 95 * heat) * flick * on
    glow = np.zeros(T, np.float32)  # after-glow of the cooling pool
    after = t >= p.t_off
    glow[after] = 60 * heat * np.exp(-(t[after] - p.t_off) / 0.4)
    if show == 7:  # lack of fusion: pool wanders off-centre to the plate edge, strong flicker
        cy = cy + 9 + 2.5 * np.sin(2 * np.pi * 1.7 * t)
        cx = cx + 4 * np.sin(2 * np.pi * 0.9 * t)
        amp = amp * (1 + 0.35 * np.sin(2 * np.pi * 7.0 * t))
    hole = np.zeros(T, np.float32)
    if show == 2:  # burnthrough: a flare, then a dark hole in the pool
        dt = t - ev.t_burn
        amp = amp * np.where((dt >= 0) & (dt < 0.12), 1.5, 1.0)
        hole = np.where((dt >= 0.12) & (dt < 0.9), 1.0, 0.0).astype(np.float32) * on
    f32 = np.float32
    cx, cy, r = cx.astype(f32), cy.astype(f32), r.astype(f32)
    d2 = (xx[None] - cx[:, None, None]) ** 2 + (yy[None] - cy[:, None, None]) ** 2
    blob = np.exp(d2 * (-(1.6 ** 2) / 2 / r[:, None, None] ** 2))
    pool = (amp + glow).astype(f32)[:, None, None] * blob
    if hole.any():
        pool *= 1 - 0.85 * hole[:, None, None] * (d2 < (0.5 * r[:, None, None]) ** 2)
    gray = base.astype(f32) + pool
    gray += rng.standard_normal((T, VIDEO_H, VIDEO_W), dtype=f32) * 2.0
    rgb = np.empty((T, VIDEO_H, VIDEO_W, 3), np.uint8)
    for c, k in enumerate((1.0, 0.92, 0.70)):
        rgb[..., c] = np.clip(gray * f32(k), 0, 255)
    if show == 9:  # spatter: sparks flying out of the pool
        for k in np.flatnonzero(on):
            n = int(rng.poisson(5))
            if n:
                ang = rng.uniform(0, 2 * np.pi, n)
                dist = rng.uniform(r[k], 26, n)
                px = np.clip((cx[k] + dist * np.cos(ang)).astype(int), 0, VIDEO_W - 2)
                py = np.clip((cy[k] + dist * np.sin(ang)).astype(int), 0, VIDEO_H - 2)
                for a, b in ((0, 0), (0, 1), (1, 0)):
                    rgb[k, py + a, px + b] = (255, 240, 170)
    return rgb


def write_video(path: Path, frames: np.ndarray) -> None:
    import av
    from fractions import Fraction

    with av.open(str(path), "w", format="avi",
                 container_options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream("mjpeg", rate=Fraction(FPS, 1),
                                      options={"flags": "+bitexact"})
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuvj420p"
        stream.bit_rate = 2_000_000
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


# --------------------------------------------------------------------------------------- audio


def render_audio(seed: int, spec: SampleSpec, code: int | None = None) -> np.ndarray:
    """float32 mono wave at 16 kHz in [-1, 1]: arc hum + arc noise while welding."""
    code = spec.code if code is None else code
    show = code if _has(code, "audio") else 0
    p = process_of(seed, spec, code if _has(code, "audio") else 0)
    ev = events_of(seed, spec, p)
    rng = _rng(seed, spec, S_AUDIO)
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
    bg = 0.003 * rng.standard_normal(n)
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


# -------------------------------------------------------------------------------------- sensor


def render_sensor(seed: int, spec: SampleSpec, code: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(t seconds from the first row (n,), channels (n, 6) in SENSOR_CHANNELS order)."""
    code = spec.code if code is None else code
    show = code if _has(code, "sensor") else 0
    p = process_of(seed, spec, code if _has(code, "sensor") else 0)
    ev = events_of(seed, spec, p)
    rng = _rng(seed, spec, S_SENSOR)
    steps = np.round(rng.uniform(CSV_DT - 0.012, CSV_DT + 0.012, int(DURATION_S / CSV_DT) + 5), 3)
    t = np.concatenate([[0.0], np.cumsum(steps)])
    t = t[t <= DURATION_S]
    n = len(t)
    on = (t >= p.t_on) & (t < p.t_off)
    i_on = np.flatnonzero(on)
    current = np.where(on, p.current * (1 + 0.04 * rng.standard_normal(n)), 0.0)
    voltage = np.where(on, p.voltage * (1 + 0.018 * rng.standard_normal(n)), 0.0)
    if i_on.size and i_on[0] > 0:
        voltage[i_on[0] - 1] = OCV_V  # open-circuit voltage just before ignition
    feed = np.empty(n)
    flow = np.empty(n)
    pressure = np.empty(n)
    p_idle = p.gas * 0.94
    flow_set = 2.3 * p.gas
    f_val, q_val, pr_val = 0.02, 0.0, p_idle
    prev = 0.0
    if show == 8:
        pass  # surplus feed is already in the process (p.feed)
    for k in range(n):
        dt = t[k] - prev
        prev = t[k]
        if on[k]:
            f_val += (p.feed - f_val) * (1 - math.exp(-dt / 0.5))
            q_val += (flow_set - q_val) * (1 - math.exp(-dt / 0.4))
            pr_val += (0.0 - pr_val) * (1 - math.exp(-dt / 0.5))
        elif t[k] >= p.t_off:
            f_val *= math.exp(-dt / 20.0)
            q_val *= math.exp(-dt / 8.0)
            pr_val += (p_idle - pr_val) * (1 - math.exp(-dt / 15.0))
        feed[k], flow[k], pressure[k] = f_val, q_val, pr_val
    feed = feed * (1 + 0.004 * rng.standard_normal(n))
    flow = flow + 0.03 * rng.standard_normal(n)
    pressure = pressure + 0.01 * rng.standard_normal(n)
    if show in (1, 2, 3, 4, 11) and i_on.size:
        if show in (3, 4):  # porosity: current spikes
            for time in ev.pores[::6]:
                k = int(np.searchsorted(t, time))
                if k < n and on[k]:
                    current[k] += float(rng.choice([-1, 1])) * p.current * 0.45
        if show == 2:  # burnthrough: current surge, voltage jump (arc lengthens through the hole)
            k = int(np.searchsorted(t, ev.t_burn))
            current[k:k + 2] *= 1.5
            voltage[k + 2:k + 5] = OCV_V * 0.9
        if show == 11:  # crater cracks: current collapses before the arc goes off (no fill)
            end = t[i_on[-1]]
            tail = on & (t > end - 0.55)
            current[tail] *= 0.35
    wire = np.empty(n)
    w = float(rng.uniform(0.3, 0.9))
    prev = 0.0
    for k in range(n):
        if on[k]:
            w += feed[k] * (t[k] - prev) * WIRE_PER_FEED_S
        prev = t[k]
        wire[k] = w
    table = np.stack([pressure, flow, feed, current, wire, voltage], axis=1)
    return t, table


def sensor_csv(spec: SampleSpec, t: np.ndarray, table: np.ndarray) -> bytes:
    out = io.StringIO()
    out.write(",".join(SENSOR_HEADER) + "\r\n")
    d = spec.start
    day = f"{d.month}/{d.day}/{d.year}"
    for k in range(len(t)):
        stamp = d + timedelta(milliseconds=int(round(t[k] * 1000)))
        values = ",".join(_num(v) for v in table[k])
        out.write(f"{day},{stamp:%H:%M:%S}.{stamp.microsecond // 1000:03d},{spec.run_id},{values}\r\n")
    return out.getvalue().encode("ascii")


def _num(v: float) -> str:
    s = f"{v:.2f}"
    return "0.00" if s == "-0.00" else s


# -------------------------------------------------------------------------------------- images


@dataclass(frozen=True)
class Bead:
    width: float  # px in the canonical scene
    height: float  # relative (1 = typical)
    pitch: float  # ripple pitch, px
    tint: float  # heat-tint band width, px


def bead_of(p: Process, rng: np.random.Generator) -> Bead:
    """The result: a deterministic function of the realised process plus small noise."""
    n = rng.standard_normal(4)
    feed_ratio = p.feed / (FEED_PER_A * p.current)
    width = 1.05 * math.sqrt(p.heat / p.speed) / math.sqrt(feed_ratio) * (1 + 0.02 * n[0])
    height = (p.feed / p.speed) / 2.0 * (1 + 0.03 * n[1])
    pitch = (0.10 * p.speed + 1.2) * (1 + 0.03 * n[2])
    tint = 0.40 * width * (p.heat / 4000.0) * (1 + 0.03 * n[3])
    return Bead(width, height, pitch, tint)


def label_text_size(text: str) -> tuple[int, int]:
    import cv2

    (w, h), base = cv2.getTextSize(text, LABEL_FONT, LABEL_SCALE, LABEL_THICKNESS)
    return w, h + base


LABEL_FONT = 0  # cv2.FONT_HERSHEY_SIMPLEX
LABEL_SCALE = 0.42
LABEL_THICKNESS = 1
LABEL_PAD_X, LABEL_PAD_Y = 5, 4
BEAD_Y = 130.0  # canonical bead centre line
BEAD_X0, BEAD_X1 = 95.0, 305.0
PLATE_X0, PLATE_X1, PLATE_V0, PLATE_V1 = 70, 330, 92, 198
LABEL_TOP_MIN = 160  # label top (canonical) is >= this; bead + defects stay above BEAD_Y + 27


def render_images(seed: int, spec: SampleSpec, code: int | None = None, label: bool = True
                  ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(5 RGB uint8 (240, 320, 3) views, 5 bool masks). Code 12 photographs a normal bead of the
    partner configuration (process drawn from its own stream)."""
    import cv2

    code = spec.code if code is None else code
    show = code if _has(code, "image") else 0
    rng = _rng(seed, spec, S_IMAGE)
    if code == 12:
        cfg = CONFIGS[spec.img_cfg]
        p = draw_process(cfg, _rng(seed, spec, S_PROCESS_B))
    else:
        cfg = CONFIGS[spec.cfg]
        p = process_of(seed, spec, code if _has(code, "image") else 0)
    bead = bead_of(p, rng)
    fillet = cfg.weld_type == "FILLET"
    H, W = CANVAS_H, CANVAS_W
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)

    # background: dark bench with smooth shading
    low = cv2.resize(rng.normal(0, 6, (6, 8)).astype(np.float32), (W, H),
                     interpolation=cv2.INTER_CUBIC)
    bg = 36 + low + 0.03 * (yy - H / 2)
    img = np.repeat(bg[..., None], 3, axis=2)
    # paper sheet with fiducials, partly under the plate
    sheet = np.zeros((H, W), np.uint8)
    sx, sy = rng.uniform(-8, 8, 2)
    poly = np.array([[95 + sx, 160 + sy], [335 + sx, 168 + sy], [330 + sx, 262 + sy],
                     [90 + sx, 255 + sy]], np.int32)
    cv2.fillPoly(sheet, [poly], 1)
    img[sheet > 0] = 228
    for j in range(3):
        cx, cy = int(140 + 70 * j + sx), int(232 + sy)
        cv2.ellipse(img, (cx, cy), (12, 12), 0, 200, 290, (40, 40, 40), 4)
        cv2.ellipse(img, (cx, cy), (12, 12), 0, 20 + 40 * j, 90 + 40 * j, (40, 40, 40), 4)
        cv2.circle(img, (cx, cy), 3, (40, 40, 40), -1)

    # plate displacement field (warping bends the plate and the bead with it)
    dy = np.zeros(W, np.float32)
    if show == 10:
        amp = float(rng.uniform(9, 13)) * float(rng.choice([-1, 1]))
        u = (np.arange(W) - 200.0) / 130.0
        dy = (amp * (u ** 2 - 0.35)).astype(np.float32)
    v = yy - dy[None, :]  # plate coordinates
    plate = (xx >= PLATE_X0) & (xx <= PLATE_X1) & (v >= PLATE_V0) & (v <= PLATE_V1)
    steel = np.array([96, 62, 46], np.float32) if cfg.steel_type == "FE410" \
        else np.array([84, 80, 84], np.float32)
    grain = cv2.resize(rng.normal(0, 7, (30, 40)).astype(np.float32), (W, H),
                       interpolation=cv2.INTER_LINEAR)
    shade = 1.0 + 0.12 * (xx - 200) / 200 + (0.10 * np.gradient(dy)[None, :] * 8 if show == 10 else 0)
    plate_rgb = steel[None, None, :] * shade[..., None] + grain[..., None]
    if fillet:  # the upright plate of a T-joint, seen as a lighter face above the bead
        face = plate & (v < BEAD_Y - 2)
        plate_rgb = np.where(face[..., None], plate_rgb * 1.35 + 10, plate_rgb)
    img = np.where(plate[..., None], plate_rgb, img)
    # plate edge shadow (thickness)
    edge = (xx >= PLATE_X0) & (xx <= PLATE_X1) & (v > PLATE_V1) & (v <= PLATE_V1 + 5)
    img[edge] = img[edge] * 0.5

    # bead: cylinder-ish profile, ripples, heat-tint band, rounded ends, crater at the end
    half = bead.width / 2
    xc = np.clip(xx, BEAD_X0, BEAD_X1)
    dist = np.sqrt((xx - xc) ** 2 + (v - BEAD_Y) ** 2)  # capsule distance
    d = dist / half
    inside = d < 1.0
    tint_zone = (dist < half + bead.tint) & ~inside & plate
    tint_col = np.array([70, 72, 110], np.float32) if cfg.steel_type == "FE410" \
        else np.array([120, 100, 60], np.float32)
    w_t = np.clip(1 - (dist - half) / max(bead.tint, 1e-3), 0, 1)[..., None]
    img = np.where(tint_zone[..., None], img * (1 - 0.6 * w_t) + tint_col * 0.6 * w_t, img)
    prof = np.sqrt(np.clip(1 - d ** 2, 0, 1))
    sharp = 0.6 + 1.4 * bead.height
    light = 95 + 120 * prof ** sharp - 35 * bead.height * np.clip(d - 0.6, 0, 1)
    ripple = np.cos(2 * np.pi * (xx + 0.5 * half * d ** 2) / bead.pitch)
    light = light + 14 * bead.height * ripple * prof
    crater_c = (BEAD_X1 - 0.2 * half, BEAD_Y)
    crater = np.sqrt((xx - crater_c[0]) ** 2 + (v - crater_c[1]) ** 2) < 0.55 * half
    light = np.where(crater, light - 30, light)
    mask = np.zeros((H, W), bool)
    if show in (1, 4):  # excessive penetration: sunken, dark-centred wide bead
        light = light - 55 * np.exp(-((v - BEAD_Y) / (0.3 * half)) ** 2)
        mask |= inside
    bead_rgb = np.stack([light * 0.97, light, light * 1.04], axis=-1)
    img = np.where(inside[..., None], bead_rgb, img)

    def dots(centres, radii, color, into_mask=True):
        """Filled discs (plate coordinates), drawn with cv2 (sub-pixel), one colour."""
        nonlocal mask
        layer = np.zeros((H, W), np.uint8)
        for (cx0, cy0), r in zip(centres, radii):
            cyv = cy0 + dy[int(np.clip(cx0, 0, W - 1))]
            cv2.circle(layer, (int(round(cx0 * 16)), int(round(cyv * 16))), int(round(r * 16)),
                       1, -1, cv2.LINE_8, 4)
        hit = layer > 0
        img[hit] = np.asarray(color, np.float32)
        if into_mask:
            mask |= hit

    if show == 2:  # burnthrough holes
        k = int(rng.integers(1, 4))
        xs_ = rng.uniform(BEAD_X0 + 20, BEAD_X1 - 20, k)
        ys_ = BEAD_Y + rng.uniform(-1.5, 1.5, k)
        dots(zip(xs_, ys_), rng.uniform(0.45, 0.7, k) * half, (12, 10, 10))
    if show == 4:  # surface pores
        k = int(rng.integers(8, 16))
        xs_ = rng.uniform(BEAD_X0 + 5, BEAD_X1 - 5, k)
        ys_ = BEAD_Y + rng.uniform(-0.5, 0.5, k) * half
        dots(zip(xs_, ys_), rng.uniform(1.2, 2.2, k), (20, 18, 18))
    if show == 5:  # undercut: a dark groove along one bead edge
        side = float(rng.choice([-1, 1]))
        a = rng.uniform(BEAD_X0 + 10, BEAD_X0 + 70)
        b = a + rng.uniform(80, 120)
        g = (np.abs(v - (BEAD_Y + side * (half + 1.8))) < 1.6) & (xx > a) & (xx < b)
        img = np.where(g[..., None], img * 0.25, img)
        mask |= g
    if show == 6:  # overlap: metal rolled over the plate on one side, shadowed lip
        side = float(rng.choice([-1, 1]))
        a = rng.uniform(BEAD_X0 + 10, BEAD_X0 + 80)
        b = a + rng.uniform(70, 110)
        s = side * (v - BEAD_Y) - half
        lip = (s > -1) & (s < 0.55 * half + 2) & (xx > a) & (xx < b)
        lip_light = 150 - 40 * np.clip(s / (0.55 * half + 2), 0, 1)
        img = np.where(lip[..., None], np.stack([lip_light * 0.97, lip_light, lip_light * 1.04],
                                                -1), img)
        sh = (s >= 0.55 * half + 2) & (s < 0.55 * half + 4) & (xx > a) & (xx < b)
        img = np.where(sh[..., None], img * 0.3, img)
        mask |= lip | sh
    if show == 8:  # excessive convexity: the (tall, narrow) bead itself
        mask |= inside
    if show == 9:  # spatter balls near the bead, each with a small shadow
        k = int(rng.integers(20, 40))
        xs_ = rng.uniform(BEAD_X0 - 10, BEAD_X1 + 10, k)
        ys_ = BEAD_Y + rng.choice([-1.0, 1.0], k) * rng.uniform(half + 2, half + 12, k)
        rr = rng.uniform(1.0, 2.2, k)
        dots(zip(xs_ + 1, ys_ + 1), rr + 0.6, (25, 22, 20))
        dots(zip(xs_, ys_), rr, (190, 190, 196))
    if show == 10:  # warping: the bent bead region
        mask |= (dist < half + 4) & (np.abs(dy)[None, :] > 2.0)
    if show == 11:  # crater cracks: dark lines radiating in the end crater
        crack = np.zeros((H, W), np.uint8)
        for _ in range(int(rng.integers(3, 6))):
            ang = rng.uniform(0, 2 * np.pi)
            ln = rng.uniform(0.6, 1.0) * half
            p0 = (int(crater_c[0]), int(crater_c[1] + dy[int(crater_c[0])]))
            p1 = (int(crater_c[0] + ln * np.cos(ang)), int(p0[1] + ln * np.sin(ang)))
            cv2.line(crack, p0, p1, 1, 1)
        c = crack > 0
        img = np.where(c[..., None], np.float32(15), img)
        mask |= cv2.dilate(crack, np.ones((3, 3), np.uint8)) > 0

    img = img + rng.normal(0, 2.5, (H, W, 1)).astype(np.float32)
    base_img = np.clip(img, 0, 255).astype(np.uint8)
    mask_u8 = mask.astype(np.uint8) * 255

    # label geometry per sample (and per-view jitter), drawn only if label=True, drawn regardless
    text = spec.run_id
    tw, th = label_text_size(text)
    lw, lh = tw + 2 * LABEL_PAD_X, th + 2 * LABEL_PAD_Y
    lx = 200 - lw / 2 + float(rng.uniform(-8, 8))
    ly = LABEL_TOP_MIN + float(rng.uniform(0, 4))
    views, masks = [], []
    for _ in range(N_VIEWS):
        jx, jy = rng.uniform(-3, 3, 2)
        ang = float(rng.uniform(-12, 12))
        scale = float(rng.uniform(0.92, 1.05))
        tx, ty = rng.uniform(-12, 12), rng.uniform(-8, 8)
        corner_jit = rng.uniform(-6, 6, (4, 2))
        gain = float(rng.uniform(0.96, 1.04))
        scene = base_img.copy()
        if label:
            x0 = int(round(lx + jx))
            y0 = int(round(ly + jy + dy[int(np.clip(x0 + lw / 2, 0, W - 1))]))
            cv2.rectangle(scene, (x0, y0), (x0 + lw, y0 + lh), (236, 236, 230), -1)
            cv2.putText(scene, text, (x0 + LABEL_PAD_X, y0 + LABEL_PAD_Y + th - 3), LABEL_FONT,
                        LABEL_SCALE, (15, 15, 15), LABEL_THICKNESS, cv2.LINE_AA)
        H_mat = _view_homography(ang, scale, tx, ty, corner_jit)
        view = cv2.warpPerspective(scene, H_mat, (IMG_W, IMG_H), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REFLECT101)
        view = np.clip(view.astype(np.float32) * gain, 0, 255).astype(np.uint8)
        m = cv2.warpPerspective(mask_u8, H_mat, (IMG_W, IMG_H), flags=cv2.INTER_NEAREST,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        views.append(view)
        masks.append(m > 127)
    return views, masks


def _view_homography(ang, scale, tx, ty, corner_jit) -> np.ndarray:
    import cv2

    ox, oy = (CANVAS_W - IMG_W) / 2, (CANVAS_H - IMG_H) / 2
    src = np.array([[ox, oy], [ox + IMG_W, oy], [ox + IMG_W, oy + IMG_H], [ox, oy + IMG_H]],
                   np.float32)
    c = np.array([IMG_W / 2, IMG_H / 2])
    a = math.radians(ang)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) * scale
    dst = (src - [ox, oy] - c) @ rot.T + c + [tx, ty] + corner_jit
    return cv2.getPerspectiveTransform(src, dst.astype(np.float32))


def encode_jpg(rgb: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return buf.tobytes()


def encode_png(mask: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", mask.astype(np.uint8) * 255)
    assert ok
    return buf.tobytes()


# ------------------------------------------------------------------------------------- writing


def write_sample(out: Path, seed: int, spec: SampleSpec, label: bool = True) -> None:
    d = out / spec.folder / spec.run_id
    (d / "images").mkdir(parents=True, exist_ok=True)
    (d / "masks").mkdir(exist_ok=True)
    write_video(d / f"{spec.run_id}.avi", render_video(seed, spec))
    write_audio(d / f"{spec.run_id}.flac", render_audio(seed, spec))
    t, table = render_sensor(seed, spec)
    (d / f"{spec.run_id}.csv").write_bytes(sensor_csv(spec, t, table))
    views, masks = render_images(seed, spec, label=label)
    for stem, view, m in zip(spec.image_stems, views, masks):
        (d / "images" / f"{stem}.jpg").write_bytes(encode_jpg(view))
        (d / "masks" / f"{stem}.png").write_bytes(encode_png(m))


def _write_chunk(args) -> int:
    import cv2

    cv2.setNumThreads(1)  # the pool already uses the cores; avoid oversubscription
    out, seed, specs, label = args
    for spec in specs:
        write_sample(Path(out), seed, spec, label)
    return len(specs)


def manifest_rows(specs: list[SampleSpec]) -> list[dict]:
    rows = []
    for s in specs:
        c = CONFIGS[s.cfg]
        rows.append({"CATEGORY": CATEGORIES[s.code], "WELD_TYPE": c.weld_type,
                     "THICKNESS_MM": str(c.thickness_mm), "STEEL_TYPE": c.steel_type,
                     "SAMPLES": str(s.folder_runs), "CURRENT_A": str(c.current_a),
                     "VOLTAGE_V": f"{c.voltage_v:.1f}", "GAS_BAR": f"{c.gas_bar:.1f}",
                     "ROBOT_SPEED_CPM": str(c.speed_cpm), "DIRECTORY": s.folder,
                     "SUBDIRS": s.subdir, "SPLIT": s.split})
    return rows


def synthesize(out: Path, seed: int, size: str = "quick", label: bool = True,
               workers: int | None = None) -> Path:
    """Write the synthetic twin into `out` (created; must be empty or absent) and return it."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out}: output directory is not empty")
    out.mkdir(parents=True, exist_ok=True)
    specs = plan(seed, size)
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    if workers <= 1 or len(specs) < 8:
        _write_chunk((str(out), seed, specs, label))
    else:
        chunks = [specs[i::workers * 4] for i in range(workers * 4)]
        # NOTE: spawn, not fork: forking a process whose torch/OpenMP threads are running (a test
        # session, the runner generating the twin on first use) can deadlock the children.
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(_write_chunk, [(str(out), seed, ch, label) for ch in chunks]))
    with open(out / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(MANIFEST_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(manifest_rows(specs))
    # NOTE: marks the folder as synthetic so that results and table captions say so.
    (out / "synthetic.json").write_text(json.dumps(
        {"generator": "benchmark.data.synth", "seed": seed, "size": size, "label": label}, indent=2))
    return out
