"""Pixel metrics when only some TEST defects have masks (as after `bench data masks import` of a
few annotated welds): the real runner on a copy of the tiny twin whose masks are removed from every
other TEST defect. The pixel metrics rest on exactly the welds with truth (the defects with masks
and every normal weld), a defect without a mask is never read as all-zero truth, and the count is
stored in metrics.json and shown in the tables and the leaderboard.
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from test_maps_report import PatchMaps, maps_method  # noqa: F401 (a fixture)

from benchmark.data.decode import read_masks
from benchmark.metrics import pixel_metrics
from benchmark.results import store as R
from benchmark.results.leaderboard import leaderboard_rows
from benchmark.results.tables import RunData, build_tables, to_latex, to_text
from benchmark.run.runner import RunConfig, plan_run, run


@pytest.fixture(scope="module")
def partial(tiny_twin, tmp_path_factory, maps_method):  # noqa: F811
    """(run folder, TEST samples, ids of the defects left without masks, the maps scored)."""
    folder = tmp_path_factory.mktemp("partial")
    root = folder / "twin"
    shutil.copytree(tiny_twin, root)
    config = RunConfig(methods=(maps_method,), seeds=(0,), root=root, out=folder / "out",
                       cache=folder / "cache")
    defects = [s for s in plan_run(config)[0].samples["TEST"] if s.label == 1]
    for s in defects[::2]:
        shutil.rmtree(s.directory / "masks")
    PatchMaps.returned.clear()
    run_dir = run(config)
    test = plan_run(config)[0].samples["TEST"]
    maps = [m for out in PatchMaps.returned for m in out.maps]  # TEST, scored chunk by chunk
    return run_dir, test, {s.id for s in defects[::2]}, maps


@pytest.mark.slow
def test_pixel_metrics_rest_on_the_defects_with_masks(partial):
    run_dir, test, unmasked, maps = partial
    metrics = R.load_run(run_dir)[0].metrics
    with_mask = [s for s in test if s.label == 1 and s.id not in unmasked]
    assert with_mask and all(s.masks is None for s in test if s.id in unmasked)
    assert metrics["counts"]["pixel"] == {
        "normal": sum(s.label == 0 for s in test), "anomalous": len(with_mask),
        "anomalous_without_mask": len(unmasked),
        "per_category": {c: sum(s.category == c for s in with_mask)
                         for c in sorted({s.category for s in test if s.label == 1})}}

    def truth(s, amap):  # all zeros where the weld has no masks folder
        return np.stack(read_masks(s)) if s.masks else np.zeros(amap.shape, bool)

    def on(welds):
        return pixel_metrics([v for _, m in welds for v in m], [v for s, m in welds for v in truth(s, m)])

    welds = [(s, m) for s, m in zip(test, maps) if s.id not in unmasked]
    assert all(not truth(s, m).any() for s, m in welds if s.label == 0)  # normals: anomaly-free
    for key, value in on(welds).items():
        assert metrics["overall"][key] == pytest.approx(value, abs=1e-9)
    # the wrong reading (a defect without a mask as all-zero truth) gives other numbers
    wrong = on(list(zip(test, maps)))
    assert metrics["overall"]["P-AUROC"] != pytest.approx(wrong["P-AUROC"], abs=1e-6)


@pytest.mark.slow
def test_tables_and_leaderboard_say_on_how_many_defects(partial):
    run_dir, test, unmasked, _ = partial
    k, total = sum(s.label == 1 for s in test) - len(unmasked), sum(s.label == 1 for s in test)
    _, tables = build_tables(run_dir)
    main = tables[0]
    assert {c.span for c in main.columns if c.key.startswith("P-AUPRO")} == {f"P-AUPRO (n={k})"}
    sentence = f"P-AUPRO: on the {k} of {total} TEST defects that have pixel masks"
    assert any(sentence in d for d in main.details)
    assert f"P-AUPRO (n={k})" in to_latex(main) and sentence in to_text(main)
    segmentation = next(t for t in tables if t.name == "per_category_segmentation")
    assert any(sentence in d and "Defects with masks per category:" in d for d in segmentation.details)
    assert "'All' is the TEST welds with pixel truth" in segmentation.caption
    overall = {r["metric"]: r for r in leaderboard_rows(RunData.load(run_dir))
               if r["subset"] == "all" and r["category"] == "all"}
    assert (overall["P-AUPRO@30%"]["n_anomalous"], overall["I-AUROC"]["n_anomalous"]) == (k, total)
