"""Executors: how the (method, seed) units of a prepared run are carried out.

An executor takes a prepared `RunPlan` and the units still to do, runs each through
`benchmark.run.unit.run_unit` and returns the unit folders. `EXECUTORS` maps a name to a factory
that imports the executor only when it is chosen (`ray` needs `pip install .[ray]`).
"""
from __future__ import annotations

from benchmark.registry import Registry

EXECUTORS: Registry = Registry("executor")


@EXECUTORS.register("local")
def _local(address: str | None = None, workers: int | None = None):
    """Units on this machine, in `workers` processes (None: one per core on the CPU)."""
    from benchmark.run.runner import LocalExecutor

    if address:
        raise ValueError("--address is a Ray cluster address; it needs --executor ray")
    return LocalExecutor(workers)


@EXECUTORS.register("ray")
def _ray(address: str | None = None, workers: int | None = None):
    """Each unit one Ray task, on a local cluster or the one at `address`."""
    from benchmark.run.executors.ray_executor import RayExecutor

    if workers is not None:
        raise ValueError("--workers sets the local executor's processes; Ray places units itself")
    return RayExecutor(address=address)
