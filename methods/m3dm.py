"""M3DM (Multi-3D-Memory): per-modality and fused memory banks, fused by one-class SVMs.

Wang, Peng, Zhang, Yi, Wang, Wang, "Multimodal Industrial Anomaly Detection via Hybrid Fusion",
CVPR 2023, arXiv:2303.00601. Official code: https://github.com/nomewang/M3DM (MIT licence); the
facts below are from its `feature_extractors/features.py`, `multiple_features.py`
(`TripleFeatures`, the full method `DINO+Point_MAE+Fusion`), `m3dm_runner.py` and `main.py`
defaults. Read for facts only; nothing is copied. The paper's own text could not be read from
this suite's sources, so where the paper and the code might differ the code is followed.

M3DM's point cloud is replaced by the weld's process (video, audio, sensors) and its RGB image by
the post-weld views; the UFF block is trained on process/patch pairs (`methods/_uff.py`).

* **Three memory banks** (M3DM's point, RGB and fused banks): the *process bank* holds the process
  descriptor of every TRAIN weld (one entry per weld: the process has no patches; see
  `methods/_pairing.py`), the *image bank* every DINOv2 patch token of every TRAIN view, the
  *fused bank* the UFF fused feature (both MLP outputs joined, before the heads) of every TRAIN
  (view, patch). Every bank is standardised with one scalar mean and std, the point (here:
  process) bank's mean and the RGB (here: image) bank's std, as the official `run_coreset` does
  (`bank_standardisation` "shared"; "per_bank" gives each bank its own), and reduced by a greedy
  k-centre coreset, the official `get_coreset_idx_randomp` (a sparse random projection with eps
  0.9, greedy from the first entry: `methods/_knn.py`). Coreset sizes: the official
  `run_coreset` keeps f = 10 % (`--f_coreset`) of the point bank and sizes the RGB and fused
  banks from that already reduced point bank (f x f of the point patches); it states no share of
  its own for them. On MVTec 3D-AD's grids (point and fused features on 56 x 56 = 3,136 patches per sample,
  RGB on 28 x 28 = 784) the rule gives 31 entries per sample, 4 % of the RGB and 1 % of the fused
  patches. The process bank has one entry per weld, so the rule itself would leave the patch
  banks a few entries; those MVTec 3D-AD shares are used instead (`image_coreset_ratio` 0.04,
  recorded), and the fused bank keeps 1 % of the 56 x 56 grid's patches (below).
* **The 56 x 56 fusion grid** (`fusion_grid`): the original fuses on 56 x 56, the point features
  pooled to it and the 28 x 28 RGB tokens upsampled to it by `AdaptiveAvgPool2d((56, 56))`, which
  repeats every token 2 x 2. Here the process side has no grid (one descriptor per weld), so on
  that grid every fused feature would be a token's own, four times over. Repeats change no
  nearest-neighbour distance, no maximum and no greedy coreset pick; they change the fused bank's
  size, which is built as such: 1 % of the 56 x 56 grid's patches is 4 % of the tokens
  (`fused_coreset_ratio` 0.04, 31 entries per view as the original's per sample). Maps stay on
  the token grid (a 2 x 2 repeat adds nothing before the upsampling to the view).
* **Per bank and weld**, M3DM's PatchCore score: s* = the largest distance of any of the weld's
  patches (all views together) to its nearest bank entry m*, reweighted by
  w = 1 - exp(s*/sqrt(D)) / sum_k exp(||m_test - m_k|| / sqrt(D)) over the two nearest bank
  neighbours m_k of m* (`n_reweight` = 3 counts m* itself). Per patch map: the nearest-entry
  distance, Gaussian-blurred (sigma 4 px of the original 224-px image, 8 px per token: the same
  share of the view on our grid, `sigma_in_patches`, half a token of 28 x 28); the process map is the
  weld's one distance, the same for every patch.
* **Decision layer fusion**: two one-class SVMs, `SGDOneClassSVM` (a *linear* one-class SVM fitted
  by SGD, nu 0.5, at most 1,000 epochs, as the official code; the paper calls them OCSVMs):
  D_a on each weld's vector (1.0 s_process, 0.1 s_image, 1.0 s_fused) (the official lambdas for
  point, RGB and fused) and D_s on each patch's vector of the three maps with the same weights.
  **Fitted on the TRAIN welds** whose patches built the banks, as the official `M3DM.fit` does
  (its `add_sample_to_late_fusion_mem_bank` loop runs over the training loader): TRAIN is normal
  and unlabelled, so the protocol allows it and nothing is adapted here. The anomaly score (and
  map) is the SVM's raw `score_samples`, w . x, as the official code uses it: with the positive
  weights a linear one-class SVM learns on positive distances, a learned weighting of the bank
  scores where larger distances score higher.
* The **sample score** is D_a's; the maps (V, h, w) are D_s's. Views: the image and fused bank
  scores take the maximum over every patch of every view, so a defect in one view flags the weld.

No VAL query: the UFF block keeps its last epoch (M3DM's), banks and SVMs have nothing to select.
One set of banks and SVMs serves every weld configuration where the official `main.py` fits one per
MVTec 3D-AD class (`fit_scope`, a recorded change; its UFF block is one for all classes, as here).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from benchmark.method import (FitContext, Group, Hyperparameters, Inputs, Method, ProfileChanges, Scores,
                              ViewPooling, register_method)
from methods._blocks import GRID_TO_VIEW, ONE_MODEL, ONE_MODEL_REASON, region_maps_to_views
from methods._knn import BankIndex, projected_greedy_coreset
from methods._pairing import cross_modal_features, sigma_in_patches
from methods._uff import (ORIGINAL_SELECTION, UFF_QUICK, UFF_REASONS, UFF_SMOKE, UFF_USED, UFFConfig,
                          UnsupervisedFeatureFusion)

BANKS = ("process", "image", "fused")  # in the order of M3DM's (point, RGB, fused) lambdas
# the official run_coreset sizes the RGB and fused coresets from the reduced point bank; it
# states no share of their own (module doc)
FROM_POINT_BANK = "f x the reduced point bank (f x f of the point patches)"
FUSION_ON_TOKENS = "the token grid, the fused bank sized for its 2 x 2 repeats (56 x 56 at paper)"
MVTEC_SHARE = ("the official rule sizes this bank from the reduced point bank; the process bank "
               "holds one entry per weld, not 3,136 patches per sample, so the rule would leave "
               "this bank 0.01 entries per weld; the share the rule gives on MVTec 3D-AD's grids is "
               "used instead: 31 entries per sample")


# ---------------------------------------------------------------------------- hyperparameters
@dataclass(frozen=True)
class M3DMHP(UFFConfig):
    coreset_ratio: float = 0.1  # the point (here: process) bank's share (official --f_coreset)
    # the patch banks' shares: the official rule, no number
    image_coreset_ratio: float | str = FROM_POINT_BANK
    fused_coreset_ratio: float | str = FROM_POINT_BANK
    fusion_grid: str = ("56 x 56: point features pooled to it, the 28 x 28 RGB tokens repeated 2 x 2 "
                        "(AdaptiveAvgPool2d)")
    reweight_neighbors: int = 3  # official n_reweight: m* and its two nearest bank neighbours
    bank_weights: tuple[float, float, float] = (1.0, 0.1, 1.0)  # official (xyz, rgb, fusion) lambdas
    ocsvm_nu: float = 0.5  # official --ocsvm_nu
    ocsvm_max_iter: int = 1000  # official --ocsvm_maxiter
    smoothing_sigma_px: float = 4.0  # KNNGaussianBlur(4) of every bank's map, in pixels
    bank_candidates: int = 0  # 0: every TRAIN patch enters the coreset selection
    # shared: every bank z-scored with the point (here: process) bank's mean and the RGB (here:
    # image) bank's std, as the official run_coreset does; per_bank: each bank with its own
    bank_standardisation: str = "shared"
    fit_scope: str = "banks and one-class SVMs per MVTec 3D-AD class"
    # official --max_sample: the TRAIN samples the banks and the one-class SVMs are fitted on
    max_sample: int | None = 400


HPARAMS = Hyperparameters(
    original=M3DMHP(),
    used=M3DMHP(**UFF_USED, bank_candidates=200_000, image_coreset_ratio=0.04, fused_coreset_ratio=0.04,
                fusion_grid=FUSION_ON_TOKENS, fit_scope=ONE_MODEL, max_sample=None),
    reasons={**UFF_REASONS,
             "image_coreset_ratio": f"{MVTEC_SHARE}, 4 % of its 784 RGB patches",
             "fused_coreset_ratio": f"{MVTEC_SHARE}, 1 % of its 3,136 fused patches: 4 % of the "
                                    "784 tokens whose 2 x 2 repeats make that grid (fusion_grid)",
             "fusion_grid": "the process has no grid (one descriptor per weld), so each fused "
                            "feature on the 56 x 56 grid would be a token's, repeated 2 x 2: repeats "
                            "change no nearest-neighbour distance, maximum or greedy pick, only the "
                            "fused bank's size, which fused_coreset_ratio keeps (module docstring)",
             "fit_scope": ONE_MODEL_REASON,
             "max_sample": "the protocol fits every method on every TRAIN weld (576 on Weld-4M); "
                           "a cap of 400 would drop a third of them for this method alone",
             "bank_candidates": "at most 200k random TRAIN patches enter each patch bank's greedy "
                                "coreset (Weld-4M has 5 x 784 patches per weld, 4k-d fused "
                                "features); the bank keeps its share of all TRAIN patches"},
    profiles={"quick": ProfileChanges(
        {**UFF_QUICK, "image_coreset_ratio": 0.02},
        "quick profile: the tiny DINOv2 at 112 px, a shorter UFF schedule and a 2 % image bank "
        "(the greedy selection costs patches x bank size) to fit the 5-minute CPU budget")},
    original_selection=ORIGINAL_SELECTION + "; banks and one-class SVMs have nothing to select",
    smoke=UFF_SMOKE,
)


# ---------------------------------------------------------------------------- the banks
def scalar_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One mean and one std over every value of a bank's TRAIN features."""
    features = features.float()
    return features.mean(), features.std() + 1e-12


