"""Causal-FiLM: process-to-result prediction with sensor FiLM, for unsupervised weld inspection.

The process (video, audio, sensors) causes the result (post-weld photos). Frozen backbones give
features; the sensor stream is turned into FiLM scale and shift for the video and audio tokens; a
cross-attention process encoder and an MLP result encoder give two 128-d codes; a small decoder
with linear attention and a dropout "noisy bottleneck" predicts the result code from the process
code; a CLIP text embedding of "a normal weld" constrains the prediction. Anomaly score: cosine
distance between the predicted and the observed result code.

Paper: the Causal-FiLM proposal (this suite's subject; the design below is the one the paper
describes, D_model = 128). Research code: not public; nothing here is taken from it.

Two findings the design implies, surfaced rather than hidden:
(a) The decoder attends over a length-1 sequence (the pooled process code). Attention over one
    token returns its value projection whatever the weights, so each decoder block reduces to a
    residual MLP. `causal_film_tokens` gives attention a sequence to attend over.
(b) With both encoders trainable, a constant Z_result = Z_pred has zero loss (the text term is
    satisfied by any constant whose head output matches the prompt). The batch standard deviation
    of Z_result is recorded every epoch (`history.json`: z_result_std); `causal_film_sg` freezes
    the result branch (stop-gradient at its seeded initialisation), which cannot collapse.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from benchmark.method import (FitContext, Group, Hyperparameters, Inputs, Method, ProfileChanges, Role,
                              smoke_run,
                              Scores, register_method)
from methods._blocks import AttentionBlock, Standardizer, cosine_distance, mlp, to_tensor
from methods._blocks import train as train_loop


@dataclass(frozen=True)
class CausalFiLMConfig:
    d_model: int = 128
    gru_hidden: int = 64
    gru_layers: int = 2
    heads: int = 4
    ffn: int = 256
    encoder_layers: int = 2
    decoder_blocks: int = 2
    bottleneck_dropout: float = 0.2
    text_weight: float = 0.1
    text_prompt: str = "a normal weld"
    sensor_conditioning: str = "film"  # film | token | none
    decoder_attention: str = "linear"  # linear | softmax
    result_target: str = "trainable"  # trainable | frozen (stop-gradient at init)
    level: str = "global"  # global: one code per sample; tokens: per-view patch tokens
    inputs: str = "cross"  # cross: process -> result; process / result: one side, frozen target
    # Training schedule: not given by the design; chosen here and kept for every variant.
    epochs: int = 100
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    eval_every: int = 5
    top_fraction: float = 0.1  # tokens level: sample score = max over views of the mean top 10%


BASE = CausalFiLMConfig()
QUICK = {"quick": ProfileChanges({"epochs": 30})}
# NOTE: ~12x the tokens per sample of the global model
QUICK_TOKENS = {"quick": ProfileChanges({"epochs": 10, "eval_every": 2})}
SMOKE = smoke_run(epochs=2, eval_every=1)


def _features(hp: CausalFiLMConfig, profile=None) -> tuple[str, ...]:
    process = ("video_tokens", "audio_tokens") + (("sensor",) if hp.sensor_conditioning != "none" else ())
    result = ("image_patches",) if hp.level == "tokens" else ("image_cls",)
    return {"cross": process + result, "process": process, "result": result}[hp.inputs]


class CrossAttentionLayer(nn.Module):
    """Pre-norm cross-attention (query: video tokens; key/value: audio tokens) with FFN."""

    def __init__(self, d: int, heads: int, ffn: int):
        super().__init__()
        self.norm_q, self.norm_kv, self.norm_ffn = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(d, ffn), nn.GELU(), nn.Linear(ffn, d))

    def forward(self, q: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
        kv = self.norm_kv(kv)
        q = q + self.attn(self.norm_q(q), kv, kv, need_weights=False)[0]
        return q + self.ffn(self.norm_ffn(q))


class SensorModulator(nn.Module):
    """2-layer GRU over the sensor sequence; its last hidden state gives FiLM gamma and beta."""

    def __init__(self, channels: int, hidden: int, layers: int, d: int):
        super().__init__()
        self.gru = nn.GRU(channels, hidden, num_layers=layers, batch_first=True)
        self.to_film = nn.Linear(hidden, 2 * d)

    def forward(self, sensor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        _, h = self.gru(sensor.transpose(1, 2))  # (B, 6, L) -> sequence of L steps
        gamma, beta = self.to_film(h[-1]).chunk(2, dim=-1)
        return gamma.unsqueeze(1), beta.unsqueeze(1), h[-1]


class CausalFiLMNet(nn.Module):
    def __init__(self, hp: CausalFiLMConfig, dims: dict[str, int], n_tokens: int = 0):
        super().__init__()
        self.hp = hp
        d = hp.d_model
        self.process = hp.inputs in ("cross", "process")
        if self.process:
            self.video_proj = nn.Linear(dims["video_tokens"], d)
            self.audio_proj = nn.Linear(dims["audio_tokens"], d)
            if hp.sensor_conditioning != "none":
                self.sensor = SensorModulator(dims["sensor"], hp.gru_hidden, hp.gru_layers, d)
                if hp.sensor_conditioning == "token":
                    self.sensor_token = nn.Linear(hp.gru_hidden, d)
            self.encoder = nn.ModuleList(CrossAttentionLayer(d, hp.heads, hp.ffn)
                                         for _ in range(hp.encoder_layers))
        if hp.inputs == "result":
            self.image_proj = nn.Linear(dims["image"], d)
            self.image_encoder = mlp([d, d, d])
        if hp.inputs == "cross" and hp.level == "global":
            # Result branch: projection + MLP 128-128-128 (frozen at init for the sg variant).
            self.result_proj = nn.Linear(dims["image"], d)
            self.result_encoder = mlp([d, d, d])
            if hp.result_target == "frozen":
                self.result_proj.requires_grad_(False)
                self.result_encoder.requires_grad_(False)
        self.bottleneck = nn.Dropout(hp.bottleneck_dropout)
        linear = hp.decoder_attention == "linear"
        self.decoder = nn.ModuleList(AttentionBlock(d, hp.heads, hp.ffn, linear=linear)
                                     for _ in range(hp.decoder_blocks))
        if hp.level == "tokens":
            self.queries = nn.Parameter(torch.randn(n_tokens, d) * 0.02)  # one per view x patch
        # Frozen targets (one-sided variants, token level) live in feature space: map back to it.
        self.out = nn.Linear(d, dims["target"]) if dims.get("target") else nn.Identity()
        self.text_head = mlp([d, 256, 512]) if hp.text_weight > 0 and hp.inputs == "cross" else None

    def encode_process(self, video, audio, sensor=None) -> torch.Tensor:
        v, a = self.video_proj(video), self.audio_proj(audio)
        if self.hp.sensor_conditioning == "film":
            gamma, beta, _ = self.sensor(sensor)
            v, a = v * (gamma + 1) + beta, a * (gamma + 1) + beta
        elif self.hp.sensor_conditioning == "token":
            _, _, h = self.sensor(sensor)
            a = torch.cat([a, self.sensor_token(h).unsqueeze(1)], dim=1)
        for layer in self.encoder:
            v = layer(v, a)
        return v  # (B, T_v, d) process tokens; Z_process is their mean

    def encode_result(self, image_cls: torch.Tensor) -> torch.Tensor:
        return self.result_encoder(self.result_proj(image_cls).mean(1))  # views mean-pooled

    def predict(self, z: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """Noisy bottleneck + decoder, in the 128-d model space. Global: z (B, d) as a length-1 sequence. Tokens: learned
        per-view-patch queries conditioned on z, attending together with the process context."""
        z = self.bottleneck(z)
        if self.hp.level == "tokens":
            x = self.queries.unsqueeze(0) + z.unsqueeze(1)
            x = torch.cat([context, x], dim=1)
            for block in self.decoder:
                x = block(x)
            return x[:, context.shape[1]:]
        x = z.unsqueeze(1)
        for block in self.decoder:
            x = block(x)
        return x[:, 0]


class CausalFiLM(Method):
    group = Group.CROSS
    modalities = ("video", "audio", "sensor", "image")
    yields_maps = False

    def fit(self, train: Inputs, val: Inputs, ctx: FitContext) -> None:
        hp = self.hp
        self.device = ctx.device
        self.norms = {name: Standardizer().fit(self._raw(train, name), axis=self._axes(name))
                      for name in self.features}
        x = self._tensors(train)
        dims = {"video_tokens": x.get("video_tokens", torch.zeros(1, 1, 1)).shape[-1],
                "audio_tokens": x.get("audio_tokens", torch.zeros(1, 1, 1)).shape[-1],
                "sensor": x["sensor"].shape[1] if "sensor" in x else 0,
                "image": x[self._image_name].shape[-1] if self._image_name in x else 0}
        n_tokens = 0
        if hp.level == "tokens":
            v, n = x["image_patches"].shape[1:3]
            self.grid = (v, int(round(n ** 0.5)))
            n_tokens = v * n
            dims["target"] = x["image_patches"].shape[-1]
        elif hp.inputs == "process":
            dims["target"] = dims["video_tokens"] + dims["audio_tokens"]
        elif hp.inputs == "result":
            dims["target"] = dims["image"]
        self.net = CausalFiLMNet(hp, dims, n_tokens).to(self.device)
        text = None
        if self.net.text_head is not None:
            text = torch.as_tensor(ctx.text_embedding(hp.text_prompt), device=self.device)
        params = [p for p in self.net.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=hp.lr, weight_decay=hp.weight_decay)
        names = list(x)

        def loss_fn(batch):
            hidden, target = self._forward(dict(zip(names, batch)))
            loss = cosine_distance(self.net.out(hidden), target).mean()
            if text is not None:
                pooled = hidden.mean(1) if hidden.dim() == 3 else hidden
                loss = loss + hp.text_weight * cosine_distance(self.net.text_head(pooled), text).mean()
            return loss

        def record_collapse(epoch):
            if hp.inputs == "cross" and hp.level == "global":
                with torch.no_grad():
                    self.net.eval()
                    z = self.net.encode_result(x["image_cls"])
                    ctx.record("z_result_std", float(z.std(0).mean()))
                    self.net.train()

        val_x = self._tensors(val)
        train_loop(self.net, loss_fn, [x[n] for n in names], ctx, epochs=hp.epochs,
              batch_size=hp.batch_size, optimizer=opt,
              val_scores=lambda: self._scores(val_x)[0], eval_every=hp.eval_every,
              on_epoch=record_collapse)
        if "z_result_std" in ctx.history:
            stds = ctx.history["z_result_std"]
            ctx.log(f"Z_result batch std: first epoch {stds[0]:.4f}, last {stds[-1]:.4f}")

    @property
    def _image_name(self) -> str:
        return "image_patches" if self.hp.level == "tokens" else "image_cls"

    @staticmethod
    def _axes(name: str):
        # Statistics per feature dimension (per channel for the sensor), over samples, time,
        # views and patches.
        return {"sensor": (0, 2), "image_patches": (0, 1, 2)}.get(name, (0, 1))

    @staticmethod
    def _raw(inputs: Inputs, name: str) -> np.ndarray:
        return inputs.stack(name).astype(np.float32)

    def _tensors(self, inputs: Inputs) -> dict[str, torch.Tensor]:
        return {n: to_tensor(self.norms[n](self._raw(inputs, n)), self.device) for n in self.features}

    def _forward(self, x: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(decoder output in model space, target) for a batch; `net.out` maps the first to the
        target space."""
        hp, net = self.hp, self.net
        if hp.inputs == "result":
            z = net.image_encoder(net.image_proj(x["image_cls"]).mean(1))
            return net.predict(z), x["image_cls"].mean(1)
        tokens = net.encode_process(x["video_tokens"], x["audio_tokens"], x.get("sensor"))
        z = tokens.mean(1)
        if hp.inputs == "process":
            target = torch.cat([x["video_tokens"].mean(1), x["audio_tokens"].mean(1)], dim=-1)
            return net.predict(z), target
        if hp.level == "tokens":
            target = x["image_patches"].flatten(1, 2)  # (B, V*N, D): frozen DINOv2 patch tokens
            return net.predict(z, context=tokens), target
        return net.predict(z), net.encode_result(x["image_cls"])

    @torch.no_grad()
    def _scores(self, x: dict[str, torch.Tensor]) -> tuple[np.ndarray, list[np.ndarray] | None]:
        self.net.eval()
        hidden, target = self._forward(x)
        dist = cosine_distance(self.net.out(hidden), target)
        if self.hp.level != "tokens":
            return dist.cpu().numpy(), None
        v, side = self.grid
        maps = dist.reshape(len(dist), v, side, side)
        k = max(1, int(round(self.hp.top_fraction * side * side)))
        per_view = maps.flatten(2).topk(k, dim=-1).values.mean(-1)
        return per_view.max(1).values.cpu().numpy(), list(maps.cpu().numpy())

    def score(self, inputs: Inputs) -> Scores:
        sample, maps = self._scores(self._tensors(inputs))
        return Scores(sample=sample, maps=maps)


