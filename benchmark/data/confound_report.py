"""`bench data confounds`: how far each confound alone goes on a manifest's split (no media).

The confounds are the weld recipe and the recording session (`benchmark.data.confounds`). For
each, and for both together, a label-free floor scores the TEST split from the manifest alone:

* recipe: the standardised distance of a weld's recipe to the nearest TRAIN-normal recipe (the
  `recipe_manifest` row);
* session: 1 when the weld's recording day is no TRAIN normal's day (the `session_manifest` row);
* recipe + session: 1 when the recipe or the day is unseen among TRAIN normals
  (`recipe_session_manifest`);
* weld type: how rare the weld's type is among TRAIN normals (`weld_type_manifest`). Some
  categories exist on one weld type only: against every normal this floor ranks a whole category
  above the other type's normals, like with like it cannot.

Every per-category value is like with like (a category's TEST defects against the TEST normals of
their own weld type); the weld-type floor is also printed against every normal, the comparison
published work makes.

Printed: each floor's TEST I-AUROC with its 95 % interval (cluster bootstrap over recording
sessions, the days: welds of one day share its set-up), per category and on the matched subsets; the sizes of the
matched subsets (recipe, session, both) per category and split; and the structure that makes the
session a shortcut (categories per folder, days that made only Good or only defective welds).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.data.confounds import SUBSETS, matched_subsets, session_of, unseen, weld_type_rarity
from benchmark.data.loader import fill_split, read_manifest, weld_config
from benchmark.data.recipes import RECIPE_KEY, RecipeDistance
from benchmark.data.sample import CATEGORY_CODES, SPLITS
from benchmark.metrics import MIN_CLUSTERS, MIN_SUBSET_ANOMALOUS, Undefined, evaluate

NORMAL = "Good"
WELD_TYPE = "weld type"
FLOORS = ("recipe", "session", "recipe + session", WELD_TYPE)
N_BOOT = 2000


def _frame(manifest: Path, seed: int) -> tuple[pd.DataFrame, str]:
    frame = read_manifest(manifest)
    frame, split_source = fill_split(frame, seed, Path(manifest))
    run_ids = frame["SUBDIRS"].str.rsplit("/", n=1).str[-1]
    frame = frame.assign(
        config=[weld_config(row) for _, row in frame.iterrows()],
        session=[session_of(r, d) for r, d in zip(run_ids, frame["DIRECTORY"])],
        label=(frame["CATEGORY"] != NORMAL).astype(int))
    return frame, split_source


def confound_report(manifest: Path, seed: int = 0) -> dict:
    """Floors, matched-subset sizes and session structure of a manifest (SPLIT derived from
    `seed` when the manifest has none)."""
    frame, split_source = _frame(manifest, seed)
    train = frame[(frame["SPLIT"] == "TRAIN") & (frame["label"] == 0)]
    train_pairs = list(zip(train["config"], train["session"]))
    pairs = list(zip(frame["config"], frame["session"]))
    frame = frame.assign(**matched_subsets(train_pairs, pairs, frame["label"]))
    test = frame[frame["SPLIT"] == "TEST"]
    test_pairs = list(zip(test["config"], test["session"]))
    scores = {
        "recipe": RecipeDistance().fit(list(train["config"]))(list(test["config"])),
        "session": unseen("session", train_pairs, test_pairs).astype(float),
        "recipe + session": (unseen("session", train_pairs, test_pairs)
                             | unseen("recipe", train_pairs, test_pairs)).astype(float),
        WELD_TYPE: weld_type_rarity(train["WELD_TYPE"].tolist(), test["WELD_TYPE"].tolist()),
    }
    floors = {name: evaluate(test["label"].to_numpy(), s, test["CATEGORY"].tolist(),
                             subsets={k: test[k].to_numpy() for k in SUBSETS},
                             clusters=test["session"].tolist(), n_boot=N_BOOT,
                             strata=test["WELD_TYPE"].tolist())
              for name, s in scores.items()}
    return {"frame": frame, "floors": floors, "split_source": split_source,
            "structure": structure(frame)}


def structure(frame: pd.DataFrame) -> dict:
    """How folders and recording days split the categories."""
    per_folder = frame.groupby("DIRECTORY")["CATEGORY"].nunique()
    day_kind = frame.groupby("session")["label"].agg(lambda y: "Good only" if y.max() == 0 else
                                                      "defects only" if y.min() == 1 else "mixed")
    welds = frame["session"].map(day_kind)
    return {"welds": len(frame), "folders": len(per_folder),
            "single_category_folders": int((per_folder == 1).sum()),
            "days": len(day_kind), "days_by_kind": day_kind.value_counts().to_dict(),
            "welds_by_day_kind": welds.value_counts().to_dict(),
            "pure_day_share": float((welds != "mixed").mean()),
            "days_per_category": frame.groupby("CATEGORY")["session"].nunique().to_dict()}


# ---------------------------------------------------------------------------------- rendering
def _fmt(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else "–"


def _ci(block: dict) -> str:
    ci = block.get("I-AUROC-CI95")
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]" if isinstance(ci, list) else "–"


def _order(categories) -> list[str]:
    return sorted(categories, key=lambda c: (CATEGORY_CODES.get(c, 99), c))


def render(report: dict) -> str:
    """The report as terminal tables."""
    from tabulate import tabulate

    frame, floors = report["frame"], report["floors"]
    # 1. the floors
    rows = []
    for name, m in floors.items():
        cells = [name, _fmt(m["overall"]["I-AUROC"]), _ci(m["overall"])]
        for subset in SUBSETS:
            block = m["subsets"][subset]["overall"]
            cells.append(f"{_fmt(block['I-AUROC'])} {_ci(block)}")
        rows.append(cells)
    floors_table = tabulate(rows, headers=["floor (label-free)", "TEST I-AUROC", "95 % CI",
                                           *(f"on {s}" for s in SUBSETS)],
                            tablefmt="simple", disable_numparse=True)
    # 2. per category: matched counts per split, each floor's I-AUROC
    cats = _order(frame["CATEGORY"].unique())
    rows = []
    for cat in cats:
        part = frame[frame["CATEGORY"] == cat]
        cells = [f"{CATEGORY_CODES.get(cat, 99):02d} {cat}"]
        for split in SPLITS:
            s = part[part["SPLIT"] == split]
            cells.append(" / ".join(str(int(s[k].sum())) for k in SUBSETS) + f" of {len(s)}"
                         if cat != NORMAL else f"{len(s)}")
        cells += [_fmt(floors[f]["per_category"].get(cat, {}).get("I-AUROC")) if cat != NORMAL else ""
                  for f in FLOORS]
        cells.append(_fmt(floors[WELD_TYPE]["per_category_all_normals"].get(cat, {}).get("I-AUROC"))
                     if cat != NORMAL else "")
        rows.append(cells)
    test = frame[frame["SPLIT"] == "TEST"]
    defects = test[test["label"] == 1]
    rows.append(["all defects (TEST)", "", "",
                 " / ".join(str(int(defects[k].sum())) for k in SUBSETS) + f" of {len(defects)}",
                 *(_fmt(floors[f]["overall"]["I-AUROC"]) for f in FLOORS),
                 _fmt(floors[WELD_TYPE]["overall"]["I-AUROC"])])
    cat_table = tabulate(rows, headers=["category", *(f"{s} r/s/b" for s in SPLITS),
                                        *(f"{f} floor" for f in FLOORS),
                                        f"{WELD_TYPE} floor vs all normals"],
                         tablefmt="simple", disable_numparse=True)
    # 3. the confound-free subset and the session structure
    free = test[test["both_matched"]]
    free_defects = free[free["label"] == 1]
    by_cat = ", ".join(f"{c} {n}" for c, n in free_defects["CATEGORY"].value_counts().items())
    st = report["structure"]
    kinds = st["days_by_kind"]
    welds = st["welds_by_day_kind"]
    lines = [
        f"matched on a confound = shares it with some TRAIN normal; r/s/b = recipe-matched / "
        f"session-matched / both-matched welds of the category (every normal is in every subset). "
        f"Recipe = ({', '.join(RECIPE_KEY)}); session = recording day (run id MM-DD-YY). "
        f"Intervals: cluster bootstrap over recording sessions (days; {N_BOOT} replicates; none "
        f"below {MIN_CLUSTERS} sessions per class). "
        f"Split: {report['split_source']}.",
        f"Per category, like with like: a category's TEST defects against the TEST normals of their "
        f"own weld type ({_normals_by_type(test)}); 'vs all normals' against every TEST normal, as "
        f"published work compares. Weld types per category: {_types_by_category(test)}.",
        "",
        f"Confound-free (both-matched) TEST subset: {len(free_defects)} defects "
        f"({by_cat or 'none'}; days {', '.join(sorted(free_defects['session'].unique())) or '–'}) "
        f"and {len(free) - len(free_defects)} Good welds"
        + (f"; below {MIN_SUBSET_ANOMALOUS} defects its I-AUROC is undefined."
           if len(free_defects) < MIN_SUBSET_ANOMALOUS else "."),
        f"Folders: {st['folders']}, of which {st['single_category_folders']} hold a single category. "
        f"Recording days: {st['days']} ({kinds.get('Good only', 0)} Good only, "
        f"{kinds.get('defects only', 0)} defects only, {kinds.get('mixed', 0)} mixed); "
        f"{100 * st['pure_day_share']:.1f} % of the {st['welds']} welds were recorded on a day "
        f"that made only Good or only defective welds ({welds.get('mixed', 0)} welds on mixed days).",
        "Days per category: " + ", ".join(f"{c} {st['days_per_category'][c]}"
                                          for c in _order(st["days_per_category"])) + ".",
    ]
    return "\n\n".join([floors_table, cat_table, "\n".join(lines)])


def _normals_by_type(test: pd.DataFrame) -> str:
    counts = test[test["label"] == 0]["WELD_TYPE"].value_counts()
    return ", ".join(f"{n} {t}" for t, n in sorted(counts.items()))


def _types_by_category(test: pd.DataFrame) -> str:
    types = test[test["label"] == 1].groupby("CATEGORY")["WELD_TYPE"].unique()
    return "; ".join(f"{c} {'+'.join(sorted(types[c]))}" for c in _order(types.index))


def overall(report: dict, floor: str, subset: str | None = None) -> float:
    """A floor's TEST I-AUROC (on a subset), NaN where undefined."""
    block = report["floors"][floor]
    block = block["subsets"][subset]["overall"] if subset else block["overall"]
    v = block["I-AUROC"]
    return np.nan if isinstance(v, Undefined) else float(v)


def write_matched(report: dict, path: Path) -> Path:
    """The TEST defects matched on some confound, with their flags, as CSV."""
    frame = report["frame"]
    rows = frame[(frame["label"] == 1) & (frame["recipe_matched"] | frame["session_matched"])]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows.drop(columns=["config", "label"]).to_csv(path, index=False)
    return path
