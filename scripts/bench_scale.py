"""How each stage of a run grows with the number of welds, measured, and the calibration that
`bench run --dry-run` projects from (`benchmark/run/calibration/<device kind>.json`).

    python scripts/bench_scale.py --out /tmp/wb-scale --profile paper   # 6, 12, 24 full-media welds
    python scripts/bench_scale.py --out /tmp/wb-scale --profile quick   # 52, 104, 208 small welds
    python scripts/bench_scale.py --out /scratch/wb-scale --device cuda # on a GPU machine

A twin of the largest size is drawn once (`benchmark.data.synth.scaled`: every k-th weld of
Weld-4M's plan, a few drawn, the others hard-linked), every smaller size is every k-th weld of it
(its own manifest), and each size is run as `bench run` runs it, into a fresh cache: the paper
profile with random-weight checkpoints of the published configurations (`bench models random`;
`--depth shallow` on the CPU), then each method's unit for one seed (`--units smoke` cuts
training to a few steps: the default of the paper profile on the CPU, and said in the output;
in the paper profile without pixel metrics, as on Weld-4M, which has no pixel truth).

Per stage and size: seconds, peak resident host memory (and device memory on CUDA), and for each
extractor the cache bytes per weld. Stages: the data path broken down (decode photos, label
guard, resizing, decode video, audio and sensors), each extractor's data path (its CPU side:
what loader threads run) and backbone (its device side), and each method's unit. Each stage's
growth is fitted (linear, n log n, quadratic; `benchmark.run.growth`), printed, and written to the
calibration of the device kind. Then the data path's welds/s on 1 and N threads, against the
GPU's consumption rate where a GPU calibration exists.
"""
from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

DEFAULT_SIZES = {"paper": (6, 12, 24), "quick": (52, 104, 208)}


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="work folder (checkpoints, twin, caches, results)")
    p.add_argument("--profile", default="paper", choices=("paper", "quick"))
    p.add_argument("--sizes", help="welds per size, ascending, separated by commas "
                                   f"(default: {DEFAULT_SIZES})")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--depth", choices=("shallow", "paper"),
                   help="of the random-weight checkpoints (default: shallow on the CPU, paper on CUDA)")
    p.add_argument("--units", choices=("smoke", "full", "none"),
                   help="the methods' units: smoke (training cut to a few steps), full, or none "
                        "(default: smoke for the paper profile on the CPU, else full)")
    p.add_argument("--methods", default="all", help="'all' or names separated by commas")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="loader threads of the data-path rate (besides 1)")
    p.add_argument("--distinct", type=int, default=12, help="welds drawn; the others hard-link them")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes drawing the twin")
    p.add_argument("--calibration-dir", type=Path, help="where <device kind>.json is written "
                                                        "(default: benchmark/run/calibration)")
    p.add_argument("--no-write", action="store_true", help="print only; write no calibration")
    args = p.parse_args(argv)
    args.sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else DEFAULT_SIZES[args.profile]
    if len(args.sizes) < 2 or list(args.sizes) != sorted(set(args.sizes)):
        p.error(f"--sizes: two or more distinct sizes, ascending; got {args.sizes}")
    cuda = args.device.startswith("cuda")
    args.depth = args.depth or ("paper" if cuda else "shallow")
    args.units = args.units or ("smoke" if args.profile == "paper" and not cuda else "full")
    return args


# ---------------------------------------------------------------------------- measuring
class Meter:
    """Seconds, peak host and device memory of named stages at one size."""

    def __init__(self):
        self.rows: dict[str, dict] = {}

    @contextmanager
    def __call__(self, name: str, group: str):
        from benchmark.run.resources import PeakMemory

        row = self.rows.setdefault(name, {"group": group, "seconds": 0.0})
        t0 = time.perf_counter()
        with PeakMemory() as mem:
            yield row
        row["seconds"] += time.perf_counter() - t0
        row["peak_host_bytes"] = max(row.get("peak_host_bytes", 0), mem.peak)
        row["peak_private_bytes"] = max(row.get("peak_private_bytes", 0), mem.private_peak)
        # NOTE: what this process held before the stage (earlier stages' leftovers included):
        # the stage's own memory is the peak above it
        row["start_private_bytes"] = min(row.get("start_private_bytes", mem.private_start), mem.private_start)
        row["peak_device_bytes"] = max(row.get("peak_device_bytes", 0), mem.cuda_peak)


