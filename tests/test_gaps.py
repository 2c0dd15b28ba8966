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
