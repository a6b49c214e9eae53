"""No transductive scoring, by test: every registered method scores each TEST sample on its own,
so scoring the TEST split in another order, in two batches, gives every sample the same score.

Cheap by design: a few samples of the tiny twin (features extracted once for the module),
training cut short by the profile's smoke mode, one fit per method and three score calls (the
split in order; a permutation of it in two batches)."""
from __future__ import annotations

import numpy as np
import pytest

from benchmark.method import FitContext, Selector, load_methods, set_seed
from benchmark.run.config import RunConfig
from benchmark.run.plan import plan_run
from benchmark.run.unit import method_inputs, text_embedding

SIZES = {"TRAIN": 8, "VAL": 4, "TEST": 6}  # NOTE: enough for every method's smallest fit
METHOD_NAMES = sorted(load_methods())


@pytest.fixture(scope="module")
def small_plan(tiny_twin, tiny_cache, tmp_path_factory):
    """The run's plan on the first few samples of each split of the tiny twin, smoke training."""
    plan, _ = plan_run(RunConfig(methods=("all",), root=tiny_twin, smoke=True, cache=tiny_cache,
                                 out=tmp_path_factory.mktemp("order")))
    plan.samples = {split: ss[:SIZES[split]] for split, ss in plan.samples.items()}
    return plan


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_scores_do_not_depend_on_the_order_or_batches_of_test(small_plan, name):
    plan, spec = small_plan, load_methods().get(name)
    store = plan.store()
    features = spec.feature_names(plan.profile)
    sessions = "session" in spec.modalities

    def inputs(samples):
        return method_inputs(samples, store.get(samples, features), sessions)

    set_seed(0)
    method = spec.build(plan.profile)
    ctx = FitContext(seed=0, device="cpu", profile=plan.profile,
                     selector=Selector(plan.config.selection_policy(), None),
                     text_embedding=text_embedding(plan.profile, plan.options, "cpu"),
                     options=plan.options, log=lambda _: None)
    method.fit(inputs(plan.samples["TRAIN"]), inputs(plan.samples["VAL"]), ctx)

    test = plan.samples["TEST"]
    in_order = method.score(inputs(test)).sample
    order = np.random.default_rng(0).permutation(len(test))
    half = len(test) // 2
    shuffled = np.empty(len(test))
    for part in (order[:half], order[half:]):
        shuffled[part] = method.score(inputs([test[i] for i in part])).sample
    worst = int(np.argmax(np.abs(shuffled - in_order)))
    assert np.allclose(shuffled, in_order, rtol=1e-6, atol=1e-6), (
        f"{name} scores TEST samples transductively: sample {worst} scores {in_order[worst]!r} "
        f"in order and {shuffled[worst]!r} shuffled in two batches")
