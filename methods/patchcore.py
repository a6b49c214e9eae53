"""PatchCore: a coreset memory bank of locally aggregated mid-level CNN patch features; a patch's
anomaly is its distance to the nearest bank entry. The memory-bank reference of the efficiency
comparison, run through anomalib's implementation.

Paper: Roth et al., "Towards Total Recall in Industrial Anomaly Detection", CVPR 2022,
arXiv:2106.08265. Official code: https://github.com/amazon-science/patchcore-inspection
(Apache-2.0). Implementation used: anomalib 2.7 `PatchcoreModel` (Apache-2.0): timm feature
extractor, 3x3 local average pooling, layer concatenation, k-center-greedy coreset, nearest-
neighbour patch scores, the paper's re-weighted image score and the Gaussian-smoothed map; its
pre-processing (resize, ImageNet normalisation). Only the fitting loop is ours (no Lightning).

Weights: the paper's WideResNet-50-2 with torchvision's ImageNet weights, which timm calls
`wide_resnet50_2.tv_in1k` (plain `wide_resnet50_2` resolves to timm's own `racm_in1k` training);
the encoder is the suite's `wide_resnet50_2` backbone, so `--models` and `--backbone
wide_resnet50_2=FOLDER` (a timm checkpoint folder: config.json + model.safetensors) load it offline.

Every post-weld view is one image. Per view, anomalib's image score; per sample, the maximum
over the views (a defect seen in one view flags the weld).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from benchmark.features.backbones import BackboneConfig, timm_encoder

from benchmark.method import (FitContext, Group, Hyperparameters, Inputs, Method, ProfileChanges, Scores,
                              register_method)
from methods._blocks import views_as_images, views_to_samples


@dataclass(frozen=True)
class PatchCoreHP:
    encoder: str = "wide_resnet50_2"  # suite backbone: timm wide_resnet50_2.tv_in1k (torchvision)
    layers: tuple[str, ...] = ("layer2", "layer3")
    coreset_ratio: float = 0.1
    num_neighbors: int = 9  # b in the paper's image-score re-weighting
    image_size: int = 256
    center_crop: int | None = 224
    batch_size: int = 32
    view_pooling: str = "max"  # sample score from the views' image scores (ours: V views)


ORIGINAL = PatchCoreHP()
HPARAMS = Hyperparameters(
    original=ORIGINAL,
    used=PatchCoreHP(center_crop=None),
    reasons={"center_crop": "maps must cover the whole view (the metrics compare them with "
                            "full-view masks); anomalib's default pre-processing has no crop"},
    # NOTE: the quick profile's tiny preset gives the encoder as timm's `test_resnet` (same
    # ResNet layer names, ~0.1 M parameters, random weights); at 56 px and with a 2 % coreset the
    # feature extraction and the k-center-greedy selection (patches x bank size distance
    # updates) fit the CPU budget.
    profiles={"quick": ProfileChanges(
        {"image_size": 56, "coreset_ratio": 0.02},
        "quick profile: offline (tiny preset: random-weight timm test_resnet), 56-px views, "
        "2 % coreset to fit the 5-minute CPU budget")},
    original_selection="nothing to select (no training): no VAL query",
)


def _with_checkpoint(cfg: BackboneConfig, hp: PatchCoreHP):
    """anomalib's PatchcoreModel whose timm feature extractor is the checkpoint folder's.

    anomalib builds its extractor from a timm name; a `local-dir:` name would do, but anomalib
    routes any name containing "vit" (as a folder path may) to its ViT code path, so the model is
    built from the folder's architecture name and its extractor swapped for the loaded one."""
    import json
    from pathlib import Path

    import timm
    from anomalib.models.image.patchcore.torch_model import PatchcoreModel

    arch = json.loads((Path(cfg.source) / "config.json").read_text())["architecture"]
    model = PatchcoreModel(layers=list(hp.layers), backbone=arch, pre_trained=False,
                           num_neighbors=hp.num_neighbors)
    extractor = model.feature_extractor
    name, _ = timm_encoder(cfg)
    extractor.feature_extractor = timm.create_model(name, pretrained=True, features_only=True,
                                                    exportable=True, out_indices=extractor.idx)
    return model


class PatchCore(Method):
    group = Group.RESULT
    modalities = ("image",)
    yields_maps = True

    def fit(self, train: Inputs, val: Inputs, ctx: FitContext) -> None:
        from anomalib.models.image.patchcore.lightning_model import Patchcore
        from anomalib.models.image.patchcore.torch_model import PatchcoreModel

        hp = self.hp
        self.device = ctx.device
        cfg = ctx.backbone(hp.encoder)
        # NOTE: the coreset's random start (torch) and its projection (torch and numpy's global
        # generator, through scikit-learn) are anomalib's; the runner's seed makes them reproducible.
        if cfg.preset == "tiny":
            name, pretrained = timm_encoder(cfg)
            self.model = PatchcoreModel(layers=list(hp.layers), backbone=name,
                                        pre_trained=pretrained, num_neighbors=hp.num_neighbors)
        else:
            self.model = _with_checkpoint(cfg, hp)
        self.model.requires_grad_(False).to(self.device)  # nothing is trained; frozen backbone
        crop = (hp.center_crop, hp.center_crop) if hp.center_crop else None
        self.transform = Patchcore.configure_pre_processor(
            image_size=(hp.image_size, hp.image_size), center_crop_size=crop).transform

        images, _ = views_as_images(train)
        self.model.train()
        with torch.no_grad():
            for start in ctx.progress(range(0, len(images), hp.batch_size), unit="batch"):
                self.model(self._prepare(images[start:start + hp.batch_size]))
        self.model.subsample_embedding(hp.coreset_ratio)
        self.model.eval()
        ctx.log(f"memory bank: {tuple(self.model.memory_bank.shape)} "
                f"({self.memory_bank_bytes() / 2**20:.1f} MiB), {len(images)} views")

    def backbone_modules(self) -> list:
        return [self.model.feature_extractor] if hasattr(self, "model") else []

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        return self.transform(images.to(self.device, torch.float32) / 255.0)

    @torch.no_grad()
    def score(self, inputs: Inputs) -> Scores:
        hp = self.hp
        images, v = views_as_images(inputs)
        h, w = images.shape[-2:]
        scores, maps = [], []
        for start in range(0, len(images), hp.batch_size):
            out = self.model(self._prepare(images[start:start + hp.batch_size]))
            scores.append(out.pred_score.float().reshape(-1).cpu())
            maps.append(F.interpolate(out.anomaly_map.float(), size=(h, w), mode="bilinear",
                                      align_corners=False).cpu())
        return views_to_samples(torch.cat(scores).reshape(-1), torch.cat(maps)[:, 0], v, hp.view_pooling)

    def memory_bank_bytes(self) -> int:
        bank = getattr(getattr(self, "model", None), "memory_bank", None)
        return 0 if bank is None else bank.numel() * bank.element_size()


register_method(
    "patchcore", PatchCore, hparams=HPARAMS, features=("image_pixels",),
    display_name="PatchCore (Image)", row_code="B.2", view_pooling=HPARAMS.used.view_pooling,
    summary="PatchCore (anomalib): coreset memory bank of CNN patch features, nearest-neighbour "
            "distance; views are images, sample = max over views",
    paper="Roth et al., CVPR 2022, arXiv:2106.08265",
)
