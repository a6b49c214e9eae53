"""Run outputs on disk: `results/<run>/<method>/seed<k>/` with metrics, scores, config, versions,
efficiency and training history (and, with `--save-maps`, `maps.npz`: each TEST sample's anomaly
maps, one per post-weld view). Units are written to a temporary folder and renamed, so a folder
that exists is complete. A run that saves maps also keeps its label-guarded TEST views once, in
`results/<run>/test_views/`, so that overlays need no dataset. JSON round trip: an `Undefined`
metric is stored as `{"value": null, "reason": ...}`."""
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
SCORE_COLUMNS = ("id", "split", "category", "label", "config", "recipe_matched", "score")
MAPS_FILE = "maps.npz"  # optional: only units of methods with maps, in runs with --save-maps
VIEWS_DIR = "test_views"
# NOTE: every installed package whose version can move a number: decoders (av, soundfile,
# opencv, pillow), backbones and their loaders (torch, torchvision, timm, transformers,
# open-clip-torch, safetensors, huggingface-hub), adapters (anomalib, lightning, kornia, einops,
# FrEIA), metrics and data handling (numpy, scipy, scikit-learn, scikit-image, pandas).
VERSIONED_PACKAGES = (
    "weld-bench", "torch", "torchvision", "timm", "transformers", "open-clip-torch", "safetensors",
    "huggingface-hub", "anomalib", "lightning", "kornia", "einops", "FrEIA", "numpy", "scipy",
    "scikit-learn", "scikit-image", "pandas", "opencv-python-headless", "pillow", "av", "soundfile")


def unit_dir(run_dir: Path, method: str, seed: int) -> Path:
    return Path(run_dir) / method / f"seed{seed}"


def is_done(run_dir: Path, method: str, seed: int) -> bool:
    folder = unit_dir(run_dir, method, seed)
    return all((folder / name).exists() for name in UNIT_FILES)


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
class StaleResultsError(ValueError):
    """Finished units of a run folder were made under other settings than the run asks for."""


@functools.lru_cache(maxsize=None)
def code_digest(*extra_files: str) -> str:
    """sha256 over the suite's source (every .py of `benchmark/` and `methods/`, and `extra_files`
    such as a third-party adapter's module): uncommitted edits count, documentation does not."""
    root = Path(__file__).resolve().parents[1]
    files = sorted(p for folder in ("benchmark", "methods") for p in (root / folder).rglob("*.py"))
    digest = hashlib.sha256()
    for path in [*files, *map(Path, extra_files)]:
        digest.update(f"{path.name}\n".encode() + path.read_bytes())
    return digest.hexdigest()[:16]


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


def read_json(path: Path) -> dict:
    """A result file, Undefined values restored."""
    return from_jsonable(json.loads(Path(path).read_text()))


def load_run(run_dir: Path) -> list[UnitResult]:
    """Every complete unit of a run, sorted by method and seed."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run folder")
    units = []
    for folder in sorted(run_dir.glob("*/seed*")):
        if not folder.is_dir() or not all((folder / n).exists() for n in UNIT_FILES):
            continue
        read = lambda name: read_json(folder / name)
        units.append(UnitResult(method=folder.parent.name, seed=int(folder.name[4:]), folder=folder,
                                metrics=read("metrics.json"), config=read("config.json"),
                                efficiency=read("efficiency.json")))
    return sorted(units, key=lambda u: (u.method, u.seed))


def run_info(run_dir: Path) -> dict:
    path = Path(run_dir) / "run.json"
    return json.loads(path.read_text()) if path.exists() else {}


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