def data_steps(samples, profile, meter: Meter) -> None:
    """The data path broken down, sample by sample: decode photos, label guard, resizing, decode
    video, audio and sensors (each extractor's own data path is measured with the extractor)."""
    import cv2

    from benchmark.data.decode import read_audio, read_images, read_sensors, read_video
    from benchmark.data.label_guard import remove_label

    steps = {name: 0.0 for name in ("decode photos", "label guard", "resize views", "decode video",
                                    "decode audio", "decode sensors")}
    t0 = time.perf_counter()
    with meter("data: all steps", "data") as whole:
        for s in samples:
            t = time.perf_counter()
            images = read_images(s)
            steps["decode photos"] += time.perf_counter() - t
            for image in images:
                t = time.perf_counter()
                guarded, _ = remove_label(image)
                steps["label guard"] += time.perf_counter() - t
                t = time.perf_counter()
                cv2.resize(guarded, profile.pixel_size[::-1], interpolation=cv2.INTER_AREA)
                steps["resize views"] += time.perf_counter() - t
            t = time.perf_counter()
            read_video(s.video, profile.video_frames, None)
            steps["decode video"] += time.perf_counter() - t
            t = time.perf_counter()
            read_audio(s.audio, profile.audio_rate)
            steps["decode audio"] += time.perf_counter() - t
            t = time.perf_counter()
            read_sensors(s.sensor, profile.sensor_length)
            steps["decode sensors"] += time.perf_counter() - t
    whole["seconds"] = time.perf_counter() - t0
    for name, seconds in steps.items():
        meter.rows[f"data: {name}"] = {**whole, "seconds": seconds}


def _timed(fn, row: dict, key: str, lock: threading.Lock):
    def run(*a, **kw):
        t0 = time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            with lock:
                row[key] += time.perf_counter() - t0
    return run


def order_of_extraction(store, features) -> list[str]:
    """Every extractor `features` come from, those it is computed from first."""
    from benchmark.features.extractors import feature_index

    index = feature_index()
    return list(dict.fromkeys(e for f in features for e in reversed(store.upstream(index[f]))))


def measured_extract(meter: Meter):
    """An `extract` for `runner.prepare`: the run's own extraction, extractor by extractor, with
    each one's data path (`load`; the whole of an extractor without a backbone) and backbone
    (`forward`) timed apart, and its cache bytes per weld."""

    def extract(plan, store, samples, features):
        lock = threading.Lock()
        for name in order_of_extraction(store, features):
            ext = store.extractor(name)
            if ext.backbone:
                ext.model()  # NOTE: built (and read from disk) once per run, not per weld: not timed
            clock = {"load": 0.0, "forward": 0.0}
            # NOTE: the instance's own methods are wrapped, so the store's loop (inline or
            # pipelined) runs unchanged and the split costs nothing extra
            ext.load = _timed(type(ext).load.__get__(ext), clock, "load", lock)
            ext.forward = _timed(type(ext).forward.__get__(ext), clock, "forward", lock)
            try:
                with meter(f"features {name}: data path", "data path") as row:
                    store.fill(samples, ext.outputs)
            finally:
                del ext.load, ext.forward
            cpu, dev = (clock["load"], clock["forward"]) if ext.backbone else (sum(clock.values()), 0.0)
            entries = list(store.folder(name).glob("*.npz"))
            row |= {"seconds": cpu,
                    "disk_bytes_per_weld": sum(p.stat().st_size for p in entries) / max(len(entries), 1)}
            if ext.backbone:
                meter.rows[f"features {name}: backbone"] = {**row, "group": "backbone", "seconds": dev,
                                                            "disk_bytes_per_weld": 0.0}
        return store.report()

    return extract


def loader_rates(plan, threads: list[int]) -> list[float]:
    """Welds/s of the data path (every extractor's CPU side, in extraction order) with each
    number of loader threads, weld by weld, over the plan's welds (cached inputs read back)."""
    store = plan.store()
    samples = [s for split in plan.samples.values() for s in split]
    exts = [store.extractor(n) for n in order_of_extraction(store, plan.features)]

    def one(sample):
        for ext in exts:
            (ext.load if ext.backbone else ext.compute)([sample])

    rates = []
    for n in threads:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(n) as pool:
            list(pool.map(one, samples))
        rates.append(len(samples) / (time.perf_counter() - t0))
    return rates


