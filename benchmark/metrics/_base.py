"""What every metric returns and reads: Undefined values, metric directions, label/score checks."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Union

import numpy as np


# ----------------------------------------------------------------------------------------------
# Undefined values and metric directions
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Undefined:
    """A metric value that cannot be computed, with the reason why.

    It is falsy, so ``value or default`` style code never mistakes it for a number, and it
    serialises (via ``benchmark.results.store.to_jsonable``) as ``{"value": None, "reason": reason}``.

    >>> u = Undefined("only normal samples (n=3)")
    >>> bool(u), str(u)
    (False, 'n/a (only normal samples (n=3))')
    """

    reason: str

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        return f"n/a ({self.reason})"


MetricValue = Union[float, Undefined]

_AUPRO_KEY_RE = re.compile(r"^P-AUPRO@[0-9.eE+-]+%$")


class _Directions(dict):
    """``dict`` of metric name -> higher-is-better, which also answers any ``P-AUPRO@<x>%`` key."""

    def __missing__(self, key: str) -> bool:
        if isinstance(key, str) and _AUPRO_KEY_RE.match(key):
            return True
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key) or (isinstance(key, str) and bool(_AUPRO_KEY_RE.match(key)))


#: Metric name -> True when a higher value is better. Every P-AUPRO@<limit>% key (any limit) is
#: answered too. "I-F1max-threshold" is deliberately absent: it is an operating point, not a score
#: to rank methods by.
HIGHER_IS_BETTER: dict[str, bool] = _Directions(
    {
        "I-AUROC": True,
        "I-AP": True,
        "I-F1max": True,
        "P-AUROC": True,
        "P-AUPRO@30%": True,
        "P-AUPRO@1%": True,
    }
)


def aupro_key(fpr_limit: float) -> str:
    """Result key for the AU-PRO at ``fpr_limit``.

    >>> aupro_key(0.3), aupro_key(0.01), aupro_key(0.05)
    ('P-AUPRO@30%', 'P-AUPRO@1%', 'P-AUPRO@5%')
    """
    return f"P-AUPRO@{fpr_limit * 100:g}%"


# ----------------------------------------------------------------------------------------------
# Input validation helpers
# ----------------------------------------------------------------------------------------------
def _as_labels(labels: Any) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if arr.dtype == bool:
        return arr.astype(np.int8)
    if arr.size and not np.isin(arr, (0, 1)).all():
        raise ValueError(f"labels must be 0/1 (got values {np.unique(arr)[:10].tolist()})")
    return arr.astype(np.int8)


def _as_scores(scores: Any, n: int | None = None, name: str = "scores") -> np.ndarray:
    arr = np.asarray(scores, dtype=np.float64).reshape(-1)
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} entries but labels has {n}")
    if arr.size and not np.isfinite(arr).all():
        raise ValueError(f"{name} contain NaN or infinite values")
    return arr


def _one_class_reason(labels: np.ndarray) -> str | None:
    n = labels.shape[0]
    if n == 0:
        return "no samples"
    n_pos = int(labels.sum())
    if n_pos == 0:
        return f"only normal samples (n={n})"
    if n_pos == n:
        return f"only anomalous samples (n={n})"
    return None
