"""Cross-modal adapters (CFM, M3DM, M3DM-style no-bank) on a small synthetic in-memory set.

Each weld configuration has its own process signature (video, audio, sensor) and its own bead
appearance (image patches); a planted mismatch pairs one configuration's process with another's
bead, which only a cross-modal method can see.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
import torch

from benchmark.data.sample import WeldConfig
import methods.crossmodal_mapping  # noqa: F401  (importing registers)
import methods.m3dm  # noqa: F401
import methods.m3dm_nobank  # noqa: F401
from benchmark.method import METHODS, FitContext, Inputs, Selector, set_seed
from benchmark.profiles import Selection, get_profile
from benchmark.run.unit import val_query
from methods._blocks import GRID_TO_VIEW, region_maps_to_views

NAMES = ("crossmodal_mapping", "m3dm_nobank", "m3dm")
V, SIDE, D, T_V, T_A = 5, 4, 16, 8, 16
N_TRAIN, N_TEST, N_MISMATCH = 18, 12, 3
CONFIGS = (WeldConfig("FILLET", 8.0, "FE410", 180, 24, 4, 30),
           WeldConfig("NON_FILLET", 4.0, "BSK46", 150, 21, 4, 40),
           WeldConfig("FILLET", 6.0, "BSK46", 200, 26, 4, 25))
# NOTE: small schedules so that all tests run in seconds; the contract does not depend on them.
FAST = {"epochs": 30, "batch_size": 6, "patches_per_sample": 32}
# NOTE: 90 updates of 6 welds train M3DM's fusion block only at the README's unscaled lr (the
# used lr is scaled to 16-weld updates over a few hundred TRAIN welds), and the fixture's 1,440
# TRAIN patches leave a 1 % fused bank 14 entries, too few to cover three configurations' beads
FAST_UFF = {"lr": 3e-3}
FAST_M3DM = {"fused_coreset_ratio": 0.02}


def _signatures(seed: int = 123):
    rng = np.random.default_rng(seed)
    proc = [{"video": rng.normal(0, 1, D), "audio": rng.normal(0, 1, D),
             "sensor": rng.normal(0, 1, (6, 1)) * np.array([[1], [1], [1], [50], [1], [5]])}
            for _ in CONFIGS]
    bead = [rng.normal(0, 1, (V, SIDE * SIDE, D)) for _ in CONFIGS]
    return proc, bead


def make_inputs(n: int, seed: int, mismatched: int = 0) -> Inputs:
    """n normal welds (configurations in turn); the last `mismatched` take another's bead."""
    proc, bead = _signatures()
    rng = np.random.default_rng(seed)
    feats = {"video_tokens": [], "audio_tokens": [], "sensor": [], "image_patches": []}
    configs = []
    for i in range(n):
        c = i % len(CONFIGS)
        b = (c + 1) % len(CONFIGS) if i >= n - mismatched else c
        configs.append(CONFIGS[c])
        wobble = 0.1 + 0.3 * c  # NOTE: process stability differs by configuration, so the
        # spread over time (the descriptor's std part) carries the configuration too
        feats["video_tokens"].append((proc[c]["video"] + wobble * rng.normal(0, 1, (T_V, D))).astype(np.float32))
        feats["audio_tokens"].append((proc[c]["audio"] + wobble * rng.normal(0, 1, (T_A, D))).astype(np.float32))
        feats["sensor"].append((proc[c]["sensor"] + wobble * rng.normal(0, 1, (6, 128))).astype(np.float32))
        feats["image_patches"].append((bead[b] + 0.3 * rng.normal(0, 1, (V, SIDE * SIDE, D))).astype(np.float16))
    # NOTE: the tokens were read from the whole view (corners as fractions of its width, height)
    feats["image_region"] = [np.broadcast_to(np.float32([[0, 0], [1, 0], [0, 1]]), (V, 3, 2))] * n
    return Inputs(configs=tuple(configs), features=feats)


