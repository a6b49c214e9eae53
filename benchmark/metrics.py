"""Metric core of the Weld-4M benchmark: image-, pixel- and group-level anomaly detection metrics.

This module is self-contained (numpy, scipy, scikit-learn; torch only to resize maps) and can be
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
"""
from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
from scipy import ndimage, stats
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

__all__ = [
    "Undefined",
    "MetricValue",
    "HIGHER_IS_BETTER",
    "aupro_key",
    "image_metrics",
    "pixel_auroc",
    "aupro",
    "pro_curve",
    "pixel_metrics",
    "bootstrap_auroc_ci",
    "delong_test",
    "evaluate",
    "aggregate_seeds",
    "to_jsonable",
    "from_jsonable",
]


# ----------------------------------------------------------------------------------------------
# Undefined values and metric directions
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Undefined:
    """A metric value that cannot be computed, with the reason why.

    It is falsy, so ``value or default`` style code never mistakes it for a number, and it
    serialises (via :func:`to_jsonable`) as ``{"value": None, "reason": reason}``.

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


# ----------------------------------------------------------------------------------------------
# Image level
# ----------------------------------------------------------------------------------------------
IMAGE_KEYS = ("I-AUROC", "I-AP", "I-F1max", "I-F1max-threshold")


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


# ----------------------------------------------------------------------------------------------
# Pixel level
# ----------------------------------------------------------------------------------------------
def _resize_bilinear(amap: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize (torch ``interpolate``, ``align_corners=False``, no antialias)."""
    import torch  # local import: only needed when shapes differ
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(amap, dtype=np.float64 if amap.dtype == np.float64 else np.float32))
    out = F.interpolate(t[None, None], size=tuple(int(v) for v in shape), mode="bilinear", align_corners=False)
    return out[0, 0].numpy()


def _check_pairs(maps: Sequence[Any], masks: Sequence[Any]) -> list[tuple[np.ndarray, np.ndarray]]:
    if len(maps) != len(masks):
        raise ValueError(f"got {len(maps)} maps but {len(masks)} masks")
    pairs = []
    for i, (m, g) in enumerate(zip(maps, masks)):
        m = np.asarray(m)
        g = np.asarray(g)
        if g.ndim != 2:
            raise ValueError(f"mask {i} must be 2-D (H, W), got shape {g.shape}")
        if m.ndim != 2:
            raise ValueError(f"map {i} must be 2-D (h, w), got shape {m.shape}")
        if m.dtype.kind not in "fiub":
            raise ValueError(f"map {i} has non-numeric dtype {m.dtype}")
        if m.dtype not in (np.float32, np.float64):
            m = m.astype(np.float64)
        if m.shape != g.shape:
            m = _resize_bilinear(m, g.shape)
        if not np.isfinite(m).all():
            raise ValueError(f"map {i} contains NaN or infinite values")
        pairs.append((m, g != 0))
    return pairs


def _split_pixels(pairs: list[tuple[np.ndarray, np.ndarray]], with_regions: bool):
    """Split all views' pixels into anomaly-free scores, anomalous scores and their global region ids.

    Region ids are the 8-connected components of each mask, numbered 1..n_regions across images.
    Returns ``(bg_scores, fg_scores, fg_regions or None, n_regions)``; memory O(total pixels).
    """
    dtype = np.float32 if all(m.dtype == np.float32 for m, _ in pairs) else np.float64
    n_fg = sum(int(np.count_nonzero(g)) for _, g in pairs)
    n_bg = sum(g.size for _, g in pairs) - n_fg
    bg = np.empty(n_bg, dtype=dtype)
    fg = np.empty(n_fg, dtype=dtype)
    fg_regions = np.empty(n_fg, dtype=np.int32) if with_regions else None
    structure = np.ones((3, 3), dtype=bool)  # 8-connectivity
    ob = of = 0
    n_regions = 0
    for m, g in pairs:
        kb, kf = g.size - int(np.count_nonzero(g)), int(np.count_nonzero(g))
        bg[ob : ob + kb] = m[~g]
        if kf:
            fg[of : of + kf] = m[g]
            if with_regions:
                lab, num = ndimage.label(g, structure=structure)
                fg_regions[of : of + kf] = lab[g] + n_regions
                n_regions += num
        ob += kb
        of += kf
    return bg, fg, fg_regions, n_regions


