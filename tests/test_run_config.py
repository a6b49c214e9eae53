"""`bench run --config`: every option of `bench run` is a key (options added later too), the
round trip file -> run -> printed config -> same run, the command line over the file, errors that
name the file and the key, and `--dry-run` (which computes and writes nothing)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from benchmark.cli import _config as C
from benchmark.cli import _options as O
from benchmark.cli import build_parser, main
from benchmark.cli import run as run_cli
from benchmark.results import store as R


def _run_parser() -> argparse.ArgumentParser:
    return build_parser().subcommands["run"]


def test_every_option_of_bench_run_is_a_key():
    sub = _run_parser()
    options = {s[2:] for a in sub._actions for s in a.option_strings if s.startswith("--")}
    assert set(C.config_actions(sub)) == options - {"help", "config", "print-config", "dry-run"}
    assert {"method", "seeds", "synth-seed", "no-label-guard", "backbone", "save-maps"} <= options


def test_an_option_added_later_is_a_key_without_more_code(tmp_path):
    parser = argparse.ArgumentParser(prog="bench")
    sub = parser.add_subparsers(dest="command")
    run_cli.add_parser(sub)
    parser.subcommands = sub.choices
    r = sub.choices["run"]  # what another engineer's option looks like, added to `bench run`
    r.add_argument("--future-policy", choices=("last", "val"), default="last")
    r.add_argument("--future-list", type=O.csv_list, default=())
    r.add_argument("--future-path", type=Path)
    r.add_argument("--future-flag", action="store_true")
    path = tmp_path / "new.toml"
    path.write_text('future-policy = "val"\nfuture-list = ["a", "b"]\nfuture-path = "/m"\n'
                    'future-flag = true\nselection = "val"\nrerun = true\n')
    argv = ["run", "--config", str(path)]
    args = C.resolve(parser, r, parser.parse_args(argv), argv)
    assert (args.future_policy, args.future_list, args.future_path, args.future_flag) == (
        "val", ("a", "b"), Path("/m"), True)
    assert (args.selection, args.rerun) == ("val", True)  # options that arrived since
    for line in ('future-policy = "val"', 'future-list = ["a", "b"]', 'future-path = "/m"',
                 "future-flag = true", 'selection = "val"', "rerun = true"):
        assert line in args.config_text.splitlines()


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.slow
def test_round_trip_file_run_printed_config_same_run(tiny_twin, tmp_path, readme_method, capsys):
    out, cache = tmp_path / "out", tmp_path / "cache"
    first = _write(tmp_path / "first.toml", "\n".join([
        f'method = ["{readme_method}"]', "seeds = [0, 1]", f'root = "{tiny_twin}"', f'out = "{out}"',
        f'cache = "{cache}"', 'run = "from-file"', "no-table = true", ""]))
    assert main(["run", "--config", str(first)]) == 0
    run_dir = out / "from-file"
    assert [(u.method, u.seed) for u in R.load_run(run_dir)] == [(readme_method, 0), (readme_method, 1)]
    saved = (run_dir / run_cli.CONFIG_FILE).read_text()
    capsys.readouterr()

    assert main(["run", "--config", str(first), "--print-config"]) == 0
    printed = capsys.readouterr().out
    assert printed == saved  # the resolved config is the one saved with the results
    lines = printed.splitlines()
    assert "seeds = [0, 1]" in lines and 'profile = "quick"' in lines and "no-label-guard = false" in lines
    # the same options on the command line resolve to the same configuration
    assert main(["run", "--method", readme_method, "--seeds", "0,1", "--root", str(tiny_twin),
                 "--out", str(out), "--cache", str(cache), "--run", "from-file", "--no-table",
                 "--print-config"]) == 0
    assert capsys.readouterr().out == printed

    second = _write(tmp_path / "printed.toml", printed)
    assert main(["run", "--config", str(second), "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert "units: 2 (2 done, 0 to run)" in dry and f"run folder: {run_dir}" in dry
    finished = {u.seed: (u.folder / "metrics.json").stat().st_mtime_ns for u in R.load_run(run_dir)}
    run_json = json.loads((run_dir / "run.json").read_text())
    assert main(["run", "--config", str(second)]) == 0  # the same run: nothing is recomputed
    assert {u.seed: (u.folder / "metrics.json").stat().st_mtime_ns for u in R.load_run(run_dir)} == finished
    assert json.loads((run_dir / "run.json").read_text())["config"] == run_json["config"]
    assert (run_dir / run_cli.CONFIG_FILE).read_text() == printed
    assert (run_dir / "leaderboard.csv").exists() and (run_dir / "summary.csv").exists()


def test_command_line_wins_over_the_file(tmp_path, capsys):
    path = _write(tmp_path / "c.toml", 'profile = "paper"\nseeds = [3, 4]\nsave_maps = true\n')
    assert main(["run", "--config", str(path), "--profile", "quick", "--print-config"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert 'profile = "quick"' in lines and "seeds = [3, 4]" in lines and "save-maps = true" in lines


@pytest.mark.parametrize("text, message", [
    ("sedes = [0]\n", "key 'sedes' is not an option of `bench run` (did you mean 'seeds'?)"),
    ('seeds = "a,b"\n', "key 'seeds': seeds must be integers separated by commas"),
    ('profile = "fast"\n', "key 'profile': 'fast' is not one of quick, paper"),
    ("no-table = 1\n", "key 'no-table': expected true or false, got 1"),
    ('backbone = ["vjepa2"]\n', "key 'backbone': expected NAME=HUB_ID_OR_FOLDER"),
    ("seeds = [0\n", "not a valid TOML file"),
])
def test_bad_file_names_the_file_and_the_key(tmp_path, capsys, text, message):
    path = _write(tmp_path / "bad.toml", text)
    assert main(["run", "--config", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"bench: error: {path}: ") and message in err and "Traceback" not in err


def test_missing_file(tmp_path, capsys):
    assert main(["run", "--config", str(tmp_path / "absent.toml")]) == 2
    assert f"{tmp_path / 'absent.toml'}: no such configuration file" in capsys.readouterr().err


def test_dry_run_writes_nothing(tiny_twin, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "--method", "patchcore,concat_ae_av", "--seeds", "0,1", "--root", str(tiny_twin),
                 "--out", str(out), "--executor", "ray", "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "units: 4 (0 done, 4 to run)" in text
    for extractor in ("pixels", "vjepa2", "ast"):  # nothing cached in a fresh --out
        assert any(line.split()[:2] == [extractor, "0"] for line in text.splitlines()), extractor
    assert "patchcore/seed1: 1 CPUs, 0 GPUs" in text and "4 Ray tasks" in text
    assert not out.exists()  # no run folder, no feature cache
