"""Fingerprints: what made a unit's numbers, so that a run never mixes units made differently.

A unit's fingerprint holds the profile, the run's options, the selection policy, the dataset
fingerprint, the method's hyperparameters and feature settings, and the code that can change a
score: the digest of every module that the runner, the feature and metric packages and the
method's adapter import (followed through the suite's own imports, function-level ones
included). Readers of results, the CLI, documentation and tests are not in it, so editing them
leaves every result valid; each module is digested apart, so a stale unit names the file that
changed.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import inspect
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from benchmark.method import METHODS, MethodSpec
from benchmark.results import store as R

if TYPE_CHECKING:
    from benchmark.run.plan import RunPlan

SUITE = Path(__file__).resolve().parents[2]
PACKAGES = ("benchmark", "methods")  # the suite's own top-level packages
# NOTE: the runner brings in data, results and the rest it calls; the feature and metric packages
# are named whole because extractors and metrics are also reached by name, not only by import
SHARED_ROOTS = ("benchmark.run.runner", "benchmark.features", "benchmark.metrics")
# NOTE: the twin's generator makes data, which the dataset fingerprint covers; it never touches
# a score of the data it is given
NOT_FOLLOWED = ("benchmark.data.synth",)


# ---------------------------------------------------------------------------- code
def _module_file(name: str, suite: Path) -> Path | None:
    base = suite.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _package_of(path: Path, suite: Path) -> str:
    parts = path.relative_to(suite).with_suffix("").parts
    return ".".join(parts[:-1])


def _imported(path: Path, suite: Path) -> set[str]:
    """The suite modules one file imports (anywhere in it), parent packages included."""
    package = _package_of(path, suite) if path.is_relative_to(suite) else ""
    names = set()
    for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            names |= {base} | {f"{base}.{a.name}" for a in node.names}  # a name or a submodule
    parents = {".".join(n.split(".")[:i]) for n in names for i in range(1, n.count(".") + 1)}
    return {n for n in names | parents if n.split(".")[0] in PACKAGES
            and not any(n == x or n.startswith(x + ".") for x in NOT_FOLLOWED)}


def code_files(roots: Iterable[str | Path], suite: Path = SUITE) -> list[Path]:
    """The files of `roots` (module names, packages with all their modules, or files) and every
    suite module they import, transitively."""
    todo: list[Path] = []
    for root in roots:
        if isinstance(root, Path):
            todo.append(root)
            continue
        path = _module_file(root, suite)
        if path is None:
            continue
        todo += sorted(path.parent.rglob("*.py")) if path.name == "__init__.py" else [path]
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo += [p for n in _imported(path, suite) if (p := _module_file(n, suite)) and p not in seen]
    return sorted(seen)


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def code_digests(roots: tuple[str | Path, ...], suite: Path = SUITE) -> dict[str, str]:
    """{file relative to the suite (or its absolute path outside it): digest} of `code_files`."""
    return {(str(p.relative_to(suite)) if p.is_relative_to(suite) else str(p)): _file_digest(p)
            for p in code_files(roots, suite)}


@functools.lru_cache(maxsize=None)  # NOTE: the code does not change during a run
def _cached_digests(roots: tuple[str | Path, ...]) -> dict[str, str]:
    return code_digests(roots)


# ---------------------------------------------------------------------------- fingerprints
def run_fingerprint(plan: RunPlan) -> dict:
    """What every unit of a run shares: profile, run options, selection, dataset, shared code."""
    return {"profile": dataclasses.asdict(plan.profile),
            "feature_options": dataclasses.asdict(plan.options),
            "selection": dataclasses.asdict(plan.config.selection_policy()),
            "dataset": plan.dataset_fingerprint,
            "suite": {"version": R.versions()["weld-bench"], "code": _cached_digests(SHARED_ROOTS)}}


def unit_fingerprint(plan: RunPlan, spec: MethodSpec) -> dict:
    """Everything that made one unit: the run's parts, the method's hyperparameters in this
    profile, the settings of every feature it reads, and its adapter's code (the adapter's file
    and the suite modules it imports beyond the shared ones)."""
    store = plan.store()
    extractors = store.sources(spec.feature_names(plan.profile))
    module = _source_file(spec.cls)
    shared = _cached_digests(SHARED_ROOTS)
    code = ({k: v for k, v in _cached_digests((Path(module),)).items() if k not in shared}
            if module else {"class": spec.cls.__qualname__})
    return {**run_fingerprint(plan),
            "method": {"name": spec.name, "hyperparameters": spec.hparams.to_json(plan.profile)["used"],
                       "features": {name: store.settings_digest(name) for name in extractors},
                       "code": code}}


def _source_file(cls) -> str | None:
    """The adapter's module file (None for a class defined without one, e.g. in a notebook)."""
    try:
        return inspect.getsourcefile(cls)
    except (TypeError, OSError):
        return None


# ---------------------------------------------------------------------------- stale units
def stale_units(plan: RunPlan) -> dict[tuple[str, int], list[str]]:
    """The run's finished units made under other settings than it asks for, with what changed."""
    stale: dict[tuple[str, int], list[str]] = {}
    for method, seed in plan.units:
        if not R.is_done(plan.run_dir, method, seed):
            continue
        stored = R.read_json(R.unit_dir(plan.run_dir, method, seed) / "config.json").get("fingerprint")
        current = unit_fingerprint(plan, METHODS.get(method))
        if stored is None:
            stale[(method, seed)] = ["no fingerprint (made by an older suite)"]
        elif stored["digest"] != R.digest(current):
            stale[(method, seed)] = R.changes(stored["parts"], current)
        elif (plan.config.save_maps and METHODS.get(method).yields_maps
              and not (R.unit_dir(plan.run_dir, method, seed) / R.MAPS_FILE).exists()):
            # NOTE: maps do not shape a number, so they are no part of the fingerprint; a unit
            # finished without them is still one the run cannot give what it asks for
            stale[(method, seed)] = ["save-maps: finished without its maps"]
    return stale


def describe_stale(stale: dict[tuple[str, int], list[str]]) -> str:
    what = sorted({line for lines in stale.values() for line in lines})
    return "; ".join(what[:6]) + ("; ..." if len(what) > 6 else "")


def refuse_stale_units(plan: RunPlan, log) -> None:
    """Stop when finished units were made under other settings (naming what changed), unless
    `rerun`: then exactly those units are removed, to be run again."""
    stale = stale_units(plan)
    if not stale:
        return
    if plan.config.rerun:
        for method, seed in stale:
            shutil.rmtree(R.unit_dir(plan.run_dir, method, seed))
        log.info("rerun: %d finished units made under other settings are redone", len(stale))
        return
    raise R.StaleResultsError(
        f"{plan.run_dir}: {len(stale)} finished unit(s) were made under other settings "
        f"({describe_stale(stale)}); pass --rerun to redo exactly those units, or --run NAME for "
        f"a new results folder")
