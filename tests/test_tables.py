"""Tables: ordering, ranking, mean ± std, dashes with footnotes, LaTeX escaping, captions that
say the profile, terminal/Markdown output, and pdflatex compilation of every .tex file.

FIXTURE: the run built by `make_fixture_run` holds FABRICATED numbers, written with
`benchmark.results.store.write_unit` into a temporary folder. They exist only to test table formatting
and are not results of any method.
"""
from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from benchmark.metrics import Undefined
from benchmark.results import store as R
from benchmark.results.tables import build_tables, print_main_table, tex_escape, to_text, write_tables
from benchmark.results.tables.build import RunData, main_table, per_config_table

CATS = ("Excessive_Penetration", "Porosity", "Undercut")
NO_MAPS = "method gives no anomaly maps"

# method -> (group, modalities, maps, I-AUROC per seed). FABRICATED, see the module docstring.
FAKE = {
    "seq_ae": ("process-only", ["video", "audio", "sensor"], False, (0.70, 0.74)),
    "sensor_knn": ("process-only", ["sensor"], False, (0.80, 0.78)),
    "causal_film_process_only": ("process-only", ["video", "audio", "sensor"], False, (0.76, 0.76)),
    "patch_mem": ("result-only", ["image"], True, (0.88, 0.86)),
    "image_ae": ("result-only", ["image"], False, (0.60, 0.64)),
    "causal_film_result_only": ("result-only", ["image"], False, (0.84, 0.82)),
    "late_fusion": ("cross-modal", ["video", "audio", "sensor", "image"], False, (0.90, 0.92)),
    "causal_film": ("cross-modal", ["video", "audio", "sensor", "image"], False, (0.95, 0.93)),
    "causal_film_no_causal": ("cross-modal", ["video", "audio", "sensor", "image"], False, (0.89, 0.87)),
}


def _unit_metrics(name: str, seed: int, auroc: float, maps: bool) -> dict:
    overall = {"I-AUROC": auroc, "I-AP": auroc - 0.05, "I-F1max": auroc - 0.10,
               "I-F1max-threshold": 0.5, "I-AUROC-CI95": [auroc - 0.05, auroc + 0.03]}
    if name == "image_ae" and seed == 1:  # undefined in one seed only
        overall["I-F1max"] = Undefined("fabricated: one class only")
    per_category = {}
    for i, c in enumerate(CATS):
        block = {"I-AUROC": auroc - 0.02 * i, "I-AP": auroc - 0.03 * i}
        if name == "sensor_knn" and c == "Undercut":
            block["I-AUROC"] = Undefined("only normal samples (n=40)")
        if maps:
            block.update({"P-AUROC": 0.9, "P-AUPRO@30%": 0.70 - 0.05 * i + 0.01 * seed,
                          "P-AUPRO@1%": 0.20})
        per_category[c] = block
    too_few = Undefined("too few anomalous samples in the subset (3 < 10)")
    matched = {"overall": {"I-AUROC": auroc - 0.2},
               "per_category": {c: {"I-AUROC": auroc - 0.25 if c == "Porosity" else too_few} for c in CATS},
               "counts": {"n": 72, "normal": 60, "anomalous": 12}}
    per_config = {"steel": {"FE410": {"I-AUROC": auroc - 0.01}, "BSK46": {"I-AUROC": too_few}}}
    metrics = {"overall": overall, "per_category": per_category, "per_config": per_config,
               "counts": {"n": 100, "normal": 60, "anomalous": 40,
                          "per_config": {"steel": {"FE410": {"n": 80, "normal": 50, "anomalous": 30},
                                                   "BSK46": {"n": 20, "normal": 10, "anomalous": 10}}}},
               "subsets": {"recipe_matched": matched, "session_matched": matched,
                           "both_matched": matched}}
    if maps:
        overall.update({"P-AUROC": 0.91, "P-AUPRO@30%": 0.71 + 0.01 * seed, "P-AUPRO@1%": 0.21})
    else:
        metrics["pixel_note"] = NO_MAPS
    return metrics


