"""On-disk feature cache: each extractor runs at most once per sample per cache.

Key = hash(extractor settings: backbone config + preprocessing) / hash(sample content). Entries
are written to a temporary file and renamed, so a killed run never leaves a half-written entry.
Every entry is checked when read (readable, the extractor's outputs present, the same rank and
width as the others, finite); a bad one (a disk error, a copy cut short) is named, deleted and
computed again.

Entries are read memory-mapped (`read_npz_mapped`): a unit's features are pages of the files,
which the kernel may drop and read again, not a copy in the unit's own memory; what a method
makes of them (a bank, a batch) is its own.

With `loaders` > 0 (the default on CUDA) an extractor's batches are decoded and preprocessed
ahead of the backbone, so the GPU does not wait for the CPU (`_pipelined`): in that many threads
for a backbone's inputs, in that many processes for an extractor without a backbone (the label
guard is Python and holds the GIL: two threads ran it 1.04x as fast as one). The values are the
same either way.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import mmap
import os
import socket
import struct
import time
import weakref
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from benchmark.data.sample import DataError, Sample
from benchmark.features.extractors import EXTRACTORS, Extractor, feature_index
from benchmark.profiles import FeatureOptions, Profile

log = logging.getLogger("bench")
_HASH_BYTES = 1 << 20  # NOTE: head and tail of each file: cheap on 100 MB videos, catches edits


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def content_key(sample: Sample, modality: str) -> str:
    """Hash of the sample's files for one modality (size + first and last MiB of each file)."""
    paths = tuple(sample.images) if modality == "image" else (getattr(sample, modality),)
    # NOTE: every unit of a run asks again for every sample's keys; a file whose inode, size
    # and times are as before is not read again in this process (a worker runs many units)
    return _content_key(sample.id, tuple((str(p), *_stamp(p)) for p in paths))


def _stamp(path) -> tuple[int, ...]:
    stat = os.stat(path)
    return stat.st_size, stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns


@functools.lru_cache(maxsize=1 << 16)
def _content_key(sample_id: str, files: tuple[tuple, ...]) -> str:
    h = hashlib.sha256(sample_id.encode())
    for path, size, *_ in files:
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
    # What one sample costs, from the cost logs (`cost-*.json` in the extractor's cache
    # folder: measured when they were computed, in this run or an earlier one).
    backbone: str | None = None
    parameters: int = 0  # of the frozen backbone (0 without one)
    ms_per_sample: float | None = None


def default_loaders(device: str, cores: int | None = None) -> int:
    """Loaders ahead of the backbone on `device`: min(8, cores) on CUDA, none (inline) on the CPU."""
    return min(8, cores or os.cpu_count() or 1) if str(device).startswith("cuda") else 0


