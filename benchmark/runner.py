"""The runner: one protocol for every method.

prepare: load the dataset, apply the split protocol and the exclusion rule, extract every feature
the run needs once (cached), then hand independent (method, seed) units to an executor. A unit
fits on TRAIN, selects on VAL through the shared `Selector`, scores TEST once, computes metrics
and writes its folder atomically. Finished units are skipped, so a killed run resumes.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from benchmark import metrics as M
from benchmark import results as R
from benchmark.data.sample import CATEGORY_CODES, Sample
from benchmark.features.backbones import BackboneConfig, TextEncoder
from benchmark.features.cache import FeatureStore
from benchmark.method import METHODS, FitContext, Inputs, MethodSpec, Selector, load_methods, set_seed
from benchmark.profiles import FeatureOptions, Profile, get_profile

log = logging.getLogger("bench")
DEFAULT_DATA = Path(__file__).resolve().parents[1] / "datasets"
SYNTHETIC_MARKER = "synthetic.json"  # written by the synthetic twin next to its manifest
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

    def store(self) -> FeatureStore:
        return FeatureStore(self.config.cache or self.config.out / ".feature_cache", self.profile,
                            self.options, self.config.device)


# ---------------------------------------------------------------------------- preparing a run
def default_dataset(seed: int = 0) -> Path:
    """The embedded default: the synthetic twin, generated into datasets/ on first use."""
    root = DEFAULT_DATA / f"synthetic-twin-seed{seed}-quick"
    if not (root / SYNTHETIC_MARKER).exists():
        import shutil

        from benchmark.data.synth import synthesize

        log.info("generating the synthetic twin into %s (first use)", root)
        tmp = root.with_name(f".{root.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        synthesize(tmp, seed=seed, size="quick")
        shutil.rmtree(root, ignore_errors=True)  # a generation killed half-way
        os.replace(tmp, root)  # NOTE: atomic, so a killed generation is never mistaken for a twin
    return root


def resolve_methods(names: Iterable[str]) -> list[MethodSpec]:
    registry = load_methods()
    names = list(names)
    if names == ["all"]:
        names = list(registry)
    return [registry.get(n) for n in names]


def extract_here(plan: RunPlan, store: FeatureStore, samples: list[Sample],
                 features: tuple[str, ...]) -> dict:
    """Every feature of `samples` into the cache, in this process; returns the store's report."""
    store.get(samples, features)
    return store.report()


def prepare(config: RunConfig, extract: Callable | None = None) -> RunPlan:
    """`extract(plan, store, samples, features) -> report` fills the feature cache (default:
    `extract_here`; the Ray executor shards it over the cluster)."""
    from benchmark.data.loader import load_dataset
    from benchmark.data.split import assert_train_normal

    profile = config.resolved_profile()
    options = config.feature_options()
    root = Path(config.root) if config.root else default_dataset(config.synth_seed)
    specs = resolve_methods(config.methods)
    needed = sorted({m for s in specs for m in s.modalities})
    dataset = load_dataset(root, config.manifest, seed=config.split_seed, require=tuple(needed),
                           allow_missing=True)
    run_dir = Path(config.out) / (config.run or f"{profile.name}-{root.name}")
    run_dir.mkdir(parents=True, exist_ok=True)
    dataset.write_manifest(run_dir / "manifest_used.csv")

    samples = {split: dataset.split(split) for split in ("TRAIN", "VAL", "TEST")}
    assert_train_normal(samples["TRAIN"])
    features = tuple(dict.fromkeys(f for s in specs for f in s.feature_names(profile)))
    plan = RunPlan(config=config, profile=profile, options=options, run_dir=run_dir, samples=samples,
                   features=features, dataset_fingerprint=dataset.fingerprint(),
                   has_masks=any(s.masks for s in samples["TEST"]),
                   synthetic=(root / SYNTHETIC_MARKER).exists(),
                   units=[(s.name, seed) for s in specs for seed in config.seeds])

    # Every feature of every sample is extracted here, once, before the units fan out.
    store = plan.store()
    all_samples = [s for split in samples.values() for s in split]
    t0 = time.perf_counter()
    feature_report = (extract or extract_here)(plan, store, all_samples, features)
    for name, st in feature_report.items():
        log.info("features %-8s %4d forward passes in %6.1f s, %4d from cache%s", name,
                 st["computed"], st["seconds"], st["cached"],
                 f", label not found in {st['labels_missed']} views" if st["labels_missed"] else "")
    info = {
        "config": _jsonable_config(config), "profile": dataclasses.asdict(profile),
        "feature_options": dataclasses.asdict(options), "categories": CATEGORY_CODES,
        "dataset": {"root": str(root), "fingerprint": plan.dataset_fingerprint,
                    "synthetic": plan.synthetic,
                    "counts": {k: len(v) for k, v in samples.items()},
                    "excluded": [dataclasses.asdict(e) | {"path": str(e.path)} for e in dataset.excluded],
                    "n_excluded": len(dataset.excluded)},
        "selection_rule": Selector.RULE,
        "features": {"names": list(features), "seconds": time.perf_counter() - t0,
                     "extractors": feature_report, "backbones": feature_backbones(store, features)},
        "units": [f"{m}/seed{s}" for m, s in plan.units],
    }
    (run_dir / "run.json").write_text(json.dumps(info, indent=2))
    if dataset.excluded:
        log.info("excluded %d samples (missing or unreadable modality), for every method",
                 len(dataset.excluded))
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


