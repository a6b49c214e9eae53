"""Executors beyond the in-process default (`benchmark.runner.LocalExecutor`).

An executor takes a prepared `RunPlan` and the (method, seed) units still to do, runs each through
`benchmark.runner.run_unit` and returns the unit folders. Each lives in its own module so that its
optional dependency is imported only when it is chosen (`bench run --executor ray` imports
`benchmark.executors.ray_executor`, which needs `pip install .[ray]`).
"""