@dataclass
class FeatureStore:
    root: Path
    profile: Profile
    options: FeatureOptions = FeatureOptions()
    device: str = "cpu"
    stats: dict[str, ExtractorStats] = field(default_factory=dict)
    loaders: int | None = None  # loaders (threads or processes); None: `default_loaders`

    def __post_init__(self):
        self.root = Path(self.root)
        self._extractors: dict[str, Extractor] = {}
        self._made: dict[str, set[Path]] = {}  # entries this store computed, by extractor
        if self.loaders is None:
            self.loaders = default_loaders(self.device)

    def extractor(self, name: str) -> Extractor:
        if name not in self._extractors:
            self._extractors[name] = EXTRACTORS.get(name)(self.profile, self.options, self.device,
                                                                store=self)
        return self._extractors[name]

    def upstream(self, name: str) -> tuple[str, ...]:
        """The extractor and those whose output it is computed from (DINOv2 <- pixels)."""
        index = feature_index()
        return (name, *(u for f in self.extractor(name).inputs for u in self.upstream(index[f])))

    def sources(self, features) -> list[str]:
        """The extractors `features` come from, with the ones they are computed from."""
        index = feature_index()
        return list(dict.fromkeys(e for f in features for e in self.upstream(index[f])))

    def backbones(self, features) -> dict[str, dict]:
        """The frozen encoders that `features` are read from: checkpoint id, revision and
        weights digest, by backbone name."""
        index = feature_index()
        configs = (self.extractor(name).backbone_config() for name in dict.fromkeys(index[f] for f in features))
        return {cfg.name: cfg.record() for cfg in configs if cfg is not None}

    def settings_digest(self, name: str) -> str:
        """The digest of an extractor's settings: its folder's name, computed without writing."""
        return _digest(self.extractor(name).settings())

    def _folder_path(self, name: str) -> Path:
        return self.root / name / self.settings_digest(name)

    def _entry_path(self, folder: Path, name: str, sample: Sample) -> Path:
        return folder / f"{sample.id}-{content_key(sample, self.extractor(name).modality)}.npz"

    def cost(self, name: str) -> dict:
        """What one sample costs this extractor, from its cost log (the entries computed so far,
        in any process): its backbone, the backbone's parameters, milliseconds per sample."""
        cost = _read_cost(self.folder(name))
        return {"backbone": self.extractor(name).backbone, "parameters": cost.get("parameters", 0),
                "ms_per_sample": 1000 * cost["seconds"] / cost["samples"] if cost else None}

    def folder(self, name: str) -> Path:
        ext = self.extractor(name)
        folder = self._folder_path(name)
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
            for upstream in reversed(self.upstream(name)[1:]):
                # NOTE: made first, so that each extractor's time and counts are its own
                self._compute_missing(upstream, samples)
            wanted = [f for f in features if index[f] == name]
            for i, entry in enumerate(self._entries(name, samples)):
                for f in wanted:
                    out[f][i] = entry[f]
        return out

    def fill(self, samples: list[Sample], features: list[str] | tuple[str, ...]) -> None:
        """Compute every entry of `features` that is not in the cache yet (upstream extractors
        first) and read none back: a run's extraction, before its units read the features."""
        index = feature_index()
        for name in dict.fromkeys(index[f] for f in features):
            for extractor in reversed(self.upstream(name)):
                _, found = self._compute_missing(extractor, samples)
                self.stats.setdefault(extractor, ExtractorStats()).cached += found
                self._note_cost(extractor)

    def _compute_missing(self, name: str, samples: list[Sample]) -> tuple[list[Path], int]:
        """Compute the entries not in the cache yet; their paths, and how many were there."""
        folder = self.folder(name)
        paths = [self._entry_path(folder, name, s) for s in samples]
        todo = [i for i, p in enumerate(paths) if not p.exists()]
        if todo:  # NOTE: an upstream extractor found whole in the cache gets no report line
            self.stats.setdefault(name, ExtractorStats())
        self._compute(name, [samples[i] for i in todo], [paths[i] for i in todo])
        # NOTE: entries made by this store earlier (an upstream made first) are no cache hits
        made = self._made.setdefault(name, set())
        found = len(paths) - len(todo) - sum(p in made for p in paths)
        made.update(paths[i] for i in todo)
        return paths, found

    def _entries(self, name: str, samples: list[Sample]) -> list[dict]:
        ext = self.extractor(name)
        stats = self.stats.setdefault(name, ExtractorStats())
        paths, found = self._compute_missing(name, samples)
        entries = _read_entries(paths, ext.outputs)
        bad = [i for i, e in enumerate(entries) if isinstance(e, str)]
        for i in bad:
            log.warning("%s: bad feature-cache entry (%s); deleted, computed again", paths[i], entries[i])
            paths[i].unlink(missing_ok=True)
        self._compute(name, [samples[i] for i in bad], [paths[i] for i in bad])
        for i, entry in zip(bad, _read_entries([paths[i] for i in bad], ext.outputs)):
            if isinstance(entry, str):
                raise DataError(samples[i].directory, f"{name} features computed afresh are bad "
                                                      f"({entry}): look at this sample's files")
            entries[i] = entry
        stats.cached += found - len(bad)
        self._note_cost(name)
        return entries

    def _note_cost(self, name: str) -> None:
        stats, cost = self.stats[name], self.cost(name)
        stats.backbone, stats.parameters, stats.ms_per_sample = (
            cost["backbone"], cost["parameters"], cost["ms_per_sample"])

    def _compute(self, name: str, samples: list[Sample], paths: list[Path]) -> None:
        """Run the extractor over `samples` and save each result at its path."""
        if not samples:
            return
        ext, folder, stats = self.extractor(name), self.folder(name), self.stats[name]
        seconds_before = stats.seconds
        if self.loaders:
            _pipelined(name, ext, samples, paths, stats, self.loaders)
            _log_cost(folder, len(samples), stats.seconds - seconds_before, ext.parameters(), self.device)
            return
        bar = tqdm(total=len(samples), desc=f"features {name}", unit="sample", leave=False)
        for start in range(0, len(samples), ext.batch_size):
            batch = range(start, min(start + ext.batch_size, len(samples)))
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
        _log_cost(folder, len(samples), stats.seconds - seconds_before, ext.parameters(), self.device)

    def cached(self, samples: list[Sample], features: list[str] | tuple[str, ...]) -> dict[str, tuple[int, int]]:
        """Extractor name -> (samples in the cache, samples to extract) for `features`; writes
        nothing and runs no backbone (`bench run --dry-run`). An entry that is not a whole
        archive of the extractor's outputs counts as to extract; its values are not read (a
        paper-size cache holds tens of GB), so a non-finite one is found by the run."""
        index = feature_index()
        out = {}
        for name in dict.fromkeys(index[f] for f in features):
            folder = self._folder_path(name)
            outputs = self.extractor(name).outputs
            hits = sum(_entry_problem(self._entry_path(folder, name, s), outputs) is None
                       for s in samples)
            out[name] = (hits, len(samples) - hits)
        return out

    def report(self) -> dict:
        return {name: vars(s).copy() for name, s in self.stats.items()}


