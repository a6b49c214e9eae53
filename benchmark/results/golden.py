"""Metric-regression goldens: the quick profile's seed-0 metrics of every registered method.

`tests/golden/quick_metrics.json` holds, per method, the overall I-AUROC and I-AP and the
per-category I-AUROC of `bench run --method all --seeds 0` (quick profile, synthetic twin).
`tests/test_golden.py` reruns the quick profile and fails on any change beyond the tolerance;
`bench golden update [RUN_DIR]` rewrites the goldens on purpose and prints what changed.

Tolerance: 0.02 absolute (TOLERANCE), or four swapped score pairs where that is more (SWAPS). The
quick profile is deterministic (seeded generators, tiny random-weight backbones, CPU), so on one
machine a rerun gives identical numbers. What moves them across machines is floating-point noise:
BLAS / oneDNN kernels differ between CPU instruction sets and library versions, and a last-bit
change in a feature can swap two nearly tied scores (the Causal-FiLM variants, trained for 30
epochs, carry such a change furthest). One swapped (normal, anomalous) pair moves an AUROC by
1 / (n_normal * n_anomalous): the overall I-AUROC of the quick TEST split (19 normal, 163
anomalous) by about 0.0003, a category's (12 defects) against all 19 normals by 0.0044, but a
category compared like with like against the 4 normals of its weld type by 0.021: there 0.02
does not absorb even one swap. So every I-AUROC may move by max(0.02, 4 / its pairs), the pairs
counted in the new run; measured between two machines: at most 3 swaps (a Causal-FiLM variant's
Lack_of_Fusion, 180 pairs). A real regression (a broken feature, adapter, split or metric) moves
these AUROCs by 0.05 or more, over many categories and the overall value alike.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

GOLDEN_PATH = Path(__file__).resolve().parents[2] / "tests" / "golden" / "quick_metrics.json"
TOLERANCE = 0.02
SWAPS = 4  # swapped score pairs of float noise an I-AUROC may show (see above)
SEED = 0
PROFILE = "quick"
OVERALL_KEYS = ("I-AUROC", "I-AP")
CATEGORY_KEY = "I-AUROC"
MATCHED_KEY = "I-AUROC (matched)"  # the I-AUROC on the recipe-matched TEST subset
FREE_KEY = "I-AUROC (conf.-free)"  # on the both-matched (recipe and session) TEST subset
UPDATE_HINT = "run bench golden update"


def snapshot(run_dir: Path, tolerance: float = TOLERANCE) -> dict:
    """The golden record of a run's seed-0 units (plain JSON data)."""
    from benchmark.metrics import Undefined
    from benchmark.results import store as R
    from benchmark.results.store import to_jsonable

    units = [u for u in R.load_run(run_dir) if u.seed == SEED]
    if not units:
        raise FileNotFoundError(f"{run_dir}: no seed-{SEED} results to take goldens from")
    profiles = sorted({u.config.get("profile", {}).get("name", "?") for u in units})
    fingerprints = sorted({u.config.get("dataset_fingerprint") or "" for u in units})
    methods = {}
    for u in units:
        overall = u.metrics.get("overall", {})
        subsets = u.metrics.get("subsets", {})
        matched = subsets.get("recipe_matched", {}).get("overall", {})
        free = subsets.get("both_matched", {}).get("overall", {})
        methods[u.method] = {
            **{k: overall.get(k, Undefined("missing")) for k in OVERALL_KEYS},
            MATCHED_KEY: matched.get(CATEGORY_KEY, Undefined("missing")),
            FREE_KEY: free.get(CATEGORY_KEY, Undefined("missing")),
            "per_category": {c: block.get(CATEGORY_KEY, Undefined("missing"))
                             for c, block in sorted(u.metrics.get("per_category", {}).items())},
            "pairs": _pairs(u.metrics),
        }
    meta = {"profile": "/".join(profiles), "seed": SEED, "tolerance": tolerance, "swaps": SWAPS,
            "dataset_fingerprint": "/".join(fingerprints),
            "values": f"overall {', '.join(OVERALL_KEYS)}, {MATCHED_KEY}, {FREE_KEY} and per-category "
                      f"{CATEGORY_KEY}",
            "tolerance_why": "absolute, or for an I-AUROC `swaps` swapped score pairs where that is "
                             "more (1 / pairs each; `pairs` per method); see benchmark/results/golden.py: "
                             "float noise across machines swaps a few nearly tied pairs, a real "
                             "regression moves AUROC by >= 0.05",
            "update": UPDATE_HINT}
    return to_jsonable({"_meta": meta, "methods": dict(sorted(methods.items()))})


def _pairs(metrics: dict) -> dict[str, int]:
    """(normal, anomalous) pairs behind each I-AUROC of the goldens, by its label in the diff."""
    counts = metrics.get("counts", {})
    out = {CATEGORY_KEY: counts.get("normal", 0) * counts.get("anomalous", 0)}
    for key, subset in ((MATCHED_KEY, "recipe_matched"), (FREE_KEY, "both_matched")):
        c = metrics.get("subsets", {}).get(subset, {}).get("counts", {})
        out[key] = c.get("normal", 0) * c.get("anomalous", 0)
    normals = counts.get("per_category_normal", {})
    for c, n in counts.get("per_category", {}).items():
        out[f"{CATEGORY_KEY}[{c}]"] = n * normals.get(c, counts.get("normal", 0))
    return out


