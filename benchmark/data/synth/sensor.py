"""Sensor CSV: current/voltage/feed/flow/pressure/cumulative wire, in the real CSV's format.

The session's zero offsets (`Nuisance.pressure_offset`, `flow_offset`, `idle_offsets`) shift the
gas pressure, flow, feed, current and voltage readings, idle and active. Choice (not a fact of the real data): rows at ~9 Hz
(`CSV_DT`, the real CSVs' mean spacing).
"""
from __future__ import annotations

import io
import math
from datetime import timedelta

import numpy as np

from ..sample import SENSOR_HEADER
from .process import DURATION_S, S_SENSOR, SampleSpec, process_draws
from .sessions import nuisance_for

CSV_DT = 0.109  # mean row spacing of the real CSVs (~9 Hz)
OCV_V = 40.23  # open-circuit voltage the real sensor shows just before ignition
WIRE_PER_FEED_S = 1.3  # wire-consumed units per (feed unit * second) while the arc is on


def render_sensor(seed: int, spec: SampleSpec, code: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(t seconds from the first row (n,), channels (n, 6) in SENSOR_CHANNELS order)."""
    show, p, ev, rng = process_draws(seed, spec, code, "sensor", S_SENSOR)
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
    nuisance = nuisance_for(seed, spec)
    flow = flow + 0.03 * rng.standard_normal(n) + nuisance.flow_offset
    pressure = pressure + 0.01 * rng.standard_normal(n) + nuisance.pressure_offset
    feed_zero, current_zero, voltage_zero = nuisance.idle_offsets
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
    table = np.stack([pressure, flow, feed + feed_zero, current + current_zero, wire,
                      voltage + voltage_zero], axis=1)
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

