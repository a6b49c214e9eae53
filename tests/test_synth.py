"""The synthetic twin (benchmark.data.synth): layout, loader round trip, visibility table,
determinism, label. One tiny dataset (128 samples) is generated once per module."""
from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from benchmark.data import synth as S
from benchmark.data.sample import CATEGORIES, MANIFEST_COLUMNS, SENSOR_HEADER

SEED = 0
MODS = ("video", "audio", "sensor", "image")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return S.synthesize(tmp_path_factory.mktemp("synth") / "tiny", seed=SEED, size="tiny")


@pytest.fixture(scope="module")
def specs() -> list[S.SampleSpec]:
    return S.plan(SEED, "tiny")


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------ layout, loader


def test_plan_sizes_and_splits():
    full = S.plan(SEED, "full")
    real = [s for s in full if s.code != 12]
    assert len(real) == 4040 and len(full) == 4200
    good = [s for s in real if s.code == 0]
    assert [sum(s.split == k for s in good) for k in ("TRAIN", "VAL", "TEST")] == [576, 122, 121]
    quick = S.plan(SEED, "quick")
    assert 380 <= len(quick) <= 450
    assert sum(s.split == "TRAIN" for s in quick) >= 60
    for code in range(1, 13):
        for split in ("VAL", "TEST"):
            assert sum(s.code == code and s.split == split for s in quick) >= 6
    for plan_ in (full, quick, S.plan(SEED, "quick", recipes="neutral")):
        assert all(s.split != "TRAIN" or s.code == 0 for s in plan_)
        assert len({s.run_id for s in plan_}) == len(plan_)
        for s in plan_:
            weld = s.config.weld_type
            assert not (s.code in S.FILLET_ONLY and weld != "FILLET")
            assert not (s.code in S.NON_FILLET_ONLY and weld != "NON_FILLET")
            assert s.run_id.endswith(f"-{s.code:02d}") and len(s.run_id) == 16
            assert list(s.image_stems) == sorted(s.image_stems)


def test_layout_and_manifest(tiny, specs):
    import pandas as pd

    manifest = pd.read_csv(tiny / "manifest.csv", dtype=str, keep_default_na=False)
    assert tuple(manifest.columns) == MANIFEST_COLUMNS
    assert len(manifest) == len(specs) == 128
    for spec in specs[::9]:
        d = tiny / spec.folder / spec.run_id
        assert {p.name for p in d.iterdir()} == {
            f"{spec.run_id}.avi", f"{spec.run_id}.flac", f"{spec.run_id}.csv", "images", "masks"}
        assert sorted(p.stem for p in (d / "images").iterdir()) == list(spec.image_stems)
        assert sorted(p.stem for p in (d / "masks").iterdir()) == list(spec.image_stems)
        lines = (d / f"{spec.run_id}.csv").read_bytes().split(b"\r\n")
        assert lines[0].decode() == ",".join(SENSOR_HEADER)
        assert lines[0].decode().endswith("Remarks ")
        assert all(len(row.split(b",")) == 9 for row in lines[1:] if row)
        assert lines[1].split(b",")[2].decode() == spec.run_id


def test_loader_round_trip(tiny, specs):
    from benchmark.data import decode
    from benchmark.data.loader import load_dataset

    ds = load_dataset(tiny)
    assert len(ds.samples) == len(specs) and not ds.excluded
    by_id = {s.run_id: s for s in specs}
    for sample in ds.samples:
        spec = by_id[sample.id]
        assert sample.category == CATEGORIES[spec.code] and sample.split == spec.split
        assert len(sample.images) == 5 and sample.masks is not None and len(sample.masks) == 5
    assert {s.category for s in ds.split("TRAIN")} == {"Good"}
    assert len(ds.split("VAL")) + len(ds.split("TEST")) + len(ds.split("TRAIN")) == 128
    for sample in ds.samples[::25]:
        video = decode.read_video(sample.video, 8, (32, 32))
        assert video.shape == (8, 32, 32, 3) and video.dtype == np.uint8
        info = decode.probe_video(sample.video)
        assert info["frames"] == S.FPS * S.DURATION_S and abs(info["fps"] - 30) < 1e-6
        wave, rate = decode.read_audio(sample.audio)
        assert rate == 16000 and wave.ndim == 1 and len(wave) == 16000 * S.DURATION_S
        assert decode.read_sensors(sample.sensor).shape == (6, 128)
        table = decode.read_sensor_table(sample.sensor)
        on = table["Primary Weld Current"] > 10
        assert 0.4 < on.mean() < 0.8  # arc-on segment in the middle
        assert not on.iloc[0] and not on.iloc[-1]
        wire = table["Wire Consumed"].to_numpy()
        assert np.all(np.diff(wire) >= 0) and np.all(np.diff(wire)[~on.to_numpy()[1:]] == 0)
        images = decode.read_images(sample)
        assert len(images) == 5 and images[0].shape == (240, 320, 3)
        masks = decode.read_masks(sample)
        assert len(masks) == 5 and masks[0].dtype == bool and masks[0].shape == (240, 320)


