"""Late-fusion and concatenation-autoencoder adapters on a small synthetic in-memory set.

Each method trains and scores with a fixed seed: right shapes, no NaNs, same seed -> same scores,
and an anomaly planted in one modality scores above the normals when the method sees it.
"""
from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import methods.concat_ae  # noqa: F401  (registers)
import methods.late_fusion_av  # noqa: F401
import methods.late_fusion_cross  # noqa: F401
from benchmark.data.sample import WeldConfig
from benchmark.method import (METHODS, FitContext, Group, Inputs, Method, ProfileChanges, Scores, Selector,
                              register_method, set_seed, unchanged)
from benchmark.profiles import Selection, get_profile
from benchmark.run.unit import val_query
from methods.late_fusion_av import moving_average_max, segments

CONFIG = WeldConfig("FILLET", 8.0, "FE410", 180, 24, 4, 30)
BINS = 65  # fewer STFT bins than the real 683 keep the test fast; the model reads the width
N_TRAIN, N_NORMAL, N_ANOMALOUS = 32, 16, 8


# ---------------------------------------------------------------------------- synthetic data
def _sample(rng: np.random.Generator, bases: dict, planted: str | None) -> dict:
    """One sample: each feature = base + low-rank normal variation + noise; an anomaly adds a
    structured offset to one modality only."""
    def low_rank(base, scale=0.3):
        z = rng.normal(size=(base.shape[0], 3)) if base.ndim == 2 else rng.normal(size=3)
        w = bases["mix"][:, : base.shape[-1]]  # (3, D): a fixed 3-d subspace
        return base + scale * (z @ w) + 0.05 * rng.normal(size=base.shape)

    f = {"video_tokens": low_rank(bases["video"]), "audio_tokens": low_rank(bases["audio"]),
         "audio_stft": low_rank(bases["stft"]), "image_cls": low_rank(bases["image"]),
         "sensor": bases["sensor"] + 0.02 * np.abs(bases["sensor"]) * rng.normal(size=(6, 128))}
    if planted == "video":
        f["video_tokens"][2:6, 10:20] += 2.0
    elif planted == "audio":
        f["audio_stft"][:, 20:26] += 3.0  # a tone band across the record
        f["audio_tokens"][:, 30:40] += 2.0
    elif planted == "sensor":
        f["sensor"][3, 40:90] *= 1.5  # current surge
    elif planted == "image":
        f["image_cls"][:, 40:50] += 2.0
    f["audio_stft"] = f["audio_stft"].astype(np.float16)
    return {k: (v if k == "audio_stft" else v.astype(np.float32)) for k, v in f.items()}