def measure_size(args, twin: Path, manifest: Path, n: int, models: Path | None, meter: Meter,
                 warm_up: bool = False, chunk: int | None = None, largest: bool = False):
    """One size: data steps, the run's extraction, each method's unit (with `warm_up`, each
    unit run once before, unrecorded: a method's first unit in a process pays for imports and
    builds). Returns the plan.

    Units score TEST in chunks of `chunk` welds (default: this size's TEST welds; the smallest
    size sets it for the others), so that their memory's growth is the dataset's part alone; at
    the `largest` size each unit runs again in chunks of the run's SCORE_CHUNK (or all of TEST
    where fewer), which measures what one weld of a chunk adds (`chunk_bytes_per_weld`): the
    projection adds it up to SCORE_CHUNK."""
    from benchmark.results import store as R
    from benchmark.run import unit
    from benchmark.run.config import RunConfig
    from benchmark.run.runner import prepare

    run, cache = args.out / "results" / f"scale-{n}", args.out / f"cache-{n}"
    shutil.rmtree(run, ignore_errors=True)  # NOTE: fresh, so that every stage is measured
    shutil.rmtree(cache, ignore_errors=True)
    methods = tuple(m for m in args.methods.split(",") if m)
    config = RunConfig(methods=methods, seeds=(0,), profile=args.profile, root=twin, manifest=manifest,
                       device=args.device, out=args.out / "results", run=run.name, cache=cache,
                       models=models, smoke=args.units == "smoke")
    plan = prepare(config, extract=measured_extract(meter))
    if args.profile == "paper":
        # NOTE: Weld-4M has no pixel truth, so its units compute no pixel metrics; the twin's
        # full-size masks would add ~100 MB of resized maps and sorted pixels per TEST weld
        plan.has_masks = False
    samples = [s for split in plan.samples.values() for s in split]
    data_steps(samples, plan.profile, meter)
    if args.units == "none":
        return plan
    run_chunk, test = unit.SCORE_CHUNK, len(plan.samples["TEST"])
    chunk = min(chunk or test, run_chunk)
    full = min(test, run_chunk)
    try:
        for method, seed in plan.units:
            print(f"-- {n} welds: unit {method}", flush=True)
            unit.SCORE_CHUNK = chunk
            if warm_up:
                shutil.rmtree(unit.run_unit(plan, method, seed, progress=False))
            row = measured_unit(meter, f"unit {method}", plan, method, seed)
            row["score_chunk"] = chunk
            if largest and full > chunk:
                unit.SCORE_CHUNK = full
                shutil.rmtree(R.unit_dir(plan.run_dir, method, seed))
                whole = measured_unit(Meter(), "whole", plan, method, seed)
                row["chunk_bytes_per_weld"] = max(0.0, (_own(whole) - _own(row)) / (full - chunk))
    finally:
        unit.SCORE_CHUNK = run_chunk
    return plan


def measured_unit(meter: Meter, name: str, plan, method: str, seed: int) -> dict:
    """One unit, its memory measured as a stage (from the process's state before it) and its
    seconds from its own record (fit and score apart)."""
    import json

    from benchmark.run.unit import run_unit

    with meter(name, "unit") as row:
        folder = run_unit(plan, method, seed, progress=False)
    eff = json.loads((folder / "efficiency.json").read_text())
    row |= {"seconds": eff["unit_seconds"], "fit_seconds": eff["fit_seconds"],
            "score_seconds": eff["score_seconds"]}
    return row


def _own(row: dict) -> float:
    """A stage's own peak memory: its private peak above what the process held before it."""
    return row["peak_private_bytes"] - row["start_private_bytes"]


def subset_manifest(twin: Path, n: int, largest: int, to: Path) -> Path:
    """Every k-th weld of each split of the twin's manifest (k = largest / n; at least one per
    split): the splits keep their shares, and TRAIN is never empty."""
    with open(twin / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    k = max(1, largest // n)
    keep = [r for split in dict.fromkeys(r["SPLIT"] for r in rows)
            for group in [[r for r in rows if r["SPLIT"] == split]] for r in group[::k]]
    with open(to, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(keep)
    return to


# ---------------------------------------------------------------------------- fitting, report
def calibration_section(args, sizes: list[int], meters: list[Meter], rates: list[float]) -> dict:
    from benchmark.run.growth import fit_growth

    stages = {}
    for name in meters[-1].rows:
        rows = [m.rows[name] for m in meters]
        seconds = [r["seconds"] for r in rows]
        growth = fit_growth(sizes, seconds)
        stages[name] = {
            "group": rows[-1]["group"], "seconds": seconds, "form": growth.form,
            "coefficient": growth.coefficient, "residual": growth.residual,
            "peak_host_bytes": [r["peak_host_bytes"] for r in rows],
            "peak_private_bytes": [r["peak_private_bytes"] for r in rows],
            "start_private_bytes": [r["start_private_bytes"] for r in rows],
            **({"score_chunk": rows[-1]["score_chunk"],
                "chunk_bytes_per_weld": rows[-1].get("chunk_bytes_per_weld", 0.0)}
               if "score_chunk" in rows[-1] else {}),
            "peak_device_bytes": [r["peak_device_bytes"] for r in rows],
            **({"disk_bytes_per_weld": rows[-1]["disk_bytes_per_weld"]} if "disk_bytes_per_weld" in rows[-1] else {}),
            **({"fit_seconds": [r["fit_seconds"] for r in rows],
                "score_seconds": [r["score_seconds"] for r in rows]} if "fit_seconds" in rows[-1] else {}),
        }
    media = "full" if args.profile == "paper" else "small"
    backbones = (f"random weights, {args.depth} depth of the published configurations"
                 if args.profile == "paper" else "tiny (random weights)")
    return {"sizes": sizes, "media": media, "backbones": backbones,
            "units": {"smoke": "smoke runs (training cut to a few steps: fit times are a floor)",
                      "full": "full runs", "none": "not measured"}[args.units],
            "loader": {"threads": [1, args.threads], "welds_per_s": rates, "at_welds": sizes[0]},
            "stages": stages}


def machine(device: str) -> dict:
    import torch

    if device.startswith("cuda"):
        name = torch.cuda.get_device_name()
    else:
        name = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                     if line.startswith("model name")), platform.processor() or "cpu") \
            if Path("/proc/cpuinfo").exists() else platform.processor() or "cpu"
    return {"device": name, "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d"),
            "torch": torch.__version__}