def test_masks_exactly_for_image_visible(tiny, specs):
    from PIL import Image

    for spec in specs:
        d = tiny / spec.folder / spec.run_id / "masks"
        areas = [np.count_nonzero(np.asarray(Image.open(p))) for p in sorted(d.iterdir())]
        values = set(np.unique(np.asarray(Image.open(next(d.iterdir()))))) - {0, 255}
        assert not values
        if "I" in S.VISIBLE[spec.code]:
            assert all(a > 0 for a in areas), (spec.run_id, areas)
        else:
            assert all(a == 0 for a in areas), (spec.run_id, areas)


# ----------------------------------------------------------- visibility table: exact counterfactual


def _encoded(modality: str, spec, code: int, tmp: Path) -> list[bytes]:
    """The file bytes a modality would have with the sample's defect replaced by `code`."""
    if modality == "video":
        S.write_video(tmp / "v.avi", S.render_video(SEED, spec, code))
        return [(tmp / "v.avi").read_bytes()]
    if modality == "audio":
        S.write_audio(tmp / "a.flac", S.render_audio(SEED, spec, code))
        return [(tmp / "a.flac").read_bytes()]
    if modality == "sensor":
        return [S.sensor_csv(spec, *S.render_sensor(SEED, spec, code))]
    views, masks = S.render_images(SEED, spec, code)
    return [S.encode_jpg(v) for v in views] + [S.encode_png(m) for m in masks]


def _on_disk(modality: str, spec, root: Path) -> list[bytes]:
    d = root / spec.folder / spec.run_id
    suffix = {"video": ".avi", "audio": ".flac", "sensor": ".csv"}
    if modality in suffix:
        return [(d / f"{spec.run_id}{suffix[modality]}").read_bytes()]
    return ([(d / "images" / f"{s}.jpg").read_bytes() for s in spec.image_stems]
            + [(d / "masks" / f"{s}.png").read_bytes() for s in spec.image_stems])


def test_modalities_outside_the_row_are_exactly_normal(tiny, specs, tmp_path):
    """Strongest form of 'indistinguishable from normal': a modality outside a defect's row is
    byte-identical to the re-render of the same sample with the defect switched off (a normal
    draw of its configuration); modalities in the row differ. Code 12: V/A/S as normal."""
    seen = set()
    for spec in specs:
        if spec.code == 0 or sum(1 for s in seen if s[0] == spec.code) >= 2:
            continue
        seen.add((spec.code, spec.index))
        for modality in MODS:
            same = _encoded(modality, spec, 0, tmp_path) == _on_disk(modality, spec, tiny)
            visible = S.MODALITY_LETTER[modality] in S.VISIBLE[spec.code] or (
                spec.code == 12 and modality == "image")
            assert same != visible, (spec.run_id, modality)


# -------------------------------------------------------- visibility table: per-modality statistics


def video_stats(frames: np.ndarray) -> np.ndarray:
    """mean brightness while the arc burns, frame-difference energy, pool centroid row."""
    g = frames.astype(np.float32).mean(-1)
    go = g[g.max(axis=(1, 2)) > 120]
    w = np.clip(go - 60, 0, None)
    cy = (w * np.arange(g.shape[1])[None, :, None]).sum() / max(float(w.sum()), 1.0)
    return np.array([go.mean(), np.abs(np.diff(go, axis=0)).mean(), cy])


