"""Load the real Weld-4M layout (or its synthetic twin) into Sample records.

    <root>/<configuration folder>/<run id>/
        <run id>.avi  <run id>.flac  <run id>.csv  images/*.jpg  masks/<view stem>.png (optional)

The manifest (columns MANIFEST_COLUMNS) is the only source of the weld configuration, so a
dataset without one is refused. Its SPLIT column is used as is; where it is absent or empty the
split is derived by `benchmark.data.split.derive_split` and written into `Dataset.manifest`, so
`Dataset.write_manifest` lets a run be repeated exactly.

The loader only looks at the file system (cheap); decoding is `benchmark.data.decode`'s job and
whole-dataset media validation is `benchmark.data.check`'s.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .sample import CATEGORIES, CATEGORY_CODES, MANIFEST_COLUMNS, MODALITIES, SPLITS, DataError, \
    Sample, WeldConfig
from .screen import screen_samples
from .split import ProtocolError, assert_train_normal, derive_split

MANIFEST_NAME = "manifest.csv"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
MEDIA_SUFFIX = {"video": ".avi", "audio": ".flac", "sensor": ".csv"}
_TEXT_COLUMNS = ("CATEGORY", "WELD_TYPE", "STEEL_TYPE", "DIRECTORY", "SUBDIRS", "SPLIT")
_SETPOINT_COLUMNS = ("THICKNESS_MM", "CURRENT_A", "VOLTAGE_V", "GAS_BAR", "ROBOT_SPEED_CPM")

# Problem kinds shared with benchmark.data.check (the check reports them, the loader raises).
MISSING_FOLDER = "manifest row without folder"
NO_MANIFEST_ROW = "folder without manifest row"
DUPLICATE_ID = "duplicate id"
UNKNOWN_CODE = "unknown category code"
CODE_MISMATCH = "category code disagrees with manifest"
BAD_MANIFEST_ROW = "bad manifest row"
MISSING_FILE = "missing file"
NO_IMAGES = "zero images"
MISSING_MASK = "missing mask"
MASK_DIR = "masks"  # <run folder>/masks/<view stem>.png, one per view (0 / 255)


@dataclass(frozen=True)
class Exclusion:
    id: str
    path: Path
    reason: str


@dataclass
class Dataset:
    root: Path
    samples: list[Sample]
    excluded: list[Exclusion]
    manifest: pd.DataFrame  # the manifest actually used (all rows), SPLIT filled
    split_source: str = "manifest"  # "manifest" (published/given) or "derived" (seeded protocol)
    seed: int | None = None  # the seed of a derived split
    manifest_path: Path | None = None

    def split(self, name: str) -> list[Sample]:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {SPLITS}")
        return [s for s in self.samples if s.split == name]

    def write_manifest(self, path: Path | str) -> None:
        """Write the manifest this dataset was loaded with (derived SPLIT included)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.manifest.loc[:, list(MANIFEST_COLUMNS)].to_csv(path, index=False)

    def fingerprint(self) -> str:
        """sha256 over sorted (id, split, category, file names and sizes): cheap, no content."""
        digest = hashlib.sha256()
        for sample in sorted(self.samples, key=lambda s: s.id):
            files = [(str(p.relative_to(self.root)), p.stat().st_size)
                     for p in sample_paths(sample)]
            record = [sample.id, sample.split, sample.category, sorted(files)]
            digest.update(json.dumps(record).encode() + b"\n")
        return digest.hexdigest()

    def counts(self) -> pd.DataFrame:
        """Samples per category and split (a quick look; the published split is the reference)."""
        frame = pd.DataFrame({"category": [s.category for s in self.samples],
                              "split": [s.split for s in self.samples]})
        return frame.groupby(["category", "split"]).size().unstack(fill_value=0)


def sample_paths(sample: Sample) -> list[Path]:
    """Every file a Sample points to."""
    paths = [p for p in (sample.video, sample.audio, sample.sensor) if p is not None]
    return paths + list(sample.images) + list(sample.masks or ())


# ---------------------------------------------------------------------------------- manifest


def find_manifest(root: Path, manifest: Path | str | None) -> Path | None:
    """The manifest to use: the one given, else `<root>/manifest.csv`, else None."""
    if manifest is not None:
        path = Path(manifest)
        if not path.is_file():
            raise DataError(path, "manifest file does not exist")
        return path
    candidate = root / MANIFEST_NAME
    return candidate if candidate.is_file() else None


