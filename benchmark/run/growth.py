"""How a stage's cost grows with the number of welds n: one coefficient per form (`FORMS`), fitted
to measured (n, seconds) points, the form with the smallest residual kept; and peak memory as a
fixed part plus a part per weld. `scripts/bench_scale.py` fits them, `benchmark.run.cost` projects
with them.

>>> fit_growth([10, 20, 40], [1.0, 4.0, 16.0]).form
'quadratic'
>>> round(fit_growth([10, 20, 40], [1.0, 2.0, 4.0]).at(4040), 1)
404.0
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

FORMS: dict[str, Callable[[float], float]] = {
    "linear": lambda n: n,
    "n log n": lambda n: n * math.log(n),
    "quadratic": lambda n: n * n,
}


@dataclass(frozen=True)
class Growth:
    form: str  # a key of FORMS
    coefficient: float  # seconds = coefficient * FORMS[form](n)
    residual: float = 0.0  # relative root-mean-square residual of the fit

    def at(self, n: float) -> float:
        return self.coefficient * FORMS[self.form](max(n, 1))


def fit_form(form: str, sizes: Sequence[float], seconds: Sequence[float]) -> Growth:
    """The coefficient of one form, by least squares on the relative error.

    NOTE: relative, not absolute: sizes span 4x or more, and an absolute fit would let the
    largest size decide alone."""
    f = FORMS[form]
    pairs = [(f(max(n, 1)) / y, y) for n, y in zip(sizes, seconds) if y > 0]
    if not pairs:
        return Growth(form, 0.0, 0.0)
    ratio = [r for r, _ in pairs]
    coefficient = sum(ratio) / sum(r * r for r in ratio)
    residual = math.sqrt(sum((1 - coefficient * r) ** 2 for r in ratio) / len(ratio))
    return Growth(form, coefficient, residual)


def fit_growth(sizes: Sequence[float], seconds: Sequence[float]) -> Growth:
    """The form (of `FORMS`) that fits the timings best; ties go to the slower-growing form."""
    if len(sizes) != len(seconds) or len(set(sizes)) < 2:
        raise ValueError(f"a growth fit needs timings at two sizes or more, got sizes {list(sizes)}")
    fits = [fit_form(form, sizes, seconds) for form in FORMS]
    return min(fits, key=lambda g: g.residual)


@dataclass(frozen=True)
class MemoryGrowth:
    fixed: float  # bytes at no weld (the process, its libraries and models)
    per_weld: float  # bytes each weld adds (0 where memory stays flat)

    def at(self, n: float) -> float:
        return self.fixed + self.per_weld * n


def fit_memory(sizes: Sequence[float], peak: Sequence[float]) -> MemoryGrowth:
    """Peak memory as fixed + per_weld * n (least squares; a part per weld below 0, which only
    noise makes, is taken as flat)."""
    n = len(sizes)
    if n == 0:
        return MemoryGrowth(0.0, 0.0)
    mean_x, mean_y = sum(sizes) / n, sum(peak) / n
    var = sum((x - mean_x) ** 2 for x in sizes)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(sizes, peak)) / var if var else 0.0
    if slope <= 0:
        return MemoryGrowth(max(peak), 0.0)
    return MemoryGrowth(mean_y - slope * mean_x, slope)
