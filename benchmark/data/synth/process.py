"""The sample plan and the realised process: what every modality of a sample is rendered from.

Every sample has a weld configuration (its recipe: weld type, steel, plate thickness, current,
voltage, gas, robot speed) and a recording session (a day: the run id's date, and so the printed
label and the CSV time stamps; every folder holds one category, several folders may share a
day). Two confound structures (`CONFOUND_MODES`):

* `real` (the default): Weld-4M's recipes and sessions. Each category's recipes are drawn from
  Weld-4M's own per-category recipe table (`benchmark.data.recipes.twin_recipes`) in proportion to
  their use, so the twin has the real data's recipe shortcut (most defects were welded with
  recipes no normal weld used) and its recipe-matched subset (Lack of Fusion and Warping share
  recipes with Good). Each category's welds are recorded in sessions whose counts follow
  Weld-4M's category x day table, scaled down (`sessions.session_cells`): days that mixed Good and
  defective welds stay mixed, pure days stay pure, so the session is a near-label as in Weld-4M.
* `none`: eight configurations (weld type x steel x thickness, `CONFIGS`) with set-points far
  apart, the same for every category, and sessions of the same sizes that every weld joins at
  random: neither recipe nor session says anything about the defect, and a session leaves no
  nuisance in the media (`SampleSpec.session_nuisance`; it would only add noise to every weld).

Departure of `real` from Weld-4M: a defect's welds with a Good recipe go to its mixed sessions
first and Good's welds there take those recipes, with their TRAIN welds first; code 12
(Process_Result_Mismatch, which Weld-4M lacks) is recorded on the mixed sessions with the recipes
of their TRAIN normals. Why: Weld-4M has only 11 of 1,611 TEST defects that share both recipe and
session with a TRAIN normal, which scaled to the twin's ~150 TEST defects would be one or none;
placed so, the quick twin has ~15, and the confound-free (both-matched) subset can be measured.

One *process* draw per sample (realised current, voltage, feed, speed, gas, arc on/off times,
`process_of`) drives every process modality and the bead of the photos; each defect adds its own
signature on top (`VISIBLE`); defect events (`events_of`) are drawn once and shared by the
modalities that show them.

Choices (documented, not facts of the real data): every medium is `DURATION_S` = 6 s long (real
~38 s) with the arc on for ~3.8 s in the middle; sizes "tiny" (tests), "quick" (default), "full"
(real category counts), see `SIZES`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np

from ..sample import CATEGORIES, CATEGORY_CODES
from .sessions import largest_remainder, mixed_sessions, session_cells, session_day, twin_sessions

# ------------------------------------------------------------------------------------ constants

DURATION_S = 6.0
FEED_PER_A = 0.39  # wire-feed set-point per ampere (real: ~70 at 180 A)

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
CONFOUND_MODES = ("real", "none")

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
# The confound-free twin is the known-answer test bed (`benchmark.results.known_answers`): a
# category is judged against the TEST normals of its own configuration. Its normals are split
# configuration by configuration, and each configuration's TEST normals are topped up to this
# many (TRAIN and VAL as before): the quick size's shuffle left 0-5 per configuration, too few to
# tell chance from a weak signal (an unseen seed put a method's invisible categories at 0.29).
NEUTRAL_TEST_NORMALS = {"quick": 8}
FOLDER_RUNS = 20  # runs per configuration folder (as in most real folders)


@dataclass(frozen=True)
class SampleSpec:
    index: int
    code: int
    config: Config  # the manifest's recipe, realised by the process
    img_config: Config  # the recipe of the photographed bead (== config except for code 12)
    folder: str
    run_id: str
    split: str
    start: datetime  # first CSV row time stamp
    image_stems: tuple[str, ...]
    folder_runs: int
    session: int  # recording session (its day is the run id's date); its nuisance: sessions.py
    session_nuisance: bool = True  # False: the session leaves nothing in the media (confounds none)

    @property
    def subdir(self) -> str:
        return f"{self.folder}/{self.run_id}"


def _slug(code: int) -> str:
    return "good_weld" if code == 0 else CATEGORIES[code].lower()


def _neutral_groups(size: str) -> list[tuple[int, Config, Config, int]]:
    """(code, config, photographed config, count): configurations cycle within the weld type
    (the normals' counts before `_neutral_normals` tops up their TEST)."""
    groups = []
    for code in sorted(SIZES[size]):
        n_nf, n_f = SIZES[size][code]
        for n, cfgs in ((n_nf, NON_FILLET_CFGS), (n_f, FILLET_CFGS)):
            per = [n // len(cfgs) + (1 if k < n % len(cfgs) else 0) for k in range(len(cfgs))]
            groups += [(code, CONFIGS[c], CONFIGS[PARTNER[c] if code == 12 else c], m)
                       for c, m in zip(cfgs, per) if m > 0]
    return groups


def _recipe_groups(size: str) -> list[tuple[int, Config, Config, int]]:
    """(code, config, photographed config, count): every category's `SIZES` total spread over
    its Weld-4M recipes in proportion to their use (largest remainders, ties to the first).
    Code 12, which Weld-4M lacks, is left out: it takes its recipes in `_real_sessions`."""
    from ..recipes import twin_recipes

    table: dict[int, list[tuple[Config, int]]] = {}
    for r in twin_recipes():
        config = Config(r["WELD_TYPE"], r["STEEL_TYPE"], int(r["THICKNESS_MM"]), int(r["CURRENT_A"]),
                        float(r["VOLTAGE_V"]), float(r["GAS_BAR"]), int(r["ROBOT_SPEED_CPM"]))
        table.setdefault(CATEGORY_CODES[r["CATEGORY"]], []).append((config, r["N"]))
    groups = []
    for code in sorted(table):
        recipes = table[code]
        counts = largest_remainder({i: n for i, (_, n) in enumerate(recipes)}, sum(SIZES[size][code]))
        groups += [(code, recipes[i][0], recipes[i][0], m) for i, m in counts.items()]
    return groups


def _partner(config: Config, normals: list[Config]) -> Config:
    """The normal recipe of the same weld type whose bead differs most (bead-space distance)."""
    def bead(c: Config) -> np.ndarray:
        return np.array([np.sqrt(c.heat / c.speed_cpm), c.feed / c.speed_cpm, c.speed_cpm / 10])

    same = [c for c in normals if c.weld_type == config.weld_type]
    return max(same, key=lambda c: float(np.linalg.norm(bead(c) - bead(config))))


def _normal_splits_per_recipe(counts: list[int], rng: np.random.Generator) -> list[str]:
    """Splits of the normals, recipe by recipe (in group order). In Weld-4M every normal recipe
    has 10 or more welds, so its seeded shuffle leaves welds of every recipe in TRAIN; the twin's
    few welds per recipe need the split per recipe for the same to hold: each recipe with two or
    more welds keeps at least one in TRAIN, the TRAIN total stays the protocol's share, and the rest
    alternate between VAL and TEST across recipes."""
    counts_ = np.array(counts)
    target = counts_ * TRAIN_SHARE_OF_NORMALS
    train = np.floor(target).astype(int)
    train[(counts_ >= 2) & (train == 0)] = 1
    order = np.argsort(-(target - train), kind="stable")  # largest remainder first
    for i in order[: max(0, round(counts_.sum() * TRAIN_SHARE_OF_NORMALS) - train.sum())]:
        train[i] += int(train[i] < counts_[i])
    out, to_val = [], True
    for m, t in zip(counts, train):
        rest = []
        for _ in range(m - t):
            rest.append("VAL" if to_val else "TEST")
            to_val = not to_val
        out += ["TRAIN"] * int(t) + [rest[i] for i in rng.permutation(len(rest))]
    return out


def _neutral_normals(groups, size: str, rng: np.random.Generator) -> tuple[list, list[str]]:
    """The confound-free twin's normals split per configuration (`_normal_splits_per_recipe`),
    each configuration's TEST topped up to `NEUTRAL_TEST_NORMALS[size]`: (groups with the new
    normal counts, the normals' splits in group order)."""
    normal = [g for g in groups if g[0] == 0]
    base = _normal_splits_per_recipe([m for *_, m in normal], rng)
    wanted = NEUTRAL_TEST_NORMALS.get(size, 0)
    out, splits, at = [], [], 0
    for code, cfg, img_cfg, m in normal:
        own = base[at: at + m] + ["TEST"] * max(0, wanted - base[at: at + m].count("TEST"))
        at += m
        out.append((code, cfg, img_cfg, len(own)))
        splits += own
    return out + [g for g in groups if g[0] != 0], splits


@dataclass(frozen=True)
class _Weld:
    code: int
    config: Config
    img_config: Config
    session: int
    split: str


def plan(seed: int, size: str = "quick", confounds: str = "real") -> list[SampleSpec]:
    """Every sample's identity, configuration, session, folder, run id, split and time stamps."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; expected one of {sorted(SIZES)}")
    if confounds not in CONFOUND_MODES:
        raise ValueError(f"unknown confounds {confounds!r}; expected one of {CONFOUND_MODES}")
    rng = np.random.default_rng([seed, PLAN_STREAM])
    real = confounds == "real"
    # 1. groups: (code, config, photographed config) with their sample counts
    groups = _recipe_groups(size) if real else _neutral_groups(size)
    # 2. splits per category (seeded shuffle, as the published split)
    splits: dict[int, list[str]] = {}
    for code in sorted(SIZES[size]):
        n = sum(SIZES[size][code])
        n_train = round(n * TRAIN_SHARE_OF_NORMALS) if code == 0 else 0
        rest = n - n_train
        labels = ["TRAIN"] * n_train + ["VAL"] * ((rest + 1) // 2) + ["TEST"] * (rest // 2)
        splits[code] = [labels[i] for i in rng.permutation(n)]
    totals = {code: sum(n) for code, n in SIZES[size].items()}
    if not real:
        groups, splits[0] = _neutral_normals(groups, size, rng)
        totals[0] = len(splits[0])
    # 3. sessions: Weld-4M's category x day structure, scaled (sessions.py)
    cells = session_cells(totals)
    if real:
        welds = _real_sessions(groups, cells, splits, rng)
    else:
        welds = _random_sessions(groups, cells, splits, rng)
    specs = _folders(welds, rng)
    # NOTE: without confounds a session leaves nothing in the media either: drawn at random over
    # the categories its nuisance would say nothing about the label, but it would still add
    # session noise to every weld, and this twin is the clean test bed of what a method sees
    return specs if real else [replace(s, session_nuisance=False) for s in specs]


def _slots(cells: dict[int, int], first: set[int]) -> list[int]:
    """One session per weld, the sessions in `first` first."""
    return [s for s in sorted(cells, key=lambda s: (s not in first, s)) for _ in range(cells[s])]


def _real_sessions(groups, cells: dict[int, dict[int, int]], splits: dict[int, list[str]],
                   rng: np.random.Generator) -> list[_Weld]:
    """Weld-4M's recipes and sessions. A defect's welds with a Good recipe go to its mixed
    sessions first, and Good's welds there take those recipes first, then Good's TRAIN welds of
    each recipe go to those sessions first: so the twin has defects that share recipe and session
    with TRAIN normals. Code 12 welds with the recipes of the TRAIN normals of its session."""
    mixed = set(mixed_sessions(twin_sessions()))
    pool = {c: m for code, c, _, m in groups if code == 0}  # NOTE: dict keeps the group order
    welds: list[_Weld] = []
    wanted: dict[int, list[Config]] = {}
    for code in sorted(cells):
        if code in (0, 12):
            continue
        cfgs = sorted((c for g, c, _, m in groups if g == code for _ in range(m)),
                      key=lambda c: c not in pool)  # stable: the recipes Good also used first
        for cfg, s, split in zip(cfgs, _slots(cells[code], mixed), splits[code]):
            welds.append(_Weld(code, cfg, cfg, s, split))
            if cfg in pool:
                wanted.setdefault(s, []).append(cfg)
    left = dict(pool)
    placed: list[tuple[Config, int]] = []
    for s in sorted(cells[0], key=lambda s: (s not in mixed, s)):
        want = list(dict.fromkeys(wanted.get(s, [])))  # each recipe once, in the defects' order
        for _ in range(cells[0][s]):
            cfg = next((c for c in want if left[c]), None) or next(c for c in left if left[c])
            if cfg in want:
                want.remove(cfg)
            left[cfg] -= 1
            placed.append((cfg, s))
    order = {c: i for i, c in enumerate(pool)}

    def train_first(weld: tuple[Config, int]) -> tuple:  # where a defect shares the recipe, then mixed
        cfg, s = weld
        return order[cfg], cfg not in wanted.get(s, ()), s not in mixed, s

    placed.sort(key=train_first)  # _normal_splits_per_recipe puts each recipe's TRAIN welds first
    good_splits = _normal_splits_per_recipe(list(pool.values()), rng)
    welds += [_Weld(0, c, c, s, split) for (c, s), split in zip(placed, good_splits)]
    normals = list(pool)
    k = 0
    for s in sorted(cells[12]):
        ref = [w.config for w in welds if w.code == 0 and w.session == s]
        train = [w.config for w in welds if w.code == 0 and w.session == s and w.split == "TRAIN"]
        for i in range(cells[12][s]):
            cfg = (train or ref)[i % len(train or ref)]
            welds.append(_Weld(12, cfg, _partner(cfg, normals), s, splits[12][k]))
            k += 1
    return welds


def _random_sessions(groups, cells: dict[int, dict[int, int]], splits: dict[int, list[str]],
                     rng: np.random.Generator) -> list[_Weld]:
    """Sessions of the real sizes, every weld put in one at random: a session says nothing
    about the category."""
    sizes: dict[int, int] = {}
    for row in cells.values():
        for s, n in row.items():
            sizes[s] = sizes.get(s, 0) + n
    taken = {code: 0 for code in splits}
    drawn = []
    for code, cfg, img_cfg, m in groups:
        for _ in range(m):
            drawn.append((code, cfg, img_cfg, splits[code][taken[code]]))
            taken[code] += 1
    shuffled = [drawn[i] for i in rng.permutation(len(drawn))]
    return [_Weld(code, cfg, img_cfg, s, split)
            for s, (code, cfg, img_cfg, split) in zip(_slots(sizes, set()), shuffled)]


def _folders(welds: list[_Weld], rng: np.random.Generator) -> list[SampleSpec]:
    """Folders of <= FOLDER_RUNS runs of one category, session and recipe, in recording order;
    each session's run numbers and clock run on across its folders (run ids stay unique)."""
    folders: dict[tuple, list[_Weld]] = {}
    for w in sorted(welds, key=lambda w: (w.session, w.code)):
        folders.setdefault((w.session, w.code, w.config, w.img_config), []).append(w)
    specs: list[SampleSpec] = []
    folder_no: dict[int, int] = {}
    clock: dict[int, list] = {}
    for (session, code, cfg, img_cfg), members in folders.items():
        d = session_day(session)
        if session not in clock:
            clock[session] = [int(rng.integers(1, 400)),
                              datetime(d.year, d.month, d.day, 7, 0, 0)
                              + timedelta(seconds=int(rng.integers(0, 3600))),
                              datetime(d.year, d.month, d.day, 10, 0, 0) + timedelta(days=1)]
        number, t, shot = clock[session]
        for chunk0 in range(0, len(members), FOLDER_RUNS):
            chunk = members[chunk0:chunk0 + FOLDER_RUNS]
            folder_no[code] = folder_no.get(code, 0) + 1
            tag = "fillet" if cfg.weld_type == "FILLET" else "plane_plate"
            folder = (f"{_slug(code)}_{folder_no[code]}_{d:%m-%d-%y}_{tag}_"
                      f"{cfg.steel_type}_{cfg.thickness_mm}mm")
            for w in chunk:
                # NOTE: <= 150 s apart, so that the largest session (~200 welds at full size)
                # ends on its own day
                t += timedelta(seconds=int(rng.integers(60, 150)),
                               milliseconds=int(rng.integers(0, 1000)))
                shot += timedelta(seconds=int(rng.integers(30, 90)))
                shot2 = shot + timedelta(seconds=8)
                fa = np.sort(rng.choice(np.arange(1, 30), 2, replace=False))
                fb = np.sort(rng.choice(np.arange(1, 30), 3, replace=False))
                stems = tuple([f"{shot:%Y%m%d_%H%M%S}_{f:03d}" for f in fa]
                              + [f"{shot2:%Y%m%d_%H%M%S}_{f:03d}" for f in fb])
                specs.append(SampleSpec(
                    index=len(specs), code=code, config=cfg, img_config=img_cfg, folder=folder,
                    run_id=f"{d:%m-%d-%y}-{number:04d}-{code:02d}", split=w.split, start=t,
                    image_stems=stems, folder_runs=len(chunk), session=session))
                number += 1
        clock[session] = [number, t, shot]
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
    p = draw_process(spec.config, _rng(seed, spec, S_PROCESS))
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


def process_draws(seed: int, spec: SampleSpec, code: int | None, modality: str, stream: int
                  ) -> tuple[int, Process, Events, np.random.Generator]:
    """What a process modality is rendered from: the defect it shows (0 outside its row), the
    realised process (with the defect's process-level effect only if the modality shows it), the
    defect events, and the modality's own random stream."""
    code = spec.code if code is None else code
    show = code if _has(code, modality) else 0
    p = process_of(seed, spec, show)
    return show, p, events_of(seed, spec, p), _rng(seed, spec, stream)

