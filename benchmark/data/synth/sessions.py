"""Recording sessions: which welds were recorded together, and what a session leaves in the media.

Weld-4M's defects were recorded in their own sessions: every configuration folder holds one
category and 85 % of the welds were recorded on a day that made only Good or only defective
welds. `benchmark/data/weld4m_sessions.csv` (derived from the published manifest by
`scripts/derive_twin_sessions.py`: session number, category, welds; no dates, no ids) holds that
category x day structure; `session_cells` scales it down to the twin's size.

A session leaves its own nuisance in every modality (`Nuisance`, drawn from the session's own
stream `np.random.default_rng([seed, SESSION_STREAM, session])`, so it is the same for every weld
of the session whatever its category): photo lighting (gain, colour cast, and a slope across the
view from where the lamp stood) and pose (a shift of the scene), the audio noise floor (level and colour, also before arc-on), the
video exposure and white balance (also before arc-on) and sensor zero offsets (gas pressure,
flow, feed, current and voltage; idle and active). Choices (not facts of the real data): the ranges below, each clearly measurable between
sessions and smaller than the defects' own signatures; a session's day is `SESSION_DAY0` plus
`SESSION_GAP_DAYS` per session number.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources

import numpy as np

from ..sample import CATEGORY_CODES

SESSIONS_FILE = "weld4m_sessions.csv"
SESSION_STREAM = 1_000_033
SESSION_DAY0 = date(2022, 8, 1)
SESSION_GAP_DAYS = 3  # Weld-4M's 72 days span ~8 months
GOOD = 0


@functools.cache
def twin_sessions() -> dict[int, dict[int, int]]:
    """{session: {category code: welds}} of Weld-4M (the committed table)."""
    import csv

    text = resources.files("benchmark.data").joinpath(SESSIONS_FILE).read_text()
    table: dict[int, dict[int, int]] = {}
    for r in csv.DictReader(text.splitlines()):
        table.setdefault(int(r["SESSION"]), {})[CATEGORY_CODES[r["CATEGORY"]]] = int(r["N"])
    return table


def session_day(session: int) -> date:
    return SESSION_DAY0 + timedelta(days=SESSION_GAP_DAYS * (session - 1))


def mixed_sessions(table: dict[int, dict[int, int]]) -> list[int]:
    """Sessions that recorded Good and defective welds."""
    return sorted(s for s, row in table.items() if GOOD in row and len(row) > 1)


def largest_remainder(weights: dict[int, float], n: int, floor: tuple[int, ...] = ()
                      ) -> dict[int, int]:
    """n split over the keys in proportion to their weights (largest remainders, ties to the
    first key); every key in `floor` gets at least one."""
    keys = list(weights)
    counts = np.array([1 if k in floor else 0 for k in keys])
    if counts.sum() > n:
        raise ValueError(f"{n} welds cannot cover the {counts.sum()} sessions that must stay mixed")
    w = np.array([weights[k] for k in keys], dtype=float)
    share = (n - counts.sum()) * w / w.sum()
    counts += np.floor(share).astype(int)
    extra = np.argsort(-(share - np.floor(share)), kind="stable")[: n - counts.sum()]
    counts[extra] += 1
    return {k: int(c) for k, c in zip(keys, counts) if c > 0}


def session_cells(totals: dict[int, int]) -> dict[int, dict[int, int]]:
    """{code: {session: welds}}: each category's twin total (`totals`) spread over its Weld-4M
    sessions in proportion to its welds there. Every category of a mixed session keeps at least
    one weld there, so mixed sessions stay mixed and pure ones pure. Code 12, which Weld-4M
    lacks, is spread like Good over the mixed sessions (`process.plan` says why)."""
    table = twin_sessions()
    mixed = mixed_sessions(table)
    cells = {}
    for code, n in totals.items():
        if code == 12:
            cells[code] = largest_remainder({s: table[s][GOOD] for s in mixed}, n)
            continue
        weights = {s: row[code] for s, row in table.items() if code in row}
        cells[code] = largest_remainder(weights, n, floor=tuple(s for s in weights if s in mixed))
    return cells


# ----------------------------------------------------------------------------------- nuisance


@dataclass(frozen=True)
class Nuisance:
    """What one session leaves in every weld recorded in it."""
    photo_gain: float  # lighting: global gain of every view
    photo_cast: tuple[float, float, float]  # lighting colour: per-channel (RGB) gain
    photo_shift: tuple[float, float]  # pose: shift of the scene in the view, px
    photo_slope: tuple[float, float]  # lamp position: gain slope across the view (x, y), per half-view
    audio_floor: float  # background noise level (std), arc on or off
    audio_colour: float  # background noise low-pass coefficient: 0 white .. 0.9 rumble
    video_gain: float  # camera exposure
    video_tint: tuple[float, float, float]  # camera white balance: per-channel (RGB) gain
    pressure_offset: float  # gas-pressure sensor zero offset (bar-like units)
    flow_offset: float  # gas-flow sensor zero offset
    idle_offsets: tuple[float, float, float]  # feed, current (A), voltage (V) sensor zero offsets


def lighting(nuisance: Nuisance, height: int, width: int) -> np.ndarray:
    """(height, width) gain of the session's light over a view: 1 at the centre, sloping to
    1 +- slope at the edges (where the lamp stands)."""
    y = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None]
    x = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
    return 1.0 + nuisance.photo_slope[0] * x + nuisance.photo_slope[1] * y


#: What a session leaves where it leaves nothing (the twin without confounds).
NO_NUISANCE = Nuisance(photo_gain=1.0, photo_cast=(1.0, 1.0, 1.0), photo_shift=(0.0, 0.0),
                       photo_slope=(0.0, 0.0), audio_floor=0.003, audio_colour=0.0, video_gain=1.0,
                       video_tint=(1.0, 1.0, 1.0), pressure_offset=0.0, flow_offset=0.0,
                       idle_offsets=(0.0, 0.0, 0.0))


def nuisance_for(seed: int, spec) -> Nuisance:
    """The nuisance a weld's session leaves in its media (none in the twin without confounds)."""
    return nuisance_of(seed, spec.session) if spec.session_nuisance else NO_NUISANCE


