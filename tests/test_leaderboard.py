"""leaderboard.csv and summary.csv against the FIXTURE run of test_tables (FABRICATED numbers of
no method, written with `benchmark.results.store.write_unit`), and `bench show` / `bench runs`."""
from __future__ import annotations

import csv
import doctest
import json
import math
import shutil

import pytest
from test_tables import CATS, FAKE, NO_MAPS, make_fixture_run

from benchmark.cli import main
from benchmark.metrics import HIGHER_IS_BETTER
from benchmark.results import leaderboard as L


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    run = make_fixture_run(tmp_path_factory.mktemp("leaderboard"))
    lb, summary = L.write_leaderboard(run)
    read = lambda p: list(csv.DictReader(open(p, newline="")))
    return run, read(lb), read(summary), lb, summary


def _one(rows, **where):
    found = [r for r in rows if all(r[k] == str(v) for k, v in where.items())]
    assert len(found) == 1, (where, len(found))
    return found[0]


def test_leaderboard_columns_and_size(written):
    run, rows, _, lb, _ = written
    assert lb == run / "leaderboard.csv"
    with open(lb) as f:
        assert next(csv.reader(f)) == [
            "run", "method", "row_code", "display_name", "role", "group", "modalities", "seed",
            "subset", "category", "normals", "metric", "value", "ci_low", "ci_high", "n_sessions_normal",
            "n_sessions_anomalous", "n_normal", "n_anomalous", "undefined_reason", "synthetic"]
    categories = 1 + len(CATS)  # "all" and each defect category
    image_metrics = [k for k in HIGHER_IS_BETTER if not k.startswith("P-")]
    # the whole TEST split (every metric), the three matched subsets (image metrics)
    per_unit = len(HIGHER_IS_BETTER) * categories + 3 * len(image_metrics) * categories
    assert len(rows) == sum(len(v[3]) for v in FAKE.values()) * per_unit
    assert {r["category"] for r in rows} == {"all", *CATS}  # no subset packed into a category
    assert {r["subset"] for r in rows} == {"all", "recipe_matched", "session_matched", "both_matched"}
    assert {r["run"] for r in rows} == {run.name} and {r["synthetic"] for r in rows} == {"true"}
    matched = _one(rows, method="causal_film", seed=1, metric="I-AUROC", subset="recipe_matched",
                   category="all")
    assert float(matched["value"]) == pytest.approx(0.93 - 0.2)
    assert (matched["n_normal"], matched["n_anomalous"]) == ("60", "12")


def test_leaderboard_values_and_reasons(written):
    _, rows, _, _, _ = written
    film = _one(rows, method="causal_film", seed=1, metric="I-AUROC", subset="all", category="all")
    assert (film["display_name"], film["row_code"], film["role"], film["group"], film["modalities"],
            float(film["value"])) == ("Causal Film", "C.N", "proposed", "cross-modal",
                                      "video+audio+sensor+image", 0.93)
    assert film["undefined_reason"] == "" and (film["n_normal"], film["n_anomalous"]) == ("60", "40")
    assert (float(film["ci_low"]), float(film["ci_high"])) == pytest.approx((0.88, 0.96))
    assert _one(rows, method="causal_film", seed=1, metric="I-AP", subset="all", category="all")["ci_low"] == ""
    ablation = _one(rows, method="causal_film_no_causal", seed=0, metric="I-AUROC", subset="all", category="all")
    assert ablation["role"] == "ablation"  # a script can filter the ablations out
    porosity = _one(rows, method="causal_film", seed=0, metric="I-AUROC", subset="all", category="Porosity")
    assert float(porosity["value"]) == pytest.approx(0.93)
    no_maps = _one(rows, method="seq_ae", seed=0, metric="P-AUPRO@30%", subset="all", category="all")
    assert no_maps["value"] == "" and no_maps["undefined_reason"] == NO_MAPS
    only_normal = _one(rows, method="sensor_knn", seed=0, metric="I-AUROC", subset="all", category="Undercut")
    assert only_normal["value"] == "" and only_normal["undefined_reason"] == "only normal samples (n=40)"
    one_class = _one(rows, method="image_ae", seed=1, metric="I-F1max", subset="all", category="all")
    assert one_class["undefined_reason"] == "fabricated: one class only"
    assert float(_one(rows, method="patch_mem", seed=1, metric="P-AUPRO@30%", subset="all",
                      category="all")["value"]) == pytest.approx(0.72)


