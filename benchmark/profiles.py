"""Profiles: the embedded default (`quick`) and the paper setting (`paper`).

A profile fixes backbone presets and preprocessing resolutions; it is stored with every result.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

HUB_IDS = {
    "vjepa2": "facebook/vjepa2-vitl-fpc64-256",
    "ast": "MIT/ast-finetuned-audioset-10-10-0.4593",
    "dinov2": "facebook/dinov2-base",
    "dinov2_reg": "facebook/dinov2-with-registers-base",
    "clip_text": "openai/clip-vit-base-patch32",
}


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
    sensor_length: int = 128
    label_guard: bool = True
    sources: dict[str, str] = field(default_factory=lambda: dict(HUB_IDS))

    def with_sources(self, overrides: dict[str, str]) -> "Profile":
        unknown = set(overrides) - set(HUB_IDS)
        if unknown:
            raise ValueError(f"unknown backbone(s) {sorted(unknown)}; known: {sorted(HUB_IDS)}")
        return dataclasses.replace(self, sources={**self.sources, **overrides})


PROFILES = {
    "quick": Profile(name="quick", preset="tiny", video_frames=16, video_size=64, audio_rate=16000,
                     audio_window_frames=256, audio_tokens=16, image_size=112,
                     pixel_size=(112, 112)),
    # NOTE: paper resolutions: V-JEPA 2 fpc64 at 256 px, AST 1024-frame (10.24 s) windows,
    # DINOv2 at 448 (Dinomaly resizes 448 and crops 392 itself from the pixel views).
    "paper": Profile(name="paper", preset="pretrained", video_frames=64, video_size=256,
                     audio_rate=16000, audio_window_frames=1024, audio_tokens=32, image_size=224,
                     pixel_size=(448, 448)),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}") from None
