"""The Ray executor: two methods x two seeds on a local 2-CPU Ray cluster give exactly the local
executor's metrics and scores, a second run reruns nothing, a worker that cannot see the feature
cache fails its unit with a clear message, and units ask for the profile's resources. Feature
extraction sharded over the cluster (`RayExecutor.extract`, the same Ray run): every cache entry
is byte for byte the one-process run's and every backbone pass runs once, in the shards.

Deselect with `-m "not ray"`; the Ray tests skip (with the reason) when `ray` is not installed."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from benchmark.method import load_methods
from benchmark.profiles import get_profile
from benchmark.results import store as R
from benchmark.run.config import RunConfig
from benchmark.run.runner import prepare, run

METHODS = ("concat_ae_av", "causal_film_result_only")  # cheap: one process-only, one result-only
SEEDS = (0, 1)


def _ray_executor():
    pytest.importorskip("ray", reason="the optional Ray extra is not installed (pip install .[ray])")
    from benchmark.run.executors.ray_executor import RayExecutor

    return RayExecutor(num_cpus=2)


def _unit_files(run_dir: Path) -> dict[str, str]:
    out = {}
    for method in METHODS:
        for seed in SEEDS:
            folder = R.unit_dir(run_dir, method, seed)
            for name in ("metrics.json", "scores.csv"):
                out[f"{method}/seed{seed}/{name}"] = (folder / name).read_text()
    return out


@pytest.fixture(scope="module")
def both_runs(tiny_twin, tmp_path_factory):
    """The same two methods x two seeds, run by the local executor and by a 2-CPU Ray cluster into
    separate out folders (and so separate feature caches, the Ray one filled by its shards): the
    runs share only the dataset."""
    executor = _ray_executor()
    import torch

    from benchmark.run.executors.ray_executor import UnitResources

    tmp = tmp_path_factory.mktemp("ray-vs-local")
    # NOTE: a unit's float32 sums depend on torch's intra-op thread count (reduction order, ~1e-7),
    # and a quick Ray unit or extraction shard runs on the 1 CPU it reserves; the local run uses
    # as many threads.
    threads = torch.get_num_threads()
    torch.set_num_threads(UnitResources(cpus=1).threads)
    try:
        local_dir = run(RunConfig(root=tiny_twin, out=tmp / "local", methods=METHODS, seeds=SEEDS))
    finally:
        torch.set_num_threads(threads)
    ray_config = RunConfig(root=tiny_twin, out=tmp / "ray", methods=METHODS, seeds=SEEDS)
    return local_dir, run(ray_config, executor), ray_config, executor


def _extraction_log(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())["features"]["extractors"]


@pytest.fixture(scope="module")
def first_extraction(both_runs) -> tuple[dict, dict]:
    """Each run's extraction log as its first pass wrote it (the rerun test runs the Ray run
    again, which rewrites its run.json: nothing computed then)."""
    return _extraction_log(both_runs[0]), _extraction_log(both_runs[1])


@pytest.mark.ray
def test_ray_metrics_identical_to_local(both_runs):
    local_dir, ray_dir, _, _ = both_runs
    assert local_dir.name == ray_dir.name  # same results/<run>/ layout
    local, remote = _unit_files(local_dir), _unit_files(ray_dir)
    assert len(local) == 2 * len(METHODS) * len(SEEDS)
    for key in local:
        assert remote[key] == local[key], f"{key} differs between the local and the Ray executor"
    assert [(u.method, u.seed) for u in R.load_run(ray_dir)] == \
        [(u.method, u.seed) for u in R.load_run(local_dir)]
    metrics = json.loads((ray_dir / "concat_ae_av/seed0/metrics.json").read_text())
    assert 0.0 <= metrics["overall"]["I-AUROC"] <= 1.0


@pytest.mark.ray
def test_ray_never_reruns_finished_units(both_runs, first_extraction):  # read before the rerun
    _, ray_dir, ray_config, executor = both_runs
    stamps = {p: p.stat().st_mtime_ns for p in ray_dir.glob("*/seed*/metrics.json")}
    assert len(stamps) == len(METHODS) * len(SEEDS)
    run(ray_config, executor)
    assert {p: p.stat().st_mtime_ns for p in ray_dir.glob("*/seed*/metrics.json")} == stamps


@pytest.mark.ray
def test_ray_reports_every_failed_unit(both_runs, tmp_path):
    _, _, ray_config, executor = both_runs
    from benchmark.run.executors.ray_executor import UnitsFailed

    # A new run name in the same out folder: the warm feature cache, units not done yet.
    plan = prepare(dataclasses.replace(ray_config, run="broken", methods=METHODS[:1]))
    # A cache folder the workers cannot see stands for a node without the shared filesystem.
    broken = dataclasses.replace(plan, config=dataclasses.replace(plan.config, cache=tmp_path / "nowhere"))
    with pytest.raises(UnitsFailed) as info:
        executor.map(broken, plan.units)
    assert set(info.value.failures) == set(plan.units)
    message = str(info.value)
    assert "concat_ae_av/seed0" in message and "concat_ae_av/seed1" in message
    assert "not visible on node" in message
    assert not any(R.is_done(plan.run_dir, *u) for u in plan.units)


def test_unit_resources_follow_profile_device_and_method():
    from benchmark.run.executors.ray_executor import UnitResources, unit_resources

    spec = load_methods().get("concat_ae_av")
    quick, paper = get_profile("quick"), get_profile("paper")
    assert unit_resources(spec, quick) == UnitResources(cpus=1, gpus=0)
    assert unit_resources(spec, paper, "cuda") == UnitResources(cpus=8, gpus=1)
    assert unit_resources(spec, paper, "cpu").gpus == 0  # a CPU run never waits for a GPU
    assert unit_resources(spec, quick, "cuda").gpus == 1  # a CUDA unit always owns one

    class Declared:  # a method that declares its own needs (a future MethodSpec.resources)
        resources = {"paper": {"cpus": 16, "gpus": 1, "memory_gb": 96}}

    res = unit_resources(Declared(), paper, "cuda")
    assert res == UnitResources(cpus=16, gpus=1, memory_gb=96)
    assert res.options() == {"num_cpus": 16, "num_gpus": 1, "memory": 96 * 2**30}
    assert unit_resources(Declared(), quick) == UnitResources(cpus=1)


# ---------------------------------------------------------------------------- sharded extraction
def _cache_files(cache: Path) -> dict[str, bytes]:
    """Every feature entry and settings file (not the cost logs: timings, one file per process)."""
    return {str(p.relative_to(cache)): p.read_bytes() for p in sorted(cache.rglob("*"))
            if p.is_file() and not p.name.startswith((".", "cost-"))}


@pytest.mark.ray
def test_sharded_cache_is_the_one_process_cache(both_runs):
    local, remote, _, _ = both_runs
    a = _cache_files(local.parent / ".feature_cache")
    b = _cache_files(remote.parent / ".feature_cache")
    assert len(a) > 100 and a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []


@pytest.mark.ray
def test_shards_ran_every_backbone_pass(first_extraction):
    here, sharded = first_extraction
    for name, stats in sharded.items():
        assert stats["shards"] == 2
        assert stats["computed"] == here[name]["computed"]  # every pass once, in the shards
