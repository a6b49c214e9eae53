"""The paper profile end to end, offline, at paper shapes: every backbone written as a local
checkpoint folder in the hub layout with the published configuration (few layers, random
weights) and its processor config, a six-weld synthetic twin drawn at the real media sizes
(2064x1548 photos, 38 s clips), and `bench run --profile paper --models DIR --smoke` for every
registered method. It proves the loading path (lock check, transformers and timm folders,
processors), every tensor shape at paper resolution and that each method fits and scores.

Cost (2-core CPU, see the note of issue 11): a few minutes, most of it V-JEPA 2 at 64x256x256
and Dinomaly's 10-block encoder at 392 px. `scripts/paper_shapes.py` prints time and peak memory
per method for the same run. Deselect with `-m "not paper"`.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from benchmark.features.checkpoints import LOCK_NAME, read_lock
from benchmark.method import Group, load_methods
from benchmark.profiles import get_profile
from benchmark.results import store as R

pytestmark = pytest.mark.paper
METHODS = load_methods()


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory) -> dict:
    from benchmark.cli import main
    from benchmark.data.synth import synthesize
    from benchmark.data.synth.media import protocol_minimum
    from benchmark.features.checkpoints import write_random_models

    tmp = tmp_path_factory.mktemp("paper")
    models = tmp / "models"
    write_random_models(models, depth="shallow")
    twin = synthesize(tmp / "twin", seed=0, size="tiny", media="full", select=protocol_minimum,
                      workers=1)
    out = tmp / "results"
    code = main(["run", "--profile", "paper", "--models", str(models), "--smoke", "--root", str(twin),
                 "--out", str(out), "--run", "paper-shapes", "--no-table"])
    assert code == 0
    return {"models": models, "twin": twin, "run_dir": out / "paper-shapes", "cache": out / ".feature_cache"}


def _cached(cache: Path, extractor: str) -> list[dict]:
    folders = [p for p in (cache / extractor).iterdir() if p.is_dir()]
    assert len(folders) == 1, f"{extractor}: one cache folder expected, found {folders}"
    entries = []
    for path in sorted(folders[0].glob("*.npz")):
        with np.load(path) as z:
            entries.append({k: z[k] for k in z.files})
    assert len(entries) == 6
    return entries


def test_twin_is_drawn_at_full_media_size(paper_run):
    from benchmark.data.decode import audio_duration, probe_video, read_image

    twin = paper_run["twin"]
    photo = read_image(next(twin.rglob("images/*.jpg")))
    assert photo.shape == (1548, 2064, 3)
    video = probe_video(next(twin.rglob("*.avi")))
    assert video["frames"] >= 64 and video["duration_s"] == pytest.approx(38.0, abs=0.1)
    assert audio_duration(next(twin.rglob("*.flac"))) == pytest.approx(38.0, abs=0.1)


@pytest.mark.parametrize("extractor, feature, shape", [
    ("vjepa2", "video_tokens", (32, 1024)),  # 64 frames / tubelet 2; ViT-L width
    ("ast", "audio_tokens", (32, 768)),  # Profile.audio_tokens; ViT-B width
    ("dinov2", "image_cls", (5, 768)),
    ("dinov2", "image_patches", (5, 256, 768)),  # 224 / 14 = 16 x 16 patches, whole view
    ("dinov2_fine", "image_patches_fine", (5, 784, 768)),  # 392 / 14 = 28 x 28 (M3DM, CFM)
    ("pixels", "image_pixels", (5, 448, 448, 3)),
    ("pixels", "image_region_pixels", (5, 448, 448, 3)),  # the weld's region, cut at full size
    ("pixels", "image_region", (5, 3, 2)),
    ("stft", "audio_stft", (1 + 608000 // 682, 683)),  # 38 s at 16 kHz, hop 682, all frames kept
    ("sensor", "sensor", (6, 128)),
])
def test_features_have_paper_shapes(paper_run, extractor, feature, shape):
    for entry in _cached(paper_run["cache"], extractor):
        assert entry[feature].shape == shape
        assert np.isfinite(entry[feature].astype(np.float32)).all()


def test_backbone_features_are_keyed_by_the_locked_checkpoint(paper_run):
    lock = read_lock(paper_run["models"])
    for extractor, backbone in (("vjepa2", "vjepa2"), ("ast", "ast"), ("dinov2", "dinov2")):
        folder = next(p for p in (paper_run["cache"] / extractor).iterdir() if p.is_dir())
        settings = json.loads((folder / "settings.json").read_text())
        assert settings["backbone"]["weights"] == lock[backbone].weights
        assert "processor" in settings  # the checkpoint's own processor, in the key
    dinov2 = json.loads(next((paper_run["cache"] / "dinov2").glob("*/settings.json")).read_text())
    assert "no centre crop" in dinov2["adaptation"]


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_runs_at_paper_shapes(paper_run, method):
    run_dir = paper_run["run_dir"]
    assert R.is_done(run_dir, method, 0), f"{method} has no complete result"
    folder = R.unit_dir(run_dir, method, 0)
    with open(folder / "scores.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and all(np.isfinite(float(r["score"])) for r in rows)
    config = json.loads((folder / "config.json").read_text())
    assert config["profile"]["name"] == "paper" and config["profile"]["smoke"] is True
    spec = METHODS.get(method)
    if spec.hparams.smoke:
        assert config["hyperparameters"]["smoke_changes"]
    versions = json.loads((folder / "versions.json").read_text())
    lock = read_lock(paper_run["models"])
    # NOTE: a method that reads only sensors, STFT frames or the manifest runs no backbone, and
    # neither does a shortcut floor (the session probes read statistics of pixels and frames)
    if spec.group is not Group.SHORTCUT and set(spec.feature_names(get_profile("paper"))) - {"sensor", "audio_stft"}:
        assert versions["backbones"], f"{method}: versions.json names no backbone"
    for name, record in versions["backbones"].items():
        assert record["weights_sha256"] == lock[name].weights, f"{method}: {name} not from the lock"


def test_own_encoders_come_from_the_models_folder(paper_run):
    """Dinomaly's DINOv2-reg (10 blocks: it reads blocks 2-9) and PatchCore's timm WideResNet are
    built by the methods themselves; both must be the locked folders' weights."""
    run_dir = paper_run["run_dir"]
    for method, backbone in (("dinomaly", "dinov2_reg"), ("patchcore", "wide_resnet50_2")):
        versions = json.loads((R.unit_dir(run_dir, method, 0) / "versions.json").read_text())
        assert backbone in versions["backbones"]
    lock = json.loads((paper_run["models"] / LOCK_NAME).read_text())
    assert set(lock["checkpoints"]) >= {"vjepa2", "ast", "dinov2", "dinov2_reg", "clip_text",
                                        "wide_resnet50_2"}