def read_manifest(path: Path | str) -> pd.DataFrame:
    """Read and normalise a manifest: text columns as str, SUBDIRS with '/' and no slashes
    around it. SPLIT may be absent (then it is added empty, to be derived)."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype={c: str for c in _TEXT_COLUMNS}, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(path, f"unreadable manifest: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in MANIFEST_COLUMNS if c != "SPLIT" and c not in frame.columns]
    if missing:
        raise DataError(path, f"manifest lacks column(s) {missing}")
    if "SPLIT" not in frame.columns:
        frame["SPLIT"] = ""
    for column in _TEXT_COLUMNS:
        frame[column] = frame[column].astype(str).str.strip()
    frame["SUBDIRS"] = frame["SUBDIRS"].str.replace("\\", "/", regex=False).str.strip("/")
    frame["SPLIT"] = frame["SPLIT"].str.upper()
    return frame.reset_index(drop=True)


def run_id_of(subdir: str) -> str:
    return subdir.rsplit("/", 1)[-1]


def category_code(run_id: str) -> int:
    """The category code: the last two digits of the run id (`08-17-22-0011-00` -> 0)."""
    suffix = run_id.rsplit("-", 1)[-1]
    if "-" not in run_id or len(suffix) != 2 or not suffix.isdigit():
        raise ValueError(f"run id {run_id!r} does not end in a two-digit category code")
    code = int(suffix)
    if code not in CATEGORIES:
        raise ValueError(f"run id {run_id!r} has unknown category code {suffix} "
                         f"(known: {sorted(CATEGORIES)})")
    return code


def manifest_issues(frame: pd.DataFrame) -> Iterator[tuple[int, str, str]]:
    """(row index, kind, detail) for every row-level inconsistency of a manifest."""
    duplicated = frame["SUBDIRS"].duplicated(keep="first")
    for index, row in frame.iterrows():
        subdir = row["SUBDIRS"]
        if duplicated[index]:
            yield index, DUPLICATE_ID, f"{subdir} is listed more than once"
            continue
        yield from ((index, kind, detail) for kind, detail in _row_issues(row))


def _row_issues(row: pd.Series) -> Iterator[tuple[str, str]]:
    subdir = row["SUBDIRS"]
    parts = subdir.split("/")
    if len(parts) != 2 or not all(parts):
        yield BAD_MANIFEST_ROW, f"SUBDIRS {subdir!r} is not <configuration>/<run id>"
        return
    if parts[0] != row["DIRECTORY"]:
        yield BAD_MANIFEST_ROW, f"SUBDIRS {subdir!r} is not under DIRECTORY {row['DIRECTORY']!r}"
    if row["SPLIT"] and row["SPLIT"] not in SPLITS:
        yield BAD_MANIFEST_ROW, f"SPLIT {row['SPLIT']!r} is not one of {SPLITS}"
    bad_numbers = [c for c in _SETPOINT_COLUMNS if pd.isna(pd.to_numeric(row[c], errors="coerce"))]
    if bad_numbers:
        yield BAD_MANIFEST_ROW, f"non-numeric set-point(s) {bad_numbers}"
    if row["CATEGORY"] not in CATEGORY_CODES:
        yield BAD_MANIFEST_ROW, f"CATEGORY {row['CATEGORY']!r} is not a known category"
        return
    try:
        code = category_code(parts[1])
    except ValueError as exc:
        yield UNKNOWN_CODE, str(exc)
        return
    if CATEGORIES[code] != row["CATEGORY"]:
        yield CODE_MISMATCH, (f"run id code {code:02d} means {CATEGORIES[code]} but the "
                              f"manifest says {row['CATEGORY']}")


def fill_split(frame: pd.DataFrame, seed: int, path: Path) -> tuple[pd.DataFrame, str]:
    """Use the manifest's SPLIT if every row has one; derive all of it if none has one."""
    given = frame["SPLIT"] != ""
    if given.all():
        return frame, "manifest"
    if given.any():
        rows = (frame.index[~given] + 2).tolist()[:5]  # +2: 1-based, after the header line
        raise DataError(path, f"SPLIT is empty in some rows only (e.g. lines {rows}); fill it "
                              "everywhere or leave it empty everywhere to derive it")
    assignment = derive_split(frame, seed)
    frame = frame.copy()
    frame["SPLIT"] = frame["SUBDIRS"].map(assignment)
    return frame, "derived"


