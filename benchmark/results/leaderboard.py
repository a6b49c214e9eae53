"""The run as CSV, written into `results/<run>/` by every `bench run`:

- `leaderboard.csv`, tidy: one row per (run, method, seed, subset, category, normals, metric), with the
  row's code, display name and role, the value (or why it is undefined), the 95 % interval where
  the metric has one (I-AUROC, recording sessions resampled) with the number of sessions of each
  class behind it, the normal and anomalous TEST counts behind the value, and whether the data
  were synthetic. `subset` is `all` (the whole TEST split) or a matched
  TEST subset (`recipe_matched`, `session_matched`, `both_matched`); `category` is `all` or a
  defect category; `normals` says which normal TEST welds a value compares the defects with:
  `same_weld_type` for a category (like with like: the normals of its own weld type, the I-AUROC
  over the pairs within a weld type), `all` for the whole split and, image metrics of the whole
  split only, once more per category against every normal (the comparison published work makes).
- `summary.csv`: mean, std (empty for one seed), n_seeds and the Student-t 95 % interval of the
  mean over seeds, per (method, subset, category, normals, metric).

Both are pure functions of the saved results, like the tables: a method's display name, group
and modalities come from the facts the runner wrote into its units' `config.json`.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

from benchmark.metrics import HIGHER_IS_BETTER, Undefined, aggregate_seeds
from benchmark.results.tables.build import MethodRuns, RunData

LEADERBOARD = "leaderboard.csv"
SUMMARY = "summary.csv"
OVERALL = "all"  # the subset, category and normals of a whole-TEST-split value
SAME_WELD_TYPE = "same_weld_type"  # the normals a category's values compare with (like with like)
METHOD_COLUMNS = ("run", "method", "row_code", "display_name", "role", "group", "modalities")
KEY_COLUMNS = ("subset", "category", "normals", "metric")
LEADERBOARD_COLUMNS = (*METHOD_COLUMNS, "seed", *KEY_COLUMNS, "value", "ci_low", "ci_high",
                       "n_sessions_normal", "n_sessions_anomalous", "n_normal", "n_anomalous",
                       "undefined_reason", "synthetic")
SUMMARY_COLUMNS = (*METHOD_COLUMNS, *KEY_COLUMNS, "mean", "std", "n_seeds", "ci95_low",
                   "ci95_high", "n_undefined", "undefined_reason", "synthetic")
INTERVALS = {"I-AUROC": "I-AUROC-CI95"}  # metric -> the key of its interval in a block


def metric_names(data: RunData) -> list[str]:
    """The run's metrics, in the order the runner recorded their directions."""
    names: dict[str, None] = {}
    for u in data.all_units():
        names.update(dict.fromkeys(u.config.get("metric_directions") or HIGHER_IS_BETTER))
    return list(names)


def _method_fields(data: RunData, m: MethodRuns) -> dict:
    return {"run": data.run_dir.name, "method": m.name, "row_code": m.row_code,
            "display_name": m.display_name, "role": m.role, "group": m.group,
            "modalities": "+".join(m.config.get("modalities", [])),
            "synthetic": str(data.synthetic()).lower()}


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


def _blocks(metrics: dict, categories: list[str]):
    """(subset, category, normals, block of metrics, (n_normal, n_anomalous), the same for the
    pixel metrics or None where a block holds image metrics only) of a unit: the whole TEST split
    and each matched subset, overall and per defect category (like with like; on the whole split
    also against every normal). The pixel metrics
    rest on the welds with a ground truth (`counts["pixel"]`: only the defects with masks), the
    image metrics on all. Results written before weld types were recorded compare a category with
    every normal, and say so."""
    scopes = [(OVERALL, metrics)] + list(metrics.get("subsets", {}).items())
    for subset, scope in scopes:
        counts = scope.get("counts", {})
        pixel = counts.get("pixel", counts)
        yield (subset, OVERALL, OVERALL, scope.get("overall"), (counts.get("normal"), counts.get("anomalous")),
               (pixel.get("normal"), pixel.get("anomalous")) if subset == OVERALL else None)
        own = counts.get("per_category_normal")
        for c in categories:
            n_anomalous = counts.get("per_category", {}).get(c)
            n_normal = counts.get("normal") if own is None else own.get(c)
            yield (subset, c, OVERALL if own is None else SAME_WELD_TYPE, scope.get("per_category", {}).get(c),
                   (n_normal, n_anomalous),
                   (pixel.get("normal") if own is None else n_normal, pixel.get("per_category", {}).get(c))
                   if subset == OVERALL else None)
            if subset == OVERALL and own is not None:
                yield (subset, c, OVERALL, scope.get("per_category_all_normals", {}).get(c),
                       (counts.get("normal"), n_anomalous), None)


def _scope_counts(metrics: dict, subset: str) -> dict:
    scope = metrics if subset == OVERALL else metrics.get("subsets", {}).get(subset, {})
    return scope.get("counts", {})


