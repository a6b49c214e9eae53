"""The confounds of Weld-4M: what decides a weld's label without the weld being looked at.

Two are declared, each with the subset of TEST where it cannot give the answer:

* the **recipe** (`benchmark.data.recipes.RECIPE_KEY`): the defects were made by changing the
  weld's set-points and plate;
* the **session** (`session_of`): the defects were recorded in their own sessions. Every
  configuration folder holds one category and most recording days produced only Good or only
  defective welds, so anything a session leaves in the media (lighting, camera pose, plate batch,
  ambient noise, sensor offsets) is a near-label. The session is the recording day, the first
  eight characters of the run id (`MM-DD-YY`, printed on the label of every photo); where no day
  can be parsed, the configuration folder.

A third, the **weld type**, needs no subset: four categories exist on fillet joints only and five
on non-fillet ones only, so a category compared with every normal is also a comparison of weld
types. Every per-category value is therefore taken like with like (`benchmark.metrics.evaluate`,
``strata``), and `weld_type_rarity` is the label-free detector that measures how far the weld type
alone goes when it is not.

A TEST defect is *matched* on a confound when some TRAIN normal shares its value: there the
confound does not separate it from the normals. The *both-matched* subset (recipe and session
shared with TRAIN normals) is the confound-free one. Every subset keeps all TEST normals.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from .recipes import recipe_of
from .sample import Sample, WeldConfig

#: Stored with every result: what the session of a weld is.
SESSION_KEY = "recording day (run id MM-DD-YY), else the configuration folder"
_DAY = re.compile(r"^(\d{2})-(\d{2})-(\d{2})(?=-)")

#: The TEST subsets every unit is evaluated on (name -> which confounds a defect must share with
#: TRAIN normals to be in it). `both_matched` is the confound-free column of the tables.
SUBSETS: dict[str, tuple[str, ...]] = {
    "recipe_matched": ("recipe",),
    "session_matched": ("session",),
    "both_matched": ("recipe", "session"),
}
CONFOUNDS = ("recipe", "session")


def session_of(run_id: str, folder: str) -> str:
    """The recording session of a weld: its day `MM-DD-YY` from the run id, else its folder."""
    m = _DAY.match(run_id)
    if m:
        try:
            datetime.strptime(m.group(0), "%m-%d-%y")
            return m.group(0)
        except ValueError:
            pass  # not a calendar day: fall back to the folder
    return f"folder:{folder}"


def sample_session(sample: Sample) -> str:
    return session_of(sample.id, sample.directory.parent.name)


def _value(confound: str, config: WeldConfig, session: str):
    return recipe_of(config) if confound == "recipe" else session


def unseen(confound: str, train: Sequence[tuple[WeldConfig, str]],
           items: Sequence[tuple[WeldConfig, str]]) -> np.ndarray:
    """(N,) bool: the item's value of `confound` occurs in no TRAIN normal."""
    known = {_value(confound, c, s) for c, s in train}
    return np.array([_value(confound, c, s) not in known for c, s in items], dtype=bool)


def matched_subsets(train: Sequence[tuple[WeldConfig, str]], items: Sequence[tuple[WeldConfig, str]],
                    labels: Sequence[int]) -> dict[str, np.ndarray]:
    """{subset name: (N,) bool}: every normal, and the defects that share each of the subset's
    confounds with some TRAIN normal. `train` and `items` are (configuration, session) pairs."""
    seen = {c: ~unseen(c, train, items) for c in CONFOUNDS}
    normal = np.asarray(labels) == 0
    return {name: normal | np.logical_and.reduce([seen[c] for c in confounds])
            for name, confounds in SUBSETS.items()}


def weld_type_rarity(train_types: Sequence[str], types: Sequence[str]) -> np.ndarray:
    """(N,) how rare each weld's type is among the TRAIN normals: 1 - its share of them (a type no
    TRAIN normal has scores 1). Label-free: what a density model that finds one weld type rarer
    gives by that alone.

    >>> weld_type_rarity(["FILLET", "NON_FILLET", "NON_FILLET", "NON_FILLET"], ["FILLET", "NON_FILLET"])
    array([0.75, 0.25])
    """
    train_types = list(train_types)
    share = {t: train_types.count(t) / len(train_types) for t in set(train_types)}
    return np.array([1.0 - share.get(t, 0.0) for t in types], dtype=np.float64)


def pairs(samples: Sequence[Sample]) -> list[tuple[WeldConfig, str]]:
    return [(s.config, sample_session(s)) for s in samples]
