"""`check_dataset`: every bad input is reported with its sample, file and reason; all four
modalities are required unless `require` narrows them; the label guard's outcome per view."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.data import check
from benchmark.data.check import check_dataset, main_check

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "weld4m"
REAL_MANIFEST = SHARED / "manifest.csv"
REAL_ROOT = SHARED / "samples"
CONFIG = "good_weld_08_17_22_plane_plate"
REAL_IDS = ("08-17-22-0011-00", "08-17-22-0012-00", "08-17-22-0016-00", "08-18-22-0020-00")
BAD = Path(__file__).resolve().parent / "fixtures" / "bad"
# NOTE: the shared real samples have no .avi (too large to ship): tests of everything else
# narrow the required modalities to these three
NO_VIDEO = ("audio", "sensor", "image")

pytestmark = pytest.mark.skipif(not REAL_MANIFEST.is_file(), reason="no ../shared/weld4m here")


def real_rows(ids=REAL_IDS) -> pd.DataFrame:
    frame = pd.read_csv(REAL_MANIFEST)
    return frame[frame["SUBDIRS"].str.split("/").str[1].isin(ids)].reset_index(drop=True)


@pytest.fixture
def root(tmp_path) -> Path:
    """A writable copy of the four real samples with their manifest rows as manifest.csv."""
    root = tmp_path / "data"
    for run_id in REAL_IDS:
        shutil.copytree(REAL_ROOT / CONFIG / run_id, root / CONFIG / run_id)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    real_rows().to_csv(root / "manifest.csv", index=False)
    return root


def run_file(root: Path, index: int, suffix: str) -> Path:
    return root / CONFIG / REAL_IDS[index] / f"{REAL_IDS[index]}{suffix}"


def kinds_for(report, file: Path | str) -> set[str]:
    return {p.kind for p in report.problems if p.file == str(file)}


def only_problem(report, kind: str):
    found = [p for p in report.problems if p.kind == kind]
    assert found, f"no {kind!r} in {report.problems}"
    return found[0]


# ------------------------------------------------------------------------------- clean data


def test_real_samples_are_clean(root):
    report = check_dataset(root, require=NO_VIDEO)
    assert report.ok and report.n_samples == 4, report.problems
    assert "(none)" in report.summary_table()
    assert report.to_json()["counts"] == {}


def test_all_four_modalities_required_by_default(root):
    """Every Weld-4M sample ships a video and `bench run --method all` needs it: the shared
    samples (no .avi) fail the default check, one problem per sample naming its missing file."""
    report = check_dataset(root)
    assert report.require == ("video", "audio", "sensor", "image")
    assert not report.ok and report.counts() == {check.MISSING_FILE: 4}
    for problem, run_id in zip(report.problems, REAL_IDS):
        assert problem.file == str(root / CONFIG / run_id / f"{run_id}.avi")
        assert problem.id == run_id and "video" in problem.detail


def test_require_narrows_and_refuses_unknown_modalities(root):
    assert check_dataset(root, require=NO_VIDEO).ok
    flac = run_file(root, 0, ".flac")
    flac.unlink()
    assert check_dataset(root, require=("sensor", "image")).ok  # audio not required: not missing
    with pytest.raises(ValueError, match="thermal"):
        check_dataset(root, require=("audio", "thermal"))


def test_real_manifest_against_four_folders_reports_missing_folders():
    report = check_dataset(REAL_ROOT, REAL_MANIFEST, require=NO_VIDEO, decode_media=False)
    assert report.n_samples == 4040
    assert report.counts() == {check.MISSING_FOLDER: 4036}  # and no duplicate/code problems


# ------------------------------------------------------------------------- one per bad case


def test_missing_modality(root):
    flac = run_file(root, 0, ".flac")
    flac.unlink()
    report = check_dataset(root, require=NO_VIDEO)
    assert kinds_for(report, flac) == {check.MISSING_FILE}
    assert only_problem(report, check.MISSING_FILE).id == REAL_IDS[0]


def test_zero_images(root):
    images = root / CONFIG / REAL_IDS[1] / "images"
    shutil.rmtree(images)
    assert kinds_for(check_dataset(root, require=NO_VIDEO), images) == {check.NO_IMAGES}


def test_truncated_flac(root):
    flac = run_file(root, 2, ".flac")
    flac.write_bytes(flac.read_bytes()[: flac.stat().st_size // 2])
    report = check_dataset(root, require=NO_VIDEO)
    assert kinds_for(report, flac) == {check.BAD_AUDIO}
    assert only_problem(report, check.BAD_AUDIO).id == REAL_IDS[2]


def test_corrupt_avi(root):
    avi = run_file(root, 0, ".avi")
    shutil.copy(BAD / "corrupt.avi", avi)
    report = check_dataset(root, require=NO_VIDEO)
    assert kinds_for(report, avi) == {check.BAD_VIDEO}
    assert "unreadable video" in only_problem(report, check.BAD_VIDEO).problem


def test_truncated_jpeg(root):
    image = sorted((root / CONFIG / REAL_IDS[3] / "images").iterdir())[2]
    image.write_bytes(image.read_bytes()[:4000])
    assert kinds_for(check_dataset(root, require=NO_VIDEO), image) == {check.BAD_IMAGE}


@pytest.mark.parametrize("fixture, reason", [
    ("empty.csv", "empty"),
    ("malformed.csv", "malformed"),
    ("missing_channel.csv", "lacks column"),
    ("nan.csv", "NaN"),
])
def test_bad_sensor_csv(root, fixture, reason):
    csv = run_file(root, 1, ".csv")
    shutil.copy(BAD / fixture, csv)
    report = check_dataset(root, require=NO_VIDEO)
    assert kinds_for(report, csv) == {check.BAD_SENSOR}
    assert reason in only_problem(report, check.BAD_SENSOR).detail


def test_real_csv_with_a_nan_cell(root):
    csv = run_file(root, 0, ".csv")
    lines = csv.read_text().splitlines()
    fields = lines[100].split(",")
    fields[6] = ""  # Primary Weld Current, data row 100
    lines[100] = ",".join(fields)
    csv.write_text("\n".join(lines) + "\n")
    problem = only_problem(check_dataset(root, require=NO_VIDEO), check.BAD_SENSOR)
    assert problem.file == str(csv) and "Primary Weld Current" in problem.detail
    assert "[100]" in problem.detail


def test_duration_mismatch(root):
    csv = run_file(root, 3, ".csv")
    csv.write_text("\n".join(csv.read_text().splitlines()[:120]) + "\n")  # ~13 s of ~37 s
    problem = only_problem(check_dataset(root, require=NO_VIDEO), check.DURATION_MISMATCH)
    assert problem.file == str(csv) and problem.id == REAL_IDS[3]


def test_unknown_category_code(root):
    rows = real_rows()
    rows.loc[0, "SUBDIRS"] = f"{CONFIG}/08-17-22-0099-42"
    rows.to_csv(root / "manifest.csv", index=False)
    (root / CONFIG / REAL_IDS[0]).rename(root / CONFIG / "08-17-22-0099-42")
    problem = only_problem(check_dataset(root, require=NO_VIDEO), check.UNKNOWN_CODE)
    assert problem.id == "08-17-22-0099-42" and "42" in problem.detail


def test_unknown_code_without_manifest_row(root):
    (root / CONFIG / "08-17-22-0099-77").mkdir()
    report = check_dataset(root, require=NO_VIDEO, decode_media=False)
    folder = root / CONFIG / "08-17-22-0099-77"
    assert {check.UNKNOWN_CODE, check.NO_MANIFEST_ROW} <= kinds_for(report, folder)


def test_manifest_row_pointing_nowhere(root):
    shutil.rmtree(root / CONFIG / REAL_IDS[2])
    problem = only_problem(check_dataset(root, require=NO_VIDEO), check.MISSING_FOLDER)
    assert problem.id == REAL_IDS[2] and problem.file == str(root / CONFIG / REAL_IDS[2])


def test_folder_without_manifest_row(root):
    real_rows(REAL_IDS[:3]).to_csv(root / "manifest.csv", index=False)
    problem = only_problem(check_dataset(root, require=NO_VIDEO), check.NO_MANIFEST_ROW)
    assert problem.id == REAL_IDS[3] and problem.file == str(root / CONFIG / REAL_IDS[3])


def test_duplicate_id(root):
    rows = real_rows()
    pd.concat([rows, rows.iloc[[1]]]).to_csv(root / "manifest.csv", index=False)
    problem = only_problem(check_dataset(root, require=NO_VIDEO), check.DUPLICATE_ID)
    duplicated = rows.loc[1, "SUBDIRS"].split("/")[1]
    assert problem.id == duplicated and problem.file.endswith("manifest.csv:6")  # 5th row


def test_code_disagreeing_with_manifest(root):
    rows = real_rows()
    rows.loc[3, "CATEGORY"] = "Spatter"
    rows.to_csv(root / "manifest.csv", index=False)
    problem = only_problem(check_dataset(root, require=NO_VIDEO), check.CODE_MISMATCH)
    assert "Spatter" in problem.detail and "Good" in problem.detail


def test_no_manifest_is_reported_but_files_are_still_checked(root):
    (root / "manifest.csv").unlink()
    run_file(root, 0, ".flac").unlink()
    report = check_dataset(root, require=NO_VIDEO)
    assert {p.kind for p in report.problems} == {check.NO_MANIFEST, check.MISSING_FILE}


# ------------------------------------------------------------------------------- reporting


def test_report_outputs(root, tmp_path, capsys):
    flac, csv = run_file(root, 0, ".flac"), run_file(root, 1, ".csv")
    flac.unlink()
    shutil.copy(BAD / "nan.csv", csv)
    out = tmp_path / "report" / "check.json"
    assert main_check(root, None, out, require=NO_VIDEO) == 1
    printed = capsys.readouterr().out
    assert check.MISSING_FILE in printed and check.BAD_SENSOR in printed
    # every problem on screen: the file, then what is wrong with it
    assert f"{flac}: {check.MISSING_FILE}: required audio file is missing" in printed
    assert re.search(rf"{re.escape(str(csv))}: {check.BAD_SENSOR}: .*NaN", printed)
    data = json.loads(out.read_text())
    assert data["n_samples"] == 4 and data["n_bad_samples"] == 2
    assert data["counts"] == {check.BAD_SENSOR: 1, check.MISSING_FILE: 1}
    assert {p["kind"] for p in data["problems"]} == set(data["counts"])
    assert all(p["file"] and p["detail"] for p in data["problems"])
    sid, _, problem = check_dataset(root, require=NO_VIDEO).problems[0]  # plain 3-tuples too
    assert isinstance(problem, str) and np.isscalar(sid)


def test_clean_run_exits_zero(root, tmp_path):
    assert main_check(root, root / "manifest.csv", tmp_path / "ok.json", require=NO_VIDEO) == 0


def test_first_fifty_problems_printed_then_how_many_more(tmp_path, capsys):
    """The published manifest against the four shared folders: 4036 problems. The terminal
    shows the first 50 with their files, then how many more; the JSON holds all of them."""
    out = tmp_path / "check.json"
    assert main_check(REAL_ROOT, REAL_MANIFEST, out, require=NO_VIDEO) == 1
    printed = capsys.readouterr().out
    listed = [l for l in printed.splitlines() if f": {check.MISSING_FOLDER}: no folder for " in l]
    assert len(listed) == check.SHOWN
    assert all(l.startswith(str(REAL_ROOT)) for l in listed)
    assert f"... and {4036 - check.SHOWN} more (all 4036 in {out})" in printed
    assert len(json.loads(out.read_text())["problems"]) == 4036


def test_cli_requires_all_four_and_narrows_with_require(root, tmp_path, capsys):
    from benchmark.cli import main

    base = ["data", "check", "--root", str(root), "--json", str(tmp_path / "c.json")]
    assert main(base) == 1
    printed = capsys.readouterr().out
    for run_id in REAL_IDS:
        assert f"{root / CONFIG / run_id / run_id}.avi: {check.MISSING_FILE}: required video" in printed
    assert main(base + ["--require", "audio,sensor,image"]) == 0
    capsys.readouterr()
    assert main(base + ["--require", "audio,thermal"]) == 2
    assert "thermal" in capsys.readouterr().err


# ------------------------------------------------------------------------------- label guard


def test_label_guard_over_every_view(root, tmp_path):
    """The 20 real views: the guard finds and removes every label; nothing to draw."""
    report = check_dataset(root, require=NO_VIDEO, label_guard=True, sheet=tmp_path / "s.png")
    assert report.ok, report.problems
    assert len(report.labels) == 20 and report.label_counts() == {
        "found": 20, "unsure": 0, "not found": 0}
    assert {Path(v.file).parent.parent.name for v in report.labels} == set(REAL_IDS)
    assert report.sheet is None and not (tmp_path / "s.png").exists()
    assert "label_guard" not in check_dataset(root, require=NO_VIDEO).to_json()


def test_label_guard_lists_unsure_and_unfound_views_on_a_contact_sheet(root, tmp_path, capsys,
                                                                        monkeypatch):
    """A view whose label was painted out (not found) and a view the guard is unsure of: both
    are problems naming the file, listed per view in the JSON, drawn on the contact sheet."""
    import cv2

    import benchmark.data.label_guard as guard
    import label_stress  # tests/label_stress.py: real views with their label painted out

    key = label_stress.REAL_KEYS[1]  # a view of REAL_IDS[0]
    blank_view = root / CONFIG / key.split("/")[0] / "images" / key.split("/")[1]
    cv2.imwrite(str(blank_view), label_stress.clean_background(key)[..., ::-1],
                [cv2.IMWRITE_JPEG_QUALITY, 95])
    real_remove, calls = guard.remove_label, []

    def unsure_on_third_view(image, strict=False):
        out, region = real_remove(image, strict)
        calls.append(1)
        if len(calls) == 3:
            region = guard.LabelRegion(region.mask, region.box, True, region.score, unsure=True,
                                       grown=True, left=("print",))
        return out, region

    monkeypatch.setattr(guard, "remove_label", unsure_on_third_view)
    out = tmp_path / "check.json"
    sheet = tmp_path / "sheets" / "labels.png"
    assert main_check(root, None, out, require=NO_VIDEO, label_guard=True, sheet=sheet) == 1
    printed = capsys.readouterr().out
    images = sorted((root / CONFIG / REAL_IDS[0] / "images").iterdir())
    unsure_view = images[2]
    assert f"{blank_view}: {check.LABEL_NOT_FOUND}: " in printed
    assert f"{unsure_view}: {check.LABEL_UNSURE}: " in printed and "print" in printed
    assert "label guard over 20 views: 18 found, 1 unsure, 1 not found" in printed
    assert f"contact sheet of the unsure and not-found views: {sheet}" in printed
    data = json.loads(out.read_text())
    assert data["counts"] == {check.LABEL_NOT_FOUND: 1, check.LABEL_UNSURE: 1}
    views = {v["file"]: v for v in data["label_guard"]["views"]}
    assert len(views) == 20 and data["label_guard"]["sheet"] == str(sheet)
    assert views[str(blank_view)]["status"] == "not found"
    assert views[str(unsure_view)]["status"] == "unsure"
    assert views[str(unsure_view)]["left"] == ["print"]
    drawn = cv2.imread(str(sheet))
    assert drawn is not None and drawn.shape[1] > 2 * drawn.shape[0]  # one row of two views
