"""weld-bench: multimodal anomaly detection on Weld-4M.

The package is laid out by stage and flows one way, left to right: a module imports only modules
of its own stage or of stages to its left, and no modules import one another in a cycle
(tests/test_architecture.py checks both, function-level imports included).
"""

STAGES: tuple[tuple[str, ...], ...] = (
    ("benchmark.registry", "benchmark.profiles"),  # infrastructure: one registry, typed profiles
    ("benchmark.metrics",),  # numbers from scores, labels and maps; imports nothing of the suite
    ("benchmark.data",),  # dataset folder -> Sample records, decoders, split, checks, confounds, twin
    ("benchmark.features",),  # frozen backbones and the feature cache
    ("benchmark.method", "methods"),  # the adapter contract and the adapters
    ("benchmark.results.store",),  # unit folders on disk: the run writes them, results/ reads them
    ("benchmark.run",),  # the protocol: plan, units, runner, executors, one writer per run, dry run
    ("benchmark.results",),  # what reads results: tables, plots, leaderboard, compare, report, ...
    ("benchmark.cli",),  # the `bench` command
)
