"""Building blocks shared by the adapters: MLPs, a linear-attention block, a small training loop
with checkpoint selection through the runner's Selector, and feature standardisation.

One copy of each piece; adapters import them instead of re-writing them.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from benchmark.method import FitContext, Inputs, Scores


def mlp(sizes: Sequence[int], act: type[nn.Module] = nn.GELU, dropout: float = 0.0,
        final_act: bool = False) -> nn.Sequential:
    """Linear layers of the given sizes with activations between them."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or final_act:
            layers.append(act())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class LinearAttention(nn.Module):
    """Multi-head linear ("unfocused") attention with the ELU+1 feature map (Katharopoulos et
    al., 2020), as used by Dinomaly's decoder: cost linear in sequence length."""

    def __init__(self, dim: int, heads: int, eps: float = 1e-6):
        super().__init__()
        self.heads, self.eps = heads, eps
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, D)
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k = F.elu(q) + 1, F.elu(k) + 1
        kv = torch.einsum("bhld,bhle->bhde", k, v)
        z = 1.0 / (torch.einsum("bhld,bhd->bhl", q, k.sum(2)) + self.eps)
        out = torch.einsum("bhld,bhde,bhl->bhle", q, kv, z)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class SoftmaxAttention(nn.Module):
    """Standard multi-head self-attention with the same interface (for ablations)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(x, x, x, need_weights=False)[0]


class AttentionBlock(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)); x + ffn(norm(x))."""

    def __init__(self, dim: int, heads: int, ffn: int, linear: bool = True, dropout: float = 0.0,
                 act: type[nn.Module] = nn.GELU):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = LinearAttention(dim, heads) if linear else SoftmaxAttention(dim, heads)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn), act(), nn.Dropout(dropout), nn.Linear(ffn, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class Standardizer:
    """Per-feature z-scoring with statistics from TRAIN only."""

    def __init__(self, eps: float = 1e-6):
        self.eps = eps

    def fit(self, x: np.ndarray, axis=0) -> "Standardizer":
        self.mean = x.mean(axis=axis, keepdims=True)
        self.std = x.std(axis=axis, keepdims=True) + self.eps
        return self

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype(np.float32)


class ScoreZ:
    """z-scoring of a 1-D anomaly score with TRAIN statistics, for score-level fusion."""

    def __init__(self, train_scores: np.ndarray):
        self.mean = float(train_scores.mean())
        self.std = float(train_scores.std()) + 1e-12

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        return (scores - self.mean) / self.std


class CheckpointSelection:
    """Keeps the state of `modules` at the candidate with the best VAL I-AUROC (the shared rule,
    through `ctx.selector`); strict improvement only, so ties keep the earliest checkpoint."""

    def __init__(self, ctx: FitContext, modules: Sequence[nn.Module]):
        self.ctx, self.modules = ctx, list(modules)
        self.best_value, self.best_step, self.best_state = -np.inf, None, None

    def offer(self, step: int, val_scores: np.ndarray) -> float:
        value = self.ctx.selector.auroc(val_scores)
        self.ctx.record("val_auroc", value)
        if self.best_state is None or (not np.isnan(value) and value > self.best_value):
            self.best_value, self.best_step = value, step
            self.best_state = [copy.deepcopy(m.state_dict()) for m in self.modules]
        return value

    def restore(self) -> None:
        if self.best_state is not None:
            for m, s in zip(self.modules, self.best_state):
                m.load_state_dict(s)
            self.ctx.log(f"selected checkpoint at epoch {self.best_step} (VAL I-AUROC {self.best_value:.4f})")


def train(model: nn.Module, loss_fn: Callable[[tuple[torch.Tensor, ...]], torch.Tensor],
          tensors: Sequence[torch.Tensor], ctx: FitContext, *, epochs: int, batch_size: int,
          optimizer: torch.optim.Optimizer, scheduler=None, step_scheduler_per_batch: bool = False,
          val_scores: Callable[[], np.ndarray] | None = None,
          on_epoch: Callable[[int], None] | None = None) -> None:
    """Mini-batch training on TRAIN tensors. With `val_scores`, the model's VAL scores are offered
    to the shared selection rule at the epochs the run's policy gives (`ctx.selector.checkpoints`;
    none under `last`) and the best checkpoint is restored at the end; otherwise, and under
    `last`, the final state is kept."""
    n = len(tensors[0])
    gen = torch.Generator().manual_seed(ctx.seed)
    offer_at = set(ctx.selector.checkpoints(epochs)) if val_scores is not None else set()
    selection = CheckpointSelection(ctx, [model]) if offer_at else None
    for epoch in ctx.progress(range(1, epochs + 1), unit="epoch"):
        model.train()
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            loss = loss_fn(tuple(t[idx] for t in tensors))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None and step_scheduler_per_batch:
                scheduler.step()
            total += loss.item() * len(idx)
        if scheduler is not None and not step_scheduler_per_batch:
            scheduler.step()
        ctx.record("train_loss", total / n)
        if on_epoch is not None:
            on_epoch(epoch)
        if epoch in offer_at:
            model.eval()
            with torch.no_grad():
                selection.offer(epoch, val_scores())
    model.eval()
    if selection is not None:
        selection.restore()


def fusion_weight(ctx: FitContext, val_a: Callable[[], np.ndarray],
                  val_b: Callable[[], np.ndarray]) -> float:
    """w of the fused score w * a + (1 - w) * b: equal weights under a label-free policy, else
    the best weight of the selector's grid on VAL (`val_a`, `val_b` give the VAL scores, computed
    only when a weight is chosen)."""
    weights = ctx.selector.weights()
    if len(weights) == 1:
        return float(weights[0])
    a, b = val_a(), val_b()
    return float(weights[ctx.selector.best([w * a + (1 - w) * b for w in weights])])


def cosine_distance(a: torch.Tensor, b: torch.Tensor, dim: int = -1) -> torch.Tensor:
    return 1.0 - F.cosine_similarity(a, b, dim=dim)


def to_tensor(x, device: str = "cpu") -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)


