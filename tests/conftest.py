"""Shared fixtures: a tiny synthetic twin for fast runner tests, the README's adapter registered
as written, and one quick-profile run of every registered method (slow tests share it: goldens,
contracts, leakage, Causal-FiLM)."""
from __future__ import annotations

import os
import re
import sys
import types
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test may reach a model hub
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_twin(tmp_path_factory) -> Path:
    from benchmark.data.synth import synthesize

    return synthesize(tmp_path_factory.mktemp("twin") / "tiny", seed=0, size="tiny")


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory) -> Path:
    """The quick profile exactly as `make run` runs it: all methods, seed 0, synthetic twin.
    BENCH_QUICK_RUN=results/<run> reuses a finished run instead (for developing the slow tests)."""
    from benchmark.runner import RunConfig, run

    if os.environ.get("BENCH_QUICK_RUN"):
        return Path(os.environ["BENCH_QUICK_RUN"])
    return run(RunConfig(methods=("all",), seeds=(0,), out=tmp_path_factory.mktemp("quick")))


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
