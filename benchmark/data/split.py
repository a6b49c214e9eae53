"""The split protocol: unsupervised anomaly detection trains on normal welds only.

The published Weld-4M split (TRAIN 576 / VAL 1732 / TEST 1732) is a seeded shuffle of samples:
TRAIN holds 576 of the 819 Good welds and nothing else; the remaining Good welds and every
defective weld go to VAL or TEST. `derive_split` reproduces that protocol for data that comes
without a split (the synthetic twin, a user's subset): the same TRAIN share of the normals, and
an even VAL/TEST split *per category* so every defect type is evaluated on both sides.
"""
from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Iterable

import numpy as np
import pandas as pd

from .sample import Sample

NORMAL_CATEGORY = "Good"
PUBLISHED_TRAIN_NORMALS = 576
PUBLISHED_NORMALS = 819
TRAIN_NORMAL_SHARE = PUBLISHED_TRAIN_NORMALS / PUBLISHED_NORMALS


class ProtocolError(ValueError):
    """A split breaks the protocol (e.g. a defective sample in TRAIN)."""


def derive_split(samples_or_manifest: Iterable[Sample] | pd.DataFrame, seed: int) -> dict[str, str]:
    """{key: "TRAIN" | "VAL" | "TEST"}, deterministic from `seed` and the set of keys.

    Keys are Sample ids for Samples, SUBDIRS (`<configuration>/<run id>`) for manifest rows.
    TRAIN takes round(576/819 * n_normal) normals; within every category the rest is shuffled
    and halved between VAL and TEST. Where a category has an odd count, the spare sample goes
    alternately to VAL and TEST (Good first, then the defects in sorted order; first to VAL),
    which keeps the two totals within one sample of each other (on the full data: 1732 / 1732,
    VAL holding 122 Good).
    """
    by_category = _keys_by_category(samples_or_manifest)
    assignment: dict[str, str] = {}
    spare_to_val = True
    # Normals first, so that on the full data VAL receives the spare Good weld (122 / 121).
    for category in sorted(by_category, key=lambda c: (c != NORMAL_CATEGORY, c)):
        keys = _shuffled(by_category[category], seed, category)
        if category == NORMAL_CATEGORY:
            n_train = round(TRAIN_NORMAL_SHARE * len(keys))
            assignment.update(dict.fromkeys(keys[:n_train], "TRAIN"))
            keys = keys[n_train:]
        n_val = len(keys) // 2
        if len(keys) % 2:
            n_val += int(spare_to_val)
            spare_to_val = not spare_to_val
        assignment.update(dict.fromkeys(keys[:n_val], "VAL"))
        assignment.update(dict.fromkeys(keys[n_val:], "TEST"))
    return assignment


def assert_train_normal(samples: Iterable[Sample] | pd.DataFrame) -> None:
    """Raise ProtocolError naming every defective sample that sits in TRAIN."""
    offenders = [key for key, category, split in _records(samples)
                 if split == "TRAIN" and category != NORMAL_CATEGORY]
    if offenders:
        shown = ", ".join(offenders[:10]) + (f" (+{len(offenders) - 10} more)"
                                             if len(offenders) > 10 else "")
        raise ProtocolError(f"TRAIN must hold normal ({NORMAL_CATEGORY}) samples only; "
                            f"{len(offenders)} defective sample(s) in TRAIN: {shown}")


def _records(items: Iterable[Sample] | pd.DataFrame) -> list[tuple[str, str, str]]:
    """(key, category, split) for Samples or manifest rows."""
    if isinstance(items, pd.DataFrame):
        splits = items["SPLIT"] if "SPLIT" in items else [""] * len(items)
        return list(zip(items["SUBDIRS"], items["CATEGORY"], splits))
    return [(s.id, s.category, s.split) for s in items]


def _keys_by_category(items: Iterable[Sample] | pd.DataFrame) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    seen: set[str] = set()
    for key, category, _ in _records(items):
        if key in seen:
            raise ProtocolError(f"duplicate sample key {key!r}: a split needs unique keys")
        seen.add(key)
        groups[category].append(key)
    return groups


def _shuffled(keys: list[str], seed: int, category: str) -> list[str]:
    # One generator per (seed, category), fed sorted keys: a category's assignment depends
    # neither on input order nor on which other categories are present.
    rng = np.random.default_rng([int(seed) % 2**63, zlib.crc32(category.encode())])  # any int seed
    ordered = sorted(keys)
    return [ordered[i] for i in rng.permutation(len(ordered))]
