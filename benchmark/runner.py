"""The runner: one protocol for every method.

prepare: load the dataset, apply the split protocol and the exclusion rule, refuse to mix in
finished units made under other settings (each unit stores a fingerprint of what made it), extract
every feature the run needs once (cached), then hand independent (method, seed) units to an
executor. A unit fits on TRAIN, selects on VAL within the run's selection policy (the VAL labels
stay here, behind the selector's one query function), scores TEST once, computes metrics and writes
its folder atomically. Finished units with the same fingerprint are skipped, so a killed run
resumes.

Methods see samples as positions: features and weld configurations in an order drawn from a hash
of the sample ids, which carries no label; the runner maps scores back to ids.
"""
from __future__ import annotations

import ctypes
import dataclasses
import functools
import hashlib
import json
import logging
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm.auto import tqdm

from benchmark import metrics as M
from benchmark import results as R
from benchmark.data import confounds
from benchmark.data.confounds import SESSION_KEY, sample_session
from benchmark.data.recipes import RECIPE_KEY
from benchmark.data.sample import CATEGORY_CODES, MODALITIES, Sample
from benchmark.features.backbones import BackboneConfig, TextEncoder
from benchmark.features.cache import FeatureStore
from benchmark.fingerprint import refuse_stale_units, run_fingerprint, unit_fingerprint
from benchmark.method import METHODS, FitContext, Inputs, MethodSpec, Selector, load_methods, set_seed
from benchmark.profiles import FeatureOptions, Profile, Selection, get_profile
from benchmark.run_lock import RunLock

if TYPE_CHECKING:
    from benchmark.data.loader import Dataset

log = logging.getLogger("bench")
DEFAULT_DATA = Path(__file__).resolve().parents[1] / "datasets"
SYNTHETIC_MARKER = "synthetic.json"  # written by the synthetic twin next to its manifest
EXCLUSIONS_SHOWN = 20  # excluded samples named on screen; run.json lists them all
CONFIG_AXES = {"weld_type": lambda c: c.weld_type, "steel": lambda c: c.steel_type,
               "thickness": lambda c: f"{c.thickness_mm:g}mm"}


@dataclass(frozen=True)
class RunConfig:
    methods: tuple[str, ...] = ("all",)
    seeds: tuple[int, ...] = (0,)
    profile: str = "quick"
    root: Path | None = None  # None: the synthetic twin (generated on first use)
    manifest: Path | None = None
    device: str = "cpu"
    out: Path = Path("results")
    run: str | None = None  # results/<run>/; default: <profile>-<dataset folder name>
    cache: Path | None = None  # default: <out>/.feature_cache
    label_guard: bool = True
    backbones: tuple[tuple[str, str], ...] = ()  # (backbone, hub id or local folder) overrides
    models: Path | None = None  # checkpoints folder with its lock file (`bench models fetch`)
    smoke: bool = False  # training cut to a few steps (loading/shape check; not a result)
    split_seed: int = 0  # derives the split when the manifest has none
    synth_seed: int = 0  # seed of the synthetic twin generated when no root is given
    synth_confounds: str = "real"  # its confounds: real (Weld-4M's recipes and sessions) or none
    selection: str = "last"  # the selection policy of every method: last (label-free) or val
    selection_budget: int = 10  # K: VAL queries per method under `val`
    rerun: bool = False  # redo finished units whose fingerprint differs (else: stop and say why)
    save_maps: bool = False  # keep each TEST view's anomaly map (methods with maps) and the views

    def selection_policy(self) -> Selection:
        # NOTE: K means nothing under `last`, so it is no part of that policy (nor its fingerprint)
        return Selection(self.selection, self.selection_budget if self.selection == "val" else 0)

    def resolved_profile(self) -> Profile:
        profile = get_profile(self.profile)
        return dataclasses.replace(profile, smoke=True) if self.smoke else profile

    def feature_options(self) -> FeatureOptions:
        from benchmark.features.backbones import BACKBONES

        for name, _ in self.backbones:
            BACKBONES.get(name)  # an unknown name raises with "did you mean"
        if (self.models or self.backbones) and get_profile(self.profile).preset != "pretrained":
            raise ValueError(f"--models and --backbone choose pretrained checkpoints; profile "
                             f"{self.profile!r} uses {get_profile(self.profile).preset} backbones")
        return FeatureOptions.make(dict(self.backbones), self.label_guard,
                                   None if self.models is None else Path(self.models).absolute())


