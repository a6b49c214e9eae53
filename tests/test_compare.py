"""`bench compare` and the main table with statistics, on a FIXTURE run whose DeLong result is
known: the scores below are FABRICATED (they belong to no method); the expected AUROCs, z and p
were computed from the definition of DeLong et al. (1988) with exact fractions (`_delong_1988`,
independent of the midrank algorithm in `benchmark.metrics`) and are written out as numbers."""
from __future__ import annotations

import doctest
import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

from benchmark.cli import main
from benchmark.metrics import bootstrap_auroc_ci, bootstrap_auroc_diff_ci, statistics
from benchmark.results import compare as C
from benchmark.results import store as R
from benchmark.results.tables import RunData, to_text

CATEGORIES = ["Good"] * 12 + ["Porosity"] * 6 + ["Undercut"] * 6
LABELS = [int(c != "Good") for c in CATEGORIES]
# FABRICATED scores, one per sample above (12 normal, 6 Porosity, 6 Undercut)
FILM = [0.10, 0.22, 0.15, 0.31, 0.27, 0.05, 0.40, 0.18, 0.33, 0.12, 0.25, 0.45,
        0.80, 0.62, 0.91, 0.35, 0.74, 0.58, 0.66, 0.88, 0.42, 0.95, 0.71, 0.52]
BASE = [0.30, 0.62, 0.15, 0.41, 0.27, 0.55, 0.40, 0.18, 0.63, 0.52, 0.25, 0.45,
        0.50, 0.32, 0.61, 0.35, 0.44, 0.58, 0.36, 0.28, 0.42, 0.65, 0.21, 0.52]
CLOSE = [v + (0.01 if i % 5 == 0 else 0.0) for i, v in enumerate(FILM)]  # FILM, nudged
# Known results (exact fractions for the AUROCs; z, p from the 1988 definition)
OVERALL = {"auroc_a": 47 / 48, "auroc_b": 167 / 288, "z": 3.287300379110325, "p": 0.0010115287533081678}
POROSITY = {"auroc_a": 35 / 36, "auroc_b": 5 / 8, "z": 2.6491830215957113, "p": 0.008068662259918251}

FACTS = {  # what the runner writes from the registry's declared facts
    "film": {"group": "cross-modal", "group_letter": "C", "group_title": "(C) Cross-modal",
             "role": "proposed", "display_name": "Film", "row_code": "C.N", "modalities": ["video", "image"]},
    "base": {"group": "result-only", "group_letter": "B", "group_title": "(B) Result only",
             "role": "baseline", "display_name": "Base", "row_code": "B.1", "modalities": ["image"]},
    "close": {"group": "cross-modal", "group_letter": "C", "group_title": "(C) Cross-modal",
              "role": "baseline", "display_name": "Close", "row_code": "C.1", "modalities": ["video", "image"]},
}


def _delong_1988(labels, a, b):
    """DeLong, DeLong & Clarke-Pearson (1988) from its definition: O(m n) kernel sums, exact."""
    pos = [i for i, y in enumerate(labels) if y == 1]
    neg = [i for i, y in enumerate(labels) if y == 0]
    psi = lambda x, y: Fraction(1) if x > y else (Fraction(1, 2) if x == y else Fraction(0))

    def components(s):
        v10 = [sum(psi(s[i], s[j]) for j in neg) / len(neg) for i in pos]
        v01 = [sum(psi(s[i], s[j]) for i in pos) / len(pos) for j in neg]
        return sum(v10) / len(pos), v10, v01

    def cov(x, y):
        mx, my = sum(x) / len(x), sum(y) / len(y)
        return sum((p - mx) * (q - my) for p, q in zip(x, y)) / (len(x) - 1)

    auc_a, a10, a01 = components(a)
    auc_b, b10, b01 = components(b)
    var = ((cov(a10, a10) + cov(b10, b10) - 2 * cov(a10, b10)) / len(pos)
           + (cov(a01, a01) + cov(b01, b01) - 2 * cov(a01, b01)) / len(neg))
    z = float(auc_a - auc_b) / math.sqrt(float(var))
    return auc_a, auc_b, z, 2 * norm.sf(abs(z))


def fixture_run(root: Path, scores: dict[str, dict[int, list[float]]]) -> Path:
    """A FIXTURE run: `scores[method][seed]` are the TEST scores of the samples above."""
    run_dir = root / "fixture-compare"
    for name, by_seed in scores.items():
        for seed, values in by_seed.items():
            config = {"method": name, "seed": seed, **FACTS[name], "yields_maps": False,
                      "categories": {"Good": 0, "Porosity": 3, "Undercut": 5},
                      "profile": {"name": "quick", "preset": "tiny"}, "synthetic": True}
            rows = [{"id": f"s{i:02d}", "split": "TEST", "category": c, "label": y, "config": "c",
                     "score": v} for i, (c, y, v) in enumerate(zip(CATEGORIES, LABELS, values))]
            R.write_unit(run_dir, name, seed, metrics={"overall": {"I-AUROC": 0.5}, "per_category": {}},
                         scores=rows, config=config, efficiency={}, history={})
    return run_dir


def test_reference_implementation_gives_the_written_numbers():
    auc_a, auc_b, z, p = _delong_1988(LABELS, FILM, BASE)
    assert (auc_a, auc_b) == (Fraction(47, 48), Fraction(167, 288))
    assert z == pytest.approx(OVERALL["z"], abs=1e-12) and p == pytest.approx(OVERALL["p"], rel=1e-9)


