"""Loader throughput: samples/s fully decoded (audio + sensors + all views, + video where present).

    python scripts/bench_loader.py                      # the four real samples in ../shared/weld4m
    python scripts/bench_loader.py datasets/synth-twin  # ... and a synthetic twin, if it exists

Real samples are loaded with the shared reference manifest (rows without a folder are excluded,
not copied anywhere). Each dataset is decoded `--passes` times; the first pass is reported
separately because it includes cold file-system caches and lazy imports.
"""
from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

from benchmark.data import decode
from benchmark.data.loader import load_dataset

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "weld4m"


def decode_sample(sample, args, timings: dict[str, float]) -> None:
    """Decode every modality of one sample the way a feature extractor would."""
    steps = {
        "audio": lambda: decode.read_audio(sample.audio, args.audio_rate),
        "sensor": lambda: decode.read_sensors(sample.sensor, args.sensor_length),
        "image": lambda: decode.read_images(sample, (args.image_size, args.image_size)),
        "video": lambda: decode.read_video(sample.video, args.video_frames,
                                           (args.video_size, args.video_size)),
    }
    for modality, step in steps.items():
        if not sample.has(modality):
            continue
        start = time.perf_counter()
        step()
        timings[modality] += time.perf_counter() - start


def bench(name: str, root: Path, manifest: Path | None, args) -> None:
    start = time.perf_counter()
    dataset = load_dataset(root, manifest, require=("audio", "sensor", "image"),
                           allow_missing=True)
    load_s = time.perf_counter() - start
    samples = dataset.samples[: args.limit] if args.limit else dataset.samples
    n_video = sum(s.has("video") for s in samples)
    print(f"\n== {name}: {root}")
    print(f"load_dataset: {len(dataset.samples)} samples, {len(dataset.excluded)} excluded, "
          f"{load_s * 1000:.0f} ms; decoding {len(samples)} ({n_video} with video)")
    for run in range(args.passes):
        timings: dict[str, float] = defaultdict(float)
        start = time.perf_counter()
        for sample in samples:
            decode_sample(sample, args, timings)
        total = time.perf_counter() - start
        per_modality = ", ".join(f"{m} {1000 * t / len(samples):.0f} ms"
                                 for m, t in timings.items())
        label = "cold" if run == 0 else f"warm{run}"
        print(f"  pass {label}: {len(samples) / total:6.2f} samples/s "
              f"({1000 * total / len(samples):.0f} ms/sample: {per_modality})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("synth", nargs="?", type=Path, help="a synthetic twin root (optional)")
    parser.add_argument("--root", type=Path, default=SHARED / "samples")
    parser.add_argument("--manifest", type=Path, default=SHARED / "manifest.csv")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--limit", type=int, default=0, help="decode at most this many samples")
    parser.add_argument("--audio-rate", type=int, default=None)
    parser.add_argument("--sensor-length", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--video-frames", type=int, default=16)
    parser.add_argument("--video-size", type=int, default=112)
    args = parser.parse_args()

    bench("real samples", args.root, args.manifest, args)
    if args.synth is not None:
        if args.synth.is_dir():
            bench("synthetic twin", args.synth, None, args)
        else:
            print(f"\n(no synthetic twin at {args.synth}; skipped)")


if __name__ == "__main__":
    main()
