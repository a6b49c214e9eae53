"""The runner: one protocol for every method.

`prepare`: plan the run (`benchmark.run.plan`: dataset, split, exclusions, units, features; the units
its folder already holds join it), refuse to mix in finished units made under other settings (each
unit stores a fingerprint of what made it), extract every feature the run needs once (cached) and
write `run.json`, which lists every unit of the folder. `run` then hands the (method, seed) units
not done yet to an executor, which runs each through `benchmark.run.unit.run_unit`; finished units are
skipped, so a killed run resumes. Where the time went is kept in `run.json` (`benchmark.run.stages`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib
import logging
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch
from tqdm.auto import tqdm

from benchmark.data.confounds import SESSION_KEY
from benchmark.data.recipes import RECIPE_KEY
from benchmark.data.sample import CATEGORY_CODES, Sample
from benchmark.features.cache import FeatureStore
from benchmark.method import METHODS, Selector
from benchmark.profiles import Profile
from benchmark.results import store as R
from benchmark.run import stages as S
from benchmark.run.config import RunConfig
from benchmark.run.fingerprint import refuse_stale_units, run_fingerprint
from benchmark.run.lock import RunLock
from benchmark.run.plan import RunPlan, jsonable_config, plan_run, results_folder, twin_ready
from benchmark.run.resources import return_freed_memory
from benchmark.run.unit import run_unit

log = logging.getLogger("bench")
EXCLUSIONS_SHOWN = 20  # excluded samples named on screen; run.json lists them all


def extract_here(plan: RunPlan, store: FeatureStore, samples: list[Sample],
                 features: tuple[str, ...]) -> dict:
    """Every feature of `samples` into the cache, in this process; returns the store's report."""
    store.get(samples, features)
    return store.report()


def _drop_broken_units(plan: RunPlan) -> None:
    """Name every unit folder that is not whole (a file missing, truncated or edited, scores of
    other TEST samples) and remove it: the run redoes it."""
    test_ids = frozenset(s.id for s in plan.samples["TEST"])
    for method, seed in plan.units:
        folder = R.unit_dir(plan.run_dir, method, seed)
        if folder.exists() and (problem := R.unit_problem(folder, test_ids)):
            log.warning("%s; the unit is redone", problem)
            shutil.rmtree(folder)


def prepare(config: RunConfig, extract: Callable | None = None) -> RunPlan:
    """`extract(plan, store, samples, features) -> report` fills the feature cache (default:
    `extract_here`; the Ray executor shards it over the cluster). The plan's `stages` hold the
    time of the dataset and of each extractor."""
    return_freed_memory()
    generated = config.root is None and not twin_ready(config.synth_seed, config.synth_confounds)
    t0 = time.perf_counter()
    plan, dataset = plan_run(config)
    n = sum(len(v) for v in plan.samples.values())
    stages = [S.Stage("dataset", time.perf_counter() - t0,
                      f"synthetic twin generated, {n} welds" if generated else f"{n} welds loaded and screened")]
    _drop_broken_units(plan)
    refuse_stale_units(plan, log)  # NOTE: before anything is written or extracted
    profile, options, root = plan.profile, plan.options, dataset.root
    selection = config.selection_policy()
    run_dir, samples, features = plan.run_dir, plan.samples, plan.features
    run_dir.mkdir(parents=True, exist_ok=True)
    dataset.write_manifest(run_dir / "manifest_used.csv")

    # Every feature of every sample is extracted here, once, before the units fan out.
    store = plan.store()
    all_samples = [s for split in samples.values() for s in split]
    t0 = time.perf_counter()
    feature_report = (extract or extract_here)(plan, store, all_samples, features)
    plan.feature_costs = {name: {k: st[k] for k in ("backbone", "parameters", "ms_per_sample")}
                          for name, st in feature_report.items()}
    stages += S.feature_stages(feature_report, time.perf_counter() - t0)
    for name, st in feature_report.items():
        guard = "".join(f", label {what} in {st[key]} views" for key, what in
                        (("labels_missed", "not found"), ("labels_unsure", "perhaps left")) if st.get(key))
        log.info("features %-8s %4d forward passes in %6.1f s, %4d from cache%s", name,
                 st["computed"], st["seconds"], st["cached"], guard)
    info = {
        "config": jsonable_config(plan.config), "profile": dataclasses.asdict(profile),
        "feature_options": dataclasses.asdict(options), "categories": CATEGORY_CODES,
        "dataset": {"root": str(root), "fingerprint": plan.dataset_fingerprint,
                    "synthetic": plan.synthetic,
                    "counts": {k: len(v) for k, v in samples.items()},
                    "split": {"source": dataset.split_source, "seed": dataset.seed},
                    "excluded": [dataclasses.asdict(e) | {"path": str(e.path)} for e in dataset.excluded],
                    "n_excluded": len(dataset.excluded)},
        "selection": {**dataclasses.asdict(selection), "rule": Selector.RULE,
                      "description": selection.describe()},
        "recipe_key": list(RECIPE_KEY), "session_key": SESSION_KEY,
        "fingerprint": run_fingerprint(plan),
        "features": {"names": list(features), "seconds": time.perf_counter() - t0,
                     "extractors": feature_report, "backbones": store.backbones(features)},
        "units": [f"{m}/seed{s}" for m, s in plan.units],
        S.KEY: [dataclasses.asdict(s) for s in stages],
    }
    R.write_run_info(run_dir, info)
    if dataset.split_source == "derived":
        log.warning("split: DERIVED from --split-seed %s: %s has no SPLIT column, so TRAIN/VAL/TEST "
                    "are not the published split's and the numbers differ", dataset.seed, dataset.manifest_path)
    else:
        log.info("split: the SPLIT column of %s", dataset.manifest_path)
    if dataset.excluded:
        log.warning("excluded %d samples, for every method:", len(dataset.excluded))
        for e in dataset.excluded[:EXCLUSIONS_SHOWN]:
            log.warning("  %s: %s (sample %s)", e.path, e.reason, e.id)
        if len(dataset.excluded) > EXCLUSIONS_SHOWN:
            log.warning("  ... and %d more (all in %s)", len(dataset.excluded) - EXCLUSIONS_SHOWN,
                        run_dir / "run.json")
    return plan


