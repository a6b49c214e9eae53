"""What a run will cost, projected from measured per-weld costs: the calibration of the device
kind (`calibration/<kind>.json`, written by `scripts/bench_scale.py` on that kind of machine)
and the plan (welds, extractors, methods, seeds) give time per stage, peak host and device
memory and cache disk. `bench run --dry-run` prints it for the run at hand and at Weld-4M's size.

A calibration holds, per profile, every stage measured at several sizes (seconds, peak memory,
cache bytes per weld) and the growth form fitted to its seconds (`benchmark.run.growth`).
Stage names: `features <extractor>: data path` (the CPU side: decode, label guard, resizing,
fbank; what loader threads run), `features <extractor>: backbone` (the device side) and
`unit <method>` (one seed: fit, selection, TEST scored, reliance, metrics). Rows of the group
`data` break the data path down (decode, label guard, ...) and are shown, not summed.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.run.growth import FORMS, Growth, fit_memory

CALIBRATION_DIR = Path(__file__).resolve().parent / "calibration"
WELD4M_WELDS = 4040
WELD4M_SEEDS = 3
GIB = 2**30


class CalibrationError(ValueError):
    """A calibration file that cannot be read; the message names the file and the problem."""


def device_kind(device: str) -> str:
    """`cuda:1` -> `cuda`: one calibration per kind of device."""
    return str(device).split(":")[0]


def calibration_path(kind: str, folder: Path | None = None) -> Path:
    return Path(folder or CALIBRATION_DIR) / f"{kind}.json"


def read_calibration(kind: str, folder: Path | None = None) -> dict | None:
    """The calibration of a device kind, or None where none was measured."""
    path = calibration_path(kind, folder)
    if not path.exists():
        return None
    try:
        calibration = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CalibrationError(f"{path}: not a readable calibration ({exc}); "
                               f"run scripts/bench_scale.py again to rewrite it") from None
    if not isinstance(calibration.get("profiles"), dict):
        raise CalibrationError(f"{path}: holds no 'profiles' section; run scripts/bench_scale.py "
                               f"again to rewrite it")
    return calibration


def write_calibration(kind: str, profile: str, section: dict, machine: dict,
                      folder: Path | None = None) -> Path:
    """Put one profile's measurements into the kind's calibration (the other profiles stay)."""
    path = calibration_path(kind, folder)
    calibration = (read_calibration(kind, folder) if path.exists() else None) or {"profiles": {}}
    calibration |= {"device_kind": kind, "written_by": "scripts/bench_scale.py"}
    calibration["profiles"][profile] = {**section, "machine": machine}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(calibration, indent=2) + "\n")
    os.replace(tmp, path)
    return path


@dataclass(frozen=True)
class StageCost:
    name: str
    group: str  # "data path", "backbone" or "unit"
    seconds: float  # for all seeds where a unit
    form: str
    host_bytes: float
    device_bytes: float


@dataclass
class Projection:
    welds: int
    seeds: int
    loaders: int  # loader threads ahead of the device (0: inline, as on the CPU)
    stages: list[StageCost]
    disk_bytes: float
    missing: list[str] = field(default_factory=list)  # stages the calibration lacks
    calibrated: tuple[int, ...] = ()  # the sizes the calibration measured
    workers: int = 1  # processes running extraction jobs and units side by side (local executor)

    def _extraction(self) -> dict[str, tuple[float, float]]:
        """extractor -> (data path seconds, backbone seconds)."""
        out: dict[str, list[float]] = {}
        for s in self.stages:
            if s.group in ("data path", "backbone"):
                name = s.name.removeprefix("features ").rpartition(":")[0]
                out.setdefault(name, [0.0, 0.0])[s.group == "backbone"] += s.seconds
        return {k: (v[0], v[1]) for k, v in out.items()}

    def extraction_seconds(self) -> float:
        """Wall time of the extraction: extractor after extractor, each inline (data path then
        backbone) or, with loader threads, the slower of the threads' share and the backbone."""
        if not self.loaders:
            return sum(cpu + dev for cpu, dev in self._extraction().values())
        return sum(max(cpu / self.loaders, dev) for cpu, dev in self._extraction().values())

    def extraction_bound(self) -> str:
        parts = self._extraction().values()
        cpu = sum(c for c, _ in parts) / max(self.loaders, 1)
        dev = sum(d for _, d in parts)
        threads = f"{self.loaders} loaders" if self.loaders else "inline, no loaders"
        side = "the CPU data path" if cpu > dev else "the backbones on the device"
        return f"{side} ({threads}: data path {_duration(cpu)}, backbones {_duration(dev)})"

    def units_seconds(self) -> float:
        return sum(s.seconds for s in self.stages if s.group == "unit")

    def units_wall(self) -> float:
        """The units' wall time with `workers` side by side: their sum shared out, and never
        less than the longest unit (one seed of one method runs in one process)."""
        longest = max((s.seconds / self.seeds for s in self.stages if s.group == "unit"), default=0.0)
        return max(self.units_seconds() / self.workers, longest)

    def extraction_wall(self) -> float:
        """The extraction's wall time: extractors as jobs side by side over `workers` processes
        (never less than the longest one), or with loader threads in one process."""
        if self.loaders or self.workers == 1:
            return self.extraction_seconds()
        longest = max((cpu + dev for cpu, dev in self._extraction().values()), default=0.0)
        return max(self.extraction_seconds() / self.workers, longest)

    def bound(self) -> StageCost | None:
        return max(self.stages, key=lambda s: s.seconds, default=None)

    @property
    def host_bytes(self) -> float:
        return max((s.host_bytes for s in self.stages), default=0.0)

    @property
    def device_bytes(self) -> float:
        return max((s.device_bytes for s in self.stages), default=0.0)


