"""Frozen backbones: V-JEPA 2 (video), AST (audio), DINOv2 (images, with and without registers),
CLIP (text) from transformers, and the timm WideResNet-50-2 of PatchCore, registered once each in
`BACKBONES`.

`pretrained` loads a local folder in the hub layout (config, safetensors, processor config): one
that `bench models fetch` wrote, one given with `--backbone NAME=PATH`, or the hub snapshot of the
registered id at its pinned revision (see `checkpoints.py`). `tiny` builds the same classes small
with random weights from a fixed seed, so tests and the quick profile run offline. The CLIP
tokenizer of the tiny preset is the real CLIP BPE vocabulary shipped inside `open-clip-torch`.

Each spec also carries the published checkpoint's configuration (`paper_config`, transcribed from
the hub repository's config.json; values equal to the class defaults are restated so that the
record stands alone) and its processor's (`paper_processor`), so that a checkpoint of the paper's
exact shapes can be written with random weights (`checkpoints.write_random`) for offline tests
and GPU throughput runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from benchmark.registry import Registry

TINY_SEED = 0
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


@dataclass(frozen=True)
class BackboneSpec:
    """One frozen encoder: where its pretrained weights live, how it is built, and the small
    architecture of the `tiny` preset."""

    name: str
    hub_id: str
    # NOTE: a full commit hash where one could be found (see `pinned_from`); None: `bench models
    # fetch` resolves the branch head and records the commit in the models lock file.
    revision: str | None
    library: str  # "transformers" or "timm"
    config_class: str = ""  # transformers class names (resolved lazily: importing is slow)
    model_class: str = ""
    processor_class: str = ""  # loaded from the same folder; "" when the encoder has none
    # NOTE: tiny = the real classes with small widths; sizes chosen so that the whole quick profile
    # fits the 2-core CPU budget, not to be meaningful features.
    tiny_arch: dict = field(default_factory=dict)
    checkpoint_class: str = ""  # the class the hub checkpoint was saved from (may add a head)
    paper_config: dict = field(default_factory=dict)
    paper_processor: dict = field(default_factory=dict)  # {"class": name, **its settings}
    # Depth settings of the paper-shape checkpoints (every other setting is the paper's).
    shallow: dict = field(default_factory=dict)
    pinned_from: str = ""  # where the pinned revision was read

    def classes(self):
        import transformers

        return getattr(transformers, self.config_class), getattr(transformers, self.model_class)


BACKBONES: Registry[BackboneSpec] = Registry("backbone")
for _spec in (
    BackboneSpec(
        "vjepa2", "facebook/vjepa2-vitl-fpc64-256", "b3c1679b7c34d3255ef3547f27c7b226aefab26f",
        "transformers", "VJEPA2Config", "VJEPA2Model", "AutoVideoProcessor",
        tiny_arch=dict(hidden_size=64, num_attention_heads=4, num_hidden_layers=2, pred_hidden_size=32,
                       pred_num_attention_heads=4, pred_num_hidden_layers=1, pred_num_mask_tokens=2),
        checkpoint_class="VJEPA2Model",
        paper_config=dict(model_type="vjepa2", patch_size=16, crop_size=256, frames_per_clip=64,
                          tubelet_size=2, hidden_size=1024, in_chans=3, num_attention_heads=16,
                          num_hidden_layers=24, mlp_ratio=4.0, layer_norm_eps=1e-6, qkv_bias=True,
                          hidden_act="gelu", pred_hidden_size=384, pred_num_attention_heads=12,
                          pred_num_hidden_layers=12, pred_num_mask_tokens=10, pred_mlp_ratio=4.0),
        paper_processor={"class": "VJEPA2VideoProcessor", "size": {"shortest_edge": 292},
                         "crop_size": {"height": 256, "width": 256}, "do_center_crop": True,
                         "resample": 2, "image_mean": IMAGENET_MEAN, "image_std": IMAGENET_STD},
        # NOTE: the encoder's last layer is what the suite reads; the predictor is never run
        # (skip_predictor) but its weights are part of the checkpoint. One encoder layer: at
        # 8,192 tokens a ViT-L layer is most of the paper-shape check's CPU time, and a second
        # one exercises no other code.
        shallow=dict(num_hidden_layers=1, pred_num_hidden_layers=1),
        pinned_from="public code that loads this checkpoint at a pinned revision (not checked "
                    "against the hub from here)"),
    BackboneSpec(
        "ast", "MIT/ast-finetuned-audioset-10-10-0.4593", None, "transformers", "ASTConfig",
        "ASTModel", "AutoFeatureExtractor",
        tiny_arch=dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                       num_mel_bins=128),
        checkpoint_class="ASTForAudioClassification",  # AudioSet head; ASTModel drops it on load
        paper_config=dict(model_type="audio-spectrogram-transformer", hidden_size=768,
                          num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                          hidden_act="gelu", layer_norm_eps=1e-12, qkv_bias=True, patch_size=16,
                          frequency_stride=10, time_stride=10, max_length=1024, num_mel_bins=128,
                          num_labels=527),
        paper_processor={"class": "ASTFeatureExtractor", "sampling_rate": 16000, "num_mel_bins": 128,
                         "max_length": 1024, "do_normalize": True, "mean": -4.2677393,
                         "std": 4.5689974, "feature_size": 1, "padding_value": 0.0},
        shallow=dict(num_hidden_layers=2)),
    BackboneSpec(
        "dinov2", "facebook/dinov2-base", None, "transformers", "Dinov2Config", "Dinov2Model",
        "AutoImageProcessor",
        tiny_arch=dict(hidden_size=64, num_hidden_layers=4, num_attention_heads=4, patch_size=14),
        checkpoint_class="Dinov2Model",
        paper_config=dict(model_type="dinov2", hidden_size=768, num_hidden_layers=12,
                          num_attention_heads=12, mlp_ratio=4, patch_size=14, image_size=518,
                          layerscale_value=1.0, layer_norm_eps=1e-6, qkv_bias=True,
                          use_swiglu_ffn=False, hidden_act="gelu"),
        paper_processor={"class": "BitImageProcessor", "size": {"shortest_edge": 256},
                         "crop_size": {"height": 224, "width": 224}, "do_center_crop": True,
                         "resample": 3, "image_mean": IMAGENET_MEAN, "image_std": IMAGENET_STD},
        shallow=dict(num_hidden_layers=2)),
    BackboneSpec(
        "dinov2_reg", "facebook/dinov2-with-registers-base", None, "transformers",
        "Dinov2WithRegistersConfig", "Dinov2WithRegistersModel", "AutoImageProcessor",
        tiny_arch=dict(hidden_size=64, num_hidden_layers=12, num_attention_heads=4, patch_size=14,
                       num_register_tokens=4),
        checkpoint_class="Dinov2WithRegistersModel",
        paper_config=dict(model_type="dinov2_with_registers", hidden_size=768, num_hidden_layers=12,
                          num_attention_heads=12, mlp_ratio=4, patch_size=14, image_size=518,
                          num_register_tokens=4, layerscale_value=1.0, layer_norm_eps=1e-6,
                          qkv_bias=True, use_swiglu_ffn=False, hidden_act="gelu"),
        paper_processor={"class": "BitImageProcessor", "size": {"shortest_edge": 256},
                         "crop_size": {"height": 224, "width": 224}, "do_center_crop": True,
                         "resample": 3, "image_mean": IMAGENET_MEAN, "image_std": IMAGENET_STD},
        # NOTE: Dinomaly reads blocks 2..9 (DinomalyHP.target_layers), so 10 blocks is the least
        # depth that exercises its encoder, bottleneck and fusion groups as in the paper.
        shallow=dict(num_hidden_layers=10)),
    BackboneSpec(
        "clip_text", "openai/clip-vit-base-patch32", "3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268",
        "transformers", "CLIPTextConfig", "CLIPTextModelWithProjection", "CLIPTokenizer",
        tiny_arch=dict(hidden_size=64, intermediate_size=128, projection_dim=512, num_hidden_layers=2,
                       num_attention_heads=4),
        checkpoint_class="CLIPModel",  # the whole CLIP; the text tower and projection are read
        paper_config=dict(
            model_type="clip", projection_dim=512,
            text_config=dict(vocab_size=49408, hidden_size=512, intermediate_size=2048,
                             num_hidden_layers=12, num_attention_heads=8, max_position_embeddings=77,
                             hidden_act="quick_gelu", projection_dim=512, bos_token_id=0,
                             eos_token_id=2, pad_token_id=1),
            vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                               num_attention_heads=12, image_size=224, patch_size=32,
                               hidden_act="quick_gelu", projection_dim=512)),
        paper_processor={"class": "CLIPTokenizer", "model_max_length": 77},
        shallow=dict(text_config=dict(num_hidden_layers=1), vision_config=dict(num_hidden_layers=1)),
        pinned_from="public code that loads this checkpoint at a pinned revision (not checked "
                    "against the hub from here)"),
    BackboneSpec(
        # NOTE: PatchCore's paper uses torchvision's ImageNet WideResNet-50-2; in timm that is the
        # `tv_in1k` tag (plain `wide_resnet50_2` resolves to timm's own `racm_in1k` weights).
        "wide_resnet50_2", "timm/wide_resnet50_2.tv_in1k", None, "timm",
        tiny_arch=dict(architecture="test_resnet"),  # timm's ~0.1 M-parameter ResNet, same layer names
        paper_config=dict(architecture="wide_resnet50_2", num_classes=1000, num_features=2048),
        shallow=dict(model_args=dict(layers=[1, 1, 1, 1])),  # one block per stage, widths kept
    ),
):
    BACKBONES.add(_spec.name, _spec)


@dataclass(frozen=True)
class BackboneConfig:
    """Everything that determines a backbone's weights (part of every feature-cache key); a run's
    comes from `checkpoints.backbone_config`."""

    name: str  # a BACKBONES name
    preset: str  # tiny or pretrained
    source: str = ""  # pretrained: the local folder the weights load from; ignored by tiny
    seed: int = TINY_SEED
    hub_id: str | None = None  # pretrained: the hub repository, when known
    revision: str | None = None  # pretrained: the resolved commit, when known
    weights: str | None = None  # pretrained: sha256 digest of the weights files

    @property
    def spec(self) -> BackboneSpec:
        return BACKBONES.get(self.name)

    def key(self) -> dict:
        if self.preset == "tiny":
            # tiny weights depend on the architecture below and the seed only
            return {"name": self.name, "preset": self.preset, "seed": self.seed,
                    "tiny": self.spec.tiny_arch}
        # NOTE: the weights digest, not the folder: the same checkpoint in another folder (or
        # on another node) shares cache entries, and other weights in the same folder do not.
        return {"name": self.name, "preset": self.preset, "id": self.hub_id,
                "revision": self.revision, "weights": self.weights}

    def record(self) -> dict:
        """What versions.json says about this backbone."""
        if self.preset == "tiny":
            return {"preset": "tiny", "seed": self.seed, "architecture": self.spec.tiny_arch}
        return {"preset": self.preset, "id": self.hub_id, "revision": self.revision,
                "weights_sha256": self.weights, "folder": self.source}


def build_backbone(cfg: BackboneConfig, **shape) -> torch.nn.Module:
    """A frozen transformers backbone in eval mode. `shape` gives input-size settings for the tiny
    preset (e.g. crop_size, frames_per_clip, max_length, image_size)."""
    if cfg.spec.library != "transformers":
        raise ValueError(f"{cfg.name} is a {cfg.spec.library} encoder: its method builds it")
    config_cls, model_cls = cfg.spec.classes()
    if cfg.preset == "pretrained":
        model, info = model_cls.from_pretrained(cfg.source, output_loading_info=True)
        if info.get("missing_keys"):
            # NOTE: transformers would initialise them at random and only log it
            missing = sorted(info["missing_keys"])
            raise FileNotFoundError(f"{cfg.source}: the checkpoint lacks {len(missing)} weights of "
                                    f"{model_cls.__name__} (backbone {cfg.name}), e.g. {missing[:3]}")
    elif cfg.preset == "tiny":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            model = model_cls(config_cls(**cfg.spec.tiny_arch, **shape))
    else:
        raise ValueError(f"unknown backbone preset {cfg.preset!r} (tiny or pretrained)")
    model.eval().requires_grad_(False)
    return model


def load_processor(cfg: BackboneConfig):
    """The checkpoint's own processor (image, video or audio), from the same folder."""
    import transformers

    if not cfg.spec.processor_class:
        raise ValueError(f"backbone {cfg.name} has no processor")
    try:
        return getattr(transformers, cfg.spec.processor_class).from_pretrained(cfg.source)
    except (OSError, ValueError) as e:
        raise FileNotFoundError(f"{cfg.source}: no usable {cfg.spec.processor_class} config for "
                                f"backbone {cfg.name} ({e})") from e


def timm_encoder(cfg: BackboneConfig) -> tuple[str, bool]:
    """(timm model name, load pretrained weights) of a timm backbone: the tiny architecture with
    random weights, or the checkpoint folder (`local-dir:`)."""
    if cfg.spec.library != "timm":
        raise ValueError(f"{cfg.name} is not a timm encoder")
    if cfg.preset == "tiny":
        return cfg.spec.tiny_arch["architecture"], False
    return f"local-dir:{cfg.source}", True


class TextEncoder:
    """CLIP text embeddings (L2-normalised) for prompts such as "a normal weld"."""

    def __init__(self, cfg: BackboneConfig, device: str = "cpu"):
        self.cfg = cfg
        self.device = device
        self.model = build_backbone(cfg).to(device)
        if cfg.preset == "pretrained":
            tokenizer = load_processor(cfg)
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
