"""Plots from a results folder (PNG, matplotlib Agg): ROC curves per method, one figure per
modality group, and each method's TEST score distribution per defect category.

    bench plot [RUN_DIR] --out plots/ [--seed 0]

Plots read only `results/<run>/<method>/seed<k>/scores.csv`, like the tables.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # NOTE: heavy imports stay inside functions so that `bench --help` is fast
    import numpy as np

    from benchmark import results as R


def _scores(unit: "R.UnitResult") -> "tuple[np.ndarray, np.ndarray, np.ndarray]":
    import numpy as np

    rows = [r for r in unit.scores() if r.get("split", "TEST") == "TEST"]
    labels = np.array([int(r["label"]) for r in rows])
    scores = np.array([float(r["score"]) for r in rows])
    cats = np.array([r["category"] for r in rows], dtype=object)
    return labels, scores, cats


def _pick_seed(units: "list[R.UnitResult]", seed: int | None) -> "dict[str, R.UnitResult]":
    """One unit per method: the requested seed, else the method's lowest seed."""
    key = lambda u: (u.seed != seed, u.seed)
    out = {}
    for u in units:
        if u.method not in out or key(u) < key(out[u.method]):
            out[u.method] = u
    return out


def write_plots(run_dir: Path | None, out: Path, seed: int | None = 0) -> list[Path]:
    """ROC curves (roc_<group>.png) and score distributions (scores_<method>.png)."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    from benchmark.tables import RunData, resolve_run_dir

    data = RunData.load(resolve_run_dir(run_dir))
    units = _pick_seed(data.all_units(), seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tag = data.provenance()
    written = []

    by_group: dict[str, list[str]] = {}
    for name, m in data.methods.items():  # already in table order
        by_group.setdefault(m.group, []).append(name)
    for group, names in by_group.items():
        title = data.methods[names[0]].group_title
        fig, ax = plt.subplots(figsize=(5.5, 5))
        for name in names:
            y, s, _ = _scores(units[name])
            if len(np.unique(y)) < 2:
                continue
            fpr, tpr, _ = roc_curve(y, s)
            auc = units[name].metrics.get("overall", {}).get("I-AUROC")  # from the metric core
            ax.plot(fpr, tpr, lw=1.8 if data.methods[name].role == "proposed" else 1.2,
                    label=f"{name} (seed {units[name].seed}, I-AUROC {auc:.3f})" if isinstance(auc, float) else f"{name}")
        ax.plot([0, 1], [0, 1], ls=":", c="grey", lw=1)
        ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01),
               title=f"ROC, {title}")
        ax.legend(fontsize=7, loc="lower right")
        fig.text(0.01, 0.005, tag, fontsize=5.5, wrap=True)
        fig.tight_layout(rect=(0, 0.04, 1, 1))
        path = out / f"roc_{group}.png"
        fig.savefig(path, dpi=130)
        plt.close(fig)
        written.append(path)

    for name, unit in units.items():
        y, s, cats = _scores(unit)
        names = ["Good"] + [c for c in data.categories() if c in set(cats)]
        names += sorted(set(cats) - set(names))
        groups = [s[cats == c] for c in names]
        fig, ax = plt.subplots(figsize=(max(5.0, 0.55 * len(names) + 2), 4))
        ax.boxplot(groups, showfliers=False, widths=0.6)
        rng = np.random.default_rng(0)  # jitter only, for visibility
        for i, g in enumerate(groups, start=1):
            ax.scatter(i + rng.uniform(-0.18, 0.18, len(g)), g, s=6, alpha=0.6,
                       c="tab:green" if names[i - 1] == "Good" else "tab:red")
        ax.set_xticks(range(1, len(names) + 1), [c.replace("_", " ") for c in names], rotation=45,
                      ha="right", fontsize=7)
        ax.set(ylabel="anomaly score", title=f"{name} (seed {unit.seed}): TEST scores per category")
        fig.text(0.01, 0.005, tag, fontsize=5.5, wrap=True)
        fig.tight_layout(rect=(0, 0.04, 1, 1))
        path = out / f"scores_{name}.png"
        fig.savefig(path, dpi=130)
        plt.close(fig)
        written.append(path)
    return written
