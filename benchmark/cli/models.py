"""`bench models fetch|random`: the pretrained checkpoints of the paper profile as local folders.

`fetch` downloads every backbone checkpoint (the five transformers encoders and PatchCore's timm
WideResNet) at its pinned revision through huggingface_hub, on a machine that reaches the hub,
and writes `models.lock.json` (id, resolved commit, sha256 of every file). `random` writes the
same folders with the published configurations and random weights (shallow by default), for
offline checks of the paper profile's loading path and shapes. `bench run --profile paper
--models DIR` then runs with no network, after checking every file against the lock.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.cli import _options as O


def _revision(text: str) -> tuple[str, str]:
    name, sep, rev = text.partition("=")
    if not sep or not rev:
        raise argparse.ArgumentTypeError(f"expected NAME=REVISION, got {text!r}")
    return name, rev


def add_parser(sub) -> None:
    m = sub.add_parser("models", help="fetch the paper profile's checkpoints into a folder")
    msub = m.add_subparsers(dest="models_command", required=True)
    f = msub.add_parser("fetch", help="download every backbone checkpoint at its pinned revision "
                                      "(needs hub access) and write DIR/models.lock.json")
    f.add_argument("--to", type=Path, required=True, help="folder for the checkpoints and the lock")
    f.add_argument("--only", type=O.csv_list, help="backbone names (default: every registered one)")
    f.add_argument("--revision", type=_revision, action="append", default=[],
                   help="NAME=REVISION instead of the pinned one (a commit, tag or branch)")
    f.set_defaults(func=fetch)
    r = msub.add_parser("random", help="the same folders with the published configurations and "
                                       "random weights (offline shape and throughput checks)")
    r.add_argument("--to", type=Path, required=True,
                   help="folder for the random-weight checkpoints and their lock")
    r.add_argument("--only", type=O.csv_list, help="backbone names (default: every registered one)")
    r.add_argument("--depth", choices=("shallow", "paper"), default="shallow",
                   help="shallow: a few layers (BackboneSpec.shallow); paper: every layer")
    r.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    r.set_defaults(func=random_models)


def _names(only) -> list[str] | None:
    from benchmark.features.backbones import BACKBONES

    return [BACKBONES.get(n).name for n in only] if only else None  # unknown names raise


def fetch(args) -> int:
    from benchmark.features.checkpoints import fetch as fetch_checkpoints

    lock = fetch_checkpoints(args.to, _names(args.only), dict(args.revision))
    print(f"checkpoints and lock file: {lock}")
    print(f"use them with: bench run --profile paper --models {args.to}")
    return 0


def random_models(args) -> int:
    from benchmark.features.checkpoints import write_random_models

    lock = write_random_models(args.to, args.depth, _names(args.only), args.seed)
    print(f"random-weight checkpoints ({args.depth} depth) and lock file: {lock}")
    return 0
