"""Loader, decoders and split protocol on the four real Weld-4M samples and the real manifest."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.data import decode
from benchmark.data.loader import load_dataset, read_manifest, sample_ids, manifest_issues, \
    category_code
from benchmark.data.sample import CATEGORIES, DataError, Sample, SENSOR_CHANNELS
from benchmark.data.split import ProtocolError, assert_train_normal, derive_split

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "weld4m"
REAL_MANIFEST = SHARED / "manifest.csv"
REAL_ROOT = SHARED / "samples"
CONFIG = "good_weld_08_17_22_plane_plate"
REAL_IDS = ("08-17-22-0011-00", "08-17-22-0012-00", "08-17-22-0016-00", "08-18-22-0020-00")
BAD = Path(__file__).resolve().parent / "fixtures" / "bad"

pytestmark = pytest.mark.skipif(not REAL_MANIFEST.is_file(), reason="no ../shared/weld4m here")


# ------------------------------------------------------------------------------------ helpers


def real_rows(ids=REAL_IDS) -> pd.DataFrame:
    """The real manifest's rows for the given run ids (read from the shared copy, never stored)."""
    frame = pd.read_csv(REAL_MANIFEST)
    return frame[frame["SUBDIRS"].str.split("/").str[1].isin(ids)].reset_index(drop=True)


def make_dataset(tmp_path: Path, ids=REAL_IDS, rows: pd.DataFrame | None = None) -> Path:
    """Copy real samples into tmp_path/data with their manifest rows as manifest.csv."""
    root = tmp_path / "data"
    for run_id in ids:
        shutil.copytree(REAL_ROOT / CONFIG / run_id, root / CONFIG / run_id)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)  # the shared copy is read-only
    (real_rows(ids) if rows is None else rows).to_csv(root / "manifest.csv", index=False)
    return root


@pytest.fixture(scope="module")
def real_dataset(tmp_path_factory):
    manifest = tmp_path_factory.mktemp("manifest") / "manifest.csv"
    real_rows().to_csv(manifest, index=False)
    return load_dataset(REAL_ROOT, manifest)


@pytest.fixture(scope="module")
def published() -> pd.DataFrame:
    return read_manifest(REAL_MANIFEST)


# --------------------------------------------------------------------------- real samples


def test_real_samples_load_with_configuration_and_split(real_dataset):
    assert sorted(s.id for s in real_dataset.samples) == sorted(REAL_IDS)
    assert real_dataset.excluded == [] and real_dataset.split_source == "manifest"
    for sample in real_dataset.samples:
        assert sample.category == "Good" and sample.label == 0 and sample.code == 0
        assert sample.video is None  # absent in the shared copy: loaded all the same
        assert sample.audio.name == f"{sample.id}.flac" and sample.sensor.name == f"{sample.id}.csv"
        assert len(sample.images) == 5 and list(sample.images) == sorted(sample.images)
        assert sample.masks is None
        assert (sample.config.weld_type, sample.config.steel_type) == ("NON_FILLET", "FE410")
        assert (sample.config.current_a, sample.config.voltage_v) == (180, 24)
        assert sample.config.thickness_mm == 7
    assert {s.id: s.split for s in real_dataset.samples}["08-17-22-0011-00"] == "TEST"
    assert len(real_dataset.split("TRAIN")) == 3 and len(real_dataset.split("TEST")) == 1
    with pytest.raises(ValueError):
        real_dataset.split("train")


def test_real_sensor_values(real_dataset):
    for sample in real_dataset.samples:
        table = decode.read_sensor_table(sample.sensor)
        assert list(table.columns) == ["t", *SENSOR_CHANNELS]
        assert table["t"].iloc[0] == 0 and 30 < table["t"].iloc[-1] < 45
        arc = table[table["Primary Weld Current"] > 10]
        assert 20 < arc["t"].iloc[-1] - arc["t"].iloc[0] < 32  # ~27 s of arc
        assert abs(arc["Primary Weld Current"].median() - 178) < 6
        assert abs(arc["Secondary Weld Voltage"].median() - 25) < 2
        assert (np.diff(table["Wire Consumed"]) >= 0).all()  # cumulative


def test_read_sensors_resamples_on_time(real_dataset):
    sensor = real_dataset.samples[0].sensor
    full = decode.read_sensors(sensor, length=128)
    arc = decode.read_sensors(sensor, length=64, arc_on_only=True)
    assert full.shape == (6, 128) and arc.shape == (6, 64) and arc.dtype == np.float32
    current = SENSOR_CHANNELS.index("Primary Weld Current")
    # The span runs from the first to the last row above 10 A (a short flicker may sit inside).
    assert abs(np.median(arc[current]) - 178) < 6 and min(arc[current, 0], arc[current, -1]) > 10
    assert full[current, 0] < 10  # the full log starts before the arc