class MemoryBank:
    """One M3DM memory bank: scalar-standardised TRAIN features reduced by a greedy coreset
    (`statistics`: the (mean, std) to standardise with; default: the features' own)."""

    def __init__(self, features: torch.Tensor, ratio: float, reweight_neighbors: int, device: str,
                 statistics: tuple[torch.Tensor, torch.Tensor] | None = None):
        features = features.to(device).float()
        self.mean, self.std = statistics or scalar_statistics(features)
        z = (features - self.mean) / self.std
        self.entries = z[projected_greedy_coreset(z, max(1, int(len(z) * ratio)))]  # NOTE: one entry at least
        self.index = BankIndex(self.entries)
        self.reweight_neighbors = reweight_neighbors

    def score(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Patches (b, K, D) of b welds -> (M3DM's reweighted weld score (b,), the nearest-entry
        distance of every patch (b, K))."""
        b, k, dim = patches.shape
        z = (patches.to(self.entries.device).float() - self.mean) / self.std
        dist, idx = self.index.search(z.reshape(b * k, dim))
        dist, idx = dist.reshape(b, k), idx.reshape(b, k)
        rows = torch.arange(b, device=z.device)
        worst = dist.argmax(1)  # m_test: the patch farthest from the bank
        s_star = dist[rows, worst]
        m_test = z[rows, worst]
        m_star = self.entries[idx[rows, worst]]
        n = min(self.reweight_neighbors, len(self.entries))
        support = self.index.search(m_star, n)[1][:, 1:]
        if support.shape[1] == 0:  # a one-entry bank has no neighbours to reweight with
            return s_star, dist
        scale = math.sqrt(dim)
        knn = (m_test[:, None, :] - self.entries[support]).norm(dim=-1)
        weight = 1 - torch.exp(s_star / scale) / torch.exp(knn / scale).sum(1)
        return weight * s_star, dist

    def nbytes(self) -> int:
        return self.entries.numel() * self.entries.element_size()


def fit_decision_layer(x: np.ndarray, nu: float, max_iter: int, seed: int):
    """A linear one-class SVM (M3DM's decision layer) fitted on TRAIN rows x (n, 3)."""
    from sklearn.linear_model import SGDOneClassSVM

    return SGDOneClassSVM(nu=nu, max_iter=max_iter, random_state=seed).fit(x)


# ---------------------------------------------------------------------------- the adapter
class M3DM(Method):
    group = Group.CROSS
    modalities = ("video", "audio", "sensor", "image")
    yields_maps = True

    def fit(self, train: Inputs, val: Inputs, ctx: FitContext) -> None:
        hp = self.hp
        self.uff = UnsupervisedFeatureFusion(hp, ctx.device)
        process, patches = self.uff.fit(train, ctx)  # NOTE: no VAL candidates: M3DM keeps the last
        features = self._features(process, patches)
        gen = torch.Generator().manual_seed(ctx.seed)
        ratios = {"process": hp.coreset_ratio, "image": hp.image_coreset_ratio,
                  "fused": hp.fused_coreset_ratio}
        shared = None
        if hp.bank_standardisation == "shared":
            shared = (scalar_statistics(features["process"])[0], scalar_statistics(features["image"])[1])
        elif hp.bank_standardisation != "per_bank":
            raise ValueError(f"bank_standardisation {hp.bank_standardisation!r}: shared or per_bank")
        self.banks = {}
        for name in BANKS:
            x = features[name].reshape(-1, features[name].shape[-1])
            ratio = ratios[name]
            if name != "process" and hp.bank_candidates and len(x) > hp.bank_candidates:
                # NOTE: the bank keeps its share of every TRAIN patch, chosen among the candidates
                ratio = min(1.0, ratio * len(x) / hp.bank_candidates)
                x = x[torch.randperm(len(x), generator=gen)[:hp.bank_candidates]]
            self.banks[name] = MemoryBank(x, ratio, hp.reweight_neighbors, ctx.device,
                                          statistics=shared and tuple(s.to(ctx.device) for s in shared))
            ctx.log(f"{name} bank: {len(self.banks[name].entries)} of {len(x)} entries")
        sample, per_patch = self._bank_scores(features)
        self.detect = fit_decision_layer(sample, hp.ocsvm_nu, hp.ocsvm_max_iter, ctx.seed)
        self.segment = fit_decision_layer(per_patch.reshape(-1, len(BANKS)), hp.ocsvm_nu,
                                          hp.ocsvm_max_iter, ctx.seed)
        ctx.log("decision layer weights (process, image, fused): "
                f"{np.round(self.detect.coef_, 4).tolist()}")

    @torch.no_grad()
    def _features(self, process: torch.Tensor, patches: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each bank's features of a split: process (N, 1, D_p), image and fused (N, V*P, D)."""
        n, views, n_patches, dim_i = patches.shape
        fused = torch.cat([f.half().cpu() for f, _ in self.uff.patches(process, patches)])
        return {"process": process[:, None, :], "image": patches.reshape(n, views * n_patches, dim_i),
                "fused": fused}

    @torch.no_grad()
    def _bank_scores(self, features: dict[str, torch.Tensor], chunk: int = 16):
        """(weighted weld scores (N, 3), weighted per-patch maps (N, V, h, w, 3))."""
        views, side = self.uff.grid
        n = len(features["process"])
        scores, maps = [], []
        for name, weight in zip(BANKS, self.hp.bank_weights):
            s, d = zip(*(self.banks[name].score(features[name][i:i + chunk])
                         for i in range(0, n, chunk)))
            s, d = torch.cat(s).cpu().numpy(), torch.cat(d).cpu().numpy()
            if name == "process":  # one distance per weld: the same value on every patch
                d = np.broadcast_to(d.reshape(n, 1, 1, 1), (n, views, side, side))
            else:
                d = gaussian_filter(d.reshape(n, views, side, side),
                                    sigma=(0, 0) + (sigma_in_patches(self.hp.smoothing_sigma_px, side),) * 2,
                                    mode="nearest")
            scores.append(weight * s)
            maps.append(weight * d)
        return np.stack(scores, 1).astype(np.float64), np.stack(maps, -1).astype(np.float64)

    def score(self, inputs: Inputs) -> Scores:
        sample, per_patch = self._bank_scores(self._features(*self.uff.encode(inputs)))
        maps = self.segment.score_samples(per_patch.reshape(-1, len(BANKS)))
        maps = maps.reshape(per_patch.shape[:-1])
        return Scores(sample=self.detect.score_samples(sample),
                      maps=region_maps_to_views(maps, inputs, GRID_TO_VIEW * maps.shape[-1]))

    def torch_modules(self) -> list:
        return [self.uff.module] if hasattr(self, "uff") else []

    def memory_bank_bytes(self) -> int:
        return sum(bank.nbytes() for bank in getattr(self, "banks", {}).values())


register_method(
    "m3dm", M3DM, hparams=HPARAMS, features=cross_modal_features,
    family="m3dm", display_name="M3DM", row_code="C.5", view_pooling=ViewPooling.MAX,
    summary="M3DM: process, image and UFF-fused memory banks (greedy coreset), bank "
            "scores fused by linear one-class SVMs fitted on TRAIN",
    paper="Wang et al., CVPR 2023, arXiv:2303.00601",
)
