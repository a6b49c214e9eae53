"""The method adapter contract: what a method declares, what it gets, what it returns.

An adapter implements `fit` and `score` and declares facts (group, modalities, feature names,
maps yes/no, hyperparameters). The runner owns devices, seeds, loops, timing and logging.
Methods never read files: they get features (`Inputs`) from the runner, and VAL labels only
through the shared selection rule (`Selector`).
"""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar

import numpy as np

from benchmark.data.sample import WeldConfig
from benchmark.profiles import SELECTION_RULE, FeatureOptions, Profile, Selection
from benchmark.registry import Registry


class Group(str, Enum):
    PROCESS = "process-only"
    RESULT = "result-only"
    CROSS = "cross-modal"
    # NOTE: reads a confound (recipe, recording session), never the weld: the floors of the
    # shortcuts, shown for reference and never ranked against methods
    SHORTCUT = "shortcut-floor"

    @property
    def letter(self) -> str:
        return {"process-only": "A", "result-only": "B", "cross-modal": "C", "shortcut-floor": "R"}[self.value]

    @property
    def title(self) -> str:
        """The row-group title of the tables, e.g. "(A) Process only"."""
        name = {"process-only": "Process only", "result-only": "Result only",
                "cross-modal": "Cross-modal", "shortcut-floor": "Shortcut floors"}[self.value]
        return f"({self.letter}) {name}"


@dataclass(frozen=True)
class Inputs:
    """What a method sees of one split: the weld configurations and the features, one per sample,
    in an order that carries no label (samples are positions; the runner maps results back to
    sample ids). No ids, no labels, no categories, no file paths. The recording session (a day)
    is handed only to a method that declares the modality `session` (a shortcut floor)."""

    configs: tuple[WeldConfig, ...]
    features: Mapping[str, Sequence[Any]]  # feature name -> one array (or dict of arrays) per sample
    sessions: tuple[str, ...] | None = None  # `benchmark.data.confounds.session_of`, on request

    def __len__(self) -> int:
        return len(self.configs)

    def __getitem__(self, name: str) -> Sequence[Any]:
        try:
            return self.features[name]
        except KeyError:
            raise KeyError(f"feature {name!r} was not declared by the method "
                           f"(available: {', '.join(self.features)})") from None

    def stack(self, name: str) -> np.ndarray:
        """Features of equal shape stacked into one array (N, ...)."""
        return np.stack([np.asarray(x) for x in self[name]])

    def subset(self, positions: Sequence[int]) -> "Inputs":
        """The samples at `positions`, in that order."""
        return Inputs(configs=tuple(self.configs[i] for i in positions),
                      features={k: [v[i] for i in positions] for k, v in self.features.items()},
                      sessions=None if self.sessions is None else tuple(self.sessions[i] for i in positions))


@dataclass(frozen=True)
class Scores:
    """A method's output: one anomaly score per sample (higher = more anomalous) and, where the
    method localises, one map per post-weld view of each sample, shape (V, h, w)."""

    sample: np.ndarray
    maps: list[np.ndarray] | None = None

    def __post_init__(self):
        scores = np.asarray(self.sample, dtype=np.float64)
        if scores.ndim != 1:
            raise ValueError(f"scores must be 1-D, got shape {scores.shape}")
        if not np.all(np.isfinite(scores)):
            raise ValueError(f"{int((~np.isfinite(scores)).sum())} scores are NaN or infinite")
        object.__setattr__(self, "sample", scores)
        if self.maps is not None and len(self.maps) != len(scores):
            raise ValueError(f"{len(self.maps)} maps for {len(scores)} samples")


class SelectionBudgetError(RuntimeError):
    """A method asked for more VAL label queries than the run's selection policy allows."""