def audio_stats(wave: np.ndarray) -> np.ndarray:
    """RMS, high-frequency (> 2 kHz) energy share, kurtosis of the first difference (clicks)."""
    x = wave.astype(np.float64)
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / S.AUDIO_RATE)
    d = np.diff(x)
    return np.array([np.sqrt((x ** 2).mean()), spec[f > 2000].sum() / spec.sum(),
                     ((d - d.mean()) ** 4).mean() / d.var() ** 2])


def sensor_stats(t: np.ndarray, table: np.ndarray) -> np.ndarray:
    """arc-on mean current, voltage, feed; max |step| of the current while on; end/mean current."""
    cur = table[:, 3]
    on = cur > 10
    c = cur[on]
    return np.array([c.mean(), table[on, 5].mean(), table[on, 2].mean(),
                     np.abs(np.diff(c)).max(), c[-4:].mean() / c.mean()])


def image_stats(views: list[np.ndarray]) -> np.ndarray:
    """mean gray, share of bead-like pixels (bright, unsaturated), dark share, Laplacian energy."""
    out = []
    for v in views:
        g = v.astype(np.float32).mean(-1)
        sat = v.max(-1).astype(np.float32) - v.min(-1)
        lap = np.abs(4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:])
        out.append([g.mean(), ((g > 140) & (g < 215) & (sat < 30)).mean() * 1000,
                    (g < 30).mean() * 1000, lap.mean()])
    return np.mean(out, axis=0)


STAT_CFGS = (S.CONFIGS[1], S.CONFIGS[5])  # one non-fillet and one fillet configuration (neutral)
PARTNER = {S.CONFIGS[a]: S.CONFIGS[b] for a, b in S.PARTNER.items()}


N_REF, N_HELD, N_DEFECT = 10, 10, 4


@pytest.fixture(scope="module")
def stats():
    """Per-sample statistics of every modality for two configurations: N_REF reference normals
    (they define each configuration's z-scale), N_HELD held-out normals and N_DEFECT samples of
    every valid defect (z-scored the same way, so held-out normals and a category outside its
    row are exchangeable), plus normals of the code-12 partner configurations (image only)."""
    template = S.plan(SEED, "tiny")[0]
    rows = []
    index = 10_000

    def add(code, cfg, role, modalities=MODS):
        nonlocal index
        index += 1
        spec = replace(template, index=index, code=code, config=cfg,
                       img_config=PARTNER[cfg] if code == 12 else cfg)
        r = {"role": role}
        if "video" in modalities:
            r["video"] = video_stats(S.render_video(SEED, spec))
        if "audio" in modalities:
            r["audio"] = audio_stats(S.render_audio(SEED, spec))
        if "sensor" in modalities:
            r["sensor"] = sensor_stats(*S.render_sensor(SEED, spec))
        r["image"] = image_stats(S.render_images(SEED, spec, label=False)[0])
        rows.append((spec, r))

    for cfg in STAT_CFGS:
        fillet = cfg.weld_type == "FILLET"
        for _ in range(N_REF):
            add(0, cfg, "ref")
        for _ in range(N_HELD):
            add(0, cfg, "held")
        for code in range(1, 13):
            if (code in S.FILLET_ONLY and not fillet) or (code in S.NON_FILLET_ONLY and fillet):
                continue
            for _ in range(N_DEFECT):
                add(code, cfg, "defect")
        for _ in range(N_REF):
            add(0, PARTNER[cfg], "ref", modalities=("image",))
    return rows


def _z(stats, modality, code, ref_cfg=None):
    """z-scores of `code`'s samples (held-out ones for code 0) of the two configurations,
    against the reference normals of their configuration (or of ref_cfg(spec))."""
    def reference(cfg):
        return np.array([r[modality] for s, r in stats if r["role"] == "ref" and s.config == cfg])

    out = []
    for spec, r in stats:
        if spec.code != code or r["role"] == "ref" or spec.config not in STAT_CFGS:
            continue
        n = reference(ref_cfg(spec) if ref_cfg else spec.config)
        out.append((r[modality] - n.mean(0)) / n.std(0, ddof=1))
    return np.array(out)