def _undefined_pixel_reason(pairs: list[tuple[np.ndarray, np.ndarray]]) -> str | None:
    if not pairs:
        return "no maps with ground-truth masks"
    if not any(g.any() for _, g in pairs):
        return "no ground-truth mask has an anomalous pixel"
    if all(g.all() for _, g in pairs):
        return "no anomaly-free pixel in the ground-truth masks"
    return None


def pixel_auroc(maps: Sequence[Any], masks: Sequence[Any]) -> MetricValue:
    """Pixel-level AUROC over all pixels of all images (views); equals scikit-learn's ``roc_auc_score``.

    Args:
        maps: sequence of 2-D anomaly maps (higher = more anomalous), one per view/image. A map
            whose shape differs from its mask is resized to the mask bilinearly.
        masks: sequence of 2-D ground-truth masks (nonzero = anomalous), same length as ``maps``.

    Returns:
        The P-AUROC, or :class:`Undefined` when there are no images, no anomalous or no
        anomaly-free pixel.

    >>> import numpy as np
    >>> pixel_auroc([np.array([[0.1, 0.9], [0.2, 0.3]])], [np.array([[0, 1], [0, 0]])])
    1.0
    """
    pairs = _check_pairs(maps, masks)
    reason = _undefined_pixel_reason(pairs)
    if reason is not None:
        return Undefined(reason)
    bg, fg, _, _ = _split_pixels(pairs, with_regions=False)
    return _binary_auroc(fg, bg)


