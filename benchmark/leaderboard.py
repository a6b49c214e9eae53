"""The run as CSV: `leaderboard.csv` (tidy: one row per method, seed, metric and category) and
`summary.csv` (one row per method, metric and category: mean, std, n and the 95 % interval of the
mean over seeds), written into `results/<run>/` by every `bench run`. A TEST subset's values (the
recipe-matched one) appear under categories `all [recipe_matched]`, `<category> [recipe_matched]`.

Both are pure functions of the saved results, like the tables: a method's display name, group
and modalities come from the facts the runner wrote into its units' `config.json`.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

from benchmark.metrics import HIGHER_IS_BETTER, Undefined, aggregate_seeds
from benchmark.tables.build import MethodRuns, RunData

LEADERBOARD = "leaderboard.csv"
SUMMARY = "summary.csv"
OVERALL = "all"  # the category of a whole-TEST-split value
METHOD_COLUMNS = ("method", "display_name", "group", "modalities")
LEADERBOARD_COLUMNS = (*METHOD_COLUMNS, "seed", "metric", "category", "value", "undefined_reason")
SUMMARY_COLUMNS = (*METHOD_COLUMNS, "metric", "category", "mean", "std", "n", "ci95_low",
                   "ci95_high", "n_undefined", "undefined_reason")
# The per-seed bootstrap interval over TEST samples, in the leaderboard only: the summary's
# interval is the one of the mean over seeds.
CI_BOUNDS = ("I-AUROC-CI95-low", "I-AUROC-CI95-high")


def metric_names(data: RunData) -> list[str]:
    """The run's metrics, in the order the runner recorded their directions."""
    names: dict[str, None] = {}
    for u in data.all_units():
        names.update(dict.fromkeys(u.config.get("metric_directions") or HIGHER_IS_BETTER))
    return list(names)


def _method_fields(m: MethodRuns) -> dict:
    return {"method": m.name, "display_name": m.config.get("display_name") or m.name,
            "group": m.group, "modalities": "+".join(m.config.get("modalities", []))}


def _value(block: dict | None, key: str, missing: str) -> tuple[float | None, str]:
    """(value, undefined reason) of one metric of one block of metrics.json."""
    if block is None:
        return None, missing
    v = block.get(key)
    if v is None:
        return None, missing
    if isinstance(v, Undefined):
        return None, v.reason
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v)):
        return float(v), ""
    return None, f"not a number ({v!r})"


def leaderboard_rows(data: RunData) -> list[dict]:
    metrics = metric_names(data)
    categories = data.categories()
    rows = []
    for m in data.methods.values():
        fields = _method_fields(m)
        for u in m.units:
            not_computed = "not computed"
            pixel_missing = u.metrics.get("pixel_note") or "no pixel metrics in this result"
            missing = lambda key: pixel_missing if key.startswith("P-") else not_computed
            overall = u.metrics.get("overall", {})
            blocks = [(OVERALL, overall)] + [
                (c, u.metrics.get("per_category", {}).get(c)) for c in categories]
            # NOTE: a TEST subset (the recipe-matched one) as categories "all [subset]", "<c> [subset]"
            for name, subset in u.metrics.get("subsets", {}).items():
                blocks += [(f"{OVERALL} [{name}]", subset.get("overall"))] + [
                    (f"{c} [{name}]", subset.get("per_category", {}).get(c)) for c in categories]
            for category, block in blocks:
                for key in metrics:
                    why = missing(key) if block is not None else f"category {category} not in this unit's TEST set"
                    if block is not None and key.startswith("P-") and "[" in category:
                        continue  # subsets have image metrics only
                    value, reason = _value(block, key, why)
                    rows.append({**fields, "seed": u.seed, "metric": key, "category": category,
                                 "value": value, "undefined_reason": reason})
            ci = overall.get("I-AUROC-CI95")
            for i, key in enumerate(CI_BOUNDS):
                defined = isinstance(ci, (list, tuple)) and len(ci) == 2
                rows.append({**fields, "seed": u.seed, "metric": key, "category": OVERALL,
                             "value": float(ci[i]) if defined else None,
                             "undefined_reason": "" if defined else (
                                 ci.reason if isinstance(ci, Undefined) else not_computed)})
    return rows