@dataclass
class RunPlan:
    """Everything a unit needs; plain data so that any executor can ship it to a worker."""

    config: RunConfig
    profile: Profile
    options: FeatureOptions
    run_dir: Path
    samples: dict[str, list[Sample]]  # split -> samples after exclusions
    features: tuple[str, ...]
    dataset_fingerprint: str
    has_masks: bool
    synthetic: bool
    units: list[tuple[str, int]] = field(default_factory=list)
    feature_costs: dict[str, dict] = field(default_factory=dict)  # extractor -> parameters, ms/sample

    def store(self) -> FeatureStore:
        return FeatureStore(self.config.cache or self.config.out / ".feature_cache", self.profile,
                            self.options, self.config.device)


# ---------------------------------------------------------------------------- preparing a run
def twin_path(seed: int = 0, confounds: str = "real") -> Path:
    """Where the embedded default lives (it may not be generated yet)."""
    suffix = "" if confounds == "real" else f"-confounds-{confounds}"
    return DEFAULT_DATA / f"synthetic-twin-seed{seed}-quick{suffix}"


def default_dataset(seed: int = 0, confounds: str = "real") -> Path:
    """The embedded default: the synthetic twin, generated into datasets/ on first use (with
    Weld-4M's recipes and sessions unless `confounds="none"`)."""
    root = twin_path(seed, confounds)
    marker = root / SYNTHETIC_MARKER
    from benchmark.data.synth import TWIN_VERSION, synthesize

    drawn = json.loads(marker.read_text()) if marker.exists() else {}
    if (drawn.get("confounds"), drawn.get("version")) != (confounds, TWIN_VERSION):
        log.info("generating the synthetic twin (confounds: %s) into %s (first use)", confounds, root)
        tmp = root.with_name(f".{root.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        synthesize(tmp, seed=seed, size="quick", confounds=confounds)
        shutil.rmtree(root, ignore_errors=True)  # a generation killed half-way, or an older twin
        os.replace(tmp, root)  # NOTE: atomic, so a killed generation is never mistaken for a twin
    return root


def resolve_methods(names: Iterable[str]) -> list[MethodSpec]:
    registry = load_methods()
    names = list(names)
    if names == ["all"]:
        names = list(registry)
    return [registry.get(n) for n in names]


def order_key(sample: Sample) -> str:
    """Where a sample goes in what a method sees: a hash of its id, so that a position says
    nothing about a category (the manifest and the twin list samples category by category)."""
    return hashlib.sha256(sample.id.encode()).hexdigest()


def return_freed_memory() -> None:
    """Keep large temporaries in their own memory maps, so that freeing one gives it back.

    NOTE: glibc raises its mmap threshold after large frees (up to 32 MiB); from then on tens-of-MB
    temporaries come from the heap, and a loop that allocates one per step (anomalib's
    KCenterGreedy on the CPU) left ~12 GiB resident after a few other units had run (1.6 GiB
    with a fixed threshold). Fixing the threshold at glibc's default turns that adjustment off.
    """
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD
        except (OSError, AttributeError):  # another C library: nothing to fix
            pass


def extract_here(plan: RunPlan, store: FeatureStore, samples: list[Sample],
                 features: tuple[str, ...]) -> dict:
    """Every feature of `samples` into the cache, in this process; returns the store's report."""
    store.get(samples, features)
    return store.report()


def results_folder(config: RunConfig) -> Path:
    """The run's results folder: `<out>/<run>`, by default `<out>/<profile>-<dataset folder>`
    (known before the twin is generated)."""
    root = Path(config.root) if config.root else twin_path(config.synth_seed, config.synth_confounds)
    return Path(config.out) / (config.run or f"{config.resolved_profile().name}-{root.name}")


def _drop_broken_units(plan: RunPlan) -> None:
    """Name every unit folder that is not whole (a file missing, truncated or edited, scores of
    other TEST samples) and remove it: the run redoes it."""
    test_ids = frozenset(s.id for s in plan.samples["TEST"])
    for method, seed in plan.units:
        folder = R.unit_dir(plan.run_dir, method, seed)
        if folder.exists() and (problem := R.unit_problem(folder, test_ids)):
            log.warning("%s; the unit is redone", problem)
            shutil.rmtree(folder)


def plan_run(config: RunConfig) -> tuple[RunPlan, Dataset]:
    """The run's plan (dataset, split, exclusions, units, features) and its dataset, with nothing
    written and nothing extracted (`bench run --dry-run` shows it)."""
    from benchmark.data.loader import load_dataset
    from benchmark.data.split import assert_train_normal
    from benchmark.preflight import check_run_config

    check_run_config(config)  # NOTE: a bad option fails before anything is generated or written
    profile = config.resolved_profile()
    options = config.feature_options()
    root = Path(config.root) if config.root else default_dataset(config.synth_seed, config.synth_confounds)
    specs = resolve_methods(config.methods)
    needed = sorted({m for s in specs for m in s.modalities} & set(MODALITIES))  # files to require
    dataset = load_dataset(root, config.manifest, seed=config.split_seed, require=tuple(needed),
                           allow_missing=True, screen=True)
    samples = {split: sorted(dataset.split(split), key=order_key) for split in ("TRAIN", "VAL", "TEST")}
    assert_train_normal(samples["TRAIN"])
    features = tuple(dict.fromkeys(f for s in specs for f in s.feature_names(profile)))
    plan = RunPlan(config=config, profile=profile, options=options, run_dir=results_folder(config),
                   samples=samples, features=features, dataset_fingerprint=dataset.fingerprint(),
                   has_masks=any(s.masks for s in samples["TEST"]),
                   synthetic=(root / SYNTHETIC_MARKER).exists(),
                   units=[(s.name, seed) for s in specs for seed in config.seeds])
    return plan, dataset


def prepare(config: RunConfig, extract: Callable | None = None) -> RunPlan:
    """`extract(plan, store, samples, features) -> report` fills the feature cache (default:
    `extract_here`; the Ray executor shards it over the cluster)."""
    return_freed_memory()
    plan, dataset = plan_run(config)
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
    for name, st in feature_report.items():
        guard = "".join(f", label {what} in {st[key]} views" for key, what in
                        (("labels_missed", "not found"), ("labels_unsure", "perhaps left")) if st.get(key))
        log.info("features %-8s %4d forward passes in %6.1f s, %4d from cache%s", name,
                 st["computed"], st["seconds"], st["cached"], guard)
    info = {
        "config": _jsonable_config(config), "profile": dataclasses.asdict(profile),
        "feature_options": dataclasses.asdict(options), "categories": CATEGORY_CODES,
        "dataset": {"root": str(root), "fingerprint": plan.dataset_fingerprint,
                    "synthetic": plan.synthetic,
                    "counts": {k: len(v) for k, v in samples.items()},
                    "excluded": [dataclasses.asdict(e) | {"path": str(e.path)} for e in dataset.excluded],
                    "n_excluded": len(dataset.excluded)},
        "selection": {**dataclasses.asdict(selection), "rule": Selector.RULE,
                      "description": selection.describe()},
        "recipe_key": list(RECIPE_KEY), "session_key": SESSION_KEY,
        "fingerprint": run_fingerprint(plan),
        "features": {"names": list(features), "seconds": time.perf_counter() - t0,
                     "extractors": feature_report, "backbones": feature_backbones(store, features)},
        "units": [f"{m}/seed{s}" for m, s in plan.units],
    }
    tmp = run_dir / f".run.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(info, indent=2))
    os.replace(tmp, run_dir / "run.json")  # NOTE: readers may read it while a run writes it
    if dataset.excluded:
        log.warning("excluded %d samples, for every method:", len(dataset.excluded))
        for e in dataset.excluded[:EXCLUSIONS_SHOWN]:
            log.warning("  %s: %s (sample %s)", e.path, e.reason, e.id)
        if len(dataset.excluded) > EXCLUSIONS_SHOWN:
            log.warning("  ... and %d more (all in %s)", len(dataset.excluded) - EXCLUSIONS_SHOWN,
                        run_dir / "run.json")
    return plan


def feature_backbones(store: FeatureStore, features) -> dict[str, dict]:
    """The frozen encoders behind `features`: checkpoint id, revision and weights digest."""
    from benchmark.features.extractors import feature_index

    index = feature_index()
    out = {}
    for name in dict.fromkeys(index[f] for f in features):
        cfg = store.extractor(name).backbone_config()
        if cfg is not None:
            out[cfg.name] = cfg.record()
    return out


def _jsonable_config(config: RunConfig) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(config).items()}


