"""Shared fixtures: a tiny synthetic twin for fast runner tests, and one quick-profile run of
every registered method (slow tests share it: goldens, contracts, leakage, Causal-FiLM)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test may reach a model hub


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
