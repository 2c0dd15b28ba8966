"""reco.evaluate.gaps_to: every model's paired gap to a baseline, as 07 and 08 report it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reco import evaluate


def _per_user(values, users):
    return pd.DataFrame({"ndcg": values, "recall": values}, index=pd.Index(users, name="user"))


def test_gaps_pair_users_and_flag_ties():
    rng = np.random.default_rng(0)
    users = np.arange(400)
    base = rng.uniform(0, 1, 400)
    per_user = {
        "popularity": _per_user(base, users),
        "better": _per_user(base + 0.05 + rng.normal(0, 0.01, 400), users),
        "same": _per_user(base + rng.normal(0, 0.05, 400), users),
    }
    per_user["shuffled"] = per_user["better"].iloc[::-1]  # same users, another order
    table = evaluate.gaps_to(per_user, "popularity", n_boot=500)
    assert list(table.index) == ["better", "same", "shuffled"]
    assert table.loc["better", "gap"] == pytest.approx(
        per_user["better"]["ndcg"].mean() - base.mean()
    )
    assert not table.loc["better", "tie"] and table.loc["better", "low"] > 0.04
    assert table.loc["same", "tie"]
    # the same pairs in another order: the same gap, an interval within resampling noise
    assert table.loc["shuffled", "gap"] == pytest.approx(table.loc["better", "gap"])
    assert table.loc["shuffled", ["low", "high"]].tolist() == pytest.approx(
        table.loc["better", ["low", "high"]].tolist(), abs=0.002
    )
    assert (table["users"] == 400).all()


def test_gaps_name_an_unknown_baseline_or_metric():
    per_user = {"a": _per_user([0.1, 0.2], [0, 1]), "b": _per_user([0.2, 0.1], [0, 1])}
    with pytest.raises(ValueError, match="baseline 'popularity' is not among"):
        evaluate.gaps_to(per_user, "popularity")
    with pytest.raises(ValueError, match="'mrr' is not a column"):
        evaluate.gaps_to(per_user, "a", metric="mrr")


def test_gaps_between_compares_each_pair_as_gaps_to_does():
    rng = np.random.default_rng(1)
    users = np.arange(300)
    base = rng.uniform(0, 1, 300)
    per_user = {
        "popularity": _per_user(base, users),
        "softmax": _per_user(base + 0.08 + rng.normal(0, 0.02, 300), users),
        "bpr": _per_user(base + 0.05 + rng.normal(0, 0.02, 300), users),
    }
    table = evaluate.gaps_between(per_user, [("softmax", "bpr"), ("bpr", "popularity")],
                                  n_boot=500)  # fmt: skip
    assert list(table.index) == ["softmax − bpr", "bpr − popularity"]
    assert table.loc["softmax − bpr", ["a", "b"]].tolist() == ["softmax", "bpr"]
    assert table.loc["softmax − bpr", "gap"] == pytest.approx(
        per_user["softmax"]["ndcg"].mean() - per_user["bpr"]["ndcg"].mean()
    )
    assert table.loc["softmax − bpr", "low"] > 0.02 and not table["tie"].any()
    # the pair with the baseline is gaps_to's row, to the last digit
    to = evaluate.gaps_to(per_user, "popularity", n_boot=500)
    assert table.loc["bpr − popularity", ["gap", "low", "high"]].tolist() == (
        to.loc["bpr", ["gap", "low", "high"]].tolist()
    )


def test_gaps_between_names_bad_pairs():
    per_user = {"a": _per_user([0.1, 0.2], [0, 1]), "b": _per_user([0.2, 0.1], [0, 1])}
    with pytest.raises(ValueError, match=r"\['c'\] are not among the models"):
        evaluate.gaps_between(per_user, [("a", "c")])
    with pytest.raises(ValueError, match="pairs must be one or more"):
        evaluate.gaps_between(per_user, [])
    with pytest.raises(ValueError, match="pairs must be one or more"):
        evaluate.gaps_between(per_user, [("a", "b", "a")])
