"""Pairing of temporal process features with spatial result patches, shared by the
cross-modal adapters (`crossmodal_mapping`, `m3dm`, `m3dm_nobank`): one TRAIN-standardised process
descriptor per weld, paired with every DINOv2 patch plus a fixed code of the patch's position."""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from benchmark.method import Inputs
from methods._blocks import IMAGE_FEATURES, VIEW, Standardizer

PROCESS_FEATURES = ("video_tokens", "audio_tokens", "sensor")
# NOTE: the originals blur their maps at 224 px, 8 px per token (DINO ViT-B/8, 28 x 28 tokens); a
# sigma in their pixels is the same share of the image on any token grid
ORIGINAL_IMAGE_PX = 224


def sigma_in_patches(sigma_px: float, grid_side: int) -> float:
    """A blur sigma in the originals' 224-px pixels, in tokens of a `grid_side` x `grid_side` grid
    of the whole view (28 x 28: sigma / 8, as the originals; the quick 8 x 8 grid: sigma / 28).

    >>> sigma_in_patches(4.0, 28)
    0.5
    """
    return sigma_px * grid_side / ORIGINAL_IMAGE_PX
PATCH_FEATURES = ("image_patches_fine", "image_patches")  # the fine grid where a profile has one
# the RGB input of the cross-modal originals (M3DM and CFM `dataset.py`: Resize((224, 224)),
# bicubic; DINO ViT-B/8) and the suite's per profile (`image_input` of their hyperparameters)
ORIGINAL_RGB = "the whole dataset image resized to 224 x 224 (bicubic), no crop; DINO ViT-B/8: 28 x 28 tokens"
PAPER_RGB = f"{VIEW}; read at 392 x 392 by DINOv2 ViT-B/14: 28 x 28 tokens"
QUICK_RGB = f"{VIEW}; read at 112 x 112 by the tiny DINOv2 (random weights): 8 x 8 tokens"


def patch_feature(profile) -> str:
    """The DINOv2 patch tokens the cross-modal originals' grid asks for: the profile's fine grid
    (paper: 392 px, 28 x 28 patches) where it has one, else the shared tokens."""
    fine = profile.fine_image_size and profile.fine_image_size != profile.image_size
    return PATCH_FEATURES[0] if fine else PATCH_FEATURES[1]


def cross_modal_features(hp, profile) -> tuple[str, ...]:
    """Feature names of the cross-modal adapters (CFM, M3DM): the process, the patch tokens and
    where in the view they were read (their maps are warped back onto the whole view)."""
    return PROCESS_FEATURES + (patch_feature(profile), IMAGE_FEATURES[1])


def process_summary(inputs: Inputs, sensor_bins: int) -> np.ndarray:
    """(N, D_p) raw process summary: video/audio token mean and std over time, and per sensor
    channel mean, std and a trace average-pooled to `sensor_bins` bins. Not yet standardised."""
    rows = []
    for video, audio, sensor in zip(*(inputs[name] for name in PROCESS_FEATURES)):
        video, audio = np.asarray(video, np.float32), np.asarray(audio, np.float32)
        sensor = np.asarray(sensor, np.float32)  # (6, T)
        edges = np.linspace(0, sensor.shape[1], sensor_bins + 1).round().astype(int)
        trace = np.stack([sensor[:, a:max(b, a + 1)].mean(1) for a, b in zip(edges[:-1], edges[1:])], 1)
        rows.append(np.concatenate([video.mean(0), video.std(0), audio.mean(0), audio.std(0),
                                    sensor.mean(1), sensor.std(1), trace.reshape(-1)]))
    return np.stack(rows).astype(np.float32)


class ProcessDescriptor:
    """`process_summary` z-scored per dimension with TRAIN statistics."""

    def __init__(self, sensor_bins: int):
        self.sensor_bins = sensor_bins

    def fit(self, train: Inputs) -> "ProcessDescriptor":
        self.scaler = Standardizer().fit(process_summary(train, self.sensor_bins))
        return self

    def __call__(self, inputs: Inputs) -> np.ndarray:
        return self.scaler(process_summary(inputs, self.sensor_bins))


def position_code(views: int, patches: int, n_freq: int) -> np.ndarray:
    """(V, N, 4 * n_freq + V) fixed code of each patch: sin/cos of its row and column (grid
    coordinates in [0, 1], frequencies pi * 1..n_freq) and a one-hot of its view."""
    side = math.isqrt(patches)
    if side * side != patches:
        raise ValueError(f"image_patches has {patches} patches per view, not a square grid")
    rows, cols = np.divmod(np.arange(patches), side)
    coords = np.stack([rows, cols], 1) / max(side - 1, 1)  # (N, 2)
    freqs = np.pi * np.arange(1, n_freq + 1)
    angles = (coords[:, :, None] * freqs).reshape(patches, -1)
    grid = np.concatenate([np.sin(angles), np.cos(angles)], 1)  # (N, 4 * n_freq)
    code = np.concatenate([np.broadcast_to(grid, (views, patches, grid.shape[1])),
                           np.broadcast_to(np.eye(views)[:, None, :], (views, patches, views))], 2)
    return code.astype(np.float32)


def patch_tensor(inputs: Inputs) -> torch.Tensor:
    """(N, V, P, D_i) DINOv2 patch tokens, kept in float16 (cast per batch) to bound memory."""
    name = next(n for n in PATCH_FEATURES if n in inputs.features)
    return torch.from_numpy(np.ascontiguousarray(inputs.stack(name), dtype=np.float16))


def result_statistics(patches: torch.Tensor, center: bool, device: str):
    """Per-dimension TRAIN mean and std of the patch tokens (or 0 and 1 when not centring)."""
    dim = patches.shape[-1]
    if not center:
        return torch.zeros(dim, device=device), torch.ones(dim, device=device)
    total, total_sq, count = torch.zeros(dim, dtype=torch.float64), torch.zeros(dim, dtype=torch.float64), 0
    for sample in patches:  # one weld at a time: the float32 copy of all patches can be large
        x = sample.reshape(-1, dim).double()
        total, total_sq, count = total + x.sum(0), total_sq + (x * x).sum(0), count + len(x)
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(0).sqrt() + 1e-6
    return mean.float().to(device), std.float().to(device)


def smoothed_max(maps: np.ndarray, sigma_patches: float) -> np.ndarray:
    """(N, V, h, w) -> (N,): maximum over the views of each view's Gaussian-smoothed map."""
    if sigma_patches > 0:
        maps = gaussian_filter(maps, sigma=(0, 0, sigma_patches, sigma_patches), mode="nearest")
    return maps.reshape(len(maps), -1).max(1)