# ---------------------------------------------------------------------------- executors
def _shippable(method: str) -> bool:
    """Whether a fresh process can register `method` by importing its adapter's module (a method
    defined in a notebook or an exec'd snippet cannot be)."""
    module = importlib.import_module(METHODS.get(method).cls.__module__)
    return getattr(module, "__file__", None) is not None


def available_cores() -> int:
    """The cores this process may run on (its affinity mask, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def unit_threads(profile: Profile) -> int:
    """Torch threads of every unit and extraction job of a local run: the cores a unit asks for
    (`Profile.unit_cpus`, as a Ray task gets), at most this machine's. Fixed by the profile, so
    a unit computes the same floats in any process, alone or beside others (a BLAS sum split
    over another number of threads moves the last bits)."""
    return max(1, min(int(profile.unit_cpus), available_cores()))


@contextlib.contextmanager
def torch_threads(n: int):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _start_worker(threads: int, modules: tuple[str, ...], level: int,
                  setup: Callable[[], None] | None) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    torch.set_num_threads(threads)
    for module in modules:  # registers the plan's methods, plugins included
        importlib.import_module(module)
    if setup is not None:
        setup()


def _fill(plan: RunPlan, samples: list[Sample], features: tuple[str, ...]) -> dict:
    """One extraction job in a worker: the features into the cache; the store's report."""
    store = plan.store()
    store.fill(samples, features)
    return store.report()


def extraction_jobs(store: FeatureStore, features: tuple[str, ...]) -> list[tuple[str, ...]]:
    """`features` split into jobs that share no extractor: the features of the extractors built
    on one extractor's output go together (DINOv2 and its fine grid with the label-guarded
    pixels); the longest chains first."""
    from benchmark.features.extractors import feature_index

    index = feature_index()
    jobs: dict[str, list[str]] = {}
    for feature in features:
        jobs.setdefault(store.upstream(index[feature])[-1], []).append(feature)
    return sorted((tuple(job) for job in jobs.values()),
                  key=lambda job: -len(store.sources(job)))


