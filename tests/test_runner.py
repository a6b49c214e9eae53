"""The run spine on the tiny synthetic twin: the adapter of docs/adding-a-method.md through
registry and runner, resume after a kill, refusal of a defective TRAIN sample, same seed -> same
numbers, the warm feature cache, and the CLI."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.data.split import ProtocolError
from benchmark.method import METHODS, load_methods
from benchmark.profiles import get_profile
from benchmark.results import store as R
from benchmark.run import runner
from benchmark.run.config import RunConfig
from benchmark.run.runner import LocalExecutor, prepare, run


def _config(twin, cache, out, **kw) -> RunConfig:
    return RunConfig(root=twin, out=out, cache=cache, **kw)


def _scores(folder: Path) -> list[tuple[str, str]]:
    with open(folder / "scores.csv") as f:
        return [(r["id"], r["score"]) for r in csv.DictReader(f)]


@pytest.mark.slow
def test_readme_snippet_runs_through_registry_and_runner(tiny_twin, tiny_cache, tmp_path, readme_method):
    run_dir = run(_config(tiny_twin, tiny_cache, tmp_path / "out", methods=(readme_method,)))
    unit = R.unit_dir(run_dir, readme_method, 0)
    assert R.is_done(run_dir, readme_method, 0)
    metrics = json.loads((unit / "metrics.json").read_text())
    assert 0.0 <= metrics["overall"]["I-AUROC"] <= 1.0
    config = json.loads((unit / "config.json").read_text())
    assert config["group"] == "result-only" and config["features"] == ["image_cls"]
    assert config["selection"]["rule"].startswith("max VAL I-AUROC")
    assert config["selection"]["policy"] == "last" and config["selection"]["val_queries"] == 0
    info = json.loads((run_dir / "run.json").read_text())
    assert info["dataset"]["synthetic"] is True
    assert (run_dir / "manifest_used.csv").exists()
    n_test = info["dataset"]["counts"]["TEST"]
    assert len(_scores(unit)) == n_test


class _Killed(Exception):
    pass


def test_killed_run_resumes_without_redoing_finished_units(tiny_twin, tiny_cache, tmp_path, readme_method,
                                                           monkeypatch):
    config = _config(tiny_twin, tiny_cache, tmp_path / "out", methods=(readme_method,), seeds=(0, 1))
    spec = METHODS.get(readme_method)
    original_fit = spec.cls.fit

    def fit_then_die(self, train, val, ctx):  # the second unit is killed mid-fit
        if ctx.seed == 1:
            raise _Killed()
        return original_fit(self, train, val, ctx)

    monkeypatch.setattr(spec.cls, "fit", fit_then_die)
    with pytest.raises(_Killed):
        run(config)
    run_dir = tmp_path / "out" / f"quick-{tiny_twin.name}"
    assert R.is_done(run_dir, readme_method, 0)
    assert not R.unit_dir(run_dir, readme_method, 1).exists()  # nothing half-written to read
    finished = (R.unit_dir(run_dir, readme_method, 0) / "metrics.json").stat().st_mtime_ns

    monkeypatch.setattr(spec.cls, "fit", original_fit)
    ran = []

    class Recording(LocalExecutor):
        def map(self, plan, units):
            ran.extend(units)
            return super().map(plan, units)

    run(config, Recording())
    assert ran == [(readme_method, 1)]
    assert R.is_done(run_dir, readme_method, 1)
    assert (R.unit_dir(run_dir, readme_method, 0) / "metrics.json").stat().st_mtime_ns == finished
    assert [u.seed for u in R.load_run(run_dir)] == [0, 1]


@pytest.mark.slow
def test_defective_train_sample_is_refused(tiny_twin, tiny_cache, tmp_path, readme_method):
    rows = list(csv.DictReader(open(tiny_twin / "manifest.csv")))
    defect = next(r for r in rows if r["CATEGORY"] != "Good")
    defect["SPLIT"] = "TRAIN"
    manifest = tmp_path / "bad_manifest.csv"
    with open(manifest, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(ProtocolError, match=defect["SUBDIRS"].split("/")[-1]):
        prepare(_config(tiny_twin, tiny_cache, tmp_path / "out", methods=(readme_method,), manifest=manifest))
    cli = subprocess.run([sys.executable, "-m", "benchmark.cli", "run", "--root", str(tiny_twin),
                          "--manifest", str(manifest), "--method", "causal_film",
                          "--out", str(tmp_path / "cli")], capture_output=True, text=True)
    assert cli.returncode == 2
    assert "Traceback" not in cli.stderr and "bench: error:" in cli.stderr


@pytest.mark.slow
def test_same_seed_same_numbers(tiny_twin, tiny_cache, tmp_path):
    first = run(_config(tiny_twin, tiny_cache, tmp_path / "a", methods=("causal_film",), seeds=(3,)))
    second = run(_config(tiny_twin, tiny_cache, tmp_path / "b", methods=("causal_film",), seeds=(3,)))
    other = run(_config(tiny_twin, tiny_cache, tmp_path / "c", methods=("causal_film",), seeds=(4,)))
    a = _scores(R.unit_dir(first, "causal_film", 3))
    assert a == _scores(R.unit_dir(second, "causal_film", 3))
    assert a != _scores(R.unit_dir(other, "causal_film", 4))


@pytest.mark.slow
def test_units_side_by_side_give_the_numbers_of_one_after_another(tiny_twin, tiny_cache, tmp_path, readme_method):
    """Two worker processes give every unit the scores it gets in this process (every job runs
    with the profile's torch threads); the stage table in run.json accounts for the run; a
    method only this process knows runs here."""
    methods = ("causal_film_no_film", "concat_ae_av", "patchcore", "recipe_manifest")
    here = run(_config(tiny_twin, tiny_cache, tmp_path / "here", methods=methods), LocalExecutor(workers=1))
    pool = LocalExecutor(workers=2)
    apart = run(RunConfig(root=tiny_twin, out=tmp_path / "apart", cache=tmp_path / "apart-cache",
                          methods=methods), pool)
    assert pool.workers_used == 2
    for method in methods:
        assert _scores(R.unit_dir(here, method, 0)) == _scores(R.unit_dir(apart, method, 0)), method
    stages = {s["name"]: s for s in json.loads((apart / "run.json").read_text())["stages"]}
    assert stages["units"]["detail"] == "4 units, 2 side by side"
    assert stages["dataset"]["detail"].endswith("welds loaded and screened")
    fits = sum(R.read_json(R.unit_dir(apart, m, 0) / "efficiency.json")["fit_seconds"] for m in methods)
    assert stages["units: fit"]["seconds"] == pytest.approx(fits)
    extractors = json.loads((apart / "run.json").read_text())["features"]["extractors"]
    assert {f"features {name}" for name in extractors} <= set(stages)
    assert all(st["computed"] > 0 for st in extractors.values())  # its own cache, filled side by side

    notebook = LocalExecutor(workers=2)
    run(_config(tiny_twin, tiny_cache, tmp_path / "notebook", methods=(readme_method, "recipe_manifest")), notebook)
    assert notebook.workers_used == 1


def test_how_many_workers(tiny_twin, tiny_cache, tmp_path, monkeypatch):
    import psutil

    load_methods()
    quick, paper = get_profile("quick"), get_profile("paper")
    units = [("concat_ae_av", 0), ("recipe_manifest", 0), ("patchcore", 0)]
    assert LocalExecutor(workers=1).plan_workers(quick, "cpu", units) == 1
    assert LocalExecutor(workers=8).plan_workers(quick, "cpu", units) == 3  # at most one per unit
    # NOTE: the automatic count on a 16-core machine with 64 GiB free (a test worker may be held
    # to one core, see conftest.py)
    monkeypatch.setattr(runner, "available_cores", lambda: 16)
    monkeypatch.setattr(psutil, "virtual_memory", lambda: type("Memory", (), {"available": 64 * 2**30}))
    auto = LocalExecutor(workers=None)
    assert auto.plan_workers(quick, "cuda", units) == 1  # one GPU
    assert auto.plan_workers(quick, "cpu", units) == 3 and auto.plan_workers(quick, "cpu", units[:1]) == 1
    assert auto.plan_workers(quick, "cpu", units * 10) == 16  # one per core (quick: 1 CPU a unit)
    assert auto.plan_workers(quick, "cpu", units[:1], jobs=5) == 5  # extraction jobs, not units
    assert auto.plan_workers(paper, "cpu", units) == 2  # 8 cores a unit
    monkeypatch.setattr(psutil, "virtual_memory", lambda: type("Memory", (), {"available": 7 * 2**30}))
    assert auto.plan_workers(quick, "cpu", units * 10) == 2  # one per 3 GiB free
    from benchmark.run.dryrun import dry_run

    config = _config(tiny_twin, tiny_cache, tmp_path / "out", methods=("concat_ae_av", "recipe_manifest"))
    assert "2 worker processes side by side" in dry_run(config, workers=2).render()
    assert "feature extraction and units: this process" in dry_run(config, workers=1).render()


def test_warm_cache_runs_no_backbone(tiny_twin, tiny_cache, tmp_path, readme_method):
    config = _config(tiny_twin, tiny_cache, tmp_path / "out", methods=(readme_method,))
    prepare(config)
    info = json.loads((prepare(config).run_dir / "run.json").read_text())
    extractors = info["features"]["extractors"]
    assert extractors and all(st["computed"] == 0 and st["cached"] > 0 for st in extractors.values())


def test_unknown_method_gets_a_hint():
    from benchmark.registry import UnknownNameError

    load_methods()
    with pytest.raises(UnknownNameError, match="did you mean causal_film"):
        METHODS.get("causal_flim")


@pytest.mark.slow
def test_cli_list_shows_every_method():
    out = subprocess.run([sys.executable, "-m", "benchmark.cli", "list"], capture_output=True,
                         text=True, check=True).stdout
    built_in = [n for n, spec in load_methods().items() if spec.cls.__module__.startswith("methods.")]
    assert len(built_in) >= 10
    for name in built_in:
        assert name in out


def test_test_is_scored_in_chunks_and_maps_kept_only_when_read():
    """The unit scores TEST a chunk at a time (a method's scoring memory is a chunk's): the
    scores and maps of the whole split in order; the maps are dropped where nothing reads them,
    and the unit still knows the method gives maps."""
    import numpy as np

    from benchmark.method import Inputs, Scores
    from benchmark.run.unit import score_in_chunks

    class Echo:
        calls: list[int] = []

        def score(self, inputs):
            self.calls.append(len(inputs))
            x = np.array([float(v) for v in inputs["x"]])
            return Scores(x, maps=[np.full((1, 2, 2), v) for v in x])

    inputs = Inputs(configs=tuple(range(5)), features={"x": [np.array(float(i)) for i in range(5)]})
    method = Echo()
    out, yields_maps = score_in_chunks(method, inputs, keep_maps=True, chunk=2)
    assert method.calls == [2, 2, 1] and yields_maps
    assert out.sample.tolist() == [0, 1, 2, 3, 4] and [m[0, 0, 0] for m in out.maps] == [0, 1, 2, 3, 4]
    out, yields_maps = score_in_chunks(method, inputs, keep_maps=False, chunk=2)
    assert out.maps is None and yields_maps and out.sample.tolist() == [0, 1, 2, 3, 4]