def _declared_facts(name: str, group: str) -> dict:
    """What the registry declares (family, role, display name) and the runner writes."""
    film = name.startswith("causal_film")
    role = ("ablation" if name == "causal_film_no_causal" else "proposed") if film else "baseline"
    letter, title = {"process-only": ("A", "Process only"), "result-only": ("B", "Result only"),
                     "cross-modal": ("C", "Cross-modal")}[group]
    pooling = {"process-only": ("none", "reads no post-weld view"),
               "result-only": ("max", "maximum of the per-view scores")}.get(
        group, ("features", "views pooled into one feature before scoring"))
    if name == "late_fusion":  # NOTE: an older result without the fact
        pooling = (None, None)
    return {"family": "causal_film" if film else name, "role": role, "group_letter": letter,
            "view_pooling": pooling[0], "view_pooling_text": pooling[1],
            "group_title": f"({letter}) {title}",
            # NOTE: a LaTeX special in one display name, to test escaping
            "display_name": "Late Fusion (V+A & I)" if name == "late_fusion" else name.replace("_", " ").title(),
            "row_code": f"{letter}.N" if role == "proposed" else ""}


def make_fixture_run(root: Path, *, synthetic: bool = True, preset: str = "tiny",
                     names=tuple(FAKE)) -> Path:
    """A FIXTURE run folder with fabricated metrics (2 seeds per method) for table tests only."""
    run_dir = root / "fixture-run"
    profile = {"name": "quick" if preset == "tiny" else "paper", "preset": preset}
    for name in names:
        group, mods, maps, aurocs = FAKE[name]
        for seed, auroc in enumerate(aurocs):
            hp = {"original": {"lr": 0.001, "epochs": 100, "k": 9},
                  "used": {"lr": 0.001, "epochs": 20, "k": 9},
                  "changes": [{"name": "epochs", "original": 100, "used": 20,
                               "reason": "fabricated: 60 TRAIN samples & 5% budget", "profile": "all"}]}
            config = {"method": name, "seed": seed, "group": group, "modalities": mods,
                      **_declared_facts(name, group),
                      "categories": {"Good": 0, "Excessive_Penetration": 1, "Porosity": 3, "Undercut": 5},
                      "yields_maps": maps, "summary": f"fabricated fixture method {name}",
                      "paper": "Nobody et al., Fixture 2024, arXiv:0000.00000",
                      "hyperparameters": hp, "profile": profile, "synthetic": synthetic}
            eff = {"parameters_total": 1_234_567, "parameters_trainable": 12_345,
                   "memory_bank_bytes": 3 * 2**20 if name == "patch_mem" else 0,
                   "fit_seconds": 10.0 + seed, "inference_ms_per_sample": 1.5,
                   "peak_rss_bytes": 2**30, "peak_cuda_bytes": 0, "device": "cpu"}
            R.write_unit(run_dir, name, seed, metrics=_unit_metrics(name, seed, auroc, maps),
                         scores=[{"id": f"s{i}", "split": "TEST", "category": "Good" if i % 2 else CATS[i % 3],
                                  "label": 0 if i % 2 else 1, "config": "c", "score": (i % 7) / 7 + 0.3 * (i % 2 == 0)}
                                 for i in range(24)],
                         config=config, efficiency=eff, history={})
    return run_dir


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_fixture_run(tmp_path_factory.mktemp("tables"))


@pytest.fixture(scope="module")
def written(run_dir, tmp_path_factory) -> list[Path]:
    out = tmp_path_factory.mktemp("tex") / "main.tex"
    return write_tables(run_dir, out, appendix=True, ci=True, per_config=True)


def _row(table, method):
    return next(r for r in table.rows() if r.method == method)


# ---------------------------------------------------------------------------- the main table
def test_main_table_groups_and_film_last(run_dir):
    t = main_table(RunData.load(run_dir))
    titles = [g.title for g in t.groups]
    assert titles == ["(A) Process only", "(B) Result only", "(C) Cross-modal"]
    for g in t.groups:
        assert g.rows[-1].method.startswith("causal_film"), g.title
    methods = [r.method for r in t.rows()]
    assert "causal_film_no_causal" not in methods  # an ablation: ablation table only
    assert methods[-1] == "causal_film"


