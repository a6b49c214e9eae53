"""The weld recipe: the set-points a weld was made with, and the shortcut it opens.

Weld-4M's defects were produced by changing the recipe (plate, current, voltage, gas, speed): every
Good weld is on a 7 mm plate, every Burnthrough on a 3 mm one, Porosity was welded without gas, and
so on. A detector that reads only the recipe therefore ranks most defects well without judging the
weld. This module declares the recipe key once (`RECIPE_KEY`), finds the *recipe-matched* samples
(defects welded with a recipe that TRAIN normals also used: only there must a method see the weld
itself), and gives the recipe-only score: the standardised distance of a weld's recipe to the
nearest TRAIN-normal recipe.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import astuple, fields
from importlib import resources

import numpy as np

from .sample import WeldConfig

# The recipe: every field of the weld configuration (weld type, plate thickness, steel, current,
# voltage, gas, robot speed). Stored with every result that uses it.
RECIPE_KEY: tuple[str, ...] = tuple(f.name for f in fields(WeldConfig))
CATEGORICAL = ("weld_type", "steel_type")
# The twin's recipes per category: derived from the published manifest (category, recipe, count;
# no run ids, no splits) by scripts/derive_twin_recipes.py.
TWIN_RECIPES_FILE = "weld4m_recipes.csv"


def recipe_of(config: WeldConfig) -> tuple:
    return astuple(config)


def recipe_matched(train_normals: Iterable[WeldConfig], configs: Sequence[WeldConfig]) -> np.ndarray:
    """(N,) bool: the recipe of each config occurs among the TRAIN normals' recipes."""
    known = {recipe_of(c) for c in train_normals}
    return np.array([recipe_of(c) in known for c in configs], dtype=bool)


class NearestStandardised:
    """Euclidean distance to the nearest TRAIN vector after z-scoring every column with TRAIN
    statistics (a column constant in TRAIN keeps its raw unit)."""

    def fit(self, train: np.ndarray) -> "NearestStandardised":
        train = np.asarray(train, dtype=np.float64)
        self.mean = train.mean(0)
        std = train.std(0)
        self.std = np.where(std > 0, std, 1.0)
        self.bank = np.unique((train - self.mean) / self.std, axis=0)
        return self

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = (np.asarray(x, dtype=np.float64) - self.mean) / self.std
        return np.sqrt(((z[:, None, :] - self.bank[None]) ** 2).sum(-1)).min(1)


class RecipeDistance:
    """Standardised distance of a recipe to the nearest TRAIN-normal recipe: each recipe is a
    vector (one-hot weld type and steel over the values seen in TRAIN; thickness, current,
    voltage, gas, speed) scored by `NearestStandardised`. Such a constant column is the
    thickness of Weld-4M's normals (all 7 mm): a 3 mm plate sits 4 units away."""

    def fit(self, train: Sequence[WeldConfig]) -> "RecipeDistance":
        self.values = {k: sorted({getattr(c, k) for c in train}) for k in CATEGORICAL}
        self.nearest = NearestStandardised().fit(self._encode(train))
        return self

    def _encode(self, configs: Sequence[WeldConfig]) -> np.ndarray:
        rows = []
        for c in configs:
            row = [float(getattr(c, k) == v) for k in CATEGORICAL for v in self.values[k]]
            row += [float(getattr(c, k)) for k in RECIPE_KEY if k not in CATEGORICAL]
            rows.append(row)
        return np.asarray(rows, dtype=np.float64)

    def __call__(self, configs: Sequence[WeldConfig]) -> np.ndarray:
        return self.nearest(self._encode(configs))


def twin_recipes() -> list[dict]:
    """The per-category recipe table of Weld-4M that the synthetic twin draws from."""
    import csv

    text = resources.files("benchmark.data").joinpath(TWIN_RECIPES_FILE).read_text()
    rows = list(csv.DictReader(text.splitlines()))
    for r in rows:
        r["N"] = int(r["N"])
    return rows
