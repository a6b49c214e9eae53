"""Feature extractors: decode a Sample's files and turn them into arrays for the methods.

Each extractor provides one or more named features from one pass over a sample (DINOv2 gives
`image_cls` and `image_patches` from the same forward pass). Its `settings()` are everything that
determines the output; together with the sample's content they key the on-disk cache.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import torch

from benchmark.data.sample import Sample
from benchmark.features.backbones import BackboneConfig, build_backbone
from benchmark.profiles import FeatureOptions, Profile
from benchmark.registry import Registry

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class Extractor(ABC):
    outputs: ClassVar[tuple[str, ...]]  # feature names this extractor provides
    modality: ClassVar[str]  # the sample modality it reads
    backbone: ClassVar[str | None] = None  # the frozen network it runs, if any
    batch_size: ClassVar[int] = 8

    def __init__(self, profile: Profile, options: FeatureOptions, device: str = "cpu", store=None):
        self.profile = profile
        self.options = options
        self.device = device
        self.store = store  # the FeatureStore, for extractors built on another one's output
        self._model = None

    def backbone_config(self) -> BackboneConfig | None:
        if self.backbone is None:
            return None
        return BackboneConfig.of(self.backbone, self.profile, self.options)

    def settings(self) -> dict:
        """What determines the output (cache key): backbone config and preprocessing."""
        cfg = self.backbone_config()
        return {"extractor": type(self).__name__, "version": 1,
                "backbone": cfg.key() if cfg else None, **self.preprocessing()}

    @abstractmethod
    def preprocessing(self) -> dict: ...

    @abstractmethod
    def compute(self, samples: list[Sample]) -> list[dict[str, np.ndarray]]:
        """One dict {feature name: array} per sample."""

    def model(self):
        if self._model is None:
            self._model = build_backbone(self.backbone_config(), **self.model_shape()).to(self.device)
        return self._model

    def model_shape(self) -> dict:
        return {}


EXTRACTORS: Registry[type[Extractor]] = Registry("feature extractor")


def _pool_tokens(tokens: torch.Tensor, n: int) -> torch.Tensor:
    """(B, T, D) -> (B, n, D) by adaptive average pooling over time."""
    return torch.nn.functional.adaptive_avg_pool1d(tokens.transpose(1, 2), n).transpose(1, 2)


@EXTRACTORS.register("vjepa2")
class VideoTokens(Extractor):
    """V-JEPA 2 tokens averaged over space: one token per tubelet (2 frames) in time."""

    outputs = ("video_tokens",)
    modality = "video"
    backbone = "vjepa2"
    batch_size = 4

    def preprocessing(self):
        p = self.profile
        return {"frames": p.video_frames, "size": p.video_size, "norm": "imagenet"}

    def model_shape(self):
        p = self.profile
        return {"crop_size": p.video_size, "frames_per_clip": p.video_frames} if p.preset == "tiny" else {}

    @torch.no_grad()
    def compute(self, samples):
        from benchmark.data.decode import read_video

        p = self.profile
        clips = [read_video(s.video, p.video_frames, (p.video_size, p.video_size)) for s in samples]
        x = (np.stack(clips).astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
        x = torch.from_numpy(x).permute(0, 1, 4, 2, 3).to(self.device)  # (B, T, C, H, W)
        model = self.model()
        hidden = model(pixel_values_videos=x, skip_predictor=True).last_hidden_state
        cfg = model.config
        t = p.video_frames // cfg.tubelet_size
        side = p.video_size // cfg.patch_size
        tokens = hidden.reshape(len(samples), t, side * side, -1).mean(2)
        return [{"video_tokens": tok.float().cpu().numpy()} for tok in tokens]


@EXTRACTORS.register("ast")
class AudioTokens(Extractor):
    """AST tokens over consecutive windows of the whole recording, averaged over frequency and
    pooled to a fixed number of time tokens."""

    outputs = ("audio_tokens",)
    modality = "audio"
    backbone = "ast"

    def preprocessing(self):
        p = self.profile
        return {"rate": p.audio_rate, "window_frames": p.audio_window_frames,
                "tokens": p.audio_tokens, "mel_bins": 128}

    def model_shape(self):
        return {"max_length": self.profile.audio_window_frames} if self.profile.preset == "tiny" else {}

    @torch.no_grad()
    def compute(self, samples):
        from transformers import ASTFeatureExtractor

        from benchmark.data.decode import read_audio

        p = self.profile
        fbank = ASTFeatureExtractor(sampling_rate=p.audio_rate, num_mel_bins=128,
                                    max_length=p.audio_window_frames)
        window = p.audio_window_frames * p.audio_rate // 100  # 10 ms fbank hop
        model = self.model()
        cfg = model.config
        f_bins = (cfg.num_mel_bins - cfg.patch_size) // cfg.frequency_stride + 1
        out = []
        for s in samples:
            wave, _ = read_audio(s.audio, p.audio_rate)
            chunks = [wave[i:i + window] for i in range(0, len(wave), window)]
            chunks = [c for c in chunks if len(c) >= window // 4] or chunks[:1]  # drop a short tail
            inputs = fbank(chunks, sampling_rate=p.audio_rate, return_tensors="pt")
            hidden = model(inputs["input_values"].to(self.device)).last_hidden_state
            patches = hidden[:, -(hidden.shape[1] // f_bins) * f_bins:]  # drop [CLS] + distillation
            tokens = patches.reshape(len(chunks), f_bins, -1, hidden.shape[-1]).mean(1)
            tokens = tokens.reshape(1, -1, hidden.shape[-1])  # windows in time order
            out.append({"audio_tokens": _pool_tokens(tokens, p.audio_tokens)[0].float().cpu().numpy()})
        return out


def guarded_views(sample: Sample, size: tuple[int, int], guard: bool
                  ) -> tuple[list[np.ndarray], list[str]]:
    """The post-weld views, label removed when `guard` is on, resized to size=(H, W).
    Returns the views and the guard's status of each ('found', 'unsure', 'not found'; none
    when the guard is off)."""
    import cv2

    from benchmark.data.decode import read_images

    views, statuses = [], []
    for image in read_images(sample):
        if guard:
            from benchmark.data.label_guard import remove_label

            image, region = remove_label(image)
            statuses.append(region.status)
        views.append(cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA))
    return views, statuses


@EXTRACTORS.register("pixels")
class ImagePixels(Extractor):
    """Raw views (uint8, label removed when guarded) for methods that run their own encoder, and
    the input of the DINOv2 extractor (so the label guard runs once per view)."""

    outputs = ("image_pixels",)
    modality = "image"

    def __init__(self, profile, options, device="cpu", store=None):
        super().__init__(profile, options, device, store)
        self.labels_missed = 0  # views where the guard found no label (counted in the run log)
        self.labels_unsure = 0  # views where the guard's check saw print or paper left

    def preprocessing(self):
        guard = None
        if self.options.label_guard:
            from benchmark.data.label_guard import GUARD_VERSION

            guard = GUARD_VERSION
        return {"size": list(self.profile.pixel_size), "label_guard": guard}

    def compute(self, samples):
        out = []
        for s in samples:
            views, statuses = guarded_views(s, self.profile.pixel_size, self.options.label_guard)
            self.labels_missed += statuses.count("not found")
            self.labels_unsure += statuses.count("unsure")
            out.append({"image_pixels": np.stack(views)})
        return out


@EXTRACTORS.register("dinov2")
class ImageTokens(Extractor):
    """DINOv2 per view: the [CLS] token and the patch tokens (float16, grid row-major), computed
    from the `image_pixels` views (label already removed there)."""

    outputs = ("image_cls", "image_patches")
    modality = "image"
    backbone = "dinov2"

    def preprocessing(self):
        pixels = ImagePixels(self.profile, self.options, self.device)
        return {"size": self.profile.image_size, "norm": "imagenet", "views": pixels.preprocessing()}

    def model_shape(self):
        return {"image_size": self.profile.image_size} if self.profile.preset == "tiny" else {}

    @torch.no_grad()
    def compute(self, samples):
        import cv2

        side = self.profile.image_size
        out = []
        for pixels in self.store.get(samples, ("image_pixels",))["image_pixels"]:
            views = [cv2.resize(v, (side, side), interpolation=cv2.INTER_AREA) for v in pixels]
            x = (np.stack(views).astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
            x = torch.from_numpy(x).permute(0, 3, 1, 2).to(self.device)
            hidden = self.model()(pixel_values=x).last_hidden_state
            out.append({"image_cls": hidden[:, 0].float().cpu().numpy(),
                        "image_patches": hidden[:, 1:].half().cpu().numpy()})
        return out


@EXTRACTORS.register("sensor")
class SensorSequence(Extractor):
    """The six named sensor channels, time-aligned and resampled to a fixed length (raw units)."""

    outputs = ("sensor",)
    modality = "sensor"

    def preprocessing(self):
        return {"length": self.profile.sensor_length, "arc_on_only": False}

    def compute(self, samples):
        from benchmark.data.decode import read_sensors

        return [{"sensor": read_sensors(s.sensor, self.profile.sensor_length).astype(np.float32)}
                for s in samples]


def feature_index() -> dict[str, str]:
    """Feature name -> extractor name (each feature has exactly one source)."""
    index: dict[str, str] = {}
    for name, cls in EXTRACTORS.items():
        for feature in cls.outputs:
            if feature in index:
                raise ValueError(f"feature {feature!r} provided by both {index[feature]} and {name}")
            index[feature] = name
    return index


# ---------------------------------------------------------------------------- audio STFT
# NOTE: Stemmer et al. (arXiv:2409.02290) take a 16384-point FFT of 192 kHz audio: an 85.3 ms
# window, 11.7 Hz bins. The public audio is 16 kHz, so we keep the window length, and with it the
# frequency resolution (the two are the same thing: bin width = 1 / window): 16384 * 16000 /
# 192000 = 1365 points, 683 bins up to 8 kHz (the band above 8 kHz is gone). The hop is not
# stated in the paper; half a window is our choice. Frames kept per sample: `Profile.stft_frames`.
STFT_WINDOW_S = 16384 / 192000


@EXTRACTORS.register("stft")
class AudioSTFT(Extractor):
    """Log power spectrogram (float16, frames x bins) of the whole recording, Hann window."""

    outputs = ("audio_stft",)
    modality = "audio"

    def preprocessing(self):
        n_fft = round(STFT_WINDOW_S * self.profile.audio_rate)
        return {"rate": self.profile.audio_rate, "n_fft": n_fft, "hop": n_fft // 2,
                "window": "hann", "center": True, "power": "log10(|X|^2 + 1e-10)",
                "frames": self.profile.stft_frames, "pool": "mean of power"}

    @torch.no_grad()
    def compute(self, samples):
        from benchmark.data.decode import read_audio

        cfg = self.preprocessing()
        window = torch.hann_window(cfg["n_fft"], dtype=torch.float64)
        out = []
        for s in samples:
            wave, _ = read_audio(s.audio, cfg["rate"])
            x = torch.from_numpy(wave.astype(np.float64))
            if len(x) <= cfg["n_fft"] // 2:  # reflect padding needs more than half a window
                x = torch.nn.functional.pad(x, (0, cfg["n_fft"] // 2 + 1 - len(x)))
            spec = torch.stft(x, cfg["n_fft"], hop_length=cfg["hop"], window=window,
                              center=cfg["center"], return_complex=True)
            power = spec.abs().pow(2)  # (bins, frames)
            if cfg["frames"]:
                power = torch.nn.functional.adaptive_avg_pool1d(power[None], cfg["frames"])[0]
            log_power = torch.log10(power + 1e-10).T  # (frames, bins)
            out.append({"audio_stft": log_power.to(torch.float16).numpy()})
        return out
