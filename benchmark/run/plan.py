"""A run's plan: what its configuration (`RunConfig`) resolves to (`RunPlan`): the dataset
(the synthetic twin generated on first use, or a Weld-4M folder), the split with its exclusions,
the (method, seed) units and the features they read. Nothing here writes results or extracts.

A run into a folder that already holds units joins them (`join_held_units`): its methods and seeds
cover the folder's too, so that run.json and run.toml list every unit the folder holds.

Methods see samples as positions: features and weld configurations in an order drawn from a hash
of the sample ids (`order_key`), which carries no label.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from benchmark.data.sample import MODALITIES, Sample
from benchmark.features.cache import FeatureStore
from benchmark.method import MethodSpec, load_methods
from benchmark.profiles import FeatureOptions, Profile
from benchmark.run.config import RunConfig
from benchmark.run.preflight import check_run_config

if TYPE_CHECKING:
    from benchmark.data.loader import Dataset

log = logging.getLogger("bench")
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "datasets"
SYNTHETIC_MARKER = "synthetic.json"  # written by the synthetic twin next to its manifest


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


def twin_path(seed: int = 0, confounds: str = "real") -> Path:
    """Where the embedded default lives (it may not be generated yet)."""
    suffix = "" if confounds == "real" else f"-confounds-{confounds}"
    return DEFAULT_DATA / f"synthetic-twin-seed{seed}-quick{suffix}"


def twin_ready(seed: int = 0, confounds: str = "real") -> bool:
    """Whether the embedded default is generated, by this version of the generator."""
    from benchmark.data.synth import TWIN_VERSION

    marker = twin_path(seed, confounds) / SYNTHETIC_MARKER
    drawn = json.loads(marker.read_text()) if marker.exists() else {}
    return (drawn.get("confounds"), drawn.get("version")) == (confounds, TWIN_VERSION)


def default_dataset(seed: int = 0, confounds: str = "real") -> Path:
    """The embedded default: the synthetic twin, generated into datasets/ on first use (with
    Weld-4M's recipes and sessions unless `confounds="none"`)."""
    root = twin_path(seed, confounds)
    from benchmark.data.synth import synthesize

    if not twin_ready(seed, confounds):
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


def held_units(run_dir: Path) -> list[tuple[str, int]]:
    """The (method, seed) units a run folder holds: every `<method>/seed<k>/` folder, whole or not
    (one that is not whole is redone by the next run), as `results.load_run` reads them."""
    units = []
    for folder in sorted(Path(run_dir).glob("*/seed*")):
        seed = folder.name.removeprefix("seed")
        if folder.is_dir() and seed.isdigit():
            units.append((folder.parent.name, int(seed)))
    return units


def join_held_units(config: RunConfig) -> RunConfig:
    """`config` widened to the units its results folder already holds: every method and every
    seed there joins the run (the units stay a grid, each method with each seed), so that run.json
    and run.toml list every unit of the folder and each finished one is checked against this
    run's settings (`fingerprint.refuse_stale_units`). A configuration that covers the folder is
    returned as it is (`all` stays `all`)."""
    run_dir = results_folder(config)
    held = held_units(run_dir)
    asked = [s.name for s in resolve_methods(config.methods)]
    methods = [m for m in dict.fromkeys(m for m, _ in held) if m not in asked]
    seeds = sorted({s for _, s in held} - set(config.seeds))
    if not (methods or seeds):
        return config
    _refuse_unregistered(run_dir, methods)
    joined = dataclasses.replace(
        config, methods=tuple(methods + asked) if methods else config.methods,
        seeds=tuple(sorted({*config.seeds, *seeds})) if seeds else config.seeds)
    others = ([f"methods {_some(methods)}"] if methods else []) + ([f"seeds {_some(seeds)}"] if seeds else [])
    log.info("%s holds units of other %s: the run covers them too (%d methods x seeds %s)", run_dir,
             " and ".join(others), len(methods) + len(asked), ",".join(map(str, joined.seeds)))
    return joined


def _some(items: list, shown: int = 6) -> str:
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ",".join(map(str, items[:shown])) + more


def _refuse_unregistered(run_dir: Path, methods: list[str]) -> None:
    from benchmark.results.store import ResultsError

    missing = [m for m in methods if m not in load_methods()]
    if missing:
        # NOTE: the run's record must name every unit of its folder, and a unit is checked against
        # its method's registration (hyperparameters, code)
        raise ResultsError(f"{run_dir} holds units of {', '.join(map(repr, missing))}, not a "
                           f"registered method here (its package not installed, or failed to "
                           f"import?); a run into this folder covers every unit it holds: register "
                           f"it again, or pass --run NAME for a new results folder")


def order_key(sample: Sample) -> str:
    """Where a sample goes in what a method sees: a hash of its id, so that a position says
    nothing about a category (the manifest and the twin list samples category by category)."""
    return hashlib.sha256(sample.id.encode()).hexdigest()


def results_folder(config: RunConfig) -> Path:
    """The run's results folder: `<out>/<run>`, by default `<out>/<profile>-<dataset folder>`
    (known before the twin is generated)."""
    root = Path(config.root) if config.root else twin_path(config.synth_seed, config.synth_confounds)
    return Path(config.out) / (config.run or f"{config.resolved_profile().name}-{root.name}")


def plan_run(config: RunConfig) -> tuple[RunPlan, Dataset]:
    """The run's plan (dataset, split, exclusions, units, features) and its dataset, with nothing
    written and nothing extracted (`bench run --dry-run` shows it). The plan's configuration
    covers the units its folder already holds (`join_held_units`)."""
    from benchmark.data.loader import load_dataset
    from benchmark.data.split import assert_train_normal

    check_run_config(config)  # NOTE: a bad option fails before anything is generated or written
    config = join_held_units(config)
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


def jsonable_config(config: RunConfig) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(config).items()}
