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


# ---------------------------------------------------------------------------- official scores
def test_patchcore_official_embedding_by_hand():
    """3 x 3 neighbourhood (zero-padded) pooled to `dim`, coarser layers upsampled, layers joined
    and pooled again: worked out by hand on 1-channel maps."""
    import torch

    from methods.patchcore import neighbourhood_embedding

    # one 1 x 1 map of value 9: neighbourhood [0,0,0, 0,9,0, 0,0,0] -> thirds [0, 3, 0]
    one = neighbourhood_embedding([torch.full((1, 1, 1, 1), 9.0)], 3)
    np.testing.assert_allclose(one[0, :, 0, 0].numpy(), [0, 3, 0])
    # two layers: [0, 3, 0] and [0, 6, 0] joined -> pairs (0,3) (0,0) (6,0) -> [1.5, 0, 3]
    two = neighbourhood_embedding([torch.full((1, 1, 1, 1), 9.0), torch.full((1, 1, 1, 1), 18.0)], 3)
    np.testing.assert_allclose(two[0, :, 0, 0].numpy(), [1.5, 0, 3])
    # a zero 2 x 2 layer and a 1 x 1 layer of 18 upsampled onto its grid: [0,0,0, 0,6,0] -> [0, 0, 3]
    grid = neighbourhood_embedding([torch.zeros(1, 1, 2, 2), torch.full((1, 1, 1, 1), 18.0)], 3)
    assert grid.shape == (1, 3, 2, 2)
    np.testing.assert_allclose(grid[0].permute(1, 2, 0).reshape(4, 3).numpy(), [[0, 0, 3]] * 4)


def test_patchcore_image_score_is_the_largest_nearest_distance():
    """Bank {(0,0), (3,4)}; patches (0,1) (3,0) (3,3): nearest distances 1, 3, 1 -> score 3
    (official); anomalib's re-weighting is the option."""
    import torch

    from methods.patchcore import ORIGINAL, _patchcore_model_class

    model = _patchcore_model_class()(dataclasses.replace(ORIGINAL, num_neighbors=2),
                                     backbone="test_resnet", pre_trained=False)
    model.memory_bank = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    patches = torch.tensor([[0.0, 1.0], [3.0, 0.0], [3.0, 3.0]])
    dist, where = model.nearest_neighbors(patches, n_neighbors=1)
    np.testing.assert_allclose(dist.numpy(), [1, 3, 1], atol=1e-5)
    assert float(model.compute_anomaly_score(dist[None], where[None], patches)[0]) == pytest.approx(3.0, abs=1e-5)
    model.image_score = "anomalib_reweighted"
    assert float(model.compute_anomaly_score(dist[None], where[None], patches)[0]) != pytest.approx(3.0)


def test_dinomaly_pixel_map_is_blurred_as_the_official_evaluation():
    """A unit impulse at the centre of a 256 map: after the 5 x 5, sigma-4 Gaussian the centre
    holds the kernel's centre weight (1 / sum of exp(-x^2 / 32) over x = -2..2)^2."""
    import torch
    from anomalib.models.components import GaussianBlur2d

    from methods.dinomaly import official_pixel_map

    amap = torch.zeros(1, 1, 256, 256)
    amap[0, 0, 128, 128] = 1.0
    out = official_pixel_map(amap, 256, GaussianBlur2d(sigma=4, channels=1, kernel_size=5))
    w = np.exp(-np.array([4, 1, 0, 1, 4]) / 32.0)
    assert out.shape == (1, 1, 256, 256)
    assert float(out[0, 0, 128, 128]) == pytest.approx((1 / w.sum()) ** 2, rel=1e-5)
    assert float(out[0, 0, 128, 130]) == pytest.approx(w[0] / w.sum() / w.sum(), rel=1e-5)
    assert float(out.sum()) == pytest.approx(1.0, rel=1e-5)
