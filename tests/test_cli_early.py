"""A bad option fails at once: one `bench: error:` line naming the value, exit 2, no traceback,
nothing written (the dry run too). A plugin that fails to import is named and skipped; a
`methods` package that shadows the suite's is named. All in-process and fast (no dataset is
read: the options are checked before the run is planned)."""
from __future__ import annotations

import sys

import pytest

from benchmark.cli import main
from benchmark.method import METHODS, ShadowedPackageError, load_methods


def _one_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bench: error: "), err
    assert all(n in err[0] for n in needles), err[0]
    return err[0]


def _cases(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    models = tmp_path / "models-without-lock"
    models.mkdir()
    return {
        "seed below 0": (["--seeds=-1"], ("--seeds", "-1")),
        "seed above 2^32-1": (["--seeds", "4294967296"], ("--seeds", "4294967296")),
        "no seed": (["--seeds", ""], ("--seeds",)),
        "no method": (["--method", ""], ("--method",)),
        "missing models folder": (["--profile", "paper", "--models", str(tmp_path / "nope")],
                                  ("--models", "no such folder")),
        "models without lock": (["--profile", "paper", "--models", str(models)],
                                ("--models", "models.lock.json")),
        "out under a file": (["--out", str(afile / "results")], ("--out", "is a file")),
        "cache under a file": (["--cache", str(afile / "cache")], ("--cache", "is a file")),
        "address without ray": (["--address", "10.0.0.1:6379"], ("--address", "--executor ray")),
        "workers with ray": (["--executor", "ray", "--workers", "2"], ("--workers", "Ray")),
    }


@pytest.mark.parametrize("dry", [False, True], ids=["run", "dry-run"])
def test_bad_options_fail_at_once(tmp_path, capsys, dry):
    out = tmp_path / "results"
    for case, (options, needles) in _cases(tmp_path).items():
        argv = ["run", "--root", str(tmp_path / "data"), "--out", str(out), "--no-table",
                *options, *(["--dry-run"] if dry else [])]
        assert main(argv) == 2, case
        _one_error(capsys, *needles)
        assert not out.exists() and not (tmp_path / "data").exists(), case  # nothing written


def test_missing_cuda_fails_at_once(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    for dry in ([], ["--dry-run"]):
        assert main(["run", "--device", "cuda", "--out", str(tmp_path / "r"), *dry]) == 2
        _one_error(capsys, "--device cuda", "no CUDA device")
    assert not (tmp_path / "r").exists()


def _fake_distribution(root, entry_points: dict[str, str]) -> None:
    """A distribution on `root` (put on sys.path) declaring `entry_points` of the suite's group."""
    dist = root / "fake_plugins-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-plugins\nVersion: 0.1\n")
    lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    (dist / "entry_points.txt").write_text(f"[weld_bench.methods]\n{lines}")


def test_broken_plugin_is_named_and_skipped(tmp_path, monkeypatch, caplog):
    (tmp_path / "fake_broken_plugin.py").write_text("raise RuntimeError('needs a GPU library')\n")
    (tmp_path / "fake_good_plugin.py").write_text(
        "from benchmark.method import register_method, unchanged\n"
        "from methods.concat_ae import ConcatAE, HPARAMS_AV\n"
        "register_method('fake_good_plugin', ConcatAE, hparams=HPARAMS_AV,\n"
        "                features=('video_tokens',), summary='a plugin that loads')\n")
    _fake_distribution(tmp_path, {"fake_broken": "fake_broken_plugin",
                                  "fake_good": "fake_good_plugin"})
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with caplog.at_level("WARNING", logger="bench"):
            registry = load_methods()
        assert "fake_good_plugin" in registry and "concat_ae_av" in registry
        warned = [r.getMessage() for r in caplog.records if "fake_broken" in r.getMessage()]
        assert len(warned) == 1 and "fake-plugins" in warned[0] and "needs a GPU library" in warned[0]
        assert "\n" not in warned[0]
    finally:
        METHODS.remove("fake_good_plugin")
        sys.modules.pop("fake_good_plugin", None)


def test_shadowing_methods_package_is_named(tmp_path, monkeypatch, capsys):
    (tmp_path / "methods").mkdir()
    (tmp_path / "methods" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "methods")
    with pytest.raises(ShadowedPackageError, match=str(tmp_path / "methods")):
        load_methods()
    monkeypatch.delitem(sys.modules, "methods")
    assert main(["list"]) == 2
    _one_error(capsys, "shadows weld-bench's methods", str(tmp_path / "methods"))


def _options(parser, name="bench"):
    """(command, action) of every option of `parser` and of its subcommands, nested ones too."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _options(sub, f"{name} {sub_name}")
        elif action.option_strings and action.dest != "help":
            yield name, action


def test_every_option_has_help():
    from benchmark.cli import build_parser

    # NOTE: `bench data synth` belongs to the twin's owners (their options are being changed)
    missing = [f"{name} {a.option_strings[0]}" for name, a in _options(build_parser())
               if not a.help and name != "bench data synth"]
    assert not missing, f"options without a help text: {missing}"


def test_display_names_are_unique():
    """Every output names a row by its display name: no two registered methods share one, and
    registering a second one fails."""
    from methods.concat_ae import HPARAMS_AV, ConcatAE

    from benchmark.method import register_method

    names = [spec.display_name for _, spec in load_methods().items()]
    assert len(names) == len(set(names))
    with pytest.raises(ValueError, match="'Late Fusion \\(V\\+A\\)' is already method 'late_fusion_av'"):
        register_method("fake_twin_row", ConcatAE, hparams=HPARAMS_AV, features=("video_tokens",),
                        summary="a second row of the same name", display_name="Late Fusion (V+A)")
    assert "fake_twin_row" not in METHODS


def test_bench_list_fits_the_terminal_and_names_the_package(monkeypatch, capsys):
    for width in (160, 120):
        monkeypatch.setenv("COLUMNS", str(width))
        assert main(["list"]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert max(len(line) for line in lines) <= width, width
        assert "package" in lines[0] and any("weld-bench" in line for line in lines[2:])
