"""`bench data check`: validate every sample of a dataset and report all problems at once.

Unlike the loader (which stops at the first problem), the check walks the whole dataset and
collects (sample id, file, problem) for: manifest rows without a folder, folders without a
manifest row, duplicate ids, unknown or disagreeing category codes, missing files (all four
modalities by default: every Weld-4M sample ships them, and `bench run --method all` needs
them), zero images, unreadable or truncated media (FLAC decoded fully; AVI demuxed fully,
first and last frame decoded; JPEGs decoded at reduced scale), sensor CSVs without the named
channels or with NaNs, audio vs sensor durations that disagree, and recordings far shorter than
the dataset's median (`benchmark.data.screen.length_problems`). With `label_guard` the
label guard also runs over every view: a view it is unsure of, or finds no label in, is a
problem (every real photo shows one), and a contact sheet shows those views.

The terminal gets every problem as `file: kind: detail` (the first `SHOWN`, then how many
more), the JSON report all of them.

`bench run` applies the length checks too (`benchmark.data.screen.screen_samples`, through the
loader), from what each file declares (audio and video headers, the sensor log's rows), which
costs seconds for the 4,040 welds where decoding every file costs many minutes: a sample cut short
is excluded for every method instead of going into the features resampled.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import pandas as pd
from tqdm.auto import tqdm

from . import decode
# The structural problem kinds are the loader's (it raises them); re-exported for callers.
from .loader import (BAD_MANIFEST_ROW, CODE_MISMATCH, DUPLICATE_ID, MISSING_FILE, MISSING_FOLDER,
                     MISSING_MASK, NO_IMAGES, NO_MANIFEST_ROW, UNKNOWN_CODE, RunFiles,
                     category_code, find_manifest, find_run_files, manifest_issues, read_manifest,
                     run_id_of, sample_ids, scan_runs)
from .sample import MODALITIES, DataError
# The kinds of unreadable recordings and of lengths are the screen's (`bench run` excludes
# samples with them); re-exported for callers.
from .screen import (BAD_AUDIO, BAD_SENSOR, BAD_VIDEO, DURATION_MISMATCH, SHORT_RECORDING,
                     length_problems, sensor_lengths)

_CHECK_IMAGE_SIZE = (96, 128)  # decode JPEGs at 1/8 scale: truncation still raises
SHOWN = 50  # problems printed on the terminal; the JSON report has them all
SHEET_VIEWS = 60  # views drawn on the label guard's contact sheet; the JSON lists them all

__all__ = [
    "CheckReport", "LabelView", "Problem", "check_dataset", "main_check", "BAD_MANIFEST_ROW",
    "CODE_MISMATCH", "DUPLICATE_ID", "MISSING_FILE", "MISSING_FOLDER", "MISSING_MASK", "NO_IMAGES",
    "NO_MANIFEST_ROW", "UNKNOWN_CODE", "NO_MANIFEST", "BAD_MANIFEST", "BAD_AUDIO", "BAD_VIDEO",
    "BAD_IMAGE", "BAD_SENSOR", "DURATION_MISMATCH", "LABEL_UNSURE", "LABEL_NOT_FOUND",
    "SHORT_RECORDING",
]

# Problem kinds found by decoding media (the structural and length kinds above come from the
# loader and the screen).
NO_MANIFEST = "no manifest"
BAD_MANIFEST = "bad manifest"
BAD_IMAGE = "unreadable image"
LABEL_UNSURE = "label guard unsure"
LABEL_NOT_FOUND = "label not found"


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


@dataclass(frozen=True)
class LabelView:
    """The label guard's outcome on one view."""

    id: str
    file: str
    status: str                # "found", "unsure" or "not found"
    score: float
    left: tuple[str, ...]      # what the guard's check saw left ("print", "paper", "label")