def t_interval(mean: float, std: float, n: int, level: float = 0.95) -> tuple[float, float] | None:
    """Student-t interval of a mean of n values (None for n < 2).

    >>> lo, hi = t_interval(0.9, 0.02, 3)
    >>> round(lo, 4), round(hi, 4)
    (0.8503, 0.9497)
    """
    if n < 2:
        return None
    from scipy import stats

    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * std / math.sqrt(n)
    return mean - half, mean + half


def summary_rows(leaderboard: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for r in leaderboard:
        if r["metric"] not in CI_BOUNDS:
            groups.setdefault((r["method"], r["metric"], r["category"]), []).append(r)
    out = []
    for rows in groups.values():
        values = [{"v": r["value"] if r["value"] is not None else Undefined(r["undefined_reason"])}
                  for r in rows]
        agg = aggregate_seeds(values).get("v")
        reasons = "; ".join(dict.fromkeys(r["undefined_reason"] for r in rows if r["value"] is None))
        base = {k: rows[0][k] for k in (*METHOD_COLUMNS, "metric", "category")}
        if not isinstance(agg, dict):
            out.append({**base, "n": 0, "n_undefined": len(rows), "undefined_reason": reasons})
            continue
        ci = t_interval(agg["mean"], agg["std"], agg["n"])
        if ci is None:
            reasons = "; ".join(filter(None, [reasons, "one seed: no interval of the mean"]))
        out.append({**base, "mean": agg["mean"], "std": agg["std"], "n": agg["n"],
                    "ci95_low": None if ci is None else ci[0], "ci95_high": None if ci is None else ci[1],
                    "n_undefined": agg["n_undefined"], "undefined_reason": reasons})
    return out


def _write(path: Path, columns: tuple[str, ...], rows: list[dict]) -> Path:
    fmt = lambda v: "" if v is None else (repr(v) if isinstance(v, float) else v)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows({k: fmt(r.get(k)) for k in columns} for r in rows)
    tmp.replace(path)
    return path


def write_leaderboard(run_dir: Path, out: Path | None = None) -> tuple[Path, Path]:
    """`leaderboard.csv` and `summary.csv` of a run, from its finished units, into `out`
    (default: the run folder)."""
    data = RunData.load(Path(run_dir))
    out = Path(out) if out is not None else data.run_dir
    rows = leaderboard_rows(data)
    return (_write(out / LEADERBOARD, LEADERBOARD_COLUMNS, rows),
            _write(out / SUMMARY, SUMMARY_COLUMNS, summary_rows(rows)))


# ---------------------------------------------------------------------------- the runs of a folder
def list_runs(results: Path) -> list[dict]:
    """One row per run folder of `results` that holds a finished unit, newest first: when it last
    changed, profile, dataset, fingerprint, units done / planned, methods and seeds."""
    import datetime as dt

    from benchmark import results as R

    rows = []
    for folder in sorted(p for p in Path(results).glob("*") if p.is_dir() and not p.name.startswith(".")):
        units = R.load_run(folder)
        if not units:
            continue
        info = R.run_info(folder)
        dataset = info.get("dataset", {})
        config = units[0].config
        updated = max(p.stat().st_mtime for p in [folder, *(u.folder for u in units)])
        root = Path(dataset.get("root", "")).name or "?"
        fingerprint = dataset.get("fingerprint") or config.get("dataset_fingerprint") or "?"
        planned = len(info.get("units", [])) or len(units)
        rows.append({
            "run": folder.name, "path": str(folder), "updated_ts": updated,
            "updated": dt.datetime.fromtimestamp(updated).strftime("%Y-%m-%d %H:%M"),
            "profile": info.get("profile", {}).get("name") or config.get("profile", {}).get("name", "?"),
            "dataset": root + (" (synthetic)" if dataset.get("synthetic") or config.get("synthetic") else ""),
            "fingerprint": fingerprint[:12], "units": f"{len(units)}/{planned}",
            "methods": str(len({u.method for u in units})),
            "seeds": ",".join(map(str, sorted({u.seed for u in units})))})
    return sorted(rows, key=lambda r: -r["updated_ts"])
