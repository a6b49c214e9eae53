"""Uncertainty of the I-AUROC: stratified bootstrap intervals (of one I-AUROC and of a paired
difference), paired DeLong test."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from ._base import Undefined, _as_labels, _as_scores, _one_class_reason


# ----------------------------------------------------------------------------------------------
# Uncertainty
# ----------------------------------------------------------------------------------------------
def _weighted_aurocs(pos: np.ndarray, neg: np.ndarray, w_pos: np.ndarray, w_neg: np.ndarray) -> np.ndarray:
    """AUROC of each row of multiplicity weights (B, n_pos) / (B, n_neg) (ties count 1/2).

    Equals ``roc_auc_score`` on the data set where sample i is repeated ``w[i]`` times.
    """
    order = np.argsort(neg, kind="stable")
    neg_sorted = neg[order]
    lo = np.searchsorted(neg_sorted, pos, side="left")  # negatives strictly below
    hi = np.searchsorted(neg_sorted, pos, side="right")  # negatives below or equal
    w_neg = np.asarray(w_neg, dtype=np.float64)[:, order]
    cum = np.zeros((w_neg.shape[0], w_neg.shape[1] + 1))
    np.cumsum(w_neg, axis=1, out=cum[:, 1:])
    credit = 0.5 * (cum[:, lo] + cum[:, hi])  # (B, n_pos)
    w_pos = np.asarray(w_pos, dtype=np.float64)
    return np.einsum("bi,bi->b", w_pos, credit) / (w_pos.sum(axis=1) * w_neg.sum(axis=1))


def _multinomial_counts(rng: np.random.Generator, n: int, b: int) -> np.ndarray:
    idx = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
    return np.bincount(idx.ravel(), minlength=b * n).reshape(b, n)


def _score_rows(scores: Any, n: int, name: str = "scores") -> np.ndarray:
    """Scores as rows (S, N): one row per seed of the same N samples ((N,) gives one row)."""
    if np.ndim(scores) <= 1:
        return _as_scores(scores, n, name)[None]
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != n or arr.shape[0] == 0:
        raise ValueError(f"{name} must be (N,) or (seeds, N) with N={n}, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contain NaN or infinite values")
    return arr


def _bootstrap_checks(y: np.ndarray, n_boot: int, level: float) -> str | None:
    """Why the stratified bootstrap cannot run on these labels (None: it can)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    reason = _one_class_reason(y)
    if reason is not None:
        return reason
    n_pos = int(y.sum())
    if n_pos < 2 or y.shape[0] - n_pos < 2:
        return f"bootstrap needs >= 2 samples per class (normal={y.shape[0] - n_pos}, anomalous={n_pos})"
    return None


