"""Run the (method, seed) units of a prepared run as Ray tasks, on one machine or a cluster.

Feature extraction comes first and is sharded too (`RayExecutor.extract`, called by `prepare`):
the samples are split into one shard per GPU of the cluster (per CPU on a CPU run), each shard is
one Ray task that runs the extractors on its samples and writes its cache entries atomically
(temporary file, then rename), and the driver then finds every entry in the cache. Entries are
the same bytes as a one-process run's: same code, same batches' values, one torch thread per
reserved CPU.

Then the units: `prepare` has extracted every feature into the on-disk cache; each task runs the same
`run_unit` as the local executor, so it writes the same `results/<run>/<method>/seed<k>/` folder
atomically and skips a unit that is already done. Workers share the run through paths, not the
object store:

- the feature cache (`<out>/.feature_cache` or `--cache`) is read where it lies: it exists already,
  its entries are written atomically, and a worker loads only the features its method asks for,
  whereas the object store would hold every feature of every sample in memory on each node;
- so on a multi-node cluster the dataset, the feature cache and `--out` must be on a filesystem
  that every node mounts at the same path (NFS, Lustre, ...). A worker that cannot see them fails
  its unit with a message saying so, instead of re-running the backbones on its own.

Failures are per unit: a worker that dies (OOM kill, lost node) is retried `max_retries` times
by Ray; an exception raised by a method is not retried (it would fail again) and is reported.
All units run to the end, then one `UnitsFailed` names every unit that failed. Ctrl-C cancels the
pending tasks and stops the local cluster if this executor started it.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from benchmark.method import MethodSpec, load_methods
from benchmark.profiles import Profile
from benchmark.results import store as R
from benchmark.run.plan import RunPlan
from benchmark.run.unit import run_unit

log = logging.getLogger("bench")

# NOTE: environment forwarded to every worker: no model hub from a worker (only CLIP text runs
# there, from the same sources as the driver), and no per-unit progress bars interleaved in the
# driver's terminal (the driver shows one bar over units).
_FORWARDED_ENV = ("HF_HUB_OFFLINE", "HF_HOME", "TRANSFORMERS_OFFLINE")
_WORKER_ENV = {"TQDM_DISABLE": "1"}
# NOTE: Ray on Linux replaces 127.0.0.1 by the node's external address and listens on it; this
# switch (meant for single-node clusters on macOS/Windows) keeps every Ray server on loopback.
_LOOPBACK_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


@dataclass(frozen=True)
class UnitResources:
    """What one unit asks Ray for; a unit starts only on a node that has all of it free."""

    cpus: float = 1
    gpus: float = 0
    memory_gb: float | None = None  # None: no memory reservation

    def options(self) -> dict:
        out = {"num_cpus": self.cpus, "num_gpus": self.gpus}
        if self.memory_gb:
            out["memory"] = int(self.memory_gb * 2**30)
        return out

    @property
    def threads(self) -> int:
        return max(1, int(self.cpus))


def unit_resources(spec: MethodSpec, profile: Profile, device: str = "cpu") -> UnitResources:
    """The method's own declaration (`spec.resources[profile]`, when `MethodSpec` grows one), else
    the profile's (`Profile.unit_cpus`, `unit_gpus`); a GPU only when the run uses one, and always
    one when it does."""
    declared = getattr(spec, "resources", None)
    if isinstance(declared, Mapping):
        declared = declared.get(profile.name)
    if isinstance(declared, Mapping):
        declared = UnitResources(**declared)
    res = declared or UnitResources(cpus=profile.unit_cpus, gpus=profile.unit_gpus)
    return dataclasses.replace(res, gpus=max(res.gpus, 1) if device == "cuda" else 0)


class UnitsFailed(RuntimeError):
    """Some units failed; the others finished and are in the results folder."""

    def __init__(self, failures: dict[tuple[str, int], BaseException], total: int):
        self.failures = failures
        lines = [f"  {m}/seed{s}: {_short(e)}" for (m, s), e in sorted(failures.items())]
        super().__init__(f"{len(failures)} of {total} units failed (the others are written; "
                         f"rerun the same command to retry only these):\n" + "\n".join(lines))


def _short(error: BaseException) -> str:
    cause = getattr(error, "cause", None)  # RayTaskError wraps the method's own exception
    error = cause if isinstance(cause, BaseException) else error
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[-1] if text else ''}"


def _unit_task(plan: RunPlan, method: str, seed: int, threads: int) -> str:
    """Body of one Ray task (module-level so it pickles by reference)."""
    import torch

    # NOTE: torch starts one thread per core of the node in every worker process; with several
    # units per node that oversubscribes the cores many times over, so each unit uses the CPUs
    # it reserved.
    torch.set_num_threads(threads)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    store_root = plan.store().root
    for path in (store_root, plan.run_dir):
        if not path.is_dir():
            raise FileNotFoundError(
                f"{path} is not visible on node {socket.gethostname()}: on a multi-node cluster "
                f"the dataset, --out and --cache must be on a filesystem every node mounts at the "
                f"same path")
    return str(run_unit(plan, method, seed))


def _extract_task(store_args: dict, samples: list, features: tuple[str, ...], threads: int) -> dict:
    """Body of one extraction shard: its samples' features into the shared cache."""
    import torch

    from benchmark.features.cache import FeatureStore

    torch.set_num_threads(threads)
    root = Path(store_args["root"])
    root.mkdir(parents=True, exist_ok=True)
    store = FeatureStore(**store_args)
    store.get(samples, features)
    return store.report()