def test_best_bold_second_underlined(run_dir):
    data, tables = build_tables(run_dir)
    t = tables[0]
    # I-AUROC means: causal_film 0.94 (best), late_fusion 0.91 (second)
    ranks = {r.method: r.cells["I-AUROC"].rank for r in t.rows()}
    assert ranks["causal_film"] == 1 and ranks["late_fusion"] == 2
    assert sum(v == 1 for v in ranks.values()) == 1 and sum(v == 2 for v in ranks.values()) == 1
    tex = (run_dir.parent / "x.tex")
    tex.write_text(__import__("benchmark.results.tables", fromlist=["to_latex"]).to_latex(t))
    text = tex.read_text()
    assert r"\textbf{94.0{\scriptsize\,$\pm$\,1.4}}" in text
    assert r"\underline{91.0{\scriptsize\,$\pm$\,1.4}}" in text
    # P-AUPRO: only patch_mem has it -> one comparable row -> no bold
    assert _row(t, "patch_mem").cells["P-AUPRO@30%"].rank == 0


def test_mean_std_formatting(run_dir):
    t = main_table(RunData.load(run_dir))
    cell = _row(t, "sensor_knn").cells["I-AUROC"]
    assert cell.n == 2 and abs(cell.mean - 0.79) < 1e-12 and abs(cell.std - 0.0141421356) < 1e-6
    text = to_text(t, "plain")
    assert "79.0 ± 1.4" in text
    assert "71.5 ± 0.7" in text  # patch_mem P-AUPRO@30% over seeds 0.71, 0.72


def test_undefined_gets_dash_and_footnote(run_dir, written):
    t = main_table(RunData.load(run_dir))
    cell = _row(t, "seq_ae").cells["P-AUPRO@30%"]
    assert cell.is_dash and cell.reason == NO_MAPS and cell.note
    main = written[0].read_text()
    assert f"--\\textsuperscript{{{cell.note}}}" in main
    assert f"\\textsuperscript{{{cell.note}}}\\,{NO_MAPS}" in main
    # defined in one seed of two: a value with a footnote saying so
    partial = _row(t, "image_ae").cells["I-F1max"]
    assert partial.defined and partial.n == 1 and "defined in 1 of 2 seeds" in partial.reason
    # per-category: undefined category of sensor_knn
    det = RunData.load(run_dir)
    from benchmark.results.tables.build import per_category_table

    pc = per_category_table(det, "I-AUROC", maps_only=False)
    c = _row(pc, "sensor_knn").cells["Undercut"]
    assert c.is_dash and c.reason == "only normal samples (n=40)"


def test_latex_escaping():
    assert tex_escape("causal_film") == r"causal\_film"
    assert tex_escape("50% & $x$ #1 {a} ~ ^") == r"50\% \& \$x\$ \#1 \{a\} \~{} \^{}"
    assert tex_escape("a\\b") == r"a$\backslash$b"
    assert tex_escape("±×") == r"$\pm$$\times$"
    assert tex_escape("Müller") == "Muller"
    assert tex_escape("日") == "?"


def test_rows_show_display_names_escaped_in_tex(written):
    text = written[0].read_text()
    assert r"(A.N) Causal Film Process Only" in text and r"Late Fusion (V+A \& I)" in text
    assert "causal_film" not in text.split("\n", 1)[1]  # registry names stay in Markdown and JSON
    appendix = next(p for p in written if p.name == "appendix.tex").read_text()
    assert r"causal\_film\_process\_only" in appendix
    assert not re.search(r"[^\\]causal_film", appendix.split("\n", 1)[1])


def test_synthetic_caption(run_dir, written, tmp_path):
    for path in written:
        if path.suffix == ".tex":
            assert "NOT Weld-4M results" in path.read_text(), path
    assert "synthetic twin of Weld-4M" in written[0].read_text()
    assert "tiny random-weight backbones" in written[0].read_text()
    real = make_fixture_run(tmp_path, synthetic=False, preset="pretrained")
    data = RunData.load(real)
    assert data.is_weld4m_result() and "NOT" not in main_table(data).caption


