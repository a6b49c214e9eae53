"""Feature extractors: decode a Sample's files and turn them into arrays for the methods.

Each extractor provides one or more named features from one pass over a sample (DINOv2 gives
`image_cls` and `image_patches` from the same forward pass). Its `settings()` are everything that
determines the output; together with the sample's content they key the on-disk cache.

Work is split in two so that decoding can run ahead of the network: `load` (CPU: decode files,
preprocess; may run in a worker thread) and `forward` (the backbone, on the run's device).

Preprocessing. The `tiny` preset keeps the suite's fixed preprocessing (ImageNet statistics,
squashed squares). The `pretrained` preset preprocesses with the checkpoint's own processor
(video processor, AST feature extractor, image processor), loaded from the checkpoint folder, and
says where the suite departs from it (`ADAPTATIONS`); both enter the cache key.

Precision. On CUDA the backbones run under bf16 autocast (recorded in the cache key); on the CPU
they run in float32 exactly as before, so CPU numbers do not depend on this code path.
"""
from __future__ import annotations

import contextlib
import json
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import torch

from benchmark.data.sample import Sample
from benchmark.features import checkpoints
from benchmark.features.backbones import BackboneConfig, build_backbone, load_processor
from benchmark.profiles import FeatureOptions, Profile
from benchmark.registry import Registry

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
# Where the pretrained preset departs from a checkpoint's own processor, and why.
ADAPTATIONS = {
    "dinov2": "the view's weld region (or the whole view) resized to image_size x image_size, no "
              "centre crop: the patch tokens feed anomaly maps that must cover all of it (the "
              "processor's resize and crop would drop its borders)",
    "ast": "the whole recording in consecutive windows of the checkpoint's max_length (1024 "
           "frames = 10.24 s; a tail under a quarter window is dropped), each window through the "
           "feature extractor, patch tokens averaged over frequency and pooled to a fixed number "
           "of time tokens: the extractor alone pads or truncates a recording to one window, "
           "which would keep only the first 10 s of a ~38 s weld",
}


def _jsonable(obj):
    return json.loads(json.dumps(obj, sort_keys=True, default=str))


