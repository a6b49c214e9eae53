"""Concatenation autoencoder: pooled features of several modalities, one MLP autoencoder.

A suite-defined baseline (no paper): the simplest early fusion. Each modality's feature is pooled
to one vector per sample, the vectors are concatenated and z-scored with TRAIN statistics, and an
MLP autoencoder (in -> 256 -> 64 -> 256 -> in, GELU) is trained with MSE; the anomaly score is
the reconstruction MSE. The checkpoint is chosen on VAL by the shared selection rule.

Pooling per feature:
- `video_tokens`, `audio_tokens`: mean over time tokens;
- `sensor`: per channel mean, std, min and max over time (6 x 4 = 24 values);
- `image_cls`: mean over the post-weld views.

Variants are data: `concat_ae_av` (video + audio, process only) and `concat_ae_all` (video +
audio + sensor + image, cross-modal) differ only in their feature list.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from benchmark.method import (FitContext, Group, Inputs, Method, Scores, ViewPooling, register_method,
                              smoke_run, unchanged)
from methods import _blocks


def _sensor_stats(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)  # (channels, time)
    return np.concatenate([x.mean(1), x.std(1), x.min(1), x.max(1)])


POOLING: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "video_tokens": lambda x: np.asarray(x, dtype=np.float32).mean(0),
    "audio_tokens": lambda x: np.asarray(x, dtype=np.float32).mean(0),
    "sensor": _sensor_stats,
    "image_cls": lambda x: np.asarray(x, dtype=np.float32).mean(0),
}


@dataclass(frozen=True)
class ConcatAEConfig:
    sources: tuple[str, ...] = ("video_tokens", "audio_tokens")
    hidden: tuple[int, ...] = (256, 64)  # encoder widths; the decoder mirrors them
    epochs: int = 100
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-5


SUITE_DEFINED = "suite-defined (the run's selection policy applies)"
SMOKE = smoke_run(epochs=2)
HPARAMS_AV = unchanged(ConcatAEConfig(), SUITE_DEFINED, SMOKE)
HPARAMS_ALL = unchanged(ConcatAEConfig(sources=("video_tokens", "audio_tokens", "sensor", "image_cls")),
                        SUITE_DEFINED, SMOKE)


class ConcatAE(Method):
    group = Group.PROCESS
    modalities = ("video", "audio")
    yields_maps = False

    def pooled(self, inputs: Inputs) -> np.ndarray:
        """(N, sum of pooled widths), raw (not yet standardised)."""
        return np.concatenate([np.stack([POOLING[name](x) for x in inputs[name]])
                               for name in self.hp.sources], axis=1)

    @torch.no_grad()
    def _errors(self, x: np.ndarray) -> np.ndarray:
        self.model.eval()
        t = _blocks.to_tensor(self.norm(x))
        return (self.model(t) - t).pow(2).mean(1).numpy()

    def fit(self, train: Inputs, val: Inputs, ctx: FitContext) -> None:
        hp = self.hp
        raw = self.pooled(train)
        self.norm = _blocks.Standardizer().fit(raw)
        x = _blocks.to_tensor(self.norm(raw))
        sizes = (x.shape[1], *hp.hidden)
        self.model = nn.Sequential(_blocks.mlp(sizes, final_act=True), _blocks.mlp(sizes[::-1]))
        opt = torch.optim.Adam(self.model.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
        val_raw = self.pooled(val)
        _blocks.train(self.model, lambda b: F.mse_loss(self.model(b[0]), b[0]), [x], ctx,
                      epochs=hp.epochs, batch_size=hp.batch_size, optimizer=opt,
                      val_scores=lambda: self._errors(val_raw))

    def score(self, inputs: Inputs) -> Scores:
        return Scores(sample=self._errors(self.pooled(inputs)))


register_method(
    "concat_ae_av", ConcatAE, hparams=HPARAMS_AV, features=lambda hp, profile: hp.sources,
    family="concat_ae", display_name="Concat-AE (V+A)", row_code="A.2",
    summary="suite-defined baseline: MLP autoencoder on pooled video + audio tokens, "
            "reconstruction MSE",
)
register_method(
    "concat_ae_all", ConcatAE, hparams=HPARAMS_ALL, features=lambda hp, profile: hp.sources,
    family="concat_ae", display_name="Concat-AE (A+B)", row_code="C.2", group=Group.CROSS,
    modalities=("video", "audio", "sensor", "image"),
    view_pooling=ViewPooling.FEATURES,  # the views' [CLS] tokens are averaged before the AE
    summary="suite-defined baseline: MLP autoencoder on pooled video + audio + sensor statistics "
            "+ image [CLS], reconstruction MSE",
)
