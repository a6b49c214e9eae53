"""Feature extraction sharded over a local 2-CPU Ray cluster (`RayExecutor.extract`): every cache
entry is byte for byte the one-process run's, the driver runs no backbone, and the units score
the same. Skips (with the reason) when `ray` is not installed."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark import results as R
from benchmark.plan import RunConfig
from benchmark.runner import run

pytestmark = pytest.mark.ray
METHODS = ("concat_ae_av", "causal_film_result_only")  # video + audio tokens; DINOv2 on pixels


def _cache_files(cache: Path) -> dict[str, bytes]:
    """Every feature entry and settings file (not the cost logs: timings, one file per process)."""
    return {str(p.relative_to(cache)): p.read_bytes() for p in sorted(cache.rglob("*"))
            if p.is_file() and not p.name.startswith((".", "cost-"))}


@pytest.fixture(scope="module")
def runs(tiny_twin, tmp_path_factory):
    pytest.importorskip("ray", reason="the optional Ray extra is not installed (pip install .[ray])")
    import torch

    from benchmark.executors.ray_executor import RayExecutor

    tmp = tmp_path_factory.mktemp("ray-extraction")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # NOTE: as a 1-CPU shard does (float sums follow the thread count)
    try:
        local = run(RunConfig(root=tiny_twin, out=tmp / "local", methods=METHODS))
    finally:
        torch.set_num_threads(threads)
    remote = run(RunConfig(root=tiny_twin, out=tmp / "ray", methods=METHODS), RayExecutor(num_cpus=2))
    return local, remote


def test_sharded_cache_is_the_one_process_cache(runs):
    local, remote = runs
    a = _cache_files(local.parent / ".feature_cache")
    b = _cache_files(remote.parent / ".feature_cache")
    assert len(a) > 100 and a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []


def test_shards_ran_every_backbone_pass(runs):
    local, remote = runs
    here = json.loads((local / "run.json").read_text())["features"]["extractors"]
    sharded = json.loads((remote / "run.json").read_text())["features"]["extractors"]
    for name, stats in sharded.items():
        assert stats["shards"] == 2
        assert stats["computed"] == here[name]["computed"]  # every pass once, in the shards


def test_units_score_the_same(runs):
    local, remote = runs
    for method in METHODS:
        for name in ("scores.csv", "metrics.json"):
            assert (R.unit_dir(remote, method, 0) / name).read_text() == \
                (R.unit_dir(local, method, 0) / name).read_text(), f"{method}/{name}"