COUNTS = ("computed", "cached", "seconds", "labels_missed", "labels_unsure")  # summed over shards


def _merge_reports(reports: list[dict]) -> dict:
    out: dict[str, dict] = {}
    for report in reports:
        for name, stats in report.items():
            total = out.setdefault(name, dict.fromkeys(COUNTS, 0))
            for key in COUNTS:
                total[key] += stats[key]
    return out


def portable_samples(samples: list) -> list:
    absolute = lambda p: None if p is None else Path(p).absolute()
    return [dataclasses.replace(
        s, directory=absolute(s.directory), video=absolute(s.video), audio=absolute(s.audio),
        sensor=absolute(s.sensor), images=tuple(absolute(p) for p in s.images),
        masks=None if s.masks is None else tuple(absolute(p) for p in s.masks)) for s in samples]


def portable(plan: RunPlan) -> RunPlan:
    """The same plan with absolute paths: a worker's working directory is not the driver's."""
    absolute = lambda p: None if p is None else Path(p).absolute()
    config = plan.config
    config = dataclasses.replace(config, out=absolute(config.out), cache=absolute(config.cache),
                                 root=absolute(config.root), manifest=absolute(config.manifest))

    samples = {split: portable_samples(ss) for split, ss in plan.samples.items()}
    return dataclasses.replace(plan, config=config, run_dir=absolute(plan.run_dir), samples=samples)