@functools.lru_cache(maxsize=256)
def nuisance_of(seed: int, session: int) -> Nuisance:
    rng = np.random.default_rng([seed, SESSION_STREAM, session])
    u = rng.uniform
    # NOTE: each range spans many sigmas of what it is read against (a weld's five views average
    # their +-4 % gain jitter to ~1 %, and a gain leaves the colour balance alone; pressure / flow
    # noise 0.01 / 0.03 per row; thousands of frames, pixels and audio samples before arc-on) and
    # stays below the defects' effects (heat +30 %, feed +40 %, current spikes of 45 %, dark holes
    # in the bead). A session is told apart by several such numbers at once (as a real day's light,
    # camera and bench differ in many ways): one number alone, drawn from a range that dozens of
    # TRAIN sessions fill, would leave every new session next to a known one.
    return Nuisance(photo_gain=float(u(0.94, 1.06)),
                    photo_cast=tuple(float(c) for c in u(0.92, 1.08, 3)),
                    photo_shift=tuple(float(c) for c in u(-4.0, 4.0, 2)),
                    photo_slope=tuple(float(c) for c in u(-0.12, 0.12, 2)),
                    audio_floor=float(u(0.0015, 0.006)), audio_colour=float(u(0.0, 0.9)),
                    video_gain=float(u(0.92, 1.08)),
                    video_tint=tuple(float(c) for c in u(0.9, 1.1, 3)),
                    pressure_offset=float(u(-0.08, 0.08)), flow_offset=float(u(-0.2, 0.2)),
                    idle_offsets=(float(u(0.0, 0.06)), float(u(0.0, 1.5)), float(u(0.0, 0.6))))
