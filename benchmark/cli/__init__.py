"""The `bench` command: one module per subcommand, each with `add_parser(sub)` and its command
function; heavy imports stay inside the commands so that `bench --help` is fast. No library
module imports this package."""
from __future__ import annotations

import argparse
import logging
import sys

from benchmark.cli import (audit, compare, data, golden, known, listing, models, plot, report, run,
                           runs, show, table)

SUBCOMMANDS = (run, listing, data, models, runs, show, table, compare, plot, report, golden, audit,
               known)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench", description="Weld-4M multimodal anomaly detection benchmark")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages too")
    sub = p.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    p.subcommands = sub.choices  # name -> parser: a configuration file sets one parser's defaults
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    from benchmark.cli._config import ConfigError, resolve
    from benchmark.data.sample import DataError
    from benchmark.data.split import ProtocolError
    from benchmark.method import ShadowedPackageError
    from benchmark.preflight import RunOptionError
    from benchmark.registry import UnknownNameError
    from benchmark.results import ResultsError

    try:
        if hasattr(args, "config"):  # a subcommand that takes --config
            args = resolve(parser, parser.subcommands[args.command], args, argv)
            if args.print_config:
                print(args.config_text, end="")
                return 0
        return args.func(args)
    except (DataError, ProtocolError, FileNotFoundError, UnknownNameError, ConfigError,
            ResultsError, RunOptionError, ShadowedPackageError) as e:
        # NOTE: bad input gets one clear line naming the file and the problem, not a traceback
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"bench: error: {msg}", file=sys.stderr)
        return 2
