"""Shared fixtures: a tiny synthetic twin for fast runner tests, the adapter of
docs/adding-a-method.md registered as written, one quick-profile run of every registered method on
the default twin (Weld-4M's recipe structure; slow tests share it: goldens, contracts, recipe
shortcut), and one quick-profile run of the one-sided methods and Causal-FiLM on the confound-free
twin (modality leakage, chain-breakers)."""
from __future__ import annotations

import fcntl
import functools
import json
import os
import re
import sys
import tempfile
import types
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test may reach a model hub
ROOT = Path(__file__).resolve().parents[1]

if os.environ.get("PYTEST_XDIST_WORKER"):
    import torch

    # NOTE: `make test` runs one pytest worker per core: a second torch thread in each would only
    # oversubscribe the cores, where OpenMP's spinning threads slow every worker down
    torch.set_num_threads(1)

# The files that make minutes-long runs, the longest first. `make test` hands whole files to its
# workers in this order (`--dist loadfile --no-loadscope-reorder`): one worker takes the
# paper-shape run while the other makes the quick and neutral runs and then the files that read
# them; the short files fill in around both.
LONGEST_FIRST = ("test_paper_shapes.py", "test_quick_profile.py", "test_recipes.py", "test_confounds.py",
                 "test_golden.py", "test_protocol.py", "test_label_guard.py", "test_runner.py",
                 "test_ray_executor.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest as collected


VAL_READS = "val_label_reads.json"  # written next to the quick run by its VAL-label spy


def made_once(tmp_path_factory, name: str, make: Callable[[Path], Path]) -> Path:
    """`make(folder)` once per test session, its result shared by every pytest worker.

    Under pytest-xdist each worker is a process with its own session fixtures: the first worker
    that asks makes the run under a file lock, the others wait for it and read the path it
    returned, rather than make the same run again."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, above every worker's own
    record = root / f"{name}.path"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not record.exists():
            # a fresh folder per try: a worker that failed here leaves no half run to the next one
            record.write_text(str(make(Path(tempfile.mkdtemp(prefix=f"{name}-", dir=root)))))
        return Path(record.read_text())


@pytest.fixture(scope="session")
def tiny_twin(tmp_path_factory) -> Path:
    from benchmark.data.synth import synthesize

    return made_once(tmp_path_factory, "tiny-twin",
                     lambda folder: synthesize(folder / "tiny", seed=0, size="tiny"))


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory) -> Path:
    """One feature cache for the tiny twin's runs, shared by every worker (entries are written
    atomically, so two workers filling the same entry write the same bytes): each backbone pass
    over the tiny twin is made once per session. Tests of extraction itself keep their own."""
    return made_once(tmp_path_factory, "tiny-cache", lambda folder: folder)


@pytest.fixture(scope="session")
def quick_twin(tmp_path_factory) -> Path:
    """The embedded default (`make run`'s twin, in datasets/), generated once if absent."""
    from benchmark.run.plan import default_dataset

    return made_once(tmp_path_factory, "quick-twin", lambda _: default_dataset())


def _install_val_spy(reads: Path) -> None:
    """Wrap the unit's one VAL-label query function (in this process: a run's worker) so that
    every read appends a line to `reads`."""
    from benchmark.run import unit

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
def quick_run(tmp_path_factory, request) -> Path:
    """The quick profile exactly as `make run` runs it: all methods, seed 0, synthetic twin.
    A spy wraps the one VAL-label query function in every worker and counts every read
    (`<run>/../val_label_reads.json`). BENCH_QUICK_RUN=results/<run> reuses a finished run instead
    (for developing the slow tests)."""
    if os.environ.get("BENCH_QUICK_RUN"):
        return Path(os.environ["BENCH_QUICK_RUN"])
    request.getfixturevalue("quick_twin")  # the twin generated under its lock, as `make run` finds it
    return made_once(tmp_path_factory, "quick", _quick_run)


def _quick_run(out: Path) -> Path:
    from benchmark.run import unit
    from benchmark.run.config import RunConfig
    from benchmark.run.runner import LocalExecutor, run

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
    return made_once(tmp_path_factory, "neutral", _neutral_run)


def _neutral_run(out: Path) -> Path:
    from benchmark.run.config import RunConfig
    from benchmark.run.runner import LocalExecutor, run

    return run(RunConfig(methods=NEUTRAL_METHODS, seeds=(0,), synth_confounds="none", out=out),
               LocalExecutor(workers=None))


@pytest.fixture(scope="module")
def readme_method():
    """Exec the "Add your method" snippet of docs/adding-a-method.md exactly as written;
    unregister afterwards."""
    from benchmark.method import METHODS, load_methods

    page = ROOT / "docs" / "adding-a-method.md"
    text = page.read_text()
    block = re.search(r"<!-- add-your-method:start -->\n```python\n(.*?)```", text, re.S)
    assert block, f"{page.relative_to(ROOT)} has no add-your-method block"
    load_methods()
    module = types.ModuleType("readme_snippet")  # a real module: dataclasses look it up
    sys.modules[module.__name__] = module
    exec(compile(block.group(1), str(page.relative_to(ROOT)), "exec"), module.__dict__)
    yield "pooled_knn"
    METHODS.remove("pooled_knn")
    del sys.modules[module.__name__]