class Selector:
    """The one model-selection rule shared by every method: the candidate (checkpoint, fusion
    weight, ...) with the highest VAL I-AUROC wins; ties go to the earliest candidate.

    The VAL labels stay with the runner, behind `query` (one call = one read of the labels); a
    method offers VAL scores and gets back a number or an index, within the run's budget. It asks
    the selector which candidates to offer (`checkpoints`, `weights`), so every method spends
    the same budget the same way.
    """

    RULE = SELECTION_RULE

    def __init__(self, selection: Selection, query: Callable[[np.ndarray], float] | None = None):
        self.selection = selection
        self._query = query
        self.queries = 0

    @property
    def budget(self) -> int:
        return self.selection.budget if self.selection.policy == "val" else 0

    @property
    def remaining(self) -> int:
        return self.budget - self.queries

    def checkpoints(self, epochs: int) -> tuple[int, ...]:
        """The epochs (1-based) whose VAL scores to offer: the remaining budget spread evenly
        over training, the last epoch always among them; none under `last`."""
        k = min(self.remaining, epochs)
        return tuple(sorted({round(epochs * (i + 1) / k) for i in range(k)})) if k > 0 else ()

    def weights(self) -> np.ndarray:
        """Fusion weights to try: equal weights (0.5, no query) unless at least two queries are
        left, then a grid of that many weights over [0, 1]."""
        return np.linspace(0.0, 1.0, self.remaining) if self.remaining >= 2 else np.array([0.5])

    def auroc(self, val_scores: Sequence[float]) -> float:
        """VAL I-AUROC of one candidate: one read of the VAL labels."""
        if self.queries >= self.budget or self._query is None:
            raise SelectionBudgetError(
                f"VAL query {self.queries + 1} refused: {self.selection.describe()}"
                + (f", {self.budget} allowed here" if self.selection.policy == "val" else ""))
        self.queries += 1
        return float(self._query(np.asarray(val_scores, dtype=np.float64)))

    def best(self, candidates: Sequence[Sequence[float]]) -> int:
        """Index of the best candidate, given each candidate's VAL scores (a single candidate
        needs no query)."""
        if len(candidates) == 1:
            return 0
        values = [self.auroc(c) for c in candidates]
        if all(np.isnan(values)):
            return 0
        return int(np.nanargmax(values))  # argmax returns the first maximum: earliest wins

    def share(self, budget: int) -> "Selector":
        """A selector for a sub-method with `budget` of this one's queries (0: label-free)."""
        budget = min(budget, self.remaining)
        return Selector(Selection("val" if budget else "last", budget), self.auroc)


@dataclass
class FitContext:
    """What the runner hands a method besides the data."""

    seed: int
    device: str
    profile: Profile
    selector: Selector
    text_embedding: Callable[[str], np.ndarray]  # frozen text encoder, e.g. CLIP
    options: FeatureOptions = FeatureOptions()  # the run's backbone sources and label guard
    log: Callable[[str], None] = print
    progress: Callable[..., Any] = lambda iterable, **_: iterable
    history: dict[str, list[float]] = field(default_factory=dict)  # curves saved with results
    backbones: dict[str, dict] = field(default_factory=dict)  # encoders asked for (versions.json)

    def record(self, name: str, value: float) -> None:
        self.history.setdefault(name, []).append(float(value))

    def backbone(self, name: str):
        """The run's BackboneConfig for `name`, for methods that run their own frozen encoder."""
        from benchmark.features.checkpoints import backbone_config

        cfg = backbone_config(name, self.profile, self.options)
        self.backbones[cfg.name] = cfg.record()
        return cfg

    def reseed(self) -> None:
        """Back to the unit's seed: a method that fits several sub-methods in a row fits each one
        exactly as the runner fits it alone."""
        set_seed(self.seed)


def set_seed(seed: int) -> None:
    """One seed for every generator a method draws from (Python, NumPy, torch). The runner calls
    it once per unit, before the method is built; adapters do not reseed."""
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ---------------------------------------------------------------------------- hyperparameters
@dataclass(frozen=True)
class ProfileChanges:
    """Further changes applied in one profile only (e.g. a schedule scaled down for the quick
    profile's CPU budget), or in smoke runs, with the reason (results and the appendix say so)."""

    values: Mapping[str, Any]
    reason: str = "quick profile: schedule scaled down to fit the 5-minute CPU budget"


def smoke_run(**values) -> ProfileChanges:
    """A method's changes in smoke runs: its training schedule cut to a few steps (a smoke run
    proves loading, tensor shapes and memory; its numbers are no result)."""
    return ProfileChanges(values, "smoke run: training cut to a few steps to check loading, "
                                  "shapes and memory; not a result")


