"""One quick-profile run of every registered method (`quick_run` in conftest.py, shared with the
golden test): the method contract for every registered name and zero VAL-label reads under the
default label-free selection. On the confound-free twin (`neutral_run`): the modality-leakage
check and Causal-FiLM's detection of the categories that break the process-to-result chain (on
the default twin the recipe itself reveals most categories, see tests/test_recipes.py).

Near chance is judged with the stratified bootstrap 95% interval of the per-category I-AUROC
(Good vs that category on TEST), not a fixed threshold: the interval must contain 0.5.
"""
from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest

from benchmark.method import Group, load_methods
from benchmark.metrics import bootstrap_auroc_ci
from benchmark.results import store as R
from conftest import NEUTRAL_METHODS, VAL_READS

pytestmark = pytest.mark.slow
METHODS = load_methods()
IMAGE_ONLY = ("Undercut", "Overlap", "Warping")  # 05, 06, 10: visible in the photos only
PROCESS_ONLY = ("Porosity", "Lack_of_Fusion")  # 03, 07: invisible in the photos
CHAIN_BREAKERS = ("Excessive_Penetration", "Burnthrough", "Porosity_w_Excessive_Penetration",
                  "Spatter", "Process_Result_Mismatch")  # 01, 02, 04, 09 (process and image), 12


def _scores(run_dir, method):
    with open(R.unit_dir(run_dir, method, 0) / "scores.csv") as f:
        return list(csv.DictReader(f))


def _category_ci(rows, category, level: float = 0.95):
    """Bootstrap CI of Good vs `category`, with Good restricted to the weld types the category
    occurs in: several categories exist for one weld type only, and a score that differs
    between weld types would otherwise pass for detection."""
    weld_types = {r["config"].split("/")[0] for r in rows if r["category"] == category}
    subset = [r for r in rows if r["category"] == category
              or (r["category"] == "Good" and r["config"].split("/")[0] in weld_types)]
    labels = np.array([int(r["label"]) for r in subset])
    scores = np.array([float(r["score"]) for r in subset])
    return bootstrap_auroc_ci(labels, scores, n_boot=2000, seed=0, level=level)


@pytest.mark.parametrize("method", list(METHODS))
def test_method_contract(quick_run, method):
    spec = METHODS.get(method)
    folder = R.unit_dir(quick_run, method, 0)
    assert R.is_done(quick_run, method, 0), f"{method} has no complete result"
    rows = _scores(quick_run, method)
    reference = _scores(quick_run, "causal_film")
    assert [r["id"] for r in rows] == [r["id"] for r in reference], "TEST samples differ"
    assert all(np.isfinite(float(r["score"])) for r in rows)
    assert {r["split"] for r in rows} == {"TEST"}
    config = json.loads((folder / "config.json").read_text())
    assert config["group"] == spec.group.value and config["modalities"] == list(spec.modalities)
    for change in config["hyperparameters"]["changes"]:
        assert change["reason"], f"{method}: change of {change['name']} without a reason"
    efficiency = json.loads((folder / "efficiency.json").read_text())
    assert efficiency["parameters_total"] >= efficiency["parameters_trainable"] >= 0
    assert efficiency["fit_seconds"] > 0 and efficiency["peak_rss_bytes"] > 0
    assert config["selection"]["policy"] == "last" and config["selection"]["val_queries"] == 0
    metrics = json.loads((folder / "metrics.json").read_text())
    assert 0.0 <= metrics["overall"]["I-AUROC"] <= 1.0
    assert "recipe_matched" in metrics["subsets"]
    if spec.yields_maps:  # the twin has masks, so maps give pixel metrics
        assert isinstance(metrics["overall"]["P-AUPRO@30%"], float)
    else:
        assert "P-AUPRO@30%" not in metrics["overall"]


def test_no_val_label_read_under_the_default_policy(quick_run):
    """The spy around the runner's one VAL-label query saw no read from any registered method."""
    reads = quick_run.parent / VAL_READS
    assert reads.exists() or os.environ.get("BENCH_QUICK_RUN"), "the quick run had no spy"
    if reads.exists():
        assert json.loads(reads.read_text()) == 0


def test_the_neutral_run_covers_every_one_sided_method():
    one_sided = {m for m, s in METHODS.items() if s.group in (Group.PROCESS, Group.RESULT)}
    assert one_sided <= set(NEUTRAL_METHODS), one_sided - set(NEUTRAL_METHODS)


LEAKAGE = [(m, c) for m, s in METHODS.items() if s.group is Group.PROCESS for c in IMAGE_ONLY]
LEAKAGE += [(m, c) for m, s in METHODS.items() if s.group is Group.RESULT for c in PROCESS_ONLY]
# NOTE: "no method sees a defect outside its modalities" is one claim over every pair at once: its
# intervals are Bonferroni-corrected (95 % family-wise); at 95 % each, one pair in twenty would
# look like leakage by chance
LEAKAGE_LEVEL = 1 - 0.05 / len(LEAKAGE)