def build(name: str):
    spec = METHODS.get(name)
    hp = spec.hparams.for_profile(get_profile("quick"))
    hp = dataclasses.replace(hp, **{k: v for k, v in FAST.items() if hasattr(hp, k)})
    if spec.family == "m3dm":
        hp = dataclasses.replace(hp, **FAST_UFF, **({**FAST_M3DM} if name == "m3dm" else {}))
    return spec.cls(hp, spec.feature_names(get_profile("quick")))


def fit_and_score(name: str, seed: int = 0):
    train = make_inputs(N_TRAIN, seed=1)
    val = make_inputs(9, seed=2, mismatched=3)
    test = make_inputs(N_TEST, seed=3, mismatched=N_MISMATCH)
    set_seed(seed)  # as the runner does, once per unit, before the method is built
    ctx = FitContext(seed=seed, device="cpu", profile=get_profile("quick"),
                     selector=Selector(Selection("val"), val_query([0] * 6 + [1] * 3)), text_embedding=lambda _: np.zeros(8),
                     log=lambda _: None)
    method = build(name)
    method.fit(train, val, ctx)
    return method, method.score(test)


@pytest.fixture(scope="module")
def results():
    out = {}
    for name in NAMES:
        t0 = time.perf_counter()
        out[name] = fit_and_score(name) + (time.perf_counter() - t0,)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_registered_facts(name):
    spec = METHODS.get(name)
    assert spec.group.value == "cross-modal"
    assert set(spec.modalities) == {"video", "audio", "sensor", "image"}
    assert spec.yields_maps
    assert set(spec.feature_names(get_profile("quick"))) == {"video_tokens", "audio_tokens", "sensor",
                                                             "image_patches", "image_region"}


@pytest.mark.parametrize("name", NAMES)
def test_image_input_departure_is_recorded(name):
    """The paper profile feeds the originals' 28 x 28 grid (DINOv2 at 392 px); CFM upsamples it to
    224 x 224 pixels as the original (the quick profile maps per token, a recorded change), the
    UFF block fuses on it where the original repeats it to 56 x 56 (a change with its reason,
    which the appendix lists: `Hyperparameters.changes`). The text is true in each profile: the
    quick profile's own DINOv2 side and token grid replace the paper's."""
    spec = METHODS.get(name)
    assert "image_patches_fine" in spec.feature_names(get_profile("paper"))
    row = next(r for r in spec.hparams.changes() if r["name"] == "image_input")
    assert row["profile"] == "all" and "ViT-B/8" in row["original"] and "28 x 28" in row["used"]
    if name == "crossmodal_mapping":
        assert "224 x 224, one per pixel" in row["used"] and spec.hparams.used.pixel_side == 224
        quick = spec.hparams.for_profile(get_profile("quick"))
        assert quick.pixel_side == 0 and "one per token" in quick.image_input
    else:
        assert "56 x 56" in row["reason"]
    for profile in (get_profile("paper"), get_profile("quick")):
        side = profile.fine_image_size or profile.image_size
        grid = side // 14
        text = spec.hparams.for_profile(profile).image_input
        assert f"read at {side} x {side}" in text and f"{grid} x {grid} tokens" in text


def test_cfm_departures_are_recorded():
    """One model for every weld configuration (the original: one per class) and one map
    normalisation (the original: one per use of the map) are changes with their reasons."""
    rows = {r["name"]: r for r in METHODS.get("crossmodal_mapping").hparams.changes()}
    assert rows["fit_scope"]["original"] == "one model per MVTec 3D-AD class"
    assert rows["fit_scope"]["used"] == "one model for every weld configuration"
    assert "AU-PRO" in rows["map_normalisation"]["original"]
    assert "one map per view" in rows["map_normalisation"]["used"]
    assert all(rows[k]["profile"] == "all" and rows[k]["reason"] for k in ("fit_scope", "map_normalisation"))