def print_report(section: dict, profile: str) -> None:
    from tabulate import tabulate

    sizes = section["sizes"]
    rows = []
    for name, st in section["stages"].items():
        disk = st.get("disk_bytes_per_weld")
        rows.append([name, " / ".join(f"{s:.2f}" for s in st["seconds"]), st["form"],
                     f"{st['residual']:.2f}", f"{1000 * st['seconds'][-1] / sizes[-1]:.1f}",
                     " / ".join(f"{b / 2**30:.2f}" for b in st["peak_host_bytes"]),
                     " / ".join(f"{b / 2**30:.2f}" for b in st["peak_private_bytes"]),
                     " / ".join(f"{(b - a) / 2**30:.2f}" for b, a in zip(st["peak_private_bytes"],
                                                                         st["start_private_bytes"])),
                     f"{disk / 2**20:.2f}" if disk else "-"])
    print(f"\nbench_scale: profile {profile}, {section['media']} media, backbones {section['backbones']}; "
          f"units: {section['units']}")
    print(tabulate(rows, headers=["stage", f"seconds at {' / '.join(map(str, sizes))} welds", "growth",
                                  "residual", "ms/weld", "peak host GiB", "of it private GiB",
                                  "the stage's own GiB", "cache MiB/weld"]))
    chunked = {name: st for name, st in section["stages"].items() if "score_chunk" in st}
    if chunked:
        st = next(iter(chunked.values()))
        print(f"units scored TEST {st['score_chunk']} welds at a time at every size; what a weld of a "
              f"chunk adds (the largest size scored in chunks of up to the run's): " + ", ".join(
                  f"{name.removeprefix('unit ')} {st['chunk_bytes_per_weld'] / 2**20:.0f} MiB"
                  for name, st in chunked.items()))


def main(argv=None) -> dict:
    args = parse(argv)
    from benchmark.data.synth.scaled import make_twin
    from benchmark.features.checkpoints import write_random_models
    from benchmark.run import cost

    sizes = list(args.sizes)
    media = "full" if args.profile == "paper" else "small"
    models = None
    if args.profile == "paper":
        models = args.out / f"models-{args.depth}"
        if not (models / "models.lock.json").exists():
            write_random_models(models, depth=args.depth)
    twin = make_twin(args.out / f"twin-{sizes[-1]}-{media}", sizes[-1], min(args.distinct, sizes[-1]),
                     media, args.workers, generator="scripts/bench_scale.py")
    meters, plans = [], []
    for n in sizes:
        print(f"-- {n} welds", flush=True)
        manifest = subset_manifest(twin, n, sizes[-1], args.out / f"manifest-{n}.csv")
        meters.append(Meter())
        plans.append(measure_size(args, twin, manifest, n, models, meters[-1], warm_up=n == sizes[0],
                                  chunk=len(plans[0].samples["TEST"]) if plans else None,
                                  largest=n == sizes[-1]))
    rates = loader_rates(plans[0], [1, args.threads])
    welds = [sum(len(v) for v in p.samples.values()) for p in plans]  # NOTE: after the screen
    if len(set(welds)) < len(welds):
        raise SystemExit(f"bench_scale: sizes {sizes} hold {welds} welds after the screen; give sizes further apart")
    section = calibration_section(args, welds, meters, rates)
    print_report(section, args.profile)
    kind = cost.device_kind(args.device)
    if not args.no_write:
        path = cost.write_calibration(kind, args.profile, section, machine(args.device), args.calibration_dir)
        print(f"\ncalibration written: {path}")
    gpu = cost.read_calibration("cuda", args.calibration_dir)
    print("\n" + "\n".join(cost.feeding_lines(
        section, (gpu or {}).get("profiles", {}).get(args.profile),
        cost.calibration_path("cuda", args.calibration_dir))))
    return section


if __name__ == "__main__":
    main()
