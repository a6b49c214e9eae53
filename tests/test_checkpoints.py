"""Checkpoints of the pretrained preset, offline: `bench models fetch` against a fake hub (the hub
API and download replaced by a folder this test writes), the lock check of `--models`,
`--backbone NAME=FOLDER` overrides and their cache keys, hub snapshots' commits, PatchCore's timm
encoder from a folder, and a checkpoint that lacks weights."""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from benchmark.features import checkpoints as C
from benchmark.features.backbones import BackboneConfig, build_backbone
from benchmark.profiles import FeatureOptions, get_profile

PAPER = get_profile("paper")
FAKE_COMMIT = "a" * 40


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> Path:
    """A fake hub: repo folders of shallow random checkpoints, named by backbone."""
    root = tmp_path_factory.mktemp("hub")
    for name in ("ast", "dinov2"):
        C.write_random(name, root / name)
    return root


@pytest.fixture()
def fake_hub_api(hub, monkeypatch):
    """huggingface_hub's model_info and snapshot_download served from `hub`."""
    import huggingface_hub

    from benchmark.features.backbones import BACKBONES

    by_id = {BACKBONES.get(n).hub_id: hub / n for n in ("ast", "dinov2")}
    calls = []

    class FakeApi:
        def model_info(self, repo_id, revision=None, files_metadata=False):
            calls.append((repo_id, revision))
            files = sorted(p.name for p in by_id[repo_id].iterdir())
            siblings = [SimpleNamespace(rfilename=f, lfs=SimpleNamespace(sha256=C.file_sha256(by_id[repo_id] / f))
                                        if f.endswith(".safetensors") else None) for f in files]
            siblings.append(SimpleNamespace(rfilename="flax_model.msgpack", lfs=None))  # not fetched
            return SimpleNamespace(sha=FAKE_COMMIT, siblings=siblings)

    def snapshot_download(repo_id, revision=None, local_dir=None, allow_patterns=None):
        Path(local_dir).mkdir(parents=True, exist_ok=True)
        for f in allow_patterns:
            shutil.copy(by_id[repo_id] / f, Path(local_dir) / f)
        return str(local_dir)

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return calls


def test_fetch_downloads_pinned_revisions_and_writes_the_lock(tmp_path, fake_hub_api):
    from benchmark.cli import main

    assert main(["models", "fetch", "--to", str(tmp_path), "--only", "ast,dinov2",
                 "--revision", "dinov2=v1.0"]) == 0
    assert fake_hub_api == [("MIT/ast-finetuned-audioset-10-10-0.4593", None),
                            ("facebook/dinov2-base", "v1.0")]
    lock = json.loads((tmp_path / C.LOCK_NAME).read_text())["checkpoints"]
    assert set(lock) == {"ast", "dinov2"}
    entry = lock["ast"]
    assert entry["revision"] == FAKE_COMMIT and entry["requested"] == "main"
    assert "model.safetensors" in entry["files"] and "preprocessor_config.json" in entry["files"]
    assert "flax_model.msgpack" not in entry["files"]
    assert lock["dinov2"]["requested"] == "v1.0"
    loaded = C.read_lock(tmp_path)
    assert loaded["ast"].weights == entry["weights"] and loaded["ast"].id == "MIT/ast-finetuned-audioset-10-10-0.4593"


def test_fetch_refuses_a_download_that_differs_from_the_hub(tmp_path, fake_hub_api, monkeypatch):
    import huggingface_hub

    download = huggingface_hub.snapshot_download

    def corrupting(repo_id, **kw):
        path = Path(download(repo_id, **kw))
        with open(path / "model.safetensors", "ab") as f:
            f.write(b"\0")
        return str(path)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", corrupting)
    with pytest.raises(C.CheckpointError, match="model.safetensors: sha256 .* the hub says"):
        C.fetch(tmp_path, ["ast"], log=lambda msg: None)


def _models(tmp_path: Path) -> Path:
    models = tmp_path / "models"
    C.write_random_models(models, names=["ast", "dinov2"])
    return models