def _value(v) -> float | str:
    """A golden value as a float, or the text of an undefined one."""
    if isinstance(v, dict) and v.get("value") is None:
        return f"n/a ({v.get('reason', '?')})"
    if hasattr(v, "reason"):  # an Undefined
        return str(v)
    return float(v)


def _show(v) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def diff_snapshots(old: dict, new: dict, tolerance: float) -> list[str]:
    """Every value that differs by more than `tolerance` (or changes definedness), for the
    methods present in both, plus methods and categories present in one only."""
    out = []
    for key in ("profile", "dataset_fingerprint"):
        a, b = old.get("_meta", {}).get(key), new.get("_meta", {}).get(key)
        if a != b:
            out.append(f"{key}: golden {a!r}, now {b!r}")
    olds, news = old.get("methods", {}), new.get("methods", {})
    for name in sorted(set(olds) | set(news)):
        if name not in news:
            out.append(f"{name}: in the goldens, not in the new results")
            continue
        if name not in olds:
            out.append(f"{name}: new (no golden yet)")
            continue
        pairs = [(k, olds[name].get(k), news[name].get(k)) for k in (*OVERALL_KEYS, MATCHED_KEY, FREE_KEY)]
        oc, nc = olds[name].get("per_category", {}), news[name].get("per_category", {})
        pairs += [(f"{CATEGORY_KEY}[{c}]", oc.get(c), nc.get(c)) for c in sorted(set(oc) | set(nc))]
        for metric, a, b in pairs:
            if a is None or b is None:
                out.append(f"{name} {metric}: golden {'missing' if a is None else _show(_value(a))}, "
                           f"now {'missing' if b is None else _show(_value(b))}")
                continue
            va, vb = _value(a), _value(b)
            if isinstance(va, float) and isinstance(vb, float):
                limit = _limit(metric, news[name].get("pairs") or olds[name].get("pairs") or {}, tolerance)
                if abs(va - vb) > limit or not math.isfinite(vb):
                    out.append(f"{name} {metric}: golden {va:.4f}, now {vb:.4f} "
                               f"(|diff| {abs(va - vb):.4f} > {limit:.4g})")
            elif isinstance(va, float) != isinstance(vb, float):
                out.append(f"{name} {metric}: golden {_show(va)}, now {_show(vb)}")
    return out


def _limit(metric: str, pairs: dict[str, int], tolerance: float) -> float:
    """How far a value may move: `tolerance`, or for an I-AUROC SWAPS swapped pairs where that is
    more (none under an exact comparison, tolerance 0)."""
    n = pairs.get(metric, 0)
    return max(tolerance, SWAPS / n) if tolerance > 0 and n > 0 else tolerance


def compare(run_dir: Path, golden_path: Path = GOLDEN_PATH,
            registered: Iterable[str] | None = None) -> list[str]:
    """Differences between a quick-profile run and the goldens; empty when they agree.

    `registered` defaults to the method registry: a registered method without a golden and a
    golden without a registered method are both differences.
    """
    golden_path = Path(golden_path)
    if not golden_path.exists():
        return [f"no golden file {golden_path}: {UPDATE_HINT}"]
    old = json.loads(golden_path.read_text())
    tolerance = float(old.get("_meta", {}).get("tolerance", TOLERANCE))
    new = snapshot(run_dir, tolerance)
    if registered is None:
        from benchmark.method import load_methods

        registered = list(load_methods())
    registered = set(registered)
    out = []
    for name in sorted(registered - set(old.get("methods", {}))):
        out.append(f"no golden for {name}: {UPDATE_HINT}")
    for name in sorted(set(old.get("methods", {})) - registered):
        out.append(f"golden for {name}, which is no longer registered: {UPDATE_HINT}")
    for name in sorted(registered - set(new["methods"])):
        out.append(f"{name}: registered but no seed-{SEED} result in {run_dir}")
    # NOTE: methods missing on either side were reported above with the fix; compare the rest.
    both = registered & set(old.get("methods", {})) & set(new["methods"])
    keep = lambda snap: {**snap, "methods": {k: v for k, v in snap["methods"].items() if k in both}}
    out += diff_snapshots(keep(old), keep(new), tolerance)
    return out


def update(run_dir: Path, golden_path: Path = GOLDEN_PATH,
           registered: Iterable[str] | None = None) -> list[str]:
    """Rewrite the goldens from `run_dir`; returns every change (exact, tolerance 0)."""
    new = snapshot(run_dir)
    if new["_meta"]["profile"] != PROFILE:
        raise ValueError(f"{run_dir}: goldens come from the {PROFILE} profile, this run is "
                         f"{new['_meta']['profile']}")
    if registered is None:
        from benchmark.method import load_methods

        registered = list(load_methods())
    missing = sorted(set(registered) - set(new["methods"]))
    if missing:
        raise ValueError(f"{run_dir}: no seed-{SEED} result for {', '.join(missing)}; the goldens "
                         f"must cover every registered method (run bench run --method all --seeds 0)")
    stale = sorted(set(new["methods"]) - set(registered))
    new["methods"] = {k: v for k, v in new["methods"].items() if k not in stale}
    golden_path = Path(golden_path)
    old = json.loads(golden_path.read_text()) if golden_path.exists() else {}
    changes = diff_snapshots(old, new, 0.0) if old else [f"new golden file ({len(new['methods'])} methods)"]
    changes += [f"{name}: result ignored, method not registered" for name in stale]
    golden_path.parent.mkdir(parents=True, exist_ok=True)
    golden_path.write_text(json.dumps(new, indent=2, sort_keys=False) + "\n")
    return changes
