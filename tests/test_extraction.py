"""Feature extraction: loaders ahead of the backbone (`FeatureStore.loaders`, the default on CUDA:
threads for a backbone's inputs, processes for the extractors without one) give exactly the
features of the inline loop, and the CPU path uses no autocast."""
from __future__ import annotations

import numpy as np

from benchmark.data.loader import load_dataset
from benchmark.features.cache import FeatureStore
from benchmark.features.extractors import EXTRACTORS
from benchmark.profiles import FeatureOptions, get_profile

FEATURES = ("video_tokens", "audio_tokens", "image_cls", "image_patches", "image_pixels",
            "image_region_pixels", "image_region",
            "audio_stft", "sensor")


def test_loaders_give_the_inline_features(tiny_twin, tmp_path):
    dataset = load_dataset(tiny_twin)
    samples = dataset.split("TRAIN")[:6] + dataset.split("TEST")[:5]  # batches of 8 and a rest
    quick = get_profile("quick")
    alone = FeatureStore(tmp_path / "inline", quick, loaders=0)
    inline = alone.get(samples, FEATURES)
    store = FeatureStore(tmp_path / "loaders", quick, loaders=2)
    loaded = store.get(samples, FEATURES)
    for name in FEATURES:
        for a, b in zip(inline[name], loaded[name]):
            assert np.array_equal(a, b), name
    assert store.report()["vjepa2"]["computed"] == store.report()["pixels"]["computed"] == len(samples)
    for count in ("labels_missed", "labels_unsure"):  # counted in the loader processes
        assert store.report()["pixels"][count] == alone.report()["pixels"][count]


def test_autocast_only_on_cuda():
    quick = get_profile("quick")
    cpu = EXTRACTORS.get("ast")(quick, FeatureOptions(), "cpu")
    cuda = EXTRACTORS.get("ast")(quick, FeatureOptions(), "cuda")
    assert "precision" not in cpu.settings() and cuda.settings()["precision"] == "bf16 autocast"
    with cpu.autocast():
        import torch

        assert not torch.is_autocast_enabled("cpu")


def test_fine_grid_is_its_own_extraction(tiny_twin, tmp_path):
    """The cross-modal originals' 28 x 28 grid: a second DINOv2 extraction at
    `Profile.fine_image_size`, keyed apart from the shared tokens, asked for by M3DM and CFM."""
    import dataclasses

    from methods._pairing import patch_feature

    quick = get_profile("quick")
    fine = dataclasses.replace(quick, fine_image_size=56)  # 4 x 4 patches next to quick's 8 x 8
    assert patch_feature(quick) == "image_patches" and patch_feature(fine) == "image_patches_fine"
    assert patch_feature(get_profile("paper")) == "image_patches_fine"
    samples = load_dataset(tiny_twin).split("TRAIN")[:2]
    # NOTE: no label guard: the grids, not the label, are under test (and the guard costs seconds)
    store = FeatureStore(tmp_path, fine, options=FeatureOptions(label_guard=False), loaders=0)
    got = store.get(samples, ("image_patches", "image_patches_fine"))
    assert got["image_patches"][0].shape[1:] == (64, got["image_patches_fine"][0].shape[-1])
    assert got["image_patches_fine"][0].shape[1] == 16
    settings = [EXTRACTORS.get(name)(fine, FeatureOptions()).settings() for name in ("dinov2", "dinov2_fine")]
    assert (settings[0]["size"], settings[1]["size"]) == (112, 56)


def test_image_models_read_the_weld_region_unless_told_the_whole_view(tiny_twin, tmp_path):
    """By default what image models read of a view (`image_region_pixels`) is its weld region,
    a part of the view; `--whole-view` (`FeatureOptions.weld_region` False) makes it the view
    itself, and the cache keys the two apart."""
    from benchmark.run.config import RunConfig

    assert RunConfig(weld_region=False).feature_options().weld_region is False
    quick = get_profile("quick")
    samples = load_dataset(tiny_twin).split("TRAIN")[:2]
    names = ("image_pixels", "image_region_pixels", "image_region")
    region = FeatureStore(tmp_path / "a", quick, FeatureOptions(), loaders=0).get(samples, names)
    whole = FeatureStore(tmp_path / "b", quick, FeatureOptions(weld_region=False), loaders=0).get(samples, names)
    whole_view = np.float32([[0, 0], [1, 0], [0, 1]])
    for views, crops, corners in zip(*(whole[n] for n in names)):
        assert np.array_equal(crops, views) and np.all(corners == whole_view)
    for views, crops, corners in zip(*(region[n] for n in names)):
        assert crops.shape == views.shape and not np.array_equal(crops, views)
        spans = np.linalg.norm(corners[:, 1:] - corners[:, :1], axis=-1)  # (V, 2) sides, fractions
        assert np.all(spans < 1.0) and np.all(spans > 0.1), spans
    settings = [EXTRACTORS.get("pixels")(quick, FeatureOptions(weld_region=w)).settings() for w in (True, False)]
    assert settings[0] != settings[1]


