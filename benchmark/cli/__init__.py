"""The `bench` command: one module per subcommand, each with `add_parser(sub)` and its command
function; heavy imports stay inside the commands so that `bench --help` is fast. No library
module imports this package."""
from __future__ import annotations

import argparse
import logging
import sys

from benchmark.cli import audit, data, golden, listing, models, plot, run, table

SUBCOMMANDS = (run, listing, data, models, table, plot, golden, audit)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench", description="Weld-4M multimodal anomaly detection benchmark")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    from benchmark.data.sample import DataError
    from benchmark.data.split import ProtocolError
    from benchmark.registry import UnknownNameError

    try:
        return args.func(args)
    except (DataError, ProtocolError, FileNotFoundError, UnknownNameError) as e:
        # NOTE: bad input gets one clear line naming the file and the problem, not a traceback
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"bench: error: {msg}", file=sys.stderr)
        return 2
