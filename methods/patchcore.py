"""PatchCore: a coreset memory bank of locally aggregated mid-level CNN patch features; a patch's
anomaly is its distance to the nearest bank entry. The memory-bank reference of the efficiency
comparison.

Paper: Roth et al., "Towards Total Recall in Industrial Anomaly Detection", CVPR 2022,
arXiv:2106.08265. Official code: https://github.com/amazon-science/patchcore-inspection
(Apache-2.0); the facts below are from its README command (`bin/run_patchcore.py ... -le layer2
-le layer3 --pretrain_embed_dimension 1024 --target_embed_dimension 1024 --anomaly_scorer_num_nn 1
--patchsize 3 sampler -p 0.1 approx_greedy_coreset dataset --resize 256 --imagesize 224`),
`src/patchcore/patchcore.py` and `src/patchcore/common.py`. Read for facts only; nothing is copied.
Implementation used: anomalib 2.7 `PatchcoreModel` (Apache-2.0) for the timm feature extractor and
the Gaussian-smoothed map (sigma 4); its pre-processing (resize, centre crop, ImageNet
normalisation). The coreset is the official approximate greedy sampler and the nearest-neighbour
search an exact faiss index, as the official code's (`methods/_knn.py`); the fitting loop is ours.

The official defaults, which anomalib departs from, are the defaults here:

* **embedding** (`embed_dim` 1024): each layer's 3 x 3 neighbourhood of every position, flattened
  channel by channel and average-pooled to 1,024 values, layer3 upsampled (bilinear) to layer2's
  grid, both layers joined and average-pooled to 1,024 (official `PatchMaker.patchify`,
  `MeanMapper`, `Aggregator`). `embed_dim=None` is anomalib's: 3 x 3 average pooling and the
  layers concatenated (1,536-d).
* **image score** (`image_score` "max_distance"): the largest nearest-neighbour distance of any
  patch of the view (official `NearestNeighbourScorer` with one neighbour, `PatchMaker.score`).
  "anomalib_reweighted" is anomalib's re-weighting of that distance with `num_neighbors` (b = 9)
  bank neighbours, as the paper's eq. 7 writes it.
* **input**: the suite's square view of the photo's weld region (`methods._blocks.VIEW`), resized
  to 256 and centre-cropped to 224 (official `--resize 256 --imagesize 224` of the whole MVTec
  image, whose `Resize(256)` keeps the aspect: `image_input`, a recorded change). The map covers
  the crop; it is mapped back onto the region's square, the cropped-off margin repeating the
  crop's edge values, and warped back onto the whole view, so that maps cover the whole view (the
  metrics compare them with full-view masks; the official metrics read the crop only).
* **fit scope**: one memory bank for every weld configuration where the official `run_patchcore.py`
  fits one per MVTec AD class (`fit_scope`, a recorded change).

Weights: the paper's WideResNet-50-2 with torchvision's ImageNet weights, which timm calls
`wide_resnet50_2.tv_in1k` (plain `wide_resnet50_2` resolves to timm's own `racm_in1k` training);
the encoder is the suite's `wide_resnet50_2` backbone, so `--models` and `--backbone
wide_resnet50_2=FOLDER` (a timm checkpoint folder: config.json + model.safetensors) load it offline.

Every post-weld view is one image. Per view, the image score above; per sample, the maximum
over the views (a defect seen in one view flags the weld).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch.nn import functional as F

from benchmark.features.backbones import BackboneConfig, timm_encoder

from benchmark.method import (FitContext, Group, Hyperparameters, Inputs, Method, ProfileChanges, Scores,
                              register_method)
from methods._blocks import (CROP_MAPPED_BACK, IMAGE_FEATURES, ONE_MODEL, ONE_MODEL_REASON, VIEW,
                             VIEW_REASON, crop_map_to_view, views_as_images, views_to_samples)
from methods._knn import BankIndex, approximate_greedy_coreset


IMAGE_SCORES = ("max_distance", "anomalib_reweighted")


@dataclass(frozen=True)
class PatchCoreHP:
    encoder: str = "wide_resnet50_2"  # suite backbone: timm wide_resnet50_2.tv_in1k (torchvision)
    layers: tuple[str, ...] = ("layer2", "layer3")
    coreset_ratio: float = 0.1
    embed_dim: int | None = 1024  # official pretrain/target_embed_dimension; None: anomalib's concat
    image_score: str = "max_distance"  # official; "anomalib_reweighted": anomalib's (paper eq. 7)
    num_neighbors: int = 9  # b of anomalib's re-weighting (read only by "anomalib_reweighted")
    image_size: int = 256  # official --resize
    center_crop: int | None = 224  # official --imagesize; the map is mapped back (module doc)
    batch_size: int = 32
    view_pooling: str = "max"  # sample score from the views' image scores (ours: V views)
    # official datasets/mvtec.py (Resize(256), CenterCrop(224)) and run_patchcore.py
    image_input: str = ("the dataset image, shorter side resized (aspect kept), centre crop; "
                        "pixel metrics on the crop")
    fit_scope: str = "one model per MVTec AD class"
    # official sampler.py ApproximateGreedyCoresetSampler and common.py RescaleSegmentor
    coreset_sampler: str = "approximate greedy: 10 random starts, features projected to 128-d"
    anomaly_map: str = "squared L2 patch distances, bilinear upsampling, Gaussian sigma 4"


ORIGINAL = PatchCoreHP()
ANOMALIB_API = "the suite runs anomalib's PatchcoreModel through its API"
HPARAMS = Hyperparameters(
    original=ORIGINAL,
    used=replace(ORIGINAL, fit_scope=ONE_MODEL, image_input=(
        f"{VIEW}; both sides resized, centre crop; {CROP_MAPPED_BACK}"),
        anomaly_map="L2 patch distances, nearest-neighbour upsampling, Gaussian sigma 4 (anomalib)"),
    reasons={
        "anomaly_map": f"{ANOMALIB_API}; squaring is monotone, so the image score's ranking and "
                       "the pixel ranking within a map are unchanged; nearest against bilinear "
                       "upsampling changes the maps between patch centres (pixel metrics only)",
        "image_input": f"{VIEW_REASON}; the original's resize keeps the aspect, so its 224 crop of "
                       "the wide weld region would see only its middle (here 7/8 of each axis); "
                       "the crop's map goes back onto the whole view, which the masks cover",
        "fit_scope": ONE_MODEL_REASON,
    },
    # NOTE: the quick profile's tiny preset gives the encoder as timm's `test_resnet` (same
    # ResNet layer names, ~0.1 M parameters, random weights); at 56 px and with a 2 % coreset the
    # feature extraction and the k-center-greedy selection (patches x bank size distance
    # updates) fit the CPU budget; its layers have 48 and 192 channels, so a 256-d embedding
    # keeps every value (432 and 1,728 per 3 x 3 neighbourhood) without padding the bank.
    profiles={"quick": ProfileChanges(
        {"image_size": 56, "center_crop": 49, "coreset_ratio": 0.02, "embed_dim": 256},
        "quick profile: offline (tiny preset: random-weight timm test_resnet), 56-px views "
        "cropped to 49 (the official 224/256), a 256-d embedding and a 2 % coreset to fit the "
        "5-minute CPU budget")},
    original_selection="nothing to select (no training): no VAL query",
)


def pool_channels(x: torch.Tensor, dim: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, dim, H, W): every position's C values average-pooled to `dim`
    (adaptive 1-D pooling over the channel axis, the official code's projection)."""
    b, c, h, w = x.shape
    flat = x.permute(0, 2, 3, 1).reshape(b * h * w, 1, c)
    return F.adaptive_avg_pool1d(flat, dim).reshape(b, h, w, dim).permute(0, 3, 1, 2)


