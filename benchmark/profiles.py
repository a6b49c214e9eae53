"""Profiles: the embedded default (`quick`) and the paper setting (`paper`).

A profile fixes backbone presets, preprocessing resolutions and the resources a unit asks for; it
is one typed object that travels from the CLI to the adapters and is stored with every result.
Options of one run (label guard, where each backbone's weights come from, the selection policy)
are not part of a profile: they live in the run's configuration (`FeatureOptions`,
`benchmark.run.config.RunConfig`).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    preset: str  # "tiny": same architectures, small, random weights (seeded); "pretrained": hub/local
    video_frames: int  # frames sampled evenly over the clip for V-JEPA 2
    video_size: int  # square crop side for V-JEPA 2
    audio_rate: int  # AST expects 16 kHz
    audio_window_frames: int  # AST max_length (10 ms fbank frames per window)
    audio_tokens: int  # audio time tokens after pooling, per sample
    image_size: int  # square side for DINOv2 views (multiple of 14)
    pixel_size: tuple[int, int]  # (H, W) of raw views handed to pixel-level methods
    stft_frames: int  # STFT time bins kept per sample (mean of power); 0 keeps every frame
    unit_cpus: float  # what one (method, seed) unit asks a cluster for (Ray executor)
    unit_gpus: float
    sensor_length: int = 128
    # DINOv2 side for the methods whose originals read a 28 x 28 token grid (M3DM, CFM); 0: the
    # shared `image_size` (no second extraction)
    fine_image_size: int = 0
    # NOTE: a smoke run cuts every method's training to a few steps (each method's declared
    # `smoke` changes): it proves loading, shapes and memory, and its numbers mean nothing.
    smoke: bool = False


PROFILES: dict[str, Profile] = {
    # NOTE: quick averages the STFT power into 32 time bins to keep the cache and the CPU
    # autoencoder small; its units are small CPU jobs.
    "quick": Profile(name="quick", preset="tiny", video_frames=16, video_size=64, audio_rate=16000,
                     audio_window_frames=256, audio_tokens=16, image_size=112,
                     pixel_size=(112, 112), stft_frames=32, unit_cpus=1, unit_gpus=0),
    # NOTE: paper resolutions: V-JEPA 2 fpc64 at 256 px, AST 1024-frame (10.24 s) windows,
    # DINOv2 features at 224 (16 x 16 patches) and, for M3DM and CFM, at 392 (28 x 28 patches,
    # the grid of their originals' DINO ViT-B/8 at 224) from 448 px label-guarded views, which
    # Dinomaly resizes to 448 and crops to 392 and PatchCore resizes to 256 and crops to 224
    # itself. Paper units
    # train on one GPU and keep 8 cores busy with data handling and kNN / memory-bank search.
    "paper": Profile(name="paper", preset="pretrained", video_frames=64, video_size=256,
                     audio_rate=16000, audio_window_frames=1024, audio_tokens=32, image_size=224,
                     pixel_size=(448, 448), stft_frames=0, unit_cpus=8, unit_gpus=1,
                     fine_image_size=392),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}") from None


@dataclass(frozen=True)
class FeatureOptions:
    """Options of a run that shape features: where backbone weights come from (a folder of
    checkpoints with its lock file, `models`, and overrides of single backbones: a hub id or a
    local folder), whether the printed label is removed from the post-weld photos before any
    image model sees them, and whether image models read each view's weld region
    (`benchmark.data.weld_region`) or the whole view."""

    sources: tuple[tuple[str, str], ...] = ()
    label_guard: bool = True
    models: str | None = None  # folder written by `bench models fetch` (holds models.lock.json)
    weld_region: bool = True

    @classmethod
    def make(cls, sources: Mapping[str, str] | None = None, label_guard: bool = True,
             models: str | None = None, weld_region: bool = True) -> "FeatureOptions":
        return cls(tuple(sorted((sources or {}).items())), label_guard,
                   None if models is None else str(models), weld_region)

    def source(self, backbone: str, default: str | None) -> str | None:
        return dict(self.sources).get(backbone, default)


SELECTION_RULE = "max VAL I-AUROC over the method's candidates; ties -> earliest candidate"
SELECTION_POLICIES = ("last", "val")


@dataclass(frozen=True)
class Selection:
    """The run's selection policy, the same for every method, recorded with every result.

    `last` (label-free): every method keeps its final state and fuses scores with equal weights;
    no VAL label is read. `val`: each method may read VAL labels through at most `budget` queries
    (one query = the VAL I-AUROC of one candidate): K checkpoints spread evenly over training,
    fusion weights on a grid of K, or its declared candidates (at most K).
    """

    policy: str = "last"
    budget: int = 10

    def __post_init__(self):
        if self.policy not in SELECTION_POLICIES:
            raise ValueError(f"unknown selection policy {self.policy!r}; known: {SELECTION_POLICIES}")
        if self.budget < 0:
            raise ValueError(f"the selection budget must be >= 0, got {self.budget}")

    def describe(self) -> str:
        if self.policy == "last":
            return "selection 'last': final states, equal fusion weights, no VAL label read"
        return (f"selection 'val': at most K={self.budget} VAL I-AUROC queries per method "
                f"({SELECTION_RULE})")