def project(section: dict, welds: int, extractors: list[str], methods: list[str], seeds: int,
            loaders: int = 0, workers: int = 1) -> Projection:
    """The cost of extracting `extractors` for `welds` welds and running every method of
    `methods` for `seeds` seeds, from one profile's calibration section."""
    stages, missing, disk = [], [], 0.0
    calibrated = section.get("stages", {})
    wanted = [(f"features {e}: data path", "data path", 1) for e in extractors]
    wanted += [(f"features {e}: backbone", "backbone", 1) for e in extractors]
    wanted += [(f"unit {m}", "unit", seeds) for m in methods]
    for name, group, times in wanted:
        st = calibrated.get(name)
        if st is None:
            if group != "backbone":  # NOTE: an extractor without a network has no device side
                missing.append(name)
            continue
        sizes = section["sizes"]
        growth = Growth(st["form"], st["coefficient"])
        host = host_bytes(st, sizes, welds)
        device = fit_memory(sizes, st.get("peak_device_bytes") or [0] * len(sizes)).at(welds)
        stages.append(StageCost(name, group, times * growth.at(welds), st["form"], host, device))
        if group == "data path":
            disk += (st.get("disk_bytes_per_weld") or 0.0) * welds
    return Projection(welds, seeds, loaders, stages, disk, missing, tuple(section["sizes"]), max(1, workers))


def host_bytes(stage: dict, sizes: list[int], welds: int) -> float:
    """A stage's peak host memory at `welds`: the process's own pages (memory-mapped feature
    files are the page cache's, which the kernel drops under pressure). Where the calibration
    has what the process held before the stage, that much plus the stage's own memory, fitted
    (fixed + per weld), plus for a unit what its TEST chunk adds from the calibration's chunk up
    to the run's (`unit.SCORE_CHUNK`); else (an older calibration) every resident page, fitted."""
    from benchmark.run.unit import SCORE_CHUNK

    peaks = stage.get("peak_private_bytes") or stage["peak_host_bytes"]
    starts = stage.get("start_private_bytes")
    if not starts:
        return fit_memory(sizes, peaks).at(welds)
    own = fit_memory(sizes, [p - s for p, s in zip(peaks, starts)]).at(welds)
    chunk = stage.get("chunk_bytes_per_weld", 0.0) * max(0, SCORE_CHUNK - stage.get("score_chunk", SCORE_CHUNK))
    return max(starts) + own + chunk