@pytest.mark.parametrize("method,category", LEAKAGE)
def test_no_modality_leakage(neutral_run, method, category):
    """A process-only method cannot see image-only defects, and a result-only method cannot see
    defects that leave the photos untouched (photos drawn with the label guard on), on the twin
    whose recipes say nothing about the defect."""
    lo, hi = _category_ci(_scores(neutral_run, method), category, LEAKAGE_LEVEL)
    assert lo <= 0.5 <= hi, f"{method} detects {category} (I-AUROC 95% CI [{lo:.3f}, {hi:.3f}])"


def test_causal_film_detects_chain_breakers(neutral_run):
    """Well above chance on the categories that break the process-to-result chain: each one's
    I-AUROC above 0.6, and all of them pooled against Good with a 95% CI above 0.5.

    Passes since image models read the weld's region (seed 0: Excessive_Penetration 0.82,
    Process_Result_Mismatch 0.70; on the whole view 0.526 and 0.447). The reliance scores say
    the image carries it: swapping the photos drops the overall I-AUROC 0.750 -> 0.534, the video
    0.750 -> 0.706, the audio or the sensors not at all."""
    folder = R.unit_dir(neutral_run, MAIN_FILM, 0)
    per_category = json.loads((folder / "metrics.json").read_text())["per_category"]
    aurocs = {c: per_category[c]["I-AUROC"] for c in CHAIN_BREAKERS}
    print(f"{MAIN_FILM} per-category I-AUROC:", {c: round(v, 3) for c, v in aurocs.items()})
    for category, auroc in aurocs.items():
        assert auroc > 0.6, f"{MAIN_FILM} on {category}: I-AUROC {auroc:.3f}"
    rows = [r for r in _scores(neutral_run, MAIN_FILM) if r["category"] in ("Good",) + CHAIN_BREAKERS]
    lo, _ = bootstrap_auroc_ci(np.array([int(r["label"]) for r in rows]),
                               np.array([float(r["score"]) for r in rows]), n_boot=2000, seed=0)
    assert lo > 0.5, f"{MAIN_FILM}: pooled chain-breaker CI low {lo:.3f}"


MAIN_FILM = "causal_film"  # the main-table variant (benchmark.results.tables.build.MAIN_TABLE_FILM)

# NOTE: known answers (benchmark.results.known_answers) of the neutral run: each method's mean I-AUROC over
# the categories its media show >= 0.70 with the pooled visible side detected, and the pooled
# invisible side at chance (its interval holds 0.5). No band on the invisible mean: a method at
# chance on two categories of 12 TEST defects each (32 normals) leaves [0.40, 0.60] one time in five.
# The methods below do not reach it at the quick profile; each entry says what was measured
# (`bench known-answers`, quick profile, confound-free twins; seed 0 is the neutral run's) and is
# a strict xfail, so a fix shows up.
NOT_YET = {
    "causal_film_process_only": "mean 0.644 over the process-visible categories, pooled 0.644 "
                                "[0.512, 0.758] (seed 0, 8 TEST normals per configuration)",
    "causal_film": "mean 0.681 over its visible categories (all: it reads every medium), pooled "
                   "[0.582, 0.773] (seed 0; 0.737 with the 2-3 TEST normals per configuration of "
                   "before): its score rests on the photos (reliance: swapping them 0.750 -> 0.534, "
                   "the audio or sensors no change), so the process-only categories sit at chance "
                   "(Porosity 0.43 [0.25, 0.63]) and the subtle photo ones near it",
}
KNOWN = [m for m in NEUTRAL_METHODS if not m.startswith("session_")]


@pytest.mark.parametrize("method", [pytest.param(m, marks=pytest.mark.xfail(strict=True, reason=NOT_YET[m]))
                                    if m in NOT_YET else m for m in KNOWN])
def test_known_answers(neutral_run, method):
    """On the confound-free twin a method detects the categories its media show (mean like-with-
    like I-AUROC >= 0.70, the pooled interval above 0.5) and sits at chance on the others (their
    pooled interval holds 0.5)."""
    from benchmark.results.known_answers import check_run, render

    answer = check_run(neutral_run, [method], n_boot=200)[0]
    print(render([answer]))
    visible = answer.mean(True)
    assert visible is not None and visible >= 0.70, f"{method}: {visible} over the visible categories"
    assert answer.pooled[True].verdict == "detected", render([answer])
    if False in answer.pooled:
        assert answer.pooled[False].verdict == "at chance", render([answer])
