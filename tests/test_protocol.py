"""The fair protocol on the tiny synthetic twin: selection as a declared policy with one budget,
no label path into a method, costs that charge every method its backbones, and results that
cannot go stale."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from benchmark.method import METHODS, Group, Method, Scores, load_methods, register_method, unchanged
from benchmark.metrics import bootstrap_auroc_ci
from benchmark.results import store as R
from benchmark.results.store import StaleResultsError
from benchmark.results.tables import build_tables
from benchmark.results.tables.build import RunData
from benchmark.run.config import RunConfig
from benchmark.run.plan import order_key
from benchmark.run.runner import LocalExecutor, prepare, run


@pytest.fixture(scope="module")
def cache(tiny_cache) -> Path:
    return tiny_cache


def _config(twin, out, cache, **kw) -> RunConfig:
    return RunConfig(root=twin, out=out, cache=cache, **kw)


# ---------------------------------------------------------------------------- no label path
def harvest(root, limit: int = 20000) -> tuple[list[str], list[np.ndarray]]:
    """Every string and integer array reachable from `root` through attributes, dataclass
    fields, mapping keys and values, sequence items and bound methods: what an adapter can read
    from what it is handed (it is trusted not to introspect the interpreter: closures, frames, gc)."""
    strings, arrays, seen, todo = [], [], set(), [root]
    while todo and len(seen) < limit:
        obj = todo.pop()
        if id(obj) in seen or obj is None or isinstance(obj, (bool, int, float, type)):
            continue
        seen.add(id(obj))
        if isinstance(obj, (str, Path)):
            strings.append(str(obj))
        elif isinstance(obj, np.ndarray):
            if obj.dtype.kind in "iub":
                arrays.append(obj)
        elif isinstance(obj, Mapping):
            todo += list(obj.keys()) + list(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            todo += list(obj)[:5000]
        elif callable(obj) and not hasattr(obj, "__dict__") or isinstance(obj, type(harvest)):
            # a bound method (its object) or a cached function (what it wraps); not closures
            todo += [getattr(obj, "__self__", None), getattr(obj, "__wrapped__", None)]
        elif hasattr(obj, "__dict__"):
            todo += list(vars(obj).values())
    return strings, arrays


class Cheater(Method):
    """A test adapter that tries to learn labels from what it is handed."""

    group = Group.CROSS
    modalities = ("video", "audio", "sensor", "image")
    found: dict = {}

    def fit(self, train, val, ctx):
        Cheater.found = {"fit": harvest((train, val, ctx)), "n_val": len(val),
                         "has_ids": any(hasattr(x, "ids") for x in (train, val)),
                         "query": ctx.selector._query}

    def score(self, inputs):
        Cheater.found["score"] = harvest(inputs)
        return Scores(sample=np.zeros(len(inputs)))


@pytest.fixture()
def cheater():
    load_methods()
    register_method("cheater", Cheater, hparams=unchanged(_Nothing()), summary="test: tries to cheat",
                    features=("video_tokens", "audio_tokens", "sensor", "image_pixels", "image_cls"),
                    view_pooling="features")
    yield "cheater"
    METHODS.remove("cheater")


@dataclasses.dataclass(frozen=True)
class _Nothing:
    pass


@pytest.mark.slow
def test_a_cheating_adapter_learns_nothing(tiny_twin, tmp_path, cache, cheater):
    from benchmark.data.loader import load_dataset

    run_dir = run(_config(tiny_twin, tmp_path / "out", cache, methods=(cheater,)))
    dataset = load_dataset(tiny_twin)
    ids = [s.id for s in dataset.samples]
    secrets = [*ids, *(s.extra["run_id"] for s in dataset.samples), str(tiny_twin),
               *{s.category for s in dataset.samples} - {"Good"}]
    for stage in ("fit", "score"):
        strings, arrays = Cheater.found[stage]
        assert strings, "the harvest found nothing at all: it does not look"
        leaked = sorted({t for t in strings for secret in secrets if secret in t})
        assert not leaked, f"{stage}: readable strings carry ids, categories or paths: {leaked[:5]}"
        labels = {split: np.array([s.label for s in dataset.split(split)]) for split in ("VAL", "TEST")}
        for arr in arrays:
            for split, y in labels.items():
                assert not (arr.shape == y.shape and np.array_equal(arr, y)), f"{split} labels readable"
    assert not Cheater.found["has_ids"]
    # under `last` not even a closure over the VAL labels is handed over (the harvest does not
    # follow closures, so this is checked on its own)
    assert Cheater.found["query"] is None
    # positions carry no label: the VAL order is drawn from a hash of the ids
    val = sorted(dataset.split("VAL"), key=order_key)
    y = np.array([s.label for s in val])
    lo, hi = bootstrap_auroc_ci(y, np.arange(len(y), dtype=float), n_boot=2000, seed=0)
    assert lo <= 0.5 <= hi, f"VAL position predicts the label (AUROC CI [{lo:.2f}, {hi:.2f}])"
    assert json.loads((R.unit_dir(run_dir, cheater, 0) / "config.json").read_text())[
        "selection"]["val_queries"] == 0


# ---------------------------------------------------------------------------- selection budget
@pytest.mark.slow
def test_every_method_stays_within_the_val_budget(tiny_twin, tmp_path, cache):
    """Under `val` with K=3, every registered method reads the VAL labels at most 3 times, and the
    count is in its results; the methods with candidates do use them."""
    run_dir = run(_config(tiny_twin, tmp_path / "val", cache, selection="val", selection_budget=3))
    queries = {u.method: u.config["selection"]["val_queries"] for u in R.load_run(run_dir)}
    assert set(queries) == set(load_methods())
    assert all(0 <= q <= 3 for q in queries.values()), queries
    for name in ("causal_film", "concat_ae_av", "late_fusion_av", "late_fusion_cross",
                 "crossmodal_mapping"):
        assert queries[name] == 3, (name, queries[name])
    for name in ("dinomaly", "patchcore", "recipe_manifest", "recipe_sensors"):
        assert queries[name] == 0, (name, queries[name])
    table = build_tables(run_dir)[1][0]
    # the selection policy is part of the protocol in full, under the table
    assert "VAL q." in [c.label for c in table.columns] and "K=3" in " ".join(table.details)


# ---------------------------------------------------------------------------- cost that compares
@pytest.mark.slow
def test_backbone_cost_equals_the_extraction_log(tiny_twin, tmp_path, cache):
    run_dir = run(_config(tiny_twin, tmp_path / "cost", cache, methods=("concat_ae_all", "dinomaly")))
    log = json.loads((run_dir / "run.json").read_text())["features"]["extractors"]
    data, tables = build_tables(run_dir)
    eff = next(t for t in tables if t.name == "efficiency")
    for unit in R.load_run(run_dir):
        backbones = unit.efficiency["backbones"]
        expected = sum(log[name]["ms_per_sample"] for name in backbones)
        assert expected > 0 and unit.efficiency["backbone_ms_per_sample"] == pytest.approx(expected)
        row = next(r for r in eff.rows() if r.method == unit.method)
        assert row.cells["backbone_ms_per_sample"].mean == pytest.approx(expected)
    concat = R.load_run(run_dir)[0]
    assert set(concat.efficiency["backbones"]) == {"vjepa2", "ast", "sensor", "dinov2", "pixels"}
    assert concat.efficiency["backbone_parameters"] == sum(log[n]["parameters"] for n in concat.efficiency["backbones"])
    dinomaly = R.load_run(run_dir)[1]
    assert dinomaly.method == "dinomaly" and dinomaly.efficiency["backbone_parameters_own"] > 0
    assert dinomaly.efficiency["parameters_trainable"] > 0  # bottleneck + decoder, not the encoder
    assert "Backbones" in eff.caption or "Backbones" in [c.label for c in eff.columns]


# ---------------------------------------------------------------------------- stale results
@pytest.mark.slow
def test_a_changed_setting_stops_the_run_and_rerun_redoes_exactly_those_units(
        tiny_twin, tmp_path, cache, monkeypatch):
    methods = ("recipe_manifest", "recipe_sensors")
    config = _config(tiny_twin, tmp_path / "out", cache, methods=methods)
    run_dir = run(config)
    mtime = lambda m: (R.unit_dir(run_dir, m, 0) / "metrics.json").stat().st_mtime_ns
    before = {m: mtime(m) for m in methods}

    for changed, pattern in (({"label_guard": False}, r"feature_options\.label_guard: true -> false"),
                             ({"smoke": True}, r"profile\.smoke: false -> true"),
                             ({"selection": "val"}, r"selection\.policy: \"last\" -> \"val\"")):
        with pytest.raises(StaleResultsError, match=pattern):
            prepare(dataclasses.replace(config, **changed))
    assert before == {m: mtime(m) for m in methods}  # nothing was rewritten
    # the dry run says so before anything runs, and counts them to run under --rerun
    from benchmark.run.dryrun import dry_run

    changed = dataclasses.replace(config, label_guard=False)
    plan = dry_run(changed)
    assert plan.to_run == [] and "label_guard: true -> false" in plan.render()
    assert "`bench run` stops here" in plan.render()
    assert dry_run(dataclasses.replace(changed, rerun=True)).to_run == [(m, 0) for m in methods]

    # another backbone source (--backbone / --models need pretrained checkpoints, which the
    # quick profile has none of): a unit made with one is refused by a run without it
    unit = R.unit_dir(run_dir, "recipe_manifest", 0) / "config.json"
    done = unit.with_name(R.DONE_FILE)
    saved, saved_done = unit.read_text(), done.read_text()
    stored = json.loads(saved)
    stored["fingerprint"]["parts"]["feature_options"]["sources"] = [["dinov2", "/models/dinov2"]]
    stored["fingerprint"]["digest"] = R.digest(stored["fingerprint"]["parts"])
    unit.write_text(json.dumps(stored))
    record = json.loads(saved_done)  # NOTE: a whole unit made so (an edited file is not whole)
    record["files"]["config.json"]["sha256"] = hashlib.sha256(unit.read_bytes()).hexdigest()
    done.write_text(json.dumps(record))
    with pytest.raises(StaleResultsError, match=r"feature_options\.sources: \[\[\"dinov2\""):
        prepare(config)
    unit.write_text(saved)
    done.write_text(saved_done)

    spec = METHODS.get("recipe_sensors")
    hp = dataclasses.replace(spec.hparams, used=dataclasses.replace(spec.hparams.used, arc_on_a=20.0),
                             original=dataclasses.replace(spec.hparams.original, arc_on_a=20.0))
    monkeypatch.setitem(METHODS._items, "recipe_sensors", dataclasses.replace(spec, hparams=hp))
    with pytest.raises(StaleResultsError, match=r"1 finished unit.*hyperparameters\.arc_on_a: 10\.0 -> 20\.0"):
        run(config)
    ran = []

    class Recording(LocalExecutor):
        def map(self, plan, units):  # the units still to do
            ran.extend(units)
            return super().map(plan, units)

    run(dataclasses.replace(config, rerun=True), Recording())
    assert ran == [("recipe_sensors", 0)]
    assert mtime("recipe_manifest") == before["recipe_manifest"] and mtime("recipe_sensors") != before["recipe_sensors"]


def test_the_tables_refuse_mixed_settings(tiny_twin, tmp_path, cache, capsys):
    a = run(_config(tiny_twin, tmp_path / "a", cache, methods=("recipe_manifest",)))
    b = run(_config(tiny_twin, tmp_path / "b", cache, methods=("recipe_sensors",), label_guard=False))
    mixed = tmp_path / "mixed"
    for src in (a, b):
        for unit in src.glob("*/seed*"):
            dest = mixed / unit.parent.name / unit.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.symlink_to(unit, target_is_directory=True)
    RunData.load(a)  # one setting: fine
    with pytest.raises(ValueError, match=re.escape("feature_options.label_guard: false -> true")
                       + "|" + re.escape("feature_options.label_guard: true -> false")):
        RunData.load(mixed)
    # the command line says so in one line, no traceback
    from benchmark.cli import main

    assert main(["show", str(mixed)]) == 2
    assert "different run settings" in capsys.readouterr().err
