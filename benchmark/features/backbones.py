"""Frozen backbones from transformers: V-JEPA 2 (video), AST (audio), DINOv2 (images, with and
without registers) and CLIP (text), registered once each in `BACKBONES`.

`pretrained` loads a hub id or a local folder; `tiny` builds the same classes small with random
weights from a fixed seed, so tests and the quick profile run offline. The CLIP tokenizer of the
tiny preset is the real CLIP BPE vocabulary shipped inside `open-clip-torch`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from benchmark.profiles import FeatureOptions, Profile
from benchmark.registry import Registry

TINY_SEED = 0


@dataclass(frozen=True)
class BackboneSpec:
    """One frozen encoder: where its pretrained weights live, its transformers classes, and the
    small architecture of the `tiny` preset."""

    name: str
    hub_id: str
    config_class: str  # transformers class names (resolved lazily: importing transformers is slow)
    model_class: str
    # NOTE: tiny = the real classes with small widths; sizes chosen so that the whole quick profile
    # fits the 2-core CPU budget, not to be meaningful features.
    tiny_arch: dict = field(default_factory=dict)

    def classes(self):
        import transformers

        return getattr(transformers, self.config_class), getattr(transformers, self.model_class)


BACKBONES: Registry[BackboneSpec] = Registry("backbone")
for _spec in (
    BackboneSpec("vjepa2", "facebook/vjepa2-vitl-fpc64-256", "VJEPA2Config", "VJEPA2Model",
                 dict(hidden_size=64, num_attention_heads=4, num_hidden_layers=2, pred_hidden_size=32,
                      pred_num_attention_heads=4, pred_num_hidden_layers=1, pred_num_mask_tokens=2)),
    BackboneSpec("ast", "MIT/ast-finetuned-audioset-10-10-0.4593", "ASTConfig", "ASTModel",
                 dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                      num_mel_bins=128)),
    BackboneSpec("dinov2", "facebook/dinov2-base", "Dinov2Config", "Dinov2Model",
                 dict(hidden_size=64, num_hidden_layers=4, num_attention_heads=4, patch_size=14)),
    BackboneSpec("dinov2_reg", "facebook/dinov2-with-registers-base", "Dinov2WithRegistersConfig",
                 "Dinov2WithRegistersModel",
                 dict(hidden_size=64, num_hidden_layers=12, num_attention_heads=4, patch_size=14,
                      num_register_tokens=4)),
    BackboneSpec("clip_text", "openai/clip-vit-base-patch32", "CLIPTextConfig",
                 "CLIPTextModelWithProjection",
                 dict(hidden_size=64, intermediate_size=128, projection_dim=512, num_hidden_layers=2,
                      num_attention_heads=4)),
):
    BACKBONES.add(_spec.name, _spec)


@dataclass(frozen=True)
class BackboneConfig:
    """Everything that determines a backbone's weights (part of every feature-cache key)."""

    name: str  # a BACKBONES name
    preset: str  # tiny or pretrained
    source: str  # hub id or local folder; ignored by tiny
    seed: int = TINY_SEED

    @classmethod
    def of(cls, name: str, profile: Profile, options: FeatureOptions) -> "BackboneConfig":
        """The run's config of backbone `name`: the profile's preset, the run's source."""
        return cls(name, profile.preset, options.source(name, BACKBONES.get(name).hub_id))

    @property
    def spec(self) -> BackboneSpec:
        return BACKBONES.get(self.name)

    def key(self) -> dict:
        d = asdict(self)
        if self.preset == "tiny":
            d.pop("source")  # tiny weights depend on the architecture below and the seed only
            d["tiny"] = self.spec.tiny_arch
        return d


def build_backbone(cfg: BackboneConfig, **shape) -> torch.nn.Module:
    """A frozen backbone in eval mode. `shape` gives input-size settings for the tiny preset
    (e.g. crop_size, frames_per_clip, max_length, image_size)."""
    config_cls, model_cls = cfg.spec.classes()
    if cfg.preset == "pretrained":
        model = model_cls.from_pretrained(cfg.source)
    elif cfg.preset == "tiny":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            model = model_cls(config_cls(**cfg.spec.tiny_arch, **shape))
    else:
        raise ValueError(f"unknown backbone preset {cfg.preset!r} (tiny or pretrained)")
    model.eval().requires_grad_(False)
    return model


class TextEncoder:
    """CLIP text embeddings (L2-normalised) for prompts such as "a normal weld"."""

    def __init__(self, cfg: BackboneConfig, device: str = "cpu"):
        self.cfg = cfg
        self.device = device
        self.model = build_backbone(cfg).to(device)
        if cfg.preset == "pretrained":
            from transformers import CLIPTokenizer

            tokenizer = CLIPTokenizer.from_pretrained(cfg.source)
            self._tokenize = lambda text: tokenizer([text], return_tensors="pt")
        else:
            from open_clip.tokenizer import SimpleTokenizer

            bpe = SimpleTokenizer()  # the real CLIP BPE vocabulary, 77-token context, 0-padded

            def tokenize(text):
                ids = bpe(text)
                return {"input_ids": ids, "attention_mask": (ids != 0).long()}

            self._tokenize = tokenize

    @torch.no_grad()
    def __call__(self, text: str) -> np.ndarray:
        tokens = {k: v.to(self.device) for k, v in self._tokenize(text).items()}
        out = self.model(**tokens)
        emb = torch.nn.functional.normalize(out.text_embeds[0], dim=-1)
        return emb.float().cpu().numpy()
