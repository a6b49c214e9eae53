"""Option parsers and option groups shared by the subcommands (one copy of each)."""
from __future__ import annotations

import argparse
from pathlib import Path

PROG = "bench"  # the command's name, first word of every parser's usage line


class DefaultsFormatter(argparse.HelpFormatter):
    """`--help` with each option's default once, as it would be typed: a list as 'a,b', no
    default where the help text already says it, nor for flags and options without one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("default" in text or not action.option_strings or default is None
                or default is False or default == () or default == [] or default is argparse.SUPPRESS):
            return text
        shown = ",".join(map(str, default)) if isinstance(default, (tuple, list)) else str(default)
        return f"{text} (default: {shown.replace('%', '%%')})"


def csv_list(text: str) -> tuple[str, ...]:
    """'a, b,c' -> ('a', 'b', 'c')."""
    return tuple(t.strip() for t in text.split(",") if t.strip())


def seeds(text: str) -> tuple[int, ...]:
    """'0, 1,2' -> (0, 1, 2); their range is checked with the other run options
    (`benchmark.run.preflight`)."""
    try:
        return tuple(int(t) for t in csv_list(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be integers separated by commas, got {text!r}")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def backbone_source(text: str) -> tuple[str, str]:
    name, sep, source = text.partition("=")
    if not sep or not source:
        raise argparse.ArgumentTypeError(f"expected NAME=HUB_ID_OR_FOLDER, got {text!r}")
    return name, source


backbone_source.unparse = "=".join  # the pair back to its text, for configuration files


def add_profile(p: argparse.ArgumentParser) -> None:
    from benchmark.profiles import PROFILES

    p.add_argument("--profile", choices=list(PROFILES), default="quick",
                   help="quick: tiny backbones, CPU; paper: pretrained backbones at paper resolutions")


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                   help="where backbones and methods run (cuda: checked before the run starts)")


def add_seeds(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seeds", type=seeds, default=(0,), help="e.g. 0,1,2")


def add_cache(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cache", type=Path, help="feature cache folder (default: <out>/.feature_cache)")


def add_synth_seed(p: argparse.ArgumentParser) -> None:
    p.add_argument("--synth-seed", type=int, default=0,
                   help="seed of the synthetic twin generated when no --root is given")


def add_confounds(p: argparse.ArgumentParser, flag: str = "--synth-confounds", default: str = "real",
                  help: str = "confounds of the synthetic twin: real (Weld-4M's recipes and "
                              "recording sessions, with their shortcuts) or none (the same "
                              "configurations for every category, sessions joined at random)"
                  ) -> None:
    from benchmark.data.synth.process import CONFOUND_MODES

    p.add_argument(flag, choices=CONFOUND_MODES, default=default, help=help)


RESULTS = Path("results")  # where `bench run` writes its run folders and `bench runs` lists them
RUN_HELP = f"a run folder, or a run's name in {RESULTS}/ as `bench runs` lists it"


class OptionError(ValueError):
    """An option value a command cannot use; the message names the option and the value."""


def add_run_dir(p: argparse.ArgumentParser, help_text: str = f"{RUN_HELP} (default: the latest run)") -> None:
    p.add_argument("run_dir", type=Path, nargs="?", default=None, metavar="RUN", help=help_text)


def find_run(run: Path | str | None, results: Path = RESULTS) -> Path:
    """The run folder a command reads: `run` as a path to a folder, else as a bare run name
    under `results` (the path wins where both exist: it was always read so); None: the latest
    run under `results`. An unknown run raises FileNotFoundError naming where it was looked for."""
    if run is None:
        from benchmark.results.tables import latest_run

        return latest_run(results)
    path = Path(run)
    if path.is_dir():
        return path
    named = Path(results) / path
    is_name = len(path.parts) == 1 and not path.is_absolute()
    if is_name and named.is_dir():
        return named
    if not is_name:
        raise FileNotFoundError(f"{run}: no such run folder")
    raise FileNotFoundError(f"{run}: no such run: neither ./{path} nor {named} is a folder "
                            f"(`bench runs` lists the runs)")


def check_output_folder(option: str, folder: Path) -> None:
    """Fail before any work when `folder` cannot be made or written to (a parent that is a
    file, no permission), with one line naming the option and the place."""
    from benchmark.run.preflight import check_writable  # the check `bench run --out` makes

    check_writable(option, Path(folder))
