"""The recipe shortcut: the recipe key and distance, the recipe floor on the published manifest,
the twin's recipe structures, and (on the quick run of the default twin) the recipe-only floor
high overall and at chance on the recipe-matched subset, where a method that sees the weld itself
stays above chance. The session shortcut's own tests, and a method above chance on the
confound-free subset: tests/test_confounds.py."""
from __future__ import annotations

import csv
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmark.data.recipes import RecipeDistance, recipe_matched, recipe_of, twin_recipes
from benchmark.data.sample import WeldConfig
from benchmark.method import METHODS, Group, Method, Scores, load_methods, register_method, unchanged
from benchmark.metrics import bootstrap_auroc_ci
from benchmark.results import store as R

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT.parent / "shared" / "weld4m" / "manifest.csv"


def _config(plate=7.0, current=180.0, weld="NON_FILLET", steel="FE410", gas=4.0) -> WeldConfig:
    return WeldConfig(weld, plate, steel, current, 24.0, gas, 30.0)


def test_recipe_distance_and_matching():
    train = [_config(), _config(current=170.0), _config(weld="FILLET", steel="BSK46")]
    distance = RecipeDistance().fit(train)
    assert np.allclose(distance(train), 0.0)
    thin, no_gas = _config(plate=3.0), _config(gas=0.0)
    d = distance([thin, no_gas, _config(current=175.0)])
    assert d[0] == pytest.approx(4.0)  # a column constant in TRAIN keeps its unit: 7 mm -> 3 mm
    assert d[1] > 1.0 and d[2] < d[1]
    assert list(recipe_matched(train, [thin, _config(current=170.0)])) == [False, True]
    assert recipe_of(_config()) == ("NON_FILLET", 7.0, "FE410", 180.0, 24.0, 4.0, 30.0)


def test_the_twin_recipe_table_is_the_published_manifest_aggregated():
    sys.path.insert(0, str(ROOT / "scripts"))
    from derive_twin_recipes import derive

    assert MANIFEST.exists(), f"{MANIFEST}: the published manifest (../shared) is missing"
    committed = (ROOT / "benchmark" / "data" / "weld4m_recipes.csv").read_text()
    assert committed == derive(MANIFEST)
    assert sum(r["N"] for r in twin_recipes()) == 4040


def test_the_recipe_floor_on_the_published_manifest():
    from benchmark.data.confound_report import confound_report, overall

    report = confound_report(MANIFEST)
    assert overall(report, "recipe") > 0.95  # the floor
    assert overall(report, "recipe", "recipe_matched") == 0.5  # chance where the recipe says nothing
    test = report["frame"][(report["frame"]["SPLIT"] == "TEST") & (report["frame"]["label"] == 1)]
    matched = test[test["recipe_matched"]]
    assert (len(matched), len(test)) == (83, 1611)  # TEST defects welded with a TRAIN-normal recipe
    assert matched["CATEGORY"].value_counts().to_dict() == {"Warping": 52, "Lack_of_Fusion": 31}


def test_the_twin_has_the_real_recipe_structure_or_none():
    from benchmark.data.synth import plan

    def matched_share(specs):
        train = {s.config for s in specs if s.split == "TRAIN"}
        test = [s for s in specs if s.split == "TEST"]
        assert all(s.config in train for s in test if s.code == 0)  # every TEST normal's recipe
        defects = [s for s in test if s.code != 0]
        return sum(s.config in train for s in defects) / len(defects)

    real, neutral = plan(0, "quick"), plan(0, "quick", confounds="none")
    assert 0.0 < matched_share(real) < 0.2  # Weld-4M: 5 %; the twin's code 12 uses normal recipes
    assert matched_share(neutral) == 1.0
    assert {s.config.thickness_mm for s in real if s.code == 0} == {7}  # as in Weld-4M
    assert {s.config.thickness_mm for s in real if s.code in (1, 2, 4)} == {3}
    assert {s.config.gas_bar for s in real if s.code == 3} == {0.0}


@pytest.mark.slow
def test_recipe_floor_is_at_chance_on_the_neutral_twin(tmp_path):
    from benchmark.data.synth import synthesize
    from benchmark.run.config import RunConfig
    from benchmark.run.runner import run

    twin = synthesize(tmp_path / "neutral", seed=0, size="tiny", confounds="none")
    run_dir = run(RunConfig(methods=("recipe_manifest",), root=twin, out=tmp_path / "out"))
    metrics = json.loads((R.unit_dir(run_dir, "recipe_manifest", 0) / "metrics.json").read_text())
    assert metrics["overall"]["I-AUROC"] == 0.5  # every recipe is a normal one: nothing to read


