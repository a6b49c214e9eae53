"""Results: the store (`store.py`: unit folders on disk, written by the run) and what reads them:
tables, plots, leaderboard, compare, goldens, report, audit, known answers.

The store imports only the stages to the left of the run. The tables, plots, leaderboard, compare
and report read the results folder alone (no data, features, methods or run); the goldens, the
audit and the known answers may also use the registered methods, the data and the run (they make
or check runs of their own). Nothing here imports the CLI."""