@dataclass
class CheckReport:
    root: Path
    manifest: Path | None
    require: tuple[str, ...] = MODALITIES
    n_samples: int = 0
    problems: list[Problem] = field(default_factory=list)
    labels: list[LabelView] | None = None  # with the label guard: every view
    sheet: Path | None = None  # the contact sheet of the views the guard failed on
    # where `bench run` takes the split from: the manifest's SPLIT, or derived from a seed when the
    # manifest has none (its numbers then differ from the published split's); None: no manifest
    split_source: str | None = None

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
        footer = (f"\n{self.n_samples} samples checked (required: {', '.join(self.require)}), "
                  f"{len(self.bad_samples())} with problems, {len(self.problems)} problems")
        if self.split_source == "derived":
            footer += (f"\nsplit: {self.manifest} has no SPLIT column (or it is empty): bench run "
                       f"derives the split from --split-seed, not the published one")
        elif self.split_source == "manifest":
            footer += f"\nsplit: the SPLIT column of {self.manifest}"
        return tabulate(rows, headers=["problem", "count"]) + footer

    def listing(self, shown: int = SHOWN, full_list: Path | str | None = None) -> str:
        """Every problem as `file: kind: detail (sample id)`, the first `shown` of them, then
        how many more (and where the full list is)."""
        lines = [f"{p.file}: {p.problem}" + (f" (sample {p.id})" if p.id else "")
                 for p in self.problems[:shown]]
        rest = len(self.problems) - shown
        if rest > 0:
            lines.append(f"... and {rest} more" + (f" (all {len(self.problems)} in {full_list})"
                                                    if full_list else ""))
        return "\n".join(lines)

    def label_counts(self) -> dict[str, int]:
        counts = Counter(v.status for v in self.labels or ())
        return {s: counts[s] for s in ("found", "unsure", "not found")}

    def to_json(self) -> dict:
        out = {
            "root": str(self.root),
            "manifest": str(self.manifest) if self.manifest else None,
            "require": list(self.require),
            "n_samples": self.n_samples,
            "split_source": self.split_source,
            "n_bad_samples": len(self.bad_samples()),
            "counts": self.counts(),
            "problems": [{"id": p.id, "file": p.file, "kind": p.kind, "detail": p.detail}
                         for p in self.problems],
        }
        if self.labels is not None:
            out["label_guard"] = {
                "counts": self.label_counts(),
                "sheet": str(self.sheet) if self.sheet else None,
                "views": [{"id": v.id, "file": v.file, "status": v.status, "score": v.score,
                           "left": list(v.left)} for v in self.labels],
            }
        return out


def check_dataset(root: Path | str, manifest: Path | str | None = None, *,
                  require: tuple[str, ...] = MODALITIES, decode_media: bool = True,
                  label_guard: bool = False, sheet: Path | str | None = None) -> CheckReport:
    """Check every sample under `root` against the manifest (given, or `<root>/manifest.csv`).

    Without any manifest the folders are still checked file by file (and NO_MANIFEST is
    reported, since configurations and splits are then unknown). `require` names the
    modalities every sample must have (all four by default). `decode_media=False` skips the
    slow media decoding and checks only structure and the presence of files. `label_guard`
    runs the label guard over every view (`CheckReport.labels`); with `sheet` the views it is
    unsure of or finds no label in are drawn into that PNG.
    """
    root = Path(root)
    require = tuple(require)
    unknown = [m for m in require if m not in MODALITIES]
    if unknown:
        raise ValueError(f"unknown modality {unknown}; the modalities are {list(MODALITIES)}")
    report = CheckReport(root=root, manifest=None, require=require,
                         labels=[] if label_guard else None)
    if not root.is_dir():
        report.add("", root, "missing folder", "dataset root is not a directory")
        return report
    frame = _manifest_or_none(root, manifest, report)
    runs = scan_runs(root)
    listed = set(frame["SUBDIRS"]) if frame is not None else set(runs)
    ids = sample_ids(listed | set(runs))
    report.n_samples = len(listed | set(runs))
    if frame is not None:
        given = frame["SPLIT"] != ""
        report.split_source = "manifest" if given.all() else "derived" if not given.any() else None
        _check_manifest_rows(frame, root, runs, ids, report)
        for subdir in sorted(set(runs) - listed):
            report.add(ids[subdir], runs[subdir], NO_MANIFEST_ROW,
                       f"{report.manifest} has no row for {subdir}")
    _check_unlisted_codes({s: f for s, f in runs.items() if s not in listed or frame is None},
                          ids, report)
    tiles: list = []
    lengths: dict[str, dict[str, tuple[Path, float]]] = {}
    # folders without a manifest row are checked file by file too
    for subdir in tqdm(sorted(runs), desc="check", unit="sample", leave=False,
                       disable=not (decode_media or label_guard)):
        files = _check_run(ids[subdir], runs[subdir], run_id_of(subdir), require, decode_media,
                           report, lengths.setdefault(ids[subdir], {}))
        if label_guard:
            _guard_views(ids[subdir], files.images, report, tiles if sheet else None)
    for sample_id, path, kind, detail in length_problems(lengths):
        report.add(sample_id, path, kind, detail)
    if tiles:
        report.sheet = _write_sheet(Path(sheet), tiles, report)
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
               decode_media: bool, report: CheckReport, lengths: dict) -> RunFiles:
    files = find_run_files(folder, run_id, require)
    for path, kind, detail in files.problems:
        report.add(sample_id, path, kind, detail)
    if not decode_media:
        return files
    audio_s = _checked(report, sample_id, files.audio, BAD_AUDIO, _audio_seconds)
    sensor = _checked(report, sample_id, files.sensor, BAD_SENSOR, sensor_lengths)
    video = _checked(report, sample_id, files.video, BAD_VIDEO, decode.probe_video)
    for image in files.images:
        _checked(report, sample_id, image, BAD_IMAGE,
                 lambda p: decode.read_image(p, _CHECK_IMAGE_SIZE))
    if audio_s is not None:
        lengths["audio"] = (files.audio, audio_s)
    if video is not None:
        lengths["video"] = (files.video, video["duration_s"])
    lengths.update({k: (files.sensor, v) for k, v in (sensor or {}).items()})
    return files