@functools.lru_cache(maxsize=None)
def dataset(planted: str, seed: int = 0) -> tuple[Inputs, Inputs, Inputs, np.ndarray, np.ndarray]:
    """TRAIN (normal), VAL and TEST (normals + anomalies planted in `planted`), VAL/TEST labels."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, 128)
    bases = {"video": rng.normal(size=(8, 64)), "audio": rng.normal(size=(16, 64)),
             "stft": np.tile(-4 + 2 * np.cos(np.linspace(0, 6, BINS)), (32, 1)),
             "image": rng.normal(size=(5, 64)), "mix": rng.normal(size=(3, 128)),
             "sensor": np.stack([3 + 0 * t, 15 + 0 * t, 70 + 0 * t, 180 + 5 * np.sin(6 * t),
                                 100 * t, 24 + np.cos(6 * t)])}

    def split(n_normal, n_anomalous):
        samples = [_sample(rng, bases, None) for _ in range(n_normal)]
        samples += [_sample(rng, bases, planted) for _ in range(n_anomalous)]
        inputs = Inputs(configs=(CONFIG,) * len(samples),
                        features={k: [s[k] for s in samples] for k in samples[0]})
        return inputs, np.array([0] * n_normal + [1] * n_anomalous)

    train, _ = split(N_TRAIN, 0)
    val, val_labels = split(N_NORMAL, N_ANOMALOUS)
    test, test_labels = split(N_NORMAL, N_ANOMALOUS)
    return train, val, test, val_labels, test_labels


def only(inputs: Inputs, names) -> Inputs:
    return dataclasses.replace(inputs, features={n: inputs[n] for n in names})


# ---------------------------------------------------------------------------- a result-only stand-in
class MeanImageDistance(Method):
    """Stand-in result-only method: distance of the view-averaged [CLS] to the TRAIN mean."""

    group = Group.RESULT
    modalities = ("image",)

    def fit(self, train, val, ctx):
        self.center = train.stack("image_cls").mean((0, 1))

    def score(self, inputs):
        return Scores(sample=np.linalg.norm(inputs.stack("image_cls").mean(1) - self.center, axis=1))


@dataclasses.dataclass(frozen=True)
class _NoHparams:
    pass


STAND_IN = "test_fusion_image_stand_in"
FAST_AV = "test_fusion_late_fusion_av_fast"  # late_fusion_av with a shorter schedule (variant = data)
FAST = {"audio_epochs": 6, "video_epochs": 10}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """NOTE: these models are tiny; on a loaded 2-core machine two threads spend most of their
    time waiting on each other (20x slower here). Restored after the module."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module", autouse=True)
def test_methods_registered():
    av = METHODS.get("late_fusion_av")
    fast = dataclasses.replace(av.hparams, profiles={"quick": ProfileChanges(
        {**av.hparams.profiles["quick"].values, **FAST})})
    register_method(STAND_IN, MeanImageDistance, hparams=unchanged(_NoHparams()),
                    features=("image_cls",), summary="test stand-in", view_pooling="features")
    register_method(FAST_AV, av.cls, hparams=fast, features=av.features, summary="test variant")
    yield
    METHODS.remove(STAND_IN)
    METHODS.remove(FAST_AV)


# ---------------------------------------------------------------------------- running a method
def build(name: str, **overrides) -> Method:
    spec = METHODS.get(name)
    hp = dataclasses.replace(spec.hparams.for_profile(get_profile("quick")), **overrides)
    return spec.cls(hp, tuple(spec.features(hp, get_profile("quick"))) if callable(spec.features)
                    else spec.features)


def run(name: str, planted: str, seed: int = 0, **overrides) -> tuple[Method, np.ndarray, np.ndarray]:
    train, val, test, val_labels, test_labels = dataset(planted)
    set_seed(seed)  # as the runner does, once per unit, before the method is built
    method = build(name, **overrides)
    ctx = FitContext(seed=seed, device="cpu", profile=get_profile("quick"), selector=Selector(Selection("val"), val_query(val_labels)),
                     text_embedding=lambda prompt: np.zeros(8, np.float32), log=lambda msg: None)
    feats = method.features
    method.fit(only(train, feats), only(val, feats), ctx)
    scores = method.score(only(test, feats))
    return method, scores.sample, test_labels


@functools.lru_cache(maxsize=None)
def cached_run(name: str, planted: str, seed: int = 0, overrides: tuple = ()) -> tuple[np.ndarray, np.ndarray, Method]:
    method, scores, labels = run(name, planted, seed, **dict(overrides))
    return scores, labels, method


CROSS = (("process_method", FAST_AV), ("image_method", STAND_IN))
CASES = [  # (method, planted modality, hyperparameter overrides)
    (FAST_AV, "audio", ()),
    (FAST_AV, "video", ()),
    ("concat_ae_av", "audio", ()),
    ("concat_ae_av", "video", ()),
    ("concat_ae_all", "sensor", ()),
    ("concat_ae_all", "image", ()),
    ("late_fusion_cross", "image", CROSS),
    ("late_fusion_cross", "audio", CROSS),
]


