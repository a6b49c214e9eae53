"""Run outputs on disk: `results/<run>/<method>/seed<k>/` with metrics, scores, config, versions,
efficiency and training history (and, with `--save-maps`, `maps.npz`: each TEST sample's anomaly
maps, one per post-weld view). Units are written to a temporary folder and renamed, so a folder
that exists is complete. A run that saves maps also keeps its label-guarded TEST views once, in
`results/<run>/test_views/`, so that overlays need no dataset. JSON round trip: an `Undefined`
metric is stored as `{"value": null, "reason": ...}`.

A unit is done only when whole: its completion record (`done.json`, the digests of its files and
its TEST ids) is written last, and every reader checks the files against it (`unit_problem`), so
a truncated, edited or short file is named, never used, and redone by the next run."""
from __future__ import annotations

import csv
import functools
import hashlib
import json
import math
import numbers
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from collections.abc import Iterable, Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.metrics import Undefined

UNIT_FILES = ("metrics.json", "scores.csv", "config.json", "versions.json", "efficiency.json",
              "history.json")
SCORE_COLUMNS = ("id", "split", "category", "label", "config", "weld_type", "folder", "session", "recipe_matched",
                 "session_matched", "both_matched", "score")
DONE_FILE = "done.json"  # the completion record, written last
MAPS_FILE = "maps.npz"  # optional: only units of methods with maps, in runs with --save-maps
VIEWS_DIR = "test_views"
# NOTE: every installed package whose version can move a number: decoders (av, soundfile,
# opencv, pillow), backbones and their loaders (torch, torchvision, timm, transformers,
# open-clip-torch, safetensors, huggingface-hub), adapters (anomalib, lightning, kornia, einops,
# FrEIA), metrics and data handling (numpy, scipy, scikit-learn, scikit-image, pandas).
VERSIONED_PACKAGES = (
    "weld-bench", "torch", "torchvision", "timm", "transformers", "open-clip-torch", "safetensors",
    "huggingface-hub", "anomalib", "lightning", "kornia", "einops", "FrEIA", "numpy", "scipy",
    "scikit-learn", "scikit-image", "pandas", "opencv-python-headless", "pillow", "av", "soundfile",
    "faiss-cpu", "faiss-gpu-cu12")  # NOTE: one faiss of the two is installed (docs/real-data.md)


def unit_dir(run_dir: Path, method: str, seed: int) -> Path:
    return Path(run_dir) / method / f"seed{seed}"


class ResultsError(ValueError):
    """A results folder cannot be used as it is; the message names the file and the problem."""


class BadResultError(ResultsError):
    """A unit's file is missing, truncated, edited, or disagrees with the run's TEST samples."""


def is_done(run_dir: Path, method: str, seed: int, test_ids: frozenset[str] | None = None) -> bool:
    return unit_problem(unit_dir(run_dir, method, seed), test_ids) is None


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _completion(folder: Path, n_test: int, test_ids: Iterable[str]) -> dict:
    # NOTE: maps can be gigabytes on the paper profile: their size is recorded, not their digest
    files = {name: {"sha256": _file_digest(folder / name)} for name in UNIT_FILES}
    if (folder / MAPS_FILE).exists():
        files[MAPS_FILE] = {"bytes": (folder / MAPS_FILE).stat().st_size}
    return {"files": files, "n_test": n_test, "test_ids": _ids_digest(test_ids)}