def test_m3dm_coreset_shares_are_recorded_changes():
    """The official run_coreset states no share for the RGB and fused banks: it sizes them from
    the reduced point bank (f x f of the point patches), and "original" holds that rule. The
    shares used are the rule's on MVTec 3D-AD's grids (0.1 x 0.1 x 3,136 point patches = 31
    entries per sample: 4 % of its 784 RGB, 1 % of its 3,136 fused patches), changes with a reason.
    The fused bank's 3,136 patches are the 784 tokens repeated 2 x 2 (`fusion_grid`), so its share
    of the tokens is 4 % as well."""
    rows = {r["name"]: r for r in METHODS.get("m3dm").hparams.changes() if r["profile"] == "all"}
    for name, used, patches in (("image_coreset_ratio", 0.04, 784), ("fused_coreset_ratio", 0.04, 784)):
        assert "reduced point bank" in rows[name]["original"] and rows[name]["used"] == used
        assert used * patches == pytest.approx(0.1 * 0.1 * 3136, rel=0.01)
        assert "31 entries per sample" in rows[name]["reason"]
    assert "2 x 2" in rows["fusion_grid"]["original"] and "2 x 2" in rows["fusion_grid"]["used"]


def test_the_originals_56_grid_repeats_each_rgb_token_2_by_2():
    """What makes the 56 x 56 fusion grid a size only (methods/m3dm.py): the original's
    AdaptiveAvgPool2d((56, 56)) of a 28 x 28 token map is each token repeated 2 x 2."""
    tokens = torch.randn(1, 8, 28, 28)
    repeated = tokens.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)
    assert torch.equal(torch.nn.AdaptiveAvgPool2d((56, 56))(tokens), repeated)


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_finite(results, name):
    _, scores, _ = results[name]
    assert scores.sample.shape == (N_TEST,)
    assert np.all(np.isfinite(scores.sample))
    assert len(scores.maps) == N_TEST
    for m in scores.maps:  # the token grid warped back onto a view grid GRID_TO_VIEW times finer
        assert m.shape == (V, GRID_TO_VIEW * SIDE, GRID_TO_VIEW * SIDE)
        assert np.all(np.isfinite(m))


@pytest.mark.parametrize("name", NAMES)
def test_mismatch_scores_higher(results, name):
    _, scores, _ = results[name]
    normal, mismatch = scores.sample[:-N_MISMATCH], scores.sample[-N_MISMATCH:]
    assert mismatch.mean() > normal.mean()
    # NOTE: only the heads' disagreement sees the planted mismatch directly. M3DM's banks see it
    # weakly (each modality, and each half of a fused feature, is in distribution); CFM's official
    # image score divides each view's map by the square root of its own mean, so a mismatch that
    # raises every patch of the bead alike is seen at square-root strength.
    if name == "m3dm_nobank":
        assert mismatch.min() > np.median(normal)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_scores(results, name):
    _, again = fit_and_score(name)
    np.testing.assert_allclose(again.sample, results[name][1].sample, rtol=1e-5, atol=1e-6)


def test_memory_banks_are_reported(results):
    method, _, _ = results["m3dm"]
    hp = method.hp
    sizes = {name: len(bank.entries) for name, bank in method.banks.items()}
    # shares: 10 % of the process (point) bank (official), 4 % of the image and of the fused
    # bank (the official rule's on MVTec 3D-AD); the quick profile keeps 2 % of the image bank and
    # this test 2 % of the fused bank
    quick = METHODS.get("m3dm").hparams.for_profile(get_profile("quick"))
    assert (quick.coreset_ratio, quick.image_coreset_ratio, quick.fused_coreset_ratio) == (0.1, 0.02, 0.04)
    assert METHODS.get("m3dm").hparams.used.image_coreset_ratio == 0.04
    # 18 welds, 18 x 5 x 16 = 1,440 patches: int(1.8), int(28.8), int(28.8)
    assert (hp.coreset_ratio, hp.image_coreset_ratio, hp.fused_coreset_ratio) == (0.1, 0.02, 0.02)
    assert sizes == {"process": 1, "image": 28, "fused": 28}
    assert method.memory_bank_bytes() == sum(b.entries.numel() * 4 for b in method.banks.values())
    assert results["m3dm_nobank"][0].memory_bank_bytes() == 0


