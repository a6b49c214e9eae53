"""The cost model: the growth fit finds the form of known timings, the projection scales as the
fitted form says, the dry run prints the projection (or one line on why there is none), and
scripts/bench_scale.py runs end to end at a toy size."""
from __future__ import annotations

import doctest
import importlib.util
import json
import math
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.run import cost, growth
from benchmark.run.growth import FORMS, fit_growth, fit_memory

ROOT = Path(__file__).resolve().parents[1]
SIZES = [6, 12, 24, 48]
NOISE = [1.04, 0.97, 1.02, 0.98]  # a few percent either way, as timings on a shared machine


@pytest.mark.parametrize("form", list(FORMS))
def test_growth_fit_recovers_the_form_of_known_timings(form):
    seconds = [0.01 * FORMS[form](n) * e for n, e in zip(SIZES, NOISE)]
    growth = fit_growth(SIZES, seconds)
    assert growth.form == form
    assert growth.coefficient == pytest.approx(0.01, rel=0.05)


def test_growth_examples_run():
    assert doctest.testmod(growth).failed == 0


def test_growth_fit_needs_two_sizes():
    with pytest.raises(ValueError, match="two sizes or more"):
        fit_growth([10, 10], [1.0, 1.1])


def test_memory_fit_is_flat_where_memory_does_not_grow():
    assert fit_memory([6, 12, 24], [3.0e9, 3.1e9, 2.9e9]).per_weld == 0
    assert fit_memory([6, 12, 24], [1.0e9, 2.0e9, 4.0e9]).at(48) == pytest.approx(8.0e9)


def _stage(group, form, coefficient, host=(1e9, 1e9, 1e9), **extra):
    return {"group": group, "form": form, "coefficient": coefficient, "residual": 0.0,
            "seconds": [0, 0, 0], "peak_host_bytes": list(host), "peak_device_bytes": [0, 0, 0], **extra}


def _section():
    return {"sizes": [10, 20, 40], "units": "full runs",
            "loader": {"threads": [1, 2], "welds_per_s": [4.0, 7.0], "at_welds": 10},
            "stages": {"features pixels: data path": _stage("data path", "linear", 0.1, disk_bytes_per_weld=2**20),
                       "features dinov2: data path": _stage("data path", "linear", 0.01, disk_bytes_per_weld=0),
                       "features dinov2: backbone": _stage("backbone", "linear", 0.2),
                       "unit patchcore": _stage("unit", "quadratic", 0.001, host=(1.5e9, 2e9, 3e9))}}


def test_projection_scales_as_the_fitted_form_says():
    small = cost.project(_section(), 1000, ["pixels", "dinov2"], ["patchcore"], seeds=1)
    large = cost.project(_section(), 2000, ["pixels", "dinov2"], ["patchcore"], seeds=3)
    by_name = lambda p: {s.name: s.seconds for s in p.stages}  # noqa: E731
    assert by_name(large)["features pixels: data path"] == pytest.approx(2 * by_name(small)["features pixels: data path"])
    assert by_name(large)["unit patchcore"] == pytest.approx(3 * 4 * by_name(small)["unit patchcore"])
    assert large.disk_bytes == pytest.approx(2 * small.disk_bytes) == pytest.approx(2000 * 2**20)
    assert small.extraction_seconds() == pytest.approx(0.1 * 1000 + 0.01 * 1000 + 0.2 * 1000)
    # memory: 1 GiB fixed + 0.05 GB per weld, fitted from the three sizes
    assert large.host_bytes == pytest.approx(1e9 + 2000 * 0.05e9)
    assert large.bound().name == "unit patchcore"
    assert small.missing == [] and cost.project(_section(), 10, [], ["m3dm"], 1).missing == ["unit m3dm"]


def test_workers_share_out_the_units_and_the_extraction():
    """Two processes side by side halve the units' and the extractors' summed time, never below
    the longest unit or extractor (one runs in one process)."""
    section = _section()
    section["stages"]["unit m3dm"] = _stage("unit", "linear", 0.001)
    one = cost.project(section, 1000, ["pixels", "dinov2"], ["patchcore", "m3dm"], seeds=1)
    two = cost.project(section, 1000, ["pixels", "dinov2"], ["patchcore", "m3dm"], seeds=1, workers=2)
    assert one.units_wall() == pytest.approx(1000 + 1) and two.units_seconds() == one.units_seconds()
    assert two.units_wall() == pytest.approx(1000)  # patchcore's 0.001 x 1000^2 alone
    assert two.extraction_wall() == pytest.approx(max(310 / 2, 0.01 * 1000 + 0.2 * 1000))
    assert "2 processes side by side" in "\n".join(cost.render([("x", two)], "test"))


def test_loader_threads_overlap_the_data_path_with_the_backbone():
    p = cost.project(_section(), 1000, ["pixels", "dinov2"], [], seeds=1, loaders=8)
    # pixels has no device side: its data path over 8 threads; dinov2: the backbone is slower
    assert p.extraction_seconds() == pytest.approx(0.1 * 1000 / 8 + 0.2 * 1000)
    assert "the backbones on the device" in p.extraction_bound()


def test_feeding_lines_say_when_no_gpu_is_measured(tmp_path):
    lines = cost.feeding_lines(_section(), None, tmp_path / "cuda.json")
    assert "4.00 welds/s on 1 thread(s), 7.00 welds/s on 2 thread(s); 3.50 welds/s per core" in lines[0]
    assert "none measured yet" in lines[1]
    gpu = _section() | {"machine": {"device": "H100", "cores": 16}}
    assert "the GPU bounds" in cost.feeding_lines(_section(), gpu, tmp_path / "cuda.json")[1]


