"""GPU throughput of the paper profile, offline: full-size backbones with random weights (the
published configurations, written by `bench models random --depth paper`), a synthetic twin of
Weld-4M's size (4,040 welds, the real media sizes), feature extraction with batching, loader
threads and bf16 autocast, then every registered method for one seed.

    python scripts/gpu_throughput.py --out /scratch/wb-throughput            # full run
    python scripts/gpu_throughput.py --out /scratch/wb-throughput --check    # < 8 min on an H100

`--check` takes every tenth weld (404) and runs the methods as a smoke run (training cut to a few
steps): the extraction figures are the full run's, per weld; the method times are not. On the
CPU, `--device cpu --profile quick` runs the same stages with the tiny backbones in seconds (the
test suite does, to prove the script runs).

Prints, and writes to OUT/throughput.json: wall time and peak GPU memory per stage; per backbone,
samples/s, the FLOPs of one sample (torch's FlopCounterMode: matmuls, convolutions, attention) and
the achieved TFLOP/s against the GPU's dense bf16 peak (`PEAK_BF16_TFLOPS`, or --peak-tflops);
per method, fit time, scoring time per sample, unit wall time and peak GPU memory; the
estimate of the whole paper profile (extraction once + 3 seeds of every method); and, where the
device kind's calibration (`scripts/bench_scale.py --device cuda`) holds the profile, what it
projects for this run against what was measured.

Goal (issue 11): the whole paper profile under 30 minutes on one H100-class GPU, extraction at
>= 40 % of the bf16 peak.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

# Dense (no sparsity) bf16 tensor-core peaks from NVIDIA's data sheets, TFLOP/s; first match of
# the device name wins.
PEAK_BF16_TFLOPS = (("H200", 989.0), ("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.0),
                    ("B200", 2250.0), ("A100", 312.0), ("L40S", 362.0), ("L4", 121.0), ("A10", 125.0))
FULL_WELDS = 4040  # the real Weld-4M (the twin's code 12 is left out)
SEEDS_OF_THE_PAPER = 3


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="work folder (checkpoints, twin, results)")
    p.add_argument("--check", action="store_true", help="every tenth weld, methods as a smoke run")
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--profile", default="paper", choices=("paper", "quick"),
                   help="quick: tiny backbones, small media (CPU check of this script)")
    p.add_argument("--welds", type=int, help="welds of the twin (default: 4040, --check: 404)")
    p.add_argument("--distinct", type=int, default=256,
                   help="welds drawn; the others hard-link the media of a drawn weld of their "
                        "category (each keeps its own id, so every weld goes through the backbones)")
    p.add_argument("--methods", default="all", help="'all' or names separated by commas")
    p.add_argument("--peak-tflops", type=float, help="dense bf16 peak of the device, TFLOP/s")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes drawing the twin")
    return p.parse_args(argv)


# ---------------------------------------------------------------------------- stages
class Stages:
    """Wall time and peak GPU memory per stage."""

    def __init__(self, cuda: bool):
        self.cuda, self.rows = cuda, {}

    @contextmanager
    def __call__(self, name: str):
        import torch

        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        print(f"-- {name} ...", flush=True)
        yield
        if self.cuda:
            torch.cuda.synchronize()
        self.rows[name] = {"seconds": time.perf_counter() - t0,
                           "peak_gpu_bytes": torch.cuda.max_memory_allocated() if self.cuda else 0}


def sample_flops(store, extractor: str, sample) -> float:
    """FLOPs of one sample through an extractor's backbone (matmuls, convolutions, attention)."""
    from torch.utils.flop_counter import FlopCounterMode

    ext = store.extractor(extractor)
    loaded = ext.load([sample])
    with FlopCounterMode(display=False) as counter:
        ext.forward(loaded)
    return float(counter.get_total_flops())


def peak_tflops(args) -> tuple[float | None, str]:
    import torch

    if args.device != "cuda":
        return args.peak_tflops, "cpu"
    name = torch.cuda.get_device_name()
    if args.peak_tflops:
        return args.peak_tflops, name
    return next((v for k, v in PEAK_BF16_TFLOPS if k in name), None), name


