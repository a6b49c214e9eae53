"""`bench data check`: validate every sample of a dataset and report all problems at once.

Unlike the loader (which stops at the first problem), the check walks the whole dataset and
collects (sample id, file, problem) for: manifest rows without a folder, folders without a
manifest row, duplicate ids, unknown or disagreeing category codes, missing files, zero images,
unreadable or truncated media (FLAC decoded fully; AVI demuxed fully, first and last frame
decoded; JPEGs decoded at reduced scale), sensor CSVs without the named channels or with NaNs,
and audio vs sensor durations that disagree.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from . import decode
# The structural problem kinds are the loader's (it raises them); re-exported for callers.
from .loader import (BAD_MANIFEST_ROW, CODE_MISMATCH, DUPLICATE_ID, MISSING_FILE, MISSING_FOLDER,
                     MISSING_MASK, NO_IMAGES, NO_MANIFEST_ROW, UNKNOWN_CODE, category_code,
                     find_manifest, find_run_files, manifest_issues, read_manifest, run_id_of,
                     sample_ids, scan_runs)
from .sample import DataError

# Audio (~38 s) and the sensor log (~37 s) are cut by different devices; a few seconds of slack.
DURATION_TOLERANCE_S = 5.0
_CHECK_IMAGE_SIZE = (96, 128)  # decode JPEGs at 1/8 scale: truncation still raises

__all__ = [
    "CheckReport", "Problem", "check_dataset", "main_check", "BAD_MANIFEST_ROW", "CODE_MISMATCH",
    "DUPLICATE_ID", "MISSING_FILE", "MISSING_FOLDER", "MISSING_MASK", "NO_IMAGES",
    "NO_MANIFEST_ROW", "UNKNOWN_CODE", "NO_MANIFEST", "BAD_MANIFEST", "BAD_AUDIO", "BAD_VIDEO",
    "BAD_IMAGE", "BAD_SENSOR", "DURATION_MISMATCH",
]

# Problem kinds found by decoding media (the structural kinds above come from the loader).
NO_MANIFEST = "no manifest"
BAD_MANIFEST = "bad manifest"
BAD_AUDIO = "unreadable audio"
BAD_VIDEO = "unreadable video"
BAD_IMAGE = "unreadable image"
BAD_SENSOR = "bad sensor CSV"
DURATION_MISMATCH = "duration mismatch"


class Problem(NamedTuple):
    """One finding. `problem` reads "<kind>: <detail>"; `.kind` gives the kind alone."""

    id: str
    file: str
    problem: str

    @property
    def kind(self) -> str:
        return self.problem.split(": ", 1)[0]

    @property
    def detail(self) -> str:
        return self.problem.split(": ", 1)[-1]


@dataclass
class CheckReport:
    root: Path
    manifest: Path | None
    n_samples: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, sample_id: str, file: Path | str, kind: str, detail: str) -> None:
        self.problems.append(Problem(sample_id, str(file), f"{kind}: {detail}"))

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(p.kind for p in self.problems).items()))

    def bad_samples(self) -> set[str]:
        return {p.id for p in self.problems if p.id}

    def summary_table(self) -> str:
        from tabulate import tabulate

        rows = list(self.counts().items()) or [("(none)", 0)]
        footer = (f"\n{self.n_samples} samples checked, {len(self.bad_samples())} with problems, "
                  f"{len(self.problems)} problems")
        return tabulate(rows, headers=["problem", "count"]) + footer

    def to_json(self) -> dict:
        return {
            "root": str(self.root),
            "manifest": str(self.manifest) if self.manifest else None,
            "n_samples": self.n_samples,
            "n_bad_samples": len(self.bad_samples()),
            "counts": self.counts(),
            "problems": [{"id": p.id, "file": p.file, "kind": p.kind, "detail": p.detail}
                         for p in self.problems],
        }


def check_dataset(root: Path | str, manifest: Path | str | None = None, *,
                  require: tuple[str, ...] = ("audio", "sensor", "image"),
                  decode_media: bool = True) -> CheckReport:
    """Check every sample under `root` against the manifest (given, or `<root>/manifest.csv`).

    Without any manifest the folders are still checked file by file (and NO_MANIFEST is
    reported, since configurations and splits are then unknown). `decode_media=False` skips the
    slow media decoding and checks only structure and the presence of files.
    """
    root = Path(root)
    report = CheckReport(root=root, manifest=None)
    if not root.is_dir():
        report.add("", root, "missing folder", "dataset root is not a directory")
        return report
    frame = _manifest_or_none(root, manifest, report)
    runs = scan_runs(root)
    listed = set(frame["SUBDIRS"]) if frame is not None else set(runs)
    ids = sample_ids(listed | set(runs))
    report.n_samples = len(listed | set(runs))
    if frame is not None:
        _check_manifest_rows(frame, root, runs, ids, report)
        for subdir in sorted(set(runs) - listed):
            report.add(ids[subdir], runs[subdir], NO_MANIFEST_ROW,
                       f"{report.manifest} has no row for {subdir}")
    _check_unlisted_codes({s: f for s, f in runs.items() if s not in listed or frame is None},
                          ids, report)
    for subdir in sorted(runs):  # folders without a manifest row are checked file by file too
        _check_run(ids[subdir], runs[subdir], run_id_of(subdir), require, decode_media, report)
    return report


def _manifest_or_none(root: Path, manifest: Path | str | None,
                      report: CheckReport) -> pd.DataFrame | None:
    try:
        path = find_manifest(root, manifest)
        if path is None:
            report.add("", root, NO_MANIFEST, "no manifest given and no manifest.csv in the root: "
                                              "configurations and splits are unknown")
            return None
        report.manifest = path
        return read_manifest(path)
    except DataError as exc:
        report.add("", exc.path, BAD_MANIFEST, exc.problem)
        return None


def _check_manifest_rows(frame: pd.DataFrame, root: Path, runs: dict[str, Path],
                         ids: dict[str, str], report: CheckReport) -> None:
    for index, kind, detail in manifest_issues(frame):
        subdir = frame.at[index, "SUBDIRS"]
        report.add(ids.get(subdir, subdir), f"{report.manifest}:{index + 2}", kind, detail)
    for subdir in sorted(set(frame["SUBDIRS"]) - set(runs)):
        report.add(ids[subdir], root / subdir, MISSING_FOLDER, f"no folder for {subdir}")


def _check_unlisted_codes(runs: dict[str, Path], ids: dict[str, str],
                          report: CheckReport) -> None:
    """Category codes of folders the manifest does not cover (manifest rows are checked there)."""
    for subdir, folder in runs.items():
        try:
            category_code(run_id_of(subdir))
        except ValueError as exc:
            report.add(ids[subdir], folder, UNKNOWN_CODE, str(exc))


def _check_run(sample_id: str, folder: Path, run_id: str, require: tuple[str, ...],
               decode_media: bool, report: CheckReport) -> None:
    files = find_run_files(folder, run_id, require)
    for path, kind, detail in files.problems:
        report.add(sample_id, path, kind, detail)
    if not decode_media:
        return
    audio_s = _checked(report, sample_id, files.audio, BAD_AUDIO, _audio_seconds)
    sensor_s = _checked(report, sample_id, files.sensor, BAD_SENSOR, _sensor_seconds)
    _checked(report, sample_id, files.video, BAD_VIDEO, decode.probe_video)
    for image in files.images:
        _checked(report, sample_id, image, BAD_IMAGE,
                 lambda p: decode.read_image(p, _CHECK_IMAGE_SIZE))
    if audio_s is not None and sensor_s is not None \
            and abs(audio_s - sensor_s) > DURATION_TOLERANCE_S:
        report.add(sample_id, files.sensor, DURATION_MISMATCH,
                   f"audio lasts {audio_s:.1f} s but the sensor log spans {sensor_s:.1f} s "
                   f"(tolerance {DURATION_TOLERANCE_S:g} s)")


def _checked(report: CheckReport, sample_id: str, path: Path | None, kind: str, reader):
    """Run `reader(path)`; a DataError becomes a problem of `kind`. None where absent/failed."""
    if path is None:
        return None
    try:
        return reader(path)
    except DataError as exc:
        report.add(sample_id, exc.path, kind, exc.problem)
        return None


def _audio_seconds(path: Path) -> float:
    samples, rate = decode.read_audio(path)  # full decode: catches truncated FLAC
    return len(samples) / rate


def _sensor_seconds(path: Path) -> float:
    table = decode.read_sensor_table(path)  # named channels, NaNs, time stamps
    return float(table["t"].iloc[-1])


def main_check(root: Path | str, manifest: Path | str | None = None,
               out_json: Path | str | None = None) -> int:
    """CLI body: print the summary table, write the JSON report; exit code 1 on any problem."""
    report = check_dataset(root, manifest)
    print(report.summary_table())
    if out_json is not None:
        out = Path(out_json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report.to_json(), indent=2))
        print(f"report written to {out}")
    return 0 if report.ok else 1