@dataclass(frozen=True)
class Hyperparameters:
    """The original paper's values, the values used here, and one reason per change.

    `profiles` maps a profile name to the further changes made in that profile only; `smoke`
    holds the changes of a smoke run (`Profile.smoke`, `bench run --smoke`): training cut to a
    few steps, applied on top of the profile's.
    """

    original: Any  # a frozen dataclass instance
    used: Any
    reasons: Mapping[str, str]
    profiles: Mapping[str, ProfileChanges] = field(default_factory=dict)
    # how the original chose its final model (the run's `Selection` replaces it for every method)
    original_selection: str = "not stated"
    smoke: ProfileChanges | None = None

    def __post_init__(self):
        orig, used = dataclasses.asdict(self.original), dataclasses.asdict(self.used)
        changed = {k for k in used if orig.get(k) != used[k]}
        missing = changed - set(self.reasons)
        if missing:
            raise ValueError(f"changed hyperparameters without a reason: {sorted(missing)}")
        stale = set(self.reasons) - changed
        if stale:
            raise ValueError(f"reasons given for unchanged hyperparameters: {sorted(stale)}")
        for name, change in self._extra_changes():
            unknown = set(change.values) - set(used)
            if unknown:
                raise ValueError(f"{name}-profile changes of unknown hyperparameters: {sorted(unknown)}")

    def _extra_changes(self) -> list[tuple[str, ProfileChanges]]:
        return list(self.profiles.items()) + ([("smoke", self.smoke)] if self.smoke else [])

    def for_profile(self, profile: Profile):
        used = self.used
        change = self.profiles.get(profile.name)
        if change:
            used = dataclasses.replace(used, **change.values)
        if profile.smoke and self.smoke:
            used = dataclasses.replace(used, **self.smoke.values)
        return used

    def changes(self) -> list[dict]:
        """One row per hyperparameter that differs from the paper, for the appendix."""
        orig, used = dataclasses.asdict(self.original), dataclasses.asdict(self.used)
        rows = [{"name": k, "original": orig.get(k), "used": used[k], "reason": self.reasons[k],
                 "profile": "all"} for k in used if orig.get(k) != used[k]]
        rows += [{"name": k, "original": used[k], "used": v, "reason": change.reason,
                  "profile": name}
                 for name, change in self.profiles.items() for k, v in change.values.items()
                 if used[k] != v]
        return rows

    def smoke_changes(self) -> list[dict]:
        """The smoke run's changes (kept out of `changes()`: no table reports a smoke run)."""
        if not self.smoke:
            return []
        used = dataclasses.asdict(self.used)
        return [{"name": k, "original": used[k], "used": v, "reason": self.smoke.reason,
                 "profile": "smoke"} for k, v in self.smoke.values.items()]

    def to_json(self, profile: Profile) -> dict:
        out = {"original": dataclasses.asdict(self.original),
               "used": dataclasses.asdict(self.for_profile(profile)),
               "changes": self.changes(), "original_selection": self.original_selection}
        if profile.smoke:
            out["smoke_changes"] = self.smoke_changes()
        return out


def unchanged(original, original_selection: str = "not stated",
              smoke: ProfileChanges | None = None) -> Hyperparameters:
    """Hyperparameters of a method used exactly as published (or defined here first)."""
    return Hyperparameters(original=original, used=original, reasons={},
                           original_selection=original_selection, smoke=smoke)