# ---------------------------------------------------------------------------- on the quick run
def _rows(run_dir: Path, method: str) -> list[dict]:
    with open(R.unit_dir(run_dir, method, 0) / "scores.csv") as f:
        return list(csv.DictReader(f))


def _matched_ci(rows: list[dict], subset: str = "recipe_matched") -> tuple[float, float, float]:
    rows = [r for r in rows if r[subset] == "1"]
    y = np.array([int(r["label"]) for r in rows])
    s = np.array([float(r["score"]) for r in rows])
    from sklearn.metrics import roc_auc_score

    lo, hi = bootstrap_auroc_ci(y, s, n_boot=2000, seed=0)
    return roc_auc_score(y, s), lo, hi


@pytest.mark.slow
def test_recipe_floor_high_overall_and_at_chance_on_the_matched_subset(quick_run):
    for method, floor in (("recipe_manifest", 0.9), ("recipe_sensors", 0.8)):
        metrics = json.loads((R.unit_dir(quick_run, method, 0) / "metrics.json").read_text())
        assert metrics["overall"]["I-AUROC"] > floor, (method, metrics["overall"]["I-AUROC"])
        auroc, lo, hi = _matched_ci(_rows(quick_run, method))
        assert lo <= 0.5 <= hi, (method, auroc, lo, hi)
        counts = metrics["subsets"]["recipe_matched"]["counts"]
        assert counts["anomalous"] >= 10 and counts["normal"] == metrics["counts"]["normal"]
    assert _matched_ci(_rows(quick_run, "recipe_manifest"))[0] == 0.5  # every matched recipe: distance 0


class SignatureProbe(Method):
    """Test-only: a weld's photos against the TRAIN welds of its own recipe, so the recipe's
    novelty earns nothing: the grey-level histogram of the views (averaged), L1 distance to the
    nearest TRAIN weld of the same recipe (any TRAIN weld where the recipe is new)."""

    group = Group.RESULT
    modalities = ("image",)

    @staticmethod
    def _hist(inputs) -> np.ndarray:
        grey = inputs.stack("image_pixels").mean(-1)  # (N, V, H, W)
        h = np.stack([np.histogram(g, bins=32, range=(0, 255))[0] for g in grey]).astype(float)
        return h / h.sum(1, keepdims=True)

    def fit(self, train, val, ctx):
        self.bank, self.recipes = self._hist(train), [recipe_of(c) for c in train.configs]

    def score(self, inputs):
        out = []
        for h, config in zip(self._hist(inputs), inputs.configs):
            same = [i for i, r in enumerate(self.recipes) if r == recipe_of(config)] or range(len(self.bank))
            out.append(np.abs(self.bank[list(same)] - h).sum(1).min())
        return Scores(sample=np.array(out))


@dataclasses.dataclass(frozen=True)
class _Nothing:
    pass


@pytest.mark.slow
def test_a_method_that_sees_the_weld_is_above_chance_on_the_matched_subset(quick_run, tmp_path):
    from benchmark.run.config import RunConfig
    from benchmark.run.runner import run

    load_methods()
    register_method("signature_probe", SignatureProbe, hparams=unchanged(_Nothing()),
                    features=("image_pixels",), summary="test: recipe-conditioned photo probe",
                    view_pooling="features")  # the views' histograms are averaged
    try:
        run_dir = run(RunConfig(methods=("signature_probe",), out=tmp_path,
                                cache=quick_run.parent / ".feature_cache"))
    finally:
        METHODS.remove("signature_probe")
    auroc, lo, hi = _matched_ci(_rows(run_dir, "signature_probe"))
    assert lo > 0.5, (auroc, lo, hi)


@pytest.mark.slow
def test_main_table_shows_the_recipe_floor_and_the_matched_column(quick_run):
    from benchmark.results.tables import build_tables

    data, tables = build_tables(quick_run)
    main = tables[0]
    assert "(R) Shortcut floors" in [g.title for g in main.groups]
    assert "I-AUROC (matched)" in [c.label for c in main.columns]
    assert any(c.label.startswith("I-AUROC (conf.-free, n=") for c in main.columns)
    notes = " ".join(main.details)  # the protocol in full, under the table
    assert "Shortcut floors (R)" in notes and "(R.1) Recipe from the manifest" in notes
    matched = [r.cells["recipe_matched/I-AUROC"] for r in main.rows()]
    assert all(c.defined for c in matched)
    free = [r.cells["both_matched/I-AUROC"] for r in main.rows()]
    assert all(c.defined for c in free)  # the twin's confound-free subset holds >= 10 defects
    per_category = next(t for t in tables if t.name == "per_category_detection")
    assert per_category.groups[-1].title == "Recipe-matched TEST subset"
