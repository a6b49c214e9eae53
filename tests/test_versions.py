"""versions.json: every package that shapes a number, the decoding libraries, CUDA and the GPUs."""
from __future__ import annotations

import types

import torch

from benchmark.results import store as R


def test_versions_name_every_package_that_shapes_a_number():
    v = R.versions()
    for pkg in ("torch", "torchvision", "timm", "transformers", "open-clip-torch", "anomalib",
                "numpy", "scipy", "scikit-learn", "pandas", "opencv-python-headless", "av",
                "soundfile", "pillow"):
        assert v.get(pkg), pkg  # installed with the suite, so a version is recorded
    assert v["torch"] == torch.__version__.split("+")[0]
    assert set(v["ffmpeg"]) >= {"libavcodec", "libavformat"} and v["libsndfile"]
    assert v["cuda"] == torch.version.cuda and "gpus" in v and "cudnn" in v


def test_gpus_are_recorded_with_name_and_capability(monkeypatch):
    props = types.SimpleNamespace(name="NVIDIA H200", major=9, minor=0, total_memory=141 * 2**30)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: props)
    gpus = R._accelerator()["gpus"]
    assert gpus == [{"name": "NVIDIA H200", "capability": "9.0", "memory_gib": 141.0}] * 2