def _entry_problem(path: Path, outputs: tuple[str, ...]) -> str | None:
    """Whether an entry is a whole archive holding `outputs`, from its index alone."""
    if not path.exists():
        return "missing"
    try:
        with zipfile.ZipFile(path) as z:
            names = {n.removesuffix(".npy") for n in z.namelist()}
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return f"unreadable: {exc}"
    missing = [o for o in outputs if o not in names]
    return f"lacks {missing}" if missing else None


def _read_entries(paths: list[Path], outputs: tuple[str, ...]) -> list[dict | str]:
    """Each entry's arrays, or one line on what is wrong with it: unreadable, an output missing
    or empty, not finite, or of another rank or width than the same output in the others."""
    entries: list[dict | str] = []
    for path in paths:
        try:
            entry = read_npz_mapped(path)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            entries.append(f"unreadable: {type(exc).__name__}: {exc}"[:160])
            continue
        problem = next((f"{k} {why}" for k in outputs for why in [_array_problem(entry.get(k))] if why),
                       None)
        entries.append(problem or entry)
    for key in outputs:  # NOTE: the width that most entries have is the extractor's
        shapes = [(e[key].ndim, e[key].shape[-1:]) for e in entries if isinstance(e, dict)]
        usual = Counter(shapes).most_common(1)[0][0] if shapes else None
        for i, e in enumerate(entries):
            if isinstance(e, dict) and (e[key].ndim, e[key].shape[-1:]) != usual:
                entries[i] = f"{key} has shape {e[key].shape}, others rank {usual[0]}, width {usual[1]}"
    return entries