def test_files_written(written):
    names = sorted(p.name for p in written)
    assert names == sorted(["main.tex", "per_category_detection.tex", "per_category_segmentation.tex",
                            "ablation.tex", "efficiency.tex", "tables.md", "appendix.tex",
                            "significance.tex", "per_config.tex", "per_config.csv"])


def test_ablation_and_segmentation_rows(run_dir):
    _, tables = build_tables(run_dir)
    by = {t.name: t for t in tables}
    assert [r.method for r in by["ablation"].rows()] == [  # the family's main rows, then ablations
        "causal_film", "causal_film_process_only", "causal_film_result_only", "causal_film_no_causal"]
    assert [r.method for r in by["per_category_segmentation"].rows()] == ["patch_mem"]
    eff = by["efficiency"]
    assert _row(eff, "patch_mem").cells["memory_bank_bytes"].text == "3MiB"
    assert _row(eff, "seq_ae").cells["parameters_total"].text == "1.23M"


def test_appendix_lists_changes(written):
    text = next(p for p in written if p.name == "appendix.tex").read_text()
    assert r"\subsection*{causal\_film ((C.N) Causal Film)}" in text
    assert r"\textbf{Model selection:} original: not recorded; this run: policy '?'" in text
    assert r"60 TRAIN samples \& 5\% budget" in text
    assert r"\texttt{lr}~=~0.001" in text
    views = r"\textbf{Sample score from the post-weld views:} "
    assert views + "max (maximum of the per-view scores)." in text  # a result-only row
    assert views + "none (reads no post-weld view)." in text
    assert views + "not recorded." in text  # a result written before the fact existed


def test_markdown_and_terminal(run_dir, written):
    md = next(p for p in written if p.suffix == ".md").read_text()
    assert "**94.0 ± 1.4**" in md and "<u>91.0 ± 1.4</u>" in md
    assert "| (C.N) Causal Film [causal\\_film] " in md and "**(A) Process only**" in md
    assert "–<sup>a</sup>" in md
    buf = io.StringIO()
    print_main_table(run_dir, file=buf)
    out = buf.getvalue()
    assert "94.0 ± 1.4 *" in out and "91.0 ± 1.4 °" in out
    assert "(A) Process only" in out and "NOT Weld-4M results" in out
    assert f"({'a'}) {NO_MAPS}" in out


def test_latest_run_default(run_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError):
        write_tables(None, tmp_path / "t" / "main.tex")
    shutil.copytree(run_dir, tmp_path / "results" / "r1")
    paths = write_tables(None, tmp_path / "t" / "main.tex")
    assert "r1" in paths[0].read_text().splitlines()[0]


# ---------------------------------------------------------------------------- pdflatex
def _pdflatex() -> str:
    exe = shutil.which("pdflatex")
    if exe is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("pdflatex is missing under CI: install texlive-latex-base "
                        "texlive-latex-recommended (see .ci/run)")
        pytest.skip("pdflatex not installed (apt-get install --no-install-recommends "
                    "texlive-latex-base texlive-latex-recommended); required under CI=true")
    return exe


def _compile(exe: str, path: Path, out: Path) -> str:
    """pdflatex on `path` into `out`; its log (the test fails with the log's tail on an error)."""
    proc = subprocess.run([exe, "-interaction=nonstopmode", "-halt-on-error",
                           f"-output-directory={out}", path.name],
                          capture_output=True, text=True, timeout=120, cwd=path.parent)
    assert proc.returncode == 0, f"{path.name} does not compile:\n{proc.stdout[-3000:]}"
    return (out / f"{path.stem}.log").read_text(errors="replace")