def views_as_images(inputs: Inputs) -> tuple[torch.Tensor, int]:
    """What image methods read of every post-weld view of every sample (`IMAGE_FEATURES`) as one
    uint8 image batch (N*V, 3, H, W), and V: image methods treat every view as an image."""
    pixels = inputs.stack(IMAGE_FEATURES[0])  # (N, V, H, W, 3) uint8
    n, v = pixels.shape[:2]
    return torch.from_numpy(pixels.reshape(n * v, *pixels.shape[2:])).permute(0, 3, 1, 2), v


def region_maps_to_views(maps: np.ndarray, inputs: Inputs, side: int | None = None) -> list[np.ndarray]:
    """Maps of what the method read (N, V, h, w) -> maps of the whole views, (V, side, side) per
    sample (default side: h), each warped back from its view's weld region (`IMAGE_FEATURES`);
    pixels outside the region take the map's lowest value. Where a method read the whole view
    the warp is the identity."""
    from benchmark.data.weld_region import map_to_view

    corners = inputs.stack(IMAGE_FEATURES[1])  # (N, V, 3, 2), fractions of the view's width, height
    side = side or maps.shape[-2]
    return [np.stack([map_to_view(m, c * side, (side, side)) for m, c in zip(sample, cs)])
            for sample, cs in zip(np.asarray(maps, np.float32), corners)]


# NOTE: grid maps (M3DM, CFM, Causal-FiLM tokens) are warped onto a view grid this many times finer
# than the token grid, which keeps the region's detail where it covers a part of the view; the
# metrics resize every map to its mask
GRID_TO_VIEW = 4

# NOTE: what every image method reads of a view (`ImagePixels` in benchmark/features/extractors.py;
# the feature cache keys on it): the crops (or DINOv2's tokens of them) and where they lie in the
# view. Stated in the image adapters' `image_input` rows.
IMAGE_FEATURES = ("image_region_pixels", "image_region")
VIEW = ("each post-weld photo's weld region, a rectangle around the bead located from the printed "
        "label (`benchmark.data.weld_region`), cut from the full-size photo (e.g. 2064 x 1548) and "
        "warped to the profile's upright square view (paper: 448 x 448); the whole photo resized "
        "to it where the guard found no label, or in a run with --whole-view")
VIEW_REASON = (
    "one view per photo, prepared once for every image method; the weld is a band of a few percent "
    "of a Weld-4M photo beside a marker sheet whose coded fiducials change pose from photo to "
    "photo, and on the whole view the image score ranks sheets, not welds (quick profile, "
    "confound-free twin of seed 0, mean I-AUROC over the image-visible categories, whole view -> "
    "weld region: PatchCore 0.473 -> 0.921, Dinomaly 0.532 -> 0.733, Causal-FiLM result-only "
    "0.555 -> 0.791); the region keeps the plate and the bead with at most a strip of the sheet on "
    "the 20 shared real views and on the twin (tests/test_weld_region.py)")
REGION_MAPPED_BACK = ("the map warped back onto the whole view (pixels outside the weld's region at "
                      "the map's lowest value), which the masks cover")
CROP_MAPPED_BACK = ("the crop's map mapped back onto the region's square, the cut-off margin "
                    f"repeating the crop's edge values; {REGION_MAPPED_BACK}")

# NOTE: the originals of PatchCore, M3DM and CFM fit one model per dataset class
ONE_MODEL = "one model for every weld configuration"
ONE_MODEL_REASON = ("the protocol fits one model per method on every TRAIN weld: every weld is the "
                    "same kind of object, and the defects were made by changing the recipe, part of "
                    "the configuration, so a model per configuration would meet TEST defects whose "
                    "configuration no TRAIN weld has")


def crop_map_to_view(amap: torch.Tensor, resize: int, crop: int | None,
                     size: tuple[int, int]) -> torch.Tensor:
    """(B, 1, crop, crop) map of the centre crop of a view resized to resize x resize ->
    (B, 1, *size) map of the whole view: the crop placed where torchvision's CenterCrop took it,
    the cut-off margin repeating the crop's edge values, then resized (bilinear) to `size`."""
    margin = resize - crop if crop else 0
    before = round(margin / 2)  # torchvision's CenterCrop offset: int(round(margin / 2))
    amap = F.pad(amap, (before, margin - before) * 2, mode="replicate")
    return F.interpolate(amap, size=size, mode="bilinear", align_corners=False)


def views_to_samples(view_scores: torch.Tensor, view_maps: torch.Tensor, inputs: Inputs,
                     pooling: str) -> Scores:
    """Per-view image scores (N*V,) and maps (N*V, h, w) of what the method read back to samples:
    the sample score pools its views ("max" or "mean"), the maps are warped back onto the whole
    views (`region_maps_to_views`), (V, h, w) per sample."""
    n = len(inputs)
    pooled = view_scores.reshape(n, -1)
    pooled = pooled.amax(1) if pooling == "max" else pooled.mean(1)
    maps = view_maps.numpy().reshape(n, -1, *view_maps.shape[-2:])
    return Scores(sample=pooled.numpy(), maps=region_maps_to_views(maps, inputs))