_LOCAL_HEADER = struct.Struct("<4s22xHH")  # a zip member's local header: signature .. name, extra lengths
MAP_FROM_BYTES = 1 << 20  # NOTE: a smaller entry is read: its copy costs less than a file descriptor
_open_maps = [0]  # maps alive in this process; each holds a file descriptor while its arrays live


@functools.cache
def _map_budget() -> int:
    """Maps this process may hold: half its limit of open files (the soft limit raised to the
    hard one first, once), the other half left to everything else."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard if hard != resource.RLIM_INFINITY else 1 << 20, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):  # NOTE: not allowed here: the soft limit it is
            pass
    return (soft if soft != resource.RLIM_INFINITY else 1 << 20) // 2


def read_npz_mapped(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an `np.savez` archive: views of one copy-on-write memory map of its file
    where it is stored uncompressed (what `np.savez` writes; `np.load` maps no member of an .npz),
    MAP_FROM_BYTES or larger, and this process holds fewer maps than `_map_budget`; else read.
    A method may change its arrays in place (private pages); the file stays as it is."""
    with open(path, "rb") as f, zipfile.ZipFile(f) as z:
        whole = None
        if os.fstat(f.fileno()).st_size >= MAP_FROM_BYTES and _open_maps[0] < _map_budget():
            whole = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
            _open_maps[0] += 1
            weakref.finalize(whole, _map_closed)
        arrays = {}
        for info in z.infolist():
            mapped = (_mapped_member(f, whole, info)
                      if whole is not None and info.compress_type == zipfile.ZIP_STORED else None)
            arrays[info.filename.removesuffix(".npy")] = (
                mapped if mapped is not None else np.load(z.open(info), allow_pickle=False))
    return arrays


def _map_closed() -> None:
    _open_maps[0] -= 1


def _mapped_member(f, whole: mmap.mmap, info: zipfile.ZipInfo) -> np.ndarray | None:
    """A stored .npy member as a view of the archive's map; None where it cannot be (an empty or
    object array, a header of another format version): then it is read."""
    f.seek(info.header_offset)
    signature, name_len, extra_len = _LOCAL_HEADER.unpack(f.read(_LOCAL_HEADER.size))
    if signature != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"member {info.filename}: no local header")
    f.seek(info.header_offset + _LOCAL_HEADER.size + name_len + extra_len)
    version = np.lib.format.read_magic(f)
    if version not in ((1, 0), (2, 0)):
        return None
    shape, fortran, dtype = (np.lib.format.read_array_header_1_0(f) if version == (1, 0)
                             else np.lib.format.read_array_header_2_0(f))
    count = math.prod(shape)
    if dtype.hasobject or count == 0:
        return None
    flat = np.frombuffer(whole, dtype=dtype, count=count, offset=f.tell())
    return flat.reshape(shape, order="F" if fortran else "C")


def _array_problem(array: np.ndarray | None) -> str | None:
    if array is None:
        return "missing"
    if array.size == 0:
        return "empty"
    if array.dtype.kind in "fc" and not np.isfinite(array).all():
        return f"has {int((~np.isfinite(array)).sum())} non-finite values"
    return None


def _read_cost(folder: Path) -> dict:
    """The extractor folder's cost log: every process's computed entries and seconds, summed."""
    logs = [json.loads(p.read_text()) for p in sorted(folder.glob("cost-*.json"))]
    if not logs:
        return {}
    return {"samples": sum(c["samples"] for c in logs), "seconds": sum(c["seconds"] for c in logs),
            "parameters": logs[-1]["parameters"], "devices": sorted({c["device"] for c in logs})}


def _log_cost(folder: Path, samples: int, seconds: float, parameters: int, device: str) -> None:
    """Add computed entries to this process's cost log in the extractor folder (one file per
    process: extraction shards on other workers write theirs at the same time)."""
    path = folder / f"cost-{socket.gethostname()}-{os.getpid()}.json"
    cost = json.loads(path.read_text()) if path.exists() else {}
    cost = {"samples": cost.get("samples", 0) + samples, "seconds": cost.get("seconds", 0.0) + seconds,
            "parameters": parameters, "device": device}
    _atomic_write_text(path, json.dumps(cost, indent=2))