def _dry_run(tiny_twin, tmp_path, capsys, *extra):
    out = tmp_path / "out"
    assert main(["run", "--method", "patchcore,concat_ae_av", "--root", str(tiny_twin), "--out", str(out),
                 "--dry-run", *extra]) == 0
    assert not out.exists()
    return capsys.readouterr().out


def test_dry_run_prints_the_projection(tiny_twin, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "calibration"
    cost.write_calibration("cpu", "quick", _section(), {"device": "test CPU", "cores": 2, "date": "today"},
                           folder)
    monkeypatch.setattr(cost, "CALIBRATION_DIR", folder)
    text = _dry_run(tiny_twin, tmp_path, capsys)
    assert f"projection ({folder / 'cpu.json'}, profile quick, measured on test CPU" in text
    assert "Weld-4M (4,040 welds, 3 seeds)" in text and "this run (128 welds, 1 seed(s))" in text
    assert "features pixels: data path" in text and "unit patchcore" in text
    assert "peak host memory" in text and "cache disk 3.95 GiB" in text  # 4,040 MiB
    assert "bounded by unit patchcore" in text
    assert ("not in the calibration (no projection): features vjepa2: data path, features ast: "
            "data path, unit concat_ae_av") in text


def test_dry_run_says_when_there_is_no_calibration(tiny_twin, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cost, "CALIBRATION_DIR", tmp_path / "none")
    text = _dry_run(tiny_twin, tmp_path, capsys, "--profile", "quick")
    line = next(x for x in text.splitlines() if x.startswith("projection"))
    assert line == (f"projection: none: no calibration for device kind 'cpu' ({tmp_path / 'none' / 'cpu.json'}); "
                    "`python scripts/bench_scale.py --profile quick --device cpu` on such a machine measures one")
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "cpu.json").write_text("{not json")
    text = _dry_run(tiny_twin, tmp_path, capsys)
    assert f"projection: none ({tmp_path / 'none' / 'cpu.json'}: not a readable calibration" in text


def test_host_memory_is_what_the_process_held_plus_the_stages_own_growth_and_a_full_chunk():
    """A stage measured with what the process held before it projects that much plus its own
    memory, fitted: a stage whose own memory stays flat stays flat at any size, one that grows
    grows. A unit measured in smaller chunks than the run's gets what each weld of a chunk adds
    (measured at the largest size) for the rest of a chunk. An older calibration, without the
    start: every resident page, fitted."""
    from benchmark.run.unit import SCORE_CHUNK

    gib, sizes = 2**30, [10, 20, 40]
    flat = {"peak_host_bytes": [9 * gib] * 3, "peak_private_bytes": [1.5 * gib, 2.5 * gib, 3.0 * gib],
            "start_private_bytes": [1.0 * gib, 2.0 * gib, 2.5 * gib]}  # the process's leftovers grow
    assert cost.host_bytes(flat, sizes, 4040) == pytest.approx(2.5 * gib + 0.5 * gib)
    growing = {**flat, "peak_private_bytes": [1.1 * gib, 2.2 * gib, 2.9 * gib]}  # own 0.1, 0.2, 0.4 GiB
    assert cost.host_bytes(growing, sizes, 4040) == pytest.approx(2.5 * gib + 4040 * 0.01 * gib)
    chunked = {**flat, "score_chunk": 4, "chunk_bytes_per_weld": 0.1 * gib}
    assert cost.host_bytes(chunked, sizes, 4040) == pytest.approx(3.0 * gib + (SCORE_CHUNK - 4) * 0.1 * gib)
    assert cost.host_bytes({"peak_host_bytes": [1e9, 2e9, 4e9]}, sizes, 80) == pytest.approx(8e9)


def test_the_committed_cpu_calibration_is_whole():
    calibration = cost.read_calibration("cpu")
    assert calibration is not None, "benchmark/run/calibration/cpu.json: run scripts/bench_scale.py"
    for name, section in calibration["profiles"].items():
        assert section["stages"] and len(section["sizes"]) >= 2, name
        for stage in section["stages"].values():
            assert stage["form"] in FORMS and math.isfinite(stage["coefficient"])
            assert len(stage["seconds"]) == len(section["sizes"])


@pytest.mark.slow
def test_bench_scale_runs_end_to_end(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("bench_scale", ROOT / "scripts" / "bench_scale.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    section = script.main(["--out", str(tmp_path), "--profile", "quick", "--sizes", "26,52",
                           "--methods", "patchcore", "--calibration-dir", str(tmp_path / "cal")])
    text = capsys.readouterr().out
    assert "features pixels: data path" in text and "unit patchcore" in text
    assert "welds/s per core" in text and "none measured yet" in text
    written = json.loads((tmp_path / "cal" / "cpu.json").read_text())["profiles"]["quick"]
    assert written["sizes"] == [26, 52] and written["stages"].keys() == section["stages"].keys()
    assert written["stages"]["features pixels: data path"]["disk_bytes_per_weld"] > 0
    unit = written["stages"]["unit patchcore"]
    assert len(unit["start_private_bytes"]) == 2 and unit["score_chunk"] >= 1
    assert unit["chunk_bytes_per_weld"] >= 0
