"""Checks that need a fresh Python process, run with :func:`conftest.run_python`.

What ``import reco`` loads can only be seen in a process that has not loaded
it yet; a saved model must load where only ``import reco.models`` ran; and the
same seed must give the same losses in another process, not only in this one.
A fresh TensorFlow import costs a few seconds, so the three checks share one
process, :data:`FRESH`, run once for the module by the ``fresh`` fixture.
"""

from __future__ import annotations

import pytest

#: The models trained again in the fresh process: one per training path. V1 and
#: RecommenderNet (trained here without dropout) go through V2's path (a functional
#: model, mean squared error on stars), so retraining them in a second process would
#: check nothing new, for about 3 s of the unit tests' budget.
NAMES = ("v2", "recommender_net_v2")


def test_import_reco_and_its_table_modules_loads_no_deep_learning_library(fresh):
    heavy = fresh["heavy"]
    assert heavy == [], (
        f"import reco, reco.data, reco.split, reco.metrics, reco.explore loaded {heavy}"
    )


@pytest.mark.parametrize("name", NAMES)
def test_the_same_seed_gives_identical_losses_in_a_fresh_process(course, fresh, name):
    # The second run goes through build_model and fit on X, y without validation:
    # the seed alone fixes the losses, and validation changes nothing in the training.
    again = fresh["trained again"][name]
    first = course.histories[name][["loss", "rmse"]]
    assert again["columns"] == ["loss", "rmse"]
    assert again["losses"] == first.to_numpy().tolist()


def test_the_implicit_model_gives_identical_losses_in_a_fresh_process(implicit, fresh):
    again, first = fresh["implicit trained again"], implicit.logistic[1]
    assert again["columns"] == list(first.columns)
    assert again["losses"] == first.to_numpy().tolist()


def test_fit_without_log_prints_nothing_and_runs_our_callbacks(course, fresh):
    again = fresh["trained again"]["v2"]
    assert again["printed"] == ""
    assert again["epochs counted"] == course.config.epochs