def test_fragments_compile_in_a_two_column_paper(written, tmp_path):
    """A paper \\inputs every fragment (nothing else, the packages of docs/results.md) and
    compiles; no table is wider than its column (table) or page (table*)."""
    from benchmark.results.tables import PACKAGES

    exe = _pdflatex()
    fragments = [p for p in written if p.suffix == ".tex"]
    for path in fragments:
        assert "\\documentclass" not in path.read_text(), path
    paper = written[0].parent / "paper.tex"
    paper.write_text("\\documentclass[twocolumn]{article}\n"
                     + "".join(f"\\usepackage{{{p}}}\n" for p in PACKAGES)
                     + "\\begin{document}\nText.\n"
                     + "".join(f"\\input{{{p.name}}}\n" for p in fragments) + "\\end{document}\n")
    log = _compile(exe, paper, tmp_path)
    assert "Overfull \\hbox" not in log, re.findall(r"Overfull .*", log)
    assert "multiply defined" not in log and "Missing character" not in log


def test_fragments_state_their_needs(written):
    from benchmark.results.tables import PACKAGES

    labels = []
    for path in written:
        if path.suffix != ".tex" or path.name == "appendix.tex":
            continue
        text = path.read_text()
        assert all(f"\\usepackage{{{p}}}" in text.split("\n")[1] for p in PACKAGES), path
        env = "table*" if "spans both columns" in text.split("\n")[2].lower() else "table"
        assert text.count(f"\\begin{{{env}}}") == 1 and "\\toprule" in text, path
        labels += re.findall(r"\\label\{([^}]*)\}", text)
    assert len(labels) == len(set(labels)) == len(written) - 3  # all but .md, .csv, appendix


def test_per_config_table_and_csv(written):
    tex = next(p for p in written if p.name == "per_config.tex").read_text()
    assert "FE410" in tex and "BSK46" in tex and r"\multicolumn{2}{c}{steel}" in tex
    rows = list(csv.DictReader(open(next(p for p in written if p.name == "per_config.csv"))))
    film = [r for r in rows if r["method"] == "causal_film" and r["seed"] == "0"]
    assert [(r["axis"], r["config"], r["metric"], float(r["value"]), r["n_normal"], r["n_anomalous"])
            for r in film] == [("steel", "FE410", "I-AUROC", 0.94, "50", "30")]
    assert film[0]["display_name"] == "Causal Film" and film[0]["row_code"] == "C.N"


def test_no_two_rows_of_a_table_share_a_name(run_dir):
    data, tables = build_tables(run_dir)
    for table in [*tables, per_config_table(data)]:
        # NOTE: a subset's row group (scope) repeats the methods of the table, once each
        for scope in {g.scope for g in table.groups}:
            labels = [r.label for g in table.groups if g.scope == scope for r in g.rows]
            assert len(labels) == len(set(labels)), (table.name, scope)


def test_bench_table_writes_into_the_run_by_default(run_dir, tmp_path, monkeypatch, capsys):
    from benchmark.cli import main

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    monkeypatch.chdir(tmp_path)
    assert main(["table", str(run), "--standalone"]) == 0
    assert (run / "tables" / "main.tex").read_text().startswith("% Generated")
    assert "\\documentclass" in (run / "tables" / "main.tex").read_text()  # --standalone
    assert f"wrote {run / 'tables' / 'main.tex'}" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # nothing in the working folder


def test_captions_are_short(run_dir):
    from benchmark.results.compare import significance_table

    data, tables = build_tables(run_dir)
    for table in [*tables, significance_table(data, n_boot=50)]:
        sentences = re.findall(r"[.!?](?:\s|$)", table.caption)
        assert len(sentences) <= 3, (table.name, table.caption)


def test_every_tex_compiles(run_dir, tmp_path):
    exe = _pdflatex()
    written = write_tables(run_dir, tmp_path / "standalone" / "main.tex", appendix=True,
                           standalone=True)
    for path in written:
        if path.suffix != ".tex":
            continue
        assert "Missing character" not in _compile(exe, path, tmp_path)
        assert (tmp_path / f"{path.stem}.pdf").exists()


def test_tables_without_film_or_maps(tmp_path):
    run = make_fixture_run(tmp_path, names=("seq_ae", "image_ae", "late_fusion"))
    paths = write_tables(run, tmp_path / "t" / "main.tex")
    assert sorted(p.name for p in paths) == ["efficiency.tex", "main.tex", "per_category_detection.tex",
                                             "tables.md"]


