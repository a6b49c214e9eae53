"""Shortcut floors from the recipe and the recording session: detectors that read a confound of
Weld-4M and never the weld, the floors every other row must be read against.

Weld-4M's defects were produced by changing the weld recipe (plate, current, voltage, gas, robot
speed; `benchmark/data/recipes.py`), and the sensors record it; they were also recorded in their
own sessions (`benchmark/data/confounds.py`: each folder one category, most recording days only
Good or only defective welds). These suite-defined reference rows show how far each shortcut goes;
on the TEST subset matched on their confound (defects that share it with TRAIN normals) they are at
chance by construction. Reference rows are shown, never ranked against methods.

* `recipe_manifest` (the oracle of the recipe shortcut): the manifest's set-points and plate
  (`Inputs.configs`, no media); score = standardised distance to the nearest TRAIN recipe.
* `recipe_sensors` (the same idea from the measured stream): per channel, statistics of the
  arc-on segment (current > 10 A) of the sensor trace: median and standard deviation of
  pressure, gas flow, wire feed, current and voltage, the wire-consumption rate (the channel is
  cumulative), and the arc-on share of the trace (the weld length is fixed, so it reads the robot
  speed); score = standardised distance to the nearest TRAIN weld. A trace whose current never
  exceeds the threshold is summarised whole.
* `session_manifest` (the oracle of the session shortcut): 1 when the weld's recording day is
  no TRAIN normal's day, else 0 (`Inputs.sessions`, handed only to a method that declares the
  modality `session`).
* `recipe_session_manifest`: 1 when the recipe or the day is unseen among the TRAIN normals.
* `weld_type_manifest`: how rare the weld's type (fillet or not) is among the TRAIN normals
  (`benchmark.data.confounds.weld_type_rarity`). Some categories exist on one weld type only, so
  against every normal this floor alone scores 0.90 on Weld-4M's fillet-only categories; like with
  like (the suite's per-category rule) it sits at 0.5 in every category, which shows the rule works.

The session probes, which read the session from the media, are `methods/session_probes.py`.
No training, nothing to select, no VAL query. Suite-defined: no paper, no licence.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.data.confounds import weld_type_rarity
from benchmark.data.recipes import NearestStandardised, RecipeDistance, recipe_of
from benchmark.data.sample import SENSOR_CHANNELS
from benchmark.method import FitContext, Group, Inputs, Method, Role, Scores, register_method, unchanged

CURRENT, WIRE = SENSOR_CHANNELS.index("Primary Weld Current"), SENSOR_CHANNELS.index("Wire Consumed")


@dataclass(frozen=True)
class RecipeSensorsConfig:
    arc_on_a: float = 10.0  # current above which the arc is on (the loader's threshold)


def arc_on_statistics(trace: np.ndarray, arc_on_a: float) -> np.ndarray:
    """(6, T) sensor trace -> the recipe it records (see the module docstring)."""
    trace = np.asarray(trace, dtype=np.float64)
    on = trace[CURRENT] > arc_on_a
    span = trace[:, on] if on.sum() >= 2 else trace
    levels = [c for c in range(len(trace)) if c != WIRE]
    wire_rate = (span[WIRE, -1] - span[WIRE, 0]) / max(span.shape[1] - 1, 1)
    return np.concatenate([np.median(span[levels], 1), span[levels].std(1), [wire_rate, on.mean()]])


class RecipeManifest(Method):
    group = Group.SHORTCUT
    modalities = ("setpoints",)

    def fit(self, train: Inputs, val: Inputs, ctx: FitContext) -> None:
        self.distance = RecipeDistance().fit(train.configs)

    def score(self, inputs: Inputs) -> Scores:
        return Scores(sample=self.distance(inputs.configs))


class RecipeSensors(Method):
    group = Group.SHORTCUT
    modalities = ("sensor",)

    def _stats(self, inputs: Inputs) -> np.ndarray:
        return np.stack([arc_on_statistics(x, self.hp.arc_on_a) for x in inputs["sensor"]])

    def fit(self, train: Inputs, val: Inputs, ctx: FitContext) -> None:
        self.nearest = NearestStandardised().fit(self._stats(train))

    def score(self, inputs: Inputs) -> Scores:
        return Scores(sample=self.nearest(self._stats(inputs)))


class SessionManifest(Method):
    """Unseen recording day (with `recipe` also: or unseen recipe) among the TRAIN normals."""

    group = Group.SHORTCUT
    modalities = ("session",)
    with_recipe = False

    def _keys(self, inputs: Inputs) -> list[tuple]:
        if inputs.sessions is None:
            raise ValueError(f"{type(self).__name__} needs the sessions (declare modality 'session')")
        return [(s, recipe_of(c)) for s, c in zip(inputs.sessions, inputs.configs)]

    def fit(self, train: Inputs, val: Inputs, ctx: FitContext) -> None:
        keys = self._keys(train)
        self.days, self.recipes = {d for d, _ in keys}, {r for _, r in keys}

    def score(self, inputs: Inputs) -> Scores:
        unseen = [d not in self.days or (self.with_recipe and r not in self.recipes)
                  for d, r in self._keys(inputs)]
        return Scores(sample=np.asarray(unseen, dtype=np.float64))


class RecipeSessionManifest(SessionManifest):
    modalities = ("session", "setpoints")
    with_recipe = True


class WeldTypeManifest(Method):
    group = Group.SHORTCUT
    modalities = ("setpoints",)

    def fit(self, train: Inputs, val: Inputs, ctx: FitContext) -> None:
        self.train_types = [c.weld_type for c in train.configs]

    def score(self, inputs: Inputs) -> Scores:
        return Scores(sample=weld_type_rarity(self.train_types, [c.weld_type for c in inputs.configs]))


@dataclass(frozen=True)
class _NoHyperparameters:
    pass


NOTHING_TO_SELECT = "nothing to select (no training): no VAL query"
register_method(
    "recipe_manifest", RecipeManifest, hparams=unchanged(_NoHyperparameters(), NOTHING_TO_SELECT),
    features=(), family="recipe_only", display_name="Recipe from the manifest", row_code="R.1",
    role=Role.REFERENCE,
    summary="suite-defined floor: standardised distance of the manifest recipe to the nearest "
            "TRAIN-normal recipe (no media)")
register_method(
    "recipe_sensors", RecipeSensors, hparams=unchanged(RecipeSensorsConfig(), NOTHING_TO_SELECT),
    features=("sensor",), family="recipe_only", display_name="Recipe from the sensors", row_code="R.2",
    role=Role.REFERENCE,
    summary="suite-defined floor: arc-on sensor statistics, standardised distance to the nearest "
            "TRAIN weld")
register_method(
    "session_manifest", SessionManifest, hparams=unchanged(_NoHyperparameters(), NOTHING_TO_SELECT),
    features=(), family="session_floor", display_name="Session from the manifest", row_code="R.3",
    role=Role.REFERENCE,
    summary="suite-defined floor: 1 if the recording day is no TRAIN normal's day, else 0 (no media)")
register_method(
    "recipe_session_manifest", RecipeSessionManifest,
    hparams=unchanged(_NoHyperparameters(), NOTHING_TO_SELECT), features=(),
    family="session_floor", display_name="Recipe or session from the manifest", row_code="R.4",
    role=Role.REFERENCE,
    summary="suite-defined floor: 1 if the recipe or the recording day is unseen among the TRAIN "
            "normals, else 0 (no media)")
register_method(
    "weld_type_manifest", WeldTypeManifest, hparams=unchanged(_NoHyperparameters(), NOTHING_TO_SELECT),
    features=(), family="weld_type_floor", display_name="Weld type from the manifest", row_code="R.9",
    role=Role.REFERENCE,
    summary="suite-defined floor: how rare the weld type is among the TRAIN normals (no media); "
            "at chance per category like with like, 0.90 on fillet-only categories against every normal")
