"""A new method joins the baselines' run (issue 36 item 3): `bench run --method NEW --run EXISTING`
adds its units and keeps the run's record whole (run.json and run.toml list every unit the folder
holds, so `bench runs` counts agree and `bench run --config <run>/run.toml` finds them all done),
a setting that disagrees with the finished units still stops the run, and a plugin registered
without a display name or row code gets a readable label and a place in its group before the
proposed row.

Runs use the shortcut floors that read no media and a plugin of the same kind: a run of the tiny
twin takes a second or two."""
from __future__ import annotations

import dataclasses
import json
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmark.cli import main as bench
from benchmark.data.recipes import RecipeDistance
from benchmark.method import (METHODS, FitContext, Group, Inputs, Method, Role, Scores, load_methods,
                              register_method, unchanged)
from benchmark.results import store as R
from benchmark.run.config import RunConfig
from benchmark.run.plan import join_held_units

from test_tables import make_fixture_run

BASELINE = "recipe_manifest"
PLUGIN = "setpoint_gap"  # registered below as a researcher would: no display name, no row code


class SetpointGap(Method):
    """A plugin's method: the distance of the manifest's set-points to the TRAIN normals'."""

    group = Group.CROSS
    modalities = ("setpoints",)

    def fit(self, train: Inputs, val: Inputs, ctx: FitContext) -> None:
        self.distance = RecipeDistance().fit(train.configs)

    def score(self, inputs: Inputs) -> Scores:
        return Scores(sample=self.distance(inputs.configs))


@dataclass(frozen=True)
class _NoHyperparameters:
    pass


@pytest.fixture(scope="module")
def plugin():
    load_methods()
    spec = register_method(PLUGIN, SetpointGap, hparams=unchanged(_NoHyperparameters()), features=(),
                           summary="test plugin: set-point distance to the TRAIN normals")
    yield spec
    METHODS.remove(PLUGIN)


def _run(tiny_twin: Path, out: Path, *options: str) -> int:
    # NOTE: one process: the plugin is registered in this one only
    return bench(["run", "--root", str(tiny_twin), "--out", str(out), "--run", "baselines",
                  "--workers", "1", "--no-table", *options])


@pytest.fixture(scope="module")
def joined(tiny_twin, tmp_path_factory, plugin) -> Path:
    """The baseline's run, then the plugin run into its folder."""
    out = tmp_path_factory.mktemp("join")
    assert _run(tiny_twin, out, "--method", BASELINE) == 0
    assert _run(tiny_twin, out, "--method", PLUGIN) == 0
    return out / "baselines"


def _unit_times(run_dir: Path) -> dict[str, int]:
    return {u.method: (u.folder / "metrics.json").stat().st_mtime_ns for u in R.load_run(run_dir)}


# ---------------------------------------------------------------------------- the record
def test_a_joined_method_keeps_every_unit_in_the_record(joined):
    assert [u.method for u in R.load_run(joined)] == [BASELINE, PLUGIN]
    info = json.loads((joined / "run.json").read_text())
    assert info["units"] == [f"{BASELINE}/seed0", f"{PLUGIN}/seed0"]
    assert info["config"]["methods"] == [BASELINE, PLUGIN]
    saved = tomllib.loads((joined / "run.toml").read_text())
    assert (saved["method"], saved["seeds"]) == ([BASELINE, PLUGIN], [0])


def test_bench_runs_counts_every_unit_done_and_planned(joined, capsys):
    assert bench(["runs", "--out", str(joined.parent)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("baselines"))
    assert row.split()[-3:] == ["2/2", "2", "0"]  # units done/planned, methods, seeds


def test_the_folders_run_toml_finds_every_unit_done(joined, capsys):
    before = _unit_times(joined)
    assert bench(["run", "--config", str(joined / "run.toml"), "--dry-run"]) == 0
    assert "units: 2 (2 done, 0 to run)" in capsys.readouterr().out
    assert bench(["run", "--config", str(joined / "run.toml")]) == 0
    assert _unit_times(joined) == before  # nothing recomputed


def test_a_disagreeing_setting_is_still_refused(joined, tiny_twin, tmp_path, capsys):
    run_dir = shutil.copytree(joined, tmp_path / "baselines")
    record = (run_dir / "run.json").read_text()
    code = _run(tiny_twin, tmp_path, "--method", "session_manifest", "--selection", "val")
    err = capsys.readouterr().err
    assert code == 2 and "2 finished unit(s) were made under other settings" in err
    assert 'selection.policy: "last" -> "val"' in err and "pass --rerun" in err
    assert (run_dir / "run.json").read_text() == record and not (run_dir / "session_manifest").exists()


# ---------------------------------------------------------------------------- the widening
def _held(tmp_path: Path, *units: tuple[str, int]) -> RunConfig:
    """A configuration whose results folder holds `units` (empty folders: only their names count)."""
    config = RunConfig(methods=(PLUGIN,), root=tmp_path / "twin", out=tmp_path, run="r")
    for method, seed in units:
        R.unit_dir(tmp_path / "r", method, seed).mkdir(parents=True)
    return config


def test_the_folders_methods_and_seeds_join_as_a_grid(tmp_path, plugin):
    config = _held(tmp_path, (BASELINE, 0), (BASELINE, 1), ("session_manifest", 0))
    joined = join_held_units(config)
    assert joined.methods == (BASELINE, "session_manifest", PLUGIN) and joined.seeds == (0, 1)


def test_a_configuration_that_covers_the_folder_is_kept(tmp_path, plugin):
    config = dataclasses.replace(_held(tmp_path, (BASELINE, 0), (PLUGIN, 1)), methods=("all",), seeds=(1, 0))
    assert join_held_units(config) is config


def test_a_unit_of_an_unregistered_method_is_named(tmp_path, plugin):
    config = _held(tmp_path, ("gone_plugin", 0))
    with pytest.raises(R.ResultsError, match="holds units of 'gone_plugin', not a registered method here"):
        join_held_units(config)


# ---------------------------------------------------------------------------- the plugin's row
def test_a_plugin_without_display_name_or_row_code_gets_defaults(plugin):
    assert (plugin.display_name, plugin.row_code) == ("setpoint gap", "")


def _add_unit(run_dir: Path, facts: dict) -> None:
    """A FABRICATED unit of a registered method: its declared facts as the runner writes them."""
    template = R.load_run(run_dir)[0]
    R.write_unit(run_dir, facts["method"], 0, metrics=template.metrics, scores=template.scores(),
                 config={**template.config, **facts}, efficiency=template.efficiency, history={})


def test_a_plugin_row_lands_in_its_group_before_the_proposed_row(plugin, tmp_path):
    run_dir = make_fixture_run(tmp_path)
    proposed = dataclasses.replace(plugin, name="setpoint_gap_ours", display_name="setpoint gap ours",
                                   role=Role.PROPOSED)  # a proposed plugin without a row code
    for spec in (plugin, proposed):
        _add_unit(run_dir, spec.facts())
    assert bench(["table", str(run_dir), "--out", str(tmp_path / "tex") + "/"]) == 0
    tex = (tmp_path / "tex" / "main.tex").read_text().splitlines()
    line = lambda text: next(i for i, row in enumerate(tex) if text in row)
    cross, film = line("(C) Cross-modal"), line("(C.N)")
    assert cross < line("setpoint gap &") < film and cross < line("setpoint gap ours &") < film
    rows = [i for i, row in enumerate(tex) if row.rstrip().endswith("\\\\") and i < line(r"\bottomrule")]
    assert film == rows[-1]  # the proposed row stays the table's last
