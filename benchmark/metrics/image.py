"""Image-level metrics: I-AUROC, I-AP, I-F1max (and its threshold)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from ._base import MetricValue, Undefined, _as_labels, _as_scores, _one_class_reason


# ----------------------------------------------------------------------------------------------
# Image level
# ----------------------------------------------------------------------------------------------
IMAGE_KEYS = ("I-AUROC", "I-AP", "I-F1max", "I-F1max-threshold")


def like_with_like(categories: Sequence[str], strata: Sequence | None, category: str,
                   normal_category: str = "Good") -> np.ndarray:
    """(N,) bool: the samples of `category` and the normal samples of the strata it occurs in (no
    strata: every normal), the samples a per-category value compares.

    >>> like_with_like(["Good", "Good", "Undercut"], ["FILLET", "NON_FILLET", "FILLET"], "Undercut").tolist()
    [True, False, True]
    """
    cats = np.asarray([str(c) for c in categories], dtype=object)
    mine, normal = cats == category, cats == normal_category
    if strata is None:
        return mine | normal
    groups = np.asarray([str(g) for g in strata], dtype=object)
    return mine | (normal & np.isin(groups, np.unique(groups[mine])))


def stratified_auroc(labels: Sequence[int], scores: Sequence[float], strata: Sequence) -> MetricValue:
    """AUROC over the (anomalous, normal) pairs of the same stratum only: the probability that an
    anomalous sample scores above a normal one of its own stratum (ties count 1/2), e.g. of its
    own weld type. Each stratum's AUROC weighted by its number of pairs; with one stratum it is
    the plain AUROC.

    Returns:
        The AUROC, or :class:`Undefined` when no stratum holds both classes.

    >>> stratified_auroc([0, 1, 0, 1], [0.1, 0.2, 0.9, 1.0], ["a", "a", "b", "b"])
    1.0
    >>> stratified_auroc([0, 1, 0, 1], [0.1, 0.2, 0.9, 1.0], ["a", "a", "a", "a"])
    0.75
    """
    y = _as_labels(labels)
    s = _as_scores(scores, y.shape[0])
    groups = np.asarray([str(g) for g in strata], dtype=object)
    if groups.shape[0] != y.shape[0]:
        raise ValueError(f"strata has {groups.shape[0]} entries but labels has {y.shape[0]}")
    total, pairs = 0.0, 0
    for g in np.unique(groups):
        yg, sg = y[groups == g], s[groups == g]
        n_pos, n_neg = int(yg.sum()), int(yg.size - yg.sum())
        if n_pos and n_neg:
            total += float(roc_auc_score(yg, sg)) * n_pos * n_neg
            pairs += n_pos * n_neg
    if not pairs:
        return Undefined(_one_class_reason(y) or "no stratum holds both normal and anomalous samples")
    return total / pairs


def image_metrics(labels: Sequence[int], scores: Sequence[float]) -> dict[str, MetricValue]:
    """Image-level I-AUROC, I-AP, I-F1max and the threshold reaching I-F1max.

    Args:
        labels: ``(N,)`` 0/1 ground truth (1 = anomalous).
        scores: ``(N,)`` anomaly scores, higher = more anomalous.

    Returns:
        ``{"I-AUROC", "I-AP", "I-F1max", "I-F1max-threshold"}``; all :class:`Undefined` when the
        set is empty or holds one class only. I-F1max is the maximum F1 over every distinct score
        used as threshold (predict anomalous when ``score >= threshold``); when several
        thresholds reach it the lowest is reported.

    >>> m = image_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> m["I-AUROC"], m["I-F1max"], m["I-F1max-threshold"]
    (0.75, 0.8, 0.35)
    """
    y = _as_labels(labels)
    s = _as_scores(scores, y.shape[0])
    reason = _one_class_reason(y)
    if reason is not None:
        u = Undefined(reason)
        return {k: u for k in IMAGE_KEYS}
    precision, recall, thresholds = precision_recall_curve(y, s)
    # the last (precision=1, recall=0) point has no threshold
    p, r = precision[:-1], recall[:-1]
    denom = p + r
    f1 = np.divide(2 * p * r, denom, out=np.zeros_like(denom), where=denom > 0)
    best = int(np.argmax(f1))  # thresholds ascend -> lowest threshold among the maxima
    return {
        "I-AUROC": float(roc_auc_score(y, s)),
        "I-AP": float(average_precision_score(y, s)),
        "I-F1max": float(f1[best]),
        "I-F1max-threshold": float(thresholds[best]),
    }