# ---------------------------------------------------------------------------- CFM's image score
def test_cfm_image_score_by_hand():
    """Official CFM image score: max of the map / sqrt(mean of its non-zero values), per view;
    the sample takes its views' maximum. Hand-computed on two 2x2 views, no smoothing."""
    from methods.crossmodal_mapping import cfm_image_scores

    maps = np.array([[[[0.0, 1.0], [2.0, 3.0]],   # non-zero mean 2: 3 / sqrt(2) = 2.1213
                      [[4.0, 4.0], [4.0, 4.0]]],  # mean 4: 4 / 2 = 2.0
                     [[[0.0, 0.0], [0.0, 0.0]],   # all zero: 0
                      [[1.0, 0.0], [0.0, 9.0]]]])  # non-zero mean 5: 9 / sqrt(5) = 4.0249
    sample, normalised = cfm_image_scores(maps, sigma_patches=0.0)
    np.testing.assert_allclose(sample, [3 / np.sqrt(2), 9 / np.sqrt(5)], rtol=1e-6)
    np.testing.assert_allclose(normalised[0, 1], np.ones((2, 2)) * 2.0, rtol=1e-6)
    assert not normalised[1, 0].any()
    # the score ignores the map's scale up to its square root: a uniformly doubled map
    # scores sqrt(2) higher, not 2x
    np.testing.assert_allclose(cfm_image_scores(2 * maps, 0.0)[0], np.sqrt(2) * sample, rtol=1e-6)


# ---------------------------------------------------------------------------- M3DM's parts
def test_m3dm_bank_score_reweights_as_m3dm():
    """A bank kept whole (ratio 1): the weld score is s* = the largest nearest-entry distance,
    times w = 1 - exp(s*/sqrt(D)) / sum of exp(||m_test - m_k|| / sqrt(D)) over the two nearest
    bank neighbours m_k of m* (M3DM's n_reweight = 3 counts m* itself)."""
    from methods.m3dm import MemoryBank

    entries = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [4.0, 4.0]])
    bank = MemoryBank(entries, ratio=1.0, reweight_neighbors=3, device="cpu")
    assert len(bank.entries) == 4
    patches = torch.tensor([[[0.1, 0.0], [3.0, 0.0]]])  # one weld, two patches
    score, dist = bank.score(patches)
    z = ((patches[0] - bank.mean) / bank.std).numpy()
    e = ((entries - bank.mean) / bank.std).numpy()
    nearest = np.linalg.norm(z[:, None] - e[None], axis=-1).min(1)
    np.testing.assert_allclose(dist[0].numpy(), nearest, rtol=1e-5)
    s_star, m_test = nearest[1], z[1]  # patch [3, 0] is the farthest from the bank
    m_star = e[1]  # its nearest entry: [1, 0]
    neighbours = np.argsort(np.linalg.norm(e - m_star, axis=1))[1:3]  # [0, 0] and [0, 1]
    knn = np.linalg.norm(m_test - e[neighbours], axis=1)
    w = 1 - np.exp(s_star / np.sqrt(2)) / np.exp(knn / np.sqrt(2)).sum()
    np.testing.assert_allclose(score.numpy(), [w * s_star], rtol=1e-5)


