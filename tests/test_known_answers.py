"""`benchmark.results.known_answers` and `bench known-answers` on FABRICATED runs: a run folder written with
`benchmark.results.store.write_unit` whose scores are built so that the answer is known (a method that
scores each defect by whether its media show the category, plus noise)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from benchmark.cli import main
from benchmark.data.sample import CATEGORY_CODES
from benchmark.results import known_answers as K
from benchmark.results import store as R
from benchmark.run.plan import SYNTHETIC_MARKER


def test_expectations_follow_the_twins_visibility_table():
    image = K.expectations(["image"])
    assert image["Undercut"] and image["Burnthrough"] and not image["Porosity"] and not image["Lack_of_Fusion"]
    process = K.expectations(["video", "audio"])
    assert process["Lack_of_Fusion"] and process["Porosity"] and not process["Undercut"]
    assert "Process_Result_Mismatch" not in image and "Good" not in image  # shown by no single medium


def _fabricated_run(tmp_path, confounds: str = "none", seeds=(0, 1)):
    """Every defect category x 2 weld types x 3 folders x 4 welds, and 6 folders of 8 Good welds per
    weld type. The 'image_seer' scores a defect 2 above the normals when the photos show its
    category, else like a normal."""
    root = tmp_path / "twin"
    root.mkdir()
    (root / SYNTHETIC_MARKER).write_text(json.dumps({"confounds": confounds}))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    R.write_run_info(run_dir, {"dataset": {"root": str(root), "synthetic": True}})
    shows = K.expectations(["image"])
    rows = []
    for t in ("FILLET", "NON_FILLET"):
        rows += [("Good", t, f"good-{t}-{f}") for f in range(6) for _ in range(8)]
        rows += [(c, t, f"{c}-{t}-{f}") for c in CATEGORY_CODES if c != "Good" for f in range(3) for _ in range(4)]
    for seed in seeds:
        rng = np.random.default_rng(seed)
        scores = [{"id": f"s{i:04d}", "split": "TEST", "category": c, "label": int(c != "Good"),
                   "config": t, "weld_type": t, "folder": folder,
                   "score": float(rng.normal(0, 0.3) + 2.0 * (c != "Good" and shows.get(c, False)))}
                  for i, (c, t, folder) in enumerate(rows)]
        R.write_unit(run_dir, "image_seer", seed, metrics={"overall": {}}, scores=scores,
                     config={"method": "image_seer", "seed": seed, "modalities": ["image"]},
                     efficiency={}, history={})
    return run_dir


def test_visible_categories_are_detected_and_invisible_ones_at_chance(tmp_path):
    answer = K.check_run(_fabricated_run(tmp_path), n_boot=300)[0]
    assert answer.seeds == [0, 1] and answer.modalities == ["image"]
    by_category = {v.category: v for v in answer.verdicts}
    assert by_category["Undercut"].verdict == "detected" and by_category["Undercut"].visible
    assert by_category["Porosity"].verdict == "at chance" and not by_category["Porosity"].visible
    assert all(v.as_expected for v in answer.verdicts), K.render([answer])
    assert answer.mean(True) > 0.95 and 0.35 < answer.mean(False) < 0.65
    assert by_category["Undercut"].n_normal == 96  # both weld types' normals: Undercut is on both here
    seen, unseen = answer.pooled[True], answer.pooled[False]
    assert seen.verdict == "detected" and unseen.verdict == "at chance"
    # each side pools its categories' defects: 3 folders x 4 welds x 2 weld types per category
    assert seen.n_anomalous == 24 * sum(K.expectations(["image"]).values()) and unseen.n_normal == 96


def test_bench_known_answers_prints_and_writes_json(tmp_path, capsys):
    run_dir = _fabricated_run(tmp_path, seeds=(0,))
    out = tmp_path / "answers.json"
    assert main(["known-answers", str(run_dir), "--n-boot", "200", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "image_seer (image; seeds 0)" in text and "detected" in text and "at chance" in text
    saved = json.loads(out.read_text())
    assert saved[0]["method"] == "image_seer" and saved[0]["mean_visible"] > 0.95
    assert saved[0]["pooled_invisible"]["verdict"] == "at chance" and "all visible (pooled)" in text


def test_bench_known_answers_refuses_a_twin_with_confounds(tmp_path, capsys):
    run_dir = _fabricated_run(tmp_path, confounds="real", seeds=(0,))
    assert main(["known-answers", str(run_dir)]) == 2
    assert "confound-free synthetic twin (its dataset: real)" in capsys.readouterr().out
