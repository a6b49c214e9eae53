"""Tests of benchmark.metrics against independent computations.

References used: scikit-learn (AUROC, AP), anomalib 2.7 (AUPRO), and brute-force versions written
here (F1max, connected components, PRO curve + integration, DeLong structural components,
weighted AUROC).
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from benchmark import metrics as M
from benchmark.metrics import (
    HIGHER_IS_BETTER,
    Undefined,
    aggregate_seeds,
    aupro,
    bootstrap_auroc_ci,
    delong_test,
    evaluate,
    image_metrics,
    pixel_auroc,
    pixel_metrics,
)
from benchmark.metrics.pixel import _integrate_to_limit
from benchmark.metrics.statistics import _weighted_aurocs
from benchmark.results.store import from_jsonable, to_jsonable


# ----------------------------------------------------------------------------------------------
# Brute-force references
# ----------------------------------------------------------------------------------------------
def brute_f1max(labels, scores):
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=float)
    best, best_t = -1.0, None
    for t in np.unique(scores):  # ascending -> lowest threshold kept on ties
        pred = scores >= t
        tp = np.sum(pred & (labels == 1))
        fp = np.sum(pred & (labels == 0))
        fn = np.sum(~pred & (labels == 1))
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if f1 > best + 1e-15:
            best, best_t = f1, t
    return best, best_t


def flood_fill_regions(mask):
    """8-connected components by explicit flood fill (independent of scipy)."""
    mask = np.asarray(mask, dtype=bool)
    seen = np.zeros_like(mask)
    regions = []
    h, w = mask.shape
    for sy in range(h):
        for sx in range(w):
            if mask[sy, sx] and not seen[sy, sx]:
                comp = np.zeros_like(mask)
                stack = [(sy, sx)]
                seen[sy, sx] = True
                while stack:
                    y, x = stack.pop()
                    comp[y, x] = True
                    for dy in (-1, 0, 1):
                        for dx in (-1, 0, 1):
                            ny, nx = y + dy, x + dx
                            if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                                seen[ny, nx] = True
                                stack.append((ny, nx))
                regions.append(comp)
    return regions


def brute_aupro(maps, masks, limit):
    """Loop over every distinct threshold; FPR and per-region overlaps computed directly."""
    regions = [(i, r) for i, g in enumerate(masks) for r in flood_fill_regions(g)]
    bg = np.concatenate([np.asarray(m)[~np.asarray(g, bool)] for m, g in zip(maps, masks)])
    all_scores = np.concatenate([np.asarray(m).ravel() for m in maps])
    xs, ys = [0.0], [0.0]
    for t in np.unique(all_scores)[::-1]:
        xs.append(np.mean(bg >= t))
        ys.append(np.mean([np.mean(maps[i][r] >= t) for i, r in regions]))
    area = 0.0
    for x0, y0, x1, y1 in zip(xs[:-1], ys[:-1], xs[1:], ys[1:]):
        if x0 >= limit:
            break
        if x1 <= limit:
            area += 0.5 * (y0 + y1) * (x1 - x0)
        else:
            y_lim = y0 + (y1 - y0) * (limit - x0) / (x1 - x0)
            area += 0.5 * (y0 + y_lim) * (limit - x0)
            break
    return area / limit


def brute_delong(labels, a, b):
    """O(n^2) structural components (DeLong, DeLong & Clarke-Pearson 1988)."""
    labels = np.asarray(labels)

    def comps(s):
        x, y = s[labels == 1], s[labels == 0]
        psi = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
        return psi.mean(), psi.mean(axis=1), psi.mean(axis=0)

    auc_a, v10a, v01a = comps(np.asarray(a, float))
    auc_b, v10b, v01b = comps(np.asarray(b, float))
    s10 = np.cov(np.vstack([v10a, v10b]))
    s01 = np.cov(np.vstack([v01a, v01b]))
    s = s10 / v10a.size + s01 / v01a.size
    var = s[0, 0] + s[1, 1] - 2 * s[0, 1]
    z = (auc_a - auc_b) / math.sqrt(var)
    from scipy.stats import norm

    return auc_a, auc_b, z, 2 * norm.sf(abs(z))


def random_masks(rng, n, h, w, p_empty=0.3):
    """Masks with several (possibly touching, diagonal) blobs; some images without regions."""
    masks = []
    for _ in range(n):
        g = np.zeros((h, w), dtype=bool)
        if rng.random() > p_empty:
            for _ in range(rng.integers(1, 5)):
                y, x = rng.integers(0, h), rng.integers(0, w)
                dy, dx = rng.integers(1, 4, 2)
                g[y : y + dy, x : x + dx] = True
            # a few isolated single pixels (regions of size 1, some diagonal neighbours)
            for _ in range(rng.integers(0, 3)):
                g[rng.integers(0, h), rng.integers(0, w)] = True
        masks.append(g)
    if not any(g.any() for g in masks):
        masks[0][1:3, 1:3] = True
    return masks


def random_maps(rng, masks, decimals):
    return [np.round(rng.random(g.shape) + 0.4 * g * rng.random(), decimals) for g in masks]


# ----------------------------------------------------------------------------------------------
# Image level
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_image_metrics_match_sklearn_and_bruteforce(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(10, 80))
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]
    scores = np.round(rng.random(n) + 0.3 * labels, 1)  # many ties
    m = image_metrics(labels, scores)
    assert set(m) == {"I-AUROC", "I-AP", "I-F1max", "I-F1max-threshold"}
    assert m["I-AUROC"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert m["I-AP"] == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
    f1, t = brute_f1max(labels, scores)
    assert m["I-F1max"] == pytest.approx(f1, abs=1e-12)
    assert m["I-F1max-threshold"] == t
    assert all(type(v) is float for v in m.values())


def test_image_metrics_simple_values():
    m = image_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert m["I-AUROC"] == 0.75
    assert m["I-F1max"] == pytest.approx(0.8)
    assert m["I-F1max-threshold"] == 0.35
    assert image_metrics([0, 1], [0.5, 0.5])["I-AUROC"] == 0.5  # all tied -> 0.5 is a real value


@pytest.mark.parametrize(
    "labels,scores,word",
    [([], [], "no samples"), ([0, 0, 0], [0.1, 0.2, 0.3], "only normal"), ([1, 1], [0.1, 0.2], "only anomalous")],
)
def test_image_metrics_undefined(labels, scores, word):
    m = image_metrics(labels, scores)
    for k, v in m.items():
        assert isinstance(v, Undefined) and not v and word in v.reason, k


def test_image_metrics_bad_input():
    with pytest.raises(ValueError):
        image_metrics([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError):
        image_metrics([0, 1], [0.1, float("nan")])
    with pytest.raises(ValueError):
        image_metrics([0, 1], [0.1])


# ----------------------------------------------------------------------------------------------
# AU-PRO
# ----------------------------------------------------------------------------------------------
def test_eight_connectivity_regions():
    # two diagonal pixels = ONE region (8-connected); a far pixel = second region
    g = np.zeros((6, 6), bool)
    g[1, 1] = g[2, 2] = True
    g[5, 5] = True
    amap = np.zeros((6, 6))
    amap[1, 1] = amap[5, 5] = 1.0  # region A half found, region B fully found, no false positive
    # at threshold 1: FPR 0, PRO = (1/2 + 1)/2 = 0.75 (4-connectivity would give (1+0+1)/3)
    fpr, pro = M.pro_curve([amap], [g])
    assert fpr[1] == 0.0 and pro[1] == pytest.approx(0.75)
    assert len(flood_fill_regions(g)) == 2


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("limit", [0.3, 0.01, 0.05, 1.0])
def test_aupro_matches_bruteforce(seed, limit):
    rng = np.random.default_rng(seed)
    n_img = int(rng.integers(2, 6))
    h, w = int(rng.integers(6, 16)), int(rng.integers(6, 16))
    masks = random_masks(rng, n_img, h, w)
    decimals = [1, 2, 3][seed % 3]  # heavy and light ties
    maps = random_maps(rng, masks, decimals)
    got = aupro(maps, masks, fpr_limit=limit)
    assert got == pytest.approx(brute_aupro(maps, masks, limit), abs=1e-12)
    assert 0.0 <= got <= 1.0


def test_aupro_fpr_hitting_limit_exactly_and_perfect_maps():
    g = np.zeros((10, 10), bool)
    g[0, :] = True  # 90 anomaly-free pixels
    amap = np.where(g, 2.0, 0.0)
    assert aupro([amap], [g], 0.3) == pytest.approx(1.0, abs=1e-12)
    assert aupro([-amap], [g], 0.3) == 0.0
    amap = np.zeros((10, 10))
    amap[g] = 1.0
    amap[1:4, :] = np.arange(30).reshape(3, 10) / 100  # 27 / 90 = 0.3 reached exactly at t=0.03
    for lim in (0.3, 27 / 90, 0.01, 1.0):
        assert aupro([amap], [g], lim) == pytest.approx(brute_aupro([amap], [g], lim), abs=1e-12)


def test_aupro_int_and_float32_maps_and_multi_limits():
    rng = np.random.default_rng(7)
    masks = random_masks(rng, 4, 12, 12)
    maps64 = random_maps(rng, masks, 2)
    maps32 = [m.astype(np.float32) for m in maps64]
    maps_int = [np.round(m * 10).astype(np.int64) for m in maps64]
    for maps in (maps32, maps_int):
        exp = brute_aupro([m.astype(np.float64) for m in maps], masks, 0.3)
        assert aupro(maps, masks, 0.3) == pytest.approx(exp, abs=1e-12)
    pm = pixel_metrics(maps64, masks, fpr_limits=(0.3, 0.01, 0.05))
    assert list(pm) == ["P-AUROC", "P-AUPRO@30%", "P-AUPRO@1%", "P-AUPRO@5%"]
    for lim, key in [(0.3, "P-AUPRO@30%"), (0.01, "P-AUPRO@1%"), (0.05, "P-AUPRO@5%")]:
        assert pm[key] == pytest.approx(aupro(maps64, masks, lim), abs=1e-15)


def test_aupro_matches_anomalib():
    """anomalib 2.7 `_AUPRO` implements the same MVTec definition (cv2 8-connected components,
    cumulative sums over a global sort, merging of tied scores, interpolation at the limit), but
    entirely in float32 (scores are cast to float32, cumulative sums and the limit itself are
    float32). Scores rounded to 2 decimals keep their ties and order in float32, so the only
    difference is float32 rounding in the cumulative sums over a few thousand pixels: relative
    error <= n * 2**-24 ~ 1e-4 in the worst case, ~1e-6 in practice; we allow 2e-5.
    """
    torch = pytest.importorskip("torch")
    aupro_mod = pytest.importorskip("anomalib.metrics.aupro")
    rng = np.random.default_rng(11)
    for _ in range(3):
        masks = random_masks(rng, 5, 24, 24)
        maps = random_maps(rng, masks, 2)
        for limit in (0.3, 0.01):
            ref = aupro_mod._AUPRO(fpr_limit=limit)
            ref.update(torch.tensor(np.stack(maps), dtype=torch.float32), torch.tensor(np.stack(masks)).int())
            expected = float(ref.compute())
            assert aupro(maps, masks, limit) == pytest.approx(expected, abs=2e-5)


@pytest.mark.parametrize(
    "masks,msg",
    [
        ([np.zeros((4, 4), bool)], "no ground-truth mask has an anomalous pixel"),
        ([np.ones((4, 4), bool)], "no anomaly-free pixel"),
    ],
)
def test_aupro_undefined_raises_and_pixel_metrics_undefined(masks, msg):
    maps = [np.random.default_rng(0).random((4, 4))]
    with pytest.raises(ValueError, match=msg):
        aupro(maps, masks)
    pm = pixel_metrics(maps, masks)
    assert set(pm) == {"P-AUROC", "P-AUPRO@30%", "P-AUPRO@1%"}
    assert all(isinstance(v, Undefined) and msg in v.reason for v in pm.values())
    assert isinstance(pixel_auroc(maps, masks), Undefined)


def test_aupro_bad_inputs():
    g = np.zeros((4, 4), bool)
    g[0, 0] = True
    with pytest.raises(ValueError):
        aupro([], [])
    with pytest.raises(ValueError):
        aupro([np.zeros((4, 4))], [g], fpr_limit=0.0)
    with pytest.raises(ValueError):
        aupro([np.full((4, 4), np.nan)], [g])
    with pytest.raises(ValueError):
        aupro([np.zeros((4, 4))], [g, g])
    assert isinstance(pixel_metrics([], [])["P-AUROC"], Undefined)


# ----------------------------------------------------------------------------------------------
# P-AUROC
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_pixel_auroc_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    masks = random_masks(rng, 5, 10, 13)
    maps = random_maps(rng, masks, 1)
    expected = roc_auc_score(np.concatenate([g.ravel() for g in masks]), np.concatenate([m.ravel() for m in maps]))
    assert pixel_auroc(maps, masks) == pytest.approx(expected, abs=1e-12)
    assert pixel_metrics(maps, masks)["P-AUROC"] == pytest.approx(expected, abs=1e-12)


def test_maps_resized_bilinear_to_mask():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    masks = random_masks(rng, 3, 16, 16, p_empty=0.0)
    small = [rng.random((8, 8)).astype(np.float32) for _ in masks]
    up = [
        torch.nn.functional.interpolate(torch.from_numpy(m)[None, None], size=(16, 16), mode="bilinear", align_corners=False)[0, 0].numpy()
        for m in small
    ]
    assert pixel_metrics(small, masks) == pixel_metrics(up, masks)


# ----------------------------------------------------------------------------------------------
# DeLong and bootstrap
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_delong_matches_bruteforce(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 120))
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]
    a = np.round(rng.random(n) + 0.5 * labels, 1)
    b = np.round(0.7 * a + 0.5 * rng.random(n), 1)
    r = delong_test(labels, a, b)
    auc_a, auc_b, z, p = brute_delong(labels, a, b)
    assert r["auroc_a"] == pytest.approx(roc_auc_score(labels, a), abs=1e-12)
    assert r["auroc_a"] == pytest.approx(auc_a, abs=1e-12)
    assert r["auroc_b"] == pytest.approx(auc_b, abs=1e-12)
    assert r["diff"] == pytest.approx(auc_a - auc_b, abs=1e-12)
    assert r["z"] == pytest.approx(z, rel=1e-9)
    assert r["p_value"] == pytest.approx(p, rel=1e-9)
    swapped = delong_test(labels, b, a)
    assert swapped["z"] == pytest.approx(-r["z"]) and swapped["p_value"] == pytest.approx(r["p_value"])


def test_delong_identical_and_null_calibration():
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(30, int), np.ones(30, int)]
    s = rng.random(60)
    r = delong_test(labels, s, s)
    assert r["diff"] == 0.0 and r["z"] == 0.0 and r["p_value"] == 1.0
    # two exchangeable noisy scorers: p-values roughly uniform under the null
    ps = []
    for _ in range(300):
        base = rng.normal(size=60) + labels
        ps.append(delong_test(labels, base + rng.normal(size=60), base + rng.normal(size=60))["p_value"])
    ps = np.asarray(ps)
    assert 0.01 <= np.mean(ps < 0.05) <= 0.11
    assert 0.4 <= np.mean(ps) <= 0.6
    for y in ([0, 0], [0, 0, 1]):
        und = delong_test(y, [0.1, 0.2, 0.3][: len(y)], [0.3, 0.4, 0.5][: len(y)])
        assert set(und) == {"auroc_a", "auroc_b", "diff", "z", "p_value"}
        assert all(isinstance(v, Undefined) for v in und.values())


def test_weighted_auroc_equals_sklearn_on_repeated_samples():
    rng = np.random.default_rng(5)
    pos = np.round(rng.random(15) + 0.2, 1)
    neg = np.round(rng.random(20), 1)
    w_pos = rng.integers(0, 4, (6, 15))
    w_neg = rng.integers(0, 4, (6, 20))
    w_pos[:, 0] += 1
    w_neg[:, 0] += 1
    got = _weighted_aurocs(pos, neg, w_pos, w_neg)
    for b in range(6):
        s = np.r_[np.repeat(pos, w_pos[b]), np.repeat(neg, w_neg[b])]
        y = np.r_[np.ones(w_pos[b].sum()), np.zeros(w_neg[b].sum())]
        assert got[b] == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_bootstrap_ci_properties():
    rng = np.random.default_rng(1)

    def data(n):
        y = np.r_[np.zeros(n, int), np.ones(n, int)]
        return y, np.round(rng.normal(size=2 * n) + 1.2 * y, 2)

    y, s = data(40)
    lo, hi = bootstrap_auroc_ci(y, s, n_boot=500, seed=3)
    point = roc_auc_score(y, s)
    assert lo <= point <= hi and 0.0 <= lo < hi <= 1.0
    assert bootstrap_auroc_ci(y, s, n_boot=500, seed=3) == (lo, hi)
    assert bootstrap_auroc_ci(y, s, n_boot=500, seed=4) != (lo, hi)
    y2, s2 = data(400)
    lo2, hi2 = bootstrap_auroc_ci(y2, s2, n_boot=500, seed=3)
    assert lo2 <= roc_auc_score(y2, s2) <= hi2
    assert hi2 - lo2 < 0.6 * (hi - lo)
    assert isinstance(bootstrap_auroc_ci([0, 0, 0], [1, 2, 3]), Undefined)
    assert isinstance(bootstrap_auroc_ci([0, 0, 1], [1, 2, 3]), Undefined)


def test_bootstrap_is_stratified():
    # stratified resampling keeps both classes in every replicate: with perfectly separated
    # classes every replicate AUROC is exactly 1
    y = np.r_[np.zeros(5, int), np.ones(3, int)]
    s = np.r_[np.arange(5), np.arange(10, 13)]
    assert bootstrap_auroc_ci(y, s, n_boot=300) == (1.0, 1.0)


# ----------------------------------------------------------------------------------------------
# evaluate
# ----------------------------------------------------------------------------------------------
def make_eval_data(rng, n=60, views=2, h=10, w=12):
    cats = np.array(["Good"] * 30 + ["Porosity"] * 12 + ["Crack"] * 10 + ["Burnthrough"] * 8)[:n]
    labels = (cats != "Good").astype(int)
    scores = np.round(rng.random(n) + 0.4 * labels, 2)
    configs = {
        "weld_type": rng.choice(["butt", "fillet"], n).tolist(),
        "steel": ["S235"] * (n - 5) + ["S355"] * 5,
        "thickness": rng.choice(["2mm", "4mm"], n).tolist(),
    }
    maps, masks = [], []
    for i in range(n):
        g = np.stack(random_masks(rng, views, h, w, p_empty=0.2)) if labels[i] else None
        if i % 7 == 0 and labels[i]:
            g = None  # anomalous sample without ground truth: left out of pixel metrics
        maps.append(rng.random((views, h, w)) + (0.5 * g if g is not None else 0))
        masks.append(g)
    return labels, scores, cats, configs, maps, masks


def test_evaluate_structure_and_values():
    rng = np.random.default_rng(0)
    labels, scores, cats, configs, maps, masks = make_eval_data(rng)
    # make the "S355" subset anomalous only -> undefined there
    res = evaluate(labels, scores, cats, configs, maps, masks, n_boot=200, seed=1)
    ov = res["overall"]
    assert ov["I-AUROC"] == pytest.approx(roc_auc_score(labels, scores))
    assert isinstance(ov["I-AUROC-CI95"], list) and ov["I-AUROC-CI95"][0] <= ov["I-AUROC"] <= ov["I-AUROC-CI95"][1]
    # pixel metrics: all views of samples with a map and ground truth (normals -> zero masks)
    pm, pg = [], []
    for i in range(len(labels)):
        if masks[i] is None and labels[i] == 1:
            continue
        g = masks[i] if masks[i] is not None else np.zeros(maps[i].shape, bool)
        pm += list(maps[i])
        pg += list(g)
    exp = pixel_metrics(pm, pg)
    for k in exp:
        assert ov[k] == pytest.approx(exp[k], abs=1e-12)
    # per category: Good vs that category, from the recorded category
    assert set(res["per_category"]) == {"Porosity", "Crack", "Burnthrough"}
    for c, block in res["per_category"].items():
        sel = (cats == "Good") | (cats == c)
        assert block["I-AUROC"] == pytest.approx(roc_auc_score(labels[sel], scores[sel]))
        assert block["I-AP"] == pytest.approx(average_precision_score(labels[sel], scores[sel]))
        idx = np.flatnonzero(sel)
        pm = [v for i in idx if not (masks[i] is None and labels[i]) for v in maps[i]]
        pg = [v for i in idx if not (masks[i] is None and labels[i]) for v in (masks[i] if masks[i] is not None else np.zeros(maps[i].shape, bool))]
        assert block["P-AUPRO@30%"] == pytest.approx(aupro(pm, pg, 0.3), abs=1e-12)
    # per config
    assert set(res["per_config"]) == {"weld_type", "steel", "thickness"}
    for axis, vals in configs.items():
        vals = np.asarray(vals)
        for v, block in res["per_config"][axis].items():
            sel = vals == v
            if len(set(labels[sel])) == 2:
                assert block["I-AUROC"] == pytest.approx(roc_auc_score(labels[sel], scores[sel]))
            else:
                assert isinstance(block["I-AUROC"], Undefined)
    assert isinstance(res["per_config"]["steel"]["S355"]["I-AUROC"], Undefined)  # last 5 all anomalous
    assert "only anomalous" in res["per_config"]["steel"]["S355"]["I-AUROC"].reason
    cnt = res["counts"]
    assert cnt["n"] == 60 and cnt["normal"] == 30 and cnt["anomalous"] == 30
    assert cnt["per_category"] == {"Burnthrough": 8, "Crack": 10, "Good": 30, "Porosity": 12}
    json.dumps(to_jsonable(res))


def test_pixel_metrics_rest_on_the_welds_with_truth():
    """Only some defects have masks (a few annotated): the pixel metrics rest on those and on the
    normals (anomaly-free by definition); a defect without a mask is left out, never read as
    all-zero truth; counts["pixel"] says how many welds they rest on."""
    labels, scores, cats, _, maps, masks = make_eval_data(np.random.default_rng(3))
    maps[0] = None  # a normal without a map counts nowhere
    without = [i for i in range(len(labels)) if labels[i] and masks[i] is None]
    used = [i for i in range(1, len(labels)) if not labels[i] or masks[i] is not None]
    assert without  # make_eval_data leaves some defects without a mask
    res = evaluate(labels, scores, cats, maps=maps, masks=masks, n_boot=20)

    truth = lambda i: masks[i] if masks[i] is not None else np.zeros(maps[i].shape, bool)
    expected = pixel_metrics([v for i in used for v in maps[i]], [v for i in used for v in truth(i)])
    for key, value in expected.items():
        assert res["overall"][key] == pytest.approx(value, abs=1e-12)
    as_zero = [*used, *without]  # the wrong reading: defects without masks as all-zero truth
    wrong = pixel_metrics([v for i in as_zero for v in maps[i]], [v for i in as_zero for v in truth(i)])
    assert res["overall"]["P-AUROC"] != pytest.approx(wrong["P-AUROC"], abs=1e-6)

    per_category = {c: sum(1 for i in used if cats[i] == c) for c in ("Burnthrough", "Crack", "Porosity")}
    assert res["counts"]["pixel"] == {"normal": 29, "anomalous": 30 - len(without),
                                      "anomalous_without_mask": len(without),
                                      "per_category": per_category}
    assert "pixel" not in evaluate(labels, scores, cats, n_boot=20)["counts"]  # no maps: no count


def test_evaluate_without_maps_and_undefined_subsets():
    labels = [0, 0, 1, 1]
    cats = ["Good", "Good", "Crack", "Crack"]
    res = evaluate(labels, [0.1, 0.2, 0.3, 0.4], cats, n_boot=50)
    assert "P-AUROC" not in res["overall"] and res["per_config"] == {}
    assert res["overall"]["I-AUROC-CI95"] == [1.0, 1.0]
    res = evaluate([0, 0, 1], [0.1, 0.2, 0.3], ["Good", "Good", "Crack"], n_boot=50)
    assert isinstance(res["overall"]["I-AUROC-CI95"], Undefined)  # < 2 samples in a class
    # with maps but no masks at all -> pixel metrics undefined with a reason
    maps = [np.random.default_rng(0).random((1, 4, 4)) for _ in range(4)]
    res = evaluate(labels, [0.1, 0.2, 0.3, 0.4], cats, maps=maps, masks=[None] * 4, n_boot=50)
    assert isinstance(res["overall"]["P-AUPRO@1%"], Undefined)
    assert "no ground-truth masks" in res["overall"]["P-AUPRO@1%"].reason
    # only normals -> everything undefined
    res = evaluate([0, 0], [0.1, 0.2], ["Good", "Good"], n_boot=50)
    assert isinstance(res["overall"]["I-AUROC"], Undefined) and res["per_category"] == {}
    # binarised labels that contradict the recorded categories are rejected
    with pytest.raises(ValueError, match="disagree"):
        evaluate([0, 0, 0], [0.1, 0.2, 0.3], ["Good", "Crack", "Good"])


# ----------------------------------------------------------------------------------------------
# Aggregation, JSON, directions
# ----------------------------------------------------------------------------------------------
def test_aggregate_seeds():
    res = aggregate_seeds(
        [
            {"I-AUROC": 0.9, "P-AUROC": Undefined("no masks"), "I-AUROC-CI95": [0.8, 0.95]},
            {"I-AUROC": 0.8, "P-AUROC": Undefined("no masks")},
            {"I-AUROC": Undefined("one class"), "P-AUROC": Undefined("no masks")},
            {"I-AUROC": np.float64(0.7)},
        ]
    )
    assert res["I-AUROC"]["mean"] == pytest.approx(0.8)
    assert res["I-AUROC"]["std"] == pytest.approx(np.std([0.9, 0.8, 0.7], ddof=1))
    assert res["I-AUROC"]["n"] == 3 and res["I-AUROC"]["n_undefined"] == 1
    assert isinstance(res["P-AUROC"], Undefined) and "no masks" in res["P-AUROC"].reason
    assert "I-AUROC-CI95" not in res
    one = aggregate_seeds([{"I-AP": 0.5}])
    assert one["I-AP"] == {"mean": 0.5, "std": 0.0, "n": 1, "n_undefined": 0}


def test_json_roundtrip():
    obj = {
        "a": np.float32(0.5),
        "b": Undefined("one class only"),
        "c": [np.int64(3), (1.0, Undefined("x"))],
        "d": np.array([1.0, 2.0]),
        "e": float("nan"),
    }
    text = json.dumps(to_jsonable(obj), allow_nan=False)
    back = from_jsonable(json.loads(text))
    assert back["a"] == 0.5 and back["b"] == Undefined("one class only")
    assert back["c"] == [3, [1.0, Undefined("x")]] and back["d"] == [1.0, 2.0]
    assert isinstance(back["e"], Undefined)
    assert json.loads(text)["b"] == {"value": None, "reason": "one class only"}


def test_higher_is_better_covers_every_metric_key():
    rng = np.random.default_rng(0)
    masks = random_masks(rng, 3, 8, 8)
    keys = set(image_metrics([0, 1], [0.1, 0.2])) | set(pixel_metrics(random_maps(rng, masks, 2), masks, (0.3, 0.01, 0.05)))
    for k in keys - {"I-F1max-threshold"}:
        assert HIGHER_IS_BETTER[k] is True and k in HIGHER_IS_BETTER and HIGHER_IS_BETTER.get(k) is True
    assert "I-F1max-threshold" not in HIGHER_IS_BETTER


def test_aupro_cut_curve_equals_full_curve_on_larger_input():
    """The O(n) pre-selection of pixels above the FPR-limit threshold must not change the result:
    compare with integrating the full (uncut) curve, on 30 maps of 64x64 with ties."""
    rng = np.random.default_rng(21)
    masks = random_masks(rng, 30, 64, 64)
    maps = [m.astype(np.float32) for m in random_maps(rng, masks, 3)]
    fpr, pro = M.pro_curve(maps, masks, max_fpr=1.0)
    assert fpr[-1] == 1.0 and pro[-1] == pytest.approx(1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(pro) >= -1e-15)
    for lim in (0.3, 0.01, 0.001):
        assert aupro(maps, masks, lim) == pytest.approx(_integrate_to_limit(fpr, pro, lim), abs=1e-12)


# ---------------------------------------------------------------------------- like with like
def _two_weld_types(seed: int = 0):
    """A category on both weld types whose defects score 1 above their own type's normals, and
    one weld type scored 5 above the other: against every normal the type decides, within a
    type the defect does."""
    rng = np.random.default_rng(seed)
    types = np.array(["FILLET"] * 30 + ["NON_FILLET"] * 30 + ["FILLET"] * 10 + ["NON_FILLET"] * 10)
    labels = np.array([0] * 60 + [1] * 20)
    scores = 5.0 * (types == "FILLET") + 1.0 * labels + rng.normal(0, 0.3, labels.size)
    return labels, scores, types


def test_stratified_auroc_is_the_share_of_pairs_within_a_stratum():
    y, s, t = _two_weld_types()
    pairs = [(i, j) for i in np.flatnonzero(y == 1) for j in np.flatnonzero(y == 0) if t[i] == t[j]]
    brute = np.mean([1.0 if s[i] > s[j] else 0.5 if s[i] == s[j] else 0.0 for i, j in pairs])
    assert M.stratified_auroc(y, s, t) == pytest.approx(brute, abs=1e-12)
    assert M.stratified_auroc(y, s, ["x"] * y.size) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert isinstance(M.stratified_auroc([0, 1], [0.1, 0.2], ["a", "b"]), Undefined)


def test_evaluate_compares_a_category_with_its_own_weld_types_normals():
    y, s, t = _two_weld_types()
    cats = np.where(y == 1, np.where(t == "FILLET", "Undercut", "Porosity_w_Excessive_Penetration"), "Good")
    cats[70:75] = "Porosity_w_Excessive_Penetration"  # this category holds both weld types
    cats[60:65] = "Porosity_w_Excessive_Penetration"
    m = M.evaluate(y, s, cats.tolist(), strata=t.tolist(), n_boot=50)
    both = m["per_category"]["Porosity_w_Excessive_Penetration"]
    idx = (y == 0) | (cats == "Porosity_w_Excessive_Penetration")
    assert both["I-AUROC"] == pytest.approx(M.stratified_auroc(y[idx], s[idx], t[idx]))
    assert both["I-AUROC"] > 0.9  # the defect shows within each weld type
    fillet_only = m["per_category"]["Undercut"]
    idx = ((y == 0) & (t == "FILLET")) | (cats == "Undercut")
    assert fillet_only["I-AUROC"] == pytest.approx(roc_auc_score(y[idx], s[idx]))
    assert m["counts"]["per_category_normal"] == {"Porosity_w_Excessive_Penetration": 60, "Undercut": 30}
    assert set(m["per_category_by_stratum"]) == {"Porosity_w_Excessive_Penetration"}
    # against every normal the fillet-only category is ranked by its weld type alone
    idx = (y == 0) | (cats == "Undercut")
    assert m["per_category_all_normals"]["Undercut"]["I-AUROC"] == pytest.approx(roc_auc_score(y[idx], s[idx]))
    without = M.evaluate(y, s, cats.tolist(), n_boot=50)
    assert "per_category_all_normals" not in without
    assert without["per_category"]["Undercut"]["I-AUROC"] == m["per_category_all_normals"]["Undercut"]["I-AUROC"]


def test_delong_and_bootstrap_with_strata_count_the_pairs_within_a_stratum():
    y, s, t = _two_weld_types()
    noise = np.random.default_rng(1).normal(0, 1.0, y.size)
    r = M.delong_test(y, s, s + noise, strata=t)
    assert r["auroc_a"] == pytest.approx(M.stratified_auroc(y, s, t))
    assert r["auroc_b"] == pytest.approx(M.stratified_auroc(y, s + noise, t))
    one = M.delong_test(y, s, s + noise, strata=["x"] * y.size)
    plain = M.delong_test(y, s, s + noise)
    assert one["z"] == pytest.approx(plain["z"]) and one["auroc_a"] == pytest.approx(plain["auroc_a"])
    # the strata's variances add up: each stratum alone, weighted by its share of the pairs (1/2)
    parts = [M.delong_test(y[t == k], s[t == k], (s + noise)[t == k]) for k in ("FILLET", "NON_FILLET")]
    var = sum(0.25 * (p["diff"] / p["z"]) ** 2 for p in parts)
    assert r["z"] == pytest.approx(r["diff"] / math.sqrt(var))
    lo, hi = M.bootstrap_auroc_ci(y, s, n_boot=300, strata=t)
    assert lo <= M.stratified_auroc(y, s, t) <= hi
    plo, phi = M.bootstrap_auroc_ci(y, s, n_boot=300)
    assert phi < lo  # pooled, the weld type lowers the AUROC far below the like-with-like one
