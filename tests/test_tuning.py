"""Tests of reco.tuning on a tiny hand-made table, and of the committed table's shape."""

from __future__ import annotations

import tomllib

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from reco import tuning
from reco.config import TrainConfig

CONFIG = TrainConfig(batch_size=64, epochs=60, lr=3e-3, steps_per_execution=4)


def row(experiment, model, settings, seed, ndcg, **extra):
    return {
        "experiment": experiment,
        "model": model,
        "settings": settings,
        "seed": seed,
        "min_rating": np.nan,
        "ndcg": ndcg,
        "recall": ndcg / 2,
        "precision": ndcg / 4,
        "coverage": 0.01,
        "train_seconds": 1.0,
        "date": "2026-01-01",
        "keras": "3.0.0",
        "backend": "tensorflow 2.0.0",
        **extra,
    }


MF_A = tuning.settings_json({"n_factors": 8, "dropout": 0.5}, CONFIG, "multinomial")
MF_B = tuning.settings_json({"n_factors": 16, "dropout": 0.7}, CONFIG, "multinomial")


@pytest.fixture
def table():
    return pd.DataFrame(
        [
            row("popularity", "popularity", "{}", 42, 0.10),
            row("multinomial", "implicit_mf", MF_A, 42, 0.18),
            row("multinomial", "implicit_mf", MF_B, 42, 0.17),
            row("multinomial", "implicit_mf", MF_B, 1, 0.19),  # a lucky seed is not a choice
            row("multinomial", "implicit_mf", MF_A, 1, 0.16),
            row("multinomial", "implicit_mf", MF_A, 2, 0.17),
            row("EASE", "EASE", '{"lam":200}', 42, 0.19),
            row("EASE", "EASE", '{"lam":50}', 42, 0.18),
        ],
        columns=list(tuning.COLUMNS),
    )


def test_a_written_table_reads_back_the_same(table, tmp_path):
    path = tuning.write_validation(table, tmp_path / "results.csv")
    again = tuning.read_validation(path)
    pd.testing.assert_frame_equal(again, table, check_dtype=False)
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]  # no temporary file left


def test_a_failed_write_leaves_the_old_table(table, tmp_path):
    path = tuning.write_validation(table, tmp_path / "results.csv")
    before = path.read_bytes()
    with pytest.raises(ValueError, match=r"no column\(s\) \['ndcg'\]"):
        tuning.write_validation(table.drop(columns="ndcg"), path)
    assert path.read_bytes() == before
    assert len(list(tmp_path.iterdir())) == 1


def test_a_missing_table_names_make_tune(tmp_path):
    with pytest.raises(ValueError, match=r"no validation table at .*nothing\.csv.*make tune"):
        tuning.read_validation(tmp_path / "nothing.csv")


def test_a_table_with_wrong_columns_names_them_and_make_tune(tmp_path):
    path = tmp_path / "old.csv"
    pd.DataFrame({"model": ["EASE"], "ndcg": [0.19]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"no column\(s\) \['experiment', 'settings'.*make tune"):
        tuning.read_validation(path)


def test_best_is_the_highest_score_at_the_course_seed(table):
    chosen = tuning.best(table, "multinomial")
    assert (chosen["settings"], chosen["seed"], chosen["ndcg"]) == (MF_A, 42, 0.18)
    assert tuning.best(table, "EASE")["settings"] == '{"lam":200}'
    assert tuning.best(table, "EASE", metric="coverage")["settings"] == '{"lam":200}'  # a tie


def test_best_of_an_experiment_run_at_other_seeds_only(table):
    others = table[table["seed"] != 42]
    assert tuning.best(others, "multinomial")["ndcg"] == 0.19


def test_chosen_settings_retrain_the_row(table):
    kwargs, config, loss = tuning.chosen_settings(tuning.best(table, "multinomial"))
    assert kwargs == {"n_factors": 8, "dropout": 0.5}
    assert config == CONFIG and loss == "multinomial"
    assert tuning.chosen_settings(tuning.best(table, "EASE")) == ({"lam": 200}, None, None)


def test_seed_spread_is_over_the_seeds_of_each_setting(table):
    spread = tuning.seed_spread(table, "multinomial")
    assert list(spread.index) == ["implicit_mf", "implicit_mf"]
    assert list(spread.columns) == ["settings", "seeds", "mean", "std", "min", "max"]
    a = spread[spread["settings"] == MF_A].iloc[0]
    assert a["seeds"] == 3
    assert a["mean"] == pytest.approx(0.17)
    assert a["std"] == pytest.approx(np.std([0.18, 0.16, 0.17], ddof=1))
    assert (a["min"], a["max"]) == (0.16, 0.18)
    recall = tuning.seed_spread(table, "multinomial", model="implicit_mf", metric="recall")
    assert recall["mean"].iloc[0] == pytest.approx(0.085)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t: tuning.best(t, "bpr"), r"no experiment 'bpr'; it has \['popularity', "),
        (lambda t: tuning.best(t, "EASE", metric="mae"), "metric must be one of"),
        (lambda t: tuning.seed_spread(t, "multinomial", model="v2"), "has no model 'v2'"),
        (lambda t: tuning.seed_spread(t, "EASE"), "no setting run with two seeds"),
        (lambda t: tuning.seed_spread(t, "EASE", metric="mrr"), "metric must be one of"),
        (lambda t: tuning.best(t.drop(columns="seed"), "EASE"), r"no column\(s\) \['seed'\]"),
    ],
)
def test_bad_questions_are_a_clear_error(table, call, message):
    with pytest.raises(ValueError, match=message):
        call(table)


