"""On-disk feature cache: each extractor runs at most once per sample per cache.

Key = hash(extractor settings: backbone config + preprocessing) / hash(sample content). Entries
are written to a temporary file and renamed, so a killed run never leaves a half-written entry.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from benchmark.data.sample import Sample
from benchmark.features.extractors import EXTRACTORS, Extractor, feature_index
from benchmark.profiles import FeatureOptions, Profile

_HASH_BYTES = 1 << 20  # NOTE: head and tail of each file: cheap on 100 MB videos, catches edits


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def content_key(sample: Sample, modality: str) -> str:
    """Hash of the sample's files for one modality (size + first and last MiB of each file)."""
    paths = list(sample.images) if modality == "image" else [getattr(sample, modality)]
    h = hashlib.sha256(sample.id.encode())
    for path in paths:
        size = os.path.getsize(path)
        h.update(f"{Path(path).name}:{size}".encode())
        with open(path, "rb") as f:
            h.update(f.read(_HASH_BYTES))
            if size > 2 * _HASH_BYTES:
                f.seek(-_HASH_BYTES, os.SEEK_END)
                h.update(f.read())
    return h.hexdigest()[:16]


@dataclass
class ExtractorStats:
    computed: int = 0  # samples that went through the extractor (backbone forward passes)
    cached: int = 0
    seconds: float = 0.0
    labels_missed: int = 0  # views where the label guard found no label
    labels_unsure: int = 0  # views where the label guard's check saw print or paper left


@dataclass
class FeatureStore:
    root: Path
    profile: Profile
    options: FeatureOptions = FeatureOptions()
    device: str = "cpu"
    stats: dict[str, ExtractorStats] = field(default_factory=dict)

    def __post_init__(self):
        self.root = Path(self.root)
        self._extractors: dict[str, Extractor] = {}

    def extractor(self, name: str) -> Extractor:
        if name not in self._extractors:
            self._extractors[name] = EXTRACTORS.get(name)(self.profile, self.options, self.device,
                                                                store=self)
        return self._extractors[name]

    def folder(self, name: str) -> Path:
        ext = self.extractor(name)
        folder = self.root / name / _digest(ext.settings())
        if not (folder / "settings.json").exists():
            folder.mkdir(parents=True, exist_ok=True)
            _atomic_write_text(folder / "settings.json", json.dumps(ext.settings(), indent=2))
        return folder

    def get(self, samples: list[Sample], features: list[str] | tuple[str, ...]) -> dict[str, list]:
        """Features by name, one array per sample in `samples` order."""
        index = feature_index()
        unknown = [f for f in features if f not in index]
        if unknown:
            raise KeyError(f"unknown feature(s) {unknown}; known: {sorted(index)}")
        out: dict[str, list] = {f: [None] * len(samples) for f in features}
        for name in dict.fromkeys(index[f] for f in features):
            wanted = [f for f in features if index[f] == name]
            for i, entry in enumerate(self._entries(name, samples)):
                for f in wanted:
                    out[f][i] = entry[f]
        return out

    def _entries(self, name: str, samples: list[Sample]) -> list[dict]:
        ext = self.extractor(name)
        folder = self.folder(name)
        stats = self.stats.setdefault(name, ExtractorStats())
        paths = [folder / f"{s.id}-{content_key(s, ext.modality)}.npz" for s in samples]
        todo = [i for i, p in enumerate(paths) if not p.exists()]
        stats.cached += len(samples) - len(todo)
        bar = tqdm(total=len(todo), desc=f"features {name}", unit="sample", disable=not todo,
                   leave=False)
        for start in range(0, len(todo), ext.batch_size):
            batch = todo[start:start + ext.batch_size]
            missed = getattr(ext, "labels_missed", 0)
            unsure = getattr(ext, "labels_unsure", 0)
            t0 = time.perf_counter()
            results = ext.compute([samples[i] for i in batch])
            stats.seconds += time.perf_counter() - t0
            stats.computed += len(batch)
            stats.labels_missed += getattr(ext, "labels_missed", 0) - missed
            stats.labels_unsure += getattr(ext, "labels_unsure", 0) - unsure
            for i, result in zip(batch, results):
                _atomic_save_npz(paths[i], result)
            bar.update(len(batch))
        bar.close()
        entries = []
        for p in paths:
            with np.load(p) as z:
                entries.append({k: z[k] for k in z.files})
        return entries

    def report(self) -> dict:
        return {name: vars(s).copy() for name, s in self.stats.items()}


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _atomic_save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)
