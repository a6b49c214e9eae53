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


#: A clustered interval or test needs this many clusters (recording sessions) in each class: with k
#: clusters the cluster bootstrap has C(2k-1, k) distinct resamples of a class (k = 2: 3, 3: 10,
#: 4: 35, 5: 126), so below 5 its percentile interval rests on a handful of values and is far too
#: narrow, and Obuchowski's variance on so few cluster sums is no better. Below it the value is
#: shown without an interval or test, saying why.
MIN_CLUSTERS = 5


def _stratum_masks(strata: Sequence | None, y: np.ndarray) -> list[np.ndarray]:
    """(N,) bool of each stratum that holds both classes (no strata: one stratum of every sample)."""
    if strata is None:
        return [np.ones(y.shape[0], dtype=bool)]
    values = np.asarray([str(v) for v in strata], dtype=object)
    if values.shape[0] != y.shape[0]:
        raise ValueError(f"strata has {values.shape[0]} entries but labels has {y.shape[0]}")
    masks = [values == v for v in np.unique(values)]
    return [m for m in masks if 0 < int(y[m].sum()) < int(m.sum())]


def _stratified_weighted_aurocs(row: np.ndarray, y: np.ndarray, w_pos: np.ndarray, w_neg: np.ndarray,
                                strata: list[np.ndarray]) -> np.ndarray:
    """``_weighted_aurocs`` over the pairs within a stratum only: each stratum's AUROC weighted by
    its (weighted) number of pairs, as ``image.stratified_auroc`` (one stratum: the plain one)."""
    pos_mask = y == 1
    if len(strata) == 1 and strata[0].all():
        return _weighted_aurocs(row[pos_mask], row[~pos_mask], w_pos, w_neg)
    total = np.zeros(w_pos.shape[0])
    pairs = np.zeros(w_pos.shape[0])
    for m in strata:
        wp, wn = w_pos[:, m[pos_mask]], w_neg[:, m[~pos_mask]]
        n_pairs = wp.sum(axis=1) * wn.sum(axis=1)
        auc = _weighted_aurocs(row[m & pos_mask], row[m & ~pos_mask], wp, wn)
        total += np.where(n_pairs > 0, auc * n_pairs, 0.0)
        pairs += n_pairs
    return total / pairs


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


def _cluster_ids(clusters: Sequence | None, n: int) -> np.ndarray | None:
    """(N,) int cluster index of each sample (None: every sample is its own cluster)."""
    if clusters is None:
        return None
    values = np.asarray([str(c) for c in clusters], dtype=object)
    if values.shape[0] != n:
        raise ValueError(f"clusters has {values.shape[0]} entries but labels has {n}")
    return np.unique(values, return_inverse=True)[1]