def loader_threads(device: str, cores: int | None = None) -> int:
    """Loaders of the feature store on `device` (`FeatureStore.loaders`' default)."""
    from benchmark.features.cache import default_loaders

    return default_loaders(device, cores)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def render(runs: list[tuple[str, Projection]], source: str) -> list[str]:
    """One table of stages (a column per projection) and the totals, memory, disk and bound."""
    from tabulate import tabulate

    names = list(dict.fromkeys(s.name for _, p in runs for s in p.stages))
    rows = []
    for name in names:
        cells = [next((s for s in p.stages if s.name == name), None) for _, p in runs]
        form = next(c.form for c in cells if c)
        rows.append([name, form, *(_duration(c.seconds) if c else "-" for c in cells)])
    lines = [f"projection ({source}):",
             tabulate(rows, headers=["stage", "growth", *(title for title, _ in runs)])]
    for title, p in runs:
        bound = p.bound()
        side = f", {p.workers} processes side by side" if p.workers > 1 else ""
        lines += [
            f"  {title}: extraction {_duration(p.extraction_wall())}, units "
            f"{_duration(p.units_wall())} ({p.seeds} seed(s){side}; "
            f"{_duration(p.units_seconds())} summed); peak host memory "
            f"{p.host_bytes / GIB:.2f} GiB, device memory {p.device_bytes / GIB:.2f} GiB, "
            f"cache disk {p.disk_bytes / GIB:.2f} GiB",
            f"    bounded by {bound.name if bound else 'nothing measured'}; extraction by "
            f"{p.extraction_bound()}"]
        if p.calibrated and p.welds > 2 * max(p.calibrated):
            # NOTE: the form was chosen over the measured range only; far beyond it, it decides alone
            lines.append(f"    {p.welds / max(p.calibrated):.0f}x the largest measured size "
                         f"({max(p.calibrated)} welds): the forms fitted over "
                         f"{min(p.calibrated)}-{max(p.calibrated)} welds extrapolate that far")
    missing = list(dict.fromkeys(m for _, p in runs for m in p.missing))
    if missing:
        lines.append(f"  not in the calibration (no projection): {', '.join(missing)}")
    return lines


def describe_source(calibration: dict, kind: str, profile: str, folder: Path | None = None) -> str:
    section = calibration["profiles"][profile]
    machine = section.get("machine", {})
    return (f"{calibration_path(kind, folder)}, profile {profile}, measured on "
            f"{machine.get('device', kind)} ({machine.get('cores', '?')} cores) "
            f"{machine.get('date', '')} at {', '.join(map(str, section['sizes']))} welds; "
            f"units as {section.get('units', '?')}")


def feeding_lines(section: dict, gpu: dict | None, gpu_path: Path) -> list[str]:
    """The data path's welds/s (one thread, N threads, per core) against the rate at which the
    GPU's backbones consume welds (from the GPU calibration of the same profile), and which side
    bounds the extraction."""
    loader = section.get("loader")
    if not loader:
        return ["data path: no loader measurement in this calibration"]
    threads, rates = loader["threads"], loader["welds_per_s"]
    per_core = rates[-1] / threads[-1]
    lines = [f"data path (decode, label guard, resizing, fbank; every extractor's CPU side): "
             + ", ".join(f"{r:.2f} welds/s on {t} thread(s)" for t, r in zip(threads, rates))
             + f"; {per_core:.2f} welds/s per core"]
    if gpu is None or not gpu.get("stages"):
        lines.append(f"GPU consumption rate: none measured yet ({gpu_path} holds no calibration of "
                     f"this profile; run scripts/bench_scale.py --device cuda on a GPU machine)")
        return lines
    n = max(gpu["sizes"])
    device_s = sum(Growth(st["form"], st["coefficient"]).at(n)
                   for name, st in gpu["stages"].items() if name.endswith(": backbone"))
    consume = n / device_s if device_s else float("inf")
    cores = gpu.get("machine", {}).get("cores") or 1
    fed = per_core * loader_threads("cuda", cores)
    side = "the CPU data path" if fed < consume else "the GPU"
    lines.append(f"GPU ({gpu.get('machine', {}).get('device', 'cuda')}) consumes {consume:.2f} welds/s "
                 f"through the backbones; {loader_threads('cuda', cores)} loaders feed "
                 f"{fed:.2f} welds/s at this rate per core, {consume / per_core:.1f} cores would "
                 f"keep it fed: {side} bounds the extraction")
    return lines


__all__ = ["CALIBRATION_DIR", "WELD4M_WELDS", "WELD4M_SEEDS", "FORMS", "CalibrationError",
           "Projection", "StageCost", "calibration_path", "device_kind", "describe_source",
           "feeding_lines", "loader_threads", "project", "read_calibration", "render",
           "write_calibration"]