def _pipelined(name: str, ext: Extractor, samples: list[Sample], paths: list[Path],
               stats: ExtractorStats, loaders: int) -> None:
    """Compute and save `samples` with `loaders` threads or processes working ahead.

    Inputs built on other features (DINOv2 on the label-guarded pixels) are made first, so the
    loaders only read them. A backbone's inputs are decoded in threads (decoding runs in C,
    outside the GIL) and its forward runs in this thread, in batch order; an extractor without a
    backbone computes and saves whole batches in processes (its work is Python: the label
    guard). `stats.seconds` is the wall time of the pass."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

    if ext.inputs:
        ext.store.get(samples, ext.inputs)
    batches = [list(range(i, min(i + ext.batch_size, len(samples))))
               for i in range(0, len(samples), ext.batch_size)]
    missed, unsure = getattr(ext, "labels_missed", 0), getattr(ext, "labels_unsure", 0)
    if ext.backbone is not None:
        pool = ThreadPoolExecutor(loaders, thread_name_prefix=f"load-{type(ext).__name__}")
        submit = lambda batch: pool.submit(ext.load, [samples[i] for i in batch])  # noqa: E731
    else:  # NOTE: spawn, not fork: this process may hold CUDA
        pool = ProcessPoolExecutor(loaders, mp_context=multiprocessing.get_context("spawn"))
        submit = lambda batch: pool.submit(_compute_and_save, name, ext.profile, ext.options,  # noqa: E731
                                           [samples[i] for i in batch], [paths[i] for i in batch])
    t0 = time.perf_counter()
    with pool, tqdm(total=len(samples), desc=f"features {type(ext).__name__}", unit="sample",
                    leave=False) as bar:
        ahead = 2 * loaders  # NOTE: bounds the decoded batches held in memory
        pending = [submit(b) for b in batches[:ahead]]
        for k, batch in enumerate(batches):
            loaded = pending[k].result()
            if k + ahead < len(batches):
                pending.append(submit(batches[k + ahead]))
            pending[k] = None
            if ext.backbone is not None:
                for i, result in zip(batch, ext.forward(loaded)):
                    _atomic_save_npz(paths[i], result)
            elif hasattr(ext, "labels_missed"):  # saved in the process; its label guard's counts
                ext.labels_missed += loaded[0]
                ext.labels_unsure += loaded[1]
            stats.computed += len(batch)
            bar.update(len(batch))
    stats.seconds += time.perf_counter() - t0
    stats.labels_missed += getattr(ext, "labels_missed", 0) - missed
    stats.labels_unsure += getattr(ext, "labels_unsure", 0) - unsure


_PROCESS_EXTRACTORS: dict = {}  # a loader process's extractors, built once each


def _compute_and_save(name: str, profile: Profile, options: FeatureOptions, samples: list[Sample],
                      paths: list[Path]) -> tuple[int, int]:
    """A loader process's batch of an extractor without a backbone: computed and saved here (the
    arrays do not travel back); the label guard's counts of the batch (views missed, unsure)."""
    key = (name, profile, options)
    if key not in _PROCESS_EXTRACTORS:
        _PROCESS_EXTRACTORS[key] = EXTRACTORS.get(name)(profile, options, "cpu")
    ext = _PROCESS_EXTRACTORS[key]
    missed, unsure = getattr(ext, "labels_missed", 0), getattr(ext, "labels_unsure", 0)
    for path, result in zip(paths, ext.compute(samples)):
        _atomic_save_npz(path, result)
    return getattr(ext, "labels_missed", 0) - missed, getattr(ext, "labels_unsure", 0) - unsure


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _atomic_save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)
