"""A run is named by its path or by its name in results/; `bench table --out` takes a folder or a
.tex file and never overwrites anything else; a path the OS refuses and Ctrl-C give one line, no
traceback (exit 2 and 130). In-process and fast: the run folder holds FABRICATED units
(`test_tables.make_fixture_run`), no benchmark is run."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from benchmark.cli import main
from test_tables import make_fixture_run

METHODS = ("late_fusion", "causal_film")  # two methods of the fixture: enough for every command
TEX = ["efficiency.tex", "main.tex", "per_category_detection.tex", "tables.md"]


@pytest.fixture(scope="module")
def fixture_run(tmp_path_factory) -> Path:
    return make_fixture_run(tmp_path_factory.mktemp("paths"), names=METHODS)


@pytest.fixture
def here(fixture_run, tmp_path, monkeypatch) -> Path:
    """A working folder whose results/ holds the fixture run as `myrun`."""
    shutil.copytree(fixture_run, tmp_path / "results" / "myrun")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _one_line(capsys, *needles: str) -> str:
    """The command's only stderr line (no traceback anywhere), which names every needle."""
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert all(n in lines[0] for n in needles), lines[0]
    return lines[0]


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _read_only(folder: Path) -> Path:
    folder.mkdir()
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):  # root writes anyway: nothing to refuse
        folder.chmod(0o755)
        pytest.skip("this user can write into a read-only folder (root)")
    return folder


# ---------------------------------------------------------------------------- A: run names
def test_a_bare_run_name_resolves_under_results(here, capsys):
    assert main(["show", "myrun"]) == 0
    assert "run: results/myrun" in capsys.readouterr().out
    assert main(["table", "myrun", "--out", "t/"]) == 0
    assert _names(here / "t") == TEX
    assert main(["compare", "myrun", *METHODS, "--n-boot", "20"]) == 0
    assert any(line.startswith("all ") for line in capsys.readouterr().out.splitlines())


def test_a_path_still_names_a_run(here, capsys):
    assert main(["show", str(here / "results" / "myrun")]) == 0
    assert main(["show", "results/myrun"]) == 0
    assert "run: results/myrun" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [
    ["show", "nosuch"], ["table", "nosuch"], ["plot", "nosuch"], ["report", "nosuch", "--html", "h"],
    ["compare", "nosuch", *METHODS], ["known-answers", "nosuch"], ["golden", "check", "nosuch"]],
    ids=lambda argv: argv[0] if argv[0] != "golden" else "golden-check")
def test_an_unknown_run_is_one_line_naming_both_places(here, capsys, argv):
    assert main(argv) == 2
    _one_line(capsys, "bench: error: nosuch", "./nosuch", str(Path("results") / "nosuch"))
    assert _names(here) == ["results"]  # nothing written


def test_an_unknown_path_is_one_line(here, capsys):
    assert main(["show", "elsewhere/nosuch"]) == 2
    _one_line(capsys, "elsewhere/nosuch: no such run folder")


# ---------------------------------------------------------------------------- B: table --out
def test_table_out_an_existing_folder_gets_main_tex(here, capsys):
    (here / "paper").mkdir()
    assert main(["table", "myrun", "--out", "paper"]) == 0
    assert _names(here / "paper") == TEX
    assert f"wrote {Path('paper') / 'main.tex'}" in capsys.readouterr().out


@pytest.mark.parametrize("out", ["new/", "new", "deep/er/"])
def test_table_out_a_new_folder(here, out):
    assert main(["table", "myrun", "--out", out]) == 0
    assert _names(here / out) == TEX


def test_table_out_a_tex_file_is_as_before(here):
    assert main(["table", "myrun", "--out", "tables/main.tex"]) == 0  # the README's and make's
    assert _names(here / "tables") == TEX
    assert main(["table", "myrun", "--out", "p/results.tex"]) == 0  # its Markdown takes its stem
    assert _names(here / "p") == ["efficiency.tex", "per_category_detection.tex", "results.md",
                                  "results.tex"]