def test_real_audio(real_dataset):
    wave, rate = decode.read_audio(real_dataset.samples[0].audio)
    assert rate == 16000 and wave.dtype == np.float32 and wave.ndim == 1
    assert abs(len(wave) / rate - 38) < 1.5
    assert np.abs(wave).max() <= 1 and np.abs(wave).max() > 0.01  # real sound, not silence
    low, low_rate = decode.read_audio(real_dataset.samples[0].audio, rate=8000)
    assert low_rate == 8000 and len(low) == len(wave) // 2 and np.abs(low).max() <= 1


def test_real_images(real_dataset):
    sample = real_dataset.samples[0]
    views = decode.read_images(sample, size=(120, 160))
    assert len(views) == 5
    assert all(v.shape == (120, 160, 3) and v.dtype == np.uint8 for v in views)
    full = decode.read_images(sample)[0]
    assert full.shape == (1548, 2064, 3)
    assert decode.read_masks(sample) is None


def test_masks_are_found_per_view_and_read_as_bool(tmp_path):
    root = make_dataset(tmp_path, ids=REAL_IDS[:1])
    run = root / CONFIG / REAL_IDS[0]
    (run / "masks").mkdir()
    from PIL import Image

    for image in sorted((run / "images").iterdir()):
        mask = np.zeros((48, 64), np.uint8)
        mask[10:20, 10:30] = 255
        Image.fromarray(mask).save(run / "masks" / f"{image.stem}.png")
    sample = load_dataset(root).samples[0]
    masks = decode.read_masks(sample, size=(24, 32))
    assert len(masks) == 5 and masks[0].dtype == bool and masks[0].shape == (24, 32)
    assert 0 < masks[0].sum() < masks[0].size
    next((run / "masks").iterdir()).unlink()
    with pytest.raises(DataError, match="mask"):
        load_dataset(root)


# ------------------------------------------------------------------ manifest and fingerprint


def test_root_manifest_is_used_and_no_manifest_is_refused(tmp_path):
    root = make_dataset(tmp_path)
    assert len(load_dataset(root).samples) == 4
    (root / "manifest.csv").unlink()
    with pytest.raises(DataError, match="manifest") as err:
        load_dataset(root)
    assert err.value.path == root


def test_derived_split_is_written_and_reproduced(tmp_path):
    rows = real_rows().drop(columns="SPLIT")
    root = make_dataset(tmp_path, rows=rows)
    first = load_dataset(root, seed=3)
    assert first.split_source == "derived" and first.seed == 3
    assert set(first.manifest["SPLIT"]) <= {"TRAIN", "VAL", "TEST"}
    assert len(first.split("TRAIN")) == round(4 * 576 / 819)
    first.write_manifest(tmp_path / "used.csv")
    again = load_dataset(root, tmp_path / "used.csv")
    assert again.split_source == "manifest"
    assert [(s.id, s.split) for s in again.samples] == [(s.id, s.split) for s in first.samples]
    assert again.fingerprint() == first.fingerprint()


def test_fingerprint_is_stable_and_sees_file_changes(tmp_path):
    root = make_dataset(tmp_path)
    fp = load_dataset(root).fingerprint()
    assert fp == load_dataset(root).fingerprint() and len(fp) == 64
    with open(root / CONFIG / REAL_IDS[0] / f"{REAL_IDS[0]}.csv", "a") as f:
        f.write("\n")
    assert load_dataset(root).fingerprint() != fp


def test_published_split_counts(published):
    counts = published.groupby(["SPLIT", "CATEGORY"]).size()
    assert published["SPLIT"].value_counts().to_dict() == {"TRAIN": 576, "VAL": 1732, "TEST": 1732}
    assert set(published.loc[published["SPLIT"] == "TRAIN", "CATEGORY"]) == {"Good"}
    assert counts["VAL", "Good"] == 122 and counts["TEST", "Good"] == 121
    assert published["DIRECTORY"].nunique() == 236
    assert list(manifest_issues(published)) == []  # every run-id code agrees with CATEGORY
    codes = published["SUBDIRS"].str.split("/").str[1].map(category_code)
    assert (codes.map(CATEGORIES) == published["CATEGORY"]).all()
    assert_train_normal(published)


