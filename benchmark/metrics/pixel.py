"""Pixel-level metrics: P-AUROC, the MVTec AD PRO curve and its normalised area (AU-PRO)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from ._base import MetricValue, Undefined, aupro_key


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


def at_mask_size(amap: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A numeric 2-D map as the metrics read it: float (float32 kept, else float64), resized
    bilinearly to its mask's shape where it differs."""
    if amap.dtype not in (np.float32, np.float64):
        amap = amap.astype(np.float64)
    return amap if amap.shape == shape else _resize_bilinear(amap, shape)


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
        m = at_mask_size(m, g.shape)
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
    below and below-or-equal with ``searchsorted``; the sums are exact integers. ``neg`` (the
    anomaly-free pixels, the many) is sorted in place: no copy of every pixel of the split."""
    pos = np.sort(pos)
    neg.sort()
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
