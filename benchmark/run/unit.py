"""One (method, seed) unit: fit on TRAIN, select on VAL within the run's selection policy (the VAL
labels stay here, behind the selector's one query function), score TEST once, compute metrics
and write the unit's folder atomically. Any executor runs units through `run_unit`.

Methods see samples as positions (the plan's order); the unit maps scores back to ids.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from benchmark import metrics as M
from benchmark.data import confounds
from benchmark.data.confounds import SESSION_KEY, sample_session
from benchmark.data.recipes import RECIPE_KEY
from benchmark.data.sample import CATEGORY_CODES, Sample
from benchmark.features.backbones import BackboneConfig, TextEncoder
from benchmark.features.cache import FeatureStore
from benchmark.features.checkpoints import backbone_config
from benchmark.features.extractors import feature_modality
from benchmark.method import FitContext, Inputs, Role, Scores, Selector, method_spec, set_seed
from benchmark.profiles import FeatureOptions, Profile
from benchmark.results import store as R
from benchmark.run.fingerprint import run_fingerprint, unit_fingerprint
from benchmark.run.plan import RunPlan, jsonable_config
from benchmark.run.resources import PeakMemory, return_freed_memory, unit_costs

log = logging.getLogger("bench")
#: The media a method may read; a method that reads two or more gets a modality-reliance check.
MEDIA = ("video", "audio", "sensor", "image")
RELIANCE_ROLES = (Role.BASELINE, Role.PROPOSED)  # the methods of the reliance table
CONFIG_AXES = {"weld_type": lambda c: c.weld_type, "steel": lambda c: c.steel_type,
               "thickness": lambda c: f"{c.thickness_mm:g}mm"}


def method_inputs(samples: list[Sample], features: dict[str, list], sessions: bool = False) -> Inputs:
    return Inputs(configs=tuple(s.config for s in samples), features=features,
                  sessions=tuple(sample_session(s) for s in samples) if sessions else None)


def val_query(labels: list[int]) -> Callable[[np.ndarray], float]:
    """The one read of the VAL labels a selector may make: the VAL I-AUROC of some scores. The
    labels live in this closure, never in what a method is handed."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(labels, dtype=int)

    def val_auroc(scores: np.ndarray) -> float:
        if len(np.unique(y)) < 2:
            return float("nan")  # VAL with one class cannot rank candidates
        return float(roc_auc_score(y, np.nan_to_num(scores, nan=0.0)))

    return val_auroc


@functools.lru_cache(maxsize=None)
def _text_encoder(cfg: BackboneConfig, device: str) -> TextEncoder:
    return TextEncoder(cfg, device)


def text_embedding(profile: Profile, options: FeatureOptions, device: str,
                   used: dict | None = None) -> Callable[[str], np.ndarray]:
    """CLIP text embeddings, one forward pass per prompt per process; the encoder is built (and
    recorded in `used`) when a method first asks for an embedding."""

    @functools.lru_cache(maxsize=None)
    def embed(text: str) -> np.ndarray:
        cfg = backbone_config("clip_text", profile, options)
        if used is not None:
            used[cfg.name] = cfg.record()
        return _text_encoder(cfg, device)(text)

    return embed


