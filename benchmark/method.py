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
from benchmark.registry import Registry


class Group(str, Enum):
    PROCESS = "process-only"
    RESULT = "result-only"
    CROSS = "cross-modal"

    @property
    def letter(self) -> str:
        return {"process-only": "A", "result-only": "B", "cross-modal": "C"}[self.value]


@dataclass(frozen=True)
class Inputs:
    """What a method sees of one split: ids, weld configurations and features. No labels."""

    ids: tuple[str, ...]
    configs: tuple[WeldConfig, ...]
    features: Mapping[str, Sequence[Any]]  # feature name -> one array (or dict of arrays) per sample

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, name: str) -> Sequence[Any]:
        try:
            return self.features[name]
        except KeyError:
            raise KeyError(f"feature {name!r} was not declared by the method "
                           f"(available: {', '.join(self.features)})") from None

    def stack(self, name: str) -> np.ndarray:
        """Features of equal shape stacked into one array (N, ...)."""
        return np.stack([np.asarray(x) for x in self[name]])


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


class Selector:
    """The one model-selection rule shared by every method: the candidate (checkpoint, fusion
    weight, ...) with the highest VAL I-AUROC wins; ties go to the earliest candidate.

    It holds the VAL labels so that methods never see them: a method offers VAL scores and gets
    back a number or an index.
    """

    RULE = "max VAL I-AUROC over the method's candidates; ties -> earliest candidate"

    def __init__(self, val_labels: Sequence[int]):
        self._labels = np.asarray(val_labels, dtype=int)
        self.calls = 0

    def auroc(self, val_scores: Sequence[float]) -> float:
        from sklearn.metrics import roc_auc_score

        self.calls += 1
        scores = np.asarray(val_scores, dtype=np.float64)
        if len(np.unique(self._labels)) < 2:
            return float("nan")  # VAL with one class cannot rank candidates
        return float(roc_auc_score(self._labels, np.nan_to_num(scores, nan=0.0)))

    def best(self, candidates: Sequence[Sequence[float]]) -> int:
        """Index of the best candidate, given each candidate's VAL scores."""
        values = [self.auroc(c) for c in candidates]
        if all(np.isnan(values)):
            return 0
        return int(np.nanargmax(values))  # argmax returns the first maximum: earliest wins


@dataclass
class FitContext:
    """What the runner hands a method besides the data."""

    seed: int
    device: str
    profile: str  # "quick" or "paper"
    selector: Selector
    text_embedding: Callable[[str], np.ndarray]  # frozen text encoder, e.g. CLIP
    backbone_sources: Mapping[str, str] = field(default_factory=dict)  # --backbone overrides
    log: Callable[[str], None] = print
    progress: Callable[..., Any] = lambda iterable, **_: iterable
    history: dict[str, list[float]] = field(default_factory=dict)  # curves saved with results

    def record(self, name: str, value: float) -> None:
        self.history.setdefault(name, []).append(float(value))

    def backbone(self, name: str):
        """The run's BackboneConfig for `name`, for methods that run their own frozen encoder."""
        from benchmark.features.backbones import BackboneConfig
        from benchmark.profiles import get_profile

        profile = get_profile(self.profile)
        sources = {**profile.sources, **self.backbone_sources}
        return BackboneConfig(name, profile.preset, sources[name])