def test_a_file_is_hashed_again_only_when_it_changed(tiny_twin, tmp_path):
    """The feature-cache key of a sample's files is read once per process while the files stay
    as they were (every unit asks again); a file written since (same size, new bytes) gets a
    new key."""
    import dataclasses
    import os
    import shutil

    from benchmark.features.cache import _content_key, content_key

    sample = load_dataset(tiny_twin).split("TEST")[0]
    audio = tmp_path / sample.audio.name
    shutil.copy(sample.audio, audio)
    sample = dataclasses.replace(sample, audio=audio)
    key = content_key(sample, "audio")
    hits = _content_key.cache_info().hits
    assert content_key(sample, "audio") == key and _content_key.cache_info().hits == hits + 1
    data = bytearray(audio.read_bytes())
    data[100] ^= 0xFF  # in the first MiB, which the key reads
    audio.write_bytes(bytes(data))
    stat = audio.stat()
    os.utime(audio, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert content_key(sample, "audio") != key


def _mapped(array) -> bool:
    import mmap

    while isinstance(array, np.ndarray):
        array = array.base
    return isinstance(getattr(array, "obj", array), mmap.mmap)  # np.frombuffer's memoryview of a map


def test_cache_entries_are_mapped_not_copied(tmp_path, monkeypatch):
    """A feature-cache entry (an `np.savez` archive) of MAP_FROM_BYTES or more is read as views
    of one memory map of its file: the same arrays as `np.load`, no copy in the process's own
    memory; a method that writes into one changes a private page, not the file. A smaller or
    compressed archive, or one past the budget of maps (file descriptors), is read."""
    import gc

    from benchmark.features import cache

    arrays = {"tokens": np.random.default_rng(0).standard_normal((5, 49, 8)).astype(np.float16),
              "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)), "scalar": np.array(2.5),
              "empty": np.zeros((0, 3))}
    path = tmp_path / "entry.npz"
    with open(path, "wb") as f:
        np.savez(f, **arrays)

    def read(mapped: bool) -> dict:
        out = cache.read_npz_mapped(path)
        assert set(out) == set(arrays) and _mapped(out["tokens"]) == mapped
        for k, a in arrays.items():
            assert out[k].dtype == a.dtype and out[k].shape == a.shape and np.array_equal(out[k], a), k
        return out

    read(mapped=False)  # smaller than MAP_FROM_BYTES
    monkeypatch.setattr(cache, "MAP_FROM_BYTES", 0)
    maps = cache._open_maps[0]
    entry, before = read(mapped=True), path.read_bytes()
    assert cache._open_maps[0] == maps + 1  # one map (one file descriptor) for the whole entry
    entry["tokens"][:] = 0
    assert path.read_bytes() == before
    del entry
    gc.collect()
    assert cache._open_maps[0] == maps  # closed with its last array
    read(mapped=True)
    monkeypatch.setattr(cache, "_map_budget", lambda: cache._open_maps[0])  # no map left
    read(mapped=False)
    monkeypatch.undo()
    monkeypatch.setattr(cache, "MAP_FROM_BYTES", 0)
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)
    read(mapped=False)


def test_a_mapped_entry_is_not_the_units_own_memory(tmp_path):
    """The unit's memory figures (`PeakMemory`): reading a mapped 64 MiB entry through raises the
    resident peak by about its size, and the private peak (the process's own pages, which the
    efficiency record and the cost projection use) by much less."""
    import psutil

    from benchmark.features.cache import read_npz_mapped
    from benchmark.run.resources import PeakMemory

    path = tmp_path / "entry.npz"
    with open(path, "wb") as f:
        np.savez(f, x=np.ones(2**23))  # 64 MiB of float64
    info = psutil.Process().memory_info()
    with PeakMemory() as mem:
        x = read_npz_mapped(path)["x"]
        assert x.sum() == 2**23  # every page read
    del x
    mib = 2**20
    assert mem.peak - info.rss > 48 * mib
    assert mem.private_peak - (info.rss - info.shared) < 16 * mib