class LocalExecutor:
    """Extraction and units on this machine: in this process (`workers=1`, the default of `run`),
    or side by side in `workers` processes (`workers=None`, the default of `bench run`: on the
    CPU as many as the cores hold units of the profile's `unit_cpus`, at most one per unit or
    extraction job and one per `WORKER_MEMORY` of available memory; on a GPU one). The
    extraction runs one job per chain of extractors (`extraction_jobs`); the same processes then
    run the units. Every job runs with `unit_threads` torch threads, so a unit gives the same
    numbers here, in a worker, alone or beside others, in any order.

    A worker registers the methods by importing their modules: a method only this process knows
    (defined in a notebook), or changed here after import, runs as this process knows it only
    with `workers=1` (one is then used). `setup` runs once in each worker process before its
    first job (e.g. a test's spy)."""

    name = "local"
    WORKER_MEMORY = 3 * 2**30  # NOTE: a quick-profile unit peaks near 2 GiB (torch, features)

    def __init__(self, workers: int | None = 1, setup: Callable[[], None] | None = None):
        self.workers, self.setup = workers, setup
        self.workers_used = 1
        self._pool: ProcessPoolExecutor | None = None

    def plan_workers(self, profile: Profile, device: str, units: list[tuple[str, int]],
                     jobs: int | None = None) -> int:
        """How many processes run `units` (or `jobs` extraction jobs for them) on `device`."""
        if self.workers is not None:
            workers = self.workers
        elif device != "cpu":
            workers = 1
        else:
            import psutil

            workers = min(available_cores() // unit_threads(profile), psutil.virtual_memory().available // self.WORKER_MEMORY)
        workers = max(1, min(workers, len(units) if jobs is None else jobs))
        if workers > 1 and not all(_shippable(m) for m, _ in units):
            log.info("a method is defined only in this process: everything runs here, one after another")
            return 1
        return workers

    def _start(self, plan: RunPlan, workers: int) -> ProcessPoolExecutor:
        if self._pool is None:
            modules = tuple(dict.fromkeys(METHODS.get(m).cls.__module__ for m, _ in plan.units))
            # NOTE: spawn, not fork: a forked child of a process that ran OpenMP or CUDA can hang
            self._pool = ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
                initargs=(unit_threads(plan.profile), modules, logging.getLogger().level, self.setup))
            self.workers_used = workers
        return self._pool

    def close(self, cancel: bool = False) -> None:
        """Stop the worker processes (`cancel`: drop the jobs not started; those running finish)."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=cancel)
            self._pool = None

    def extract(self, plan: RunPlan, store: FeatureStore, samples: list[Sample],
                features: tuple[str, ...]) -> dict:
        """Every feature of `samples` into the cache; the extractors' report."""
        jobs = extraction_jobs(store, features)
        workers = self.plan_workers(plan.profile, plan.config.device, plan.units, len(jobs))
        if workers == 1:
            with torch_threads(unit_threads(plan.profile)):
                return extract_here(plan, store, samples, features)
        pool = self._start(plan, workers)
        report: dict[str, dict] = {}
        for future in [pool.submit(_fill, plan, samples, job) for job in jobs]:
            report.update(future.result())
        return {name: report[name] for name in store.sources(features)}

    def map(self, plan: RunPlan, units: list[tuple[str, int]]) -> list[Path]:
        workers = self.plan_workers(plan.profile, plan.config.device, units)
        if workers == 1 and self._pool is None:
            self.workers_used = 1
            if self.setup is not None:
                self.setup()
            with torch_threads(unit_threads(plan.profile)):
                return [run_unit(plan, m, s) for m, s in tqdm(units, desc="units", unit="unit")]
        pool = self._start(plan, workers)
        # NOTE: no training bars from workers: the parent's bar counts units
        futures = {pool.submit(run_unit, plan, m, s, False): (m, s) for m, s in units}
        folders = {}
        try:
            for future in tqdm(as_completed(futures), total=len(futures), desc="units", unit="unit"):
                folders[futures[future]] = future.result()
        except BaseException:
            self.close(cancel=True)  # NOTE: the units already running finish and are kept
            raise
        self.close()
        return [folders[u] for u in units]


def run(config: RunConfig, executor=None, on_prepared: Callable[[RunPlan], None] | None = None) -> Path:
    """Prepare (the executor may extract the features its own way), then run the units not done
    yet; `on_prepared(plan)` is called in between (the CLI saves its resolved configuration into
    the run folder there). The stages' times go into run.json."""
    from benchmark.run.preflight import check_run_config

    started = time.perf_counter()
    check_run_config(config)  # NOTE: before the lock, which makes the run folder
    executor = executor or LocalExecutor()
    with RunLock(results_folder(config)):  # NOTE: one writer per run folder; readers need no lock
        try:
            plan = prepare(config, getattr(executor, "extract", None))
            if on_prepared is not None:
                on_prepared(plan)
            todo = [u for u in plan.units if not R.is_done(plan.run_dir, *u)]
            if len(todo) < len(plan.units):
                log.info("resuming: %d of %d units already done", len(plan.units) - len(todo), len(plan.units))
            t0 = time.perf_counter()
            executor.map(plan, todo)
        finally:
            if isinstance(executor, LocalExecutor):
                executor.close()  # NOTE: its worker processes end with the run, failed or not
        stages = S.load(plan.run_dir) + S.unit_stages(plan.run_dir, todo, time.perf_counter() - t0,
                                                      getattr(executor, "workers_used", 1))
        other = time.perf_counter() - started - sum(s.seconds for s in stages if not s.summed)
        S.save(plan.run_dir, stages + [S.Stage("other", other, "checks, fingerprints, run.json")])
    return plan.run_dir