def test_table_out_another_suffix_is_refused(here, capsys):
    (here / "notes.txt").write_text("my notes")
    assert main(["table", "myrun", "--out", "notes.txt"]) == 2
    _one_line(capsys, "--out notes.txt", "a folder or a .tex file")
    assert (here / "notes.txt").read_text() == "my notes"
    assert _names(here) == ["notes.txt", "results"]  # nothing beside it


@pytest.mark.parametrize("out", ["afile/main.tex", "afile/sub/", "afile/sub"])
def test_table_out_under_a_file_is_refused(here, capsys, out):
    (here / "afile").write_text("not a folder")
    assert main(["table", "myrun", "--out", out]) == 2
    _one_line(capsys, "--out", "afile is a file, not a folder")
    assert (here / "afile").read_text() == "not a folder"


# ---------------------------------------------------------------------------- C: bad places
def test_table_into_a_read_only_folder(here, capsys):
    ro = _read_only(here / "ro")
    try:
        assert main(["table", "myrun", "--out", "ro/t/"]) == 2
        _one_line(capsys, f"--out {Path('ro') / 't'}: ro is not writable")
    finally:
        ro.chmod(0o755)


def test_table_into_a_read_only_run_by_default(here, capsys):
    run = here / "results" / "myrun"
    run.chmod(0o555)
    try:
        if os.access(run, os.W_OK):
            pytest.skip("this user can write into a read-only folder (root)")
        assert main(["table", "myrun"]) == 2  # the tables' default place is inside the run
        _one_line(capsys, f"bench: error: {Path('results') / 'myrun' / 'tables'}: Permission denied")
    finally:
        run.chmod(0o755)


def test_json_into_a_read_only_folder_or_a_bad_path(here, capsys):
    ro = _read_only(here / "ro")
    compare = ["compare", "myrun", *METHODS, "--n-boot", "20", "--json"]
    try:
        assert main([*compare, "ro/c.json"]) == 2
        _one_line(capsys, f"bench: error: {Path('ro') / 'c.json'}: Permission denied")
    finally:
        ro.chmod(0o755)
    (here / "afile").write_text("not a folder")
    assert main([*compare, "afile/c.json"]) == 2
    _one_line(capsys, f"{Path('afile') / 'c.json'}: Not a directory")
    assert main([*compare, "ro"]) == 2  # a folder where the file should go
    _one_line(capsys, "ro: Is a directory")


def test_report_and_plot_refuse_a_folder_under_a_file_at_once(here, capsys):
    (here / "afile").write_text("not a folder")
    assert main(["report", "myrun", "--html", "afile/page"]) == 2
    _one_line(capsys, "--html", "afile is a file, not a folder")
    assert main(["plot", "myrun", "--out", "afile/plots"]) == 2
    _one_line(capsys, "--out", "afile is a file, not a folder")


# ---------------------------------------------------------------------------- C: Ctrl-C, pipes
def test_ctrl_c_in_a_command_is_one_line_exit_130(here, capsys, monkeypatch):
    from benchmark.cli import show

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(show, "command", interrupted)
    assert main(["show", "myrun"]) == 130
    assert _one_line(capsys) == "bench: interrupted"


def test_ctrl_c_in_a_run_says_it_resumes(here, capsys, monkeypatch):
    import benchmark.run.runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(benchmark.run.runner, "run", interrupted)
    assert main(["run", "--method", "late_fusion", "--out", str(here / "runs"), "--no-table"]) == 130
    assert _one_line(capsys) == "bench: interrupted; rerun to resume"


def test_a_closed_stdout_pipe_is_quiet(here, capsys, monkeypatch):
    from benchmark.cli import show

    def reader_left(args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(show, "command", reader_left)
    assert main(["show", "myrun"]) == 141
    assert capsys.readouterr() == ("", "")
