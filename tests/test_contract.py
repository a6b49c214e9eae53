"""The adapter contract's own guarantees: registry, hyperparameter bookkeeping, the shared
selection rule and the typed scores."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from benchmark.method import Hyperparameters, ProfileChanges, Scores, SelectionBudgetError, Selector
from benchmark.profiles import Selection
from benchmark.profiles import get_profile
from benchmark.registry import Registry, UnknownNameError
from benchmark.run.unit import val_query


def test_registry_refuses_duplicates_and_hints_on_typos():
    reg: Registry[int] = Registry("thing")
    reg.add("patchcore", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.add("patchcore", 2)
    with pytest.raises(UnknownNameError, match="did you mean patchcore"):
        reg.get("patchcor")


@dataclass(frozen=True)
class HP:
    lr: float = 1e-3
    epochs: int = 50


def test_every_change_needs_a_reason():
    with pytest.raises(ValueError, match="without a reason"):
        Hyperparameters(original=HP(), used=HP(lr=1e-4), reasons={})
    with pytest.raises(ValueError, match="unchanged"):
        Hyperparameters(original=HP(), used=HP(), reasons={"lr": "stale"})
    with pytest.raises(ValueError, match="unknown"):
        Hyperparameters(original=HP(), used=HP(), reasons={},
                        profiles={"quick": ProfileChanges({"batch": 3})})
    hp = Hyperparameters(original=HP(), used=HP(lr=1e-4), reasons={"lr": "smaller data"},
                         profiles={"quick": ProfileChanges({"epochs": 5})})
    assert hp.for_profile(get_profile("quick")) == HP(lr=1e-4, epochs=5)
    assert hp.for_profile(get_profile("paper")) == HP(lr=1e-4, epochs=50)
    rows = {r["name"]: r for r in hp.changes()}
    assert rows["lr"] == {"name": "lr", "original": 1e-3, "used": 1e-4, "reason": "smaller data",
                          "profile": "all"}
    assert rows["epochs"]["profile"] == "quick" and rows["epochs"]["used"] == 5


def test_selector_picks_best_val_auroc_earliest_on_ties():
    selector = Selector(Selection("val", budget=5), val_query([0, 0, 1, 1]))
    good, bad = [0.1, 0.2, 0.8, 0.9], [0.9, 0.8, 0.1, 0.2]
    assert selector.auroc(good) == 1.0 and selector.auroc(bad) == 0.0
    assert selector.best([bad, good, good]) == 1
    assert selector.queries == 5 and selector.remaining == 0
    assert not any(isinstance(v, (list, tuple, np.ndarray)) for v in vars(selector).values())


def test_selector_budget_and_label_free_policy():
    query = val_query([0, 1])
    last = Selector(Selection("last"), query)
    assert last.checkpoints(30) == () and list(last.weights()) == [0.5]
    assert last.best([[0.1, 0.9]]) == 0  # one candidate: no query
    with pytest.raises(SelectionBudgetError, match="'last'"):
        last.auroc([0.1, 0.9])
    val = Selector(Selection("val", budget=3), query)
    assert val.checkpoints(30) == (10, 20, 30) and val.checkpoints(2) == (1, 2)
    assert len(val.weights()) == 3
    child = val.share(2)  # a sub-method's share, counted in the parent's budget
    child.auroc([0.1, 0.9])
    assert (child.queries, val.queries, val.remaining) == (1, 1, 2)
    val.auroc([0.1, 0.9]), val.auroc([0.9, 0.1])
    with pytest.raises(SelectionBudgetError, match="3 allowed"):
        child.auroc([0.1, 0.9])
    assert val.share(5).budget == 0 and val.share(0).checkpoints(10) == ()


def test_scores_are_validated():
    with pytest.raises(ValueError, match="NaN"):
        Scores(sample=np.array([0.1, np.nan]))
    with pytest.raises(ValueError, match="maps"):
        Scores(sample=np.zeros(3), maps=[np.zeros((5, 4, 4))])
    assert Scores(sample=[1, 2]).sample.dtype == np.float64


# ---------------------------------------------------------------------------- declared facts
def test_image_methods_must_declare_their_view_pooling():
    from benchmark.method import Group, Method, ViewPooling, register_method

    class ImageStandIn(Method):
        group = Group.RESULT
        modalities = ("image",)

        def fit(self, train, val, ctx):
            pass

        def score(self, inputs):
            return Scores(sample=np.zeros(len(inputs)))

    with pytest.raises(ValueError, match="declare view_pooling"):
        register_method("test_contract_no_pooling", ImageStandIn, hparams=None, features=(),
                        summary="refused")
    with pytest.raises(ValueError, match="does not fit"):
        register_method("test_contract_none_pooling", ImageStandIn, hparams=None, features=(),
                        summary="refused", view_pooling=ViewPooling.NONE)


def test_every_method_declares_how_its_views_make_the_sample_score():
    """Declared once, at registration, written into every result; where the hyperparameters
    also carry a pooling (the view-per-image adapters), the two agree, and the cross-modal late
    fusion declares its image method's."""
    from benchmark.method import ViewPooling, load_methods

    methods = load_methods()
    for name, spec in methods.items():
        facts = spec.facts()
        assert facts["view_pooling"] == spec.view_pooling.value and facts["view_pooling_text"]
        assert (spec.view_pooling is ViewPooling.NONE) == ("image" not in spec.modalities), name
        hp_pooling = getattr(spec.hparams.used, "view_pooling", None)
        if hp_pooling is not None:
            assert hp_pooling == spec.view_pooling.value, name
    cross = methods.get("late_fusion_cross")
    assert cross.view_pooling is methods.get(cross.hparams.used.image_method).view_pooling


PAPER_ROW_LABELS = {  # the paper's main-table row labels (issue 14), told apart (issue 24)
    "late_fusion_av": "(A.1) Late Fusion (V+A)", "concat_ae_av": "(A.2) Concat-AE (V+A)",
    "causal_film_process_only": "(A.N) Causal-FiLM (V+A)",
    "dinomaly": "(B.1) Dinomaly (Image)", "causal_film_result_only": "(B.N) Causal-FiLM (Image)",
    "late_fusion_cross": "(C.1) Late Fusion (A+B)", "concat_ae_all": "(C.2) Concat-AE (A+B)",
    "crossmodal_mapping": "(C.3) Costanzino-style", "m3dm_nobank": "(C.4) M3DM-style (No-Bank)",
    "causal_film": "(C.N) Causal-FiLM (Ours)",
}


def test_main_table_rows_carry_the_papers_labels():
    """The tables label a row from the facts the runner writes (display name, row code); the
    registry name stays the row's key (Markdown and JSON)."""
    from types import SimpleNamespace

    from benchmark.method import load_methods
    from benchmark.results.tables.build import MethodRuns

    methods = load_methods()
    for name, label in PAPER_ROW_LABELS.items():
        runs = MethodRuns(name, [SimpleNamespace(config=methods.get(name).facts())])
        assert runs.label == label, name
    codes = [s.row_code for _, s in methods.items() if s.row_code]
    assert len(codes) == len(set(codes)), "two rows share a row code"
