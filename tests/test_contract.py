"""The adapter contract's own guarantees: registry, hyperparameter bookkeeping, the shared
selection rule and the typed scores."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from benchmark.method import Hyperparameters, ProfileChanges, Scores, SelectionBudgetError, Selector
from benchmark.profiles import Selection
from benchmark.runner import val_query
from benchmark.registry import Registry, UnknownNameError
from benchmark.profiles import get_profile


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
