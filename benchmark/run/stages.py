"""Where a run's time goes: the dataset (the twin generated, or a dataset loaded and screened),
each feature extractor (computed or read from the cache), the units (fit, score and the rest,
summed over units, and the executor's wall time) and the tables. `bench run` prints the table at
its end and keeps the same figures under "stages" in `run.json`."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmark.results import store as R

KEY = "stages"  # in run.json


@dataclass(frozen=True)
class Stage:
    name: str
    seconds: float
    detail: str = ""
    summed: bool = False  # a sum over units that ran side by side: not part of the wall total


def feature_stages(report: dict[str, dict], wall: float) -> list[Stage]:
    """One row per extractor of the feature store's report (they may have run side by side),
    and the extraction's wall time."""
    return [Stage(f"features {name}", st["seconds"], f"{st['computed']} computed, {st['cached']} from cache",
                  summed=True) for name, st in report.items()] + [
        Stage("features", wall, f"{len(report)} extractors")]


def unit_stages(run_dir: Path, units: list[tuple[str, int]], wall: float, workers: int) -> list[Stage]:
    """The units run now: fit, score, the modality-reliance scoring and overhead (features read,
    method built, metrics) summed from each unit's efficiency record, and the executor's wall
    time."""
    fit = score = reliance = whole = 0.0
    for method, seed in units:
        eff = R.read_json(R.unit_dir(run_dir, method, seed) / "efficiency.json")
        fit += eff["fit_seconds"]
        score += eff["score_seconds"]
        reliance += eff.get("reliance_seconds", 0.0)
        whole += eff["unit_seconds"]
    n = len(units)
    return [Stage("units: fit", fit, f"summed over {n} units", summed=True),
            Stage("units: score", score, "TEST once per unit, summed", summed=True),
            Stage("units: reliance", reliance, "TEST again, one input swapped at a time, summed",
                  summed=True),
            Stage("units: overhead", whole - fit - score - reliance,
                  "features read, method built, metrics, summed", summed=True),
            Stage("units", wall, f"{n} units, {workers} side by side" if workers > 1 else f"{n} units")]


def save(run_dir: Path, stages: list[Stage]) -> None:
    """Put `stages` into run.json (replacing earlier ones)."""
    R.write_run_info(run_dir, R.run_info(run_dir) | {KEY: [asdict(s) for s in stages]})


def load(run_dir: Path) -> list[Stage]:
    return [Stage(**row) for row in json.loads((run_dir / "run.json").read_text()).get(KEY, [])]


def render(stages: list[Stage]) -> str:
    """The stage table; the total is the sum of the stages that are not per-unit sums."""
    width = max(len(s.name) for s in stages) + 2
    lines = [f"{'stage':{width}s}{'seconds':>9s}  detail"]
    for s in stages:
        name = f"  {s.name}" if s.summed else s.name
        lines.append(f"{name:{width}s}{s.seconds:9.1f}  {s.detail}".rstrip())
    total = sum(s.seconds for s in stages if not s.summed)
    lines.append(f"{'total':{width}s}{total:9.1f}")
    return "\n".join(lines)