def leaderboard_rows(data: RunData) -> list[dict]:
    metrics = metric_names(data)
    categories = [c for c in data.categories() if c != "Good"]
    rows = []
    for m in data.methods.values():
        fields = _method_fields(data, m)
        for u in m.units:
            pixel_missing = u.metrics.get("pixel_note") or "no pixel metrics in this result"
            for subset, category, normals, block, image_n, pixel_n in _blocks(u.metrics, categories):
                for key in metrics:
                    if key.startswith("P-") and pixel_n is None:
                        continue  # subsets, and a category against every normal: image metrics only
                    n_normal, n_anomalous = pixel_n if key.startswith("P-") else image_n
                    if block is None:
                        why = (f"category {category} not in this unit's TEST set" if subset == OVERALL
                               else f"no {subset} defect of category {category}")
                    else:
                        why = pixel_missing if key.startswith("P-") else "not computed"
                    value, reason = _value(block, key, why)
                    ci = (block or {}).get(INTERVALS.get(key, ""))
                    defined = isinstance(ci, (list, tuple)) and len(ci) == 2
                    sessions = (_scope_counts(u.metrics, subset).get("clusters", {})
                                if key in INTERVALS and category == OVERALL else {})
                    rows.append({**fields, "seed": u.seed, "subset": subset, "category": category,
                                 "normals": normals, "metric": key, "value": value,
                                 "ci_low": float(ci[0]) if defined else None,
                                 "ci_high": float(ci[1]) if defined else None,
                                 "n_sessions_normal": sessions.get("normal"),
                                 "n_sessions_anomalous": sessions.get("anomalous"),
                                 "n_normal": n_normal, "n_anomalous": n_anomalous,
                                 "undefined_reason": reason})
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
        groups.setdefault(tuple(r[k] for k in ("method", *KEY_COLUMNS)), []).append(r)
    out = []
    for rows in groups.values():
        values = [{"v": r["value"] if r["value"] is not None else Undefined(r["undefined_reason"])}
                  for r in rows]
        agg = aggregate_seeds(values).get("v")
        reasons = "; ".join(dict.fromkeys(r["undefined_reason"] for r in rows if r["value"] is None))
        base = {k: rows[0][k] for k in (*METHOD_COLUMNS, *KEY_COLUMNS, "synthetic")}
        if not isinstance(agg, dict):
            out.append({**base, "n_seeds": 0, "n_undefined": len(rows), "undefined_reason": reasons})
            continue
        ci = t_interval(agg["mean"], agg["std"], agg["n"])
        if ci is None:
            reasons = "; ".join(filter(None, [reasons, "one seed: no std, no interval of the mean"]))
        # NOTE: a std of one value is no spread: the cell stays empty rather than 0.0
        out.append({**base, "mean": agg["mean"], "std": agg["std"] if agg["n"] > 1 else None,
                    "n_seeds": agg["n"], "ci95_low": None if ci is None else ci[0],
                    "ci95_high": None if ci is None else ci[1],
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
    changed, profile, dataset, fingerprint, units done / planned, methods and seeds. A run that
    cannot be read is listed too, its units "BROKEN" and the reason in `problem`."""
    import datetime as dt

    from benchmark.results import store as R

    def stamp(ts: float) -> str:
        return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")

    rows = []
    for folder in sorted(p for p in Path(results).glob("*") if p.is_dir() and not p.name.startswith(".")):
        try:
            units = R.load_run(folder)
            info = R.run_info(folder)
        except R.ResultsError as exc:  # NOTE: one bad run is named; the others are still listed
            ts = folder.stat().st_mtime
            rows.append({"run": folder.name, "path": str(folder), "updated_ts": ts, "updated": stamp(ts),
                         **dict.fromkeys(("profile", "dataset", "fingerprint", "methods", "seeds"), "?"),
                         "units": "BROKEN", "problem": str(exc)})
            continue
        if not units:
            continue
        dataset = info.get("dataset", {})
        config = units[0].config
        updated = max(p.stat().st_mtime for p in [folder, *(u.folder for u in units)])
        root = Path(dataset.get("root", "")).name or "?"
        fingerprint = dataset.get("fingerprint") or config.get("dataset_fingerprint") or "?"
        planned = len(info.get("units", [])) or len(units)
        rows.append({
            "run": folder.name, "path": str(folder), "updated_ts": updated,
            "updated": stamp(updated),
            "profile": info.get("profile", {}).get("name") or config.get("profile", {}).get("name", "?"),
            "dataset": root + (" (synthetic)" if dataset.get("synthetic") or config.get("synthetic") else ""),
            "fingerprint": fingerprint[:12], "units": f"{len(units)}/{planned}",
            "methods": str(len({u.method for u in units})),
            "seeds": ",".join(map(str, sorted({u.seed for u in units})))})
    return sorted(rows, key=lambda r: -r["updated_ts"])
