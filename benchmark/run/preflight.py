"""The options of a run checked before anything is planned, written or extracted, so that a
bad value fails at once with one line naming it (and `--dry-run` fails the same way), not as a
traceback minutes into the run."""
from __future__ import annotations

import os
from pathlib import Path

from benchmark.run.config import RunConfig

SEED_MAX = 2**32 - 1  # numpy's and torch's seeds are unsigned 32-bit integers


class RunOptionError(ValueError):
    """An option of `bench run` that cannot work; the message names the option and its value."""


def check_run_config(config: RunConfig) -> None:
    """Raise `RunOptionError` for the first option that cannot work."""
    if not config.methods:
        raise RunOptionError("--method: no method named (give names separated by commas, or 'all')")
    if not config.seeds:
        raise RunOptionError("--seeds: no seed given (e.g. --seeds 0,1,2)")
    bad = [s for s in config.seeds if not 0 <= int(s) <= SEED_MAX]
    if bad:
        raise RunOptionError(f"--seeds: {bad[0]} is outside 0..{SEED_MAX}")
    _check_device(config.device)
    if config.models is not None:
        _check_models(Path(config.models))
    check_writable("--out", Path(config.out))
    if config.cache is not None:
        check_writable("--cache", Path(config.cache))


def _check_device(device: str) -> None:
    if not device.startswith("cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        built = torch.version.cuda or "no CUDA"
        raise RunOptionError(f"--device {device}: torch sees no CUDA device (torch "
                             f"{torch.__version__}, built with {built}); use --device cpu")


def _check_models(models: Path) -> None:
    from benchmark.features.checkpoints import LOCK_NAME

    if not models.is_dir():
        raise RunOptionError(f"--models {models}: no such folder (write one with `bench models "
                             f"fetch --to {models}`)")
    if not (models / LOCK_NAME).is_file():
        raise RunOptionError(f"--models {models}: no {LOCK_NAME} in it (a folder written by "
                             f"`bench models fetch` has one)")


def check_writable(option: str, path: Path) -> None:
    """`path` is a folder, or can be made one, where this process may write."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise RunOptionError(f"{option} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise RunOptionError(f"{option} {path}: {existing} is not writable by this user")
