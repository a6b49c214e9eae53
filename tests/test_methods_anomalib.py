"""Dinomaly and PatchCore through anomalib, on a small synthetic in-memory set, offline.

Checks the contract (one score per sample, one (V, h, w) map per sample, finite values),
determinism (same seed, same scores) and that a planted bright blob raises the score.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmark.data.sample import WeldConfig  # noqa: E402
from benchmark.method import FitContext, Inputs, Selector, load_methods, set_seed  # noqa: E402
from benchmark.profiles import Selection, get_profile
from benchmark.runner import val_query

V, SIDE = 5, 112
CONFIG = WeldConfig("FILLET", 8.0, "FE410", 180, 24, 4, 30)


def _views(rng: np.random.Generator, n: int, blob: bool = False) -> list[np.ndarray]:
    """n samples of V views: noise plus a horizontal bead; `blob` plants a bright disc in view 2."""
    yy, xx = np.mgrid[:SIDE, :SIDE]
    bead = 90.0 * np.exp(-((yy - SIDE / 2) / 10.0) ** 2)
    out = []
    for _ in range(n):
        views = 60.0 + bead[None, :, :, None] + rng.normal(0, 8, (V, SIDE, SIDE, 3))
        if blob:
            disc = (yy - 40) ** 2 + (xx - 70) ** 2 < 12 ** 2
            views[2][disc] = 255.0
        out.append(np.clip(views, 0, 255).astype(np.uint8))
    return out


def _inputs(views: list[np.ndarray], prefix: str) -> Inputs:
    return Inputs(configs=(CONFIG,) * len(views), features={"image_pixels": views})


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    train = _inputs(_views(rng, 8), "train")
    val = _inputs(_views(rng, 2) + _views(rng, 2, blob=True), "val")
    test = _inputs(_views(rng, 3) + _views(rng, 3, blob=True), "test")
    return train, val, test, [0, 0, 1, 1]


# NOTE: the test shortens Dinomaly's quick schedule further; everything else is the quick profile.
FASTER = {"dinomaly": {"iterations": 4, "warmup_iters": 1, "hard_mining_steps": 2}, "patchcore": {}}


def _run(name: str, data, seed: int = 0):
    train, val, test, val_labels = data
    spec = load_methods().get(name)
    set_seed(seed)  # as the runner does, once per unit, before the method is built
    method = spec.build(get_profile("quick"))
    method.hp = dataclasses.replace(method.hp, **FASTER[name])
    ctx = FitContext(seed=seed, device="cpu", profile=get_profile("quick"), selector=Selector(Selection("val"), val_query(val_labels)),
                     text_embedding=lambda text: np.zeros(8, np.float32), log=lambda *_: None)
    method.fit(train, val, ctx)
    return method, method.score(test)


@pytest.mark.parametrize("name", ["dinomaly", "patchcore"])
def test_contract_and_determinism(name, data):
    spec = load_methods().get(name)
    assert spec.group.value == "result-only" and spec.modalities == ("image",) and spec.yields_maps
    assert spec.feature_names(get_profile("quick")) == ("image_pixels",)
    method, scores = _run(name, data)
    test = data[2]
    assert scores.sample.shape == (len(test),)
    assert np.isfinite(scores.sample).all()
    assert len(scores.maps) == len(test)
    for m in scores.maps:
        assert m.shape == (V, SIDE, SIDE) and np.isfinite(m).all()
    if name == "patchcore":
        assert method.memory_bank_bytes() > 0
    _, again = _run(name, data)
    np.testing.assert_allclose(again.sample, scores.sample, rtol=1e-5, atol=1e-6)


def test_patchcore_flags_planted_blob(data):
    _, scores = _run("patchcore", data)
    normal, blob = scores.sample[:3], scores.sample[3:]
    assert blob.min() > normal.max()
    # the blob's view carries the largest map values of each defective sample
    for m in scores.maps[3:]:
        assert int(np.argmax(m.reshape(V, -1).max(1))) == 2
