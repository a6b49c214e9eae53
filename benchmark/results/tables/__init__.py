"""Tables from a results folder: LaTeX (fragments to `\\input`, booktabs), terminal and Markdown.

    bench table [RUN_DIR] [--out tables/main.tex] [--appendix] [--ci] [--per-config] [--standalone]

writes, next to `--out` (default: `<run>/tables/main.tex`): the main table (its own name),
`per_category_detection.tex`, `per_category_segmentation.tex` (methods with anomaly maps only;
both like with like: a category's defects against the normals of their own weld type),
`per_category_detection_all_normals.tex` (against every normal, as published work compares),
`ablation.tex` (Causal-FiLM variants), `reliance.tex` (each multimodal method's I-AUROC with one
input swapped for another weld's of the same weld type), `efficiency.tex`, `tables.md` (all of them in Markdown),
with `--ci` `significance.tex` (the main table with 95 % intervals and marks,
`benchmark.results.compare`), with `--per-config` `per_config.tex` and `per_config.csv` (I-AUROC per
weld configuration) and, with `--appendix`, `appendix.tex` (the adaptation chapter). Each .tex
is a fragment (`render.PACKAGES` in the preamble); `--standalone` makes them documents. Tables
are pure functions of the saved results.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

from benchmark.results.tables.build import (MAIN_COLUMNS, RunData, ablation_table, adaptations,
                                            efficiency_table, main_table, per_category_table,
                                            per_config_rows, per_config_table, reliance_table)
from benchmark.results.tables.model import Table
from benchmark.results.tables.render import (PACKAGES, appendix_latex, tex_escape, to_html,
                                             to_latex, to_text)

__all__ = ["MAIN_COLUMNS", "PACKAGES", "RunData", "Table", "build_tables", "default_out",
           "latest_run", "print_main_table", "resolve_run_dir", "tex_escape", "to_html",
           "to_latex", "to_text", "write_tables"]

log = logging.getLogger("bench")
RESULTS = Path("results")


def latest_run(results: Path = RESULTS) -> Path:
    """The most recently modified run folder under `results/` (one with at least one unit)."""
    results = Path(results)
    runs = [p for p in results.glob("*") if p.is_dir() and not p.name.startswith(".")
            and any(p.glob("*/seed*/metrics.json"))] if results.is_dir() else []
    if not runs:
        raise FileNotFoundError(f"{results}/: no run folder with results (run `bench run` first "
                                f"or name the run folder)")
    return max(runs, key=lambda p: max(q.stat().st_mtime for q in [p, *p.glob("*/seed*")]))


def resolve_run_dir(run_dir: Path | None) -> Path:
    return latest_run() if run_dir is None else Path(run_dir)


def build_tables(run_dir: Path | None) -> tuple[RunData, list[Table]]:
    """Every results table of a run, main table first (absent ones are left out)."""
    data = RunData.load(resolve_run_dir(run_dir))
    tables = [main_table(data),
              per_category_table(data, "I-AUROC", maps_only=False),
              per_category_table(data, "P-AUPRO@30%", maps_only=True),
              per_category_table(data, "I-AUROC", maps_only=False, all_normals=True),
              ablation_table(data), reliance_table(data), efficiency_table(data)]
    return data, [t for t in tables if t is not None]


def default_out(run_dir: Path, name: str) -> Path:
    """Where a reader of a run writes when no --out is given: a named folder inside the run."""
    return Path(run_dir) / name


def write_tables(run_dir: Path | None, out: Path | None = None, appendix: bool = False,
                 ci: bool = False, standalone: bool = False, per_config: bool = False) -> list[Path]:
    """Write the LaTeX tables (and Markdown) of a run; `out` names the main table's file and the
    folder of the others (default `<run>/tables/main.tex`). Returns the written paths."""
    data, tables = build_tables(run_dir)
    if ci:
        from benchmark.results.compare import significance_table

        tables.insert(1, significance_table(data))
    if per_config:
        tables.append(per_config_table(data))
    out = Path(out) if out is not None else default_out(data.run_dir, "tables") / "main.tex"
    folder = out.parent
    folder.mkdir(parents=True, exist_ok=True)
    source = str(data.run_dir)
    written = []
    for t in tables:
        path = out if t.name == "main" else folder / f"{t.name}.tex"
        path.write_text(to_latex(t, source, standalone=standalone))
        written.append(path)
    if per_config:
        written.append(_write_csv(folder / "per_config.csv", per_config_rows(data)))
    if not data.is_weld4m_result():
        log.warning("tables of %s: %s", data.run_dir, data.provenance())
    md = folder / (f"{out.stem}.md" if out.stem != "main" else "tables.md")
    md.write_text(f"# Results of {data.run_dir}\n\n" +
                  "\n".join(to_text(t, "markdown") for t in tables))
    written.append(md)
    if appendix:
        path = folder / "appendix.tex"
        path.write_text(appendix_latex(adaptations(data), data.provenance(), source, standalone))
        written.append(path)
    return written


def _write_csv(path: Path, rows: list[dict]) -> Path:
    import csv

    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["method"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def print_main_table(run_dir: Path | None = None, file=None) -> None:
    """Print the main table to the terminal (bold/underline on a colour terminal)."""
    file = file or sys.stdout
    _, tables = build_tables(run_dir)
    style = "ansi" if getattr(file, "isatty", lambda: False)() else "plain"
    print(to_text(tables[0], style), file=file)
