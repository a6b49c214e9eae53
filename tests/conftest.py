"""Shared fixtures: a tiny synthetic twin for fast runner tests, the README's adapter registered
as written, one quick-profile run of every registered method on the default twin (Weld-4M's
recipe structure; slow tests share it: goldens, contracts, recipe shortcut), and one quick-profile
run of the one-sided methods and Causal-FiLM on the confound-free twin (modality leakage,
chain-breakers)."""
from __future__ import annotations

import functools
import json
import os
import re
import sys
import types
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test may reach a model hub
ROOT = Path(__file__).resolve().parents[1]

if os.environ.get("PYTEST_XDIST_WORKER"):
    import torch

    # NOTE: `make test` runs one pytest worker per core: a second torch thread in each would only
    # oversubscribe the cores, where OpenMP's spinning threads slow every worker down
    torch.set_num_threads(1)

VAL_READS = "val_label_reads.json"  # written next to the quick run by its VAL-label spy


@pytest.fixture(scope="session")
def tiny_twin(tmp_path_factory) -> Path:
    from benchmark.data.synth import synthesize

    return synthesize(tmp_path_factory.mktemp("twin") / "tiny", seed=0, size="tiny")


def _install_val_spy(reads: Path) -> None:
    """Wrap the unit's one VAL-label query function (in this process: a run's worker) so that
    every read appends a line to `reads`."""
    from benchmark import unit

    val_query = unit.val_query

    def spying_query(labels):
        query = val_query(labels)

        def spy(scores):
            with reads.open("a") as f:
                f.write("read\n")
            return query(scores)

        return spy

    unit.val_query = spying_query


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory) -> Path:
    """The quick profile exactly as `make run` runs it: all methods, seed 0, synthetic twin.
    A spy wraps the one VAL-label query function in every worker and counts every read
    (`<run>/../val_label_reads.json`). BENCH_QUICK_RUN=results/<run> reuses a finished run instead
    (for developing the slow tests)."""
    from benchmark import unit
    from benchmark.plan import RunConfig
    from benchmark.runner import LocalExecutor, run

    if os.environ.get("BENCH_QUICK_RUN"):
        return Path(os.environ["BENCH_QUICK_RUN"])
    out = tmp_path_factory.mktemp("quick")
    reads = out / "val_reads.log"
    reads.touch()
    val_query = unit.val_query  # NOTE: with one worker the spy goes into this process; undone below
    try:
        run_dir = run(RunConfig(methods=("all",), seeds=(0,), out=out),
                      LocalExecutor(workers=None, setup=functools.partial(_install_val_spy, reads)))
    finally:
        unit.val_query = val_query
    (run_dir.parent / VAL_READS).write_text(json.dumps(len(reads.read_text().splitlines())))
    return run_dir


NEUTRAL_METHODS = ("late_fusion_av", "concat_ae_av", "causal_film_process_only", "dinomaly",
                   "patchcore", "causal_film_result_only", "causal_film", "session_manifest",
                   *(f"session_probe_{m}" for m in ("image", "audio", "video", "sensor")))


@pytest.fixture(scope="session")
def neutral_run(tmp_path_factory) -> Path:
    """The quick profile on the confound-free twin (the same configurations for every category,
    sessions that say nothing about the label) for the one-sided methods, Causal-FiLM and the
    session floors: there a defect shows only in its modalities, and a session gives nothing."""
    from benchmark.plan import RunConfig
    from benchmark.runner import LocalExecutor, run

    return run(RunConfig(methods=NEUTRAL_METHODS, seeds=(0,), synth_confounds="none",
                         out=tmp_path_factory.mktemp("neutral")), LocalExecutor(workers=None))


@pytest.fixture(scope="module")
def readme_method():
    """Exec the README's "Add your method" snippet exactly as written; unregister afterwards."""
    from benchmark.method import METHODS, load_methods

    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- add-your-method:start -->\n```python\n(.*?)```", text, re.S)
    assert block, "README has no add-your-method block"
    load_methods()
    module = types.ModuleType("readme_snippet")  # a real module: dataclasses look it up
    sys.modules[module.__name__] = module
    exec(compile(block.group(1), "README.md", "exec"), module.__dict__)
    yield "pooled_knn"
    METHODS.remove("pooled_knn")
    del sys.modules[module.__name__]
