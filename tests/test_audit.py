"""The label-guard leakage audit (`bench audit`): the chance rule on hand-made scores, and the
audit's structure on the tiny twin (labels visible). The leak size is not asserted on the tiny
twin: 8 anomalies per category are far too few."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.data.sample import CATEGORIES
from benchmark.results import audit as A


# ---------------------------------------------------------------------------- the chance rule
def test_chance_verdict_separated_scores_are_not_at_chance():
    labels = [0] * 20 + [1] * 20
    v = A.chance_verdict(labels, list(range(40)), n_boot=300)
    assert v["auroc"] == pytest.approx(1.0)
    assert v["distance"] == pytest.approx(0.5)
    assert v["ci95"][0] > 0.5 and v["at_chance"] is False
    assert v["distance_ci95"] == pytest.approx([v["ci95"][0] - 0.5, v["ci95"][1] - 0.5])


def test_chance_verdict_uses_the_interval_not_a_threshold():
    rng = np.random.default_rng(0)
    labels = [0] * 20 + [1] * 8
    # same distribution, but an AUROC far from 0.5 by chance on 8 anomalies: the interval decides
    for seed in range(50):
        scores = np.random.default_rng(seed).normal(size=28)
        v = A.chance_verdict(labels, scores, n_boot=300)
        if abs(v["auroc"] - 0.5) > 0.15:
            break
    assert abs(v["auroc"] - 0.5) > 0.15
    assert v["at_chance"] is True and v["ci95"][0] <= 0.5 <= v["ci95"][1]
    # clearly lower scores for anomalies: below chance is also "not at chance"
    low = A.chance_verdict([0] * 20 + [1] * 20, np.r_[rng.normal(5, 1, 20), rng.normal(0, 1, 20)],
                           n_boot=300)
    assert low["ci95"][1] < 0.5 and low["at_chance"] is False


def test_chance_verdict_undefined_with_too_few_anomalies():
    v = A.chance_verdict([0, 0, 0, 1], [0.1, 0.2, 0.3, 0.9], n_boot=100)
    assert v["at_chance"] is None and v["ci95"] is None and v["reason"]


def test_verdict_line():
    at = {"at_chance": True, "auroc": 0.55, "ci95": [0.3, 0.8]}
    off = {"at_chance": False, "auroc": 0.95, "ci95": [0.85, 1.0]}
    ok, text = A.verdict_line("m", {"Porosity": at, "Lack_of_Fusion": at}, "on")
    assert ok is True and text == "m, guard on: invisible categories at chance (CI contains 0.5)"
    ok, text = A.verdict_line("m", {"Porosity": at, "Lack_of_Fusion": off}, "off")
    assert ok is False and "NOT at chance" in text and "Lack_of_Fusion" in text
    assert "Porosity" not in text
    ok, text = A.verdict_line("m", {"Porosity": at, "Lack_of_Fusion": {"at_chance": None}}, "on")
    assert ok is None and "no interval for: Lack_of_Fusion" in text


def test_subset_takes_good_and_one_category():
    rows = [{"category": c, "label": int(c != "Good"), "score": str(i)}
            for i, c in enumerate(["Good", "Porosity", "Good", "Warping", "Porosity"])]
    y, s, _ = A.subset(rows, "Porosity")
    assert y.tolist() == [0, 1, 0, 1] and s.tolist() == [0.0, 1.0, 2.0, 4.0]


def test_subset_keeps_the_good_welds_of_the_categorys_weld_type():
    rows = [{"category": c, "label": int(c != "Good"), "score": str(i), "weld_type": t}
            for i, (c, t) in enumerate([("Good", "FILLET"), ("Porosity", "NON_FILLET"),
                                        ("Good", "NON_FILLET"), ("Porosity", "NON_FILLET")])]
    y, s, types = A.subset(rows, "Porosity")
    assert y.tolist() == [1, 0, 1] and s.tolist() == [1.0, 2.0, 3.0] and set(types) == {"NON_FILLET"}


# ---------------------------------------------------------------------------- the audit
@pytest.fixture(scope="module")
def tiny_audit(tiny_twin, tmp_path_factory):
    out = tmp_path_factory.mktemp("audit")
    config = A.AuditConfig(methods=("patchcore",), root=tiny_twin, out=out, n_boot=200)
    return A.audit(config), out


@pytest.mark.slow
def test_audit_table_has_every_category_and_both_settings(tiny_audit, tiny_twin):
    report, out = tiny_audit
    assert report["dataset"]["labels_visible"] is True and report["dataset"]["twin_seed"] == 0
    assert set(report["results"]) == {"patchcore/seed0", f"{A.PROBE}/seed0"}
    # like with like: a category is compared with the TEST normals of its weld type, and the tiny
    # twin's TEST split holds no fillet normal, so the fillet-only categories have no value there
    # (the probe's rows carry no weld type: every normal)
    rows = json.loads((Path(report["runs"]["on"]["run_dir"]) / "run.json").read_text())
    test = pd.read_csv(Path(report["runs"]["on"]["run_dir"]) / "manifest_used.csv").query("SPLIT == 'TEST'")
    normal_types = set(test.loc[test.CATEGORY == "Good", "WELD_TYPE"])
    no_normals = {c for c, part in test.groupby("CATEGORY") if not set(part.WELD_TYPE) & normal_types}
    assert rows["units"] and {"Undercut", "Overlap", "Excessive_Convexity", "Crater_Cracks"} <= no_normals
    for name, res in report["results"].items():
        assert set(res["per_category"]) == set(CATEGORIES.values()) - {"Good"}
        for c, entry in res["per_category"].items():
            if name.startswith("patchcore") and c in no_normals:
                assert entry["off"] is None and entry["on"] is None, c
                continue
            assert entry["off"] is not None and entry["on"] is not None
            assert entry["difference"] == pytest.approx(entry["off"] - entry["on"])
        for setting in ("off", "on"):
            assert set(res["invisible"][setting]) == set(A.INVISIBLE)
            for v in res["invisible"][setting].values():
                assert {"auroc", "ci95", "distance", "distance_ci95", "at_chance"} <= set(v)
            assert res["verdict"][setting]["text"].startswith(f"{res['method']}, guard {setting}:")
    md = (out / "audit.md").read_text()
    assert all(c in md for c in CATEGORIES.values() if c != "Good")
    assert "guard off I-AUROC" in md and "guard on I-AUROC" in md


@pytest.mark.slow
def test_audit_runs_differ_in_guard_and_feature_cache_key(tiny_audit):
    from benchmark.results.store import load_run

    report, _ = tiny_audit
    runs = report["runs"]
    assert runs["off"]["label_guard"] is False and runs["on"]["label_guard"] is True
    assert runs["off"]["feature_cache"]["pixels"] != runs["on"]["feature_cache"]["pixels"]
    for setting, guard in (("off", False), ("on", True)):
        (unit,) = load_run(runs[setting]["run_dir"])
        assert unit.config["run"]["label_guard"] is guard
        assert unit.config["feature_options"]["label_guard"] is guard
        assert unit.config["run"]["run"] == f"audit-guard-{setting}"


@pytest.mark.slow
def test_audit_json_is_complete(tiny_audit):
    report, out = tiny_audit
    saved = json.loads((out / "audit.json").read_text())
    assert saved == json.loads(json.dumps(report))
    for key in ("dataset", "profile", "methods", "seeds", "invisible_categories", "chance_rule",
                "runs", "results", "seconds"):
        assert key in saved


def test_cli_parser():
    from benchmark.cli import audit as audit_cli

    p = argparse.ArgumentParser()
    audit_cli.add_parser(p.add_subparsers(dest="command"))
    args = p.parse_args(["audit"])
    assert args.func is audit_cli.command and args.method is None and args.seeds == (0,)
    args = p.parse_args(["audit", "--method", "patchcore", "dinomaly,causal_film_result_only",
                         "--seeds", "0,1"])
    assert [m for g in args.method for m in g] == ["patchcore", "dinomaly", "causal_film_result_only"]
    assert args.seeds == (0, 1)
