"""`bench data recipes`: how far the weld recipe alone goes on a manifest's split (no media).

For every category: how many samples per split were welded with a recipe that TRAIN normals also
used (`benchmark.data.recipes.RECIPE_KEY`), and the recipe-only score (the standardised distance
of a weld's recipe to the nearest TRAIN-normal recipe, as `recipe_manifest` computes it) on TEST:
I-AUROC overall, per category and on the recipe-matched subset. The matched subset is written as
CSV so a reader can check it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.data.loader import fill_split, read_manifest, weld_config
from benchmark.data.recipes import RECIPE_KEY, RecipeDistance, recipe_matched
from benchmark.data.sample import CATEGORY_CODES, SPLITS
from benchmark.metrics import evaluate

NORMAL = "Good"


def recipe_report(manifest: Path, seed: int = 0) -> dict:
    """Counts, recipe-only metrics on TEST, and the matched rows of a manifest (SPLIT derived
    from `seed` when the manifest has none)."""
    frame = read_manifest(manifest)
    frame, split_source = fill_split(frame, seed, Path(manifest))
    configs = [weld_config(row) for _, row in frame.iterrows()]
    train = [c for c, (_, row) in zip(configs, frame.iterrows())
             if row["SPLIT"] == "TRAIN" and row["CATEGORY"] == NORMAL]
    frame = frame.assign(matched=recipe_matched(train, configs))
    counts = (frame.groupby(["CATEGORY", "SPLIT"]).agg(total=("matched", "size"), matched=("matched", "sum"))
              .unstack("SPLIT", fill_value=0))
    test = frame["SPLIT"] == "TEST"
    labels = (frame.loc[test, "CATEGORY"] != NORMAL).astype(int).to_numpy()
    scores = RecipeDistance().fit(train)([c for c, t in zip(configs, test) if t])
    subset = frame.loc[test, "matched"].to_numpy() | (labels == 0)
    metrics = evaluate(labels, scores, frame.loc[test, "CATEGORY"].tolist(),
                       subsets={"recipe_matched": subset})
    matched_rows = frame[frame["matched"] & (frame["CATEGORY"] != NORMAL)]
    return {"counts": counts, "metrics": metrics, "split_source": split_source,
            "matched_rows": matched_rows.drop(columns="matched")}


def render(report: dict) -> str:
    """The report as a terminal table."""
    from tabulate import tabulate

    counts, metrics = report["counts"], report["metrics"]
    per_cat, matched = metrics["per_category"], metrics["subsets"]["recipe_matched"]
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else "–"
    rows = []
    for cat in sorted(counts.index, key=lambda c: CATEGORY_CODES.get(c, 99)):
        cells = [f"{int(counts.loc[cat, ('matched', s)])}/{int(counts.loc[cat, ('total', s)])}"
                 if ("total", s) in counts.columns else "0/0" for s in SPLITS]
        rows.append([f"{CATEGORY_CODES.get(cat, 99):02d} {cat}", *cells,
                     fmt(per_cat.get(cat, {}).get("I-AUROC")) if cat != NORMAL else "",
                     fmt(matched["per_category"].get(cat, {}).get("I-AUROC")) if cat != NORMAL else ""])
    test = counts["total"]["TEST"] if ("total", "TEST") in counts.columns else pd.Series(dtype=int)
    defects = int(test.drop(NORMAL, errors="ignore").sum())
    m = matched["counts"]
    rows.append(["all defects (TEST)", "", "", f"{m['anomalous']}/{defects}",
                 fmt(metrics["overall"]["I-AUROC"]), fmt(matched["overall"]["I-AUROC"])])
    table = tabulate(rows, headers=["category", "TRAIN matched/all", "VAL matched/all",
                                    "TEST matched/all", "recipe-only I-AUROC", "... on matched"],
                     tablefmt="simple", disable_numparse=True)
    share = 100 * m["anomalous"] / max(defects, 1)
    return (f"{table}\n\nmatched = welded with a recipe ({', '.join(RECIPE_KEY)}) that a TRAIN "
            f"normal also used; {m['anomalous']} of {defects} TEST defects ({share:.1f} %). "
            f"Recipe-only score: standardised distance to the nearest TRAIN-normal recipe "
            f"(split: {report['split_source']}). On the matched subset it is at chance by "
            f"construction (or undefined when too few defects are matched).")


def write_matched(report: dict, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    report["matched_rows"].to_csv(path, index=False)
    return path


def overall(report: dict) -> tuple[float, float]:
    """(recipe-only TEST I-AUROC, on the matched subset), NaN where undefined."""
    value = lambda v: v if isinstance(v, float) else np.nan
    metrics = report["metrics"]
    return (value(metrics["overall"]["I-AUROC"]),
            value(metrics["subsets"]["recipe_matched"]["overall"]["I-AUROC"]))
