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
from benchmark.run.unit import val_query

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
    """The views as whole views and as what image methods read (here each view's region is the whole
    view: corners as fractions of its width and height)."""
    whole = np.float32([[0, 0], [1, 0], [0, 1]])
    corners = [np.broadcast_to(whole, (len(v), 3, 2)) for v in views]
    return Inputs(configs=(CONFIG,) * len(views), features={
        "image_pixels": views, "image_region_pixels": views, "image_region": corners})


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
    assert spec.feature_names(get_profile("quick")) == ("image_region_pixels", "image_region")
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


@pytest.mark.parametrize("name", ["dinomaly", "patchcore"])
def test_view_preparation_is_recorded(name):
    """The suite's square view of the whole photo (the paper profile's 448 x 448) and the crop's
    map mapped back onto it are one recorded change per method, `image_input`."""
    from methods._blocks import CROP_MAPPED_BACK, VIEW

    h, w = get_profile("paper").pixel_size
    assert f"{h} x {w}" in VIEW
    row = next(r for r in load_methods().get(name).hparams.changes() if r["name"] == "image_input")
    assert row["profile"] == "all" and "pixel metrics on the crop" in row["original"]
    assert VIEW in row["used"] and CROP_MAPPED_BACK in row["used"] and row["reason"]


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
    holds the kernel's centre weight (1 / sum of exp(-x^2 / 32) over x = -2..2)^2. The official
    convolution pads with zeros: on a map of ones a corner keeps the weight of the kernel's
    in-bounds 3 x 3 quarter, an edge pixel that of its in-bounds 5 x 3 half."""
    import torch
    from anomalib.models.components import GaussianBlur2d

    from methods.dinomaly import official_pixel_map

    kernel = GaussianBlur2d(sigma=4, channels=1, kernel_size=5).kernel  # anomalib's, as the adapter
    amap = torch.zeros(1, 1, 256, 256)
    amap[0, 0, 128, 128] = 1.0
    out = official_pixel_map(amap, 256, kernel)
    w = np.exp(-np.array([4, 1, 0, 1, 4]) / 32.0)
    assert out.shape == (1, 1, 256, 256)
    assert float(out[0, 0, 128, 128]) == pytest.approx((1 / w.sum()) ** 2, rel=1e-5)
    assert float(out[0, 0, 128, 130]) == pytest.approx(w[0] / w.sum() / w.sum(), rel=1e-5)
    assert float(out.sum()) == pytest.approx(1.0, rel=1e-5)
    ones = official_pixel_map(torch.ones(1, 1, 256, 256), 256, kernel)
    half = w[2:].sum() / w.sum()
    assert float(ones[0, 0, 0, 0]) == pytest.approx(half ** 2, rel=1e-5)
    assert float(ones[0, 0, 0, 128]) == pytest.approx(half, rel=1e-5)
    assert float(ones[0, 0, 128, 128]) == pytest.approx(1.0, rel=1e-5)


# ---------------------------------------------------------------------------- crop mapped back
class _MapOf:
    """Stands in for PatchCore's model: `of(x)` turns the pre-processed (resized, centre-cropped,
    normalised) batch into the anomaly map of the crop."""

    def __init__(self, of):
        self.of = of

    def __call__(self, x):
        from types import SimpleNamespace

        return SimpleNamespace(pred_score=x.amax((1, 2, 3)), anomaly_map=self.of(x))


def _patchcore_maps(image_size: int, crop: int, views: np.ndarray, of) -> np.ndarray:
    """PatchCore.score on one sample's views (V, H, W, 3) with a stand-in model: its maps."""
    from anomalib.models.image.patchcore.lightning_model import Patchcore

    from methods.patchcore import ORIGINAL, PatchCore

    method = PatchCore(dataclasses.replace(ORIGINAL, image_size=image_size, center_crop=crop), ("image_pixels",))
    method.device, method.model = "cpu", _MapOf(of)
    method.transform = Patchcore.configure_pre_processor(
        image_size=(image_size, image_size), center_crop_size=(crop, crop)).transform
    return method.score(_inputs([views], "test")).maps[0]


def test_patchcore_crop_lands_where_it_was_cut():
    """The quick profile's 56 -> 49 crop (an odd margin of 7: torchvision's CenterCrop cuts 4
    rows and columns before the crop, 3 after) on 56-px views: the stand-in model's map is the
    crop it was fed, so every crop pixel must land on the view pixel it came from. View 0 holds
    its row index, view 1 its column index; the cut-off margin repeats the crop's edge values
    (no score of its own: rows/columns 0-3 read 4, 53-55 read 52)."""
    side, crop = 56, 49
    index = np.broadcast_to(np.arange(side)[:, None], (side, side))
    views = np.stack([index, index.T])[..., None].repeat(3, -1).astype(np.uint8)
    maps = _patchcore_maps(side, crop, views, lambda x: x[:, :1])
    seen = (np.clip(np.arange(side), 4, 4 + crop - 1) / 255.0 - 0.485) / 0.229  # channel 0 normalised
    np.testing.assert_allclose(maps[0], np.broadcast_to(seen[:, None], (side, side)), atol=1e-5)
    np.testing.assert_allclose(maps[1], np.broadcast_to(seen[None, :], (side, side)), atol=1e-5)


def test_patchcore_crop_mapped_back_onto_the_paper_view():
    """The paper's 448-px view, resized to 256 and cropped to 224 (rows and columns 16-239 of the
    resized view). A crop map whose value is the resized row + 1000 x the resized column it
    covers comes back as, at every view pixel, the resized coordinate of that pixel's centre,
    (y + 0.5) x 256 / 448 - 0.5, clipped to the crop (16..239): bilinear resizing is exact on
    such a piecewise-linear map, so each view pixel reads the crop where it lies, and the
    margin the crop cut off (about 28 view pixels each side) repeats the crop's edge."""
    import torch

    rows = torch.arange(16, 240, dtype=torch.float32)
    crop_map = (rows[:, None] + 1000 * rows[None, :])[None, None]
    maps = _patchcore_maps(256, 224, np.zeros((1, 448, 448, 3), np.uint8),
                           lambda x: crop_map.expand(len(x), -1, -1, -1))
    at = np.clip((np.arange(448) + 0.5) * 256 / 448 - 0.5, 16, 239)
    np.testing.assert_allclose(maps[0], at[:, None] + 1000 * at[None, :], rtol=1e-6)


def test_dinomaly_image_score_is_anomalibs(data):
    """Dinomaly's scoring path (`image_scores`: topk for anomalib's full sort, the blur without
    oneDNN) gives anomalib's `DinomalyModel.forward` at inference: the same raw maps bit for bit,
    the same image scores to float rounding (the blur's sums run in another order)."""
    import torch

    from methods._blocks import views_as_images
    from methods.dinomaly import image_scores

    method, _ = _run("dinomaly", data)
    images, _ = views_as_images(data[2])
    x = method._prepare(images)
    with torch.no_grad():
        official = method.model(x)
        scores, raw = image_scores(method.model, x)
    assert torch.equal(raw, official.anomaly_map)
    np.testing.assert_allclose(scores.numpy(), official.pred_score.numpy(), rtol=1e-5)
    assert len(set(scores.tolist())) == len(scores)  # distinct views: the top 1 % differs
