"""Run outputs on disk: `results/<run>/<method>/seed<k>/` with metrics, scores, config, versions,
efficiency and training history. Units are written to a temporary folder and renamed, so a
folder that exists is complete. JSON round trip: an `Undefined` metric is stored as
`{"value": null, "reason": ...}`."""
from __future__ import annotations

import csv
import json
import math
import numbers
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.metrics import Undefined

UNIT_FILES = ("metrics.json", "scores.csv", "config.json", "versions.json", "efficiency.json",
              "history.json")
SCORE_COLUMNS = ("id", "split", "category", "label", "config", "score")


def unit_dir(run_dir: Path, method: str, seed: int) -> Path:
    return Path(run_dir) / method / f"seed{seed}"


def is_done(run_dir: Path, method: str, seed: int) -> bool:
    folder = unit_dir(run_dir, method, seed)
    return all((folder / name).exists() for name in UNIT_FILES)


def write_unit(run_dir: Path, method: str, seed: int, *, metrics: dict, scores: list[dict],
               config: dict, efficiency: dict, history: dict, backbones: dict | None = None) -> Path:
    """Write one (method, seed) unit atomically: into a temporary folder, then rename.
    `backbones`: name -> what the unit's frozen encoders were (checkpoint id, revision, weights
    digest), written into versions.json."""
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
    if final.exists():  # a stale partial unit from an older layout; never read
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def versions() -> dict:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("weld-bench", "torch", "transformers", "anomalib", "numpy", "scikit-learn",
                "open-clip-torch"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    try:
        out["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        out["git_commit"] = None
    return out


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


def load_run(run_dir: Path) -> list[UnitResult]:
    """Every complete unit of a run, sorted by method and seed."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run folder")
    units = []
    for folder in sorted(run_dir.glob("*/seed*")):
        if not folder.is_dir() or not all((folder / n).exists() for n in UNIT_FILES):
            continue
        read = lambda name: from_jsonable(json.loads((folder / name).read_text()))
        units.append(UnitResult(method=folder.parent.name, seed=int(folder.name[4:]), folder=folder,
                                metrics=read("metrics.json"), config=read("config.json"),
                                efficiency=read("efficiency.json")))
    return sorted(units, key=lambda u: (u.method, u.seed))


def run_info(run_dir: Path) -> dict:
    path = Path(run_dir) / "run.json"
    return json.loads(path.read_text()) if path.exists() else {}


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