def test_run_ids_shared_by_two_configurations_get_unique_ids(published):
    ids = sample_ids(published["SUBDIRS"])
    assert len(set(ids.values())) == len(published) == 4040
    qualified = [i for i in ids.values() if "/" in i]
    assert len(qualified) == 40 and all(i.startswith("overlap_1_03-22-23_") for i in qualified)


# --------------------------------------------------------------------------------- protocol


def test_derive_split_follows_the_protocol(published):
    split = derive_split(published, seed=0)
    frame = published.assign(DERIVED=published["SUBDIRS"].map(split))
    counts = frame.groupby(["DERIVED", "CATEGORY"]).size().unstack(fill_value=0)
    assert set(frame.loc[frame["DERIVED"] == "TRAIN", "CATEGORY"]) == {"Good"}
    assert counts.loc["TRAIN", "Good"] == 576
    assert (counts.loc["VAL", "Good"], counts.loc["TEST", "Good"]) == (122, 121)
    assert ((counts.loc["VAL"] - counts.loc["TEST"]).abs() <= 1).all()  # even per category
    assert frame["DERIVED"].value_counts()[["VAL", "TEST"]].tolist() == [1732, 1732]


def test_derive_split_is_deterministic_per_seed(published):
    a, b = derive_split(published, seed=0), derive_split(published, seed=0)
    assert a == b
    assert derive_split(published.sample(frac=1, random_state=5), seed=0) == a  # order-free
    assert derive_split(published, seed=1) != a


def test_derive_split_on_samples_and_refusal_of_defective_train(real_dataset):
    base = real_dataset.samples[0]
    samples = [Sample(id=f"x-{i:04d}-{code:02d}", category=CATEGORIES[code], split="",
                      config=base.config, directory=base.directory)
               for i in range(20) for code in (0, 3)]
    split = derive_split(samples, seed=7)
    assert sum(v == "TRAIN" for v in split.values()) == round(20 * 576 / 819)
    assert all(split[s.id] != "TRAIN" for s in samples if s.label)
    bad = samples[1].__class__(**{**samples[1].__dict__, "split": "TRAIN"})
    with pytest.raises(ProtocolError, match=bad.id):
        assert_train_normal([bad, *samples[2:4]])


def test_loader_refuses_defective_sample_in_train(tmp_path):
    rows = real_rows()
    rows.loc[0, "CATEGORY"] = "Porosity"
    rows.loc[0, "SPLIT"] = "TRAIN"
    run_id = rows.loc[0, "SUBDIRS"].split("/")[1]
    renamed = run_id[:-2] + "03"
    rows.loc[0, "SUBDIRS"] = f"{CONFIG}/{renamed}"
    root = make_dataset(tmp_path, rows=rows)
    _rename_run(root / CONFIG / run_id, renamed)
    with pytest.raises(ProtocolError, match=renamed):
        load_dataset(root)


def _rename_run(folder: Path, new_id: str) -> Path:
    for suffix in (".flac", ".csv", ".avi"):
        old = folder / f"{folder.name}{suffix}"
        if old.exists():
            old.rename(folder / f"{new_id}{suffix}")
    return folder.rename(folder.parent / new_id)


# ------------------------------------------------------------------------- loader bad inputs


def test_missing_modality_raises_or_is_excluded(tmp_path):
    root = make_dataset(tmp_path)
    flac = root / CONFIG / REAL_IDS[1] / f"{REAL_IDS[1]}.flac"
    flac.unlink()
    with pytest.raises(DataError, match="audio") as err:
        load_dataset(root)
    assert err.value.path == flac
    dataset = load_dataset(root, allow_missing=True)
    assert len(dataset.samples) == 3
    assert [(e.id, e.path) for e in dataset.excluded] == [(REAL_IDS[1], flac)]
    assert len(load_dataset(root, require=("sensor", "image")).samples) == 4
    with pytest.raises(DataError, match="video"):
        load_dataset(root, require=("video",))


def test_zero_images_raise_naming_the_folder(tmp_path):
    root = make_dataset(tmp_path)
    images = root / CONFIG / REAL_IDS[0] / "images"
    shutil.rmtree(images)
    images.mkdir()
    with pytest.raises(DataError, match="images") as err:
        load_dataset(root)
    assert err.value.path == images
    assert load_dataset(root, allow_missing=True).excluded[0].reason.startswith("zero images")


def test_manifest_row_pointing_nowhere(tmp_path):
    root = make_dataset(tmp_path, ids=REAL_IDS[:3], rows=real_rows())
    with pytest.raises(DataError, match="without folder") as err:
        load_dataset(root)
    assert err.value.path == root / CONFIG / REAL_IDS[3]
    assert [e.id for e in load_dataset(root, allow_missing=True).excluded] == [REAL_IDS[3]]