def unit_problem(folder: Path, test_ids: frozenset[str] | None = None) -> str | None:
    """None if the unit folder is whole, else one line naming the file and what is wrong: a file
    missing or not matching the completion record, or (with `test_ids`, the run's TEST samples)
    scores of other samples."""
    folder = Path(folder)
    if not folder.is_dir():
        return f"{folder}: no such unit folder"
    try:
        record = json.loads((folder / DONE_FILE).read_text())
        files, n_test, ids_digest = record["files"], record["n_test"], record["test_ids"]
    except FileNotFoundError:
        return f"{folder / DONE_FILE}: missing (the unit was never finished, or made by an older suite)"
    except (ValueError, KeyError, TypeError) as exc:
        return f"{folder / DONE_FILE}: unreadable completion record ({exc})"
    for name, want in files.items():
        path = folder / name
        if not path.is_file():
            return f"{path}: missing"
        if "sha256" in want and _file_digest(path) != want["sha256"]:
            return f"{path}: changed since the unit was written (truncated or edited)"
        if "bytes" in want and path.stat().st_size != want["bytes"]:
            return f"{path}: {path.stat().st_size} bytes, {want['bytes']} when written (truncated)"
    if test_ids is not None:
        if len(test_ids) != n_test or ids_digest != _ids_digest(test_ids):
            return (f"{folder / 'scores.csv'}: scores {n_test} TEST samples, not the "
                    f"{len(test_ids)} TEST samples of the run's manifest_used.csv")
    return None


