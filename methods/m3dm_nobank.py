"""M3DM-style (No-Bank): M3DM's fusion heads scored by their disagreement, no memory bank.

The UFF block of Wang et al., "Multimodal Industrial Anomaly Detection via Hybrid Fusion", CVPR
2023, arXiv:2303.00601 (official code: https://github.com/nomewang/M3DM, MIT licence; read for
facts only), trained on process/patch pairs as described in `methods/_uff.py`.

**The score is the suite's own, not M3DM's.** M3DM scores with memory banks and fuses the bank
distances with one-class SVMs (that is the `m3dm` row); this row keeps only the fusion block and
reads its two heads: per patch, 1 - cos(head_process(process token), head_result(patch token)),
the disagreement of the contrastively aligned heads. Maps (V, h, w) on the patch grid; the image
score of a view is the maximum of its Gaussian-smoothed map and the **sample score is the maximum
over the views** (the same rule as `crossmodal_mapping`). It is the seed's row C.4.
"""
from __future__ import annotations

from dataclasses import dataclass

from benchmark.method import (FitContext, Group, Hyperparameters, Inputs, Method, ProfileChanges, Scores,
                              ViewPooling, register_method)
from methods._blocks import GRID_TO_VIEW, region_maps_to_views
from methods._pairing import cross_modal_features, sigma_in_patches, smoothed_max
from methods._uff import (ORIGINAL_SELECTION, UFF_QUICK, UFF_QUICK_REASON, UFF_REASONS, UFF_SMOKE,
                          UFF_USED, UFFConfig, UnsupervisedFeatureFusion)


@dataclass(frozen=True)
class M3DMNoBankHP(UFFConfig):
    smoothing_sigma_px: float = 4.0  # Gaussian blur of M3DM's maps (KNNGaussianBlur(4), in pixels)


HPARAMS = Hyperparameters(
    original=M3DMNoBankHP(), used=M3DMNoBankHP(**UFF_USED), reasons=UFF_REASONS,
    profiles={"quick": ProfileChanges(UFF_QUICK, UFF_QUICK_REASON)}, original_selection=ORIGINAL_SELECTION,
    smoke=UFF_SMOKE)


class M3DMNoBank(Method):
    group = Group.CROSS
    modalities = ("video", "audio", "sensor", "image")
    yields_maps = True

    def fit(self, train: Inputs, val: Inputs, ctx: FitContext) -> None:
        self.uff = UnsupervisedFeatureFusion(self.hp, ctx.device)
        encoded = {}

        def val_scores():
            # NOTE: encoded at the first offer: the descriptor exists once `fit` has seen TRAIN
            if not encoded:
                encoded["val"] = self.uff.encode(val)
            return self._scores(*encoded["val"])[0]

        self.uff.fit(train, ctx, val_scores=val_scores)

    def _scores(self, process, patches):
        maps = self.uff.disagreement_maps(process, patches)
        return smoothed_max(maps, sigma_in_patches(self.hp.smoothing_sigma_px, maps.shape[-1])), maps

    def score(self, inputs: Inputs) -> Scores:
        sample, maps = self._scores(*self.uff.encode(inputs))
        return Scores(sample=sample, maps=region_maps_to_views(maps, inputs, GRID_TO_VIEW * maps.shape[-1]))

    def torch_modules(self) -> list:
        return [self.uff.module] if hasattr(self, "uff") else []


register_method(
    "m3dm_nobank", M3DMNoBank, hparams=HPARAMS, features=cross_modal_features,
    family="m3dm", display_name="M3DM-style (No-Bank)", row_code="C.4",
    view_pooling=ViewPooling.MAX,
    summary="M3DM's UFF heads (patch-wise InfoNCE process<->result) without memory banks; "
            "score = the heads' disagreement (the suite's rule, not M3DM's)",
    paper="after Wang et al., CVPR 2023, arXiv:2303.00601",
)