def set_seed(seed: int) -> None:
    """One seed for every generator a method draws from (Python, NumPy, torch)."""
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ---------------------------------------------------------------------------- hyperparameters
@dataclass(frozen=True)
class Hyperparameters:
    """The original paper's values, the values used here, and one reason per change.

    `quick` holds further scale-downs applied only in the quick profile (results say so).
    """

    original: Any  # a frozen dataclass instance
    used: Any
    reasons: Mapping[str, str]
    quick: Mapping[str, Any] = field(default_factory=dict)
    quick_reason: str = "quick profile: schedule scaled down to fit the 5-minute CPU budget"

    def __post_init__(self):
        orig, used = dataclasses.asdict(self.original), dataclasses.asdict(self.used)
        changed = {k for k in used if orig.get(k) != used[k]}
        missing = changed - set(self.reasons)
        if missing:
            raise ValueError(f"changed hyperparameters without a reason: {sorted(missing)}")
        stale = set(self.reasons) - changed
        if stale:
            raise ValueError(f"reasons given for unchanged hyperparameters: {sorted(stale)}")
        unknown = set(self.quick) - set(used)
        if unknown:
            raise ValueError(f"quick-profile overrides for unknown hyperparameters: {sorted(unknown)}")

    def for_profile(self, profile: str):
        return dataclasses.replace(self.used, **self.quick) if profile == "quick" else self.used

    def changes(self) -> list[dict]:
        """One row per hyperparameter that differs from the paper, for the appendix."""
        orig, used = dataclasses.asdict(self.original), dataclasses.asdict(self.used)
        rows = [{"name": k, "original": orig.get(k), "used": used[k], "reason": self.reasons[k],
                 "profile": "all"} for k in used if orig.get(k) != used[k]]
        rows += [{"name": k, "original": used[k], "used": v, "reason": self.quick_reason,
                  "profile": "quick"} for k, v in self.quick.items() if used[k] != v]
        return rows

    def to_json(self, profile: str) -> dict:
        return {"original": dataclasses.asdict(self.original),
                "used": dataclasses.asdict(self.for_profile(profile)),
                "changes": self.changes()}


def unchanged(original) -> Hyperparameters:
    """Hyperparameters of a method used exactly as published (or defined here first)."""
    return Hyperparameters(original=original, used=original, reasons={})


# ---------------------------------------------------------------------------- the adapter
class Method(ABC):
    """Base class of every adapter. Subclasses set the class attributes and implement fit/score.

    `hp` is the resolved hyperparameter dataclass for this profile.
    """

    group: ClassVar[Group]
    modalities: ClassVar[tuple[str, ...]]  # subset of ("video", "audio", "sensor", "image")
    yields_maps: ClassVar[bool] = False

    def __init__(self, hp: Any, features: tuple[str, ...]):
        self.hp = hp
        self.features = features

    @abstractmethod
    def fit(self, train: Inputs, val: Inputs, ctx: FitContext) -> None:
        """Train on TRAIN (normal only). VAL has no labels: use `ctx.selector` to choose."""

    @abstractmethod
    def score(self, inputs: Inputs) -> Scores:
        """Score samples; called once on TEST after fitting and selection."""

    def torch_modules(self) -> list:
        """Modules whose parameters count in the efficiency table (default: attributes)."""
        import torch

        return [v for v in vars(self).values() if isinstance(v, torch.nn.Module)]

    def memory_bank_bytes(self) -> int:
        return 0


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: the class plus data. Variants are specs, not subclasses."""

    name: str
    cls: type[Method]
    hparams: Hyperparameters
    features: Callable[[Any], tuple[str, ...]] | tuple[str, ...]  # feature names (maybe from hp)
    group: Group
    modalities: tuple[str, ...]
    yields_maps: bool
    summary: str
    paper: str = ""

    def feature_names(self, profile: str) -> tuple[str, ...]:
        hp = self.hparams.for_profile(profile)
        return tuple(self.features(hp)) if callable(self.features) else tuple(self.features)

    def build(self, profile: str) -> Method:
        hp = self.hparams.for_profile(profile)
        return self.cls(hp, self.feature_names(profile))


METHODS: Registry[MethodSpec] = Registry("method")


def register_method(name: str, cls: type[Method], *, hparams: Hyperparameters, features,
                    summary: str, paper: str = "", group: Group | None = None,
                    modalities: tuple[str, ...] | None = None,
                    yields_maps: bool | None = None) -> MethodSpec:
    """Register `cls` under `name`; group/modalities/maps default to the class attributes."""
    spec = MethodSpec(
        name=name, cls=cls, hparams=hparams, features=features,
        group=group or cls.group, modalities=modalities or cls.modalities,
        yields_maps=cls.yields_maps if yields_maps is None else yields_maps,
        summary=summary, paper=paper,
    )
    return METHODS.add(name, spec)


def load_methods() -> Registry[MethodSpec]:
    """Import the built-in adapters and third-party entry points (each import registers)."""
    import importlib
    import pkgutil
    from importlib.metadata import entry_points

    import methods
    from benchmark.registry import ENTRY_POINT_GROUP

    for info in pkgutil.iter_modules(methods.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"methods.{info.name}")
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        ep.load()
    return METHODS