@pytest.mark.parametrize("modality", MODS)
def test_visibility_table_statistics(stats, modality):
    """Outside the row: every statistic's z-distribution matches the held-out normals' (KS);
    inside the row (video/audio/sensor): at least one statistic moves by a large effect
    (|mean z| > 2.5)."""
    from scipy.stats import ks_2samp

    letter = S.MODALITY_LETTER[modality]
    normal_z = _z(stats, modality, 0)
    assert np.abs(normal_z.mean(0)).max() < 1.0
    for code in range(1, 13):
        z = _z(stats, modality, code)
        if code == 12 and modality == "image":
            continue  # below
        if letter in S.VISIBLE[code]:
            if modality != "image":  # image effects are local: see the mask test below
                assert np.abs(z.mean(0)).max() > 2.5, (code, modality, z.mean(0))
        else:
            for j in range(z.shape[1]):
                p = ks_2samp(z[:, j], normal_z[:, j]).pvalue
                assert p > 1e-3, (code, modality, j, p)


def test_mismatch_bead_is_normal_for_the_partner_configuration(stats):
    from scipy.stats import ks_2samp

    own = _z(stats, "image", 12)
    partner = _z(stats, "image", 12, ref_cfg=lambda s: PARTNER[s.config])
    normal_z = _z(stats, "image", 0)
    assert np.abs(own.mean(0)).max() > 2.5  # abnormal for its own (the manifest's) configuration
    for j in range(partner.shape[1]):
        assert ks_2samp(partner[:, j], normal_z[:, j]).pvalue > 1e-3


def test_image_defects_change_their_mask_region(specs):
    for spec in specs:
        if "I" not in S.VISIBLE[spec.code] or spec.index % 2:
            continue
        views, masks = S.render_images(SEED, spec, label=False)
        clean, clean_masks = S.render_images(SEED, spec, 0, label=False)
        assert not any(m.any() for m in clean_masks)
        for v, c, m in zip(views, clean, masks):
            diff = np.abs(v.astype(np.float32) - c).mean(-1)
            assert diff[m].mean() > 12, (spec.run_id, diff[m].mean())  # noise ~2.5


def test_mask_never_touches_the_label(specs):
    for spec in specs:
        if "I" not in S.VISIBLE[spec.code] or spec.index % 2 == 0:
            continue
        with_label, masks = S.render_images(SEED, spec, label=True)
        without, masks2 = S.render_images(SEED, spec, label=False)
        for a, b, m, m2 in zip(with_label, without, masks, masks2):
            label = np.abs(a.astype(np.int16) - b).max(-1) > 0
            assert label.sum() > 500  # the label is there
            assert np.array_equal(m, m2)
            assert not (label & m).any(), spec.run_id


# ------------------------------------------------------------------------- determinism, label


def _subset(specs):
    return [next(s for s in specs if s.code == c) for c in range(13)]


def test_same_seed_same_bytes_label_changes_only_jpgs(tiny, specs, tmp_path):
    subset = _subset(specs)
    for label, root in ((True, tmp_path / "again"), (False, tmp_path / "nolabel")):
        for spec in subset:
            S.write_sample(root, SEED, spec, label=label)
    original = _files(tiny)
    again, nolabel = _files(tmp_path / "again"), _files(tmp_path / "nolabel")
    assert again and all(original[k] == v for k, v in again.items())
    for k, v in nolabel.items():
        assert (original[k] != v) == k.endswith(".jpg"), k


def test_different_seed_different_bytes(tiny, specs, tmp_path):
    other = S.plan(SEED + 1, "tiny")
    assert [s.run_id for s in other] != [s.run_id for s in specs]
    spec = other[0]
    S.write_sample(tmp_path, SEED + 1, spec)
    mine = _files(tmp_path / spec.folder / spec.run_id)
    ref = next(s for s in specs if s.index == spec.index)
    theirs = _files(tiny / ref.folder / ref.run_id)
    media = lambda files: {v for k, v in files.items() if not k.startswith("masks")}  # noqa: E731
    assert len(media(mine)) == 8 and media(mine).isdisjoint(media(theirs))


def test_synthesize_refuses_non_empty_dir(tmp_path):
    (tmp_path / "x").write_text("")
    with pytest.raises(FileExistsError):
        S.synthesize(tmp_path, SEED, "tiny")