@pytest.mark.parametrize("settings", ["", "[1, 2]", "{lam: 200}", None])
def test_unreadable_settings_are_a_clear_error(table, settings):
    bad = table.iloc[0].copy()
    bad["settings"] = settings
    with pytest.raises(ValueError, match="no readable settings"):
        tuning.chosen_settings(bad)


def test_the_committed_table_reads_and_ships_with_the_package():
    table = tuning.read_validation()
    assert {"popularity", "multinomial", "EASE"} <= set(table["experiment"])
    assert table["ndcg"].between(0, 1).all()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "validation_results.csv" in pyproject["tool"]["setuptools"]["package-data"]["reco"]
    assert "validation_per_user.csv" in pyproject["tool"]["setuptools"]["package-data"]["reco"]


# ------------------------------------------------------------------ per-user values


def test_a_row_keeps_its_key_through_the_file_and_a_new_setting_gets_another(table, tmp_path):
    again = tuning.read_validation(tuning.write_validation(table, tmp_path / "results.csv"))
    keys = [tuning.row_key(row) for _, row in table.iterrows()]
    assert keys == [tuning.row_key(row) for _, row in again.iterrows()]
    assert len(set(keys)) == len(keys)  # settings or seed differ: another key
    row = table.iloc[1].copy()
    assert tuning.row_key(row) == tuning.row_key(row.replace({np.nan: None}))
    row["min_rating"] = 4.0
    assert tuning.row_key(row) != keys[1]


def _per_user_of(row, n_users=5):
    # values that average to the row's NDCG, one per user
    return pd.Series(row["ndcg"] + np.linspace(-0.01, 0.01, n_users), index=range(n_users))


def test_per_user_values_read_back_and_pair_by_user(table, tmp_path):
    path = tmp_path / "per_user.csv"
    rows = [table.iloc[0], table.iloc[1]]
    tuning.write_per_user({tuning.row_key(r): _per_user_of(r) for r in rows}, path)
    values = tuning.per_user(rows[1], path)
    assert list(values.columns) == ["ndcg"] and values.index.name == "user"
    np.testing.assert_allclose(values["ndcg"], _per_user_of(rows[1]), rtol=1e-6)
    assert values["ndcg"].mean() == pytest.approx(rows[1]["ndcg"])


def test_missing_or_foreign_per_user_values_are_a_clear_error(table, tmp_path):
    path = tmp_path / "per_user.csv"
    with pytest.raises(ValueError, match=r"no per-user validation values at .*make tune"):
        tuning.per_user(table.iloc[0], path)
    tuning.write_per_user({tuning.row_key(table.iloc[0]): _per_user_of(table.iloc[0])}, path)
    with pytest.raises(
        ValueError, match=r"no per-user values for the row 'multinomial'.*--per-user"
    ):
        tuning.per_user(table.iloc[1], path)
    changed = table.iloc[0].copy()
    changed["ndcg"] = 0.3  # the same row key, another table's result
    with pytest.raises(ValueError, match=r"average 0\.100000, but the table says 0\.300000"):
        tuning.per_user(changed, path)


def test_the_committed_per_user_values_belong_to_the_committed_table():
    table = tuning.read_validation()
    # every chosen row of notebook 08's experiments has them (tools/tune.py's
    # RANKING_EXPERIMENTS); notebook 09 retrains its chosen models instead
    ranking = [
        e for e in dict.fromkeys(table["experiment"]) if e not in tuning.RETRAINED_EXPERIMENTS
    ]
    assert len(ranking) == 9
    for experiment in ranking:
        values = tuning.per_user(tuning.best(table, experiment))
        assert len(values) > 500 and values["ndcg"].between(0, 1).all(), experiment
    per_user = pd.read_csv(tuning.VALIDATION_PER_USER, index_col="user")
    keys = {tuning.row_key(row): row for _, row in table.iterrows()}
    assert set(per_user.columns) <= set(keys)  # no column without its row
    for key in per_user.columns:
        assert per_user[key].mean() == pytest.approx(keys[key]["ndcg"], abs=1e-5)


def test_rmse_chooses_the_lowest_and_rows_without_it_are_not_compared(table):
    table = pd.concat(
        [
            table,
            pd.DataFrame(
                [
                    row("features", "v2", "{}", 42, 0.11, rmse=0.85),
                    row("features", "features", '{"cross":true}', 42, 0.04, rmse=0.91),
                    row("features", "features", "{}", 42, 0.06, rmse=0.82),
                ]
            ),
        ],
        ignore_index=True,
    )
    assert tuning.best(table, "features", metric="rmse")["rmse"] == 0.82
    assert tuning.best(table, "features")["model"] == "v2"  # NDCG, the highest
    with pytest.raises(ValueError, match="no row of experiment 'EASE' has a 'rmse' value"):
        tuning.best(table, "EASE", metric="rmse")
    with pytest.raises(ValueError, match="metric must be one of"):
        tuning.best(table, "features", metric="mae")
