"""M3DM's Unsupervised Feature Fusion (UFF) on process/patch pairs, shared by the two M3DM
adapters (`m3dm`: memory banks and the decision layer; `m3dm_nobank`: the heads' disagreement).

Wang, Peng, Zhang, Yi, Wang, Wang, "Multimodal Industrial Anomaly Detection via Hybrid Fusion",
CVPR 2023, arXiv:2303.00601. Official code: https://github.com/nomewang/M3DM (MIT licence).
Read for facts only; nothing is copied.

UFF gives each modality a LayerNorm + MLP (d -> 4d -> d, GELU), then a single linear head to 256
dimensions, and trains them with a patch-wise InfoNCE: the two modalities' features of the same
patch are the positive pair, every other patch in the batch (of the same and of other objects) a
negative (`FeatureFusionBlock` of the official code; its fused feature, kept in the memory bank,
is the two MLP outputs joined, before the heads). Here the modalities are the process and the
result of a weld, paired by `methods/_pairing.py`:

* the process token of patch j of view v is the weld's process descriptor (video/audio token mean
  and std over time, sensor mean, std and a trace pooled to `sensor_bins` bins, z-scored with TRAIN
  statistics) joined with a fixed code of (v, j) (sinusoidal row/column code + view one-hot);
* the result token is DINOv2 patch token j of view v (z-scored per dimension with TRAIN statistics
  when `center_result`);
* the positive is (process token, result token) of the same weld and the same patch; the negatives
  are the other patches of the same weld and all patches of the other welds in the batch.
  `patches_per_sample` random patches per weld enter each batch.

Training (official `fusion_pretrain.py`): AdamW, betas (0.9, 0.95), torch's default weight decay
(the script passes none), a per-iteration schedule of linear warm-up then half-cycle cosine to 0.
Updates here take 16 welds, not the README's 16 x 16 samples, so the learning rate is scaled with
the batch by that script's own rule (absolute lr = base lr x samples per update / 256).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from benchmark.method import FitContext, Inputs, smoke_run
from methods._blocks import VIEW_REASON, mlp, to_tensor
from methods._blocks import train as train_loop
from methods._pairing import (ORIGINAL_RGB, PAPER_RGB, QUICK_RGB, ProcessDescriptor, patch_tensor,
                              position_code, result_statistics)


@dataclass(frozen=True)
class UFFConfig:
    mlp_ratio: float = 4.0
    head_dim: int = 256
    temperature: float = 1.0  # FeatureFusionBlock.T (the loss is scaled by 2T)
    epochs: int = 3  # fusion_pretrain.py default; the README's command keeps it
    batch_size: int = 16  # samples per step (README command), with 16 accumulation steps
    accum_iter: int = 16
    patches_per_sample: int = 3136  # every fused patch of a sample: features pooled to 56 x 56
    lr: float = 3e-3  # absolute lr of the README command (16 x 16 = 256 samples per update)
    weight_decay: float = 0.01  # torch's AdamW default: the official script passes none
    warmup_epochs: int = 1
    center_result: bool = False  # raw backbone features in the original
    sensor_bins: int = 0  # no process side in the original (defined here)
    position_freqs: int = 0  # no position code in the original (patches were aligned)
    # what the RGB side reads (official dataset.py and feature_extractors/features.py)
    image_input: str = f"{ORIGINAL_RGB}, fused on 56 x 56"


# NOTE: the official fusion_pretrain.py scales its learning rate with the batch (absolute lr =
# base lr x samples per update / 256); the README's lr 3e-3 at 16 x 16 = 256 samples per update is
# that base lr, so 16 welds per update take 3e-3 x 16 / 256.
WELDS_PER_UPDATE = 16
UFF_LR = 3e-3 * WELDS_PER_UPDATE / 256

UFF_REASONS = {
    "image_input": f"{VIEW_REASON}; one image backbone family (DINOv2) for every method; 392 px "
                   "gives the original's 28 x 28 token grid; the original upsamples its RGB tokens "
                   "to 56 x 56 by repeating each 2 x 2, and here the process has no grid, so every "
                   "fused patch there would be a token's four times over and the contrastive loss "
                   "would meet a patch's own copies as negatives; M3DM's fused bank keeps that "
                   "grid's size (fused_coreset_ratio)",
    "accum_iter": "TRAIN holds at most a few hundred welds, too few for 256-weld updates; one "
                  "update per 16-weld batch gives the heads enough steps",
    "lr": "scaled with the batch by the official script's own rule (absolute lr = base lr x "
          "samples per update / 256; base lr 3e-3, the README's lr at 256 per update): 16 welds "
          "per update take 3e-3 x 16 / 256",
    "epochs": "one update per 16 welds on a small TRAIN set: 20 epochs give the heads more "
              "updates than M3DM's ~30 (3 epochs of ~2,650 MVTec 3D-AD samples, 256 per update); "
              "with the scaled lr the summed step size (updates x lr) stays near the original's "
              "(~0.09) for a few hundred TRAIN welds",
    "patches_per_sample": "5 views x 784 patches per weld; 256 random patches per weld keep the "
                          "InfoNCE logits matrix (4096^2) within GPU memory",
    "center_result": "DINOv2 patch tokens share a large common component; z-scoring them with "
                     "TRAIN statistics keeps the cosine-based objective sensitive to the bead",
    "sensor_bins": "the process descriptor keeps the sensor trace at 8 time bins per channel",
    "position_freqs": "one process vector serves every patch, so a fixed code of the patch "
                      "position (4 frequencies per axis + view one-hot) makes the patch-wise "
                      "positives distinguishable",
}
UFF_USED = dict(image_input=f"{PAPER_RGB}, fused on 28 x 28",
                accum_iter=1, lr=UFF_LR, epochs=20, patches_per_sample=256, center_result=True, sensor_bins=8,
                position_freqs=4)
UFF_QUICK = {"patches_per_sample": 64, "epochs": 8, "image_input": f"{QUICK_RGB}, fused on 8 x 8"}
UFF_QUICK_REASON = ("quick profile: the tiny DINOv2 at 112 px and a shorter UFF schedule to fit the "
                    "5-minute CPU budget")
UFF_SMOKE = smoke_run(epochs=2)  # a smoke run (bench run --smoke): loading, shapes, memory
ORIGINAL_SELECTION = ("last epoch (the official fusion_pretrain.py saves every epoch; the README "
                      "loads the checkpoint of the final one)")


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


class UnsupervisedFeatureFusion:
    """The process/patch pairing and the trained fusion block of one unit.

    `fit` trains the block on TRAIN; `encode` turns a split into tensors; `patches` yields, chunk
    by chunk, the fused feature and the head disagreement of every (view, patch) of every weld.
    """

    def __init__(self, hp: UFFConfig, device: str):
        self.hp, self.device = hp, device

    def encode(self, inputs: Inputs) -> tuple[torch.Tensor, torch.Tensor]:
        """(process descriptors (N, D_p), patch tokens (N, V, P, D_i) in float16)."""
        return to_tensor(self.descriptor(inputs)), patch_tensor(inputs)

    def fit(self, train: Inputs, ctx: FitContext,
            val_scores: Callable[[], np.ndarray] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Train the fusion block on TRAIN; returns TRAIN's encoded tensors. `val_scores`
        (optional) offers VAL scores to the run's checkpoint selection."""
        hp = self.hp
        self.descriptor = ProcessDescriptor(hp.sensor_bins).fit(train)
        process, patches = self.encode(train)
        n, views, n_patches, dim_i = patches.shape
        self.grid = (views, math.isqrt(n_patches))
        self.position = torch.from_numpy(position_code(views, n_patches, hp.position_freqs)).to(self.device)
        self.result_mean, self.result_std = result_statistics(patches, hp.center_result, self.device)
        d_proc = process.shape[1] + self.position.shape[-1]
        self.module = nn.ModuleDict({
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
            _, emb_p = self.module["process"](proc_tok.reshape(b * per_sample, -1))
            _, emb_r = self.module["result"](res_tok.reshape(b * per_sample, -1))
            return info_nce(emb_r, emb_p, hp.temperature)

        steps_per_epoch = math.ceil(n / hp.batch_size)
        optimizer = torch.optim.AdamW(self.module.parameters(), lr=hp.lr, betas=(0.9, 0.95),
                                      weight_decay=hp.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, warmup_cosine(hp.warmup_epochs * steps_per_epoch, hp.epochs * steps_per_epoch))
        train_loop(self.module, loss_fn, (process, patches), ctx, epochs=hp.epochs,
                   batch_size=hp.batch_size, optimizer=optimizer, scheduler=scheduler,
                   step_scheduler_per_batch=True, val_scores=val_scores)
        return process, patches

    def _tokens(self, proc: torch.Tensor, patch: torch.Tensor, pos: torch.Tensor):
        """Process tokens [descriptor, position code] and standardised result tokens, (b, K, .)."""
        proc = proc.to(self.device)[:, None, :].expand(-1, pos.shape[-2], -1)
        result = (patch.to(self.device).float() - self.result_mean) / self.result_std
        return torch.cat([proc, pos.expand(len(proc), -1, -1)], -1), result

    @torch.no_grad()
    def patches(self, process: torch.Tensor, patches: torch.Tensor,
                chunk: int = 16) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Per chunk of welds: fused features (b, V*P, D_f) and head disagreement (b, V*P),
        1 - cos(head_process, head_result), for every patch of every view."""
        self.module.eval()
        views, side = self.grid
        pos = self.position.reshape(views * side * side, -1)
        for start in range(0, len(process), chunk):
            patch = patches[start:start + chunk]
            proc_tok, res_tok = self._tokens(process[start:start + chunk],
                                             patch.reshape(len(patch), views * side * side, -1), pos)
            fused_p, emb_p = self.module["process"](proc_tok)
            fused_r, emb_r = self.module["result"](res_tok)
            yield torch.cat([fused_p, fused_r], -1), 1.0 - F.cosine_similarity(emb_p, emb_r, dim=-1)

    def disagreement_maps(self, process: torch.Tensor, patches: torch.Tensor) -> np.ndarray:
        """(N, V, h, w) head disagreement on the patch grid."""
        views, side = self.grid
        maps = torch.cat([d.cpu() for _, d in self.patches(process, patches)])
        return maps.reshape(len(process), views, side, side).numpy().astype(np.float32)
