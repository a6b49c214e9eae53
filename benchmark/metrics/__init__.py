"""Metric core of the Weld-4M benchmark: image-, pixel- and group-level anomaly detection metrics.

This package is self-contained (numpy, scipy, scikit-learn; torch only to resize maps) and can be
imported without the rest of the suite::

    from benchmark.metrics import aupro, image_metrics, pixel_metrics, evaluate

Conventions
-----------
* Labels are 0 (normal) / 1 (anomalous); a **higher score means more anomalous**.
* A metric that cannot be computed (no samples, one class only, no ground-truth masks, ...) is an
  :class:`Undefined` carrying the reason. It is falsy and serialises as
  ``{"value": None, "reason": ...}``; it is never replaced by 0 or 0.5.
* Image level: I-AUROC and I-AP come from scikit-learn (``roc_auc_score``,
  ``average_precision_score``); I-F1max is the maximum F1 over all thresholds of
  ``precision_recall_curve`` (a sample is predicted anomalous when ``score >= threshold``).
* Pixel level: P-AUROC is the ROC AUC over all pixels of all views (an exact, faster equivalent
  of scikit-learn's ``roc_auc_score``, tested against it).
  P-AUPRO follows the MVTec AD evaluation definition exactly (Bergmann et al., IJCV 2021,
  ``pro_curve_util.compute_pro`` + ``generic_util.trapezoid``):

  - ground-truth regions are the 8-connected components of each mask (per image);
  - at every threshold ``t`` (every distinct score value; tied scores are crossed together),
    FPR = (# anomaly-free pixels of *all* images with score >= t) / (# anomaly-free pixels);
  - PRO = mean over *all regions of all images* of (# region pixels with score >= t) / region size;
  - the curve starts at (0, 0); it is integrated with the trapezoid rule from FPR 0 up to the
    limit, the PRO at the limit is linearly interpolated between the neighbouring curve points,
    and the area is divided by the limit (so a perfect map scores 1.0).

  Other implementations deviate from this: the RD4AD-style ``compute_pro`` used in the Dinomaly and
  ADer code bases evaluates a fixed grid of (typically 200) thresholds, keeps the points with
  FPR < limit and rescales that FPR axis to [0, 1] instead of interpolating at the limit, which
  gives different numbers. anomalib 2.7's ``AUPRO`` implements the same definition as here but in
  float32, so it agrees to ~1e-6 only (see tests/test_metrics.py).
* Multi-view samples: every view is one image for pixel metrics.

Modules: ``_base`` (:class:`Undefined`, metric directions, label/score checks), ``image``,
``pixel`` (P-AUROC, PRO curve, AU-PRO), ``statistics`` (bootstrap intervals, DeLong test),
``evaluation`` (:func:`evaluate`, :func:`aggregate_seeds`). Import from ``benchmark.metrics``
itself: the split into modules is not part of the API. Results to and from JSON:
``benchmark.results.store.to_jsonable`` / ``from_jsonable``.
"""
from __future__ import annotations

from ._base import HIGHER_IS_BETTER, MetricValue, Undefined, aupro_key
from .evaluation import MIN_SUBSET_ANOMALOUS, aggregate_seeds, evaluate
from .image import IMAGE_KEYS, image_metrics, like_with_like, stratified_auroc
from .pixel import aupro, pixel_auroc, pixel_metrics, pro_curve
from .statistics import MIN_CLUSTERS, bootstrap_auroc_ci, bootstrap_auroc_diff_ci, delong_test

__all__ = [
    "Undefined",
    "MetricValue",
    "HIGHER_IS_BETTER",
    "aupro_key",
    "IMAGE_KEYS",
    "image_metrics",
    "stratified_auroc",
    "like_with_like",
    "pixel_auroc",
    "aupro",
    "pro_curve",
    "pixel_metrics",
    "bootstrap_auroc_ci",
    "bootstrap_auroc_diff_ci",
    "delong_test",
    "evaluate",
    "MIN_SUBSET_ANOMALOUS",
    "MIN_CLUSTERS",
    "aggregate_seeds",
]