def test_m3dm_decision_layer_on_a_small_fixture():
    """The decision layer is a linear one-class SVM fitted on TRAIN bank-score vectors; its raw
    score w . x is the anomaly score (as the official code uses it): positive weights on positive
    distances, so a weld farther from any one bank scores higher, and one far from the process or
    the fused bank scores above every TRAIN weld. (The image bank enters with M3DM's RGB weight
    0.1, so tripling its distance moves the score less than the TRAIN spread.)"""
    from methods.m3dm import M3DMHP, fit_decision_layer

    hp = M3DMHP()
    rng = np.random.default_rng(0)
    weights = np.array(hp.bank_weights)
    train = np.abs(rng.normal(1.0, 0.1, (60, 3))) * weights  # (process, image, fused) scores
    svm = fit_decision_layer(train, hp.ocsvm_nu, hp.ocsvm_max_iter, seed=0)
    assert (svm.coef_ > 0).all()
    test = np.abs(rng.normal(1.0, 0.1, (6, 3))) * weights
    np.testing.assert_allclose(svm.score_samples(test), test @ svm.coef_.ravel(), rtol=1e-9)
    base = np.ones(3) * weights
    far = np.tile(base, (3, 1))
    far[np.arange(3), np.arange(3)] *= 3.0  # one weld far from each bank in turn
    assert (svm.score_samples(far) > svm.score_samples(base[None])).all()
    assert (svm.score_samples(far[[0, 2]]) > svm.score_samples(train).max()).all()
    again = fit_decision_layer(train, hp.ocsvm_nu, hp.ocsvm_max_iter, seed=0)
    np.testing.assert_array_equal(again.coef_, svm.coef_)


def test_m3dm_scores_are_its_decision_layers(results):
    """End to end: the sample score is D_a's score of the weld's three weighted bank scores, the
    maps D_s's score of every patch's three weighted (blurred) distances."""
    method, scores, _ = results["m3dm"]
    test = make_inputs(N_TEST, seed=3, mismatched=N_MISMATCH)
    sample, per_patch = method._bank_scores(method._features(*method.uff.encode(test)))
    np.testing.assert_allclose(scores.sample, sample @ method.detect.coef_.ravel(), rtol=1e-6)
    grid = per_patch @ method.segment.coef_.ravel()  # warped back onto the views as the adapter does
    np.testing.assert_allclose(np.stack(scores.maps), np.stack(region_maps_to_views(
        grid, test, GRID_TO_VIEW * SIDE)), rtol=1e-5, atol=1e-6)


def test_m3dm_bank_standardisation(results):
    """Used, as the official run_coreset: every bank z-scored with the point (process) bank's
    mean and the RGB (image) bank's std; `per_bank` (each bank its own) stays an option."""
    method, _, _ = results["m3dm"]
    assert method.hp.bank_standardisation == "shared"
    train = make_inputs(N_TRAIN, seed=1)
    process, patches = method.uff.encode(train)
    assert [float(b.mean) for b in method.banks.values()] == pytest.approx(
        [float(process.float().mean())] * 3, rel=1e-5)
    assert [float(b.std) for b in method.banks.values()] == pytest.approx(
        [float(patches.float().std())] * 3, rel=1e-5)
    per_bank, _, _ = fit_and_score_with(bank_standardisation="per_bank")
    assert len({float(b.std) for b in per_bank.banks.values()}) == 3


def test_m3dm_shared_statistics_by_hand():
    """Process features {1, 3} (mean 2) and image features {0, 2, 4, 6} (sample std
    sqrt(20/3)): a bank kept whole under the shared statistics holds (x - 2) / sqrt(20/3)."""
    from methods.m3dm import MemoryBank, scalar_statistics

    process, image = torch.tensor([[1.0], [3.0]]), torch.tensor([[0.0, 2.0], [4.0, 6.0]])
    shared = (scalar_statistics(process)[0], scalar_statistics(image)[1])
    assert float(shared[0]) == pytest.approx(2.0) and float(shared[1]) == pytest.approx(np.sqrt(20 / 3))
    bank = MemoryBank(image, ratio=1.0, reweight_neighbors=3, device="cpu", statistics=shared)
    expected = (np.array([[0, 2], [4, 6]]) - 2) / np.sqrt(20 / 3)
    got = bank.entries.numpy()
    np.testing.assert_allclose(got[np.argsort(got[:, 0])], expected, rtol=1e-6)