@pytest.mark.parametrize("name,planted,overrides", CASES)
def test_planted_anomaly_scores_high(name, planted, overrides):
    scores, labels, _ = cached_run(name, planted, 0, overrides)
    assert scores.shape == (len(labels),)
    assert np.isfinite(scores).all()
    assert roc_auc_score(labels, scores) > 0.9, scores


@pytest.mark.parametrize("name,overrides", [(FAST_AV, ()), ("concat_ae_all", ())])
def test_same_seed_same_scores(name, overrides):
    planted = "audio" if name == FAST_AV else "sensor"
    first, _, _ = cached_run(name, planted, 0, overrides)
    _, again, _ = run(name, planted, 0, **dict(overrides))
    np.testing.assert_array_equal(first, again)


def test_cross_fusion_reuses_the_standalone_process_model():
    """Inside late_fusion_cross, late_fusion_av's autoencoders train exactly as they do alone
    (same seed); its own weight is label-free there (equal weights): the cross weight is the
    method's one label-consuming decision."""
    _, _, cross = cached_run("late_fusion_cross", "audio", 0, CROSS)
    _, _, alone = cached_run(FAST_AV, "audio", 0)
    test = only(dataset("audio")[2], alone.features)
    for branch in ("audio_scores", "video_scores"):
        np.testing.assert_allclose(getattr(cross.process, branch)(test), getattr(alone, branch)(test),
                                   rtol=1e-6)
    assert cross.process.weight == 0.5 and 0.0 <= cross.weight <= 1.0


def test_cross_fusion_scores_a_weld_once_per_sub_method():
    """The reliance check scores TEST again with one medium taken from other welds: with the
    images swapped, only the process sub-method sees new inputs, so the image sub-method does
    not run again, and the fused scores are those of scoring both sub-methods afresh."""
    from methods.late_fusion_cross import restrict

    _, _, cross = cached_run("late_fusion_cross", "image", 0, CROSS)
    test = dataset("image")[2]
    donor = np.roll(np.arange(len(test)), 1)
    swapped = dataclasses.replace(test, features={
        k: ([v[j] for j in donor] if k == "image_cls" else v) for k, v in test.features.items()})
    cross.score(test)
    calls = []
    image_score = cross.image.score
    cross.image.score = lambda inputs: calls.append(len(inputs)) or image_score(inputs)
    try:
        fused = cross.score(swapped).sample
    finally:
        del cross.image.score
    assert calls == []
    afresh = [z(m.score(restrict(swapped, m.features)).sample)
              for z, m in zip(cross.z, (cross.process, cross.image))]
    np.testing.assert_allclose(fused, cross.weight * afresh[0] + (1 - cross.weight) * afresh[1],
                               rtol=1e-6)
    assert not np.allclose(fused, cross.score(test).sample)  # the swap moved the scores


def test_a_fused_method_loads_the_methods_it_builds():
    """A worker process imports only the adapters of its planned units: the methods a fused
    method builds are loaded when it asks for them (`method_spec`)."""
    from benchmark.method import method_spec

    import sys

    import methods as package

    spec, module = METHODS.get("late_fusion_av"), sys.modules["methods.late_fusion_av"]
    METHODS.remove("late_fusion_av")
    del sys.modules["methods.late_fusion_av"]  # as in a process that never imported it
    try:
        loaded = method_spec("late_fusion_av")
        assert loaded.cls is not spec.cls and loaded.cls.__name__ == spec.cls.__name__
    finally:  # NOTE: the module and class the other tests hold
        if "late_fusion_av" in METHODS:
            METHODS.remove("late_fusion_av")
        METHODS.add("late_fusion_av", spec)
        sys.modules["methods.late_fusion_av"] = package.late_fusion_av = module


def test_fusion_weight_uses_the_informative_modality():
    """An audio-only anomaly gets some audio weight, a video-only one some video weight (the
    earliest of equally good weights wins, so any weight that separates VAL perfectly can win)."""
    assert cached_run(FAST_AV, "audio")[2].weight > 0.0
    assert cached_run(FAST_AV, "video")[2].weight < 1.0