def test_compare_gives_the_known_delong_result(tmp_path):
    run = fixture_run(tmp_path, {"film": {0: FILM}, "base": {0: BASE}})
    result = C.compare(RunData.load(run), "film", "base")
    assert [r.category for r in result.rows] == ["all", "Porosity", "Undercut"]
    for row, known in ((result.rows[0], OVERALL), (result.rows[1], POROSITY)):
        assert row.auroc_a == pytest.approx(known["auroc_a"], abs=1e-12)
        assert row.auroc_b == pytest.approx(known["auroc_b"], abs=1e-12)
        assert row.z[0] == pytest.approx(known["z"], abs=1e-9)
        assert row.p[0] == pytest.approx(known["p"], rel=1e-6)
        assert row.significant() and row.ci[0] > 0 and row.ci[0] < row.diff < row.ci[1]
    under = result.rows[2]
    idx = [i for i, c in enumerate(CATEGORIES) if c in ("Good", "Undercut")]
    pick = lambda v: [v[i] for i in idx]
    expected = _delong_1988(pick(LABELS), pick(FILM), pick(BASE))
    assert (under.n_normal, under.n_anomalous) == (12, 6)
    assert under.auroc_a == pytest.approx(float(expected[0])) and under.p[0] == pytest.approx(expected[3], rel=1e-6)


def test_bench_compare_prints_and_writes_json(tmp_path, capsys):
    run = fixture_run(tmp_path, {"film": {0: FILM}, "base": {0: BASE}})
    assert main(["compare", str(run), "film", "base", "--json", str(tmp_path / "c.json")]) == 0
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.startswith("all "))
    assert "12 / 12" in line and "0.979" in line and "0.580" in line and "0.399" in line
    assert "3.29" in line and "0.001" in line and line.rstrip().endswith("*")
    data = json.loads((tmp_path / "c.json").read_text())
    assert data["rows"][0]["delong_p"][0] == pytest.approx(OVERALL["p"], rel=1e-6)
    assert data["rows"][0]["significant"] is True
    assert main(["compare", str(run), "film", "nope"]) == 2
    assert "no finished unit of method 'nope'" in capsys.readouterr().err


def test_several_seeds_must_all_agree(tmp_path):
    # seed 1 of base scores exactly like film: p = 1 there, so no significance over the seeds
    run = fixture_run(tmp_path, {"film": {0: FILM, 1: FILM}, "base": {0: BASE, 1: FILM}})
    row = C.compare(RunData.load(run), "film", "base").rows[0]
    assert row.p[0] == pytest.approx(OVERALL["p"], rel=1e-6) and row.p[1] == 1.0
    assert not row.significant()
    assert row.diff == pytest.approx((47 / 48 - 167 / 288) / 2)


def test_different_test_samples_are_refused(tmp_path):
    run = fixture_run(tmp_path, {"film": {0: FILM}, "base": {0: BASE}})
    base = next(u for u in R.load_run(run) if u.method == "base")
    rows = [{**r, "id": "s99" if r["id"] == "s23" else r["id"]} for r in base.scores()]
    # NOTE: written whole, as a unit of other TEST samples would be (an edited file is refused)
    R.write_unit(run, "base", 0, metrics=base.metrics, scores=rows, config=base.config,
                 efficiency={}, history={})
    with pytest.raises(ValueError, match="not scored on the same TEST samples"):
        C.compare(RunData.load(run), "film", "base")


def test_significance_table_marks_rows_that_differ_from_the_proposed_model(tmp_path, capsys):
    run = fixture_run(tmp_path, {"film": {0: FILM}, "base": {0: BASE}, "close": {0: CLOSE}})
    table = C.significance_table(RunData.load(run))
    rows = {r.method: r for r in table.rows()}
    assert rows["base"].label == "(B.1) Base †"  # no proposed model in its group: the run's only one
    assert rows["close"].label == "(C.1) Close"  # nudged copy of film: not significant
    assert rows["film"].cells["diff"].text == "reference"
    assert rows["base"].cells["diff"].text.startswith(f"{100 * (167 / 288 - 47 / 48):+.1f} [")
    assert rows["base"].cells["p"].text == "0.001"
    lo, hi = bootstrap_auroc_ci(LABELS, FILM, n_boot=C.N_BOOT, seed=C.BOOT_SEED)
    assert rows["film"].cells["ci"].text == f"[{100 * lo:.1f}, {100 * hi:.1f}]"
    assert "†" in to_text(table)
    assert main(["show", str(run), "--ci"]) == 0
    out = capsys.readouterr().out
    assert "(B.1) Base † [base]" in out and "reference" in out


def test_paired_bootstrap_interval():
    y = np.array(LABELS)
    assert bootstrap_auroc_diff_ci(y, FILM, FILM, n_boot=300) == (0.0, 0.0)
    lo, hi = bootstrap_auroc_diff_ci(y, FILM, BASE, n_boot=500, seed=1)
    assert 0 < lo < 47 / 48 - 167 / 288 < hi
    # seeds as rows: the interval of the mean I-AUROC; one row is the 1-D interval exactly
    assert bootstrap_auroc_ci(y, np.array([FILM]), n_boot=400, seed=2) == bootstrap_auroc_ci(y, FILM, n_boot=400, seed=2)
    two = bootstrap_auroc_diff_ci(y, np.array([FILM, BASE]), np.array([BASE, BASE]), n_boot=500, seed=1)
    assert two[0] == pytest.approx(lo / 2, abs=0.05) and two[1] == pytest.approx(hi / 2, abs=0.05)
    with pytest.raises(ValueError, match="seeds, N"):
        bootstrap_auroc_diff_ci(y, np.zeros((2, 5)), BASE)


@pytest.mark.parametrize("module", [statistics, C])
def test_docstring_examples_run(module):
    assert doctest.testmod(module).failed == 0
