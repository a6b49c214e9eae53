"""Recipe-only baselines: read nothing but the weld recipe, the floor of the recipe shortcut.

Weld-4M's defects were produced by changing the weld recipe (plate, current, voltage, gas, robot
speed; `benchmark/data/recipes.py`), and the sensors record it. These two suite-defined rows show
how far that shortcut goes; every other method must be read against them, overall and on the
recipe-matched TEST subset (defects welded with a recipe that TRAIN normals also used), where a
recipe reader is at chance by construction.

* `recipe_manifest` (the oracle of the shortcut): the manifest's set-points and plate
  (`Inputs.configs`, no media); score = standardised distance to the nearest TRAIN recipe.
* `recipe_sensors` (the same idea from the measured stream): per channel, statistics of the
  arc-on segment (current > 10 A) of the sensor trace: median and standard deviation of
  pressure, gas flow, wire feed, current and voltage, the wire-consumption rate (the channel is
  cumulative), and the arc-on share of the trace (the weld length is fixed, so it reads the robot
  speed); score = standardised distance to the nearest TRAIN weld. A trace whose current never
  exceeds the threshold is summarised whole.

No training, nothing to select, no VAL query. Suite-defined: no paper, no licence.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.data.recipes import NearestStandardised, RecipeDistance
from benchmark.data.sample import SENSOR_CHANNELS
from benchmark.method import FitContext, Group, Inputs, Method, Scores, register_method, unchanged

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
    group = Group.RECIPE
    modalities = ("setpoints",)

    def fit(self, train: Inputs, val: Inputs, ctx: FitContext) -> None:
        self.distance = RecipeDistance().fit(train.configs)

    def score(self, inputs: Inputs) -> Scores:
        return Scores(sample=self.distance(inputs.configs))


class RecipeSensors(Method):
    group = Group.RECIPE
    modalities = ("sensor",)

    def _stats(self, inputs: Inputs) -> np.ndarray:
        return np.stack([arc_on_statistics(x, self.hp.arc_on_a) for x in inputs["sensor"]])

    def fit(self, train: Inputs, val: Inputs, ctx: FitContext) -> None:
        self.nearest = NearestStandardised().fit(self._stats(train))

    def score(self, inputs: Inputs) -> Scores:
        return Scores(sample=self.nearest(self._stats(inputs)))


@dataclass(frozen=True)
class _NoHyperparameters:
    pass


NOTHING_TO_SELECT = "nothing to select (no training): no VAL query"
register_method(
    "recipe_manifest", RecipeManifest, hparams=unchanged(_NoHyperparameters(), NOTHING_TO_SELECT),
    features=(), family="recipe_only", display_name="Recipe from the manifest", row_code="R.1",
    summary="suite-defined floor: standardised distance of the manifest recipe to the nearest "
            "TRAIN-normal recipe (no media)")
register_method(
    "recipe_sensors", RecipeSensors, hparams=unchanged(RecipeSensorsConfig(), NOTHING_TO_SELECT),
    features=("sensor",), family="recipe_only", display_name="Recipe from the sensors", row_code="R.2",
    summary="suite-defined floor: arc-on sensor statistics, standardised distance to the nearest "
            "TRAIN weld")
