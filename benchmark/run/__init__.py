"""The protocol: a run's plan and preflight checks, one unit, the runner and its executors, what a
unit costs, where a run's time went, fingerprints, the run lock and the dry run. Imports the stages
to its left (data, features, method and methods, metrics, the results store), never the readers
of `benchmark.results` or the CLI."""