def run_unit(plan: RunPlan, method_name: str, seed: int, progress: bool = True) -> Path:
    """Fit, select, score TEST once, evaluate and write one (method, seed) unit (`progress`:
    show the method's training bar)."""
    if R.is_done(plan.run_dir, method_name, seed):
        return R.unit_dir(plan.run_dir, method_name, seed)
    started = time.perf_counter()
    return_freed_memory()  # NOTE: also in a Ray worker, which never ran prepare()
    spec = method_spec(method_name)
    names = spec.feature_names(plan.profile)
    store = plan.store()
    sessions = "session" in spec.modalities  # only a shortcut floor is handed the session
    # NOTE: the unit's peak, from reading its features to its reliance check (the metrics too)
    with PeakMemory() as mem:
        data = {split: method_inputs(ss, store.get(ss, names), sessions) for split, ss in plan.samples.items()}
        selection = plan.config.selection_policy()
        # NOTE: under `last` the selector holds no query at all: no VAL label is within reach
        query = val_query([s.label for s in plan.samples["VAL"]]) if selection.policy == "val" else None
        selector = Selector(selection, query)

        set_seed(seed)
        method = spec.build(plan.profile)
        backbones = store.backbones(names)
        ctx = FitContext(seed=seed, device=plan.config.device, profile=plan.profile, selector=selector,
                         text_embedding=text_embedding(plan.profile, plan.options, plan.config.device,
                                                       backbones),
                         options=plan.options,
                         log=lambda msg: log.info("%s/seed%d: %s", method_name, seed, msg),
                         progress=lambda it, **kw: tqdm(it, leave=False, desc=f"{method_name} s{seed}",
                                                        disable=not progress, **kw))
        t0 = time.perf_counter()
        method.fit(data["TRAIN"], data["VAL"], ctx)
        fit_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        # NOTE: the maps are kept where something reads them (pixel truth, --save-maps)
        keep_maps = plan.has_masks or plan.config.save_maps
        # the only time TEST reaches a method
        out, yields_maps = score_in_chunks(method, data["TEST"], keep_maps)
        infer_seconds = time.perf_counter() - t0

        test = plan.samples["TEST"]
        if len(out.sample) != len(test):
            raise RuntimeError(f"{method_name} returned {len(out.sample)} scores for {len(test)} TEST samples")
        masks = _test_masks(test) if (out.maps is not None and plan.has_masks) else None
        subsets = matched_test_subsets(plan)
        metrics = M.evaluate(
            labels=np.array([s.label for s in test]), scores=out.sample,
            categories=[s.category for s in test],
            configs={axis: [f(s.config) for s in test] for axis, f in CONFIG_AXES.items()},
            maps=out.maps if masks is not None else None, masks=masks, seed=seed,
            subsets=subsets, clusters=[sample_session(s) for s in test],  # a session is one draw
            strata=[s.config.weld_type for s in test])  # each category against its own weld type's normals
        # NOTE: not for an ablation (its inputs are its parent's) or a floor, and not in a smoke run,
        # whose numbers mean nothing (its scoring already checked the shapes)
        t0 = time.perf_counter()
        checked = spec.role in RELIANCE_ROLES and not plan.profile.smoke
        reliance = modality_reliance(method, data["TEST"], test, names, seed) if checked else {}
        reliance_seconds = time.perf_counter() - t0
    if reliance:
        metrics["reliance"] = reliance
    if not yields_maps:
        metrics["pixel_note"] = "method gives no anomaly maps"
    elif masks is None:
        metrics["pixel_note"] = "no ground-truth masks in this dataset"

    efficiency = {**unit_costs(method, plan, names), "fit_seconds": fit_seconds,
                  "score_seconds": infer_seconds, "reliance_seconds": reliance_seconds,
                  "inference_ms_per_sample": 1000 * infer_seconds / max(len(test), 1),
                  "peak_rss_bytes": mem.peak, "peak_private_bytes": mem.private_peak,
                  "peak_cuda_bytes": mem.cuda_peak,
                  "device": plan.config.device}
    efficiency["total_ms_per_sample"] = (efficiency["backbone_ms_per_sample"]
                                         + efficiency["inference_ms_per_sample"])
    fingerprint = unit_fingerprint(plan, spec)
    config = {
        **spec.facts(), "seed": seed, "features": list(names),
        "hyperparameters": spec.hparams.to_json(plan.profile),
        "profile": dataclasses.asdict(plan.profile),
        "feature_options": dataclasses.asdict(plan.options), "run": jsonable_config(plan.config),
        "categories": CATEGORY_CODES, "metric_directions": dict(M.HIGHER_IS_BETTER),
        "selection": {**dataclasses.asdict(selection), "rule": Selector.RULE,
                      "val_queries": selector.queries},
        "recipe_key": list(RECIPE_KEY), "session_key": SESSION_KEY,
        "fingerprint": {"digest": R.digest(fingerprint), "run_digest": R.digest(run_fingerprint(plan)),
                        "parts": fingerprint},
        "dataset_fingerprint": plan.dataset_fingerprint,
        "n_test": len(test), "synthetic": plan.synthetic,
    }
    scores = [{"id": s.id, "split": s.split, "category": s.category, "label": s.label,
               "config": s.config.key, "weld_type": s.config.weld_type, "folder": s.directory.parent.name,
               "session": sample_session(s),
               **{name: int(mask[i]) for name, mask in subsets.items()}, "score": float(v)}
              for i, (s, v) in enumerate(zip(test, out.sample))]
    maps = None
    if plan.config.save_maps and out.maps is not None:
        maps = {s.id: m for s, m in zip(test, out.maps)}
        _keep_test_views(plan, store)
    # NOTE: the unit's whole time but its write; what is neither fit nor score is its overhead
    # (reading features, metrics, building the method)
    efficiency["unit_seconds"] = time.perf_counter() - started
    folder = R.write_unit(plan.run_dir, method_name, seed, metrics=metrics, scores=scores,
                          config=config, efficiency=efficiency, history=ctx.history,
                          backbones={**backbones, **ctx.backbones}, maps=maps)
    overall = metrics["overall"]
    log.info("%s/seed%d: I-AUROC %s (fit %.1f s, %.2f ms/sample)", method_name, seed,
             _fmt(overall.get("I-AUROC")), fit_seconds, efficiency["inference_ms_per_sample"])
    return folder