# ---------------------------------------------------------------------------- registrations
PAPER = "Causal-FiLM (this suite's subject)"
FAMILY = "causal_film"


def _variant(reason: str, profiles: dict = QUICK, **changes) -> Hyperparameters:
    return Hyperparameters(original=BASE, used=replace(BASE, **changes),
                           reasons={k: reason for k in changes}, profiles=profiles, smoke=SMOKE)


def _register(name: str, hparams: Hyperparameters, summary: str, display_name: str,
              role: Role = Role.ABLATION, **facts) -> None:
    register_method(name, CausalFiLM, hparams=hparams, features=_features, paper=PAPER,
                    family=FAMILY, role=role, display_name=display_name, summary=summary, **facts)


_register("causal_film", Hyperparameters(BASE, BASE, {}, profiles=QUICK, smoke=SMOKE),
          "sensor-FiLM process encoder predicts the result code (as designed)",
          "Causal-FiLM (Ours)", role=Role.PROPOSED, row_code="C.N")
_register("causal_film_sg", _variant("collapse-proof: result branch frozen at init (stop-gradient)",
                                     result_target="frozen"),
          "Causal-FiLM with a stop-gradient (frozen) result target", "Causal-FiLM, stop-gradient target")
_register("causal_film_tokens", _variant("token level: predict each view's frozen DINOv2 patch tokens",
                                         level="tokens", profiles=QUICK_TOKENS),
          "decoder predicts every view's patch tokens from the process tokens (maps)",
          "Causal-FiLM, token level", yields_maps=True)