class Extractor(ABC):
    outputs: ClassVar[tuple[str, ...]]  # feature names this extractor provides
    modality: ClassVar[str]  # the sample modality it reads
    backbone: ClassVar[str | None] = None  # the frozen network it runs, if any
    inputs: ClassVar[tuple[str, ...]] = ()  # features it is computed from (made before it)
    batch_size: ClassVar[int] = 8  # samples per load/forward

    def __init__(self, profile: Profile, options: FeatureOptions, device: str = "cpu", store=None):
        self.profile = profile
        self.options = options
        self.device = device
        self.store = store  # the FeatureStore, for extractors built on another one's output
        self._model = None
        self._processor = None

    def backbone_config(self) -> BackboneConfig | None:
        if self.backbone is None:
            return None
        return checkpoints.backbone_config(self.backbone, self.profile, self.options)

    def settings(self) -> dict:
        """What determines the output (cache key): backbone config and preprocessing."""
        cfg = self.backbone_config()
        out = {"extractor": type(self).__name__, "version": 1,
               "backbone": cfg.key() if cfg else None, **self.preprocessing()}
        if cfg is not None and self.on_cuda:
            out["precision"] = "bf16 autocast"  # NOTE: CPU keys stay as they were (float32)
        return out

    @abstractmethod
    def preprocessing(self) -> dict: ...

    def load(self, samples: list[Sample]) -> Any:
        """CPU work for a batch (decode, preprocess); the default hands the samples on."""
        return samples

    @abstractmethod
    def forward(self, loaded: Any) -> list[dict[str, np.ndarray]]:
        """One dict {feature name: array} per sample of the batch `load` prepared."""

    def compute(self, samples: list[Sample]) -> list[dict[str, np.ndarray]]:
        return self.forward(self.load(samples))

    @property
    def pretrained(self) -> bool:
        return self.profile.preset == "pretrained"

    @property
    def on_cuda(self) -> bool:
        return str(self.device).startswith("cuda")

    def autocast(self):
        """bf16 autocast on CUDA; nothing on the CPU (float32, bit-for-bit as before)."""
        if self.on_cuda:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def model(self):
        if self._model is None:
            self._model = build_backbone(self.backbone_config(), **self.model_shape()).to(self.device)
        return self._model

    def processor(self):
        """The checkpoint's own processor (pretrained preset only)."""
        if self._processor is None:
            self._processor = load_processor(self.backbone_config())
        return self._processor

    def processor_settings(self) -> dict:
        return _jsonable(self.processor().to_dict())

    def model_shape(self) -> dict:
        return {}

    def parameters(self) -> int:
        """Parameters of the frozen backbone (0 for extractors without one)."""
        return 0 if self.backbone is None else sum(p.numel() for p in self.model().parameters())


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
        if self.pretrained:
            # NOTE: the checkpoint's video processor as it is (resize, centre crop): video tokens
            # are pooled over space and feed no map, so its crop costs the suite nothing.
            return {"frames": p.video_frames, "processor": self.processor_settings()}
        return {"frames": p.video_frames, "size": p.video_size, "norm": "imagenet"}

    def model_shape(self):
        p = self.profile
        return {"crop_size": p.video_size, "frames_per_clip": p.video_frames} if p.preset == "tiny" else {}

    def load(self, samples):
        from benchmark.data.decode import read_video

        p = self.profile
        if self.pretrained:
            clips = [read_video(s.video, p.video_frames, None) for s in samples]
            return self.processor()(clips, return_tensors="pt")["pixel_values_videos"]
        clips = [read_video(s.video, p.video_frames, (p.video_size, p.video_size)) for s in samples]
        x = (np.stack(clips).astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
        return torch.from_numpy(x).permute(0, 1, 4, 2, 3)  # (B, T, C, H, W)

    @torch.no_grad()
    def forward(self, x):
        model = self.model()
        with self.autocast():
            hidden = model(pixel_values_videos=x.to(self.device), skip_predictor=True).last_hidden_state
        cfg = model.config
        t = x.shape[1] // cfg.tubelet_size
        side = x.shape[-1] // cfg.patch_size
        tokens = hidden.reshape(len(x), t, side * side, -1).mean(2)
        return [{"video_tokens": tok.float().cpu().numpy()} for tok in tokens]


@EXTRACTORS.register("ast")
class AudioTokens(Extractor):
    """AST tokens over consecutive windows of the whole recording, averaged over frequency and
    pooled to a fixed number of time tokens."""

    outputs = ("audio_tokens",)
    modality = "audio"
    backbone = "ast"
    max_windows: ClassVar[int] = 64  # windows per forward pass (memory bound; no effect on values)

    def preprocessing(self):
        p = self.profile
        if self.pretrained:
            return {"rate": p.audio_rate, "tokens": p.audio_tokens,
                    "processor": self.processor_settings(), "adaptation": ADAPTATIONS["ast"]}
        return {"rate": p.audio_rate, "window_frames": p.audio_window_frames,
                "tokens": p.audio_tokens, "mel_bins": 128}

    def model_shape(self):
        return {"max_length": self.profile.audio_window_frames} if self.profile.preset == "tiny" else {}

    def _fbank(self):
        if self.pretrained:
            return self.processor()
        from transformers import ASTFeatureExtractor

        p = self.profile
        return ASTFeatureExtractor(sampling_rate=p.audio_rate, num_mel_bins=128,
                                   max_length=p.audio_window_frames)

    def load(self, samples):
        from benchmark.data.decode import read_audio

        p = self.profile
        fbank = self._fbank()
        window = fbank.max_length * p.audio_rate // 100  # 10 ms fbank hop
        inputs, counts = [], []
        for s in samples:
            wave, _ = read_audio(s.audio, p.audio_rate)
            chunks = [wave[i:i + window] for i in range(0, len(wave), window)]
            chunks = [c for c in chunks if len(c) >= window // 4] or chunks[:1]  # drop a short tail
            inputs.append(fbank(chunks, sampling_rate=p.audio_rate, return_tensors="pt")["input_values"])
            counts.append(len(chunks))
        return torch.cat(inputs), counts

    @torch.no_grad()
    def forward(self, loaded):
        x, counts = loaded
        model = self.model()
        cfg = model.config
        f_bins = (cfg.num_mel_bins - cfg.patch_size) // cfg.frequency_stride + 1
        # NOTE: the windows of every sample of the batch go through together (a sample's own
        # windows always did); rows of a batch do not interact.
        hidden = []
        with self.autocast():
            for start in range(0, len(x), self.max_windows):
                hidden.append(model(x[start:start + self.max_windows].to(self.device)).last_hidden_state)
        hidden = torch.cat(hidden)
        out, start = [], 0
        for n in counts:
            h = hidden[start:start + n]
            start += n
            patches = h[:, -(h.shape[1] // f_bins) * f_bins:]  # drop [CLS] + distillation
            tokens = patches.reshape(n, f_bins, -1, h.shape[-1]).mean(1)
            tokens = tokens.reshape(1, -1, h.shape[-1])  # windows in time order
            out.append({"audio_tokens": _pool_tokens(tokens.float(), self.profile.audio_tokens)[0].cpu().numpy()})
        return out


def guarded_views(sample: Sample, size: tuple[int, int], guard: bool, weld_region: bool = True
                  ) -> tuple[list[np.ndarray], list[str], list[np.ndarray], list[np.ndarray]]:
    """The post-weld views, label removed when `guard` is on, resized to size=(H, W); the guard's
    status of each ('found', 'unsure', 'not found'; none when the guard is off); and what image
    models read of each: with `weld_region`, the weld's region (`benchmark.data.weld_region`) as
    an upright crop at `size` cut from the full-size photo, and its three corners as fractions of
    the view's width and height; the whole view (and its own corners) without `weld_region` or
    where no label was found."""
    import cv2

    from benchmark.data import weld_region as W
    from benchmark.data.decode import read_images
    from benchmark.data.label_guard import find_label, remove_label

    whole = np.float32([[0, 0], [1, 0], [0, 1]])
    views, statuses, crops, corners = [], [], [], []
    for image in read_images(sample):
        label = None
        if guard:
            image, label = remove_label(image)
            statuses.append(label.status)
        elif weld_region:
            label = find_label(image)
        view = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        found = W.weld_region(label.mask) if weld_region else None
        views.append(view)
        crops.append(view if found is None else W.crop_region(image, found, size))
        corners.append(whole if found is None else W.scale_corners(found, image.shape[:2], (1, 1)))
    return views, statuses, crops, corners


@EXTRACTORS.register("pixels")
class ImagePixels(Extractor):
    """The post-weld views (uint8, label removed when guarded; `image_pixels`, whole views) and
    what image models read of each (`image_region_pixels`: the weld's region located from the
    label as an upright crop, or the whole view under `FeatureOptions.weld_region` False;
    `image_region`: its corners as fractions of the view's width and height, float32 (V, 3, 2)),
    so the label guard runs once per view. Methods that run their own encoder read the crops, and
    so does DINOv2."""

    outputs = ("image_pixels", "image_region_pixels", "image_region")
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
        from benchmark.data.weld_region import REGION_VERSION

        return {"size": list(self.profile.pixel_size), "label_guard": guard,
                "image_models_read": REGION_VERSION if self.options.weld_region else "the whole view"}

    def forward(self, samples):
        out = []
        for s in samples:
            views, statuses, crops, corners = guarded_views(
                s, self.profile.pixel_size, self.options.label_guard, self.options.weld_region)
            self.labels_missed += statuses.count("not found")
            self.labels_unsure += statuses.count("unsure")
            out.append({"image_pixels": np.stack(views), "image_region_pixels": np.stack(crops),
                        "image_region": np.stack(corners)})
        return out


@EXTRACTORS.register("dinov2")
class ImageTokens(Extractor):
    """DINOv2 per view: the [CLS] token and the patch tokens (float16, grid row-major), computed
    from what image models read of each view (`image_region_pixels`: its weld region, label
    already removed there)."""

    outputs = ("image_cls", "image_patches")
    modality = "image"
    backbone = "dinov2"
    inputs = ("image_region_pixels",)
    max_views: ClassVar[int] = 64  # views per forward pass (memory bound; no effect on values)

    @property
    def side(self) -> int:
        """The square side the views are resized to (a multiple of the 14-px patch)."""
        return self.profile.image_size

    def preprocessing(self):
        pixels = ImagePixels(self.profile, self.options, self.device)
        if self.pretrained:
            return {"size": self.side, "processor": self.processor_settings(),
                    "adaptation": ADAPTATIONS["dinov2"], "views": pixels.preprocessing()}
        return {"size": self.side, "norm": "imagenet", "views": pixels.preprocessing()}

    def model_shape(self):
        return {"image_size": self.side} if self.profile.preset == "tiny" else {}

    def load(self, samples):
        import cv2

        side = self.side
        per_sample = self.store.get(samples, self.inputs)[self.inputs[0]]
        counts = [len(pixels) for pixels in per_sample]
        views = [v for pixels in per_sample for v in pixels]
        if self.pretrained:
            x = self.processor()(views, do_center_crop=False, size={"height": side, "width": side},
                                 return_tensors="pt")["pixel_values"]
        else:
            views = [cv2.resize(v, (side, side), interpolation=cv2.INTER_AREA) for v in views]
            x = (np.stack(views).astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
            x = torch.from_numpy(x).permute(0, 3, 1, 2)
        return x, counts

    @torch.no_grad()
    def forward(self, loaded):
        x, counts = loaded
        hidden = []
        with self.autocast():
            for start in range(0, len(x), self.max_views):
                hidden.append(self.model()(pixel_values=x[start:start + self.max_views].to(self.device))
                              .last_hidden_state.float())
        hidden = torch.cat(hidden)
        out, start = [], 0
        for n in counts:
            h = hidden[start:start + n]
            start += n
            out.append(self._outputs(h))
        return out

    def _outputs(self, hidden: torch.Tensor) -> dict[str, np.ndarray]:
        return {"image_cls": hidden[:, 0].cpu().numpy(), "image_patches": hidden[:, 1:].half().cpu().numpy()}


@EXTRACTORS.register("dinov2_fine")
class FineImageTokens(ImageTokens):
    """DINOv2 patch tokens on the finer grid that the cross-modal originals read (M3DM and CFM
    take DINO ViT-B/8 at 224 px: 28 x 28 tokens; DINOv2 at `Profile.fine_image_size` = 392 px
    gives the same grid). One extraction serves every method that asks for it."""

    outputs = ("image_patches_fine",)

    @property
    def side(self) -> int:
        return self.profile.fine_image_size or self.profile.image_size

    def _outputs(self, hidden: torch.Tensor) -> dict[str, np.ndarray]:
        return {"image_patches_fine": hidden[:, 1:].half().cpu().numpy()}


@EXTRACTORS.register("sensor")
class SensorSequence(Extractor):
    """The six named sensor channels, time-aligned and resampled to a fixed length (raw units)."""

    outputs = ("sensor",)
    modality = "sensor"

    def preprocessing(self):
        return {"length": self.profile.sensor_length, "arc_on_only": False}

    def forward(self, samples):
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


def feature_modality(feature: str) -> str:
    """The sample modality a feature is computed from ("video", "audio", "sensor", "image")."""
    return EXTRACTORS.get(feature_index()[feature]).modality


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
    def forward(self, samples):
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


# ---------------------------------------------------------------------------- video frame stats
@EXTRACTORS.register("frame_stats")
class VideoFrameStats(Extractor):
    """Per frame of the whole clip: mean red, green and blue and the 99th percentile of the luma
    (0-255) of a downscaled frame, float32 (frames, 4). No network: the scene's exposure and
    colour, and the arc's glare (the bright tail) that says when the arc burns (the session
    probe, `methods/session_probes.py`)."""

    outputs = ("video_frame_stats",)
    modality = "video"
    frames: ClassVar[int] = 128  # sampled evenly over the clip (~0.3 s apart in a ~38 s weld)
    size: ClassVar[tuple[int, int]] = (24, 32)  # (H, W) the frames are decoded at
    luma: ClassVar[tuple[float, float, float]] = (0.299, 0.587, 0.114)  # ITU-R BT.601

    def preprocessing(self):
        return {"frames": self.frames, "size": list(self.size), "luma": list(self.luma),
                "stats": "mean R, G, B; 99th percentile of luma"}

    def forward(self, samples):
        from benchmark.data.decode import read_video

        out = []
        for s in samples:
            clip = read_video(s.video, self.frames, self.size).astype(np.float32)  # (T, H, W, 3)
            luma = clip @ np.asarray(self.luma, dtype=np.float32)
            glare = np.percentile(luma.reshape(len(clip), -1), 99, axis=1)
            stats = np.concatenate([clip.mean((1, 2)), glare[:, None]], 1)
            out.append({"video_frame_stats": stats.astype(np.float32)})
        return out
