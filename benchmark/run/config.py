"""A run's configuration (`RunConfig`): every option of `bench run`, before anything is planned
(`benchmark.run.plan` resolves it, `benchmark.run.preflight` checks it)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from benchmark.profiles import FeatureOptions, Profile, Selection, get_profile


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
    weld_region: bool = True  # image models read each view's weld region (False: the whole view)
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
                                   None if self.models is None else Path(self.models).absolute(),
                                   self.weld_region)
