"""Saved anomaly maps (`--save-maps`) through the real runner on the tiny twin, read back, drawn
over the kept label-guarded views (`bench plot --maps`), and the HTML report rendered in headless
Chromium: every table is there and every image loads.

The maps come from a test-only adapter (distance of each DINOv2 patch token to the mean TRAIN
token at its position), registered for this module and removed afterwards.
"""
from __future__ import annotations

import csv
import html
import json
import math
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from markupsafe import escape

from benchmark.cli import main
from benchmark.method import METHODS, Group, Method, Scores, load_methods, register_method, unchanged
from benchmark.results import store as R
from benchmark.run.config import RunConfig
from benchmark.run.runner import run

MAPS_METHOD = "test_patch_maps"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run")
# NOTE: injected into a copy of the page by the test only: the report itself has no script
PROBE = """<script>
window.addEventListener("load", () => {
  const images = [...document.images].map(i => ({src: i.getAttribute("src"),
                                                 loaded: i.complete && i.naturalWidth > 0}));
  const tables = [...document.querySelectorAll("figure.table")].map(f => ({id: f.id,
      rows: f.querySelectorAll("tbody tr").length, caption: f.querySelector("caption").textContent}));
  const links = [...document.querySelectorAll("[src], [href]")].map(e => e.getAttribute("src") || e.getAttribute("href"));
  document.body.setAttribute("data-probe", JSON.stringify({images, tables, links}));
});
</script>"""


@dataclass(frozen=True)
class PatchMapsConfig:
    pass


class PatchMaps(Method):
    """Test-only: per view, the distance of each patch token to the mean TRAIN token there."""

    group = Group.RESULT
    modalities = ("image",)
    yields_maps = True
    returned: list[Scores] = []  # what each score() call gave back, to compare with what was saved

    def fit(self, train, val, ctx):
        self.mean = train.stack("image_patches").astype(np.float32).mean(axis=0)  # (V, P, D)

    def score(self, inputs):
        dist = np.linalg.norm(inputs.stack("image_patches").astype(np.float32) - self.mean, axis=-1)
        side = math.isqrt(dist.shape[-1])
        out = Scores(sample=dist.max(axis=(1, 2)), maps=list(dist.reshape(*dist.shape[:2], side, side)))
        PatchMaps.returned.append(out)
        return out


@pytest.fixture(scope="module")
def maps_method():
    load_methods()
    register_method(MAPS_METHOD, PatchMaps, hparams=unchanged(PatchMapsConfig()),
                    features=("image_patches",), summary="test-only patch-distance maps",
                    view_pooling="max")
    yield MAPS_METHOD
    METHODS.remove(MAPS_METHOD)


@pytest.fixture(scope="module")
def maps_run(tiny_twin, tiny_cache, tmp_path_factory, maps_method, readme_method) -> Path:
    out = tmp_path_factory.mktemp("maps")
    PatchMaps.returned.clear()
    return run(RunConfig(methods=(maps_method, readme_method), seeds=(0,), root=tiny_twin, out=out,
                         cache=tiny_cache, run="with-maps", save_maps=True))


def _scores(unit: R.UnitResult) -> list[dict]:
    return [r for r in unit.scores() if r["split"] == "TEST"]


def test_maps_saved_and_read_back(maps_run, maps_method, readme_method):
    units = {u.method: u for u in R.load_run(maps_run)}
    saved = units[maps_method].maps()
    returned = [m for out in PatchMaps.returned for m in out.maps]  # TEST, scored chunk by chunk
    ids = [r["id"] for r in _scores(units[maps_method])]
    assert list(saved) == ids and len(returned) == len(ids)  # one entry per TEST sample, in TEST order
    for sample_id, amap in zip(ids, returned):
        assert saved[sample_id].dtype == np.float16 and saved[sample_id].shape == amap.shape
        np.testing.assert_allclose(saved[sample_id], amap, rtol=1e-3)
    n_views = returned[0].shape[0]
    assert n_views > 1 and returned[0].shape[1:] == (8, 8)  # tiny DINOv2: 112 px / 14
    assert not units[readme_method].has_maps  # a method without maps saves none
    with pytest.raises(FileNotFoundError, match="no saved anomaly maps"):
        units[readme_method].maps()
    for sample_id in ids:  # the label-guarded views the maps belong to, kept once per run
        views = R.read_views(maps_run, sample_id)
        assert len(views) == n_views and views[0].shape == (112, 112, 3) and views[0].dtype == np.uint8


def test_kept_views_are_the_guarded_pixels(maps_run):
    from benchmark.run.plan import plan_run

    config = R.load_run(maps_run)[0].config["run"]
    plan, _ = plan_run(RunConfig(methods=(MAPS_METHOD,), root=Path(config["root"]),
                                 out=Path(config["out"]), cache=Path(config["cache"])))
    test = plan.samples["TEST"][:3]  # their pixels are cached: nothing is computed here
    pixels = plan.store().get(test, ("image_pixels",))["image_pixels"]
    for sample, expected in zip(test, pixels):
        kept = np.stack(R.read_views(maps_run, sample.id))
        assert np.abs(kept.astype(int) - expected.astype(int)).mean() < 4  # JPEG, quality 90


