"""What `bench run` screens out before it uses a sample (`screen_samples`, through the loader):
an unreadable audio or video header or sensor log, NaNs, audio and sensor lengths that disagree,
a recording cut short. It reads what each file declares (headers, the sensor log's rows), which
costs seconds where decoding every file costs minutes; `bench data check` reports the same
problems (`length_problems`) and decodes the media too."""
from __future__ import annotations

import math
import statistics
from pathlib import Path

from tqdm.auto import tqdm

from . import decode
from .sample import DataError

# Audio (~38 s) and the sensor log (~37 s) are cut by different devices; a few seconds of slack.
DURATION_TOLERANCE_S = 5.0
# A recording under this fraction of the dataset's median length (seconds, sensor rows) was cut
# short: Weld-4M's welds of one plate differ by a few seconds, not by a factor of two.
SHORT_FRACTION = 0.5

# Problem kinds (`bench data check` reports them too).
BAD_AUDIO = "unreadable audio"
BAD_VIDEO = "unreadable video"
BAD_SENSOR = "bad sensor CSV"
DURATION_MISMATCH = "duration mismatch"
SHORT_RECORDING = "short recording"


def length_problems(lengths: dict[str, dict[str, tuple[Path, float]]]) -> list[tuple[str, Path, str, str]]:
    """(sample id, file, kind, detail) for every sample whose recording is under `SHORT_FRACTION`
    of the dataset's median length, or whose audio and sensor log disagree. `lengths`: sample id
    -> {"audio" | "video" | "sensor" (seconds) | "sensor rows": (file, length)}."""
    out = []
    keys = {k for own in lengths.values() for k in own}
    for key in sorted(keys):
        values = [own[key][1] for own in lengths.values() if key in own and math.isfinite(own[key][1])]
        if not values:
            continue
        median = statistics.median(values)
        unit = "rows" if key.endswith("rows") else "s"
        for sample_id, own in lengths.items():
            if key in own and own[key][1] < SHORT_FRACTION * median:
                out.append((sample_id, own[key][0], SHORT_RECORDING,
                            f"{key} {own[key][1]:.4g} {unit}, under {SHORT_FRACTION:g} of the "
                            f"dataset's median {median:.4g} {unit}"))
    for sample_id, own in lengths.items():
        if "audio" in own and "sensor" in own \
                and abs(own["audio"][1] - own["sensor"][1]) > DURATION_TOLERANCE_S:
            out.append((sample_id, own["sensor"][0], DURATION_MISMATCH,
                        f"audio lasts {own['audio'][1]:.1f} s but the sensor log spans "
                        f"{own['sensor'][1]:.1f} s (tolerance {DURATION_TOLERANCE_S:g} s)"))
    return out


def screen_samples(samples, require: tuple[str, ...]) -> dict[str, tuple[Path, str]]:
    """Sample id -> (file, "kind: detail") of the first problem of every sample that `bench run`
    must not use: an unreadable header or sensor log, NaNs, lengths that disagree or are cut
    short. Only the `require`d modalities are read, from what they declare (no decoding)."""
    bad: dict[str, tuple[Path, str]] = {}
    lengths: dict[str, dict[str, tuple[Path, float]]] = {}
    readers = {"audio": lambda p: {"audio": decode.audio_duration(p)},
               "video": lambda p: {"video": _video_header_seconds(p)},
               "sensor": sensor_lengths}
    kinds = {"audio": BAD_AUDIO, "video": BAD_VIDEO, "sensor": BAD_SENSOR}
    for sample in tqdm(samples, desc="input check", unit="sample", leave=False):
        own = lengths.setdefault(sample.id, {})
        for modality in (m for m in ("audio", "video", "sensor") if m in require):
            path = getattr(sample, modality)
            try:
                own.update({k: (path, v) for k, v in readers[modality](path).items()})
            except DataError as exc:
                bad.setdefault(sample.id, (exc.path, f"{kinds[modality]}: {exc.problem}"))
    for sample_id, path, kind, detail in length_problems(lengths):
        bad.setdefault(sample_id, (path, f"{kind}: {detail}"))
    return bad


def _video_header_seconds(path: Path) -> float:
    """The video's duration as its header declares it (frames / rate, else the container's)."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            if stream.frames and fps:
                return stream.frames / fps
            if container.duration:
                return container.duration / av.time_base
    except (av.error.FFmpegError, OSError, IndexError) as exc:
        raise DataError(path, f"unreadable video: {exc}") from exc
    raise DataError(path, "video declares no length")


def sensor_lengths(path: Path) -> dict[str, float]:
    table = decode.read_sensor_table(path)  # named channels, NaNs, time stamps
    return {"sensor": float(table["t"].iloc[-1]), "sensor rows": float(len(table))}
