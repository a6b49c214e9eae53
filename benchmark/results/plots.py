"""Plots from a results folder (each as PDF, vector, and PNG; matplotlib Agg): ROC and
precision-recall curves per method, side by side, one figure per modality group and one for the
ablations; each method's TEST score distribution per defect category; and, for runs saved with
`--save-maps`, anomaly maps overlaid on the label-guarded views of the highest- and lowest-scored
TEST sample of each category. Legends and titles name a method by its row label, as the tables do.

    bench plot [RUN_DIR] [--out <run>/plots] [--seed 0] [--maps]

Plots read only the results (`scores.csv`, `maps.npz`, the run's `test_views/`), like the tables.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # NOTE: heavy imports stay inside functions so that `bench --help` is fast
    import numpy as np

    from benchmark.results import store as R
    from benchmark.results.tables import RunData

MAP_SCALE_VALUES = 4096  # values per saved map that set the overlays' colour scale
FORMATS = ("pdf", "png")  # every figure: vector for a paper, raster for a page
LINE_STYLES = ("-", "--", "-.", ":")
ABLATIONS = "ablations"  # the figure of the ablation rows, apart from their modality groups


def line_style(i: int) -> dict:
    """Colour and line style of the i-th curve of a figure: ten colours, then the next style, so
    that no two curves of a figure look alike (40 before a repeat)."""
    import matplotlib

    colours = matplotlib.colormaps["tab10"].colors
    return {"color": colours[i % len(colours)],
            "ls": LINE_STYLES[(i // len(colours)) % len(LINE_STYLES)]}


def _save(fig, stem: Path, dpi: int) -> list[Path]:
    import matplotlib.pyplot as plt

    paths = [stem.parent / f"{stem.name}.{fmt}" for fmt in FORMATS]
    for path in paths:
        fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return paths


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


def write_plots(run_dir: Path | None, out: Path, seed: int | None = 0,
                maps: bool | None = None) -> list[Path]:
    """ROC and PR curves (roc_pr_<group>, roc_pr_ablations), score distributions
    (scores_<method>) and, when `maps` (None: when the run saved any), map overlays
    (maps_<method>); each as .pdf and .png. `maps=True` on a run without saved maps fails at
    once, before any figure is drawn."""
    from benchmark.results.tables import RunData, resolve_run_dir

    data = RunData.load(resolve_run_dir(run_dir))
    units = _pick_seed(data.all_units(), seed)
    with_maps = {name: u for name, u in units.items() if u.has_maps}
    if maps and not with_maps:
        raise FileNotFoundError(f"{data.run_dir}: no unit with saved anomaly maps (run `bench run "
                                f"--save-maps` with a method that gives maps)")
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_curve
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tag = data.provenance()
    written = []

    by_group: dict[str, list[str]] = {}
    for name, m in data.methods.items():  # already in table order
        by_group.setdefault(ABLATIONS if m.role == "ablation" else m.group, []).append(name)
    for group, names in by_group.items():
        title = "Ablations" if group == ABLATIONS else data.methods[names[0]].group_title
        fig, (ax, ax_pr) = plt.subplots(1, 2, figsize=(11, 5))
        prevalence = None
        for i, name in enumerate(names):
            y, s, _ = _scores(units[name])
            if len(np.unique(y)) < 2:
                continue
            overall = units[name].metrics.get("overall", {})  # values from the metric core
            lw = 1.8 if data.methods[name].role == "proposed" else 1.2
            label = data.methods[name].label
            fpr, tpr, _ = roc_curve(y, s)
            ax.plot(fpr, tpr, lw=lw, **line_style(i),
                    label=_legend(label, units[name].seed, "I-AUROC", overall.get("I-AUROC")))
            precision, recall, _ = precision_recall_curve(y, s)
            # NOTE: a step curve: average precision (I-AP) is the area under exactly this step
            ax_pr.step(recall, precision, where="post", lw=lw, **line_style(i),
                       label=_legend(label, units[name].seed, "I-AP", overall.get("I-AP")))
            prevalence = float(y.mean())
        ax.plot([0, 1], [0, 1], ls=":", c="grey", lw=1)
        ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01),
               title=f"ROC, {title}")
        ax.legend(fontsize=7, loc="lower right")
        if prevalence is not None:
            ax_pr.axhline(prevalence, ls=":", c="grey", lw=1, label=f"chance (prevalence {prevalence:.2f})")
        ax_pr.set(xlabel="recall (anomalous samples found)", ylabel="precision", xlim=(0, 1),
                  ylim=(0, 1.01), title=f"Precision-recall, {title}")
        ax_pr.legend(fontsize=7, loc="lower left")
        fig.text(0.01, 0.005, tag, fontsize=5.5, wrap=True)
        fig.tight_layout(rect=(0, 0.04, 1, 1))
        written += _save(fig, out / f"roc_pr_{group}", dpi=130)

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
        ax.set(ylabel="anomaly score",
               title=f"{data.methods[name].label} (seed {unit.seed}): TEST scores per category")
        fig.text(0.01, 0.005, tag, fontsize=5.5, wrap=True)
        fig.tight_layout(rect=(0, 0.04, 1, 1))
        written += _save(fig, out / f"scores_{name}", dpi=130)

    if maps or (maps is None and with_maps):
        for name, unit in with_maps.items():
            written += map_overlays(data, unit, out / f"maps_{name}")
    return written


def _legend(label: str, seed: int, metric: str, value) -> str:
    return f"{label} (seed {seed}, {metric} {value:.3f})" if isinstance(value, float) else label


def extreme_samples(unit: "R.UnitResult", categories: list[str]) -> list[tuple[str, list[dict]]]:
    """Per category (normal first), the highest- then the lowest-scored TEST sample (one if the
    category has one sample). Ties go to the first id, so the choice is reproducible."""
    rows = [r for r in unit.scores() if r.get("split", "TEST") == "TEST"]
    out = []
    for c in categories:
        members = sorted((r for r in rows if r["category"] == c), key=lambda r: (-float(r["score"]), r["id"]))
        if members:
            out.append((c, members[:1] + members[-1:] if len(members) > 1 else members))
    return out


def map_overlays(data: "RunData", unit: "R.UnitResult", stem: Path) -> list[Path]:
    """One row per category: the views of its highest- and of its lowest-scored TEST sample, each
    with the method's anomaly map over it. One colour scale for the whole figure (the 1st to 99th
    percentile of every saved map of the unit), so rows can be compared."""
    import cv2
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    from benchmark.results import store as R

    # NOTE: every map contributes, evenly strided, so a paper-size run is never loaded whole
    values = [m.ravel()[:: max(1, m.size // MAP_SCALE_VALUES)].astype(np.float32) for _, m in unit.iter_maps()]
    lo, hi = np.percentile(np.concatenate(values), [1, 99])
    norm, cmap = Normalize(lo, hi), "jet"
    cats = ["Good"] + [c for c in data.categories() if c != "Good"]
    chosen = extreme_samples(unit, cats)
    maps = unit.maps(dict.fromkeys(r["id"] for _, rows in chosen for r in rows))
    n_views = max(len(m) for m in maps.values())
    side = 1.3  # inches per panel
    fig = plt.figure(figsize=(side * (2 * n_views + 0.3) + 0.9, side * len(chosen) + 1.55))
    inch = 1 / fig.get_figheight()  # figure fraction of one inch of height
    # NOTE: a narrow empty column keeps the highest- and the lowest-scored halves apart
    grid = fig.add_gridspec(len(chosen), 2 * n_views + 1, width_ratios=[1] * n_views + [0.3] + [1] * n_views,
                            left=0.07, right=0.99, top=1 - 0.75 * inch, bottom=0.8 * inch,
                            wspace=0.04, hspace=0.06)
    for i, (category, rows) in enumerate(chosen):
        for half, r in enumerate(rows):
            views = R.read_views(data.run_dir, r["id"])
            for k, amap in enumerate(maps[r["id"]]):
                ax = fig.add_subplot(grid[i, half * (n_views + 1) + k])
                view = views[k]
                heat = cv2.resize(amap.astype(np.float32), (view.shape[1], view.shape[0]),
                                  interpolation=cv2.INTER_LINEAR)
                ax.imshow(view)
                ax.imshow(heat, cmap=cmap, norm=norm, alpha=0.45)
                ax.set_xticks([])
                ax.set_yticks([])
                if k == 0:
                    ax.text(0.03, 0.97, f"{r['id']}\nscore {float(r['score']):.3g}", transform=ax.transAxes,
                            va="top", fontsize=5, color="white",
                            bbox={"facecolor": "black", "alpha": 0.55, "pad": 1.5, "lw": 0})
                    if half == 0:
                        ax.set_ylabel(category.replace("_", "\n"), fontsize=6.5)
                if i == 0:
                    ax.set_title(f"{'highest' if half == 0 else 'lowest'}-scored, view {k + 1}", fontsize=6.5)
    label = data.methods[unit.method].label
    fig.suptitle(f"{label}, seed {unit.seed}: anomaly maps on the label-guarded TEST "
                 f"views, the highest- (left) and the lowest-scored (right) sample of each category",
                 fontsize=8.5, y=1 - 0.2 * inch)
    bar_ax = fig.add_axes((0.3, 0.45 * inch, 0.4, 0.1 * inch))
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=bar_ax, orientation="horizontal")
    bar.set_label("anomaly map (1st to 99th percentile of the unit's maps)", fontsize=6)
    bar.ax.tick_params(labelsize=5.5)
    fig.text(0.005, 0.05 * inch, data.provenance(), fontsize=5.5)
    return _save(fig, stem, dpi=110)