def _bootstrap_aurocs(y: np.ndarray, row_sets: Sequence[np.ndarray], n_boot: int, seed: int) -> list[np.ndarray]:
    """Exact AUROC of every row of each (S, N) set in each of `n_boot` stratified replicates,
    (n_boot, S) per set; every row of every set is scored on the same replicate (paired)."""
    pos_mask = y == 1
    n_pos, n_neg = int(pos_mask.sum()), int((~pos_mask).sum())
    rng = np.random.default_rng(seed)
    out = [np.empty((n_boot, rows.shape[0])) for rows in row_sets]
    chunk = max(1, min(n_boot, 4_000_000 // (n_pos + n_neg)))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        w_pos = _multinomial_counts(rng, n_pos, b)
        w_neg = _multinomial_counts(rng, n_neg, b)
        for rows, aucs in zip(row_sets, out):
            for j, row in enumerate(rows):
                aucs[start : start + b, j] = _weighted_aurocs(row[pos_mask], row[~pos_mask], w_pos, w_neg)
    return out


def bootstrap_auroc_ci(
    labels: Sequence[int], scores: Any, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float] | Undefined:
    """Stratified bootstrap percentile interval for the I-AUROC.

    Normals and anomalies are resampled separately (with replacement, keeping both class sizes),
    the AUROC of each replicate is computed exactly (ties count 1/2), and the
    ``(1-level)/2`` and ``1-(1-level)/2`` quantiles are returned. Deterministic for a given seed.
    ``scores`` may be ``(S, N)``: S seeds scored on the same N samples; the interval is then the
    one of the mean I-AUROC over the seeds (each replicate resamples the samples once for all).

    Returns:
        ``(low, high)``, or :class:`Undefined` when a class has fewer than 2 samples (the
        resampling could not vary that class).

    >>> lo, hi = bootstrap_auroc_ci([0] * 20 + [1] * 20, list(range(10, 30)) + list(range(20, 40)), n_boot=200)
    >>> lo < 0.875 < hi
    True
    """
    y = _as_labels(labels)
    rows = _score_rows(scores, y.shape[0])
    reason = _bootstrap_checks(y, n_boot, level)
    if reason is not None:
        return Undefined(reason)
    aucs = _bootstrap_aurocs(y, [rows], n_boot, seed)[0].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(aucs, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def bootstrap_auroc_diff_ci(
    labels: Sequence[int], scores_a: Any, scores_b: Any, n_boot: int = 1000, level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float] | Undefined:
    """Paired stratified bootstrap percentile interval of I-AUROC(a) - I-AUROC(b) on the same samples.

    Each replicate resamples the samples once (normals and anomalies separately, as in
    :func:`bootstrap_auroc_ci`) and scores both methods on it, so the interval keeps the pairing
    that the DeLong test uses. ``scores_a`` / ``scores_b`` are ``(N,)`` or ``(S, N)`` (seeds of the
    same samples); a method's I-AUROC is then its mean over its seeds.

    >>> lo, hi = bootstrap_auroc_diff_ci([0, 0, 0, 1, 1, 1], [1, 2, 3, 4, 5, 6], [1, 2, 4, 3, 5, 6], n_boot=200)
    >>> 0.0 <= lo <= 1 / 9 <= hi
    True
    """
    y = _as_labels(labels)
    a = _score_rows(scores_a, y.shape[0], "scores_a")
    b = _score_rows(scores_b, y.shape[0], "scores_b")
    reason = _bootstrap_checks(y, n_boot, level)
    if reason is not None:
        return Undefined(reason)
    auc_a, auc_b = _bootstrap_aurocs(y, [a, b], n_boot, seed)
    diffs = auc_a.mean(axis=1) - auc_b.mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(diffs, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def _delong_components(pos: np.ndarray, neg: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUROC and DeLong structural components V10 (per positive) and V01 (per negative).

    Midrank formulation of Sun & Xu (2014), O(n log n).
    """
    m, n = pos.size, neg.size
    tz = stats.rankdata(np.concatenate([pos, neg]), method="average")
    tx = stats.rankdata(pos, method="average")
    ty = stats.rankdata(neg, method="average")
    v10 = (tz[:m] - tx) / n  # share of negatives below each positive (ties 1/2)
    v01 = 1.0 - (tz[m:] - ty) / m  # share of positives above each negative (ties 1/2)
    return float(v10.mean()), v10, v01


def delong_test(labels: Sequence[int], scores_a: Sequence[float], scores_b: Sequence[float]) -> dict:
    """Paired DeLong test for the difference of two correlated I-AUROCs on the same samples.

    Uses the fast midrank algorithm (Sun & Xu, IEEE SPL 2014), O(n log n).

    Returns:
        ``{"auroc_a", "auroc_b", "diff" (= a - b), "z", "p_value" (two-sided)}``. When the
        variance of the difference is 0 (e.g. identical scores) and the difference is 0, z = 0 and
        p = 1; when it is 0 and the difference is not, z = +-inf and p = 0. With fewer than 2
        samples in a class every value is :class:`Undefined`.

    >>> r = delong_test([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4])
    >>> r["diff"], r["p_value"]
    (0.0, 1.0)
    """
    y = _as_labels(labels)
    a = _as_scores(scores_a, y.shape[0], "scores_a")
    b = _as_scores(scores_b, y.shape[0], "scores_b")
    keys = ("auroc_a", "auroc_b", "diff", "z", "p_value")
    reason = _one_class_reason(y)
    if reason is not None:
        u = Undefined(reason)
        return {k: u for k in keys}
    pos_mask = y == 1
    if min(int(pos_mask.sum()), int((~pos_mask).sum())) < 2:
        u = Undefined(
            f"DeLong variance needs >= 2 samples per class (normal={int((~pos_mask).sum())}, "
            f"anomalous={int(pos_mask.sum())})"
        )
        return {k: u for k in keys}
    auc_a, v10_a, v01_a = _delong_components(a[pos_mask], a[~pos_mask])
    auc_b, v10_b, v01_b = _delong_components(b[pos_mask], b[~pos_mask])
    m, n = v10_a.size, v01_a.size
    # var(A - B) = var(V10_a - V10_b)/m + var(V01_a - V01_b)/n  (sample variances, ddof=1)
    var10 = float(np.var(v10_a - v10_b, ddof=1))
    var01 = float(np.var(v01_a - v01_b, ddof=1))
    var = var10 / m + var01 / n
    diff = auc_a - auc_b
    if var <= 0.0 or not np.isfinite(var):
        if diff == 0.0:
            z, p = 0.0, 1.0
        else:
            z, p = math.copysign(math.inf, diff), 0.0
    else:
        z = diff / math.sqrt(var)
        p = float(2.0 * stats.norm.sf(abs(z)))
    return {"auroc_a": auc_a, "auroc_b": auc_b, "diff": diff, "z": float(z), "p_value": p}