def neighbourhood_embedding(features: list[torch.Tensor], dim: int) -> torch.Tensor:
    """The official PatchCore patch feature from layer maps [(B, C_l, H_l, W_l)], first layer
    finest: each position's 3 x 3 neighbourhood (zero-padded) flattened channel-major and pooled
    to `dim`, every layer brought to the first layer's grid (bilinear), the layers joined in
    order and pooled to `dim` again. Returns (B, dim, H_0, W_0).

    NOTE: the official code upsamples the unfolded neighbourhoods before pooling them; both steps
    are linear and act on different axes, so pooling first gives the same numbers."""
    grid = features[0].shape[-2:]
    layers = []
    for x in features:
        b, c, h, w = x.shape
        patches = F.unfold(x, kernel_size=3, padding=1).reshape(b, c * 9, h, w)
        pooled = pool_channels(patches, dim)
        if (h, w) != tuple(grid):
            pooled = F.interpolate(pooled, size=grid, mode="bilinear", align_corners=False)
        layers.append(pooled)
    return pool_channels(torch.cat(layers, 1), dim)


def _patchcore_model_class():
    from anomalib.models.image.patchcore.torch_model import PatchcoreModel

    class _PatchcoreModel(PatchcoreModel):
        """anomalib's PatchcoreModel with the official embedding and image score as options."""

        def __init__(self, hp: PatchCoreHP, backbone: str, pre_trained: bool):
            super().__init__(layers=list(hp.layers), backbone=backbone, pre_trained=pre_trained,
                             num_neighbors=hp.num_neighbors)
            if hp.image_score not in IMAGE_SCORES:
                raise ValueError(f"PatchCore image_score {hp.image_score!r}: one of {IMAGE_SCORES}")
            self.embed_dim, self.image_score = hp.embed_dim, hp.image_score
            if self.embed_dim:  # NOTE: the official embedding aggregates the 3 x 3 neighbourhood itself
                self.feature_pooler = torch.nn.Identity()

        def generate_embedding(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
            if not self.embed_dim:
                return super().generate_embedding(features)
            return neighbourhood_embedding([features[layer] for layer in self.layers], self.embed_dim)

        def subsample_embedding(self, sampling_ratio: float) -> None:
            """The official approximate greedy coreset of the stored embeddings."""
            bank = torch.vstack(self.embedding_store)
            self.embedding_store.clear()
            self.memory_bank = bank[approximate_greedy_coreset(bank, sampling_ratio)]

        def nearest_neighbors(self, embedding: torch.Tensor, n_neighbors: int):
            if getattr(self, "index", None) is None or self.index.bank is not self.memory_bank:
                self.index = BankIndex(self.memory_bank)  # NOTE: built once per bank
            distances, locations = self.index.search(embedding, n_neighbors)
            if n_neighbors == 1:  # anomalib's shapes: (n,) for one neighbour, else (n, k)
                return distances[:, 0], locations[:, 0]
            return distances, locations

        def compute_anomaly_score(self, patch_scores, locations, embedding):
            if self.image_score == "max_distance":
                return patch_scores.amax(1)  # (B, patches) nearest-neighbour distances
            return super().compute_anomaly_score(patch_scores, locations, embedding)

    return _PatchcoreModel


def _with_checkpoint(cfg: BackboneConfig, hp: PatchCoreHP):
    """The PatchCore model whose timm feature extractor is the checkpoint folder's.

    anomalib builds its extractor from a timm name; a `local-dir:` name would do, but anomalib
    routes any name containing "vit" (as a folder path may) to its ViT code path, so the model is
    built from the folder's architecture name and its extractor swapped for the loaded one."""
    import json
    from pathlib import Path

    import timm

    arch = json.loads((Path(cfg.source) / "config.json").read_text())["architecture"]
    model = _patchcore_model_class()(hp, backbone=arch, pre_trained=False)
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

        hp = self.hp
        self.device = ctx.device
        cfg = ctx.backbone(hp.encoder)
        # NOTE: the coreset's random starts and projection come from torch's generator, which the
        # runner seeds
        if cfg.preset == "tiny":
            name, pretrained = timm_encoder(cfg)
            self.model = _patchcore_model_class()(hp, backbone=name, pre_trained=pretrained)
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
        images, _ = views_as_images(inputs)
        size = tuple(images.shape[-2:])
        scores, maps = [], []
        for start in range(0, len(images), hp.batch_size):
            out = self.model(self._prepare(images[start:start + hp.batch_size]))
            scores.append(out.pred_score.float().reshape(-1).cpu())
            maps.append(crop_map_to_view(out.anomaly_map.float(), hp.image_size, hp.center_crop, size).cpu())
        return views_to_samples(torch.cat(scores).reshape(-1), torch.cat(maps)[:, 0], inputs,
                                hp.view_pooling)

    def memory_bank_bytes(self) -> int:
        bank = getattr(getattr(self, "model", None), "memory_bank", None)
        return 0 if bank is None else bank.numel() * bank.element_size()


register_method(
    "patchcore", PatchCore, hparams=HPARAMS, features=IMAGE_FEATURES,
    display_name="PatchCore (Image)", row_code="B.2", view_pooling=HPARAMS.used.view_pooling,
    summary="PatchCore (official scoring on anomalib's parts): coreset memory bank of 1,024-d "
            "CNN patch features, max nearest-neighbour distance; views are images, sample = max "
            "over views",
    paper="Roth et al., CVPR 2022, arXiv:2106.08265",
)