# ---------------------------------------------------------------------------- the adapter
class Method(ABC):
    """Base class of every adapter. Subclasses set the class attributes and implement fit/score.

    `hp` is the resolved hyperparameter dataclass for this profile.
    """

    group: ClassVar[Group]
    # subset of ("video", "audio", "sensor", "image"); a shortcut floor may read instead the
    # manifest's recipe ("setpoints") and the recording session ("session", see `Inputs`)
    modalities: ClassVar[tuple[str, ...]]
    yields_maps: ClassVar[bool] = False

    def __init__(self, hp: Any, features: tuple[str, ...]):
        self.hp = hp
        self.features = features

    @abstractmethod
    def fit(self, train: Inputs, val: Inputs, ctx: FitContext) -> None:
        """Train on TRAIN (normal only). VAL has no labels: `ctx.selector` says which candidates
        to offer and chooses among them, within the run's selection policy."""

    @abstractmethod
    def score(self, inputs: Inputs) -> Scores:
        """Score samples; called once on TEST after fitting and selection."""

    def torch_modules(self) -> list:
        """Modules whose parameters count in the efficiency table (default: attributes)."""
        import torch

        return [v for v in vars(self).values() if isinstance(v, torch.nn.Module)]

    def backbone_modules(self) -> list:
        """Frozen encoders the method runs itself (counted with the backbones, not its own part)."""
        return []

    def memory_bank_bytes(self) -> int:
        return 0


class ViewPooling(str, Enum):
    """How a method turns a weld's post-weld views into its one sample score: a declared fact,
    written into every result and shown in the appendix (a max flags a weld by its worst view,
    a mean dilutes a defect seen in one view of V)."""

    MAX = "max"  # one score per view; the sample score is their maximum
    MEAN = "mean"  # one score per view; the sample score is their mean
    FEATURES = "features"  # the views are pooled into one feature before scoring (no view score)
    NONE = "none"  # the method reads no post-weld view

    @property
    def description(self) -> str:
        return {"max": "maximum of the per-view scores",
                "mean": "mean of the per-view scores",
                "features": "views pooled into one feature before scoring, no per-view score",
                "none": "reads no post-weld view"}[self.value]


class Role(str, Enum):
    """Where a method's rows go: `proposed` and `baseline` rows make the main table; an
    `ablation` appears only in the ablation table, next to its family's main row; a `reference`
    row (a shortcut floor) is shown in the main table but never ranked against the methods."""

    PROPOSED = "proposed"
    BASELINE = "baseline"
    ABLATION = "ablation"
    REFERENCE = "reference"


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: the class plus data. Variants are specs, not subclasses."""

    name: str
    cls: type[Method]
    hparams: Hyperparameters
    # feature names, or a function of (resolved hyperparameters, profile) giving them
    features: Callable[[Any, Profile], tuple[str, ...]] | tuple[str, ...]
    group: Group
    modalities: tuple[str, ...]
    yields_maps: bool
    summary: str
    paper: str = ""
    family: str = ""  # methods that share one adapter and idea (a method and its ablations)
    role: Role = Role.BASELINE
    display_name: str = ""  # the row label of the paper's tables
    row_code: str = ""  # e.g. "C.1"; the tables order a group's rows by it
    view_pooling: ViewPooling = ViewPooling.NONE  # how the views make the sample score

    def feature_names(self, profile: Profile) -> tuple[str, ...]:
        hp = self.hparams.for_profile(profile)
        return tuple(self.features(hp, profile)) if callable(self.features) else tuple(self.features)

    def build(self, profile: Profile) -> Method:
        hp = self.hparams.for_profile(profile)
        return self.cls(hp, self.feature_names(profile))

    def facts(self) -> dict:
        """The declared facts written into every result (tables read them from there)."""
        return {"method": self.name, "family": self.family, "role": self.role.value,
                "display_name": self.display_name, "row_code": self.row_code,
                "group": self.group.value, "group_letter": self.group.letter,
                "group_title": self.group.title,
                "modalities": list(self.modalities), "yields_maps": self.yields_maps,
                "view_pooling": self.view_pooling.value,
                "view_pooling_text": self.view_pooling.description,
                "summary": self.summary, "paper": self.paper}


METHODS: Registry[MethodSpec] = Registry("method")


def register_method(name: str, cls: type[Method], *, hparams: Hyperparameters, features,
                    summary: str, paper: str = "", group: Group | None = None,
                    modalities: tuple[str, ...] | None = None, yields_maps: bool | None = None,
                    family: str | None = None, role: Role = Role.BASELINE,
                    display_name: str | None = None, row_code: str = "",
                    view_pooling: ViewPooling | str | None = None) -> MethodSpec:
    """Register `cls` under `name`; group/modalities/maps default to the class attributes, the
    family to the registry name, the display name to the registry name with spaces for its
    underscores (`default_display_name`); without a row code the tables show the row after its
    group's coded rows, before the proposed one. A method that reads the post-weld images
    must declare `view_pooling` (how its views make the sample score); one that reads none gets
    `none`."""
    modalities = modalities or cls.modalities
    if view_pooling is None:
        if "image" in modalities:
            raise ValueError(f"method {name!r} reads the post-weld images: declare view_pooling "
                             f"({', '.join(v.value for v in ViewPooling)})")
        view_pooling = ViewPooling.NONE
    view_pooling = ViewPooling(view_pooling)
    display_name = display_name or default_display_name(name)
    # NOTE: every output (tables, CSVs, legends, compare, report) names a row by its display name
    taken = next((other for other, s in METHODS.items() if s.display_name == display_name), None)
    if taken is not None:
        raise ValueError(f"method {name!r}: display name {display_name!r} is already method "
                         f"{taken!r}'s; choose one no other row shares")
    if (view_pooling is ViewPooling.NONE) != ("image" not in modalities):
        raise ValueError(f"method {name!r}: view_pooling {view_pooling.value!r} does not fit its "
                         f"modalities {modalities}")
    spec = MethodSpec(
        name=name, cls=cls, hparams=hparams, features=features,
        group=group or cls.group, modalities=modalities,
        yields_maps=cls.yields_maps if yields_maps is None else yields_maps,
        summary=summary, paper=paper, family=family or name, role=Role(role),
        display_name=display_name, row_code=row_code, view_pooling=view_pooling,
    )
    return METHODS.add(name, spec)


def default_display_name(name: str) -> str:
    """The row label of a method registered without one: "image_mean_dist" -> "image mean dist"
    (the printed and HTML tables also show the registry name beside a label that differs)."""
    return name.replace("_", " ")


class ShadowedPackageError(ImportError):
    """Another `methods` or `benchmark` package, earlier on sys.path, hides the suite's."""


