"""The session probes (methods/session_probes.py): each descriptor moves with what a session leaves
in its modality and stays put for the weld; each probe is a registered reference row that reads
one modality; fit/score on constructed inputs, the frame-statistics extractor on a written clip,
and the four probes through the runner on the tiny twin."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from benchmark.data.sample import SENSOR_CHANNELS, WeldConfig
from benchmark.method import FitContext, Group, Inputs, Role, Selector, ViewPooling, load_methods
from benchmark.profiles import Selection, get_profile
from methods.session_probes import (AudioNoiseFloor, BorderStrips, SensorIdle, VideoExposure,
                                    arc_on, idle_head)

PROBES = {"session_probe_image": ("image", "R.5"), "session_probe_audio": ("audio", "R.6"),
          "session_probe_video": ("video", "R.7"), "session_probe_sensor": ("sensor", "R.8")}
ARC = slice(20, 110)  # the arc-on steps of the constructed recordings (128 steps)


def test_idle_head_stops_a_guard_before_the_arc():
    level = np.r_[np.zeros(20), np.full(90, 10.0), np.zeros(18)]
    assert idle_head(arc_on(level, 0.5), guard=1) == slice(0, 19)
    assert idle_head(arc_on(np.full(10, 10.0), 0.5), guard=1) == slice(0, 9)  # one level: all
    assert idle_head(np.ones(5, bool), guard=1) == slice(0, 1)  # arc on from the start: step 0


# ---------------------------------------------------------------------------- descriptors
def _frame_stats(rng, idle_rgb=(30.0, 29.0, 21.0), arc_rgb=(42.0, 40.0, 29.0), glare=150.0):
    stats = np.empty((128, 4))
    stats[:, :3] = np.asarray(idle_rgb) + rng.normal(0, 0.2, (128, 3))
    stats[:, 3] = 38 + rng.normal(0, 0.3, 128)
    stats[ARC, :3] = np.asarray(arc_rgb) + rng.normal(0, 0.5, (90, 3))
    stats[ARC, 3] = glare + rng.normal(0, 4, 90)
    return stats


def test_video_descriptor_reads_the_exposure_before_arc_on():
    probe = VideoExposure()
    base = probe.describe(_frame_stats(np.random.default_rng(0)))
    brighter = probe.describe(_frame_stats(np.random.default_rng(0), idle_rgb=(36.0, 35.0, 27.0)))
    other_weld = probe.describe(_frame_stats(np.random.default_rng(0), arc_rgb=(60.0, 50.0, 30.0),
                                             glare=230.0))
    assert np.abs(brighter[:3] - base[:3]).min() > 5  # the session's exposure moves it
    np.testing.assert_array_equal(other_weld, base)  # the weld pool does not


def _spectrogram(rng, frames, floor=-2.4, hum_bin=None):
    x = floor + rng.normal(0, 0.05, (frames, 683))
    if hum_bin is not None:
        x[:, hum_bin] += 2.0  # a room hum, there before and while welding
    return x


@pytest.mark.parametrize("frames", [32, 900], ids=["quick-pooled", "paper-every-frame"])
def test_audio_descriptor_reads_the_noise_floor_before_arc_on(frames):
    probe = AudioNoiseFloor()
    on = slice(frames // 6, frames - frames // 6)

    def describe(floor=-2.4, hum_bin=None, arc=3.5):
        x = _spectrogram(np.random.default_rng(1), frames, floor, hum_bin)
        x[on] = arc + np.random.default_rng(2).normal(0, 0.1, (on.stop - on.start, 683))
        return probe.describe(x.astype(np.float16))  # the feature is stored as float16

    base = describe()
    assert base.shape == (16,) and np.all(np.abs(base + 2.4) < 0.05)
    assert np.all(describe(floor=-2.0) - base > 0.3)  # a louder room moves every band
    hum = describe(hum_bin=5) - base
    assert hum[0] > 0.02 and np.all(np.abs(hum[1:]) < 0.01)  # a hum moves its own band
    np.testing.assert_array_equal(describe(arc=4.5), base)  # the arc does not


def _views(light=1.0, bead=200.0, n=5, side=112):
    views = np.full((n, side, side, 3), 40.0)  # the bench
    views[:, 30:80, 15:97] = (96, 62, 46)  # the plate
    views[:, 50:56, 20:92] = bead  # the bead
    views[:, 62:72, 35:75] = 20  # where the label was (filled by the guard)
    return np.clip(views * light, 0, 255).astype(np.uint8)


def test_image_descriptor_reads_the_border_strips_not_the_bead():
    probe = BorderStrips()
    base = probe.describe(_views())
    assert base.shape == (12,)
    assert np.all(probe.describe(_views(light=1.3)) - base > 10)  # the room's light moves it
    np.testing.assert_array_equal(probe.describe(_views(bead=120.0)), base)  # the bead does not
    intruding = _views()
    intruding[:, 2:5, 20:92] = 250  # a bead's edge or a plate corner in the top strip
    np.testing.assert_array_equal(probe.describe(intruding), base)  # a minority never sets a median


def _trace(idle_offset=0.0, arc_current=180.0, tail_feed=60.0):
    trace = np.zeros((6, 128))
    trace[SENSOR_CHANNELS.index("Pressure")] = 3.7
    trace[SENSOR_CHANNELS.index("Wire Consumed")] = 0.66
    trace[:, :20] += idle_offset  # every channel's rest value before ignition
    trace[SENSOR_CHANNELS.index("Primary Weld Current"), ARC] = arc_current
    trace[SENSOR_CHANNELS.index("Secondary Weld Voltage"), ARC] = 0.12 * arc_current
    trace[SENSOR_CHANNELS.index("Feed"), ARC.start:] = tail_feed  # feed decays after arc-off
    trace[SENSOR_CHANNELS.index("Wire Consumed"), ARC.start:] += np.linspace(0, 2000, 108)
    return trace


def test_sensor_descriptor_reads_the_idle_rows_before_arc_on():
    probe = SensorIdle()
    base = probe.describe(_trace())
    assert base.shape == (5,) and "Pressure" not in probe.channels  # the rest pressure reads the gas setting
    assert base[probe.channels.index("Wire Consumed")] == pytest.approx(0.66)
    assert np.all(probe.describe(_trace(idle_offset=0.05)) - base == pytest.approx(0.05))
    np.testing.assert_array_equal(probe.describe(_trace(arc_current=230.0, tail_feed=90.0)), base)


# ---------------------------------------------------------------------------- registration
def test_each_probe_is_a_reference_row_reading_one_modality():
    from benchmark.features.extractors import EXTRACTORS, feature_index

    methods, index = load_methods(), feature_index()
    for name, (modality, code) in PROBES.items():
        spec = methods.get(name)
        assert (spec.group, spec.role, spec.family, spec.row_code) == (
            Group.SHORTCUT, Role.REFERENCE, "session_probe", code), name
        assert spec.modalities == (modality,) and spec.display_name == f"Session probe ({modality})"
        for profile in ("quick", "paper"):
            features = spec.feature_names(get_profile(profile))
            sources = {EXTRACTORS.get(index[f]).modality for f in features}
            assert sources == {modality}, (name, features)
        pooling = ViewPooling.FEATURES if modality == "image" else ViewPooling.NONE
        assert spec.view_pooling is pooling, name
        assert not spec.hparams.changes() and "no VAL query" in spec.hparams.original_selection


def _config():
    return WeldConfig("NON_FILLET", 7.0, "FE410", 180.0, 22.0, 1.0, 35.0)


def _features(session: int, n: int, rng) -> dict[str, list]:
    """n welds of one session: the session sets the idle levels, every weld draws its own arc."""
    out = {"image_pixels": [], "audio_stft": [], "video_frame_stats": [], "sensor": []}
    for _ in range(n):
        arc = rng.uniform(0.5, 1.5)
        out["image_pixels"].append(_views(light=1.0 + 0.3 * session + rng.normal(0, 0.01),
                                          bead=150 + 60 * arc))
        x = _spectrogram(rng, 32, floor=-2.4 + 0.5 * session)
        x[6:26] = 3.0 + arc
        out["audio_stft"].append(x.astype(np.float16))
        out["video_frame_stats"].append(_frame_stats(rng, idle_rgb=(30 + 6 * session, 29, 21),
                                                     glare=120 + 60 * arc))
        trace = _trace(idle_offset=0.2 * session, arc_current=150 + 60 * arc)
        out["sensor"].append(trace + rng.normal(0, 0.005, trace.shape))
    return out


def test_probes_fit_on_train_and_flag_an_unseen_session():
    rng = np.random.default_rng(0)
    train = _features(0, 8, rng)
    seen, unseen = _features(0, 4, rng), _features(1, 4, rng)
    ctx = FitContext(seed=0, device="cpu", profile=get_profile("quick"),
                     selector=Selector(Selection("last"), None), text_embedding=lambda _: None)
    methods = load_methods()
    for name in PROBES:
        spec = methods.get(name)
        method = spec.build(get_profile("quick"))
        (feature,) = method.features

        def inputs(features):
            return Inputs(configs=(_config(),) * len(features[feature]),
                          features={feature: features[feature]})

        method.fit(inputs(train), inputs(_features(0, 2, rng)), ctx)
        scores = method.score(inputs({k: seen[k] + unseen[k] for k in seen})).sample
        assert scores.shape == (8,) and np.isfinite(scores).all()
        assert scores[:4].max() < scores[4:].min(), name  # the unseen session ranks above


# ---------------------------------------------------------------------------- the extractor
def test_frame_stats_extractor_sees_the_arc_light_up(tmp_path):
    from benchmark.data.synth import write_video
    from benchmark.features.extractors import EXTRACTORS
    from benchmark.profiles import FeatureOptions

    frames = np.full((60, 48, 64, 3), (40, 36, 28), np.uint8)
    frames[20:50, 18:30, 26:38] = 250  # the arc
    write_video(tmp_path / "clip.avi", frames)
    extractor = EXTRACTORS.get("frame_stats")(get_profile("quick"), FeatureOptions())
    assert extractor.settings()["frames"] == extractor.frames  # the cache keys on it
    (out,) = extractor.compute([SimpleNamespace(video=tmp_path / "clip.avi")])
    stats = out["video_frame_stats"]
    assert stats.shape == (extractor.frames, 4) and stats.dtype == np.float32
    head = idle_head(arc_on(stats[:, 3], 0.5), 1)
    assert 35 <= head.stop <= 43  # ~ frame 20 of 60, sampled at 128
    np.testing.assert_allclose(stats[: head.stop, :3].mean(0), (40, 36, 28), atol=3)
    assert stats[60, 3] > 200 and stats[0, 3] < 60


# ---------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_probes_run_through_the_runner_on_the_tiny_twin(tiny_twin, tiny_cache, tmp_path):
    from benchmark.results import store as R
    from benchmark.run.config import RunConfig
    from benchmark.run.runner import run

    run_dir = run(RunConfig(methods=tuple(PROBES), seeds=(0,), root=tiny_twin, out=tmp_path, cache=tiny_cache))
    units = {u.method: u for u in R.load_run(run_dir)}
    assert set(units) == set(PROBES)
    tested = {name: sorted(row["id"] for row in u.scores()) for name, u in units.items()}
    assert len({tuple(ids) for ids in tested.values()}) == 1 and tested["session_probe_image"]
    for name, unit in units.items():
        assert unit.config["role"] == "reference" and unit.config["group"] == "shortcut-floor", name
