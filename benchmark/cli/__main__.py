"""`python -m benchmark.cli` = `bench`."""
import sys

from benchmark.cli import main

sys.exit(main())
