"""weld-bench: multimodal anomaly detection on Weld-4M.

The package flows one way, left to right: a module imports only modules of its own stage or of
stages to its left (tests/test_architecture.py checks the import graph against this order, and
that no two modules import each other at load time).
"""

STAGES: tuple[tuple[str, ...], ...] = (
    ("benchmark.registry", "benchmark.profiles"),  # infrastructure: one registry, typed profiles
    ("benchmark.data",),  # dataset folder -> Sample records, decoders, split, twin, checks
    ("benchmark.features",),  # frozen backbones and the feature cache
    ("benchmark.method", "methods"),  # the adapter contract and the adapters
    ("benchmark.metrics",),  # numbers from scores, labels and maps
    ("benchmark.results", "benchmark.run_lock"),  # unit folders on disk, one writer per run
    ("benchmark.plan", "benchmark.resources", "benchmark.fingerprint", "benchmark.unit",  # the
     "benchmark.stages", "benchmark.runner", "benchmark.executors",  # protocol
     "benchmark.dryrun", "benchmark.preflight"),
    ("benchmark.tables", "benchmark.plots", "benchmark.golden", "benchmark.audit",  # read results
     "benchmark.leaderboard", "benchmark.compare", "benchmark.report",
     "benchmark.confound_report", "benchmark.known_answers"),  # (or a manifest)
    ("benchmark.cli",),  # the `bench` command
)