def _inputs(samples: list[Sample], features: dict[str, list]) -> Inputs:
    return Inputs(ids=tuple(s.id for s in samples), configs=tuple(s.config for s in samples),
                  features=features)


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
    if method_name not in METHODS:
        load_methods()
    spec = METHODS.get(method_name)
    names = spec.feature_names(plan.profile)
    store = plan.store()
    data = {split: _inputs(ss, store.get(ss, names)) for split, ss in plan.samples.items()}
    val_labels = [s.label for s in plan.samples["VAL"]]

    set_seed(seed)
    method = spec.build(plan.profile)
    backbones = feature_backbones(store, names)
    ctx = FitContext(seed=seed, device=plan.config.device, profile=plan.profile,
                     selector=Selector(val_labels),
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
    metrics = M.evaluate(
        labels=np.array([s.label for s in test]), scores=out.sample,
        categories=[s.category for s in test],
        configs={axis: [f(s.config) for s in test] for axis, f in CONFIG_AXES.items()},
        maps=out.maps if masks is not None else None, masks=masks, seed=seed)
    if out.maps is None:
        metrics["pixel_note"] = "method gives no anomaly maps"
    elif masks is None:
        metrics["pixel_note"] = "no ground-truth masks in this dataset"

    params = [p for m in method.torch_modules() for p in m.parameters()]
    efficiency = {
        "parameters_total": sum(p.numel() for p in params),
        "parameters_trainable": sum(p.numel() for p in params if p.requires_grad),
        "memory_bank_bytes": int(method.memory_bank_bytes()),
        "fit_seconds": fit_seconds,
        "inference_ms_per_sample": 1000 * infer_seconds / max(len(test), 1),
        "peak_rss_bytes": mem.peak, "peak_cuda_bytes": mem.cuda_peak,
        "device": plan.config.device,
    }
    config = {
        **spec.facts(), "seed": seed, "features": list(names),
        "hyperparameters": spec.hparams.to_json(plan.profile),
        "profile": dataclasses.asdict(plan.profile),
        "feature_options": dataclasses.asdict(plan.options), "run": _jsonable_config(plan.config),
        "categories": CATEGORY_CODES, "metric_directions": dict(M.HIGHER_IS_BETTER),
        "selection_rule": Selector.RULE, "selector_calls": ctx.selector.calls,
        "dataset_fingerprint": plan.dataset_fingerprint,
        "n_test": len(test), "synthetic": plan.synthetic,
    }
    scores = [{"id": s.id, "split": s.split, "category": s.category, "label": s.label,
               "config": s.config.key, "score": float(v)} for s, v in zip(test, out.sample)]
    folder = R.write_unit(plan.run_dir, method_name, seed, metrics=metrics, scores=scores,
                          config=config, efficiency=efficiency, history=ctx.history,
                          backbones={**backbones, **ctx.backbones})
    overall = metrics["overall"]
    log.info("%s/seed%d: I-AUROC %s (fit %.1f s, %.2f ms/sample)", method_name, seed,
             _fmt(overall.get("I-AUROC")), fit_seconds, efficiency["inference_ms_per_sample"])
    return folder


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


def run(config: RunConfig, executor=None) -> Path:
    executor = executor or LocalExecutor()
    plan = prepare(config, getattr(executor, "extract", None))
    todo = [u for u in plan.units if not R.is_done(plan.run_dir, *u)]
    if len(todo) < len(plan.units):
        log.info("resuming: %d of %d units already done", len(plan.units) - len(todo), len(plan.units))
    executor.map(plan, todo)
    return plan.run_dir
