"""Results to and from JSON: Undefined round-trips as ``{"value": None, "reason": ...}``."""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._base import Undefined


def to_jsonable(obj: Any) -> Any:
    """Recursively convert results for ``json.dump``.

    :class:`Undefined` -> ``{"value": None, "reason": ...}``; numpy scalars/arrays -> Python
    numbers/lists; tuples -> lists; mapping keys -> ``str``; NaN/inf floats -> an Undefined form.

    >>> to_jsonable({"I-AUROC": np.float64(0.5), "P-AUROC": Undefined("no masks")})
    {'I-AUROC': 0.5, 'P-AUROC': {'value': None, 'reason': 'no masks'}}
    """
    if isinstance(obj, Undefined):
        return {"value": None, "reason": obj.reason}
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        f = float(obj)
        if not math.isfinite(f):
            return {"value": None, "reason": f"non-finite value {f}"}
        return f
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def from_jsonable(obj: Any) -> Any:
    """Inverse of :func:`to_jsonable` for Undefined: ``{"value": None, "reason": r}`` -> ``Undefined(r)``.

    >>> from_jsonable({"a": {"value": None, "reason": "one class"}})
    {'a': Undefined(reason='one class')}
    """
    if isinstance(obj, Mapping):
        if set(obj.keys()) == {"value", "reason"} and obj["value"] is None:
            return Undefined(str(obj["reason"]))
        return {k: from_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_jsonable(v) for v in obj]
    return obj