def test_models_folder_is_checked_against_its_lock(tmp_path):
    models = _models(tmp_path)
    options = FeatureOptions.make(models=str(models))
    cfg = C.backbone_config("ast", PAPER, options)
    assert cfg.source == str(models / "ast") and cfg.weights == C.read_lock(models)["ast"].weights
    (models / "ast" / "config.json").write_text((models / "ast" / "config.json").read_text() + " ")
    with pytest.raises(C.CheckpointError, match=r"ast/config.json: sha256"):
        C.read_lock(models)
    with pytest.raises(C.CheckpointError, match="has no checkpoint for backbone 'vjepa2'"):
        C.backbone_config("vjepa2", PAPER, FeatureOptions.make(models=str(_models(tmp_path / "b"))))


def test_a_backbone_folder_overrides_the_models_folder_and_changes_the_cache_key(tmp_path):
    from benchmark.features.extractors import EXTRACTORS

    models = _models(tmp_path)
    other = tmp_path / "other-ast"
    C.write_random("ast", other, seed=1)  # same shapes, other weights
    locked = FeatureOptions.make(models=str(models))
    override = FeatureOptions.make({"ast": str(other)}, models=str(models))
    a, b = C.backbone_config("ast", PAPER, locked), C.backbone_config("ast", PAPER, override)
    assert b.source == str(other) and a.weights != b.weights
    assert a.key() != b.key()
    settings = [EXTRACTORS.get("ast")(PAPER, o).settings() for o in (locked, override)]
    assert settings[0] != settings[1]
    # the same files in another folder share the key: it names weights, not paths
    copy = tmp_path / "copy-ast"
    shutil.copytree(other, copy)
    assert C.backbone_config("ast", PAPER, FeatureOptions.make({"ast": str(copy)})).key() == b.key()


def test_hub_snapshots_record_their_commit(tmp_path, hub, monkeypatch):
    import huggingface_hub

    snapshot = tmp_path / "models--x" / "snapshots" / ("b" * 40)
    shutil.copytree(hub / "ast", snapshot)
    seen = {}

    def snapshot_download(repo_id, revision=None, allow_patterns=None):
        seen.update(repo_id=repo_id, revision=revision)
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    ck = C.resolve("ast", FeatureOptions.make({"ast": "MIT/ast-finetuned-audioset-10-10-0.4593"}))
    assert ck.origin == "hub" and ck.revision == "b" * 40 and ck.folder == str(snapshot)
    assert seen == {"repo_id": "MIT/ast-finetuned-audioset-10-10-0.4593", "revision": None}


def test_a_checkpoint_that_lacks_weights_is_refused(hub):
    """DINOv2 weights under the DINOv2-with-registers class: the register tokens are missing,
    and transformers alone would draw them at random."""
    cfg = BackboneConfig("dinov2_reg", "pretrained", str(hub / "dinov2"))
    with pytest.raises(FileNotFoundError, match="lacks .* weights"):
        build_backbone(cfg)


def test_patchcore_encoder_loads_from_a_timm_folder(tmp_path):
    from safetensors.torch import load_file

    from methods.patchcore import HPARAMS, _with_checkpoint

    folder = tmp_path / "wrn"
    C.write_random("wide_resnet50_2", folder)
    cfg = BackboneConfig("wide_resnet50_2", "pretrained", str(folder))
    model = _with_checkpoint(cfg, HPARAMS.used)
    loaded = model.feature_extractor.feature_extractor.state_dict()
    saved = load_file(str(folder / "model.safetensors"))
    assert loaded.keys() <= saved.keys() and "layer3.0.conv1.weight" in loaded
    assert all(torch.equal(loaded[k], saved[k]) for k in loaded)
    out = model.feature_extractor(torch.zeros(1, 3, 64, 64))
    assert [v.shape[1] for v in out.values()] == [512, 1024]  # WideResNet-50-2 widths


def test_models_and_backbones_need_the_pretrained_preset(tmp_path, capsys):
    from benchmark.cli import main

    assert main(["run", "--models", str(tmp_path), "--no-table"]) == 2
    assert "--profile paper" in capsys.readouterr().err


def test_smoke_changes_apply_in_smoke_runs_only():
    from benchmark.method import load_methods

    spec = load_methods().get("dinomaly")
    smoke = dataclasses.replace(PAPER, smoke=True)
    assert spec.hparams.for_profile(PAPER).iterations == 10000
    assert spec.hparams.for_profile(smoke).iterations == 2
    assert spec.hparams.to_json(smoke)["smoke_changes"] and "smoke_changes" not in spec.hparams.to_json(PAPER)
