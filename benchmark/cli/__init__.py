"""The `bench` command: one module per subcommand, each with `add_parser(sub)` and its command
function; heavy imports stay inside the commands so that `bench --help` is fast. It may import
every stage; no library module imports this package."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from benchmark.cli import (audit, compare, data, golden, known, listing, models, plot, report, run,
                           runs, show, table)
from benchmark.cli._options import PROG

SUBCOMMANDS = (run, listing, data, models, runs, show, table, compare, plot, report, golden, audit,
               known)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Weld-4M multimodal anomaly detection benchmark")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages too")
    sub = p.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    p.subcommands = sub.choices  # name -> parser: a configuration file sets one parser's defaults
    return p


def main(argv: list[str] | None = None) -> int:
    args = None
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        return _call(parser, args, argv)
    except KeyboardInterrupt:
        # NOTE: Ctrl-C is a choice, not a failure: one line, no traceback. A run keeps the units it
        # finished (each is written whole), so the same command resumes it.
        resumable = getattr(args, "command", None) == "run"
        print("bench: interrupted" + ("; rerun to resume" if resumable else ""), file=sys.stderr)
        return 130


def _call(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str] | None) -> int:
    """Run the parsed subcommand; bad input and a path the OS refuses give one line, exit 2."""
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    from benchmark.cli._config import ConfigError, resolve
    from benchmark.cli._options import OptionError
    from benchmark.data.sample import DataError
    from benchmark.data.split import ProtocolError
    from benchmark.method import ShadowedPackageError
    from benchmark.registry import UnknownNameError
    from benchmark.results.store import ResultsError
    from benchmark.run.preflight import RunOptionError

    try:
        if hasattr(args, "config"):  # a subcommand that takes --config
            args = resolve(parser, parser.subcommands[args.command], args, argv)
            if args.print_config:
                print(args.config_text, end="")
                return 0
        return args.func(args)
    except BrokenPipeError:  # NOTE: the reader of stdout left (`bench show | head`): nothing to say
        _drop_stdout()
        return 141  # 128 + SIGPIPE: what a shell reports for a writer whose pipe closed
    except OSError as e:
        if e.filename is None and e.errno is not None and not isinstance(e, FileNotFoundError):
            raise  # NOTE: an OS error that names no path (a full disk mid-write, a socket)
        logging.getLogger("bench").debug("where it happened (bench -v):", exc_info=e)
        return _error(_os_error_text(e))
    except (DataError, ProtocolError, UnknownNameError, ConfigError, OptionError,
            ResultsError, RunOptionError, ShadowedPackageError) as e:
        # NOTE: bad input gets one clear line naming the file and the problem, not a traceback
        return _error(e.args[0] if isinstance(e, KeyError) and e.args else e)


def _os_error_text(e: OSError) -> str:
    """'PATH: REASON' for an OS error on a path (a read-only folder, a parent that is a file);
    the message itself for one the suite raised with its own words (no errno)."""
    if e.filename is None:
        return str(e)
    paths = " -> ".join(str(p) for p in (e.filename, e.filename2) if p is not None)
    return f"{paths}: {e.strerror}"


def _drop_stdout() -> None:
    """Point stdout at /dev/null, or Python complains of the closed pipe again when it flushes at exit."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # a stdout with no file descriptor (captured): nothing is flushed to a pipe
        pass


def _error(message) -> int:
    print(f"bench: error: {message}", file=sys.stderr)
    return 2