def test_folder_without_manifest_row(tmp_path):
    root = make_dataset(tmp_path, rows=real_rows(REAL_IDS[:3]))
    with pytest.raises(DataError, match="no row") as err:
        load_dataset(root)
    assert err.value.path == root / CONFIG / REAL_IDS[3]
    assert len(load_dataset(root, allow_missing=True).excluded) == 1


def test_duplicate_id_is_refused(tmp_path):
    rows = real_rows()
    root = make_dataset(tmp_path, rows=pd.concat([rows, rows.iloc[[0]]]))
    with pytest.raises(DataError, match="duplicate id") as err:
        load_dataset(root)
    assert err.value.path == root / "manifest.csv"


def test_category_code_disagreeing_with_manifest(tmp_path):
    rows = real_rows()
    rows.loc[1, "CATEGORY"] = "Porosity"
    root = make_dataset(tmp_path, rows=rows)
    with pytest.raises(DataError, match="disagrees"):
        load_dataset(root)


def test_unknown_category_code(tmp_path):
    rows = real_rows()
    run_id = rows.loc[2, "SUBDIRS"].split("/")[1]
    rows.loc[2, "SUBDIRS"] = f"{CONFIG}/{run_id[:-2]}13"
    root = make_dataset(tmp_path, rows=rows)
    _rename_run(root / CONFIG / run_id, f"{run_id[:-2]}13")
    with pytest.raises(DataError, match="unknown category code 13"):
        load_dataset(root)


# ------------------------------------------------------------------------ decoder bad inputs


@pytest.mark.parametrize("name, problem", [
    ("empty.csv", "empty"),
    ("header_only.csv", "0 data row"),
    ("malformed.csv", "malformed"),
    ("missing_channel.csv", "Feed"),
    ("nan.csv", "NaN"),
])
def test_bad_sensor_csv_raises_naming_the_file(name, problem):
    with pytest.raises(DataError, match=problem) as err:
        decode.read_sensors(BAD / name)
    assert err.value.path == BAD / name


def test_nan_report_names_channel_and_row():
    with pytest.raises(DataError, match=r"'Feed'.*\[2\]"):
        decode.read_sensor_table(BAD / "nan.csv")


def test_truncated_flac_raises(tmp_path):
    source = REAL_ROOT / CONFIG / REAL_IDS[0] / f"{REAL_IDS[0]}.flac"
    cut = tmp_path / "cut.flac"
    cut.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    with pytest.raises(DataError) as err:
        decode.read_audio(cut)
    assert err.value.path == cut


def test_corrupt_avi_raises():
    with pytest.raises(DataError, match="video") as err:
        decode.read_video(BAD / "corrupt.avi", 4, (32, 32))
    assert err.value.path == BAD / "corrupt.avi"


def test_missing_and_corrupt_image_raise(tmp_path, real_dataset):
    sample = real_dataset.samples[0]
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(sample.images[0].read_bytes()[:5000])
    with pytest.raises(DataError, match="unreadable image"):
        decode.read_image(cut)
    with pytest.raises(DataError, match="does not exist"):
        decode.read_image(tmp_path / "nope.jpg")


# --------------------------------------------------------------------------------------- video


def write_avi(path: Path, n_frames: int, codec: str = "mjpeg", size=(48, 64)) -> Path:
    """A test clip at 30 fps whose frame i is uniformly gray with value 4*i (index readable)."""
    import av

    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream(codec, rate=30)
        stream.height, stream.width = size
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        stream.bit_rate = 4_000_000  # flat gray must survive the lossy codec
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(np.full((*size, 3), 4 * i, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.mark.parametrize("codec", ["mjpeg", "mpeg4"])
def test_read_video_samples_evenly(tmp_path, codec):
    clip = write_avi(tmp_path / "clip.avi", 45, codec)
    frames = decode.read_video(clip, 5, (24, 40))
    assert frames.shape == (5, 24, 40, 3) and frames.dtype == np.uint8
    index = frames.reshape(5, -1).mean(axis=1) / 4
    assert np.allclose(index, [0, 11, 22, 33, 44], atol=1.0)  # linspace(0, 44, 5)
    info = decode.probe_video(clip)
    assert info["frames"] == 45 and abs(info["fps"] - 30) < 0.01


def test_read_video_rejects_cut_clip(tmp_path):
    clip = write_avi(tmp_path / "clip.avi", 60)
    cut = tmp_path / "cut.avi"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    with pytest.raises(DataError) as err:
        decode.probe_video(cut)
    assert err.value.path == cut
