"""Metric regression: the quick profile's seed-0 metrics against tests/golden/quick_metrics.json.

The fast tests check `benchmark.results.golden.compare` on a FIXTURE run with FABRICATED metrics written
with `benchmark.results.store.write_unit` (numbers that belong to no method). The slow test reruns the
quick profile and compares it with the committed goldens.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark.metrics import Undefined
from benchmark.results import golden as G
from benchmark.results import store as R


def fixture_run(root: Path, values: dict[str, float], profile: str = "quick") -> Path:
    """A FIXTURE run: seed-0 units with fabricated I-AUROC / I-AP / per-category values."""
    run_dir = root / "fixture-golden-run"
    for name, v in values.items():
        per_cat = {"Porosity": {"I-AUROC": v - 0.1}, "Undercut": {"I-AUROC": Undefined("only normal samples")}}
        R.write_unit(run_dir, name, 0,
                     metrics={"overall": {"I-AUROC": v, "I-AP": v - 0.05}, "per_category": per_cat},
                     scores=[], config={"method": name, "profile": {"name": profile, "preset": "tiny"},
                                        "dataset_fingerprint": "fixture"},
                     efficiency={}, history={})
    return run_dir


def test_update_then_compare_agrees(tmp_path):
    run = fixture_run(tmp_path / "a", {"m1": 0.8, "m2": 0.6})
    path = tmp_path / "golden.json"
    changes = G.update(run, path, registered=["m1", "m2"])
    assert changes == ["new golden file (2 methods)"]
    data = json.loads(path.read_text())
    assert data["methods"]["m1"]["I-AUROC"] == 0.8
    assert data["methods"]["m1"]["per_category"]["Undercut"] == {"value": None, "reason": "only normal samples"}
    assert data["_meta"]["tolerance"] == G.TOLERANCE
    assert G.compare(run, path, registered=["m1", "m2"]) == []


def test_change_beyond_tolerance_prints_old_and_new(tmp_path):
    path = tmp_path / "golden.json"
    G.update(fixture_run(tmp_path / "a", {"m1": 0.8, "m2": 0.6}), path, registered=["m1", "m2"])
    new = fixture_run(tmp_path / "b", {"m1": 0.8 + G.TOLERANCE / 2, "m2": 0.55})
    diffs = G.compare(new, path, registered=["m1", "m2"])
    assert diffs == [
        "m2 I-AUROC: golden 0.6000, now 0.5500 (|diff| 0.0500 > 0.02)",
        "m2 I-AP: golden 0.5500, now 0.5000 (|diff| 0.0500 > 0.02)",
        "m2 I-AUROC[Porosity]: golden 0.5000, now 0.4500 (|diff| 0.0500 > 0.02)",
    ]
    # update prints every change exactly, then the goldens agree again
    changes = G.update(new, path, registered=["m1", "m2"])
    assert any(c.startswith("m1 I-AUROC: golden 0.8000, now 0.8100") for c in changes)
    assert G.compare(new, path, registered=["m1", "m2"]) == []


def test_missing_and_stale_goldens_fail(tmp_path):
    path = tmp_path / "golden.json"
    G.update(fixture_run(tmp_path / "a", {"m1": 0.8, "old": 0.6}), path, registered=["m1", "old"])
    run = fixture_run(tmp_path / "b", {"m1": 0.8, "new": 0.7})
    diffs = G.compare(run, path, registered=["m1", "new"])
    assert "no golden for new: run bench golden update" in diffs
    assert "golden for old, which is no longer registered: run bench golden update" in diffs
    assert len(diffs) == 2
    assert G.compare(run, tmp_path / "absent.json", registered=["m1"]) == [
        f"no golden file {tmp_path / 'absent.json'}: run bench golden update"]


def test_definedness_change_and_profile(tmp_path):
    path = tmp_path / "golden.json"
    G.update(fixture_run(tmp_path / "a", {"m1": 0.8}), path, registered=["m1"])
    data = json.loads(path.read_text())
    data["methods"]["m1"]["per_category"]["Undercut"] = 0.7
    path.write_text(json.dumps(data))
    diffs = G.compare(fixture_run(tmp_path / "b", {"m1": 0.8}), path, registered=["m1"])
    assert diffs == ["m1 I-AUROC[Undercut]: golden 0.7000, now n/a (only normal samples)"]
    with pytest.raises(ValueError, match="quick profile"):
        G.update(fixture_run(tmp_path / "c", {"m1": 0.8}, profile="paper"), path, registered=["m1"])
    with pytest.raises(ValueError, match="every registered method"):
        G.update(fixture_run(tmp_path / "d", {"m1": 0.8}), path, registered=["m1", "m9"])


def test_an_auroc_of_few_pairs_may_move_by_a_few_swapped_pairs(tmp_path):
    """Like with like, a category of 12 defects meets the 4 normals of its weld type: one swapped
    pair of nearly tied scores (float noise of another CPU) moves its I-AUROC by 1/48 = 0.0208,
    more than 0.02. Up to SWAPS swapped pairs pass; more fail, and the overall value (12 x 19
    pairs) keeps the flat 0.02."""
    def run(folder, category, overall):
        run_dir = tmp_path / folder
        counts = {"normal": 19, "anomalous": 12, "per_category": {"Undercut": 12},
                  "per_category_normal": {"Undercut": 4}}
        R.write_unit(run_dir, "m1", 0, metrics={
            "overall": {"I-AUROC": overall, "I-AP": 0.9}, "per_category": {"Undercut": {"I-AUROC": category}},
            "counts": counts}, scores=[], efficiency={}, history={},
            config={"method": "m1", "profile": {"name": "quick", "preset": "tiny"}, "dataset_fingerprint": "f"})
        return run_dir

    path = tmp_path / "golden.json"
    G.update(run("a", 0.75, 0.80), path, registered=["m1"])
    assert G.compare(run("b", 0.75 + G.SWAPS / 48 - 1e-9, 0.80 + 0.019), path, registered=["m1"]) == []
    assert G.compare(run("c", 0.75 + (G.SWAPS + 1) / 48, 0.80 + 0.021), path, registered=["m1"]) == [
        "m1 I-AUROC: golden 0.8000, now 0.8210 (|diff| 0.0210 > 0.02)",
        "m1 I-AUROC[Undercut]: golden 0.7500, now 0.8542 (|diff| 0.1042 > 0.08333)"]


# ---------------------------------------------------------------------------- the real rerun
@pytest.mark.slow
def test_quick_profile_matches_goldens(quick_run):
    diffs = G.compare(quick_run, G.GOLDEN_PATH)
    assert not diffs, (f"quick-profile metrics differ from {G.GOLDEN_PATH} (tolerance "
                       f"{G.TOLERANCE}, or {G.SWAPS} swapped pairs); if the change is intended, run `bench golden update` and "
                       "commit the file:\n  " + "\n  ".join(diffs))