def test_summary_mean_std_interval(written, tmp_path):
    _, _, summary, _, path = written
    with open(path) as f:
        assert tuple(next(csv.reader(f))) == L.SUMMARY_COLUMNS
    film = _one(summary, method="causal_film", metric="I-AUROC", subset="all", category="all")
    mean, std = float(film["mean"]), float(film["std"])
    assert mean == pytest.approx(0.94) and std == pytest.approx(math.sqrt(2) * 0.01)
    half = 12.706204736174707 * std / math.sqrt(2)  # t(0.975, 1 degree of freedom)
    assert (float(film["ci95_low"]), float(film["ci95_high"])) == pytest.approx((0.94 - half, 0.94 + half))
    assert film["n_seeds"] == "2" and film["n_undefined"] == "0" and film["row_code"] == "C.N"
    partial = _one(summary, method="image_ae", metric="I-F1max", subset="all", category="all")
    assert partial["n_seeds"] == "1" and partial["n_undefined"] == "1" and partial["ci95_low"] == ""
    assert partial["std"] == ""  # one seed: no spread, not 0.0
    assert "fabricated: one class only" in partial["undefined_reason"] and "one seed" in partial["undefined_reason"]
    dash = _one(summary, method="seq_ae", metric="P-AUROC", subset="all", category="all")
    assert dash["n_seeds"] == "0" and dash["mean"] == "" and dash["undefined_reason"] == NO_MAPS
    assert _one(summary, method="causal_film", metric="I-AUROC", subset="recipe_matched", category="all")


def test_bench_show_and_runs(written, tmp_path, capsys, monkeypatch):
    run = written[0]
    assert main(["show", str(run)]) == 0
    out = capsys.readouterr().out
    assert "Main table" in out and "94.0 ± 1.4 *" in out and "Efficiency" not in out
    assert main(["show", str(run), "--all"]) == 0
    assert "Efficiency" in capsys.readouterr().out
    results = tmp_path / "results"
    shutil.copytree(run, results / "run-b")
    (results / "run-b" / "run.json").write_text(json.dumps({
        "profile": {"name": "quick"}, "units": ["x/seed0"] * 20,
        "dataset": {"root": "/data/twin-x", "fingerprint": "f" * 64, "synthetic": True}}))
    shutil.copytree(run, results / "run-a")
    (results / "empty").mkdir()
    shutil.copytree(run, results / "run-c")  # a unit lost its scores: listed, not dropped
    lost = next((results / "run-c").glob("*/seed0")) / "scores.csv"
    lost.unlink()
    assert main(["runs", "--out", str(results)]) == 0
    said = capsys.readouterr()
    lines = said.out.splitlines()
    assert lines[0].split() == ["run", "updated", "profile", "dataset", "fingerprint", "units", "methods", "seeds"]
    run_b = next(line for line in lines if line.startswith("run-b"))
    assert "twin-x (synthetic)" in run_b and "f" * 12 in run_b and "18/20" in run_b and "0,1" in run_b
    assert not any(line.startswith("empty") for line in lines)
    assert "BROKEN" in next(line for line in lines if line.startswith("run-c "))
    assert said.err.startswith("run-c BROKEN: ") and str(lost.parent) in said.err
    monkeypatch.chdir(tmp_path)
    assert main(["show"]) == 2  # the latest run is the broken one: refused, the file named
    assert "scores.csv" in capsys.readouterr().err
    shutil.rmtree(results / "run-c")
    assert main(["show"]) == 0  # the latest run under ./results
    assert "run: results/run-" in capsys.readouterr().out


def test_a_category_is_listed_like_with_like_and_against_every_normal():
    """The weld-type floor's known answer: fillet welds score 1, the others 0. Undercut (fillet
    only) against every normal (2 fillet, 8 not) is (8 + 2/2) / 10 = 0.9; against the fillet
    normals 0.5, and so for Spatter (not fillet): 0.4 against every normal, 0.5 like with like."""
    from benchmark.metrics import evaluate

    cats = ["Good"] * 10 + ["Undercut"] * 5 + ["Spatter"] * 5
    types = ["FILLET"] * 2 + ["NON_FILLET"] * 8 + ["FILLET"] * 5 + ["NON_FILLET"] * 5
    scores = [float(t == "FILLET") for t in types]
    metrics = evaluate([int(c != "Good") for c in cats], scores, cats, strata=types, n_boot=20)
    got = {(c, normals): (block["I-AUROC"], n) for subset, c, normals, block, n, _ in
           L._blocks(metrics, ["Undercut", "Spatter"]) if subset == "all" and c != "all"}
    assert got == {("Undercut", "same_weld_type"): (0.5, (2, 5)), ("Undercut", "all"): (0.9, (10, 5)),
                   ("Spatter", "same_weld_type"): (0.5, (8, 5)), ("Spatter", "all"): (0.4, (10, 5))}


def test_docstring_examples_run():
    assert doctest.testmod(L).failed == 0
