"""Checkpoints of the `pretrained` preset: where each backbone's files come from, and which files
they were.

A backbone's checkpoint is a local folder in the hub layout (config.json, safetensors, the
processor's config). It comes from, in this order:

1. `--backbone NAME=PATH` (a folder) or `NAME=HUB_ID` (resolved like 3.);
2. `--models DIR`: `DIR/models.lock.json`, written by `bench models fetch` (or `write_random`),
   names every backbone's folder, hub id, resolved commit and the sha256 of every file; the files
   are checked against it before use, so a run can never use other weights than the lock says;
3. the registered hub id at its pinned revision (`BackboneSpec.revision`; the branch head where
   none is pinned), through huggingface_hub's cache (works offline once cached).

Whatever the origin, the run records the hub id, the resolved commit and a digest of the files
(`Checkpoint`): they enter the feature-cache key and every unit's versions.json.

NOTE on pins: real commit hashes of the hub repositories cannot be looked up from the machine this
suite was written on. Two were found in public code that pins them (`BackboneSpec.pinned_from`);
the others are None, and `bench models fetch` records the commit it resolved in the lock file,
which is what makes a run reproducible: copy the folder, or fetch with `--revision NAME=COMMIT`.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from benchmark.features.backbones import BACKBONES, BackboneConfig, BackboneSpec
from benchmark.profiles import FeatureOptions, Profile

LOCK_NAME = "models.lock.json"
LOCK_FORMAT = 1
# Files of a checkpoint folder: model config, weights, processor and tokenizer files.
CHECKPOINT_FILES = ("config.json", "*.safetensors", "model.safetensors.index.json",
                    "pytorch_model*.bin", "pytorch_model.bin.index.json", "preprocessor_config.json",
                    "video_preprocessor_config.json", "processor_config.json", "tokenizer*.json",
                    "vocab.json", "merges.txt", "special_tokens_map.json")


class CheckpointError(FileNotFoundError):
    """A checkpoint folder or lock file is missing, incomplete or not what the lock says."""


@dataclass(frozen=True)
class Checkpoint:
    """One resolved checkpoint: where it loads from and what it is."""

    name: str  # BACKBONES name
    folder: str
    id: str | None  # hub repository (None: a folder of unknown origin)
    revision: str | None  # resolved commit (None: unknown)
    weights: str  # sha256 over (file name, sha256) of every checkpoint file
    origin: str  # "models-dir", "folder", "hub" or "random"


# ---------------------------------------------------------------------------- hashing
def checkpoint_files(folder: Path) -> list[Path]:
    """The files of a checkpoint folder (top level, `CHECKPOINT_FILES` patterns), sorted."""
    found = {p for pattern in CHECKPOINT_FILES for p in Path(folder).glob(pattern) if p.is_file()}
    return sorted(found)


@functools.lru_cache(maxsize=None)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 of a file, computed once per process per (path, size, mtime)."""
    st = os.stat(path)
    return _sha256(str(path), st.st_size, st.st_mtime_ns)


