"""Cross-modal adapters (CFM, M3DM fusion) on a small synthetic in-memory set.

Each weld configuration has its own process signature (video, audio, sensor) and its own bead
appearance (image patches); a planted mismatch pairs one configuration's process with another's
bead, which only a cross-modal method can see.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from benchmark.data.sample import WeldConfig
import methods.crossmodal_mapping  # noqa: F401  (importing registers)
import methods.m3dm_fusion  # noqa: F401
from benchmark.method import METHODS, FitContext, Inputs, Selector, set_seed
from benchmark.profiles import Selection, get_profile
from benchmark.runner import val_query

NAMES = ("crossmodal_mapping", "m3dm_fusion", "m3dm_fusion_bank")
V, SIDE, D, T_V, T_A = 5, 4, 16, 8, 16
N_TRAIN, N_TEST, N_MISMATCH = 18, 12, 3
CONFIGS = (WeldConfig("FILLET", 8.0, "FE410", 180, 24, 4, 30),
           WeldConfig("NON_FILLET", 4.0, "BSK46", 150, 21, 4, 40),
           WeldConfig("FILLET", 6.0, "BSK46", 200, 26, 4, 25))
# NOTE: small schedules so that all tests run in seconds; the contract does not depend on them.
FAST = {"epochs": 30, "eval_every": 10, "batch_size": 6, "patches_per_sample": 32}


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
    return Inputs(configs=tuple(configs), features=feats)


def build(name: str):
    spec = METHODS.get(name)
    hp = spec.hparams.for_profile(get_profile("quick"))
    hp = dataclasses.replace(hp, **{k: v for k, v in FAST.items() if hasattr(hp, k)})
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
    assert set(spec.feature_names(get_profile("quick"))) == {"video_tokens", "audio_tokens", "sensor", "image_patches"}


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_finite(results, name):
    _, scores, _ = results[name]
    assert scores.sample.shape == (N_TEST,)
    assert np.all(np.isfinite(scores.sample))
    assert len(scores.maps) == N_TEST
    for m in scores.maps:
        assert m.shape == (V, SIDE, SIDE)
        assert np.all(np.isfinite(m))


@pytest.mark.parametrize("name", NAMES)
def test_mismatch_scores_higher(results, name):
    _, scores, _ = results[name]
    normal, mismatch = scores.sample[:-N_MISMATCH], scores.sample[-N_MISMATCH:]
    assert mismatch.mean() > normal.mean()
    if name != "m3dm_fusion_bank":  # NOTE: the fused bank sees the mismatch only weakly (each
        # half of a fused feature is in distribution); the heads' disagreement sees it directly
        assert mismatch.min() > np.median(normal)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_scores(results, name):
    _, again = fit_and_score(name)
    np.testing.assert_allclose(again.sample, results[name][1].sample, rtol=1e-5, atol=1e-6)


def test_memory_bank_is_reported(results):
    method, _, _ = results["m3dm_fusion_bank"]
    n_train_patches = N_TRAIN * V * SIDE * SIDE
    assert method.memory_bank_bytes() == round(0.1 * n_train_patches) * method.bank.shape[1] * 4
    assert results["m3dm_fusion"][0].memory_bank_bytes() == 0
