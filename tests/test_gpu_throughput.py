"""scripts/gpu_throughput.py on the CPU with the tiny backbones: every stage runs, the twin links
the media of drawn welds (each weld with its own id and files), and the figures it prints are
there and positive. The GPU figures themselves come from running the script on a GPU."""
from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("gpu_throughput", ROOT / "scripts" / "gpu_throughput.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_check_mode_runs_on_the_cpu(tmp_path, capsys):
    report = _script().main(["--out", str(tmp_path), "--check", "--device", "cpu", "--profile", "quick",
                             "--welds", "16", "--distinct", "4", "--methods", "concat_ae_av",
                             "--workers", "1", "--peak-tflops", "1"])
    assert set(report["stages"]) == {"twin", "extract", "methods"}
    assert set(report["backbones"]) == {"vjepa2", "ast"}  # concat_ae_av: video and audio tokens
    for b in report["backbones"].values():
        assert b["samples"] == 16 and b["samples_per_s"] > 0 and b["gflop_per_sample"] > 0
        assert 0 < b["share_of_peak"] < 1
    assert report["methods"]["concat_ae_av"]["fit_s"] > 0
    twin = next(tmp_path.glob("twin-*"))
    videos = list(twin.rglob("*.avi"))
    drawn = len({v.stat().st_ino for v in videos})  # one file per drawn weld, linked by the others
    assert len(videos) == 16 and drawn == report["distinct_welds"] < 16
    printed = capsys.readouterr().out
    assert "samples/s" in printed and "of peak" in printed and "concat_ae_av" in printed
    assert (tmp_path / "throughput.json").is_file()