def _cluster_strata(y: np.ndarray, cid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(clusters holding a defect, clusters of normals only): the two strata a clustered
    bootstrap resamples apart, so that each replicate keeps both classes."""
    with_defect = np.zeros(cid.max() + 1, dtype=bool)
    with_defect[cid[y == 1]] = True
    return np.flatnonzero(with_defect), np.flatnonzero(~with_defect)


def _bootstrap_checks(y: np.ndarray, n_boot: int, level: float, cid: np.ndarray | None = None) -> str | None:
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
    if cid is not None:
        # NOTE: per class, as the clustered DeLong test counts: a session holding both classes
        # varies both in the resamples (a twin without session confounds mixes them in most)
        with_defects, with_normals = np.unique(cid[y == 1]).size, np.unique(cid[y == 0]).size
        if min(with_defects, with_normals) < MIN_CLUSTERS:
            return (f"too few sessions for an interval: the clustered bootstrap needs >= {MIN_CLUSTERS} "
                    f"clusters per class (with normals: {with_normals}, with defects: {with_defects})")
    return None


def _replicate_weights(rng: np.random.Generator, y: np.ndarray, cid: np.ndarray | None,
                       b: int) -> tuple[np.ndarray, np.ndarray]:
    """Multiplicity weights (b, n_pos), (b, n_neg) of `b` stratified replicates: samples drawn
    within each class, or (with clusters) whole clusters drawn within their stratum, each sample
    weighted by how often its cluster was drawn."""
    pos_mask = y == 1
    if cid is None:
        return _multinomial_counts(rng, int(pos_mask.sum()), b), _multinomial_counts(rng, int((~pos_mask).sum()), b)
    weights = np.zeros((b, cid.max() + 1))
    for stratum in _cluster_strata(y, cid):
        weights[:, stratum] = _multinomial_counts(rng, len(stratum), b)
    per_sample = weights[:, cid]
    return per_sample[:, pos_mask], per_sample[:, ~pos_mask]


def _bootstrap_aurocs(y: np.ndarray, row_sets: Sequence[np.ndarray], n_boot: int, seed: int,
                      cid: np.ndarray | None = None, strata: Sequence | None = None) -> list[np.ndarray]:
    """Exact AUROC of every row of each (S, N) set in each of `n_boot` stratified replicates,
    (n_boot, S) per set; every row of every set is scored on the same replicate (paired). With
    cluster ids the replicates resample clusters (a replicate whose drawn clusters hold no normal
    gives NaN, left out of the quantiles). With ``strata`` each replicate's AUROC counts the pairs
    within a stratum only."""
    groups = _stratum_masks(strata, y)
    rng = np.random.default_rng(seed)
    out = [np.empty((n_boot, rows.shape[0])) for rows in row_sets]
    chunk = max(1, min(n_boot, 4_000_000 // y.shape[0]))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        w_pos, w_neg = _replicate_weights(rng, y, cid, b)
        for rows, aucs in zip(row_sets, out):
            for j, row in enumerate(rows):
                with np.errstate(invalid="ignore", divide="ignore"):
                    aucs[start : start + b, j] = _stratified_weighted_aurocs(row, y, w_pos, w_neg, groups)
    return out


def bootstrap_auroc_ci(
    labels: Sequence[int], scores: Any, n_boot: int = 1000, level: float = 0.95, seed: int = 0,
    clusters: Sequence | None = None, strata: Sequence | None = None,
) -> tuple[float, float] | Undefined:
    """Stratified bootstrap percentile interval for the I-AUROC.

    Normals and anomalies are resampled separately (with replacement, keeping both class sizes),
    the AUROC of each replicate is computed exactly (ties count 1/2), and the
    ``(1-level)/2`` and ``1-(1-level)/2`` quantiles are returned. Deterministic for a given seed.
    ``scores`` may be ``(S, N)``: S seeds scored on the same N samples; the interval is then the
    one of the mean I-AUROC over the seeds (each replicate resamples the samples once for all).
    With ``clusters`` ((N,) labels, e.g. the recording session of each weld) the replicates draw
    whole clusters (cluster bootstrap; clusters holding a defect and clusters of normals only are
    drawn apart): samples of one cluster are not independent, and the interval is wider. With
    ``strata`` (e.g. each weld's weld type) the I-AUROC counts the pairs within a stratum only
    (``stratified_auroc``).

    Returns:
        ``(low, high)``, or :class:`Undefined` when a class has fewer than 2 samples (or, with
        clusters, a stratum fewer than 2 clusters): the resampling could not vary it.

    >>> lo, hi = bootstrap_auroc_ci([0] * 20 + [1] * 20, list(range(10, 30)) + list(range(20, 40)), n_boot=200)
    >>> lo < 0.875 < hi
    True
    """
    y = _as_labels(labels)
    rows = _score_rows(scores, y.shape[0])
    cid = _cluster_ids(clusters, y.shape[0])
    reason = _bootstrap_checks(y, n_boot, level, cid)
    if reason is not None:
        return Undefined(reason)
    aucs = _bootstrap_aurocs(y, [rows], n_boot, seed, cid, strata)[0].mean(axis=1)
    return _percentiles(aucs, level)


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1.0 - level) / 2.0
    lo, hi = np.nanquantile(values, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def bootstrap_auroc_diff_ci(
    labels: Sequence[int], scores_a: Any, scores_b: Any, n_boot: int = 1000, level: float = 0.95,
    seed: int = 0, clusters: Sequence | None = None, strata: Sequence | None = None,
) -> tuple[float, float] | Undefined:
    """Paired stratified bootstrap percentile interval of I-AUROC(a) - I-AUROC(b) on the same samples.

    Each replicate resamples the samples once (normals and anomalies separately, as in
    :func:`bootstrap_auroc_ci`) and scores both methods on it, so the interval keeps the pairing
    that the DeLong test uses. ``scores_a`` / ``scores_b`` are ``(N,)`` or ``(S, N)`` (seeds of the
    same samples); a method's I-AUROC is then its mean over its seeds. ``clusters``: as in
    :func:`bootstrap_auroc_ci` (the paired cluster bootstrap); ``strata``: as there.

    >>> lo, hi = bootstrap_auroc_diff_ci([0, 0, 0, 1, 1, 1], [1, 2, 3, 4, 5, 6], [1, 2, 4, 3, 5, 6], n_boot=200)
    >>> 0.0 <= lo <= 1 / 9 <= hi
    True
    """
    y = _as_labels(labels)
    a = _score_rows(scores_a, y.shape[0], "scores_a")
    b = _score_rows(scores_b, y.shape[0], "scores_b")
    cid = _cluster_ids(clusters, y.shape[0])
    reason = _bootstrap_checks(y, n_boot, level, cid)
    if reason is not None:
        return Undefined(reason)
    auc_a, auc_b = _bootstrap_aurocs(y, [a, b], n_boot, seed, cid, strata)
    return _percentiles(auc_a.mean(axis=1) - auc_b.mean(axis=1), level)


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


def _clustered_variance(y: np.ndarray, cid: np.ndarray, d10: np.ndarray, d01: np.ndarray) -> float:
    """Obuchowski's (Biometrics 1997) variance of an AUROC (difference) from the centred
    structural components of each positive (`d10`) and negative (`d01`), summed per cluster:
    I/(I-1) * sum_i [D10_i^2/M^2 + D01_i^2/N^2 + 2 D10_i D01_i/(M N)]."""
    n_clusters = cid.max() + 1
    m, n = d10.size, d01.size
    c10 = np.bincount(cid[y == 1], weights=d10, minlength=n_clusters)
    c01 = np.bincount(cid[y == 0], weights=d01, minlength=n_clusters)
    used = np.unique(cid).size
    total = (c10 / m) ** 2 + (c01 / n) ** 2 + 2 * c10 * c01 / (m * n)
    return float(used / (used - 1) * total.sum()) if used > 1 else float("nan")


def delong_test(labels: Sequence[int], scores_a: Sequence[float], scores_b: Sequence[float],
                clusters: Sequence | None = None, strata: Sequence | None = None) -> dict:
    """Paired DeLong test for the difference of two correlated I-AUROCs on the same samples.

    Uses the fast midrank algorithm (Sun & Xu, IEEE SPL 2014), O(n log n). With ``clusters``
    ((N,) labels, e.g. each weld's recording session) the variance is Obuchowski's clustered one
    (Biometrics 53, 1997): the structural components are summed per cluster, so welds of one
    cluster count as one draw; with one sample per cluster it is DeLong's up to a factor
    I/(I-1) against (n-1)/n per class. With ``strata`` (e.g. the weld type of each weld) each
    I-AUROC counts the pairs within a stratum only (``stratified_auroc``): the strata are
    independent, so the variance of the difference is the sum of each stratum's, weighted by the
    square of its share of the pairs (clusters nested in strata).

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
    cid = _cluster_ids(clusters, y.shape[0])
    groups = _stratum_masks(strata, y)
    if not groups:
        u = Undefined("no stratum holds both normal and anomalous samples")
        return {k: u for k in keys}
    parts = []
    for m in groups:
        part = _delong_stratum(y[m], a[m], b[m], None if cid is None else cid[m])
        if isinstance(part, Undefined):
            return {k: part for k in keys}
        parts.append(part)
    pairs = np.array([p[3] for p in parts], dtype=np.float64)
    share = pairs / pairs.sum()
    auc_a = float(np.dot(share, [p[0] for p in parts]))
    auc_b = float(np.dot(share, [p[1] for p in parts]))
    diff = auc_a - auc_b
    var = float(np.dot(share ** 2, [p[2] for p in parts]))
    if var <= 0.0 or not np.isfinite(var):
        if diff == 0.0:
            z, p = 0.0, 1.0
        else:
            z, p = math.copysign(math.inf, diff), 0.0
    else:
        z = diff / math.sqrt(var)
        p = float(2.0 * stats.norm.sf(abs(z)))
    return {"auroc_a": auc_a, "auroc_b": auc_b, "diff": diff, "z": float(z), "p_value": p}


def _delong_stratum(y: np.ndarray, a: np.ndarray, b: np.ndarray,
                    cid: np.ndarray | None) -> tuple[float, float, float, int] | Undefined:
    """(AUROC a, AUROC b, variance of their difference, number of pairs) of one stratum, or why
    the variance cannot be had."""
    pos_mask = y == 1
    if min(int(pos_mask.sum()), int((~pos_mask).sum())) < 2:
        return Undefined(f"DeLong variance needs >= 2 samples per class (normal={int((~pos_mask).sum())}, "
                         f"anomalous={int(pos_mask.sum())})")
    if cid is not None:
        cid = np.unique(cid, return_inverse=True)[1]
        n_pos_clusters, n_neg_clusters = np.unique(cid[pos_mask]).size, np.unique(cid[~pos_mask]).size
        if min(n_pos_clusters, n_neg_clusters) < MIN_CLUSTERS:
            return Undefined(f"too few sessions for a test: the clustered DeLong variance needs >= "
                             f"{MIN_CLUSTERS} clusters per class (with normals: {n_neg_clusters}, with "
                             f"defects: {n_pos_clusters})")
    auc_a, v10_a, v01_a = _delong_components(a[pos_mask], a[~pos_mask])
    auc_b, v10_b, v01_b = _delong_components(b[pos_mask], b[~pos_mask])
    m, n = v10_a.size, v01_a.size
    diff = auc_a - auc_b
    if cid is None:
        # var(A - B) = var(V10_a - V10_b)/m + var(V01_a - V01_b)/n  (sample variances, ddof=1)
        var = float(np.var(v10_a - v10_b, ddof=1)) / m + float(np.var(v01_a - v01_b, ddof=1)) / n
    else:
        var = _clustered_variance(y, cid, (v10_a - v10_b) - diff, (v01_a - v01_b) - diff)
    return auc_a, auc_b, var, m * n