def test_fusion_weight_follows_the_selection_policy():
    from methods._blocks import fusion_weight

    labels = np.array([0, 0, 0, 1, 1, 1])
    informative, noise = np.array([0, 1, 2, 3, 4, 5.0]), np.array([5, 0, 4, 1, 3, 2.0]) * 10

    def ctx(policy, budget=11):
        return FitContext(seed=0, device="cpu", profile=get_profile("quick"),
                          selector=Selector(Selection(policy, budget), val_query(labels)),
                          text_embedding=lambda p: np.zeros(1))

    val = ctx("val")  # a grid of 11 weights: 0, 0.1, ..., 1
    assert fusion_weight(val, lambda: informative, lambda: noise) >= 0.9  # the earliest perfect one
    assert val.selector.queries == 11
    val = ctx("val")
    assert fusion_weight(val, lambda: noise, lambda: informative) == 0.0
    last = ctx("last")
    assert fusion_weight(last, lambda: 1 / 0, lambda: 1 / 0) == 0.5  # no VAL score, no query
    assert last.selector.queries == 0


def test_registrations():
    specs = {n: METHODS.get(n) for n in ("late_fusion_av", "concat_ae_av", "concat_ae_all", "late_fusion_cross")}
    assert specs["late_fusion_av"].group is Group.PROCESS
    assert specs["late_fusion_av"].feature_names(get_profile("quick")) == ("audio_stft", "video_tokens")
    assert specs["concat_ae_av"].group is Group.PROCESS
    assert set(specs["concat_ae_av"].modalities) == {"video", "audio"}
    assert specs["concat_ae_all"].group is Group.CROSS
    assert set(specs["concat_ae_all"].feature_names(get_profile("paper"))) == {"video_tokens", "audio_tokens", "sensor", "image_cls"}
    assert specs["late_fusion_cross"].group is Group.CROSS
    assert specs["late_fusion_cross"].hparams.used.image_method == "dinomaly"


def test_moving_average_and_segments():
    assert moving_average_max(np.array([0.0, 0.0, 3.0, 3.0, 0.0]), 2) == 3.0
    assert moving_average_max(np.array([1.0, 3.0]), 5) == 2.0  # fewer frames than the window
    crops = segments([np.arange(10)[:, None], np.arange(7)[:, None]], 4)
    assert crops.shape == (5, 4, 1) and crops[2, -1, 0] == 9  # the tail crop ends at the end


def test_stft_extractor(tmp_path):
    import soundfile as sf

    from benchmark.data.sample import Sample
    from benchmark.features.extractors import EXTRACTORS
    from benchmark.profiles import FeatureOptions, get_profile

    t = np.arange(16000 * 3) / 16000
    path = tmp_path / "tone.flac"
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32), 16000)
    sample = Sample("x", "Good", "TRAIN", CONFIG, tmp_path, audio=path)
    ext = EXTRACTORS.get("stft")(get_profile("quick"), FeatureOptions())
    settings = ext.settings()
    assert settings["n_fft"] == 1365 and settings["hop"] == 682 and settings["frames"] == 32
    spec = ext.compute([sample])[0]["audio_stft"]
    assert spec.shape == (32, 683) and spec.dtype == np.float16
    assert abs(np.argmax(spec[16].astype(np.float32)) * 16000 / 1365 - 1000) < 16000 / 1365
    # late_fusion_av declares the STFT it is handed: the declaration is the extractor's setting
    declared = METHODS.get("late_fusion_av").hparams.used
    for profile in ("quick", "paper"):
        settings = EXTRACTORS.get("stft")(get_profile(profile), FeatureOptions()).settings()
        assert (settings["rate"], settings["n_fft"]) == (declared.audio_rate_hz, declared.audio_fft)
