"""Whole evaluation of one method (overall, per category, per configuration) and the aggregation
over seeds."""
from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np

from ._base import MetricValue, Undefined, _as_labels, _as_scores, aupro_key
from .image import IMAGE_KEYS, image_metrics, like_with_like, stratified_auroc
from .pixel import _check_limit, at_mask_size, pixel_metrics
from .statistics import bootstrap_auroc_ci

#: Pixel metrics of the views of the samples at the given indices (see ``_pixel_block``).
_PixelBlock = Callable[[np.ndarray], dict[str, MetricValue]]


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


def _has_pixel_truth(label: int, amap, mask) -> bool:
    """Whether a sample's views enter the pixel metrics: it needs a map and a ground truth. A
    normal sample's truth is all zeros by definition (mask or not); an anomalous sample without a
    mask has none: it is left out, never read as all-zero truth."""
    return amap is not None and (label == 0 or mask is not None)


def _pixel_pairs(idx: np.ndarray, labels: np.ndarray, maps, masks) -> tuple[list, list, str | None]:
    """Views of the samples ``idx`` that have a map and a ground truth (``_has_pixel_truth``)."""
    pm, pg = [], []
    n_anom_with_mask = 0
    for i in idx:
        if not _has_pixel_truth(labels[i], maps[i], masks[i]):
            continue
        mviews = _views(maps[i])
        if masks[i] is None:
            gviews = [np.zeros(v.shape, dtype=bool) for v in mviews]
        else:
            gviews = _views(masks[i])
            n_anom_with_mask += int(labels[i] == 1)
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


def _maps_at_mask_size(maps, masks) -> list:
    """Each sample's map views at its mask's size, resized here once rather than in each block
    that reads them (a normal's views are in every category's block). Anything the pixel
    metrics refuse is left as it is, for them to name."""
    out = []
    for amap, mask in zip(maps, masks):
        if amap is not None and mask is not None:
            mviews, gviews = _views(amap), _views(mask)
            if len(mviews) == len(gviews) and all(m.ndim == 2 and m.dtype.kind in "fiub" and g.ndim == 2
                                                  for m, g in zip(mviews, gviews)):
                amap = np.stack([at_mask_size(m, g.shape) for m, g in zip(mviews, gviews)])
        out.append(amap)
    return out