@pytest.mark.slow
def test_plots_and_cli_parsers(run_dir, tmp_path):
    import argparse

    from benchmark.cli import golden, plot
    from benchmark.results.plots import write_plots

    paths = write_plots(run_dir, tmp_path / "plots", seed=1)
    names = {p.name for p in paths}
    stems = {"roc_pr_process-only", "roc_pr_result-only", "roc_pr_cross-modal", "roc_pr_ablations",
             "scores_causal_film"}
    assert {f"{s}.{f}" for s in stems for f in ("pdf", "png")} <= names
    assert not any(n.startswith("maps_") for n in names)  # no maps saved in this run
    magic = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF"}
    assert all(p.read_bytes().startswith(magic[p.suffix]) for p in paths)
    assert {p.suffix for p in paths} == {".pdf", ".png"} and len(paths) == 2 * len({p.stem for p in paths})
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    plot.add_parser(sub)
    golden.add_parser(sub)
    small = make_fixture_run(tmp_path / "small", names=("late_fusion",))  # the CLI path only
    args = parser.parse_args(["plot", str(small), "--out", str(tmp_path / "p2")])
    assert args.func(args) == 0 and (tmp_path / "p2" / "roc_pr_cross-modal.pdf").exists()
    args = parser.parse_args(["golden", "update", str(run_dir), "--golden", str(tmp_path / "g.json")])
    assert args.run_dir == run_dir and args.func is golden.update


def test_plot_legends_name_rows_as_the_tables_do(tmp_path, monkeypatch):
    """Legends carry the row labels; each figure's curves differ in colour or style; ablations
    have their own figure."""
    import matplotlib.figure

    from benchmark.results import plots
    from benchmark.results.plots import write_plots

    monkeypatch.setattr(plots, "FORMATS", ("pdf",))  # one format is enough to read the legends
    figures = {}
    save = matplotlib.figure.Figure.savefig
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda fig, path, **kw: (
        figures.setdefault(Path(path).stem, fig), save(fig, path, **kw))[1])
    run_dir = make_fixture_run(tmp_path, names=("late_fusion", "causal_film", "causal_film_no_causal"))
    write_plots(run_dir, tmp_path, seed=0)
    labels = {m.name: m.label for m in RunData.load(run_dir).methods.values()}
    for stem, fig in figures.items():
        if not stem.startswith("roc_pr_"):
            continue
        lines = fig.axes[0].get_lines()[:-1]  # the last is the chance diagonal
        legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert all(any(text.startswith(label) for label in labels.values()) for text in legend), legend
        looks = [(line.get_color(), line.get_linestyle()) for line in lines]
        assert len(set(looks)) == len(looks), stem
    ablation = [t.get_text() for t in figures["roc_pr_ablations"].axes[0].get_legend().get_texts()]
    assert len(ablation) == 1 and ablation[0].startswith(labels["causal_film_no_causal"])
    cross = [t.get_text() for t in figures["roc_pr_cross-modal"].axes[0].get_legend().get_texts()]
    assert not any(t.startswith(labels["causal_film_no_causal"]) for t in cross)


def test_plot_maps_fails_at_once(run_dir, tmp_path, capsys):
    from benchmark.cli import main

    assert main(["plot", str(run_dir), "--maps", "--out", str(tmp_path / "p")]) == 2
    assert "no unit with saved anomaly maps" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_matched_cells_say_why_they_are_empty(tmp_path):
    runs = RunData.load(make_fixture_run(tmp_path)).methods["causal_film"]
    assert runs.subset("recipe_matched", "I-AUROC", category="Porosity").defined
    too_few = runs.subset("recipe_matched", "I-AUROC", category="Undercut")
    assert not too_few.defined and "too few anomalous samples" in too_few.reason
    absent = runs.subset("recipe_matched", "I-AUROC", category="Warping")  # no matched Warping defect
    assert not absent.defined and absent.reason == "no recipe-matched defect of this category"
    missing = runs.subset("no_such_subset", "I-AUROC")
    assert not missing.defined and missing.reason == "no no-such-subset subset in this result"
