"""Configuration files for a subcommand: every option of its argparse parser is a key.

    bench run --config run.toml [more options]     # the file's values, then the command line's
    bench run --config run.toml --print-config     # the resolved configuration, as TOML

The keys come from the parser itself (the long option without `--`, e.g. `seeds`, `synth-seed`,
`no-label-guard`), so an option added to a subcommand is a key at once. A value is what the
command line takes: a flag is `true` / `false`, a comma list (`--method a,b`) is an array or the
same string, a repeated option (`--backbone`) is an array, paths are relative to the working
directory. The file's values become the parser's defaults and the command line is parsed again,
so an option given on the command line always wins.

NOTE: jsonargparse builds this from typed signatures, but reads YAML/JSON, prints YAML and would
replace argparse under every subcommand; the parser we already have is the one source of the keys.
"""
from __future__ import annotations

import argparse
import difflib
import json
import math
import tomllib
from pathlib import Path
from typing import Any

# Options about the invocation, not about what is computed: never keys.
INVOCATION = ("help", "config", "print_config", "dry_run")


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file and the key."""


def add_config_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, metavar="TOML",
                   help="read options from a TOML file (keys: the long options without --); "
                        "options on the command line win")
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved configuration as TOML and exit")


def config_actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Key -> action for every option of `parser` that configures what is computed."""
    out = {}
    for action in parser._actions:  # NOTE: argparse has no public list of a parser's actions
        if action.dest in INVOCATION or action.dest == argparse.SUPPRESS:
            continue
        longs = [s for s in action.option_strings if s.startswith("--")]
        out[longs[0][2:] if longs else action.dest] = action
    return out


# ---------------------------------------------------------------------------- reading
def read_config(path: Path, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """dest -> value for each key of the TOML file at `path`, converted as the command line would
    convert it (types, choices); unknown keys and bad values raise ConfigError naming both."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such configuration file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not a valid TOML file ({e})") from None
    actions = config_actions(parser)
    out = {}
    for key, value in data.items():
        action = actions.get(key) or actions.get(key.replace("_", "-"))
        if action is None:
            hint = difflib.get_close_matches(key, actions, n=1)
            raise ConfigError(f"{path}: key {key!r} is not an option of `{parser.prog}`"
                              + (f" (did you mean {hint[0]!r}?)" if hint else "")
                              + f"; keys: {', '.join(actions)}")
        out[action.dest] = _convert(action, value, lambda problem: ConfigError(f"{path}: key {key!r}: {problem}"))
    return out


def _convert(action: argparse.Action, value: Any, error) -> Any:
    if action.nargs == 0:  # a flag: store_true, store_false, store_const, --x/--no-x
        if not isinstance(value, bool):
            raise error(f"expected true or false, got {value!r}")
        if isinstance(action, argparse.BooleanOptionalAction):
            return value
        return action.const if value else action.default
    if isinstance(value, dict):
        raise error("expected a value, got a table")
    if _repeated(action):
        return [_one(action, v, error) for v in (value if isinstance(value, list) else [value])]
    if isinstance(value, list):  # a comma list option: the array is the list the command line takes
        value = ",".join(map(str, value))
    return _one(action, value, error)


def _repeated(action: argparse.Action) -> bool:
    """An option that collects several values (repeated, or nargs): its value is an array."""
    # NOTE: argparse exposes no public class for `action="append"`
    return (isinstance(action, argparse._AppendAction) or action.nargs in ("*", "+")
            or (isinstance(action.nargs, int) and action.nargs > 0))


def _one(action: argparse.Action, value: Any, error) -> Any:
    if isinstance(value, (bool, dict, list)):
        raise error(f"expected a single value, got {value!r}")
    try:
        out = action.type(str(value)) if action.type else str(value)
    except (argparse.ArgumentTypeError, TypeError, ValueError) as e:
        raise error(str(e) or f"invalid value {value!r}") from None
    if action.choices is not None and out not in action.choices:
        raise error(f"{out!r} is not one of {', '.join(map(str, action.choices))}")
    return out


# ---------------------------------------------------------------------------- writing
def dumps(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    """The resolved configuration as TOML: every key, in the parser's order; an option that is
    not set is a comment (TOML has no null)."""
    lines = [f"# resolved configuration of `{parser.prog}`: every key is one of its options",
             "# (see --help); relative paths are relative to the working directory"]
    for key, action in config_actions(parser).items():
        value = _toml_value(action, getattr(args, action.dest, None))
        lines.append(f"# {key}: not set" if value is None else f"{key} = {value}")
    return "\n".join(lines) + "\n"


def _toml_value(action: argparse.Action, value: Any) -> str | None:
    if action.nargs == 0 and not isinstance(action, argparse.BooleanOptionalAction):
        value = value == action.const
    if value is None:
        return None
    # NOTE: a type whose parsed value is not its text (NAME=SOURCE -> a pair) says how to write it
    unparse = getattr(action.type, "unparse", lambda v: v)
    if _repeated(action):
        return "[" + ", ".join(_scalar(unparse(v)) for v in value) + "]"
    value = unparse(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    return _scalar(value)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    # NOTE: a JSON string is a valid TOML basic string (same escapes)
    return json.dumps(str(value), ensure_ascii=False)


# ---------------------------------------------------------------------------- the two passes
def resolve(parser: argparse.ArgumentParser, sub: argparse.ArgumentParser,
            args: argparse.Namespace, argv: list[str] | None) -> argparse.Namespace:
    """Parse again with the config file's values as the subcommand's defaults (the command line
    wins); the result carries `config_text`, the resolved configuration as TOML."""
    if args.config is not None:
        sub.set_defaults(**read_config(args.config, sub))
        args = parser.parse_args(argv)
    args.config_text = dumps(args, sub)
    return args