def _pixel_counts(labels: np.ndarray, cats: np.ndarray, maps, masks) -> dict:
    """The welds the pixel metrics rest on: normal ones, anomalous ones (with a mask), the
    anomalous ones left out for want of a mask, and the anomalous ones per category."""
    used = np.array([_has_pixel_truth(y, a, g) for y, a, g in zip(labels, maps, masks)], bool)
    mapped = np.array([a is not None for a in maps], bool)
    anomalous = used & (labels == 1)
    return {"normal": int(np.sum(used & (labels == 0))), "anomalous": int(anomalous.sum()),
            "anomalous_without_mask": int(np.sum(mapped & ~used)),
            "per_category": {c: int(np.sum(anomalous & (cats == c)))
                             for c in sorted(set(cats[labels == 1].tolist()))}}


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
    subsets: Mapping[str, Sequence[bool]] | None = None,
    clusters: Sequence[str] | None = None,
    strata: Sequence[str] | None = None,
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
        clusters: optional ``(N,)`` cluster of each sample (Weld-4M: the recording session, the
            day; its welds share lighting, pose and set-up and are not independent). ``"I-AUROC-CI95"`` then resamples
            whole clusters (cluster bootstrap), and the overall block also holds the weld-level
            interval as ``"I-AUROC-CI95-weld"`` for comparison.
        strata: optional ``(N,)`` stratum of each sample (Weld-4M: the weld type; some defect
            categories exist on fillet joints only, others on non-fillet ones, and a detector
            that finds one weld type rarer would rank a whole category above the other type's
            normals). Each category is then compared like with like: its defects against the
            normals of their own stratum (see ``_per_category``), and ``per_config`` counts only
            the pairs within a stratum. The overall block still pools every normal (the number
            published work reports).
        subsets: optional ``{name: (N,) bool}``, e.g. the recipe-matched TEST samples: each gets
            the image metrics, ``"I-AUROC-CI95"`` and per-category image metrics of its samples;
            with fewer than ``MIN_SUBSET_ANOMALOUS`` anomalous samples (overall, or in one
            category) the values are Undefined, saying how many there are.

    Returns:
        ``{"overall": {...}, "per_category": {cat: {...}}, "per_config": {axis: {value: {...}}},
        "counts": {"n", "normal", "anomalous", "per_category": {cat: n},
        "per_config": {axis: {value: {"n", "normal", "anomalous"}}}}}``; with maps and masks,
        ``counts["pixel"]`` says which samples the pixel metrics rest on: ``{"normal",
        "anomalous" (with a mask), "anomalous_without_mask" (left out), "per_category": {cat:
        anomalous with a mask}}``.
        ``overall`` holds the image metrics, ``"I-AUROC-CI95"`` (``[lo, hi]`` or Undefined) and,
        when ``maps`` and ``masks`` are given, the pixel metrics. ``per_category[c]`` compares all
        normal samples with the samples of category ``c`` (image metrics, plus pixel metrics on
        those views when maps and masks are given); with ``strata``, only the normals of the
        category's own strata, and then also ``per_category_all_normals[c]`` (the image metrics
        against every normal, to compare with published numbers), ``per_category_by_stratum[c][t]``
        for a category found in several strata, and ``counts["per_category_normal"][c]`` (the
        normals a category is compared with). ``per_config[axis][v]`` holds the image metrics
        of the samples with that configuration value. Undefined values carry their reason.
        With ``subsets``, ``"subsets": {name: {"overall", "per_category", "counts"}}`` too.
    """
    y = _as_labels(labels)
    n = y.shape[0]
    s = _as_scores(scores, n)
    cats = _checked_categories(categories, y, normal_category)
    limits = [_check_limit(v) for v in fpr_limits]
    with_pixels = maps is not None and masks is not None
    if maps is not None and len(maps) != n:
        raise ValueError(f"maps has {len(maps)} entries but labels has {n}")
    if masks is not None and len(masks) != n:
        raise ValueError(f"masks has {len(masks)} entries but labels has {n}")
    if with_pixels:
        maps = _maps_at_mask_size(maps, masks)
    pixels = partial(_pixel_block, labels=y, maps=maps, masks=masks, fpr_limits=limits) if with_pixels else None

    cid = _per_sample("clusters", clusters, n)
    strata = _per_sample("strata", strata, n)
    overall = _overall(y, s, n_boot, seed, pixels, cid)
    if cid is not None:
        ci = bootstrap_auroc_ci(y, s, n_boot=n_boot, seed=seed)
        overall["I-AUROC-CI95-weld"] = ci if isinstance(ci, Undefined) else [ci[0], ci[1]]
    category_blocks, cat_counts = _per_category(y, s, cats, normal_category, pixels, strata)
    per_config, config_counts = _per_config(y, s, configs, strata)
    counts = _class_counts(y)
    counts.update(cat_counts)
    if configs:
        counts["per_config"] = config_counts
    if with_pixels:
        counts["pixel"] = _pixel_counts(y, cats, maps, masks)
    if cid is not None:
        counts["clusters"] = _cluster_counts(y, cid)
    out = {"overall": overall, **category_blocks, "per_config": per_config, "counts": counts}
    if subsets:
        out["subsets"] = {name: _subset(y, s, cats, normal_category, mask, n_boot, seed, cid, strata)
                          for name, mask in subsets.items()}
    return out


def _cluster_counts(y: np.ndarray, cid: np.ndarray) -> dict[str, int]:
    """How many clusters (sessions) the normal and the anomalous samples come from."""
    return {"normal": len(set(cid[y == 0].tolist())), "anomalous": len(set(cid[y == 1].tolist()))}


def _per_sample(name: str, values: Sequence | None, n: int) -> np.ndarray | None:
    """``values`` as an (N,) object array of strings (None stays None)."""
    if values is None:
        return None
    arr = np.asarray([str(v) for v in values], dtype=object)
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} entries but labels has {n}")
    return arr


def _checked_categories(categories: Sequence[str], y: np.ndarray, normal_category: str) -> np.ndarray:
    """Category names (object array); ValueError unless label 0 is exactly ``normal_category``."""
    n = y.shape[0]
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
    return cats


def _overall(y: np.ndarray, s: np.ndarray, n_boot: int, seed: int, pixels: _PixelBlock | None,
             clusters: np.ndarray | None = None) -> dict[str, Any]:
    """All samples: image metrics, ``"I-AUROC-CI95"`` (clustered when ``clusters`` is given) and,
    when ``pixels`` is given, pixel metrics."""
    overall: dict[str, Any] = dict(image_metrics(y, s))
    ci = bootstrap_auroc_ci(y, s, n_boot=n_boot, seed=seed, clusters=clusters)
    overall["I-AUROC-CI95"] = ci if isinstance(ci, Undefined) else [ci[0], ci[1]]
    if pixels is not None:
        overall.update(pixels(np.arange(y.shape[0])))
    return overall


def _per_category(
    y: np.ndarray, s: np.ndarray, cats: np.ndarray, normal_category: str, pixels: _PixelBlock | None,
    strata: np.ndarray | None = None,
) -> tuple[dict[str, dict], dict[str, dict]]:
    """The blocks of each defect category and their counts: ``({"per_category": {c: metrics}, ...},
    {"per_category": {c (normal too): count}, ...})``.

    Without strata a category's defects are compared with every normal. With strata (like with
    like) they are compared with the normals of the strata they occur in: I-AP, I-F1max and the
    pixel metrics over those samples, the I-AUROC over the pairs within a stratum only
    (``stratified_auroc``: for a category of one stratum, the plain AUROC against that stratum's
    normals; for one of several, each stratum's pairs pooled, never a defect of one stratum
    against a normal of another). Then also ``per_category_all_normals`` (every normal),
    ``per_category_by_stratum`` (a category of several strata, each stratum alone) and the
    normals each category is compared with (``counts["per_category_normal"]``).
    """
    normal = cats == normal_category
    defects = sorted(set(cats.tolist()) - {normal_category})
    blocks: dict[str, dict] = {"per_category": {}}
    counts: dict[str, dict] = {"per_category": {c: int(np.sum(cats == c)) for c in sorted(set(cats.tolist()))}}
    if strata is not None:
        blocks.update(per_category_all_normals={}, per_category_by_stratum={})
        counts["per_category_normal"] = {}
    for c in defects:
        mine = cats == c
        idx = np.flatnonzero(like_with_like(cats, strata, c, normal_category))
        if strata is not None:
            own = np.unique(strata[mine])
            blocks["per_category_all_normals"][c] = image_metrics(y[normal | mine], s[normal | mine])
            counts["per_category_normal"][c] = int(np.sum(normal[idx]))
            if own.size > 1:
                blocks["per_category_by_stratum"][c] = {
                    t: image_metrics(y[(normal | mine) & (strata == t)], s[(normal | mine) & (strata == t)])
                    for t in own}
        block: dict[str, Any] = dict(image_metrics(y[idx], s[idx]))
        if strata is not None and isinstance(block["I-AUROC"], float):
            block["I-AUROC"] = stratified_auroc(y[idx], s[idx], strata[idx])
        if pixels is not None:
            block.update(pixels(idx))
        blocks["per_category"][c] = block
    return blocks, counts


#: A subset's I-AUROC needs this many anomalous samples (overall, and per category): with fewer,
#: its 95 % bootstrap interval spans more than about +-0.2 around any value, and the number would
#: say little (the tables show a dash and the count instead).
MIN_SUBSET_ANOMALOUS = 10


def _subset(y: np.ndarray, s: np.ndarray, cats: np.ndarray, normal_category: str,
            mask: Sequence[bool], n_boot: int, seed: int, clusters: np.ndarray | None = None,
            strata: np.ndarray | None = None) -> dict:
    """Image metrics, interval and per-category image metrics (like with like, as the whole
    split's) of the samples in ``mask``."""
    keep = np.asarray(mask, dtype=bool)
    if keep.shape[0] != y.shape[0]:
        raise ValueError(f"a subset mask has {keep.shape[0]} entries but labels has {y.shape[0]}")
    y, s, cats = y[keep], s[keep], cats[keep]
    clusters = None if clusters is None else clusters[keep]
    strata = None if strata is None else strata[keep]
    overall = _small(int(y.sum())) or _overall(y, s, n_boot, seed, None, clusters)
    blocks, cat_counts = _per_category(y, s, cats, normal_category, None, strata)
    for c, block in blocks["per_category"].items():
        if (too_few := _small(cat_counts["per_category"][c])):
            blocks["per_category"][c] = {k: too_few[k] for k in block}
    counts = _class_counts(y)
    counts.update(cat_counts)
    if clusters is not None:
        counts["clusters"] = _cluster_counts(y, clusters)
    return {"overall": overall, "per_category": blocks["per_category"], "counts": counts}


def _small(n_anomalous: int) -> dict[str, Undefined] | None:
    """Undefined image metrics for a subset with too few anomalous samples, else None."""
    if n_anomalous >= MIN_SUBSET_ANOMALOUS:
        return None
    u = Undefined(f"too few anomalous samples in the subset ({n_anomalous} < {MIN_SUBSET_ANOMALOUS})")
    return {k: u for k in (*IMAGE_KEYS, "I-AUROC-CI95")}


def _per_config(
    y: np.ndarray, s: np.ndarray, configs: Mapping[str, Sequence[str]] | None,
    strata: np.ndarray | None = None,
) -> tuple[dict[str, dict], dict[str, dict]]:
    """``({axis: {value: image metrics}}, {axis: {value: class counts}})``; with strata the
    I-AUROC counts the pairs within a stratum only (a steel value holds both weld types)."""
    n = y.shape[0]
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
            block = image_metrics(y[idx], s[idx])
            if strata is not None and isinstance(block["I-AUROC"], float):
                block["I-AUROC"] = stratified_auroc(y[idx], s[idx], strata[idx])
            per_config[axis][v] = block
            config_counts[axis][v] = _class_counts(y[idx])
    return per_config, config_counts


# ----------------------------------------------------------------------------------------------
# Aggregation over seeds
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