def _binary_auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Exact ROC AUC (ties count 1/2), identical to ``roc_auc_score`` but O(n) memory and faster on
    millions of pixels: sort each class once and count, for every positive, the negatives strictly
    below and below-or-equal with ``searchsorted``; the sums are exact integers."""
    pos = np.sort(pos)
    neg = np.sort(neg)
    n_pos, n_neg = pos.shape[0], neg.shape[0]
    below = np.searchsorted(neg, pos, side="left").sum(dtype=np.int64)
    below_eq = np.searchsorted(neg, pos, side="right").sum(dtype=np.int64)
    return float((int(below) + int(below_eq)) / (2.0 * n_pos * n_neg))


def _pro_curve_flat(
    bg: np.ndarray, fs: np.ndarray, fr: np.ndarray, n_regions: int, max_fpr: float
) -> tuple[np.ndarray, np.ndarray]:
    """PRO curve (FPR, PRO) from anomaly-free scores ``bg`` (partitioned in place), anomalous scores
    ``fs`` and their region ids ``fr`` (1..n_regions), from (0, 0) up to the first point with FPR > max_fpr.

    Equal to the MVTec AD curve (one point per distinct score, tied scores crossed together)
    except that interior points of horizontal runs are omitted: between two consecutive distinct
    *anomalous-pixel* scores u_prev > u only anomaly-free pixels are crossed, so PRO stays at
    PRO(u_prev) while the FPR rises; those points are collinear and change neither the trapezoid
    area nor the value interpolated at the limit. Each distinct anomalous score u gives the two
    points (#bg > u, PRO(u_prev)) and (#bg >= u, PRO(u)).

    Cost: the threshold ``t_cut`` at which the FPR first exceeds ``max_fpr`` is found by an O(n)
    selection; only the anomaly-free scores >= t_cut are sorted (np.sort, no index array), and only
    the anomalous pixels are argsorted. Memory O(n).
    """
    sizes = np.bincount(fr, minlength=n_regions + 1)
    n_bg = int(bg.shape[0])
    if n_regions == 0:
        raise ValueError("AU-PRO is undefined: no ground-truth mask has an anomalous pixel")
    if n_bg == 0:
        raise ValueError("AU-PRO is undefined: the ground-truth masks have no anomaly-free pixel")
    # smallest count k of anomaly-free pixels with k / n_bg > max_fpr
    k = int(math.floor(max_fpr * n_bg)) + 1
    while k > 1 and (k - 1) / n_bg > max_fpr:
        k -= 1
    while k <= n_bg and k / n_bg <= max_fpr:
        k += 1
    if k <= n_bg:
        bg.partition(n_bg - k)  # in place, O(n): bg[n_bg-k:] are the k largest
        t_cut = bg[n_bg - k]  # k-th largest anomaly-free score
        n_bg_ge_cut = k + int(np.count_nonzero(bg[: n_bg - k] == t_cut))
        top = np.sort(bg[n_bg - k :])  # every anomaly-free score > t_cut is in here
    else:  # the whole curve is needed
        t_cut = min(bg.min(), fs.min())
        n_bg_ge_cut = n_bg
        top = np.sort(bg)
    keep = fs >= t_cut
    fs = fs[keep]
    fr = fr[keep]
    order = np.argsort(fs)[::-1]  # descending; equal scores stay contiguous
    fs = fs[order]
    inv_size = np.zeros(n_regions + 1, dtype=np.float64)
    inv_size[1:] = 1.0 / sizes[1:]
    pro_cum = np.cumsum(inv_size[fr[order]])
    pro_cum /= n_regions
    del order, fr
    # one point per tie group: the state after all equal scores are crossed
    last = np.empty(fs.shape[0], dtype=bool)
    if fs.shape[0]:
        np.not_equal(fs[:-1], fs[1:], out=last[:-1])
        last[-1] = True
    u = fs[last]
    pro_u = np.minimum(pro_cum[last], 1.0)
    if u.shape[0] == 0 or u[-1] > t_cut:  # end at the first point beyond max_fpr
        u = np.append(u, np.asarray(t_cut, dtype=u.dtype))
        pro_u = np.append(pro_u, pro_u[-1] if pro_u.shape[0] else 0.0)
    n_gt = top.shape[0] - np.searchsorted(top, u, side="right")  # #bg > u   (u >= t_cut)
    n_ge = top.shape[0] - np.searchsorted(top, u, side="left")  # #bg >= u  (u > t_cut)
    n_ge[-1] = n_bg_ge_cut  # u[-1] == t_cut
    m = u.shape[0]
    fpr = np.zeros(2 * m + 1)
    pro = np.zeros(2 * m + 1)
    fpr[1::2] = n_gt / n_bg
    fpr[2::2] = n_ge / n_bg
    pro[1::2] = np.concatenate(([0.0], pro_u[:-1]))
    pro[2::2] = pro_u
    distinct = np.ones(2 * m + 1, dtype=bool)
    distinct[1:] = (np.diff(fpr) != 0) | (np.diff(pro) != 0)
    return fpr[distinct], pro[distinct]


def _integrate_to_limit(fpr: np.ndarray, pro: np.ndarray, limit: float) -> float:
    """Trapezoid area under (fpr, pro) from 0 to ``limit`` (interpolated at the limit) / limit."""
    if limit in fpr:
        keep = fpr <= limit
        x, y = fpr[keep], pro[keep]
        area = float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x)))
    else:
        ins = int(np.searchsorted(fpr, limit, side="right"))
        if not 0 < ins < fpr.shape[0]:
            raise AssertionError("PRO curve does not bracket the FPR limit")  # pragma: no cover
        x, y = fpr[:ins], pro[:ins]
        y_lim = y[-1] + (pro[ins] - y[-1]) * (limit - x[-1]) / (fpr[ins] - x[-1])
        area = float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x))) + 0.5 * (y_lim + y[-1]) * (limit - x[-1])
    return float(area / limit)


def _check_limit(fpr_limit: float) -> float:
    limit = float(fpr_limit)
    if not 0.0 < limit <= 1.0:
        raise ValueError(f"fpr_limit must be in (0, 1], got {fpr_limit}")
    return limit


def pro_curve(maps: Sequence[Any], masks: Sequence[Any], max_fpr: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The MVTec AD PRO curve: arrays ``(fpr, pro)`` starting at (0, 0), non-decreasing.

    Collinear interior points of horizontal runs (thresholds crossing only anomaly-free pixels)
    are omitted; the trapezoid area and the interpolation at any limit are unchanged.

    The curve is cut after the first point whose FPR exceeds ``max_fpr`` (use 1.0 for the full
    curve). Raises ``ValueError`` when there is no anomalous or no anomaly-free pixel.
    """
    limit = _check_limit(max_fpr)
    pairs = _check_pairs(maps, masks)
    if not pairs:
        raise ValueError("AU-PRO is undefined: no maps/masks given")
    bg, fg, fg_regions, n_regions = _split_pixels(pairs, with_regions=True)
    return _pro_curve_flat(bg, fg, fg_regions, n_regions, limit)


def aupro(maps: Sequence[Any], masks: Sequence[Any], fpr_limit: float = 0.3) -> float:
    """Normalised area under the PRO curve up to ``fpr_limit`` (MVTec AD definition).

    Args:
        maps: sequence of 2-D anomaly maps (higher = more anomalous), one per image/view. A map
            whose shape differs from its mask is resized to the mask bilinearly
            (torch ``interpolate``, ``align_corners=False``).
        masks: sequence of 2-D ground-truth masks (nonzero = anomalous); images without any
            anomalous pixel only contribute anomaly-free pixels.
        fpr_limit: upper FPR integration limit in (0, 1], e.g. 0.3 or 0.01.

    Returns:
        Area under the PRO curve between FPR 0 and ``fpr_limit`` divided by ``fpr_limit`` (in [0, 1]).

    Raises:
        ValueError: no images, no anomalous pixel, no anomaly-free pixel, non-finite scores, a bad
            limit. Use :func:`pixel_metrics` to get an :class:`Undefined` instead.

    >>> import numpy as np
    >>> mask = np.zeros((4, 4), bool); mask[1:3, 1:3] = True
    >>> aupro([mask.astype(float)], [mask], fpr_limit=0.3)
    1.0
    """
    limit = _check_limit(fpr_limit)
    fpr, pro = pro_curve(maps, masks, max_fpr=limit)
    return _integrate_to_limit(fpr, pro, limit)


def pixel_metrics(
    maps: Sequence[Any], masks: Sequence[Any], fpr_limits: Sequence[float] = (0.3, 0.01)
) -> dict[str, MetricValue]:
    """P-AUROC and P-AUPRO at each FPR limit, over all images (views).

    Args:
        maps: sequence of 2-D anomaly maps, one per view (a multi-view sample contributes one
            entry per view). A map whose shape differs from its mask is resized to the mask with
            bilinear interpolation (torch ``interpolate``, ``align_corners=False``).
        masks: sequence of 2-D ground-truth masks (nonzero = anomalous), aligned with ``maps``.
        fpr_limits: FPR integration limits; each gives a key ``f"P-AUPRO@{limit*100:g}%"``.

    Returns:
        ``{"P-AUROC": ..., "P-AUPRO@30%": ..., "P-AUPRO@1%": ...}``; every value is
        :class:`Undefined` when there are no images, no mask has an anomalous pixel, or no mask
        has an anomaly-free pixel.

    >>> import numpy as np
    >>> mask = np.zeros((4, 4), bool); mask[0, 0] = True
    >>> pixel_metrics([mask * 1.0], [mask])
    {'P-AUROC': 1.0, 'P-AUPRO@30%': 1.0, 'P-AUPRO@1%': 1.0}
    """
    limits = [_check_limit(v) for v in fpr_limits]
    keys = ["P-AUROC"] + [aupro_key(v) for v in limits]
    pairs = _check_pairs(maps, masks)
    reason = _undefined_pixel_reason(pairs)
    if reason is not None:
        u = Undefined(reason)
        return {k: u for k in keys}
    bg, fg, fg_regions, n_regions = _split_pixels(pairs, with_regions=True)
    out: dict[str, MetricValue] = {"P-AUROC": _binary_auroc(fg, bg)}
    if limits:
        fpr, pro = _pro_curve_flat(bg, fg, fg_regions, n_regions, max(limits))
        for v in limits:
            out[aupro_key(v)] = _integrate_to_limit(fpr, pro, v)
    return out


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


def bootstrap_auroc_ci(
    labels: Sequence[int], scores: Sequence[float], n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float] | Undefined:
    """Stratified bootstrap percentile interval for the I-AUROC.

    Normals and anomalies are resampled separately (with replacement, keeping both class sizes),
    the AUROC of each replicate is computed exactly (ties count 1/2), and the
    ``(1-level)/2`` and ``1-(1-level)/2`` quantiles are returned. Deterministic for a given seed.

    Returns:
        ``(low, high)``, or :class:`Undefined` when a class has fewer than 2 samples (the
        resampling could not vary that class).

    >>> lo, hi = bootstrap_auroc_ci([0] * 20 + [1] * 20, list(range(10, 30)) + list(range(20, 40)), n_boot=200)
    >>> lo < 0.875 < hi
    True
    """
    y = _as_labels(labels)
    s = _as_scores(scores, y.shape[0])
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    reason = _one_class_reason(y)
    if reason is not None:
        return Undefined(reason)
    pos, neg = s[y == 1], s[y == 0]
    if pos.size < 2 or neg.size < 2:
        return Undefined(
            f"bootstrap needs >= 2 samples per class (normal={neg.size}, anomalous={pos.size})"
        )
    rng = np.random.default_rng(seed)
    aucs = np.empty(n_boot)
    chunk = max(1, min(n_boot, 4_000_000 // (pos.size + neg.size)))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        w_pos = _multinomial_counts(rng, pos.size, b)
        w_neg = _multinomial_counts(rng, neg.size, b)
        aucs[start : start + b] = _weighted_aurocs(pos, neg, w_pos, w_neg)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(aucs, [alpha, 1.0 - alpha])
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


# ----------------------------------------------------------------------------------------------
# Whole evaluation
# ----------------------------------------------------------------------------------------------
def _views(x: Any) -> list[np.ndarray]:
    arr = np.asarray(x)
    if arr.ndim == 2:
        return [arr]
    if arr.ndim == 3:
        return list(arr)
    raise ValueError(f"expected an array (V, H, W) or (H, W), got shape {arr.shape}")


def _pixel_pairs(idx: np.ndarray, labels: np.ndarray, maps, masks) -> tuple[list, list, str | None]:
    """Views of the samples ``idx`` that have a map and a ground truth.

    A normal sample (label 0) without a mask is anomaly-free by definition: its mask is all zeros.
    An anomalous sample without a mask, or any sample without a map, is left out.
    """
    pm, pg = [], []
    n_anom_with_mask = 0
    for i in idx:
        amap = maps[i]
        if amap is None:
            continue
        mviews = _views(amap)
        g = masks[i]
        if g is None:
            if labels[i] == 1:
                continue
            gviews = [np.zeros(v.shape, dtype=bool) for v in mviews]
        else:
            gviews = _views(g)
            if labels[i] == 1:
                n_anom_with_mask += 1
        if len(gviews) != len(mviews):
            raise ValueError(f"sample {i}: {len(mviews)} map views but {len(gviews)} mask views")
        pm.extend(mviews)
        pg.extend(gviews)
    reason = None
    if not pm:
        reason = "no anomaly maps for these samples"
    elif n_anom_with_mask == 0:
        reason = "no ground-truth masks for the anomalous samples"
    return pm, pg, reason


def _pixel_block(idx, labels, maps, masks, fpr_limits) -> dict[str, MetricValue]:
    pm, pg, reason = _pixel_pairs(idx, labels, maps, masks)
    if reason is not None:
        u = Undefined(reason)
        return {k: u for k in ["P-AUROC"] + [aupro_key(v) for v in fpr_limits]}
    return pixel_metrics(pm, pg, fpr_limits)


def _class_counts(y: np.ndarray) -> dict[str, int]:
    n_pos = int(y.sum())
    return {"n": int(y.shape[0]), "normal": int(y.shape[0]) - n_pos, "anomalous": n_pos}


def evaluate(
    labels: Sequence[int],
    scores: Sequence[float],
    categories: Sequence[str],
    configs: Mapping[str, Sequence[str]] | None = None,
    maps: Sequence[Any] | None = None,
    masks: Sequence[Any] | None = None,
    fpr_limits: Sequence[float] = (0.3, 0.01),
    n_boot: int = 1000,
    seed: int = 0,
    normal_category: str = "Good",
) -> dict:
    """Full evaluation of one method on the test samples.

    Args:
        labels: ``(N,)`` 0/1 (1 = anomalous).
        scores: ``(N,)`` image anomaly scores.
        categories: ``(N,)`` recorded category names; ``normal_category`` ("Good") for normals.
            Must agree with ``labels`` (label 0 exactly for ``normal_category``), else ValueError.
        configs: optional ``{axis: (N,) values}``, e.g. weld type, steel, thickness.
        maps: optional list of N anomaly maps ``(V, h, w)`` (or ``(h, w)``) or None.
        masks: optional list of N ground-truth masks ``(V, H, W)`` or None. A normal sample with a
            map but no mask counts as anomaly-free (all-zero mask); an anomalous sample without a
            mask is left out of the pixel metrics. Each view is one image.
        fpr_limits: AU-PRO FPR limits.
        n_boot, seed: stratified bootstrap for ``"I-AUROC-CI95"``.

    Returns:
        ``{"overall": {...}, "per_category": {cat: {...}}, "per_config": {axis: {value: {...}}},
        "counts": {"n", "normal", "anomalous", "per_category": {cat: n},
        "per_config": {axis: {value: {"n", "normal", "anomalous"}}}}}``.
        ``overall`` holds the image metrics, ``"I-AUROC-CI95"`` (``[lo, hi]`` or Undefined) and,
        when ``maps`` and ``masks`` are given, the pixel metrics. ``per_category[c]`` compares all
        normal samples with the samples of category ``c`` (image metrics, plus pixel metrics on
        those views when maps and masks are given). ``per_config[axis][v]`` holds the image metrics
        of the samples with that configuration value. Undefined values carry their reason.
    """
    y = _as_labels(labels)
    n = y.shape[0]
    s = _as_scores(scores, n)
    cats = np.asarray([str(c) for c in categories], dtype=object)
    if cats.shape[0] != n:
        raise ValueError(f"categories has {cats.shape[0]} entries but labels has {n}")
    is_normal_cat = cats == normal_category
    bad = np.flatnonzero(is_normal_cat != (y == 0))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"labels and categories disagree for {bad.size} sample(s), e.g. sample {i}: "
            f"label={int(y[i])}, category={cats[i]!r} (normal category is {normal_category!r})"
        )
    limits = [_check_limit(v) for v in fpr_limits]
    with_pixels = maps is not None and masks is not None
    if maps is not None and len(maps) != n:
        raise ValueError(f"maps has {len(maps)} entries but labels has {n}")
    if masks is not None and len(masks) != n:
        raise ValueError(f"masks has {len(masks)} entries but labels has {n}")

    overall: dict[str, Any] = dict(image_metrics(y, s))
    ci = bootstrap_auroc_ci(y, s, n_boot=n_boot, seed=seed)
    overall["I-AUROC-CI95"] = ci if isinstance(ci, Undefined) else [ci[0], ci[1]]
    all_idx = np.arange(n)
    if with_pixels:
        overall.update(_pixel_block(all_idx, y, maps, masks, limits))

    normal_idx = np.flatnonzero(is_normal_cat)
    per_category: dict[str, dict] = {}
    cat_counts: dict[str, int] = {}
    for c in sorted(set(cats.tolist())):
        cat_counts[c] = int(np.sum(cats == c))
    for c in sorted(set(cats.tolist()) - {normal_category}):
        idx = np.concatenate([normal_idx, np.flatnonzero(cats == c)])
        block: dict[str, Any] = dict(image_metrics(y[idx], s[idx]))
        if with_pixels:
            block.update(_pixel_block(idx, y, maps, masks, limits))
        per_category[c] = block

    per_config: dict[str, dict] = {}
    config_counts: dict[str, dict] = {}
    for axis, values in (configs or {}).items():
        vals = np.asarray([str(v) for v in values], dtype=object)
        if vals.shape[0] != n:
            raise ValueError(f"configs[{axis!r}] has {vals.shape[0]} entries but labels has {n}")
        per_config[axis] = {}
        config_counts[axis] = {}
        for v in sorted(set(vals.tolist())):
            idx = np.flatnonzero(vals == v)
            per_config[axis][v] = image_metrics(y[idx], s[idx])
            config_counts[axis][v] = _class_counts(y[idx])

    counts = _class_counts(y)
    counts["per_category"] = cat_counts
    if configs:
        counts["per_config"] = config_counts
    return {"overall": overall, "per_category": per_category, "per_config": per_config, "counts": counts}


# ----------------------------------------------------------------------------------------------
# Aggregation and serialisation
# ----------------------------------------------------------------------------------------------
def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def aggregate_seeds(results: Sequence[Mapping[str, MetricValue]]) -> dict[str, dict | Undefined]:
    """Mean and sample standard deviation of each metric over seeds.

    Args:
        results: one flat ``{metric: value}`` mapping per seed (e.g. ``evaluate(...)["overall"]``).
            Non-scalar entries (such as the ``[lo, hi]`` interval) are ignored.

    Returns:
        ``{metric: {"mean", "std", "n", "n_undefined"}}`` where ``std`` uses ddof=1 (0.0 for one
        seed) and :class:`Undefined` (or absent) entries are skipped and counted in
        ``n_undefined``. A metric undefined in every seed is an :class:`Undefined`.

    >>> aggregate_seeds([{"I-AUROC": 0.9}, {"I-AUROC": 0.8}, {"I-AUROC": Undefined("x")}])["I-AUROC"]["n"]
    2
    """
    names: list[str] = []
    for r in results:
        for k, v in r.items():
            if k not in names and (_is_number(v) or isinstance(v, Undefined)):
                names.append(k)
    out: dict[str, dict | Undefined] = {}
    for k in names:
        vals, reasons = [], []
        for r in results:
            v = r.get(k, Undefined("missing"))
            if isinstance(v, Undefined):
                reasons.append(v.reason)
            elif _is_number(v):
                vals.append(float(v))
        if not vals:
            uniq = list(dict.fromkeys(reasons))
            out[k] = Undefined(f"undefined in all {len(reasons)} seed(s): " + "; ".join(uniq))
            continue
        arr = np.asarray(vals)
        out[k] = {
            "mean": float(arr.mean()),
            "std": float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
            "n": int(arr.size),
            "n_undefined": len(reasons),
        }
    return out


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
