"""Decoders: turn the files of one Sample into arrays.

Every failure becomes `DataError(path, problem)`: a missing, empty, truncated or malformed file
never produces a bare library traceback and never a zero-filled array, because a silently
zero-filled modality looks like a perfectly valid (and very "normal") input to a model.
"""
from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np
import pandas as pd

from .sample import SENSOR_CHANNELS, DataError, Sample

SENSOR_TIME_COLUMNS = ("Date", "Time")
# Date and Time as the welding controller writes them: 8/17/2022,07:50:26.295
_SENSOR_DATETIME_FORMAT = "%m/%d/%Y %H:%M:%S.%f"


# --------------------------------------------------------------------------------------- video


def read_video(path: Path | str, num_frames: int, size: tuple[int, int] | None) -> np.ndarray:
    """uint8 (T, H, W, 3): `num_frames` frames sampled evenly over the whole clip, resized to
    size=(H, W) (None: the clip's own frame size, for processors that resize themselves).

    Frame indices are `linspace(0, N-1, T)` rounded, so the first and last frames are always
    included; a clip shorter than T frames yields repeated frames (never padding).
    """
    import av  # local import: PyAV is heavy and only video users need it

    path = Path(path)
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    height, width = size or (None, None)
    _require_file(path)
    try:
        total, intra_only = _count_video_packets(path)
        if total == 0:
            raise DataError(path, "video has no frames")
        wanted = np.linspace(0, total - 1, num_frames).round().astype(int)
        frames = _decode_frames_at(path, sorted(set(wanted.tolist())), intra_only, width, height)
    except DataError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise DataError(path, f"unreadable video: {exc}") from exc
    missing = sorted(set(wanted.tolist()) - frames.keys())
    if missing:
        raise DataError(path, f"video truncated: frames {missing[:5]} of {total} did not decode")
    return np.stack([frames[i] for i in wanted])


def _count_video_packets(path: Path) -> tuple[int, bool]:
    """Count the video packets by demuxing only (cheap); also report whether all are keyframes.

    The header frame count is not trusted: real Weld-4M clips have a varying frame rate, and a
    truncated file keeps the header of the complete one.
    """
    import av

    count, intra_only = 0, True
    with av.open(str(path)) as container:
        stream = _video_stream(container, path)
        for packet in container.demux(stream):
            if packet.size == 0:  # flush packets carry no frame
                continue
            count += 1
            intra_only &= bool(packet.is_keyframe)
    return count, intra_only


def _decode_frames_at(path: Path, indices: list[int], intra_only: bool, width: int,
                      height: int) -> dict[int, np.ndarray]:
    """Decode the frames at `indices`; with intra-only codecs (MJPEG) skip decoding the rest."""
    import av
    from av.video.reformatter import VideoReformatter

    wanted = set(indices)
    out: dict[int, np.ndarray] = {}
    # NOTE: one reformatter for the clip keeps its scaler (frame.to_ndarray builds one per frame,
    # which cost 6x the decoding of a small MJPEG frame); the pixels are the same
    reformatter = VideoReformatter()
    with av.open(str(path)) as container:
        stream = _video_stream(container, path)
        if intra_only:
            frames = _intra_frames(container, stream, wanted)
        else:
            # Inter-coded: every frame must be decoded in order; container.decode also flushes
            # the frames a codec with delay still holds at the end.
            frames = enumerate(container.decode(stream))
        for index, frame in frames:
            if index in wanted and index not in out:
                out[index] = reformatter.reformat(frame, width=width, height=height, format="rgb24").to_ndarray()
            if len(out) == len(wanted):
                break
    return out


def _intra_frames(container, stream, wanted: set[int]):
    """(packet index, frame) for the wanted packets only: no frame depends on another."""
    index = -1
    for packet in container.demux(stream):
        if packet.size == 0:
            continue
        index += 1
        if index in wanted:
            for frame in packet.decode():
                yield index, frame


def _video_stream(container, path: Path):
    if not container.streams.video:
        raise DataError(path, "file has no video stream")
    return container.streams.video[0]


def probe_video(path: Path | str) -> dict:
    """Cheap validity check for the data check: count packets, decode the first and last frame.

    Returns {"frames", "fps", "duration_s"}; raises DataError if the file cannot be opened, has
    fewer packets than its header announces, or its first or last frame does not decode.
    """
    import av

    path = Path(path)
    _require_file(path)
    try:
        with av.open(str(path)) as container:
            stream = _video_stream(container, path)
            header_frames = int(stream.frames or 0)
            fps = float(stream.average_rate or stream.guessed_rate or 0)
        total, _ = _count_video_packets(path)
        if total == 0:
            raise DataError(path, "video has no frames")
        if header_frames and total < header_frames:
            raise DataError(path, f"video truncated: header says {header_frames} frames, "
                                  f"file holds {total}")
        decoded = _decode_frames_at(path, [0, total - 1], False, 32, 32)
    except DataError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise DataError(path, f"unreadable video: {exc}") from exc
    if len(decoded) < len({0, total - 1}):
        raise DataError(path, "video truncated: first or last frame does not decode")
    return {"frames": total, "fps": fps, "duration_s": total / fps if fps else float("nan")}


