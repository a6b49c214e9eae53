"""The confounds of Weld-4M (recipe and recording session): the session key, the matched subsets,
`bench data confounds` on the published manifest, the shortcut floors, and intervals and tests
that treat a recording folder as one draw (cluster bootstrap, Obuchowski's clustered DeLong)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmark.data.confounds import matched_subsets, session_of, unseen
from benchmark.data.sample import WeldConfig
from benchmark.metrics import Undefined, bootstrap_auroc_ci, bootstrap_auroc_diff_ci, delong_test, evaluate

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT.parent / "shared" / "weld4m" / "manifest.csv"


def _config(current: float = 180.0) -> WeldConfig:
    return WeldConfig("NON_FILLET", 7, "FE410", current, 24.0, 4.0, 30)


# ---------------------------------------------------------------------------- the session key
def test_the_session_is_the_recording_day_of_the_run_id_else_the_folder():
    assert session_of("08-17-22-0011-00", "good_weld_08_17_22_plane_plate") == "08-17-22"
    assert session_of("11-20-22-0189-07", "x") == "11-20-22"
    assert session_of("13-45-22-0011-00", "some_folder") == "folder:some_folder"  # month 13
    assert session_of("run_7", "some_folder") == "folder:some_folder"


def test_matched_subsets_keep_every_normal_and_the_defects_that_share_their_confounds():
    train = [(_config(180), "d1"), (_config(190), "d2")]
    items = [(_config(180), "d9"),  # normal, unseen day: kept (every normal is)
             (_config(180), "d1"),  # defect sharing both
             (_config(180), "d3"),  # defect sharing the recipe only
             (_config(200), "d2"),  # defect sharing the day only
             (_config(200), "d3")]  # defect sharing nothing
    labels = [0, 1, 1, 1, 1]
    subsets = matched_subsets(train, items, labels)
    assert subsets["recipe_matched"].tolist() == [True, True, True, False, False]
    assert subsets["session_matched"].tolist() == [True, True, False, True, False]
    assert subsets["both_matched"].tolist() == [True, True, False, False, False]
    assert unseen("session", train, items).tolist() == [True, False, True, False, True]


# ---------------------------------------------------------------------------- the published manifest
@pytest.fixture(scope="module")
def report():
    from benchmark.data.confound_report import confound_report

    assert MANIFEST.exists(), f"{MANIFEST}: the published manifest (../shared) is missing"
    return confound_report(MANIFEST)


def test_the_published_manifest_has_the_session_shortcut(report):
    from benchmark.data.confound_report import overall

    # the figures of issue 21, recomputed: day alone 0.937 on TEST, 0.934 on the recipe-matched
    # subset, recipe or day unseen 0.997; the recipe floor at chance on its own subset
    assert round(overall(report, "session"), 3) == 0.937
    assert round(overall(report, "session", "recipe_matched"), 3) == 0.934
    assert round(overall(report, "recipe + session"), 3) == 0.997
    assert overall(report, "recipe", "recipe_matched") == 0.5
    assert overall(report, "session", "session_matched") == 0.5
    st = report["structure"]
    assert (st["folders"], st["single_category_folders"], st["days"]) == (236, 236, 72)
    assert round(st["pure_day_share"], 2) == 0.85
    test = report["frame"][report["frame"]["SPLIT"] == "TEST"]
    free = test[test["both_matched"]]
    assert (int(free["label"].sum()), int((free["label"] == 0).sum())) == (11, 121)
    assert set(free.loc[free["label"] == 1, "CATEGORY"]) == {"Lack_of_Fusion"}
    ci = report["floors"]["session"]["overall"]["I-AUROC-CI95"]
    assert ci[0] < 0.937 < ci[1]


def test_the_weld_type_alone_ranks_a_category_against_every_normal_and_not_like_with_like(report):
    """TRAIN normals are 113 fillet + 463 non-fillet, TEST normals 24 + 97. Scored by how rare its
    weld type is among TRAIN normals, a fillet-only category beats every non-fillet normal and
    ties the fillet ones: (97 + 24/2) / 121 = 0.901; a non-fillet-only one (97/2) / 121 = 0.401.
    Like with like (the suite's per-category rule) every category is at 0.5."""
    floor = report["floors"]["weld type"]
    fillet_only = ("Undercut", "Overlap", "Excessive_Convexity", "Crater_Cracks")
    non_fillet_only = ("Burnthrough", "Porosity", "Lack_of_Fusion", "Spatter", "Warping")
    for c in fillet_only + non_fillet_only:
        against_all = floor["per_category_all_normals"][c]["I-AUROC"]
        assert against_all == pytest.approx(109 / 121 if c in fillet_only else 48.5 / 121), c
        assert floor["per_category"][c]["I-AUROC"] == 0.5, c
    assert floor["counts"]["per_category_normal"]["Undercut"] == 24
    assert floor["counts"]["per_category_normal"]["Spatter"] == 97
    assert floor["counts"]["per_category_normal"]["Excessive_Penetration"] == 121  # both weld types
    assert round(floor["overall"]["I-AUROC"], 3) == 0.549


@pytest.mark.slow
def test_bench_data_confounds_prints_the_figures_and_writes_only_when_asked(tmp_path):
    out = tmp_path / "matched.csv"
    proc = subprocess.run([sys.executable, "-m", "benchmark.cli", "data", "confounds", "--manifest",
                           str(MANIFEST), "--out", str(out)], capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for figure in ("0.937", "0.934", "0.997", "83 / 204 / 11 of 1611", "11 defects (Lack_of_Fusion 11",
                   "and 121 Good welds", "84.7 %", "Folders: 236, of which 236"):
        assert figure in text, figure
    assert out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["matched.csv"]
    bad = subprocess.run([sys.executable, "-m", "benchmark.cli", "data", "confounds", "--manifest",
                          str(tmp_path / "nope.csv")], capture_output=True, text=True)
    assert bad.returncode == 2 and "nope.csv" in bad.stderr and "Traceback" not in bad.stderr


# ---------------------------------------------------------------------------- clustered statistics
def _clustered_data(effect: float, seed: int = 0):
    """40 folders of 5 welds, each folder one class; a shared folder effect on the scores."""
    rng = np.random.default_rng(seed)
    folders = np.repeat(np.arange(40), 5)
    y = (folders >= 24).astype(int)  # 24 normal folders, 16 defect folders
    shift = rng.normal(size=40)[folders] * effect
    a = rng.normal(size=200) + 1.0 * y + shift
    b = rng.normal(size=200) + 0.6 * y + 0.5 * shift
    return y, a, b, np.array([f"folder{f:02d}" for f in folders])


def test_a_cluster_of_one_weld_gives_the_weld_level_bootstrap_exactly():
    y, a, b, _ = _clustered_data(0.0)
    singletons = [f"{i:05d}" for i in range(len(y))]
    assert bootstrap_auroc_ci(y, a, n_boot=300) == bootstrap_auroc_ci(y, a, n_boot=300, clusters=singletons)
    assert bootstrap_auroc_diff_ci(y, a, b, n_boot=300) == bootstrap_auroc_diff_ci(
        y, a, b, n_boot=300, clusters=singletons)


def test_the_folder_level_interval_is_wider_when_folders_share_an_effect():
    y, a, _, folders = _clustered_data(1.5)
    weld = bootstrap_auroc_ci(y, a, n_boot=1000)
    folder = bootstrap_auroc_ci(y, a, n_boot=1000, clusters=folders)
    assert folder[1] - folder[0] > 1.5 * (weld[1] - weld[0])
    few = bootstrap_auroc_ci(y[:60], a[:60], clusters=folders[:60])  # 12 normal folders only
    assert isinstance(few, Undefined) or few  # one class -> undefined
    one_defect_folder = np.where(y == 1, "d", folders)
    assert "clusters" in bootstrap_auroc_ci(y, a, clusters=one_defect_folder).reason


def test_clustered_delong_is_delong_for_singletons_and_more_cautious_for_folders():
    y, a, b, folders = _clustered_data(0.0)
    plain = delong_test(y, a, b)
    single = delong_test(y, a, b, clusters=[str(i) for i in range(len(y))])
    assert single["diff"] == plain["diff"]
    assert single["z"] == pytest.approx(plain["z"], rel=0.02)  # I/(I-1) against (n-1)/n per class
    y, a, b, folders = _clustered_data(1.5, seed=1)
    assert abs(delong_test(y, a, b, clusters=folders)["z"]) < abs(delong_test(y, a, b)["z"])
    lone = delong_test(y, a, b, clusters=np.where(y == 1, "d", folders))
    assert isinstance(lone["p_value"], Undefined) and "clusters per class" in lone["p_value"].reason


def test_clustered_delong_matches_the_paired_cluster_bootstrap():
    y, a, b, folders = _clustered_data(1.0, seed=2)
    t = delong_test(y, a, b, clusters=folders)
    lo, hi = bootstrap_auroc_diff_ci(y, a, b, n_boot=4000, clusters=folders)
    se_boot = (hi - lo) / (2 * 1.96)
    assert t["diff"] / t["z"] == pytest.approx(se_boot, rel=0.25)


def test_evaluate_gives_the_folder_interval_and_keeps_the_weld_one():
    y, a, _, folders = _clustered_data(1.5)
    cats = np.where(y == 1, "Porosity", "Good")
    m = evaluate(y, a, cats, clusters=folders, n_boot=500,
                 subsets={"both_matched": np.ones(len(y), dtype=bool)})
    folder, weld = m["overall"]["I-AUROC-CI95"], m["overall"]["I-AUROC-CI95-weld"]
    assert folder[1] - folder[0] > weld[1] - weld[0]
    assert m["subsets"]["both_matched"]["overall"]["I-AUROC-CI95"] == folder
    assert "I-AUROC-CI95-weld" not in evaluate(y, a, cats, n_boot=50)["overall"]


# ---------------------------------------------------------------------------- tables and compare
def _fixture_run(root: Path) -> Path:
    """A FIXTURE run (FABRICATED scores): two methods and a shortcut floor that beats both, 8
    folders of 4 welds, the confound-free subset recorded as the runner records it."""
    from benchmark.results import store as R

    rng = np.random.default_rng(0)
    folders = np.repeat(np.arange(12), 4)
    y = (folders >= 6).astype(int)
    free = (folders % 2 == 0) | (y == 0)
    facts = {"film": ("proposed", "cross-modal", "C", "(C) Cross-modal", 1.0),
             "base": ("baseline", "cross-modal", "C", "(C) Cross-modal", 0.5),
             "floor": ("reference", "shortcut-floor", "R", "(R) Shortcut floors", 3.0)}
    for name, (role, group, letter, title, strength) in facts.items():
        s = rng.normal(size=len(y)) + strength * y
        cats = np.where(y == 1, "Porosity", "Good")
        subsets = {"both_matched": free}
        metrics = evaluate(y, s, cats, subsets=subsets, clusters=[f"d{f}" for f in folders], n_boot=200)
        rows = [{"id": f"w{i:02d}", "split": "TEST", "category": c, "label": int(l), "config": "c",
                 "folder": f"f{f}", "session": f"d{f}", "recipe_matched": 1, "session_matched": 1,
                 "both_matched": int(m), "score": float(v)}
                for i, (c, l, f, m, v) in enumerate(zip(cats, y, folders, free, s))]
        config = {"method": name, "seed": 0, "role": role, "group": group, "group_letter": letter,
                  "group_title": title, "display_name": name.title(), "row_code": f"{letter}.1",
                  "modalities": ["session"] if role == "reference" else ["video", "image"],
                  "categories": {"Good": 0, "Porosity": 3}, "profile": {"name": "quick", "preset": "tiny"},
                  "synthetic": True}
        R.write_unit(root, name, 0, metrics=metrics, scores=rows, config=config, efficiency={}, history={})
    return root


def test_the_main_table_shows_the_floors_unranked_and_the_confound_free_column(tmp_path):
    from benchmark.results.tables.build import RunData, main_table

    data = RunData.load(_fixture_run(tmp_path / "run"))
    table = main_table(data)
    free = next(c for c in table.columns if c.key == "both_matched/I-AUROC")
    assert free.label == "I-AUROC (conf.-free, n=12)"
    rows = {r.method: r for r in table.rows()}
    assert rows["floor"].cells["I-AUROC"].mean > rows["film"].cells["I-AUROC"].mean
    assert rows["floor"].cells["I-AUROC"].rank == 0  # a reference, never ranked
    assert rows["film"].cells["I-AUROC"].rank == 1  # the best of the methods
    assert "shortcut floors (R)" in table.caption and "not ranked" in table.caption
    notes = " ".join(table.details)  # the protocol in full, under the table
    assert "Shortcut floors (R)" in notes and "(R.1) Floor" in notes
    assert "12 TEST defects that share both recipe and recording day" in notes
    assert "resample recording sessions (cluster bootstrap over the days: 6 with normal and 6 with defective" in notes


def test_compare_on_a_subset_resamples_sessions(tmp_path):
    from benchmark.results.compare import compare, significance_table
    from benchmark.results.tables.build import RunData

    data = RunData.load(_fixture_run(tmp_path / "run"))
    whole, free = compare(data, "film", "base"), compare(data, "film", "base", subset="both_matched")
    assert (whole.rows[0].n_anomalous, free.rows[0].n_anomalous) == (24, 12)
    assert free.clustered and "recording sessions" in free.render() and "both-matched" in free.render()
    # the confound-free subset's defects come from 3 sessions: too few for an interval or a test
    assert isinstance(free.rows[0].ci, Undefined) and "too few sessions" in free.rows[0].ci.reason
    assert not free.rows[0].p and "too few sessions" in free.rows[0].undefined
    with pytest.raises(ValueError, match="no subset 'session'"):
        compare(data, "film", "base", subset="session")
    table = significance_table(data, subset="both_matched")
    rows = {r.method: r for r in table.rows()}
    assert rows["floor"].cells["diff"].text == "–"  # a floor is not compared with the proposed model
    assert "cluster bootstrap" in " ".join(table.details) and "both-matched" in table.caption


# ---------------------------------------------------------------------------- on the quick runs
SESSION_FLOORS = ("session_manifest", *(f"session_probe_{m}" for m in ("image", "audio", "video", "sensor")))
# NOTE: "at chance" for every one of the five floors at once: Bonferroni, 1 - 0.05 / 5
AT_CHANCE_LEVEL = 1 - 0.05 / len(SESSION_FLOORS)


def _auroc_ci(run_dir: Path, method: str, subset: str | None = None,
              level: float = 0.95) -> tuple[float, tuple[float, float]]:
    """A unit's TEST I-AUROC (overall or on a subset) and its folder-level interval."""
    import csv

    from sklearn.metrics import roc_auc_score

    from benchmark.results import store as R

    with open(R.unit_dir(run_dir, method, 0) / "scores.csv") as f:
        rows = [r for r in csv.DictReader(f) if subset is None or r[subset] == "1"]
    y = np.array([int(r["label"]) for r in rows])
    s = np.array([float(r["score"]) for r in rows])
    ci = bootstrap_auroc_ci(y, s, n_boot=2000, level=level, clusters=[r["folder"] for r in rows])
    return roc_auc_score(y, s), ci


@pytest.mark.slow
def test_the_session_floors_read_the_session_on_the_twin(quick_run):
    """Every session floor (the manifest's day, and each modality's probe) ranks the defects
    above chance on the default twin, whose sessions follow Weld-4M's, and sits at chance on the
    session-matched subset, where the day gives nothing away."""
    for method in SESSION_FLOORS:
        auroc, (lo, _) = _auroc_ci(quick_run, method)
        assert lo > 0.5, (method, auroc, lo)
        auroc, (lo, hi) = _auroc_ci(quick_run, method, "session_matched", AT_CHANCE_LEVEL)
        assert lo <= 0.5 <= hi, (method, "session_matched", auroc, lo, hi)
    assert _auroc_ci(quick_run, "session_manifest", "session_matched")[0] == 0.5


@pytest.mark.slow
def test_the_session_floors_are_at_chance_on_the_confound_free_twin(neutral_run):
    for method in SESSION_FLOORS:
        auroc, (lo, hi) = _auroc_ci(neutral_run, method, level=AT_CHANCE_LEVEL)
        assert lo <= 0.5 <= hi, (method, auroc, lo, hi)


@pytest.mark.slow
def test_a_method_that_sees_the_weld_is_above_chance_on_the_confound_free_subset(quick_run):
    """On the both-matched subset recipe and session give nothing away (the floors sit at 0.5
    there); the joint autoencoder over every modality still ranks its defects (most of them
    Process_Result_Mismatch: a bead that does not fit its process) above chance, folders resampled."""
    for floor in ("recipe_manifest", "session_manifest", "recipe_session_manifest"):
        assert _auroc_ci(quick_run, floor, "both_matched")[0] == 0.5
    auroc, (lo, hi) = _auroc_ci(quick_run, "concat_ae_all", "both_matched")
    assert lo > 0.5, (auroc, lo, hi)