_register("causal_film_no_film", _variant("ablation: no sensor FiLM", sensor_conditioning="none"),
          "ablation: sensors unused", "Causal-FiLM w/o sensor FiLM",
          modalities=("video", "audio", "image"))
_register("causal_film_sensor_token",
          _variant("ablation: sensor as an extra key/value token instead of FiLM",
                   sensor_conditioning="token"),
          "ablation: sensor concatenated as a token", "Causal-FiLM, sensor as a token")
_register("causal_film_softmax", _variant("ablation: softmax instead of linear attention",
                                          decoder_attention="softmax"),
          "ablation: softmax attention in the decoder", "Causal-FiLM, softmax attention")
_register("causal_film_no_bottleneck", _variant("ablation: no noisy bottleneck", bottleneck_dropout=0.0),
          "ablation: no dropout on Z_process", "Causal-FiLM w/o noisy bottleneck")
_register("causal_film_no_text", _variant("ablation: no CLIP text loss", text_weight=0.0),
          "ablation: no text constraint", "Causal-FiLM w/o text constraint")
_register("causal_film_process_only",
          _variant("one side only (video+audio): reconstruct frozen pooled features",
                   inputs="process", sensor_conditioning="none", text_weight=0.0),
          "process side only, frozen reconstruction target", "Causal-FiLM (V+A)",
          role=Role.PROPOSED, row_code="A.N", group=Group.PROCESS, modalities=("video", "audio"))
_register("causal_film_result_only",
          _variant("one side only (images): reconstruct frozen pooled DINOv2 [CLS]",
                   inputs="result", text_weight=0.0),
          "result side only, frozen reconstruction target", "Causal-FiLM (Image)",
          role=Role.PROPOSED, row_code="B.N", group=Group.RESULT, modalities=("image",))