# ---------------------------------------------------------------------------- the run
def main(argv=None) -> dict:
    args = parse(argv)
    import dataclasses

    import torch

    from benchmark.data.synth.scaled import make_twin
    from benchmark.features.checkpoints import write_random_models
    from benchmark.features.extractors import EXTRACTORS
    from benchmark.run.config import RunConfig
    from benchmark.run.runner import prepare
    from benchmark.run.unit import run_unit

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_throughput: no CUDA device (use --device cpu --profile quick to check the script)")
    welds = args.welds or (FULL_WELDS // 10 if args.check else FULL_WELDS)
    media = "full" if args.profile == "paper" else "small"
    peak, device_name = peak_tflops(args)
    stages = Stages(args.device == "cuda")
    out = args.out
    models = out / "models"

    if args.profile == "paper":
        with stages("checkpoints"):
            if not (models / "models.lock.json").exists():
                write_random_models(models, depth="paper")
    with stages("twin"):
        twin = make_twin(out / f"twin-{welds}-{media}", welds, min(args.distinct, welds), media,
                         args.workers, generator="scripts/gpu_throughput.py")
    config = RunConfig(methods=tuple(m for m in args.methods.split(",") if m), seeds=(0,),
                       profile=args.profile, root=twin, device=args.device, out=out / "results",
                       run=f"throughput-{welds}{'-check' if args.check else ''}-{args.device}",
                       models=models if args.profile == "paper" else None, smoke=args.check)
    with stages("extract"):
        plan = prepare(config)
    info = json.loads((plan.run_dir / "run.json").read_text())["features"]["extractors"]

    store = plan.store()
    sample = plan.samples["TRAIN"][0]
    backbones = {}
    for name, st in info.items():
        if EXTRACTORS.get(name).backbone is None or not st["computed"]:
            continue
        flops = sample_flops(store, name, sample)
        rate = st["computed"] / st["seconds"]
        backbones[name] = {"samples": st["computed"], "seconds": st["seconds"], "samples_per_s": rate,
                           "gflop_per_sample": flops / 1e9, "tflops": flops * rate / 1e12,
                           "share_of_peak": (flops * rate / 1e12 / peak) if peak else None}
    del store
    if args.device == "cuda":
        torch.cuda.empty_cache()  # the FLOP count's backbones are not needed by the methods

    units = {}
    with stages("methods"):
        for method, seed in plan.units:
            t0 = time.perf_counter()
            folder = run_unit(plan, method, seed)
            eff = json.loads((folder / "efficiency.json").read_text())
            units[method] = {"wall_s": time.perf_counter() - t0, "fit_s": eff["fit_seconds"],
                             "score_ms_per_sample": eff["inference_ms_per_sample"],
                             "peak_gpu_bytes": eff["peak_cuda_bytes"]}
    # NOTE: each unit resets the CUDA peak (resources.PeakMemory): the stage's peak is the units' max
    stages.rows["methods"]["peak_gpu_bytes"] = max((u["peak_gpu_bytes"] for u in units.values()), default=0)

    extract_s = stages.rows["extract"]["seconds"]
    methods_s = stages.rows["methods"]["seconds"]
    scale = FULL_WELDS / welds
    flops_total = sum(b["gflop_per_sample"] * b["samples"] for b in backbones.values()) * 1e9
    extract_share = (flops_total / extract_s / 1e12 / peak) if peak else None
    report = {
        "device": device_name, "peak_bf16_tflops": peak, "profile": args.profile,
        "mode": "check" if args.check else "full", "welds": welds,
        "distinct_welds": json.loads((twin / "synthetic.json").read_text())["distinct"],
        "media": media,
        "stages": stages.rows, "backbones": backbones, "methods": units,
        "extraction_share_of_peak": extract_share,
        "estimate": {
            "extract_s_4040": extract_s * scale,
            # NOTE: a check run's method times are smoke times: no estimate from them
            "paper_profile_s": None if args.check else extract_s * scale + SEEDS_OF_THE_PAPER * methods_s * scale,
        },
        "config": dataclasses.asdict(plan.profile),
    }
    report["projection_check"] = check_projection(args, plan, welds, extract_s, methods_s)
    (out / "throughput.json").write_text(json.dumps(report, indent=2, default=str))
    print_report(report)
    return report


def check_projection(args, plan, welds: int, extract_s: float, methods_s: float) -> dict | None:
    """What the device kind's calibration (`scripts/bench_scale.py`) projects for this run,
    against what it measured; None (and one line on why) without a calibration."""
    from benchmark.run import cost

    kind = cost.device_kind(args.device)
    try:
        calibration = cost.read_calibration(kind)
    except cost.CalibrationError as exc:
        print(f"projection check: {exc}")
        return None
    section = (calibration or {}).get("profiles", {}).get(args.profile)
    if section is None:
        print(f"projection check: no calibration of profile {args.profile} in {cost.calibration_path(kind)} "
              f"(scripts/bench_scale.py --profile {args.profile} --device {args.device} writes it)")
        return None
    methods = list(dict.fromkeys(m for m, _ in plan.units))
    projected = cost.project(section, welds, plan.store().sources(plan.features), methods, 1,
                             cost.loader_threads(args.device))
    return {"calibration": str(cost.calibration_path(kind)), "units_calibrated_as": section.get("units"),
            "extract_s": {"projected": projected.extraction_seconds(), "measured": extract_s},
            "methods_s": {"projected": projected.units_seconds(), "measured": methods_s,
                          "not_calibrated": projected.missing}}


def _gib(b) -> str:
    return f"{b / 2**30:7.2f}" if b else "      -"


def _pct(x) -> str:
    return f"{100 * x:6.1f} %" if x is not None else "     n/a"


def print_report(r: dict) -> None:
    peak = f"{r['peak_bf16_tflops']:g} TFLOP/s" if r["peak_bf16_tflops"] else "unknown (--peak-tflops)"
    print(f"\nweld-bench throughput: {r['device']} (dense bf16 peak {peak}); profile {r['profile']}, "
          f"{r['mode']} mode, {r['welds']} welds ({r['distinct_welds']} drawn), {r['media']} media")
    print(f"\n{'stage':<12} {'wall s':>9} {'peak GPU GiB':>13}")
    for name, row in r["stages"].items():
        print(f"{name:<12} {row['seconds']:9.1f} {_gib(row['peak_gpu_bytes']):>13}")
    print(f"\n{'backbone':<10} {'samples':>8} {'wall s':>8} {'samples/s':>10} {'GFLOP/sample':>13} "
          f"{'TFLOP/s':>8} {'of peak':>9}")
    for name, b in r["backbones"].items():
        print(f"{name:<10} {b['samples']:8d} {b['seconds']:8.1f} {b['samples_per_s']:10.2f} "
              f"{b['gflop_per_sample']:13.1f} {b['tflops']:8.2f} {_pct(b['share_of_peak']):>9}")
    print(f"\n{'method':<26} {'fit s':>8} {'score ms/sample':>16} {'unit wall s':>12} {'peak GPU GiB':>13}")
    for name, u in r["methods"].items():
        print(f"{name:<26} {u['fit_s']:8.1f} {u['score_ms_per_sample']:16.2f} {u['wall_s']:12.1f} "
              f"{_gib(u['peak_gpu_bytes']):>13}")
    est = r["estimate"]
    print(f"\nextraction: {_pct(r['extraction_share_of_peak']).strip()} of the bf16 peak over the whole "
          f"stage (goal >= 40 %); 4,040 welds: {est['extract_s_4040'] / 60:.1f} min")
    if est["paper_profile_s"] is not None:
        print(f"paper profile (extraction once + {SEEDS_OF_THE_PAPER} seeds of every method), "
              f"estimated: {est['paper_profile_s'] / 60:.1f} min (goal < 30 min)")
    else:
        print("paper profile estimate: needs a full run (check-mode method times are smoke runs)")
    check = r.get("projection_check")
    if check:
        ex, me = check["extract_s"], check["methods_s"]
        print(f"projection ({check['calibration']}; its units: {check['units_calibrated_as']}): extraction "
              f"{ex['projected']:.0f} s projected, {ex['measured']:.0f} s measured; methods "
              f"{me['projected']:.0f} s projected, {me['measured']:.0f} s measured"
              + (f" (not calibrated: {', '.join(me['not_calibrated'])})" if me["not_calibrated"] else ""))


if __name__ == "__main__":
    main()
