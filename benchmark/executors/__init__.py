"""Executors: how the (method, seed) units of a prepared run are carried out.

An executor takes a prepared `RunPlan` and the units still to do, runs each through
`benchmark.runner.run_unit` and returns the unit folders. `EXECUTORS` maps a name to a factory
that imports the executor only when it is chosen (`ray` needs `pip install .[ray]`).
"""
from __future__ import annotations

from benchmark.registry import Registry

EXECUTORS: Registry = Registry("executor")


@EXECUTORS.register("local")
def _local(address: str | None = None):
    """Units one after another in this process (the default)."""
    from benchmark.runner import LocalExecutor

    if address:
        raise ValueError("--address is a Ray cluster address; it needs --executor ray")
    return LocalExecutor()


@EXECUTORS.register("ray")
def _ray(address: str | None = None):
    """Each unit one Ray task, on a local cluster or the one at `address`."""
    from benchmark.executors.ray_executor import RayExecutor

    return RayExecutor(address=address)