# --------------------------------------------------------------------------------------- audio


def read_audio(path: Path | str, rate: int | None = None) -> tuple[np.ndarray, int]:
    """float32 mono in [-1, 1] at the native rate, or resampled to `rate` (polyphase)."""
    import soundfile as sf
    from scipy.signal import resample_poly

    path = Path(path)
    _require_file(path)
    try:
        info = sf.info(str(path))
        data, native = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise DataError(path, f"unreadable audio: {exc}") from exc
    if data.shape[0] == 0:
        raise DataError(path, "audio has no samples")
    # libsndfile can stop early on a cut-off FLAC without raising; the header knows the length.
    if info.frames > 0 and data.shape[0] < info.frames:
        raise DataError(path, f"audio truncated: header says {info.frames} samples, "
                              f"decoded {data.shape[0]}")
    mono = data.mean(axis=1)
    if not np.isfinite(mono).all():
        raise DataError(path, "audio holds non-finite samples")
    if rate is None or rate == native:
        return mono.astype(np.float32, copy=False), int(native)
    g = gcd(int(rate), int(native))
    resampled = resample_poly(mono, int(rate) // g, int(native) // g)
    # The anti-alias filter can overshoot slightly past full scale; the contract is [-1, 1].
    return np.clip(resampled, -1.0, 1.0).astype(np.float32), int(rate)


def audio_duration(path: Path | str) -> float:
    """Duration in seconds from the header (no decode)."""
    import soundfile as sf

    path = Path(path)
    _require_file(path)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise DataError(path, f"unreadable audio: {exc}") from exc
    return info.frames / info.samplerate


# ------------------------------------------------------------------------------------- sensors


def read_sensor_table(path: Path | str) -> pd.DataFrame:
    """Columns "t" (seconds from the first row) then the six SENSOR_CHANNELS, selected by name.

    The real header has 10 names ("Remarks " with a trailing space last) while data rows carry 9
    fields; pandas fills the missing trailing field with NaN, and Remarks is never selected.
    """
    path = Path(path)
    _require_file(path)
    raw = _read_csv(path)
    missing = [c for c in SENSOR_TIME_COLUMNS + SENSOR_CHANNELS if c not in raw.columns]
    if missing:
        raise DataError(path, f"sensor CSV lacks column(s) {missing}; has {list(raw.columns)}")
    if len(raw) < 2:
        raise DataError(path, f"sensor CSV has {len(raw)} data row(s); need at least 2")
    table = pd.DataFrame({"t": _seconds_from_start(raw, path)})
    for name in SENSOR_CHANNELS:
        table[name] = _numeric_column(raw[name], name, path)
    return table


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        raw = pd.read_csv(path, skipinitialspace=True, dtype=str)
    except pd.errors.EmptyDataError as exc:
        raise DataError(path, "sensor CSV is empty") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise DataError(path, f"malformed sensor CSV: {exc}") from exc
    # Names are matched after stripping so "Remarks " and a stray " Feed" both resolve.
    raw.columns = [str(c).strip() for c in raw.columns]
    return raw


def _seconds_from_start(raw: pd.DataFrame, path: Path) -> np.ndarray:
    stamps = raw["Date"].str.strip() + " " + raw["Time"].str.strip()
    try:
        when = pd.to_datetime(stamps, format=_SENSOR_DATETIME_FORMAT)
    except (ValueError, TypeError) as exc:
        raise DataError(path, f"bad Date/Time in sensor CSV: {exc}") from exc
    if when.isna().any():
        rows = _row_numbers(when.isna())
        raise DataError(path, f"sensor CSV has empty Date/Time in row(s) {rows}")
    t = (when - when.iloc[0]).dt.total_seconds().to_numpy(dtype=np.float64)
    if (np.diff(t) < 0).any():
        rows = _row_numbers(pd.Series(np.r_[False, np.diff(t) < 0]))
        raise DataError(path, f"sensor time goes backwards at row(s) {rows}")
    return t


def _numeric_column(column: pd.Series, name: str, path: Path) -> np.ndarray:
    values = pd.to_numeric(column, errors="coerce")
    bad = values.isna()
    if bad.any():
        # NaN covers empty cells, short (cut-off) rows and text that is not a number alike.
        raise DataError(path, f"sensor channel {name!r} has NaN/non-numeric value(s) in data "
                              f"row(s) {_row_numbers(bad)}")
    return values.to_numpy(dtype=np.float64)


def _row_numbers(mask: pd.Series, limit: int = 5) -> str:
    rows = [int(i) + 1 for i in np.flatnonzero(mask.to_numpy())]  # 1-based data rows
    more = f" (+{len(rows) - limit} more)" if len(rows) > limit else ""
    return f"{rows[:limit]}{more}"


def read_sensors(path: Path | str, length: int = 128, arc_on_only: bool = False,
                 arc_threshold_a: float = 10.0) -> np.ndarray:
    """float32 (6, length): channels linearly resampled onto `length` evenly spaced times.

    Resampling is on the time axis "t", not on the row index, because the ~9 Hz logger does not
    tick evenly. `arc_on_only` keeps the span from the first to the last row whose Primary Weld
    Current exceeds the threshold (the weld itself, without gas pre/post-flow).
    """
    path = Path(path)
    if length < 2:
        raise ValueError(f"length must be >= 2, got {length}")
    table = read_sensor_table(path)
    if arc_on_only:
        table = _arc_on_span(table, arc_threshold_a, path)
    t = table["t"].to_numpy()
    if t[-1] <= t[0]:
        raise DataError(path, "sensor time span is zero")
    grid = np.linspace(t[0], t[-1], length)
    out = np.stack([np.interp(grid, t, table[name].to_numpy()) for name in SENSOR_CHANNELS])
    return out.astype(np.float32)


def _arc_on_span(table: pd.DataFrame, threshold: float, path: Path) -> pd.DataFrame:
    on = np.flatnonzero(table["Primary Weld Current"].to_numpy() > threshold)
    if len(on) < 2:
        raise DataError(path, f"arc never on: Primary Weld Current exceeds {threshold} A in "
                              f"{len(on)} row(s)")
    return table.iloc[on[0]: on[-1] + 1].reset_index(drop=True)


# -------------------------------------------------------------------------------------- images


def read_images(sample: Sample, size: tuple[int, int] | None = None) -> list[np.ndarray]:
    """uint8 RGB (H, W, 3) per post-weld view, in the Sample's order (sorted by file name)."""
    if not sample.images:
        raise DataError(sample.directory / "images", "sample has no images")
    return [read_image(p, size) for p in sample.images]


def read_image(path: Path | str, size: tuple[int, int] | None = None) -> np.ndarray:
    """One RGB image; with `size` the JPEG is decoded at reduced scale first (much faster)."""
    from PIL import Image

    path = Path(path)
    _require_file(path)
    try:
        with Image.open(path) as image:
            if size is not None:
                # draft() lets libjpeg decode at 1/2..1/8 scale, never below the requested size.
                image.draft("RGB", (size[1], size[0]))
            rgb = image.convert("RGB")  # forces a full decode: truncation raises here
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(path, f"unreadable image: {exc}") from exc
    array = np.asarray(rgb, dtype=np.uint8)
    return array if size is None else _resize(array, size, smooth=True)


def read_masks(sample: Sample, size: tuple[int, int] | None = None) -> list[np.ndarray] | None:
    """bool (H, W) per view (nonzero = defect), or None where the sample has no masks folder.

    Weld-4M itself has no masks; only derived data sets (e.g. the synthetic twin) carry them.
    """
    if sample.masks is None:
        return None
    return [_read_mask(p, size) for p in sample.masks]


def _read_mask(path: Path, size: tuple[int, int] | None) -> np.ndarray:
    from PIL import Image

    _require_file(path)
    try:
        with Image.open(path) as image:
            gray = np.asarray(image.convert("L"), dtype=np.uint8)
    except (OSError, ValueError) as exc:
        raise DataError(path, f"unreadable mask: {exc}") from exc
    if size is not None:
        gray = _resize(gray, size, smooth=False)  # nearest: a mask must stay binary
    return gray > 0


def _resize(array: np.ndarray, size: tuple[int, int], smooth: bool) -> np.ndarray:
    import cv2

    height, width = size
    if array.shape[:2] == (height, width):
        return array
    shrinking = height * width < array.shape[0] * array.shape[1]
    interp = (cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR) if smooth else cv2.INTER_NEAREST
    return cv2.resize(array, (width, height), interpolation=interp)


# ------------------------------------------------------------------------------------- helpers


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise DataError(path, "file does not exist")
    if path.stat().st_size == 0:
        raise DataError(path, "file is empty (0 bytes)")