_FAILED_PLUGINS: set[str] = set()  # entry points already reported, so each is named once


def method_spec(name: str) -> MethodSpec:
    """The registered method `name`; the adapters are loaded first when it is not registered yet
    (a worker process imports only the adapters of its planned units, and a fused method builds
    others, e.g. Late Fusion (A+B) its process and image methods)."""
    if name not in METHODS:
        load_methods()
    return METHODS.get(name)


def load_methods() -> Registry[MethodSpec]:
    """Import the built-in adapters and third-party entry points (each import registers). A
    plugin that fails to import is named on one warning line and skipped; the rest load."""
    import importlib
    import logging
    import pkgutil
    from importlib.metadata import entry_points

    import methods
    from benchmark.registry import ENTRY_POINT_GROUP

    _check_not_shadowed(methods)
    for info in pkgutil.iter_modules(methods.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"methods.{info.name}")
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as e:  # NOTE: any error of someone else's package; ours go on loading
            if ep.name not in _FAILED_PLUGINS:
                _FAILED_PLUGINS.add(ep.name)
                logging.getLogger("bench").warning(
                    "plugin %s (%s, entry point %s = %s) failed to import and is skipped: %s: %s",
                    ep.name, ep.dist.name if ep.dist else "unknown package", ENTRY_POINT_GROUP,
                    ep.value, type(e).__name__, str(e).splitlines()[0] if str(e) else "")
    return METHODS


def _check_not_shadowed(methods_package) -> None:
    """The suite's `methods` sits next to its `benchmark`; a `methods` found elsewhere (a
    project's own folder earlier on sys.path) would register nothing of the suite's."""
    from pathlib import Path

    import benchmark

    suite = Path(benchmark.__file__).resolve().parent.parent
    found = [Path(p).resolve() for p in methods_package.__path__]
    if suite / "methods" not in found:
        raise ShadowedPackageError(
            f"package 'methods' at {found[0]} shadows weld-bench's methods at {suite / 'methods'} "
            f"(or 'benchmark' at {suite / 'benchmark'} is not the suite's): it comes earlier on "
            f"sys.path; rename it, or run from another folder")
