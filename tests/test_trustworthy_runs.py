"""Trustworthy runs (issue 23), each fault reproduced: one writer per run folder (a second run
refused naming the holder, a dead holder's lock taken over); a unit counts only when whole (a
truncated metrics.json or a short scores.csv named by every reader and redone by the next run);
a feature cache that heals; inputs checked in the run; fingerprints that cover the code that
shapes a score and no reader.

Runs use the shortcut floors that read no media (`recipe_manifest`, `session_manifest`): a run
of the tiny twin takes a second or two."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from benchmark.cli import main as bench
from benchmark.data.loader import load_dataset
from benchmark.features.cache import FeatureStore
from benchmark.profiles import get_profile
from benchmark.results import store as R
from benchmark.results.tables import build_tables
from benchmark.run import fingerprint as F
from benchmark.run.config import RunConfig
from benchmark.run.lock import LOCK_NAME, RunLock, RunLockedError
from benchmark.run.plan import plan_run, results_folder
from benchmark.run.runner import run

FLOORS = ("recipe_manifest", "session_manifest")


@pytest.fixture(scope="module")
def floor_config(tiny_twin, tmp_path_factory) -> RunConfig:
    return RunConfig(methods=FLOORS, root=tiny_twin, out=tmp_path_factory.mktemp("trust"), run="r")


@pytest.fixture(scope="module")
def floor_run(floor_config) -> Path:
    return run(floor_config)


def copy_run(run_dir: Path, out: Path) -> Path:
    shutil.copytree(run_dir, out / run_dir.name)
    return out / run_dir.name


# ---------------------------------------------------------------------------- one writer
def test_a_second_run_into_a_folder_stops_naming_the_holder(floor_config, tmp_path):
    config = dataclasses.replace(floor_config, out=tmp_path)
    with RunLock(results_folder(config)):
        with pytest.raises(RunLockedError, match=f"host {socket.gethostname()}, PID {os.getpid()}"):
            run(config)
    assert not (results_folder(config) / "run.json").exists()  # refused before writing anything


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK_NAME).write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid}))
    with RunLock(tmp_path):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert not (tmp_path / LOCK_NAME).exists()


# ---------------------------------------------------------------------------- done means whole
def truncate_metrics(run_dir: Path) -> Path:
    path = run_dir / "recipe_manifest" / "seed0" / "metrics.json"
    path.write_bytes(path.read_bytes()[:300])
    return path


def shorten_scores(run_dir: Path) -> Path:
    path = run_dir / "recipe_manifest" / "seed0" / "scores.csv"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:20]))
    return path


FAULTS = {"truncated metrics.json": truncate_metrics, "short scores.csv": shorten_scores}
READERS = {"show": ["show", "{run}"], "show --ci": ["show", "--ci", "{run}"],
           "table": ["table", "{run}", "--out", "{tmp}/t.tex"], "runs": ["runs", "--out", "{tmp}"],
           "compare": ["compare", "{run}", *FLOORS], "report": ["report", "{run}", "--html", "{tmp}/html"],
           "plot": ["plot", "{run}"]}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("fault", FAULTS)
def test_every_reader_names_a_bad_file(floor_run, tmp_path, capsys, caplog, fault, reader):
    run_dir = copy_run(floor_run, tmp_path)
    bad = FAULTS[fault](run_dir)
    argv = [a.format(run=run_dir, tmp=tmp_path) for a in READERS[reader]]
    with caplog.at_level(logging.WARNING, "bench"):
        code = bench(argv)
    said = capsys.readouterr().err + caplog.text
    assert f"{bad}: changed since the unit was written" in said
    assert "Traceback" not in said
    assert code == (0 if reader == "runs" else 2)  # `bench runs` names it and lists the others


def test_scores_of_other_test_samples_are_refused(floor_run, tmp_path):
    run_dir = copy_run(floor_run, tmp_path)
    unit = R.load_run(run_dir)[0]
    n = len(unit.scores())
    R.write_unit(run_dir, unit.method, unit.seed, metrics=unit.metrics, scores=unit.scores()[:-1],
                 config=unit.config, efficiency=unit.efficiency, history={})
    with pytest.raises(R.BadResultError, match=f"scores {n - 1} TEST samples, not the {n} TEST samples"):
        R.load_run(run_dir)


@pytest.mark.parametrize("fault", FAULTS)
def test_a_bad_unit_is_named_and_redone_by_the_next_run(floor_config, floor_run, tmp_path, caplog, fault):
    run_dir = copy_run(floor_run, tmp_path)
    bad = FAULTS[fault](run_dir)
    with caplog.at_level(logging.WARNING, "bench"):
        run(dataclasses.replace(floor_config, out=tmp_path))
    assert f"{bad}: changed since the unit was written" in caplog.text and "redone" in caplog.text
    assert [u.method for u in R.load_run(run_dir)] == sorted(FLOORS)


def test_an_incomplete_run_says_so_in_every_caption(floor_run, tmp_path):
    run_dir = copy_run(floor_run, tmp_path)
    info = json.loads((run_dir / "run.json").read_text())
    info["units"] += [f"{m}/seed1" for m in FLOORS]  # planned, never finished
    (run_dir / "run.json").write_text(json.dumps(info))
    _, tables = build_tables(run_dir)
    assert all("INCOMPLETE RUN: 2 of 4 planned units missing" in t.caption for t in tables)


def test_a_run_without_run_json_says_its_plan_is_unknown(floor_run, tmp_path):
    """Without run.json a deleted unit cannot be told from one never planned: the captions say
    that the plan is unknown and how many units the tables show."""
    run_dir = copy_run(floor_run, tmp_path)
    (run_dir / "run.json").unlink()
    shutil.rmtree(R.load_run(run_dir)[0].folder)
    _, tables = build_tables(run_dir)
    assert all("NO run.json: split and planned units unknown, units shown: 1." in t.caption for t in tables)


# ---------------------------------------------------------------------------- a cache that heals
def damage(path: Path, kind: str) -> None:
    if kind == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    elif kind == "garbage":
        path.write_bytes(np.random.default_rng(0).bytes(4000))
    elif kind == "zero-byte":
        path.write_bytes(b"")
    else:
        with np.load(path) as z:
            arrays = {k: z[k].copy() for k in z.files}
        arrays["sensor"].flat[0] = np.nan
        np.savez(path, **arrays)


@pytest.mark.parametrize("kind", ["truncated", "garbage", "zero-byte", "NaN"])
def test_a_bad_cache_entry_is_named_deleted_and_recomputed(tiny_twin, tmp_path, caplog, kind):
    samples = load_dataset(tiny_twin).samples[:3]
    first = FeatureStore(tmp_path, get_profile("quick")).get(samples, ("sensor",))["sensor"]
    entry = next(tmp_path.glob(f"sensor/*/{samples[0].id}-*.npz"))
    damage(entry, kind)
    store = FeatureStore(tmp_path, get_profile("quick"))
    # NOTE: the dry run reads archives' indexes only, so a NaN is found by the run itself
    assert store.cached(samples, ("sensor",))["sensor"] == ((3, 0) if kind == "NaN" else (2, 1))
    with caplog.at_level(logging.WARNING, "bench"):
        again = store.get(samples, ("sensor",))["sensor"]
    assert f"{entry}: bad feature-cache entry" in caplog.text
    assert store.stats["sensor"].computed == 1 and store.stats["sensor"].cached == 2
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------- inputs checked
@pytest.fixture(scope="module")
def damaged_twin(tiny_twin, tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    """A part of the tiny twin (a few samples of each split, for speed) with a 2-row sensor log
    and a FLAC cut to 1.2 s (two TEST samples), an empty sample folder and a folder whose name
    is no run id."""
    root = tmp_path_factory.mktemp("damaged") / "twin"
    manifest = pd.read_csv(tiny_twin / "manifest.csv")
    test = manifest[manifest.SPLIT == "TEST"]
    defects, normals = test[test.CATEGORY != "Good"][:5], test[test.CATEGORY == "Good"][:5]
    part = pd.concat([manifest[manifest.SPLIT == "TRAIN"][:12], manifest[manifest.SPLIT == "VAL"][:4],
                      defects, normals])
    for subdir in part.SUBDIRS:
        shutil.copytree(tiny_twin / subdir, root / subdir)
    part.to_csv(root / "manifest.csv", index=False)
    a, b, c = (root / s for s in defects.SUBDIRS[:3])
    sensor, audio = a / f"{a.name}.csv", b / f"{b.name}.flac"
    sensor.write_text("".join(sensor.read_text().splitlines(keepends=True)[:3]))
    wave, rate = sf.read(audio)
    sf.write(audio, wave[: int(1.2 * rate)], rate, format="FLAC")
    for f in c.rglob("*"):
        if f.is_file():
            f.unlink()
    (c.parent / "not-a-run-id").mkdir()
    return root, {"sensor": sensor, "audio": audio, "empty": c, "unlisted": c.parent / "not-a-run-id"}


def test_short_inputs_are_excluded_and_named_on_screen_and_in_the_caption(damaged_twin, tmp_path, caplog):
    root, bad = damaged_twin
    config = RunConfig(methods=("recipe_sensors", "session_probe_audio"), root=root, out=tmp_path,
                       cache=tmp_path / "cache")
    with caplog.at_level(logging.WARNING, "bench"):
        run_dir = run(config)
    shown = caplog.text
    assert "excluded 4 samples, for every method" in shown
    assert f"{bad['sensor']}: short recording: sensor " in shown
    assert f"{bad['audio']}: short recording: audio 1.2 s" in shown
    assert str(bad["empty"]) in shown and str(bad["unlisted"]) in shown
    info = json.loads((run_dir / "run.json").read_text())["dataset"]
    assert info["n_excluded"] == 4
    _, tables = build_tables(run_dir)
    assert "4 samples excluded for every method (short recording: 2" in tables[0].caption


def test_the_check_and_the_run_flag_the_same_short_recordings(damaged_twin):
    from benchmark.data.check import SHORT_RECORDING, check_dataset

    root, bad = damaged_twin
    report = check_dataset(root, require=("audio", "sensor"), decode_media=True)
    flagged = {p.file for p in report.problems if p.kind == SHORT_RECORDING}
    assert {str(bad["sensor"]), str(bad["audio"])} <= flagged


# ---------------------------------------------------------------------------- fingerprints
def test_the_fingerprint_covers_the_code_that_shapes_scores_and_no_reader():
    files = set(F.code_digests(F.SHARED_ROOTS))
    assert {"benchmark/run/runner.py", "benchmark/metrics/image.py", "benchmark/features/extractors.py",
            "benchmark/data/decode.py", "benchmark/method.py"} <= files
    readers = ("benchmark/results/tables/", "benchmark/cli/", "benchmark/results/plots.py",
               "benchmark/results/compare.py", "benchmark/results/report.py",
               "benchmark/results/leaderboard.py", "benchmark/run/dryrun.py", "tests/")
    assert not [f for f in files if f.startswith(readers)]


def test_a_comment_in_a_reader_keeps_the_run_valid_an_edit_to_a_metric_marks_it_stale(tmp_path):
    suite = tmp_path / "suite"
    for package in F.PACKAGES:
        shutil.copytree(F.SUITE / package, suite / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    before = F.code_digests(F.SHARED_ROOTS, suite)
    with open(suite / "benchmark/results/tables/render.py", "a") as f:
        f.write("# a comment\n")
    assert F.code_digests(F.SHARED_ROOTS, suite) == before
    with open(suite / "benchmark/metrics/image.py", "a") as f:
        f.write("# an edit\n")
    after = F.code_digests(F.SHARED_ROOTS, suite)
    assert [k for k in after if after[k] != before[k]] == ["benchmark/metrics/image.py"]


def test_an_edit_to_a_metric_names_the_file_in_the_stale_units(floor_config, floor_run, monkeypatch):
    plan, _ = plan_run(floor_config)
    assert F.stale_units(plan) == {}
    digest = F._file_digest
    monkeypatch.setattr(F, "_file_digest", lambda p: "edited" if p.name == "image.py" else digest(p))
    F._cached_digests.cache_clear()
    try:
        stale = F.stale_units(plan)
    finally:
        F._cached_digests.cache_clear()
    assert set(stale) == {(m, 0) for m in FLOORS}
    assert "suite.code.benchmark/metrics/image.py" in F.describe_stale(stale)


# ---------------------------------------------------------------------------- no silent split, runs that finish
def _part_of(tiny_twin: Path, root: Path, without_split: bool = False) -> pd.DataFrame:
    """A copy of part of the tiny twin (every split, for speed); without_split drops SPLIT."""
    manifest = pd.read_csv(tiny_twin / "manifest.csv")
    test = manifest[manifest.SPLIT == "TEST"]
    part = pd.concat([manifest[manifest.SPLIT == "TRAIN"][:12], manifest[manifest.SPLIT == "VAL"][:8],
                      test[test.CATEGORY == "Good"][:6], test[test.CATEGORY != "Good"][:6]])
    for subdir in part.SUBDIRS:
        shutil.copytree(tiny_twin / subdir, root / subdir)
    (part.drop(columns="SPLIT") if without_split else part).to_csv(root / "manifest.csv", index=False)
    return part


def test_a_derived_split_is_said_on_screen_in_run_json_in_captions_and_by_the_check(tiny_twin, tmp_path, caplog):
    from benchmark.data.check import check_dataset

    root = tmp_path / "twin"
    _part_of(tiny_twin, root, without_split=True)
    with caplog.at_level(logging.INFO, "bench"):
        run_dir = run(RunConfig(methods=FLOORS, root=root, out=tmp_path, run="derived", split_seed=3))
    assert f"split: DERIVED from --split-seed 3: {root / 'manifest.csv'} has no SPLIT column" in caplog.text
    assert json.loads((run_dir / "run.json").read_text())["dataset"]["split"] == {"source": "derived", "seed": 3}
    _, tables = build_tables(run_dir)
    assert all("split DERIVED from seed 3 (the manifest has no SPLIT)" in t.caption for t in tables)
    report = check_dataset(root, decode_media=False)
    assert report.split_source == "derived" and report.to_json()["split_source"] == "derived"
    assert "has no SPLIT column" in report.summary_table()


def test_a_manifest_row_without_its_folder_gives_a_run_that_finishes_twice(tiny_twin, tmp_path):
    root = tmp_path / "twin"
    part = _part_of(tiny_twin, root)
    gone = part[(part.SPLIT == "TEST") & (part.CATEGORY != "Good")].iloc[0]
    shutil.rmtree(root / gone.DIRECTORY)  # the whole configuration folder of a TEST defect
    config = RunConfig(methods=FLOORS, root=root, out=tmp_path, run="missing")
    for _ in range(2):  # the rerun judges the units against the same post-exclusion TEST set
        run_dir = run(config)
        assert {u.method for u in R.load_run(run_dir)} == set(FLOORS)
    info = json.loads((run_dir / "run.json").read_text())["dataset"]
    assert info["split"] == {"source": "manifest", "seed": None}
    assert gone.SUBDIRS.split("/")[-1] in {e["id"] for e in info["excluded"]}
    assert bench(["table", str(run_dir), "--out", str(tmp_path / "tables" / "main.tex")]) == 0
