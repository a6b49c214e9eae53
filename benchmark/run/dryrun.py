"""What `bench run` would do, computed without doing it (`bench run --dry-run`): the units
(done / to run), the features (cached / to extract), the resources the units would ask for, and
what the run would cost, projected from the device kind's calibration (`benchmark.run.cost`),
for the run at hand and at Weld-4M's size.

It loads the dataset and hashes the samples' files (the feature-cache key needs their content),
and writes nothing: no run folder, no cache folder, no synthetic twin.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from benchmark.results import store as R
from benchmark.run.config import RunConfig
from benchmark.run.fingerprint import describe_stale, stale_units
from benchmark.run.plan import plan_run, resolve_methods, results_folder, twin_path, twin_ready
from benchmark.run.preflight import check_run_config


@dataclass
class DryRun:
    run_dir: Path
    dataset: str  # one line: where the samples come from
    units: list[tuple[str, int, bool]]  # (method, seed, done)
    features: list[tuple[str, int, int]]  # (extractor, samples cached, samples to extract)
    resources: list[str]  # one line each
    notes: list[str] = field(default_factory=list)
    projection: list[str] = field(default_factory=list)  # lines of `benchmark.run.cost.render`

    @property
    def to_run(self) -> list[tuple[str, int]]:
        return [(m, s) for m, s, done in self.units if not done]

    def render(self) -> str:
        from tabulate import tabulate

        n_done = len(self.units) - len(self.to_run)
        lines = ["dry run: nothing computed, nothing written", f"run folder: {self.run_dir}",
                 f"dataset: {self.dataset}", "",
                 f"units: {len(self.units)} ({n_done} done, {len(self.to_run)} to run)",
                 tabulate([(m, s, "done" if d else "to run") for m, s, d in self.units],
                          headers=["method", "seed", "state"]), ""]
        if self.features:
            lines += ["features (samples):",
                      tabulate([(name, c, t) for name, c, t in self.features],
                               headers=["extractor", "cached", "to extract"]), ""]
        lines += ["resources:", *(f"  {r}" for r in self.resources)]
        lines += self.notes
        lines += self.projection
        return "\n".join(lines)


def dry_run(config: RunConfig, executor: str = "local", address: str | None = None,
            workers: int | None = None) -> DryRun:
    check_run_config(config)  # bad options fail here, as in a real run
    specs = resolve_methods(config.methods)  # unknown names too
    config.resolved_profile()  # an unknown profile too
    config.feature_options()  # unknown backbone names too
    twin = twin_path(config.synth_seed, config.synth_confounds)
    if config.root is None and not twin_ready(config.synth_seed, config.synth_confounds):
        root = twin
        run_dir = results_folder(config)
        units = [(s.name, seed, R.is_done(run_dir, s.name, seed)) for s in specs for seed in config.seeds]
        features = tuple(dict.fromkeys(f for s in specs for f in s.feature_names(config.resolved_profile())))
        return DryRun(run_dir, f"synthetic twin, not generated yet: `bench run` generates it into {root}",
                      units, [], _resources(config, executor, address, workers, [u[:2] for u in units if not u[2]]),
                      ["every feature of every sample is still to extract (no dataset yet)"],
                      _projection(config, None, features, [s.name for s in specs], workers))
    plan, dataset = plan_run(config)
    counts = ", ".join(f"{k} {len(v)}" for k, v in plan.samples.items())
    kind = "synthetic twin" if plan.synthetic else "dataset"
    described = (f"{kind} {dataset.root} ({counts}; {len(dataset.excluded)} excluded; "
                 f"fingerprint {plan.dataset_fingerprint})")
    test_ids = frozenset(s.id for s in plan.samples["TEST"])
    broken = {(m, s): problem for m, s in plan.units if R.unit_dir(plan.run_dir, m, s).exists()
              and (problem := R.unit_problem(R.unit_dir(plan.run_dir, m, s), test_ids))}
    stale = {u: why for u, why in stale_units(plan).items() if u not in broken}
    units = [(m, s, (m, s) not in broken and R.is_done(plan.run_dir, m, s)
              and not (config.rerun and (m, s) in stale)) for m, s in plan.units]
    notes = [f"not whole, redone: {problem}" for problem in broken.values()]
    if stale:
        notes.append(f"{len(stale)} finished unit(s) were made under other settings "
                     f"({describe_stale(stale)}): " + ("--rerun redoes them (counted to run)"
                                                       if config.rerun else
                                                       "`bench run` stops here; --rerun redoes them"))
    samples = [s for split in plan.samples.values() for s in split]
    cached = plan.store().cached(samples, plan.features)
    features = [(name, hit, miss) for name, (hit, miss) in cached.items()]
    return DryRun(plan.run_dir, described, units, features,
                  _resources(config, executor, address, workers, [u[:2] for u in units if not u[2]]), notes,
                  _projection(plan.config, len(samples), plan.features,
                              list(dict.fromkeys(m for m, _ in plan.units)), workers))


def _projection(config: RunConfig, welds: int | None, features: tuple[str, ...],
                methods: list[str], workers: int | None = None) -> list[str]:
    """The projected cost of the whole run (cached features and finished units included) and of
    the same methods at Weld-4M's size, or one line on why there is none."""
    from benchmark.features.cache import FeatureStore
    from benchmark.run import cost
    from benchmark.run.runner import LocalExecutor

    kind = cost.device_kind(config.device)
    profile = config.resolved_profile()
    try:
        calibration = cost.read_calibration(kind)
    except cost.CalibrationError as exc:
        return ["", f"projection: none ({exc})"]
    path = cost.calibration_path(kind)
    if calibration is None or profile.name not in calibration["profiles"]:
        what = "no calibration" if calibration is None else f"no calibration of profile {profile.name!r} in it"
        return ["", f"projection: none: {what} for device kind {kind!r} ({path}); "
                    f"`python scripts/bench_scale.py --profile {profile.name} --device {kind}` on such a "
                    f"machine measures one"]
    # NOTE: a store object only names the extractors (and those they are computed from); it writes nothing
    store = FeatureStore(config.cache or config.out / ".feature_cache", profile, config.feature_options(),
                         config.device)
    extractors = store.sources(features)
    loaders = cost.loader_threads(config.device)
    # NOTE: side by side in as many processes as a local run of every unit would start
    workers = LocalExecutor(workers).plan_workers(profile, config.device,
                                                  [(m, s) for m in methods for s in config.seeds])
    runs = [(f"this run ({welds} welds, {len(config.seeds)} seed(s))", welds, len(config.seeds))] if welds else []
    runs.append((f"Weld-4M ({cost.WELD4M_WELDS:,} welds, {cost.WELD4M_SEEDS} seeds)", cost.WELD4M_WELDS,
                 cost.WELD4M_SEEDS))
    try:
        section = calibration["profiles"][profile.name]
        projected = [(title, cost.project(section, n, extractors, methods, seeds, loaders, workers))
                     for title, n, seeds in runs]
        lines = cost.render(projected, cost.describe_source(calibration, kind, profile.name))
    except (KeyError, TypeError, ValueError) as exc:
        return ["", f"projection: none: {path} is malformed ({type(exc).__name__}: {exc}); "
                    f"`python scripts/bench_scale.py` rewrites it"]
    return ["", *lines, "  (the whole run: cached features and finished units are not subtracted)"]


