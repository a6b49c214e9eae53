"""Leakage audit of the label guard: `bench audit`.

Every post-weld photo carries a paper label with the run id, whose last two digits are the
category code. The audit runs result-only (image) methods through the ordinary runner twice on a
dataset whose labels are visible, once with the label guard off (`run="audit-guard-off"`) and once
on (`run="audit-guard-on"`), and compares their per-category I-AUROC.

On the confound-free synthetic twin (the audit's default) three categories leave no trace in the
photos (03 Porosity, 07 Lack_of_Fusion, 12 Process_Result_Mismatch: the bead is a normal one, for
12 of another configuration). A result-only method can only beat chance on them by reading the label (or, for
12, by recognising a bead that is off for the sample's configuration; the twin's configurations
are far apart, so that is a real image signal a result-only method may pick up, not a leak).
For each of them the audit bootstraps a 95 % interval of the I-AUROC on the per-category subset
(Good vs that category, from scores.csv) and calls the category "at chance" when the interval
contains 0.5; a fixed threshold would mean nothing on ~20 anomalies.

Besides the registered methods, the audit runs a `label_probe`: a detector that sees only the
label region (the box the guard's detector finds on the raw photo, mapped onto the views the
methods get, at the profile's pixel size) and scores a view by position-aware nearest-neighbour
distance of narrow columns of that crop to TRAIN crops (the code digits sit at the right end, in
the same columns for every normal). It is the audit's positive control: with the guard off it
shows how much of the category code survives at the methods' resolution; with the guard on it
sees the inpainted fill. It is an audit tool, never a registered method.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger("bench")

INVISIBLE = ("Porosity", "Lack_of_Fusion", "Process_Result_Mismatch")  # no image trace on the twin
DEFAULT_METHODS = ("patchcore", "causal_film_result_only")
SETTINGS = (("off", False), ("on", True))  # label guard
PROBE = "label_probe"
NORMAL = "Good"


@dataclass(frozen=True)
class AuditConfig:
    methods: tuple[str, ...] = DEFAULT_METHODS
    seeds: tuple[int, ...] = (0,)
    root: Path | None = None  # None: the default synthetic twin (labels visible)
    out: Path = Path("results/audit")
    cache: Path | None = None  # default: <out>/.feature_cache
    synth_seed: int = 0
    # NOTE: the confound-free twin: there the invisible categories leave no trace in the photos at
    # all, while the default twin's recipes shape every bead and its sessions light every photo
    # (recipe and session signals, not the label)
    synth_confounds: str = "none"
    profile: str = "quick"
    device: str = "cpu"
    n_boot: int = 1000
    probe: bool = True


# ---------------------------------------------------------------------------- chance, with a CI
def chance_verdict(labels, scores, strata=None, n_boot: int = 1000, seed: int = 0) -> dict:
    """I-AUROC of one per-category subset, its stratified bootstrap 95 % interval, the distance
    from chance (AUROC - 0.5, interval shifted alike) and `at_chance` = the interval contains 0.5
    (None when the interval is undefined, e.g. fewer than 2 samples in a class). With `strata`
    (each weld's weld type) only the pairs within a weld type count, as in the tables."""
    from benchmark.metrics import bootstrap_auroc_ci

    labels = np.asarray(labels, dtype=int)
    scores = np.asarray(scores, dtype=float)
    auroc = category_auroc(labels, scores, strata)
    ci = bootstrap_auroc_ci(labels, scores, n_boot=n_boot, seed=seed, strata=strata)
    out = {"n_normal": int((labels == 0).sum()), "n_anomalous": int((labels == 1).sum()),
           "auroc": float(auroc) if _num(auroc) else None}
    if not _num(auroc) or not isinstance(ci, tuple):
        return out | {"ci95": None, "distance": None, "distance_ci95": None, "at_chance": None,
                      "reason": str(ci if not isinstance(ci, tuple) else auroc)}
    lo, hi = ci
    return out | {"ci95": [lo, hi], "distance": auroc - 0.5, "distance_ci95": [lo - 0.5, hi - 0.5],
                  "at_chance": bool(lo <= 0.5 <= hi)}


def _num(v) -> bool:
    return isinstance(v, (int, float, np.floating)) and not isinstance(v, bool) and np.isfinite(v)


def verdict_line(method: str, chance: dict[str, dict], setting: str) -> tuple[bool | None, str]:
    """One sentence for one method and guard setting from {category: chance_verdict(...)}."""
    at = {c: v.get("at_chance") for c, v in chance.items()}
    if at and all(a is True for a in at.values()):
        return True, f"{method}, guard {setting}: invisible categories at chance (CI contains 0.5)"
    off = [f"{c} (I-AUROC {v['auroc']:.3f}, CI [{v['ci95'][0]:.3f}, {v['ci95'][1]:.3f}])"
           for c, v in chance.items() if v.get("at_chance") is False]
    undef = [c for c, a in at.items() if a is None]
    parts = []
    if off:
        parts.append("NOT at chance: " + "; ".join(off))
    if undef:
        parts.append("no interval for: " + ", ".join(undef))
    return (False if off else None), f"{method}, guard {setting}: " + " / ".join(parts)


def category_auroc(labels, scores, strata=None):
    """The I-AUROC of a per-category subset; with `strata`, over the pairs within a weld type."""
    from benchmark.metrics import image_metrics, stratified_auroc

    auroc = image_metrics(labels, scores)["I-AUROC"]
    return stratified_auroc(labels, scores, strata) if strata is not None and _num(auroc) else auroc


def subset(rows: list[dict], category: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Labels, scores and weld types (None where scores.csv records none) of `category` and the
    Good welds of its weld types (like with like, as the tables), from scores.csv rows."""
    from benchmark.metrics import like_with_like

    types = [r["weld_type"] for r in rows] if all(r.get("weld_type") for r in rows) else None
    keep = [r for r, k in zip(rows, like_with_like([r["category"] for r in rows], types, category, NORMAL)) if k]
    return (np.array([int(r["label"]) for r in keep]), np.array([float(r["score"]) for r in keep]),
            None if types is None else np.array([r["weld_type"] for r in keep], dtype=object))


# ---------------------------------------------------------------------------- the audit
def dataset_label_info(root: Path) -> dict:
    """What the twin's marker says (seed, size, labels drawn); {} for a real dataset."""
    from benchmark.run.plan import SYNTHETIC_MARKER

    marker = Path(root) / SYNTHETIC_MARKER
    return json.loads(marker.read_text()) if marker.exists() else {}


def feature_cache_keys(run_config, methods) -> dict[str, str]:
    """Extractor name -> cache folder key (settings digest) used by the methods of a run."""
    from benchmark.features.cache import FeatureStore
    from benchmark.features.extractors import feature_index
    from benchmark.run.plan import resolve_methods

    profile = run_config.resolved_profile()
    store = FeatureStore(run_config.cache or Path(run_config.out) / ".feature_cache", profile,
                         run_config.feature_options())
    index = feature_index()
    names = {index[f] for s in resolve_methods(methods) for f in s.feature_names(profile)}
    if names & {"dinov2", "dinov2_fine"}:
        names.add("pixels")  # DINOv2 (both grids) is computed from the (guarded) pixel views
    return {n: store.settings_digest(n) for n in sorted(names)}


def audit(config: AuditConfig) -> dict:
    """Run every method with the guard off and on, compare, write <out>/audit.md and .json."""
    from benchmark.data.sample import DataError
    from benchmark.results.store import load_run, run_info
    from benchmark.run.config import RunConfig
    from benchmark.run.plan import default_dataset, resolve_methods
    from benchmark.run.runner import run as run_bench

    t_start = time.perf_counter()
    root = Path(config.root) if config.root else default_dataset(config.synth_seed, config.synth_confounds)
    info = dataset_label_info(root)
    if info and not info.get("label", True):
        raise DataError(root, "the synthetic twin was generated without labels (label=false): "
                              "nothing to audit; generate one with labels")
    specs = resolve_methods(config.methods)
    non_result = [s.name for s in specs if set(s.modalities) != {"image"}]
    if non_result:
        log.warning("audit: %s are not result-only (image) methods", ", ".join(non_result))
    out = Path(config.out)
    cache = config.cache or out / ".feature_cache"
    report: dict = {
        "dataset": {"root": str(root), "synthetic": bool(info), "twin_seed": info.get("seed"),
                    "twin_size": info.get("size"), "labels_visible": info.get("label") if info else None},
        "profile": config.profile, "methods": list(config.methods), "seeds": list(config.seeds),
        "invisible_categories": list(INVISIBLE), "n_boot": config.n_boot,
        "chance_rule": "at chance <=> the stratified bootstrap 95% interval of the per-category "
                       "I-AUROC (Good vs that category) contains 0.5",
        "runs": {}, "results": {},
    }
    units: dict[str, dict] = {}
    for setting, guard in SETTINGS:
        rc = RunConfig(methods=tuple(config.methods), seeds=tuple(config.seeds), profile=config.profile,
                       root=root, device=config.device, out=out, run=f"audit-guard-{setting}",
                       cache=cache, label_guard=guard, synth_seed=config.synth_seed,
                       synth_confounds=config.synth_confounds, rerun=True)
        t0 = time.perf_counter()
        run_dir = run_bench(rc)
        report["runs"][setting] = {"run_dir": str(run_dir), "label_guard": guard,
                                   "seconds": time.perf_counter() - t0,
                                   "feature_cache": feature_cache_keys(rc, config.methods),
                                   # views where the guard found no label (features computed in
                                   # this run only; cached ones were counted when computed)
                                   "labels_missed": run_info(run_dir).get("features", {}).get(
                                       "extractors", {}).get("pixels", {}).get("labels_missed")}
        units[setting] = {(u.method, u.seed): u for u in load_run(run_dir)
                          if u.method in config.methods and u.seed in config.seeds}
        for (m, s), u in units[setting].items():
            if u.config["run"]["label_guard"] is not guard:
                raise RuntimeError(f"{u.folder}: label_guard={u.config['run']['label_guard']}, "
                                   f"expected {guard} (stale run folder?)")

    for method in config.methods:
        for seed in config.seeds:
            per = {st: units[st].get((method, seed)) for st, _ in SETTINGS}
            if any(u is None for u in per.values()):
                raise RuntimeError(f"{method}/seed{seed}: unit missing in one of the audit runs")
            report["results"][f"{method}/seed{seed}"] = _compare(
                method, seed, {st: (u.metrics["per_category"], u.scores()) for st, u in per.items()},
                config.n_boot, source={st: str(u.folder) for st, u in per.items()})

    if config.probe:
        t0 = time.perf_counter()
        probe_rows = label_probe(root, config, cache)
        report["probe_seconds"] = time.perf_counter() - t0
        for seed in config.seeds[:1]:
            report["results"][f"{PROBE}/seed{seed}"] = _compare(
                PROBE, seed, {st: (None, rows) for st, rows in probe_rows.items()}, config.n_boot,
                source={"detector": "label region only (audit-internal, see benchmark/results/audit.py)"})
    report["seconds"] = time.perf_counter() - t_start
    out.mkdir(parents=True, exist_ok=True)
    (out / "audit.json").write_text(json.dumps(report, indent=2))
    (out / "audit.md").write_text(render_markdown(report))
    return report


def _compare(method: str, seed: int, data: dict, n_boot: int, source: dict) -> dict:
    """data: setting -> (per_category metrics or None, scores.csv rows)."""
    rows_by = {st: rows for st, (_, rows) in data.items()}
    cats = sorted({r["category"] for rows in rows_by.values() for r in rows} - {NORMAL})
    table = {}
    for c in cats:
        entry = {}
        for st, (per_cat, rows) in data.items():
            if per_cat is not None and c in per_cat:
                v = per_cat[c].get("I-AUROC")
            else:
                v = category_auroc(*subset(rows, c))
            entry[st] = float(v) if _num(v) else None
        entry["difference"] = (entry["off"] - entry["on"]
                               if entry.get("off") is not None and entry.get("on") is not None else None)
        table[c] = entry
    chance = {st: {c: chance_verdict(*subset(rows, c), n_boot=n_boot, seed=seed)
                   for c in INVISIBLE if c in cats} for st, rows in rows_by.items()}
    verdicts = {st: dict(zip(("at_chance", "text"), verdict_line(method, ch, st)))
                for st, ch in chance.items()}
    return {"method": method, "seed": seed, "per_category": table, "invisible": chance,
            "verdict": verdicts, "source": source}


# ---------------------------------------------------------------------------- label-only probe
PROBE_CROP = (12, 48)  # (H, W) the label box is resized to
PROBE_COL = 6  # column window width
PROBE_STRIDE = 3
PROBE_SHIFT = 1  # neighbouring column positions a TRAIN column may match (box jitter)


def _label_crops(raw_views: list[np.ndarray], views: np.ndarray) -> list[np.ndarray | None]:
    """For each view: the label box found on the raw photo, mapped to the (H, W) of `views`,
    cropped from `views`, grey, resized to PROBE_CROP and standardised; None if no label found."""
    import cv2

    from benchmark.data.label_guard import find_label

    out = []
    for raw, view in zip(raw_views, views):
        region = find_label(raw)
        if not region.found:
            out.append(None)
            continue
        (rh, rw), (h, w) = raw.shape[:2], view.shape[:2]
        x0, y0, x1, y1 = region.box
        xa, xb = int(np.floor(x0 * w / rw)), int(np.ceil(x1 * w / rw))
        ya, yb = int(np.floor(y0 * h / rh)), int(np.ceil(y1 * h / rh))
        crop = cv2.cvtColor(np.ascontiguousarray(view[ya:yb, xa:xb]), cv2.COLOR_RGB2GRAY)
        crop = cv2.resize(crop.astype(np.float32), PROBE_CROP[::-1], interpolation=cv2.INTER_AREA)
        out.append((crop - crop.mean()) / (crop.std() + 1.0))
    return out


def _columns(crop: np.ndarray) -> np.ndarray:
    """(P, H * PROBE_COL) column windows, left to right."""
    starts = range(0, crop.shape[1] - PROBE_COL + 1, PROBE_STRIDE)
    return np.stack([crop[:, s:s + PROBE_COL].ravel() for s in starts])


def probe_scores(train: list[list[np.ndarray | None]], test: list[list[np.ndarray | None]]) -> np.ndarray:
    """Per TEST sample: max over its views and column positions of the distance to the nearest
    TRAIN column at the same position (+- PROBE_SHIFT). Views without a crop are skipped; a
    sample without any gets the median score."""
    bank = np.stack([_columns(c) for views in train for c in views if c is not None])  # (M, P, D)
    n_pos = bank.shape[1]
    scores = []
    for views in test:
        best = []
        for c in views:
            if c is None:
                continue
            cols = _columns(c)
            d = np.empty(n_pos)
            for p in range(n_pos):
                lo, hi = max(0, p - PROBE_SHIFT), min(n_pos, p + PROBE_SHIFT + 1)
                ref = bank[:, lo:hi].reshape(-1, bank.shape[2])
                d[p] = np.sqrt(((ref - cols[p]) ** 2).sum(1).min())
            best.append(d.max())
        scores.append(max(best) if best else np.nan)
    scores = np.array(scores)
    scores[np.isnan(scores)] = np.nanmedian(scores) if np.isfinite(scores).any() else 0.0
    return scores


def label_probe(root: Path, config: AuditConfig, cache: Path) -> dict[str, list[dict]]:
    """scores.csv-like rows of the label-only probe on TEST, per guard setting."""
    from benchmark.data.decode import read_images
    from benchmark.data.loader import load_dataset
    from benchmark.features.cache import FeatureStore
    from benchmark.profiles import FeatureOptions, get_profile

    dataset = load_dataset(root, None, seed=0, require=("image",), allow_missing=True)
    train, test = dataset.split("TRAIN"), dataset.split("TEST")
    samples = train + test
    raw = [read_images(s) for s in samples]
    rows = {}
    for setting, guard in SETTINGS:
        store = FeatureStore(cache, get_profile(config.profile), FeatureOptions(label_guard=guard),
                             config.device)
        pixels = store.get(samples, ("image_pixels",))["image_pixels"]
        crops = [_label_crops(r, p) for r, p in zip(raw, pixels)]
        scores = probe_scores(crops[:len(train)], crops[len(train):])
        rows[setting] = [{"id": s.id, "category": s.category, "label": s.label, "score": float(v)}
                         for s, v in zip(test, scores)]
    return rows


# ---------------------------------------------------------------------------- rendering
def _f(v, signed=False) -> str:
    if v is None:
        return "n/a"
    return f"{v:+.3f}" if signed else f"{v:.3f}"


def _dist(v: dict | None) -> str:
    if not v or v.get("distance") is None:
        return "n/a"
    lo, hi = v["distance_ci95"]
    return f"{v['distance']:+.3f} [{lo:+.3f}, {hi:+.3f}]" + ("" if v["at_chance"] else " *")


def render_markdown(report: dict) -> str:
    ds = report["dataset"]
    lines = ["# Label-guard leakage audit", "",
             f"Dataset: `{ds['root']}`" + (f" (synthetic twin, seed {ds['twin_seed']}, size {ds['twin_size']}, "
                                            f"labels visible: {ds['labels_visible']})" if ds["synthetic"] else ""),
             f"Profile: {report['profile']}; runs: " + ", ".join(
                 f"guard {st} -> `{r['run_dir']}` (feature cache " +
                 ", ".join(f"{k}={v}" for k, v in r["feature_cache"].items()) + f"; {r['seconds']:.0f} s"
                 + (f"; label not found in {r['labels_missed']} views" if r.get("labels_missed") else "")
                 + ")"
                 for st, r in report["runs"].items()),
             f"Chance: {report['chance_rule']} ({report['n_boot']} replicates); * = interval excludes 0.5.",
             ""]
    for key, res in report["results"].items():
        lines += [f"## {key}", "",
                  "| category | guard off I-AUROC | guard on I-AUROC | off - on | off: AUROC-0.5 [95% CI] | on: AUROC-0.5 [95% CI] |",
                  "|---|---|---|---|---|---|"]
        for c, e in res["per_category"].items():
            inv = c in res["invisible"].get("off", {})
            name = f"**{c}** (invisible)" if inv else c
            d_off = _dist(res["invisible"]["off"].get(c)) if inv else ""
            d_on = _dist(res["invisible"]["on"].get(c)) if inv else ""
            lines.append(f"| {name} | {_f(e.get('off'))} | {_f(e.get('on'))} | {_f(e['difference'], True)} "
                         f"| {d_off} | {d_on} |")
        lines += [""] + [f"- {v['text']}" for v in res["verdict"].values()] + [""]
    lines.append(f"Wall time: {report['seconds']:.0f} s" +
                 (f" (label probe {report['probe_seconds']:.0f} s)" if "probe_seconds" in report else ""))
    return "\n".join(lines) + "\n"
