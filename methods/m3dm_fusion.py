"""M3DM's Unsupervised Feature Fusion (UFF), scored without and with a memory bank.

Wang, Peng, Zhang, Yi, Wang, Wang, "Multimodal Industrial Anomaly Detection via Hybrid Fusion",
CVPR 2023, arXiv:2303.00601. Official code: https://github.com/nomewang/M3DM (MIT licence).
Read for facts only; nothing is copied.

UFF gives each modality a LayerNorm + MLP (d -> 4d -> d, GELU), then a single linear head to 256
dimensions, and trains them with a patch-wise InfoNCE: the two modalities' features of the same
patch are the positive pair, every other patch in the batch (of the same and of other objects) a
negative. Here the modalities are the process and the result of a weld:

* **Pairing** (the same as `crossmodal_mapping`): the process token of patch j of view v is the
  weld's process descriptor (video/audio token mean and std over time, sensor mean, std and an
  8-bin trace, z-scored with TRAIN statistics) joined with a fixed code of (v, j) (sinusoidal
  row/column code + view one-hot); the result token is DINOv2 patch token j of view v (z-scored
  with TRAIN statistics). The positive is (process token, result token) of the same weld and the
  same patch; the negatives are the other patches of the same weld and all patches of the other
  welds in the batch. `patches_per_sample` random patches per weld enter each batch.
* **Score without the memory bank** (`m3dm_fusion`): the disagreement of the fused heads, per patch
  1 - cos(head_process(token), head_result(patch)); maps (V, h, w) on the patch grid; the image
  score of a view is the maximum of its Gaussian-smoothed map and the **sample score is the maximum
  over the views** (the same rule as `crossmodal_mapping`).
* **With the memory bank** (`m3dm_fusion_bank`): M3DM's fused feature (the two MLP outputs joined,
  before the heads) of every TRAIN patch, reduced by a greedy coreset to 10 % (random projection
  to 128 dimensions for the selection, as PatchCore/M3DM); the patch score is the distance to the
  nearest bank entry (exact, with `torch.cdist`: faiss is not installed), and the sample score the
  maximum over patches and views. Only the fused bank is kept: M3DM's RGB and point banks and its
  one-class-SVM decision fusion have no counterpart here (the single-modality baselines are other
  rows of the table), and PatchCore's score reweighting is left out.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from benchmark.method import (FitContext, Group, Hyperparameters, Inputs, Method, ProfileChanges, Role,
                              smoke_run,
                              Scores, register_method)
from methods._blocks import mlp, to_tensor
from methods._blocks import train as train_loop
from methods._pairing import (DINOV2_PATCH_PX, PROCESS_FEATURES, ProcessDescriptor, patch_tensor,
                              position_code, result_statistics, smoothed_max)


# ---------------------------------------------------------------------------- hyperparameters
@dataclass(frozen=True)
class M3DMFusionHP:
    mlp_ratio: float = 4.0
    head_dim: int = 256
    temperature: float = 1.0  # FeatureFusionBlock.T in the official code (loss scaled by 2T)
    epochs: int = 10
    batch_size: int = 16  # per step, with 16 accumulation steps: 256 per update
    accum_iter: int = 16
    patches_per_sample: int = 784  # every patch of a 224 px image under ViT-B/8 (28 x 28)
    lr: float = 3e-3  # absolute lr of the README command; AdamW betas (0.9, 0.95)
    weight_decay: float = 0.01  # torch's AdamW default: the official code passes none
    warmup_epochs: int = 1  # then a half-cycle cosine to 0, per iteration
    smoothing_sigma_px: float = 4.0  # Gaussian blur of the segmentation maps (3D-ADS / M3DM)
    center_result: bool = False  # raw backbone features in the original
    sensor_bins: int = 0  # no process side in the original (defined here)
    position_freqs: int = 0  # no position code in the original (patches were aligned)
    coreset_ratio: float = 0.1  # memory-bank variant only
    coreset_projection: int = 128
    memory_bank: bool = True  # M3DM scores with memory banks of (fused) patch features
    bank_candidates: int = 0  # 0: every TRAIN patch enters the coreset selection
    eval_every: int = 2  # checkpoint candidates offered to the shared selector (epochs)


_REASONS = {
    "accum_iter": "TRAIN holds at most a few hundred welds, too few for 256-weld updates; one "
                  "update per 16-weld batch gives the heads enough steps",
    "epochs": "with one update per 16 welds on a small TRAIN set, 20 epochs give the heads a "
              "number of updates comparable to M3DM's (about 100)",
    "patches_per_sample": "5 views x 256 patches per weld; 256 random patches per weld keep the "
                          "InfoNCE logits matrix (4096^2) within GPU memory",
    "center_result": "DINOv2 patch tokens share a large common component; z-scoring them with "
                     "TRAIN statistics keeps the cosine-based objective sensitive to the bead",
    "sensor_bins": "the process descriptor keeps the sensor trace at 8 time bins per channel",
    "position_freqs": "one process vector serves every patch, so a fixed code of the patch "
                      "position (4 frequencies per axis + view one-hot) makes the patch-wise "
                      "positives distinguishable",
}
QUICK = {"quick": ProfileChanges({"patches_per_sample": 64, "epochs": 8, "eval_every": 4})}
SMOKE = smoke_run(epochs=2, eval_every=1)
_USED = M3DMFusionHP(accum_iter=1, epochs=20, patches_per_sample=256, center_result=True,
                     sensor_bins=8, position_freqs=4)
HPARAMS = Hyperparameters(
    original=M3DMFusionHP(), used=dataclasses.replace(_USED, memory_bank=False),
    reasons={**_REASONS, "memory_bank": "row C.4 scores without a memory bank: the disagreement "
                                         "of the fused heads"},
    profiles=QUICK, smoke=SMOKE)
HPARAMS_BANK = Hyperparameters(
    original=M3DMFusionHP(), used=dataclasses.replace(_USED, bank_candidates=200_000),
    reasons={**_REASONS, "bank_candidates": "at most 200k random TRAIN patches enter the greedy "
                                            "coreset (Weld-4M has 5 x 256 patches per weld)"},
    profiles=QUICK, smoke=SMOKE)


# ---------------------------------------------------------------------------- the fusion block
class FusionBranch(nn.Module):
    """One modality's UFF branch: LayerNorm + MLP (d -> ratio*d -> d), then a linear head."""

    def __init__(self, dim: int, mlp_ratio: float, head_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.mlp = mlp([dim, int(dim * mlp_ratio), dim], act=nn.GELU)
        self.head = nn.Linear(dim, head_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fused = self.mlp(self.norm(x))
        return fused, self.head(fused)


def info_nce(result_emb: torch.Tensor, process_emb: torch.Tensor, temperature: float) -> torch.Tensor:
    """Patch-wise InfoNCE over (M, E) pairs: row i's positive is column i; scaled by 2T as in M3DM."""
    logits = F.normalize(result_emb, dim=1) @ F.normalize(process_emb, dim=1).T / temperature
    return F.cross_entropy(logits, torch.arange(len(logits), device=logits.device)) * (2 * temperature)


def warmup_cosine(warmup_steps: int, total_steps: int):
    """Per-iteration lr factor: linear warmup, then a half-cycle cosine to 0 (MAE-style)."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / max(warmup_steps, 1)
        progress = (step - warmup_steps) / max(total_steps - warmup_steps, 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    return factor


def greedy_coreset(features: torch.Tensor, n_select: int, projection: int, seed: int) -> torch.Tensor:
    """Indices of an approximate greedy (k-centre) coreset, chosen in a random projection."""
    gen = torch.Generator().manual_seed(seed)
    if features.shape[1] > projection:
        proj = torch.randn(features.shape[1], projection, generator=gen) / math.sqrt(projection)
        features = features @ proj.to(features.device)
    selected = [int(torch.randint(len(features), (1,), generator=gen))]
    min_dist = torch.cdist(features, features[selected[-1]][None]).squeeze(1)
    for _ in range(n_select - 1):
        selected.append(int(torch.argmax(min_dist)))
        min_dist = torch.minimum(min_dist, torch.cdist(features, features[selected[-1]][None]).squeeze(1))
    return torch.tensor(selected)


# ---------------------------------------------------------------------------- the adapter
class M3DMFusion(Method):
    group = Group.CROSS
    modalities = ("video", "audio", "sensor", "image")
    yields_maps = True

    def fit(self, train: Inputs, val: Inputs, ctx: FitContext) -> None:
        hp = self.hp
        self.device = ctx.device
        self.descriptor = ProcessDescriptor(hp.sensor_bins).fit(train)
        process = to_tensor(self.descriptor(train))
        patches = patch_tensor(train)
        n, views, n_patches, dim_i = patches.shape
        self.grid = (views, math.isqrt(n_patches))
        self.position = torch.from_numpy(position_code(views, n_patches, hp.position_freqs)).to(self.device)
        self.result_mean, self.result_std = result_statistics(patches, hp.center_result, self.device)
        d_proc = process.shape[1] + self.position.shape[-1]
        self.fusion = nn.ModuleDict({
            "process": FusionBranch(d_proc, hp.mlp_ratio, hp.head_dim),
            "result": FusionBranch(dim_i, hp.mlp_ratio, hp.head_dim),
        }).to(self.device)

        gen = torch.Generator().manual_seed(ctx.seed)
        per_sample = min(hp.patches_per_sample, views * n_patches)

        def loss_fn(batch):
            proc, patch = batch
            b = len(proc)
            picks = torch.stack([torch.randperm(views * n_patches, generator=gen)[:per_sample]
                                 for _ in range(b)])  # (b, K) flat (view, patch) indices
            chosen = patch.reshape(b, views * n_patches, dim_i)[torch.arange(b)[:, None], picks]
            pos = self.position.reshape(views * n_patches, -1)[picks.to(self.device)]
            proc_tok, res_tok = self._tokens(proc, chosen, pos)
            _, emb_p = self.fusion["process"](proc_tok.reshape(b * per_sample, -1))
            _, emb_r = self.fusion["result"](res_tok.reshape(b * per_sample, -1))
            return info_nce(emb_r, emb_p, hp.temperature)

        steps_per_epoch = math.ceil(n / hp.batch_size)
        optimizer = torch.optim.AdamW(self.fusion.parameters(), lr=hp.lr, betas=(0.9, 0.95),
                                      weight_decay=hp.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, warmup_cosine(hp.warmup_epochs * steps_per_epoch, hp.epochs * steps_per_epoch))
        # NOTE: both variants select the checkpoint on the head disagreement; the bank is built
        # once, after selection, from the selected fusion MLPs.
        val_process, val_patches = to_tensor(self.descriptor(val)), patch_tensor(val)
        train_loop(self.fusion, loss_fn, (process, patches), ctx, epochs=hp.epochs,
                   batch_size=hp.batch_size, optimizer=optimizer, scheduler=scheduler,
                   step_scheduler_per_batch=True, eval_every=hp.eval_every,
                   val_scores=lambda: self._disagreement(val_process, val_patches)[0])
        if hp.memory_bank:
            self._build_bank(process, patches, ctx)

    def _tokens(self, proc: torch.Tensor, patch: torch.Tensor, pos: torch.Tensor):
        """Process tokens [descriptor, position code] and standardised result tokens, (b, K, .)."""
        proc = proc.to(self.device)[:, None, :].expand(-1, pos.shape[-2], -1)
        result = (patch.to(self.device).float() - self.result_mean) / self.result_std
        return torch.cat([proc, pos.expand(len(proc), -1, -1)], -1), result

    def _all_patches(self, process: torch.Tensor, patches: torch.Tensor, chunk: int = 16):
        """Yield (fused features, head disagreement) per chunk of welds, every patch of every view."""
        views, side = self.grid
        pos = self.position.reshape(views * side * side, -1)
        for start in range(0, len(process), chunk):
            patch = patches[start:start + chunk]
            proc_tok, res_tok = self._tokens(process[start:start + chunk],
                                             patch.reshape(len(patch), views * side * side, -1), pos)
            fused_p, emb_p = self.fusion["process"](proc_tok)
            fused_r, emb_r = self.fusion["result"](res_tok)
            yield torch.cat([fused_p, fused_r], -1), 1.0 - F.cosine_similarity(emb_p, emb_r, dim=-1)

    @torch.no_grad()
    def _disagreement(self, process: torch.Tensor, patches: torch.Tensor):
        self.fusion.eval()
        views, side = self.grid
        maps = torch.cat([d.cpu() for _, d in self._all_patches(process, patches)])
        maps = maps.reshape(len(process), views, side, side).numpy().astype(np.float32)
        return smoothed_max(maps, self.hp.smoothing_sigma_px / DINOV2_PATCH_PX), maps

    @torch.no_grad()
    def _build_bank(self, process: torch.Tensor, patches: torch.Tensor, ctx: FitContext) -> None:
        self.fusion.eval()
        fused = torch.cat([f.reshape(-1, f.shape[-1]).half() for f, _ in self._all_patches(process, patches)])
        gen = torch.Generator().manual_seed(ctx.seed)
        if self.hp.bank_candidates and len(fused) > self.hp.bank_candidates:
            fused = fused[torch.randperm(len(fused), generator=gen)[:self.hp.bank_candidates]]
        n_select = max(1, int(round(self.hp.coreset_ratio * len(fused))))
        keep = greedy_coreset(fused.float(), n_select, self.hp.coreset_projection, ctx.seed)
        self.bank = fused[keep.to(fused.device)].float()
        ctx.log(f"memory bank: {len(self.bank)} of {len(fused)} fused patch features")

    @torch.no_grad()
    def _bank_distance(self, process: torch.Tensor, patches: torch.Tensor):
        self.fusion.eval()
        views, side = self.grid
        maps = []
        for fused, _ in self._all_patches(process, patches):
            dist = torch.cdist(fused.reshape(-1, fused.shape[-1]), self.bank).min(1).values
            maps.append(dist.reshape(len(fused), -1).cpu())
        maps = torch.cat(maps).reshape(len(process), views, side, side).numpy().astype(np.float32)
        return smoothed_max(maps, self.hp.smoothing_sigma_px / DINOV2_PATCH_PX), maps

    def score(self, inputs: Inputs) -> Scores:
        process, patches = to_tensor(self.descriptor(inputs)), patch_tensor(inputs)
        sample, maps = (self._bank_distance if self.hp.memory_bank else self._disagreement)(process, patches)
        return Scores(sample=sample, maps=list(maps))

    def memory_bank_bytes(self) -> int:
        bank = getattr(self, "bank", None)
        return 0 if bank is None else bank.numel() * bank.element_size()


register_method(
    "m3dm_fusion", M3DMFusion, hparams=HPARAMS, features=PROCESS_FEATURES + ("image_patches",),
    family="m3dm", display_name="M3DM-style (No-Bank)", row_code="C.4",
    summary="M3DM UFF heads (patch-wise InfoNCE process<->result), score = head disagreement",
    paper="Wang et al., CVPR 2023, arXiv:2303.00601",
)
register_method(
    "m3dm_fusion_bank", M3DMFusion, hparams=HPARAMS_BANK,
    features=PROCESS_FEATURES + ("image_patches",), family="m3dm", role=Role.ABLATION,
    display_name="M3DM-style, fused memory bank",
    summary="M3DM UFF fused features + 10% coreset memory bank, nearest-neighbour distance",
    paper="Wang et al., CVPR 2023, arXiv:2303.00601",
)