class RayExecutor:
    """Each (method, seed) unit is one Ray task with the resources `unit_resources` gives it.

    address: a running cluster (`ray://host:10001`, `host:6379` or `auto`); None starts a local
    cluster on this machine, bound to loopback, and stops it at the end.
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None,
                 num_gpus: int | None = None, max_retries: int = 1,
                 resources: UnitResources | None = None):
        self.address = address
        self.num_cpus = num_cpus  # local cluster only; None: every core of this machine
        self.num_gpus = num_gpus
        self.max_retries = max_retries  # retries of a unit whose worker died (not of exceptions)
        self.resources = resources  # overrides unit_resources for every unit
        self._stop = None  # undoes the connection; held from extraction to the end of the units

    # ------------------------------------------------------------------ cluster lifetime
    def _connect(self):
        """Connect (or start a local cluster); returns a function that undoes it."""
        import ray

        if ray.is_initialized():  # the caller owns the connection
            return lambda: None
        env = {k: os.environ[k] for k in _FORWARDED_ENV if k in os.environ} | _WORKER_ENV
        kwargs = dict(include_dashboard=False, log_to_driver=True, runtime_env={"env_vars": env},
                      logging_level=logging.WARNING)
        if self.address:
            ray.init(address=self.address, **kwargs)
            return ray.shutdown  # disconnects; the cluster keeps running

        from ray._private import ray_constants

        saved = os.environ.get(_LOOPBACK_SWITCH), ray_constants.ENABLE_RAY_CLUSTER
        os.environ[_LOOPBACK_SWITCH] = "0"  # read by the Ray processes started below
        ray_constants.ENABLE_RAY_CLUSTER = False  # read by this process (Ray may be imported)
        try:
            ray.init(address="local", num_cpus=self.num_cpus, num_gpus=self.num_gpus,
                     _node_ip_address="127.0.0.1", **kwargs)
        except BaseException:
            _restore(*saved)
            raise

        def stop():
            ray.shutdown()
            _restore(*saved)

        return stop

    def _open(self) -> None:
        if self._stop is None:
            self._stop = self._connect()

    def _close(self) -> None:
        if self._stop is not None:
            stop, self._stop = self._stop, None
            stop()

    # ------------------------------------------------------------------ feature extraction
    def extract(self, plan: RunPlan, store, samples: list, features: tuple[str, ...]) -> dict:
        """Every feature of `samples` into the cache, one Ray task per shard of samples (one shard
        per GPU on a CUDA run, per CPU otherwise); returns the shards' merged cache report."""
        import ray

        self._open()
        try:
            cuda = plan.config.device == "cuda"
            available = ray.cluster_resources()
            slots = int(available.get("GPU" if cuda else "CPU", 0)) or 1
            shards = [list(c) for c in _split(portable_samples(samples), slots) if len(c)]
            cpus = max(1, int(plan.profile.unit_cpus)) if cuda else 1
            store_args = {"root": Path(store.root).absolute(), "profile": store.profile,
                          "options": store.options, "device": store.device}
            task = ray.remote(_extract_task)
            log.info("ray: features of %d samples in %d shards on %s", len(samples), len(shards),
                     _describe(available))
            refs = [task.options(num_cpus=cpus, num_gpus=1 if cuda else 0, max_retries=self.max_retries,
                                 name=f"features/{i}").remote(store_args, shard, features, cpus)
                    for i, shard in enumerate(shards)]
            reports = ray.get(refs)
        except BaseException:
            self._close()
            raise
        store.get(samples, features)  # NOTE: every entry is there now; this only reads them
        merged = _merge_reports(reports)
        for name, stats in store.report().items():  # the driver's own passes (none expected)
            merged.setdefault(name, dict.fromkeys(COUNTS, 0))["computed"] += stats["computed"]
        for name, stats in merged.items():  # from the cost logs every shard wrote into the cache
            stats.update(store.cost(name))
        for stats in merged.values():
            stats["shards"] = len(shards)
        return merged

    # ------------------------------------------------------------------ the units
    def map(self, plan: RunPlan, units: list[tuple[str, int]]) -> list[Path]:
        import ray

        todo = [u for u in units if not R.is_done(plan.run_dir, *u)]  # the local resume rule
        if not todo:
            self._close()
            return [R.unit_dir(plan.run_dir, m, s) for m, s in units]
        registry = load_methods()
        self._open()
        task = ray.remote(_unit_task)
        pending: dict = {}
        failures: dict[tuple[str, int], BaseException] = {}
        try:
            shared = ray.put(portable(plan))  # NOTE: once, not once per unit
            log.info("ray: %d units on %s", len(todo), _describe(ray.cluster_resources()))
            for method, seed in todo:
                res = self.resources or unit_resources(registry.get(method), plan.profile,
                                                        plan.config.device)
                ref = task.options(**res.options(), max_retries=self.max_retries,
                                   retry_exceptions=False, name=f"{method}/seed{seed}"
                                   ).remote(shared, method, seed, res.threads)
                pending[ref] = (method, seed)
            with tqdm(total=len(todo), desc="units (ray)", unit="unit") as bar:
                while pending:
                    ready, _ = ray.wait(list(pending), num_returns=1)
                    for ref in ready:
                        unit = pending.pop(ref)
                        try:
                            ray.get(ref)
                        except Exception as e:  # noqa: BLE001 - reported per unit, then raised
                            failures[unit] = e
                            log.error("%s/seed%d failed:\n%s", *unit, e)
                        bar.update(1)
        except KeyboardInterrupt:
            log.warning("interrupted: cancelling %d pending units", len(pending))
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            self._close()
        if failures:
            raise UnitsFailed(failures, len(todo))
        return [R.unit_dir(plan.run_dir, m, s) for m, s in units]


def _split(items: list, n: int) -> list[list]:
    """n contiguous chunks of nearly equal length."""
    size, extra = divmod(len(items), n)
    out, start = [], 0
    for k in range(n):
        end = start + size + (1 if k < extra else 0)
        out.append(items[start:end])
        start = end
    return out


def _restore(env_value: str | None, flag: bool) -> None:
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = flag
    if env_value is None:
        os.environ.pop(_LOOPBACK_SWITCH, None)
    else:
        os.environ[_LOOPBACK_SWITCH] = env_value


def _describe(resources: dict) -> str:
    nodes = sum(1 for k in resources if k.startswith("node:") and k != "node:__internal_head__")
    return f"{nodes} node(s), {resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs"