def _resources(config: RunConfig, executor: str, address: str | None, workers: int | None,
               todo: list[tuple[str, int]]) -> list[str]:
    from benchmark.method import load_methods
    from benchmark.run.executors.ray_executor import unit_resources

    profile = config.resolved_profile()
    if executor != "ray":
        from benchmark.run.runner import LocalExecutor

        n = LocalExecutor(workers).plan_workers(config.resolved_profile(), config.device, todo)
        where = "this process" if n == 1 else f"{n} worker processes side by side"
        return [f"feature extraction and units: {where}, device {config.device} (executor {executor})"]
    lines = [f"feature extraction: this process, device {config.device}"]
    registry = load_methods()
    asks = [unit_resources(registry.get(m), profile, config.device) for m, _ in todo]
    where = f"the Ray cluster at {address}" if address else "a local Ray cluster on this machine"
    lines.append(f"units: {len(todo)} Ray tasks on {where}")
    for (m, s), res in zip(todo, asks):
        memory = f", {res.memory_gb:g} GiB" if res.memory_gb else ""
        lines.append(f"  {m}/seed{s}: {res.cpus:g} CPUs, {res.gpus:g} GPUs{memory}")
    if asks:
        lines.append(f"  every unit at once would hold {sum(r.cpus for r in asks):g} CPUs and "
                     f"{sum(r.gpus for r in asks):g} GPUs; the largest needs {max(r.cpus for r in asks):g} "
                     f"CPUs and {max(r.gpus for r in asks):g} GPUs on one node")
    return lines