def digest(files: dict[str, str]) -> str:
    """One sha256 over {file name: sha256}: the identity of a checkpoint's files."""
    text = "".join(f"{name}\t{sha}\n" for name, sha in sorted(files.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def hash_folder(folder: Path) -> dict[str, str]:
    folder = Path(folder)
    files = checkpoint_files(folder)
    if not (folder / "config.json").is_file() or not any(
            p.suffix in (".safetensors", ".bin") for p in files):
        raise CheckpointError(f"{folder}: not a checkpoint folder in the hub layout "
                              f"(needs config.json and *.safetensors or pytorch_model*.bin)")
    return {p.name: file_sha256(p) for p in files}


# ---------------------------------------------------------------------------- resolving
def _is_path(source: str) -> bool:
    return source.startswith(("/", ".", "~")) or Path(source).expanduser().exists()


@functools.lru_cache(maxsize=None)
def resolve(name: str, options: FeatureOptions) -> Checkpoint:
    """The checkpoint backbone `name` loads from under the run's options (see the module doc)."""
    spec = BACKBONES.get(name)
    override = options.source(spec.name, None)
    if override is not None:
        if _is_path(override):
            folder = Path(override).expanduser()
            if not folder.is_dir():
                raise CheckpointError(f"{folder}: --backbone {name}=... is not a folder")
            known = _provenance(folder)
            return Checkpoint(spec.name, str(folder), known.get("id"), known.get("revision"),
                              digest(hash_folder(folder)), "folder")
        return _from_hub(spec, override, spec.revision if override == spec.hub_id else None)
    if options.models:
        lock = read_lock(Path(options.models), verify=True)
        if spec.name not in lock:
            root = Path(options.models)
            raise CheckpointError(f"{root / LOCK_NAME}: has no checkpoint for backbone "
                                  f"{spec.name!r}; fetch it (`bench models fetch --to {root} --only "
                                  f"{spec.name}`) or pass --backbone {spec.name}=FOLDER")
        return lock[spec.name]
    return _from_hub(spec, spec.hub_id, spec.revision)


def backbone_config(name: str, profile: Profile, options: FeatureOptions) -> BackboneConfig:
    """The run's config of backbone `name`: the profile's preset; for `pretrained`, the checkpoint
    the run's options resolve to (folder, id, revision, weights digest)."""
    spec = BACKBONES.get(name)
    if profile.preset != "pretrained":
        return BackboneConfig(spec.name, profile.preset)
    ck = resolve(spec.name, options)
    return BackboneConfig(spec.name, "pretrained", ck.folder, hub_id=ck.id, revision=ck.revision,
                          weights=ck.weights)


def _provenance(folder: Path) -> dict:
    """id and revision of a folder that sits in a models folder with a lock (else empty)."""
    lock = folder.parent / LOCK_NAME
    if lock.is_file():
        for entry in json.loads(lock.read_text()).get("checkpoints", {}).values():
            if (folder.parent / entry["folder"]).resolve() == folder.resolve():
                return entry
    return {}


def _from_hub(spec: BackboneSpec, repo_id: str, revision: str | None) -> Checkpoint:
    """A hub checkpoint through huggingface_hub's cache (offline once cached)."""
    from huggingface_hub import snapshot_download

    try:
        path = Path(snapshot_download(repo_id, revision=revision, allow_patterns=list(CHECKPOINT_FILES)))
    except Exception as e:  # noqa: BLE001 - any hub or cache failure is reported the same way
        raise CheckpointError(
            f"backbone {spec.name}: cannot load {repo_id}@{revision or 'main'} from the hub or its "
            f"cache ({type(e).__name__}: {e}); on a machine without hub access, run `bench models "
            f"fetch --to DIR` where the hub is reachable and pass --models DIR") from e
    # NOTE: huggingface_hub's cache keeps each revision in snapshots/<commit>/
    commit = path.name if len(path.name) == 40 else revision
    return Checkpoint(spec.name, str(path), repo_id, commit, digest(hash_folder(path)), "hub")


# ---------------------------------------------------------------------------- the lock file
def read_lock(models: Path, verify: bool = True) -> dict[str, Checkpoint]:
    """The checkpoints of a models folder; with `verify`, every file is compared with the lock
    (a file is hashed once per process while its size and mtime stay the same)."""
    root = Path(models).expanduser().resolve()
    lock_path = root / LOCK_NAME
    if not lock_path.is_file():
        raise CheckpointError(f"{lock_path}: no lock file; --models expects a folder written by "
                              f"`bench models fetch --to {root}`")
    try:
        lock = json.loads(lock_path.read_text())
        entries = lock["checkpoints"]
    except (ValueError, KeyError) as e:
        raise CheckpointError(f"{lock_path}: unreadable lock file ({e})") from e
    out = {}
    for name, entry in entries.items():
        folder = root / entry["folder"]
        if verify:
            for fname, sha in entry["files"].items():
                path = folder / fname
                if not path.is_file():
                    raise CheckpointError(f"{path}: listed in {lock_path} but missing")
                actual = file_sha256(path)
                if actual != sha:
                    raise CheckpointError(f"{path}: sha256 {actual[:12]}... but {lock_path} says "
                                          f"{sha[:12]}...; fetch again or restore the file")
        out[name] = Checkpoint(name, str(folder), entry.get("id"), entry.get("revision"),
                               digest(entry["files"]), "models-dir")
    return out


def write_lock(root: Path, entries: dict[str, dict]) -> Path:
    """Write (or extend) `root/models.lock.json`; `entries`: name -> {id, revision, requested,
    folder, files, origin}."""
    root = Path(root)
    path = root / LOCK_NAME
    lock = json.loads(path.read_text()) if path.is_file() else {"format": LOCK_FORMAT, "checkpoints": {}}
    for name, entry in entries.items():
        lock["checkpoints"][name] = {**entry, "weights": digest(entry["files"])}
    lock["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(lock, indent=2, sort_keys=True))
    os.replace(tmp, path)
    return path


# ---------------------------------------------------------------------------- fetching
def fetch(to: Path, names: list[str] | None = None, revisions: dict[str, str] | None = None,
          log=print) -> Path:
    """Download every backbone checkpoint of the paper profile (or `names`) into `to/<name>/` at
    its pinned revision (or `revisions[name]`), check each file against the hub's sha256 and
    write the lock file. Needs hub access; nothing else in the suite does."""
    from huggingface_hub import HfApi, snapshot_download

    api = HfApi()
    to = Path(to)
    to.mkdir(parents=True, exist_ok=True)
    revisions = dict(revisions or {})
    for name in names or list(BACKBONES):
        spec = BACKBONES.get(name)
        requested = revisions.get(spec.name, spec.revision)
        try:
            info = api.model_info(spec.hub_id, revision=requested, files_metadata=True)
        except Exception as e:  # noqa: BLE001 - reported with the backbone and revision
            raise CheckpointError(f"{spec.hub_id}@{requested or 'main'} (backbone {spec.name}): "
                                  f"{type(e).__name__}: {e}. A pinned revision that the hub does "
                                  f"not know can be replaced: --revision {spec.name}=main") from e
        wanted = _files_to_fetch([s.rfilename for s in info.siblings])
        log(f"{spec.name}: {spec.hub_id}@{info.sha} ({len(wanted)} files)")
        folder = to / spec.name
        snapshot_download(spec.hub_id, revision=info.sha, local_dir=folder, allow_patterns=wanted)
        files = {}
        for sibling in info.siblings:
            if sibling.rfilename not in wanted:
                continue
            sha = file_sha256(folder / sibling.rfilename)
            expected = getattr(getattr(sibling, "lfs", None), "sha256", None)
            if expected and expected != sha:
                raise CheckpointError(f"{folder / sibling.rfilename}: sha256 {sha[:12]}... but the "
                                      f"hub says {expected[:12]}... for {spec.hub_id}@{info.sha}")
            files[sibling.rfilename] = sha
        write_lock(to, {spec.name: {"id": spec.hub_id, "revision": info.sha,
                                    "requested": requested or "main", "folder": spec.name,
                                    "files": files, "origin": "hub"}})
    return to / LOCK_NAME


def _files_to_fetch(repo_files: list[str]) -> list[str]:
    """Top-level checkpoint files; safetensors weights when the revision has them, else the
    PyTorch pickles (older repositories)."""
    from fnmatch import fnmatch

    top = [f for f in repo_files if "/" not in f and any(fnmatch(f, p) for p in CHECKPOINT_FILES)]
    if any(f.endswith(".safetensors") for f in top):
        top = [f for f in top if not f.startswith("pytorch_model")]
    return sorted(top)


# ---------------------------------------------------------------------------- random checkpoints
def _merged(base: dict, changes: dict) -> dict:
    out = dict(base)
    for k, v in changes.items():
        out[k] = _merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def write_random(name: str, folder: Path, depth: str = "shallow", seed: int = 0) -> dict[str, str]:
    """Write backbone `name` as a checkpoint folder in the hub layout with the published
    checkpoint's configuration and processor, random weights (seeded) and, with
    depth="shallow", the few layers of `BackboneSpec.shallow`; depth="paper" keeps every layer.
    Returns {file name: sha256}."""
    import torch

    spec = BACKBONES.get(name)
    if depth not in ("shallow", "paper"):
        raise ValueError(f"depth must be 'shallow' or 'paper', got {depth!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = _merged(spec.paper_config, spec.shallow) if depth == "shallow" else dict(spec.paper_config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if spec.library == "timm":
            _write_timm(spec, config, folder)
        else:
            _write_transformers(spec, config, folder)
    return hash_folder(folder)


def _write_transformers(spec: BackboneSpec, config: dict, folder: Path) -> None:
    import transformers

    config = dict(config)
    cfg = transformers.AutoConfig.for_model(config.pop("model_type"), **config)
    model = getattr(transformers, spec.checkpoint_class)(cfg)
    model.save_pretrained(folder)
    settings = dict(spec.paper_processor)
    cls = getattr(transformers, settings.pop("class"))
    if cls.__name__ == "CLIPTokenizer":
        _clip_tokenizer(folder, **settings)
    else:
        cls(**settings).save_pretrained(folder)


def _clip_tokenizer(folder: Path, **settings) -> None:
    """CLIP's tokenizer files, built from the BPE merges that open-clip-torch ships (the same
    vocabulary as the hub's vocab.json/merges.txt: bytes, bytes + </w>, merges, 2 specials)."""
    import gzip

    from open_clip.tokenizer import bytes_to_unicode, default_bpe
    from transformers import CLIPTokenizer

    merges = gzip.open(default_bpe()).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    symbols = list(bytes_to_unicode().values())
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({tok: i for i, tok in enumerate(vocab)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), **settings).save_pretrained(folder)


def _write_timm(spec: BackboneSpec, config: dict, folder: Path) -> None:
    import timm
    from safetensors.torch import save_file

    arch = config["architecture"]
    tag = spec.hub_id.split("/")[-1]  # e.g. wide_resnet50_2.tv_in1k
    pretrained_cfg = {k: v for k, v in timm.models.get_pretrained_cfg(tag).to_dict().items()
                      if k not in ("url", "hf_hub_id", "file")}
    model = timm.create_model(arch, pretrained=False, **config.get("model_args", {}))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({**config, "pretrained_cfg": pretrained_cfg}, indent=2))


def write_random_models(to: Path, depth: str = "shallow", names: list[str] | None = None,
                        seed: int = 0) -> Path:
    """Every backbone (or `names`) as random-weight checkpoints of the paper's shapes in `to`,
    with a lock file, so that `--models to` runs the paper profile offline."""
    to = Path(to)
    entries = {}
    for name in names or list(BACKBONES):
        spec = BACKBONES.get(name)
        files = write_random(name, to / name, depth, seed)
        entries[name] = {"id": None, "revision": None, "requested": None, "folder": name,
                         "files": files, "origin": f"random weights, {depth} depth, shapes of "
                                                   f"{spec.hub_id}, seed {seed}"}
    return write_lock(to, entries)