def test_no_maps_without_the_option(maps_run, maps_method):
    config = R.load_run(maps_run)[0].config["run"]
    plain = run(RunConfig(methods=(maps_method,), root=Path(config["root"]), out=Path(config["out"]),
                          cache=Path(config["cache"]), run="without-maps"))
    assert not R.load_run(plain)[0].has_maps and not R.has_views(plain)
    # asking for maps on that finished unit stops with the reason; --rerun redoes it with maps
    again = dict(methods=(maps_method,), root=Path(config["root"]), out=Path(config["out"]),
                 cache=Path(config["cache"]), run="without-maps", save_maps=True)
    with pytest.raises(R.StaleResultsError, match="save-maps: finished without its maps"):
        run(RunConfig(**again))
    assert R.load_run(run(RunConfig(**again, rerun=True)))[0].has_maps


@pytest.mark.slow
def test_bench_plot_maps(maps_run, maps_method, tmp_path, capsys):
    from benchmark.results.plots import extreme_samples
    from benchmark.results.tables import RunData

    assert main(["plot", str(maps_run), "--maps", "--out", str(tmp_path / "plots")]) == 0
    path = tmp_path / "plots" / f"maps_{maps_method}.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "plots" / "roc_pr_result-only.png").exists()
    unit = RunData.load(maps_run).methods[maps_method].units[0]
    rows = _scores(unit)
    chosen = dict(extreme_samples(unit, ["Good", "Porosity"]))
    for category, picked in chosen.items():
        members = [r for r in rows if r["category"] == category]
        assert picked[0]["score"] == max((r["score"] for r in members), key=float)
        assert picked[-1]["score"] == min((r["score"] for r in members), key=float)
    capsys.readouterr()
    without = tmp_path / "no-maps"
    shutil.copytree(maps_run, without)
    unit = without / maps_method / "seed0"
    (unit / R.MAPS_FILE).unlink()  # a unit finished without maps: its completion record has none
    record = json.loads((unit / R.DONE_FILE).read_text())
    del record["files"][R.MAPS_FILE]
    (unit / R.DONE_FILE).write_text(json.dumps(record))
    assert main(["plot", str(without), "--maps", "--out", str(tmp_path / "p2")]) == 2
    assert "no unit with saved anomaly maps" in capsys.readouterr().err


# ---------------------------------------------------------------------------- the HTML report
def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if exe := shutil.which(name):
            return exe
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("chromium is missing under CI: install the Debian package chromium (see .ci/run)")
    pytest.skip("chromium not installed (apt-get install --no-install-recommends chromium); "
                "required under CI=true")


def _render(page: Path, tmp_path: Path) -> dict:
    """Load a copy of the page with the probe in headless Chromium; the probe's findings."""
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    profile = tmp_path / "chromium-profile"  # a fresh profile every time
    proc = subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                           "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r'data-probe="([^"]*)"', proc.stdout)
    assert found, f"the page did not finish loading:\n{proc.stdout[:500]}\n{proc.stderr[-1000:]}"
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.slow
def test_html_report_renders_in_chromium(maps_run, maps_method, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", str(maps_run), "--html", str(out)]) == 0
    page = out / "index.html"
    seen = _render(page, tmp_path)
    images = {Path(i["src"]).name: i["loaded"] for i in seen["images"]}
    assert images and all(images.values()), images
    assert {"roc_pr_result-only.png", f"maps_{maps_method}.png"} <= set(images)
    tables = {t["id"]: t for t in seen["tables"]}
    assert {"main", "significance", "per_category_detection", "efficiency"} <= set(tables)
    assert all(t["rows"] >= 2 for t in tables.values())  # a group title and at least one method
    assert "NOT Weld-4M results" in tables["main"]["caption"]
    assert not [link for link in seen["links"] if re.match(r"[a-z]+://", link)]  # nothing fetched
    text = page.read_text()
    info = R.run_info(maps_run)
    assert info["dataset"]["fingerprint"] in text and "save-maps" not in text  # run() has no run.toml
    assert str(escape(info["selection"]["description"])) in text  # the declared policy
    assert R.load_run(maps_run)[0].versions()["torch"] in text
    rows = list(csv.DictReader(open(out / "leaderboard.csv")))
    assert {r["method"] for r in rows} == {maps_method, "pooled_knn"}

    # the check can fail: a figure that is gone is reported as not loaded
    (out / "figures" / f"maps_{maps_method}.png").unlink()
    broken = {Path(i["src"]).name: i["loaded"] for i in _render(page, tmp_path)["images"]}
    assert broken[f"maps_{maps_method}.png"] is False


@pytest.mark.slow
def test_report_of_a_run_without_maps_or_run_json(tmp_path):
    from test_tables import make_fixture_run

    from benchmark.results.report import write_report

    page = write_report(make_fixture_run(tmp_path), tmp_path / "html").read_text()
    assert "This run saved no anomaly maps" in page and "maps_" not in page
    assert 'id="per_category_detection"' in page and "run.json: config" in page
    assert sorted(p.name for p in (tmp_path / "html" / "figures").iterdir())[0].startswith("roc_pr_")


def test_provenance_settings_read_as_words_not_json():
    """The report's provenance shows the profile and the feature options as 'name: value' pairs."""
    import dataclasses

    from benchmark.profiles import FeatureOptions, get_profile
    from benchmark.results.report import _readable

    text = _readable(dataclasses.asdict(get_profile("quick")))
    assert text.startswith("name: quick; preset: tiny;") and "pixel size: 112, 112" in text
    assert "{" not in text
    assert _readable(dataclasses.asdict(FeatureOptions())) == ("sources: –; label guard: True; models: –; "
                                                               "weld region: True")
