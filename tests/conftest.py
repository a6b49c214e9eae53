"""Shared fixtures: a tiny synthetic twin for fast runner tests, the README's adapter registered
as written, one quick-profile run of every registered method on the default twin (Weld-4M's
recipe structure; slow tests share it: goldens, contracts, recipe shortcut), and one quick-profile
run of the one-sided methods and Causal-FiLM on the confound-free twin (modality leakage,
chain-breakers)."""
from __future__ import annotations

import json
import os
import re
import sys
import types
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test may reach a model hub
ROOT = Path(__file__).resolve().parents[1]

VAL_READS = "val_label_reads.json"  # written next to the quick run by its VAL-label spy


@pytest.fixture(scope="session")
def tiny_twin(tmp_path_factory) -> Path:
    from benchmark.data.synth import synthesize

    return synthesize(tmp_path_factory.mktemp("twin") / "tiny", seed=0, size="tiny")


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory) -> Path:
    """The quick profile exactly as `make run` runs it: all methods, seed 0, synthetic twin.
    A spy wraps the runner's one VAL-label query function and counts every read
    (`<run>/../val_label_reads.json`). BENCH_QUICK_RUN=results/<run> reuses a finished run instead
    (for developing the slow tests)."""
    from benchmark import runner

    if os.environ.get("BENCH_QUICK_RUN"):
        return Path(os.environ["BENCH_QUICK_RUN"])
    reads, val_query = [], runner.val_query

    def spying_query(labels):
        query = val_query(labels)

        def spy(scores):
            reads.append(1)
            return query(scores)

        return spy

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "val_query", spying_query)
        run_dir = runner.run(runner.RunConfig(methods=("all",), seeds=(0,),
                                              out=tmp_path_factory.mktemp("quick")))
    (run_dir.parent / VAL_READS).write_text(json.dumps(len(reads)))
    return run_dir


NEUTRAL_METHODS = ("late_fusion_av", "concat_ae_av", "causal_film_process_only", "dinomaly",
                   "patchcore", "causal_film_result_only", "causal_film", "session_manifest",
                   *(f"session_probe_{m}" for m in ("image", "audio", "video", "sensor")))


@pytest.fixture(scope="session")
def neutral_run(tmp_path_factory) -> Path:
    """The quick profile on the confound-free twin (the same configurations for every category,
    sessions that say nothing about the label) for the one-sided methods, Causal-FiLM and the
    session floors: there a defect shows only in its modalities, and a session gives nothing."""
    from benchmark.runner import RunConfig, run

    return run(RunConfig(methods=NEUTRAL_METHODS, seeds=(0,), synth_confounds="none",
                         out=tmp_path_factory.mktemp("neutral")))


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
