"""What a unit costs: peak memory while it runs, parameters and time per sample (the frozen
backbones apart from the method's own part), and keeping freed memory from piling up between
units."""
from __future__ import annotations

import ctypes
import sys
import threading
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from benchmark.run.plan import RunPlan


MMAP_THRESHOLD = 16 * 2**20  # bytes; see return_freed_memory


def return_freed_memory() -> None:
    """Keep freed memory from piling up in this process (each unit calls it first): glibc's mmap
    threshold fixed at `MMAP_THRESHOLD`, and the free heap pages given back.

    NOTE: glibc raises its mmap threshold after large frees (up to 32 MiB); from then on tens-of-MB
    temporaries come from the heap, and a loop that allocates one per step (anomalib's
    KCenterGreedy on the CPU) left ~12 GiB resident after a few other units had run. A fixed
    threshold turns that adjustment off. At glibc's default of 128 KiB every tensor above it was
    a fresh mapping and a third of a unit's time went into page faults (causal_film_tokens and
    m3dm: 70 s, 32 s of it in the kernel); at 16 MiB 48 s, 8 s in the kernel.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt(-3, MMAP_THRESHOLD)  # M_MMAP_THRESHOLD
            libc.malloc_trim(0)
        except (OSError, AttributeError):  # another C library: nothing to fix
            pass


class PeakMemory:
    """Peak resident memory of this process while the block runs (sampled every 20 ms): `peak`,
    all resident pages; `private_peak`, those of this process alone (resident minus file-backed
    and shared pages: memory-mapped feature files are the page cache's, which the kernel drops
    and reads again under pressure)."""

    def __enter__(self):
        import psutil

        self._proc, self._stop = psutil.Process(), threading.Event()
        self.peak = self.private_peak = 0
        self._measure()
        self.private_start = self.private_peak  # what the process held before the block
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        return self

    def _measure(self):
        info = self._proc.memory_info()
        self.peak = max(self.peak, info.rss)
        self.private_peak = max(self.private_peak, info.rss - getattr(info, "shared", 0))

    def _sample(self):
        while not self._stop.wait(0.02):
            self._measure()

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._measure()
        self.cuda_peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else 0


def unit_costs(method, plan: RunPlan, features) -> dict:
    """Parameters and time per sample, the frozen backbones apart from the method's own part:
    cached backbones as the extraction log measured them, plus any frozen encoder the method runs
    itself (its time is inside the method's inference time)."""
    own_backbones = {id(p) for m in method.backbone_modules() for p in m.parameters()}
    params = list({id(p): p for m in method.torch_modules() for p in m.parameters()}.values())
    head = [p for p in params if id(p) not in own_backbones]
    backbones = {name: plan.feature_costs.get(name, {}) for name in plan.store().sources(features)}
    own = sum(p.numel() for p in params if id(p) in own_backbones)
    return {
        "backbones": backbones,
        "backbone_parameters": own + sum(c.get("parameters") or 0 for c in backbones.values()),
        "backbone_parameters_own": own,
        "backbone_ms_per_sample": sum(c.get("ms_per_sample") or 0.0 for c in backbones.values()),
        "parameters_total": sum(p.numel() for p in head),
        "parameters_trainable": sum(p.numel() for p in head if p.requires_grad),
        "memory_bank_bytes": int(method.memory_bank_bytes()),
    }