def weld_config(row: pd.Series) -> WeldConfig:
    return WeldConfig(
        weld_type=row["WELD_TYPE"],
        thickness_mm=float(row["THICKNESS_MM"]),
        steel_type=row["STEEL_TYPE"],
        current_a=float(row["CURRENT_A"]),
        voltage_v=float(row["VOLTAGE_V"]),
        gas_bar=float(row["GAS_BAR"]),
        robot_speed_cpm=float(row["ROBOT_SPEED_CPM"]),
    )


# ----------------------------------------------------------------------------------- folders


def scan_runs(root: Path) -> dict[str, Path]:
    """Every run folder `<root>/<configuration>/<run id>` as {"<configuration>/<run id>": path}."""
    runs: dict[str, Path] = {}
    for config in sorted(_subfolders(root)):
        for run in sorted(_subfolders(config)):
            runs[f"{config.name}/{run.name}"] = run
    return runs


def _subfolders(folder: Path) -> Iterator[Path]:
    return (p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def sample_ids(subdirs: Iterable[str]) -> dict[str, str]:
    """Sample id per `<configuration>/<run id>`: the run id, qualified where it is not unique.

    The real manifest lists 20 run ids (overlap_1_03-22-23_*) in two configuration folders each
    (Fe410 and BSK46): distinct welds with the same run id. Those get the id
    `<configuration>/<run id>` so ids stay unique keys for splits, scores and fingerprints.
    """
    subdirs = list(subdirs)
    counts = Counter(run_id_of(s) for s in subdirs)
    return {s: run_id_of(s) if counts[run_id_of(s)] == 1 else s for s in subdirs}


@dataclass
class RunFiles:
    """What one run folder holds, found by name only (nothing is opened)."""

    video: Path | None = None
    audio: Path | None = None
    sensor: Path | None = None
    images: tuple[Path, ...] = ()
    masks: tuple[Path, ...] | None = None
    problems: list[tuple[Path, str, str]] = field(default_factory=list)  # (file, kind, detail)

    def missing(self, modality: str) -> bool:
        return not self.images if modality == "image" else getattr(self, modality) is None


def find_run_files(directory: Path, run_id: str, require: Iterable[str], masks: bool = True) -> RunFiles:
    """Locate the files of one run; record missing required ones and, with `masks`, views
    without a mask in a `masks/` folder."""
    files = RunFiles()
    for modality, suffix in MEDIA_SUFFIX.items():
        path = directory / f"{run_id}{suffix}"
        if path.is_file():
            setattr(files, modality, path)
        elif modality in require:
            files.problems.append((path, MISSING_FILE, f"required {modality} file is missing"))
    image_dir = directory / "images"
    if image_dir.is_dir():
        files.images = tuple(sorted((p for p in image_dir.iterdir()
                                     if p.suffix.lower() in IMAGE_SUFFIXES), key=lambda p: p.name))
    if not files.images and "image" in require:
        files.problems.append((image_dir, NO_IMAGES, "no post-weld images (images/*.jpg)"))
    if masks:
        _find_masks(directory, files)
    return files


def view_masks(directory: Path, images: Iterable[Path]) -> tuple[Path | None, ...] | None:
    """Each view's mask file in the run folder's `masks/` (`<view stem>.png`; None where it has
    none), or None where the folder does not exist."""
    mask_dir = directory / MASK_DIR
    if not mask_dir.is_dir():
        return None
    return tuple(m if m.is_file() else None for m in (mask_dir / f"{i.stem}.png" for i in images))


def _find_masks(directory: Path, files: RunFiles) -> None:
    masks = view_masks(directory, files.images)
    if masks is None:
        return  # Weld-4M has no masks; only derived sets (synthetic twin) carry them
    have = sum(m is not None for m in masks)
    if masks and not have:
        files.problems.append((directory / MASK_DIR, MISSING_MASK,
                               "masks/ is empty: no view has a mask (bench data masks import "
                               "fills it; or remove the folder)"))
    for image, mask in zip(files.images, masks):
        if have and mask is None:
            files.problems.append((directory / MASK_DIR / f"{image.stem}.png", MISSING_MASK,
                                   f"masks/ is partial: {have} of {len(masks)} views have a mask, "
                                   f"this one has none"))
    files.masks = masks if have == len(masks) else None


# ------------------------------------------------------------------------------------ loader


def load_dataset(root: Path | str, manifest: Path | str | None = None, *, seed: int = 0,
                 require: Iterable[str] = ("audio", "sensor", "image"),
                 allow_missing: bool = False, screen: bool = False, masks: bool = True) -> Dataset:
    """Samples of the dataset at `root`, configured and split by the manifest.

    `require`: modalities a sample must have. Missing ones (and manifest rows without a folder,
    folders without a manifest row) raise DataError naming the file, or with
    `allow_missing=True` exclude the sample and list it in `Dataset.excluded`. Inconsistencies
    (category code vs manifest, unknown codes, duplicate rows) always raise. `screen`: also
    exclude (or raise for) samples whose required recordings are unreadable, hold NaNs, or are
    cut short (`benchmark.data.screen.screen_samples`, the checks of `bench data check` that
    need no decoding). `masks`: look for each weld's pixel masks (False: leave them unread, and
    a weld with an empty or partial `masks/` folder in; the mask tools read them themselves).
    """
    root = Path(root)
    require = tuple(require)
    unknown = set(require) - set(MODALITIES)
    if unknown:
        raise ValueError(f"unknown modalities in require: {sorted(unknown)}; known: {MODALITIES}")
    if not root.is_dir():
        raise DataError(root, "dataset root is not a directory")
    manifest_path = find_manifest(root, manifest)
    if manifest_path is None:
        raise DataError(root, f"no manifest: weld configurations (type, thickness, steel, "
                              f"set-points) exist only in the manifest; pass manifest= or put "
                              f"{MANIFEST_NAME} in the dataset root")
    frame = read_manifest(manifest_path)
    _raise_first_issue(frame, manifest_path)
    frame, split_source = fill_split(frame, seed, manifest_path)

    runs = scan_runs(root)
    ids = sample_ids(set(frame["SUBDIRS"]) | set(runs))
    samples, excluded = [], []
    for _, row in frame.iterrows():
        subdir = row["SUBDIRS"]
        outcome = _sample_from_row(root, row, ids[subdir], runs.get(subdir), require, masks)
        if isinstance(outcome, Sample):
            samples.append(outcome)
        else:
            excluded.append(_exclude_or_raise(outcome, allow_missing))
    for subdir in sorted(set(runs) - set(frame["SUBDIRS"])):
        reason = f"{NO_MANIFEST_ROW}: {manifest_path} has no row for {subdir}"
        excluded.append(_exclude_or_raise(Exclusion(ids[subdir], runs[subdir], reason),
                                          allow_missing))
    if screen:
        bad = screen_samples(samples, require)
        excluded += [_exclude_or_raise(Exclusion(s.id, *bad[s.id]), allow_missing)
                     for s in samples if s.id in bad]
        samples = [s for s in samples if s.id not in bad]
    _assert_train_normal(samples, manifest_path)
    return Dataset(root=root, samples=samples, excluded=excluded, manifest=frame,
                   split_source=split_source, seed=seed if split_source == "derived" else None,
                   manifest_path=manifest_path)


def _raise_first_issue(frame: pd.DataFrame, path: Path) -> None:
    for index, kind, detail in manifest_issues(frame):
        raise DataError(path, f"line {index + 2} ({frame.at[index, 'SUBDIRS']}): {kind}: {detail}")


def _sample_from_row(root: Path, row: pd.Series, sample_id: str, directory: Path | None,
                     require: tuple[str, ...], masks: bool = True) -> Sample | Exclusion:
    subdir = row["SUBDIRS"]
    if directory is None:
        return Exclusion(sample_id, root / subdir, f"{MISSING_FOLDER}: {subdir}")
    run_id = run_id_of(subdir)
    files = find_run_files(directory, run_id, require, masks)
    if files.problems:
        path, kind, detail = files.problems[0]
        return Exclusion(sample_id, path, f"{kind}: {detail}")
    return Sample(
        id=sample_id, category=row["CATEGORY"], split=row["SPLIT"], config=weld_config(row),
        directory=directory, video=files.video, audio=files.audio, sensor=files.sensor,
        images=files.images, masks=files.masks,
        extra={"run_id": run_id, "subdir": subdir, "configuration": row["DIRECTORY"],
               "samples_in_configuration": int(row["SAMPLES"])},
    )


def _exclude_or_raise(exclusion: Exclusion, allow_missing: bool) -> Exclusion:
    if not allow_missing:
        raise DataError(exclusion.path, f"sample {exclusion.id}: {exclusion.reason} "
                                        "(pass allow_missing=True to exclude such samples)")
    return exclusion


def _assert_train_normal(samples: list[Sample], manifest_path: Path) -> None:
    try:
        assert_train_normal(samples)
    except ProtocolError as exc:
        raise ProtocolError(f"{manifest_path}: {exc}") from None
