"""A run as one static HTML page (no server, no script, nothing fetched from the network):

    bench report [RUN_DIR] --html DIR   ->  DIR/index.html, DIR/figures/*.png, DIR/*.csv

the main table with its protocol caption (and its variant with 95 % intervals and significance
marks), a per-category heatmap (methods x categories), the ROC and PR curves, the anomaly-map
overlays when the run saved maps, the efficiency table and the run's provenance (configuration,
dataset fingerprint, versions). Like the tables, a pure function of the saved results.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from benchmark.results.tables.build import RunData

TEMPLATE = Path(__file__).parent / "templates" / "report.html.j2"
FIGURES = "figures"
HEAT_RANGE = (0.0, 1.0)  # I-AUROC; 0.5 (chance) sits in the middle of the diverging scale


@dataclass
class Figure:
    src: str  # relative to the page
    caption: str


def heat_style(value: float, cmap: str = "RdYlGn", lo: float = HEAT_RANGE[0], hi: float = HEAT_RANGE[1]) -> str:
    """CSS background and a readable text colour for a value on a diverging scale.

    >>> heat_style(1.0)
    'background:#006837;color:#fff'
    """
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    r, g, b, _ = colormaps[cmap](min(max((value - lo) / (hi - lo), 0.0), 1.0))
    light = 0.299 * r + 0.587 * g + 0.114 * b > 0.55  # NOTE: luma: dark text on light cells
    return f"background:{to_hex((r, g, b))};color:{'#111' if light else '#fff'}"


def _legend_gradient(cmap: str = "RdYlGn", steps: int = 11) -> str:
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    return ", ".join(to_hex(colormaps[cmap](i / (steps - 1))[:3]) for i in range(steps))


def _versions(data: RunData) -> tuple[dict, dict[str, list[str]]]:
    """The first unit's versions.json, and every key on which another unit differs."""
    units = data.all_units()
    first = units[0].versions()
    differ: dict[str, list[str]] = {}
    for u in units[1:]:
        v = u.versions()
        for key in sorted(set(v) | set(first)):
            if v.get(key) != first.get(key):
                differ.setdefault(key, []).append(f"{u.method}/seed{u.seed}: {v.get(key)}")
    return first, differ


def _provenance(data: RunData) -> dict:
    info = data.info
    config_file = data.run_dir / "run.toml"
    dataset = info.get("dataset", {})
    unit = data.all_units()[0].config
    return {
        "run_dir": str(data.run_dir),
        "dataset_root": dataset.get("root", "not recorded"),
        "fingerprint": dataset.get("fingerprint") or unit.get("dataset_fingerprint", "not recorded"),
        "counts": dataset.get("counts", {}),
        "n_excluded": dataset.get("n_excluded", 0),
        "selection": (info.get("selection") or unit.get("selection") or {}).get("description",
                                                                                  "not recorded"),
        "profile": _readable(info.get("profile") or unit.get("profile", {})),
        "feature_options": _readable(info.get("feature_options") or unit.get("feature_options", {})),
        "config_name": "run.toml" if config_file.exists() else "run.json: config",
        "config": (config_file.read_text() if config_file.exists()
                   else json.dumps(info.get("config") or unit.get("run", {}), indent=2)),
    }


def _readable(settings: dict) -> str:
    """'name: value; ...' of a recorded settings object (a profile, the feature options), for
    the page rather than as raw JSON."""
    def value(v):
        if isinstance(v, (list, tuple)):
            v = ", ".join(map(str, v))
        return "–" if v in (None, "") else v

    return "; ".join(f"{k.replace('_', ' ')}: {value(v)}" for k, v in settings.items()) or "not recorded"


def write_report(run_dir: Path | None, out: Path, seed: int | None = 0, subset: str | None = None) -> Path:
    """Write DIR/index.html (and its figures and CSVs); returns the page's path. With `subset`
    (a matched TEST subset) the table with intervals and tests is computed on that subset."""
    import jinja2
    from markupsafe import Markup

    from benchmark.results import leaderboard as L
    from benchmark.results.compare import significance_table
    from benchmark.results.plots import write_plots
    from benchmark.results.tables import build_tables, resolve_run_dir, to_html
    from benchmark.results.tables.build import (efficiency_table, main_table, per_category_table,
                                                reliance_table)

    run_dir = resolve_run_dir(run_dir)
    data, _ = build_tables(run_dir)
    out = Path(out)
    figures_dir = out / FIGURES
    shutil.rmtree(figures_dir, ignore_errors=True)  # NOTE: no stale figure of another run
    figures_dir.mkdir(parents=True)
    paths = [p for p in write_plots(run_dir, figures_dir, seed=seed, maps=None) if p.suffix == ".png"]
    rel = lambda p: f"{FIGURES}/{p.name}"
    curves = [Figure(rel(p), f"ROC (left) and precision-recall (right) curves, "
                             f"{p.stem.removeprefix('roc_pr_')} methods") for p in paths if p.stem.startswith("roc_pr_")]
    overlays = [Figure(rel(p), f"Anomaly maps of {data.methods[p.stem.removeprefix('maps_')].label} on the label-guarded "
                               f"TEST views") for p in paths if p.stem.startswith("maps_")]
    scores = [Figure(rel(p), f"TEST scores per category, "
                             f"{data.methods[p.stem.removeprefix('scores_')].label}")
              for p in paths if p.stem.startswith("scores_")]

    L.write_leaderboard(run_dir, out)  # the CSVs next to the page, for download
    versions, differ = _versions(data)
    heatmap = per_category_table(data, "I-AUROC", maps_only=False)
    reliance = reliance_table(data)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE.parent)),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    page = env.get_template(TEMPLATE.name).render(
        title=f"weld-bench: {data.run_dir.name}", run_name=data.run_dir.name,
        provenance_line=data.provenance(), weld4m=data.is_weld4m_result(),
        main=Markup(to_html(main_table(data))), significance=Markup(to_html(significance_table(data, subset=subset))),
        heatmap=None if heatmap is None else Markup(to_html(heatmap, heat=heat_style)),
        heat_gradient=_legend_gradient(),
        reliance=None if reliance is None else Markup(to_html(reliance, heat=heat_style)),
        efficiency=Markup(to_html(efficiency_table(data))),
        curves=curves, overlays=overlays, scores=scores, maps_saved=bool(overlays),
        prov=_provenance(data), versions=versions, versions_differ=differ,
        n_units=len(data.all_units()), csvs=[L.LEADERBOARD, L.SUMMARY])
    page_path = out / "index.html"
    page_path.write_text(page)
    return page_path