# ---------------------------------------------------------------------------- one unit
class PeakMemory:
    """Peak resident memory of this process while the block runs (sampled every 20 ms)."""

    def __enter__(self):
        import psutil

        self._proc, self._stop = psutil.Process(), threading.Event()
        self.peak = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        return self

    def _sample(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)
        self.cuda_peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else 0


def _inputs(samples: list[Sample], features: dict[str, list], sessions: bool = False) -> Inputs:
    return Inputs(configs=tuple(s.config for s in samples), features=features,
                  sessions=tuple(sample_session(s) for s in samples) if sessions else None)


def val_query(labels: list[int]) -> Callable[[np.ndarray], float]:
    """The one read of the VAL labels a selector may make: the VAL I-AUROC of some scores. The
    labels live in this closure, never in what a method is handed."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(labels, dtype=int)

    def val_auroc(scores: np.ndarray) -> float:
        if len(np.unique(y)) < 2:
            return float("nan")  # VAL with one class cannot rank candidates
        return float(roc_auc_score(y, np.nan_to_num(scores, nan=0.0)))

    return val_auroc


@functools.lru_cache(maxsize=None)
def _text_encoder(cfg: BackboneConfig, device: str) -> TextEncoder:
    return TextEncoder(cfg, device)


def text_embedding(profile: Profile, options: FeatureOptions, device: str,
                   used: dict | None = None) -> Callable[[str], np.ndarray]:
    """CLIP text embeddings, one forward pass per prompt per process; the encoder is built (and
    recorded in `used`) when a method first asks for an embedding."""

    @functools.lru_cache(maxsize=None)
    def embed(text: str) -> np.ndarray:
        cfg = BackboneConfig.of("clip_text", profile, options)
        if used is not None:
            used[cfg.name] = cfg.record()
        return _text_encoder(cfg, device)(text)

    return embed


def run_unit(plan: RunPlan, method_name: str, seed: int) -> Path:
    """Fit, select, score TEST once, evaluate and write one (method, seed) unit."""
    if R.is_done(plan.run_dir, method_name, seed):
        return R.unit_dir(plan.run_dir, method_name, seed)
    return_freed_memory()  # NOTE: also in a Ray worker, which never ran prepare()
    if method_name not in METHODS:
        load_methods()
    spec = METHODS.get(method_name)
    names = spec.feature_names(plan.profile)
    store = plan.store()
    sessions = "session" in spec.modalities  # only a shortcut floor is handed the session
    data = {split: _inputs(ss, store.get(ss, names), sessions) for split, ss in plan.samples.items()}
    selection = plan.config.selection_policy()
    # NOTE: under `last` the selector holds no query at all: no VAL label is within reach
    query = val_query([s.label for s in plan.samples["VAL"]]) if selection.policy == "val" else None
    selector = Selector(selection, query)

    set_seed(seed)
    method = spec.build(plan.profile)
    backbones = feature_backbones(store, names)
    ctx = FitContext(seed=seed, device=plan.config.device, profile=plan.profile, selector=selector,
                     text_embedding=text_embedding(plan.profile, plan.options, plan.config.device,
                                                   backbones),
                     options=plan.options,
                     log=lambda msg: log.info("%s/seed%d: %s", method_name, seed, msg),
                     progress=lambda it, **kw: tqdm(it, leave=False, desc=f"{method_name} s{seed}", **kw))
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        method.fit(data["TRAIN"], data["VAL"], ctx)
        fit_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = method.score(data["TEST"])  # the only time TEST reaches a method
        infer_seconds = time.perf_counter() - t0

    test = plan.samples["TEST"]
    if len(out.sample) != len(test):
        raise RuntimeError(f"{method_name} returned {len(out.sample)} scores for {len(test)} TEST samples")
    masks = _test_masks(test) if (out.maps is not None and plan.has_masks) else None
    subsets = matched_subsets(plan)
    metrics = M.evaluate(
        labels=np.array([s.label for s in test]), scores=out.sample,
        categories=[s.category for s in test],
        configs={axis: [f(s.config) for s in test] for axis, f in CONFIG_AXES.items()},
        maps=out.maps if masks is not None else None, masks=masks, seed=seed,
        subsets=subsets, clusters=[s.directory.parent.name for s in test])
    if out.maps is None:
        metrics["pixel_note"] = "method gives no anomaly maps"
    elif masks is None:
        metrics["pixel_note"] = "no ground-truth masks in this dataset"

    efficiency = {**_costs(method, plan, names), "fit_seconds": fit_seconds,
                  "inference_ms_per_sample": 1000 * infer_seconds / max(len(test), 1),
                  "peak_rss_bytes": mem.peak, "peak_cuda_bytes": mem.cuda_peak,
                  "device": plan.config.device}
    efficiency["total_ms_per_sample"] = (efficiency["backbone_ms_per_sample"]
                                         + efficiency["inference_ms_per_sample"])
    fingerprint = unit_fingerprint(plan, spec)
    config = {
        **spec.facts(), "seed": seed, "features": list(names),
        "hyperparameters": spec.hparams.to_json(plan.profile),
        "profile": dataclasses.asdict(plan.profile),
        "feature_options": dataclasses.asdict(plan.options), "run": _jsonable_config(plan.config),
        "categories": CATEGORY_CODES, "metric_directions": dict(M.HIGHER_IS_BETTER),
        "selection": {**dataclasses.asdict(selection), "rule": Selector.RULE,
                      "val_queries": selector.queries},
        "recipe_key": list(RECIPE_KEY), "session_key": SESSION_KEY,
        "fingerprint": {"digest": R.digest(fingerprint), "run_digest": R.digest(run_fingerprint(plan)),
                        "parts": fingerprint},
        "dataset_fingerprint": plan.dataset_fingerprint,
        "n_test": len(test), "synthetic": plan.synthetic,
    }
    scores = [{"id": s.id, "split": s.split, "category": s.category, "label": s.label,
               "config": s.config.key, "folder": s.directory.parent.name,
               "session": sample_session(s),
               **{name: int(mask[i]) for name, mask in subsets.items()}, "score": float(v)}
              for i, (s, v) in enumerate(zip(test, out.sample))]
    maps = None
    if plan.config.save_maps and out.maps is not None:
        maps = {s.id: m for s, m in zip(test, out.maps)}
        _keep_test_views(plan, store)
    folder = R.write_unit(plan.run_dir, method_name, seed, metrics=metrics, scores=scores,
                          config=config, efficiency=efficiency, history=ctx.history,
                          backbones={**backbones, **ctx.backbones}, maps=maps)
    overall = metrics["overall"]
    log.info("%s/seed%d: I-AUROC %s (fit %.1f s, %.2f ms/sample)", method_name, seed,
             _fmt(overall.get("I-AUROC")), fit_seconds, efficiency["inference_ms_per_sample"])
    return folder


def matched_subsets(plan: RunPlan) -> dict[str, np.ndarray]:
    """{subset: (TEST,) bool}: every TEST normal, and the TEST defects that share the subset's
    confounds (recipe, session, both) with TRAIN normals (`benchmark.data.confounds`): there
    those confounds do not give the answer."""
    test = plan.samples["TEST"]
    return confounds.matched_subsets(confounds.pairs(plan.samples["TRAIN"]), confounds.pairs(test),
                                     [s.label for s in test])


def _costs(method, plan: RunPlan, features) -> dict:
    """Parameters and time per sample, the frozen backbones apart from the method's own part:
    cached backbones as the extraction log measured them, plus any frozen encoder the method runs
    itself (its time is inside the method's inference time)."""
    own_backbones = {id(p) for m in method.backbone_modules() for p in m.parameters()}
    params = list({id(p): p for m in method.torch_modules() for p in m.parameters()}.values())
    head = [p for p in params if id(p) not in own_backbones]
    backbones = {name: plan.feature_costs.get(name, {}) for name in plan.store().sources(features)}
    own = sum(p.numel() for p in params if id(p) in own_backbones)
    return {
        "backbones": backbones,
        "backbone_parameters": own + sum(c.get("parameters") or 0 for c in backbones.values()),
        "backbone_parameters_own": own,
        "backbone_ms_per_sample": sum(c.get("ms_per_sample") or 0.0 for c in backbones.values()),
        "parameters_total": sum(p.numel() for p in head),
        "parameters_trainable": sum(p.numel() for p in head if p.requires_grad),
        "memory_bank_bytes": int(method.memory_bank_bytes()),
    }


def _keep_test_views(plan: RunPlan, store: FeatureStore) -> None:
    """The label-guarded TEST views that the saved maps belong to, once per run (the cached
    `image_pixels`: exactly what the image models saw), so that overlays need no dataset."""
    if R.has_views(plan.run_dir):
        return
    test = plan.samples["TEST"]
    views = store.get(test, ("image_pixels",))["image_pixels"]
    R.write_views(plan.run_dir, {s.id: v for s, v in zip(test, views)})


def _fmt(v) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _test_masks(test: list[Sample]) -> list[np.ndarray | None]:
    from benchmark.data.decode import read_masks

    out = []
    for s in test:
        m = read_masks(s) if s.masks else None
        out.append(None if m is None else np.stack(m))
    return out


# ---------------------------------------------------------------------------- executors
class LocalExecutor:
    """Runs units one after another in this process (the default)."""

    name = "local"

    def map(self, plan: RunPlan, units: list[tuple[str, int]]) -> list[Path]:
        return [run_unit(plan, m, s) for m, s in tqdm(units, desc="units", unit="unit")]


def run(config: RunConfig, executor=None, on_prepared: Callable[[RunPlan], None] | None = None) -> Path:
    """Prepare (the executor may extract the features its own way), then run the units not done
    yet; `on_prepared(plan)` is called in between (the CLI saves its resolved configuration into
    the run folder there)."""
    from benchmark.preflight import check_run_config

    check_run_config(config)  # NOTE: before the lock, which makes the run folder
    executor = executor or LocalExecutor()
    with RunLock(results_folder(config)):  # NOTE: one writer per run folder; readers need no lock
        plan = prepare(config, getattr(executor, "extract", None))
        if on_prepared is not None:
            on_prepared(plan)
        todo = [u for u in plan.units if not R.is_done(plan.run_dir, *u)]
        if len(todo) < len(plan.units):
            log.info("resuming: %d of %d units already done", len(plan.units) - len(todo), len(plan.units))
        executor.map(plan, todo)
    return plan.run_dir