SCORE_CHUNK = 16  # TEST welds scored at once: a method's scoring memory is a chunk's, not the split's


def score_in_chunks(method, inputs: Inputs, keep_maps: bool, chunk: int | None = None) -> tuple[Scores, bool]:
    """The method's scores of `inputs`, scored `chunk` (default SCORE_CHUNK) samples at a time
    (every method scores each sample on its own: tests/test_order_invariance.py), and whether it
    gave maps; the maps are kept only with `keep_maps` (a TEST split's maps at view size are
    ~20 MB a weld)."""
    chunk = chunk or SCORE_CHUNK
    parts, maps, yields_maps = [], [], False
    for start in range(0, len(inputs), chunk):
        part = method.score(inputs.subset(range(start, min(start + chunk, len(inputs)))))
        parts.append(part.sample)
        yields_maps = part.maps is not None
        if keep_maps and yields_maps:
            maps.extend(part.maps)
    scores = np.concatenate(parts) if parts else np.empty(0)
    return Scores(scores, maps if keep_maps and yields_maps else None), yields_maps


def swap_within_weld_type(test: list[Sample], seed: int) -> np.ndarray:
    """(N,) index of the TEST weld whose input each weld gets: another weld of the same weld type
    (a random cycle through each type's welds, so no weld keeps its own; a type of one weld keeps
    it)."""
    rng = np.random.default_rng(seed)
    donor = np.arange(len(test))
    types = np.array([s.config.weld_type for s in test], dtype=object)
    for t in sorted(set(types.tolist())):
        cycle = rng.permutation(np.flatnonzero(types == t))
        donor[cycle] = np.roll(cycle, -1)
    return donor


def modality_reliance(method, inputs: Inputs, test: list[Sample], names: tuple[str, ...],
                      seed: int) -> dict:
    """How much a multimodal method's TEST score rests on each medium it reads: the method scores
    TEST again with one medium's features taken from another TEST weld of the same weld type
    (`swap_within_weld_type`), the others kept, one medium at a time. A score that needs a medium
    falls towards chance when it is swapped; one that ignores it does not move. Like with like,
    so that the weld type a swapped input carries tells nothing. {} for a method of one medium."""
    by_medium: dict[str, list[str]] = {}
    for name in names:
        by_medium.setdefault(feature_modality(name), []).append(name)
    media = [m for m in MEDIA if m in by_medium]
    if len(media) < 2:
        return {}
    donor = swap_within_weld_type(test, seed)
    labels = np.array([s.label for s in test])
    out = {}
    for medium in media:
        features = {k: ([v[j] for j in donor] if k in by_medium[medium] else v)
                    for k, v in inputs.features.items()}
        swapped, _ = score_in_chunks(method, dataclasses.replace(inputs, features=features), keep_maps=False)
        metrics = M.evaluate(labels=labels, scores=swapped.sample, categories=[s.category for s in test],
                             strata=[s.config.weld_type for s in test], seed=seed,
                             clusters=[sample_session(s) for s in test])
        out[medium] = {"overall": {k: metrics["overall"][k] for k in ("I-AUROC", "I-AUROC-CI95")},
                       "per_category": {c: {"I-AUROC": b["I-AUROC"]}
                                        for c, b in metrics["per_category"].items()}}
    return out


def matched_test_subsets(plan: RunPlan) -> dict[str, np.ndarray]:
    """{subset: (TEST,) bool}: every TEST normal, and the TEST defects that share the subset's
    confounds (recipe, session, both) with TRAIN normals (`benchmark.data.confounds`): there
    those confounds do not give the answer."""
    test = plan.samples["TEST"]
    return confounds.matched_subsets(confounds.pairs(plan.samples["TRAIN"]), confounds.pairs(test),
                                     [s.label for s in test])


def _keep_test_views(plan: RunPlan, store: FeatureStore) -> None:
    """The label-guarded TEST views that the saved maps belong to, once per run (the cached
    `image_pixels`: exactly what the image models saw), so that overlays need no dataset."""
    if R.has_views(plan.run_dir):
        return
    test = plan.samples["TEST"]
    views = store.get(test, ("image_pixels",))["image_pixels"]
    R.write_views(plan.run_dir, {s.id: v for s, v in zip(test, views)})


def _fmt(v) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _test_masks(test: list[Sample]) -> list[np.ndarray | None]:
    from benchmark.data.decode import read_masks

    out = []
    for s in test:
        m = read_masks(s) if s.masks else None
        out.append(None if m is None else np.stack(m))
    return out