def _ids_digest(ids: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def run_test_ids(run_dir: Path) -> frozenset[str] | None:
    """The TEST samples every unit of the run must have scored: the TEST rows of
    `manifest_used.csv` less the samples `run.json` excludes (None where either is absent)."""
    from benchmark.data.loader import read_manifest, sample_ids

    manifest, info = Path(run_dir) / "manifest_used.csv", Path(run_dir) / "run.json"
    if not (manifest.is_file() and info.is_file()):
        return None
    frame = read_manifest(manifest)  # a bad one raises DataError naming it
    ids = sample_ids(frame["SUBDIRS"])
    test = {ids[s] for s in frame.loc[frame["SPLIT"] == "TEST", "SUBDIRS"]}
    excluded = {e["id"] for e in run_info(run_dir).get("dataset", {}).get("excluded", [])}
    return frozenset(test - excluded)


def write_unit(run_dir: Path, method: str, seed: int, *, metrics: dict, scores: list[dict],
               config: dict, efficiency: dict, history: dict, backbones: dict | None = None,
               maps: Mapping[str, np.ndarray] | None = None) -> Path:
    """Write one (method, seed) unit atomically: into a temporary folder, then rename.
    `backbones`: name -> what the unit's frozen encoders were (checkpoint id, revision, weights
    digest), written into versions.json; `maps`: sample id -> that sample's maps (V, h, w), saved
    compressed (see `_storable`)."""
    final = unit_dir(run_dir, method, seed)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    dump = lambda name, obj: (tmp / name).write_text(json.dumps(to_jsonable(obj), indent=2))
    dump("metrics.json", metrics)
    dump("config.json", config)
    dump("versions.json", {**versions(), "backbones": backbones or {}})
    dump("efficiency.json", efficiency)
    dump("history.json", history)
    with open(tmp / "scores.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=SCORE_COLUMNS)
        writer.writeheader()
        writer.writerows(scores)
    if maps is not None:
        np.savez_compressed(tmp / MAPS_FILE, **{k: _storable(v) for k, v in maps.items()})
    dump(DONE_FILE, _completion(tmp, len(scores), (r["id"] for r in scores)))
    if final.exists():  # a stale partial unit from an older layout; never read
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def _storable(amap) -> np.ndarray:
    """float16 (a third of float32's size once compressed: a quick-profile PatchCore unit holds
    ~11 MB of maps instead of ~35 MB), float32 where float16 would overflow. The pixel metrics in
    metrics.json come from the full-precision maps; the saved ones are for looking at."""
    full = np.asarray(amap, dtype=np.float32)
    half = full.astype(np.float16)
    return half if np.isfinite(half).all() or not np.isfinite(full).all() else full


def versions() -> dict:
    """Python, platform, every package of `VERSIONED_PACKAGES`, native libraries, the CUDA build
    and the GPUs this process sees, and the git commit of the suite."""
    return dict(_versions())


@functools.lru_cache(maxsize=1)  # NOTE: fixed for the life of a process; one unit per call otherwise
def _versions() -> tuple[tuple[str, Any], ...]:
    out: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in VERSIONED_PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    out.update(_native_versions())
    out.update(_accelerator())
    try:
        out["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        out["git_commit"] = None
    return tuple(out.items())


def _native_versions() -> dict:
    """Libraries under the Python packages that decode the data: FFmpeg (av), libsndfile."""
    out: dict[str, Any] = {}
    try:
        import av

        out["ffmpeg"] = {name: ".".join(map(str, v)) for name, v in av.library_versions.items()}
    except Exception:  # noqa: BLE001 - a missing or broken decoder is recorded, not fatal
        out["ffmpeg"] = None
    try:
        import soundfile

        out["libsndfile"] = soundfile.__libsndfile_version__
    except Exception:  # noqa: BLE001
        out["libsndfile"] = None
    return out


# ---------------------------------------------------------------------------- fingerprints
class StaleResultsError(ResultsError):
    """Finished units of a run folder were made under other settings than the run asks for."""


def digest(parts: Mapping) -> str:
    return hashlib.sha256(json.dumps(to_jsonable(parts), sort_keys=True).encode()).hexdigest()[:16]


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, Mapping):
        return {k: v for key, value in obj.items() for k, v in _flat(value, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): obj}


def changes(old: Mapping, new: Mapping, limit: int = 6) -> list[str]:
    """'path: old -> new' for every setting that differs between two fingerprints."""
    a, b = _flat(to_jsonable(old)), _flat(to_jsonable(new))
    short = lambda v: (s if len(s := json.dumps(v)) <= 48 else s[:45] + "...")
    lines = [f"{k}: {short(a.get(k, 'absent'))} -> {short(b.get(k, 'absent'))}"
             for k in sorted(set(a) | set(b)) if a.get(k, "absent") != b.get(k, "absent")]
    return lines[:limit] + ([f"and {len(lines) - limit} more"] if len(lines) > limit else [])


def _accelerator() -> dict:
    """CUDA and cuDNN of the torch build, and the name and capability of each visible GPU."""
    try:
        import torch
    except ImportError:
        return {"cuda": None, "cudnn": None, "gpus": []}
    gpus = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            gpus.append({"name": p.name, "capability": f"{p.major}.{p.minor}",
                         "memory_gib": round(p.total_memory / 2**30, 1)})
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {"cuda": torch.version.cuda, "cudnn": cudnn, "gpus": gpus}


@dataclass(frozen=True)
class UnitResult:
    method: str
    seed: int
    folder: Path
    metrics: dict
    config: dict
    efficiency: dict

    def scores(self) -> list[dict]:
        """The unit's rows, checked against its completion record (a short file is refused)."""
        problem = unit_problem(self.folder)
        if problem:
            raise BadResultError(f"{problem}; {REDO}")
        with open(self.folder / "scores.csv", newline="") as f:
            return list(csv.DictReader(f))

    def history(self) -> dict:
        return json.loads((self.folder / "history.json").read_text())

    def versions(self) -> dict:
        return json.loads((self.folder / "versions.json").read_text())

    @property
    def has_maps(self) -> bool:
        return (self.folder / MAPS_FILE).exists()

    def maps(self, ids: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """Sample id -> anomaly maps (V, h, w) of a unit saved with --save-maps (all samples, or
        those of `ids`)."""
        return dict(self.iter_maps(ids))

    def iter_maps(self, ids: Iterable[str] | None = None) -> Iterator[tuple[str, np.ndarray]]:
        """(sample id, maps) one sample at a time: a paper-size run's maps need not fit in memory."""
        path = self.folder / MAPS_FILE
        if not path.exists():
            raise FileNotFoundError(f"{path}: no saved anomaly maps (run with --save-maps, "
                                    f"for a method that gives maps)")
        with np.load(path) as z:
            for k in z.files if ids is None else ids:
                if k not in z.files:
                    raise KeyError(f"{path}: no maps of sample {k}")
                yield k, z[k]


REDO = "`bench run` with the run's options redoes the unit"


def _parse_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadResultError(f"{path}: not valid JSON (truncated or edited: {exc})") from None


def read_json(path: Path) -> dict:
    """A result file, Undefined values restored; a file that does not parse is named."""
    return from_jsonable(_parse_json(path))


def load_run(run_dir: Path) -> list[UnitResult]:
    """Every unit of a run, sorted by method and seed. A unit folder that is not whole, or whose
    scores are not of the run's TEST samples, raises `BadResultError` naming the file."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run folder")
    test_ids = run_test_ids(run_dir)
    units = []
    for folder in sorted(run_dir.glob("*/seed*")):
        if not folder.is_dir():
            continue
        problem = unit_problem(folder, test_ids)
        if problem:
            raise BadResultError(f"{problem}; {REDO}")
        read = lambda name: read_json(folder / name)
        units.append(UnitResult(method=folder.parent.name, seed=int(folder.name[4:]), folder=folder,
                                metrics=read("metrics.json"), config=read("config.json"),
                                efficiency=read("efficiency.json")))
    return sorted(units, key=lambda u: (u.method, u.seed))


def run_info(run_dir: Path) -> dict:
    path = Path(run_dir) / "run.json"
    return _parse_json(path) if path.exists() else {}


def write_run_info(run_dir: Path, info: dict) -> None:
    """Write run.json whole, atomically: a table or a second run may read it meanwhile."""
    path = Path(run_dir) / "run.json"
    tmp = path.with_name(f".run.json.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(info, indent=2))
    os.replace(tmp, path)


# ---------------------------------------------------------------------------- TEST views
def has_views(run_dir: Path) -> bool:
    return (Path(run_dir) / VIEWS_DIR).is_dir()


def write_views(run_dir: Path, views: Mapping[str, Any]) -> Path:
    """Keep each TEST sample's label-guarded post-weld views (uint8 RGB, (V, H, W, 3)) as JPEG
    files, once per run: a folder written whole, then renamed (a second writer finds it there)."""
    from PIL import Image

    final = Path(run_dir) / VIEWS_DIR
    if final.is_dir():
        return final
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for sample_id, sample_views in views.items():
        for k, view in enumerate(sample_views):
            Image.fromarray(np.asarray(view, dtype=np.uint8)).save(tmp / f"{sample_id}_view{k}.jpg",
                                                                   quality=90)
    try:
        os.replace(tmp, final)
    except OSError:  # another worker renamed its copy first; the views are the same
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def read_views(run_dir: Path, sample_id: str) -> list[np.ndarray]:
    """The kept views of one TEST sample, in view order (RGB uint8)."""
    from PIL import Image

    folder = Path(run_dir) / VIEWS_DIR
    paths = sorted(folder.glob(f"{sample_id}_view*.jpg"), key=lambda p: int(p.stem.rpartition("view")[2]))
    if not paths:
        raise FileNotFoundError(f"{folder}: no kept view of TEST sample {sample_id} "
                                f"(the run was made without --save-maps)")
    return [np.asarray(Image.open(p).convert("RGB")) for p in paths]


# ---------------------------------------------------------------------------- JSON
def to_jsonable(obj: Any) -> Any:
    """Recursively convert results for ``json.dump``.

    :class:`Undefined` -> ``{"value": None, "reason": ...}``; numpy scalars/arrays -> Python
    numbers/lists; tuples -> lists; mapping keys -> ``str``; NaN/inf floats -> an Undefined form.

    >>> to_jsonable({"I-AUROC": np.float64(0.5), "P-AUROC": Undefined("no masks")})
    {'I-AUROC': 0.5, 'P-AUROC': {'value': None, 'reason': 'no masks'}}
    """
    if isinstance(obj, Undefined):
        return {"value": None, "reason": obj.reason}
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        f = float(obj)
        if not math.isfinite(f):
            return {"value": None, "reason": f"non-finite value {f}"}
        return f
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def from_jsonable(obj: Any) -> Any:
    """Inverse of :func:`to_jsonable` for Undefined: ``{"value": None, "reason": r}`` -> ``Undefined(r)``.

    >>> from_jsonable({"a": {"value": None, "reason": "one class"}})
    {'a': Undefined(reason='one class')}
    """
    if isinstance(obj, Mapping):
        if set(obj.keys()) == {"value", "reason"} and obj["value"] is None:
            return Undefined(str(obj["reason"]))
        return {k: from_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_jsonable(v) for v in obj]
    return obj