def _guard_views(sample_id: str, images, report: CheckReport, tiles: list | None) -> None:
    """Run the label guard over each view of a sample; record its outcome, make a problem of
    a view it is unsure of or finds no label in, and draw those onto `tiles`."""
    from .label_guard import remove_label
    from .label_guard.sheet import view_tile

    bad_images = {p.file for p in report.problems if p.kind == BAD_IMAGE}
    for path in images:
        if str(path) in bad_images:
            continue  # reported as unreadable already
        try:
            image = decode.read_image(path)
        except DataError as exc:
            report.add(sample_id, exc.path, BAD_IMAGE, exc.problem)
            continue
        guarded, region = remove_label(image)
        view = LabelView(sample_id, str(path), region.status, round(region.score, 3), region.left)
        report.labels.append(view)
        if region.status == "found":
            continue
        if region.status == "unsure":
            report.add(sample_id, path, LABEL_UNSURE,
                       f"the label guard's check still sees {' and '.join(region.left)} of the "
                       "label after removing it: look at the view (contact sheet)")
        else:
            report.add(sample_id, path, LABEL_NOT_FOUND,
                       f"no printed run-id label found (best row of print scored "
                       f"{region.score:.2f}): every real view shows one")
        if tiles is not None and len(tiles) < SHEET_VIEWS:
            caption = f"{region.status.upper()}  {sample_id}/{path.name}" + (
                f"  left: {', '.join(region.left)}" if region.left else "")
            tiles.append(view_tile(image, guarded, region, caption))


def _write_sheet(path: Path, tiles: list, report: CheckReport) -> Path:
    from .label_guard.sheet import contact_sheet, write_png

    failed = sum(v.status != "found" for v in report.labels)
    note = (f"{len(tiles)} of {failed} views the label guard is unsure of or found no label in"
            f" (red: removed region); all are listed in the JSON report")
    return write_png(path, contact_sheet(tiles, note=note))


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


def main_check(root: Path | str, manifest: Path | str | None = None,
               out_json: Path | str | None = None, *, require: tuple[str, ...] = MODALITIES,
               label_guard: bool = False, sheet: Path | str | None = None) -> int:
    """CLI body: print the summary table and every problem (file: kind: detail, the first
    `SHOWN`), the label guard's counts and contact sheet, write the JSON report; exit code 1
    on any problem."""
    report = check_dataset(root, manifest, require=require, label_guard=label_guard, sheet=sheet)
    print(report.summary_table())
    if report.problems:
        print()
        print(report.listing(full_list=out_json))
    if report.labels is not None:
        counts = report.label_counts()
        print(f"\nlabel guard over {len(report.labels)} views: " +
              ", ".join(f"{n} {status}" for status, n in counts.items()))
        if report.sheet:
            print(f"contact sheet of the unsure and not-found views: {report.sheet}")
    if out_json is not None:
        out = Path(out_json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report.to_json(), indent=2))
        print(f"report written to {out}")
    return 0 if report.ok else 1
