"""Video: the torch-arm view of the weld pool.

The weld-pool blob's size and brightness ~ current*voltage, the plate texture scrolls with the
travel speed; the session's exposure and white balance (`Nuisance.video_gain`, `video_tint`) scale every
frame. Choice (not a
fact of the real data): 64x48 mjpeg AVI at 30 fps.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .process import DURATION_S, S_VIDEO, SampleSpec, process_draws
from .sessions import nuisance_for

FPS = 30
VIDEO_W, VIDEO_H = 64, 48


def render_video(seed: int, spec: SampleSpec, code: int | None = None) -> np.ndarray:
    """uint8 (T, 48, 64, 3) RGB: the torch-arm view of the weld pool."""
    show, p, ev, rng = process_draws(seed, spec, code, "video", S_VIDEO)
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
    nuisance = nuisance_for(seed, spec)
    gray *= f32(nuisance.video_gain)  # the session's exposure, arc on or off
    rgb = np.empty((T, VIDEO_H, VIDEO_W, 3), np.uint8)
    for c, k in enumerate((1.0, 0.92, 0.70)):  # the scene's colour under the session's white balance
        rgb[..., c] = np.clip(gray * f32(k * nuisance.video_tint[c]), 0, 255)
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
        # NOTE: FFmpeg takes one encoder thread per core it may use, and MJPEG written by one
        # thread differs in its bytes from MJPEG written by two or more: a process held to one
        # core (taskset, a 1-CPU job) made another twin than the goldens' (dataset fingerprint).
        # Two threads on every machine: the bytes of the goldens' 2-core machine.
        stream.codec_context.thread_count = 2
        stream.bit_rate = 2_000_000
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)