def fit_and_score_with(**overrides):
    """m3dm with hyperparameter overrides, fitted and scored like `fit_and_score`."""
    train, val = make_inputs(N_TRAIN, seed=1), make_inputs(9, seed=2, mismatched=3)
    set_seed(0)
    spec = METHODS.get("m3dm")
    hp = dataclasses.replace(spec.hparams.for_profile(get_profile("quick")),
                             **{k: v for k, v in FAST.items() if hasattr(spec.hparams.used, k)},
                             **{**FAST_UFF, **FAST_M3DM, **overrides})
    method = spec.cls(hp, spec.feature_names(get_profile("quick")))
    ctx = FitContext(seed=0, device="cpu", profile=get_profile("quick"),
                     selector=Selector(Selection("last")), text_embedding=lambda _: np.zeros(8),
                     log=lambda _: None)
    method.fit(train, val, ctx)
    return method, method.score(make_inputs(N_TEST, seed=3, mismatched=N_MISMATCH)), None


def test_m3dm_bank_keeps_at_least_one_entry():
    from methods.m3dm import MemoryBank

    for n in (3, 49, 90):  # int(n * 0.02) == 0 for these; 1 / 49 * 49 < 1 in floating point
        bank = MemoryBank(torch.randn(n, 4), ratio=0.02, reweight_neighbors=3, device="cpu")
        assert len(bank.entries) == 1
        score, dist = bank.score(torch.randn(2, 5, 4))
        assert score.shape == (2,) and dist.shape == (2, 5) and torch.isfinite(score).all()


def _cfm_per_pixel(pixel_chunk: int):
    """CFM fitted and scored per pixel (the paper profile's pairing) on the fixture's 4 x 4 token
    grid upsampled to 12 x 12, with `pixel_chunk` pixels per forward pass."""
    train, test = make_inputs(N_TRAIN, seed=1), make_inputs(N_TEST, seed=3, mismatched=N_MISMATCH)
    set_seed(0)
    ctx = FitContext(seed=0, device="cpu", profile=get_profile("quick"), selector=Selector(Selection("last"), None),
                     text_embedding=lambda _: np.zeros(8), log=lambda _: None)
    spec = METHODS.get("crossmodal_mapping")
    hp = dataclasses.replace(spec.hparams.for_profile(get_profile("quick")), epochs=3, batch_size=6,
                             pixel_side=12, pixel_chunk=pixel_chunk)
    method = spec.cls(hp, spec.feature_names(get_profile("quick")))
    method.fit(train, make_inputs(9, seed=2), ctx)
    return method, method.score(test)


def test_cfm_per_pixel_chunks_give_the_full_steps_numbers():
    """Per pixel, as the original: the tokens upsampled bilinearly to the pixel grid (z-scoring
    commutes with it), a map per pixel, and the chunked, recomputed training step gives what one
    pass over every pixel gives (50 pixels per chunk: 3 chunks of a view's 144)."""
    whole, scores = _cfm_per_pixel(pixel_chunk=0)
    chunked, chunked_scores = _cfm_per_pixel(pixel_chunk=50)
    assert len(chunked._chunks()) == 3 and len(whole._chunks()) == 1
    np.testing.assert_allclose(chunked_scores.sample, scores.sample, rtol=1e-4)
    assert all(m.shape == (V, 16, 16) for m in scores.maps)  # max(12 pixels, 4 x 4 tokens)
    tokens = torch.from_numpy(make_inputs(2, seed=4).stack("image_patches")).float()
    up = torch.nn.functional.interpolate(tokens.reshape(2 * V, SIDE, SIDE, D).permute(0, 3, 1, 2),
                                         size=(12, 12), mode="bilinear", align_corners=False)
    expected = (up.permute(0, 2, 3, 1).reshape(2, V, 144, D) - whole.result_mean) / whole.result_std
    torch.testing.assert_close(whole._observed(tokens), expected, rtol=1e-4, atol=1e-4)
