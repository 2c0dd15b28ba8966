"""Tests of reco.train: training histories, predictions in stars, evaluation and input checks.

The trained models come from the session's ``course`` fixture (conftest.py):
the four course models, trained once with :func:`reco.train.train_model` on
ratings 1..10, so a rating range that goes missing on its way from
``train_model`` to the model shows up as numbers off by a factor of two
(test_fresh_process.py trains them again in another process, for the
determinism test). Every test here is marked ``backends``: make backends-test
runs them on JAX and PyTorch too. Input checks run on untrained models: they
fail before anything is compiled.
"""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
from synthetic import make_dataset

from reco import kinds, models, train
from reco.split import course_split

pytestmark = pytest.mark.backends

DATA = make_dataset(ten_point=True)  # ratings 1, 2, ..., 10
RANGE = {"min_rating": 1, "max_rating": 10}
CONFIG = train.TrainConfig(batch_size=256, epochs=1, lr=0.05)  # never reached: inputs fail first
NAMES = train.MODEL_NAMES


# --------------------------------------------------------------------------- the regression


@pytest.mark.parametrize("name", ["v2", "recommender_net_v2"])
def test_history_rmse_is_in_the_stars_of_the_range_given_to_train_model(course, name):
    """Regression: ``train_model(..., min_rating=...)`` once passed the range to the
    builder but not to ``fit``, so RecommenderNetV2's history RMSE was scaled with
    the default 0.5-5 range: half the true value on a 1-10 scale."""
    model, history, split = course.models[name], course.histories[name], course.data.split
    assert models.rating_range(model) == (1.0, 10.0)
    expected = train.rating_metrics(model, split.X_val, split.y_val)["rmse"]
    assert expected > 1.0  # random ratings: the validation part is not memorised
    assert history["val_rmse"].iloc[-1] == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("name", ["v2", "recommender_net_v2"])
def test_history_loss_is_computed_on_targets_of_the_models_own_range(course, name):
    # V2 learns squared error in stars; RecommenderNetV2 binary cross-entropy on
    # (rating - 1) / 9. Both losses include the L2 penalty (zero for these models).
    model, split = course.models[name], course.data.split
    pred = train.predict_ratings(model, split.X_val).astype(np.float64)
    y = split.y_val.astype(np.float64)
    if name == "v2":
        data_loss = np.mean((pred - y) ** 2)
    else:
        p = np.clip((pred - 1) / 9, 1e-7, 1 - 1e-7)
        t = train.normalize_ratings(y, **RANGE)
        data_loss = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    penalty = sum(float(keras.ops.convert_to_numpy(loss)) for loss in model.losses)
    val_loss = course.histories[name]["val_loss"].iloc[-1]
    assert val_loss == pytest.approx(data_loss + penalty, rel=1e-4)


# --------------------------------------------------------------------------- histories


@pytest.mark.parametrize("name", NAMES)
def test_history_is_a_frame_indexed_by_epoch_with_the_training_time(course, name):
    history = course.histories[name]
    validated = name in ("v2", "recommender_net_v2")  # the others were trained without validation
    assert list(history.index) == [1, 2] and history.index.name == "epoch"
    assert list(history.columns) == ["loss", "rmse"] + ["val_loss", "val_rmse"] * validated
    assert np.isfinite(history.to_numpy()).all()
    assert history.attrs["train_seconds"] > 0


@pytest.mark.parametrize("name", ["v1", "recommender_net_v2"])
def test_the_log_prints_one_line_per_epoch_without_timings(course, name):
    history, lines = course.histories[name], course.printed[name].strip().splitlines()
    assert len(lines) == course.config.epochs
    number = r"\d+\.\d{4}"
    validation = f"  val_loss {number}  val_rmse {number}" if name == "recommender_net_v2" else ""
    for epoch, line in enumerate(lines, start=1):
        assert re.fullmatch(rf"epoch {epoch}/2  loss {number}  rmse {number}{validation}", line)
        assert f"rmse {history['rmse'][epoch]:.4f}" in line


# --------------------------------------------------------------------------- predictions


@pytest.mark.parametrize("name", ["v2", "recommender_net", "recommender_net_v2"])
def test_predictions_are_stars_in_the_models_range(course, name):
    model, X = course.models[name], course.data.split.X_test
    pred = train.predict_ratings(model, X)
    assert pred.shape == (len(X),) and pred.dtype == np.float32
    assert pred.min() >= 1.0 and pred.max() <= 10.0
    out = keras.ops.convert_to_numpy(model(train.to_inputs(model, X))).reshape(-1)
    # RecommenderNetV2 outputs [0, 1]: its predictions are mapped back with its own range.
    np.testing.assert_allclose(
        pred, 1.0 + 9.0 * out if name == "recommender_net_v2" else out, rtol=1e-6
    )


def test_predicting_more_rows_than_one_chunk_gives_the_same_predictions(course):
    model, X = course.models["v2"], course.data.X
    copies = train.PREDICT_BATCH_SIZE // len(X) + 2
    many = train.predict_ratings(model, np.tile(X, (copies, 1)))
    # Equal up to float32 rounding: a batch of another size may sum in another order.
    np.testing.assert_allclose(many, np.tile(train.predict_ratings(model, X), copies), rtol=1e-6)
    assert train.predict_ratings(model, np.zeros((0, 2), dtype=np.int32)).shape == (0,)


def test_a_list_of_rows_is_read_as_rows(course):
    model = course.models["recommender_net_v2"]
    np.testing.assert_array_equal(
        train.predict_ratings(model, [[1, 3], [2, 4]]),
        train.predict_ratings(model, np.array([[1, 3], [2, 4]])),
    )


@pytest.mark.parametrize("name", ["v2", "recommender_net_v2"])
def test_evaluate_is_the_rmse_and_mae_of_the_predictions(course, name):
    model, split = course.models[name], course.data.split
    err = train.predict_ratings(model, split.X_test).astype(np.float64) - split.y_test
    scores = train.rating_metrics(model, split)  # the test part by default
    assert scores["rmse"] == pytest.approx(np.sqrt(np.mean(err**2)), rel=1e-9)
    assert scores["mae"] == pytest.approx(np.mean(np.abs(err)), rel=1e-9)
    assert train.rating_metrics(model, split.X_test, split.y_test) == scores
    val = train.rating_metrics(model, split, part="val")
    assert val == train.rating_metrics(model, split.X_val, split.y_val) != scores


# --------------------------------------------------------------------------- input checks


@pytest.fixture(scope="module")
def untrained():
    """Untrained V2 and RecommenderNetV2 on the default 0.5-5 scale, 20 users, 30 movies."""
    return {
        name: train.build_model(name, n_users=20, n_movies=30, n_factors=4)
        for name in ("v2", "recommender_net_v2")
    }


def predict(model, X, y):
    return train.predict_ratings(model, X)


ENTRY_POINTS = {
    "fit": lambda model, X, y: train.fit(model, X, y, config=CONFIG),
    "rating_metrics": train.rating_metrics,
    "predict_ratings": predict,
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("name", ["v2", "recommender_net_v2"])
@pytest.mark.parametrize(
    ("X", "message"),
    [
        ([[-1, 0]], r"user index -1 is outside the model's 20 users \(indices 0 to 19\)"),
        ([[0, 30]], r"movie index 30 is outside the model's 30 movies \(indices 0 to 29\)"),
    ],
)
def test_an_index_outside_the_embeddings_names_the_encoder_mismatch(
    untrained, entry, name, X, message
):
    with pytest.raises(ValueError, match=message + r".*another encoder.*build_v2\(encoder\)"):
        ENTRY_POINTS[entry](untrained[name], X, [3.0])


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (
            [np.arange(5), np.arange(5)],
            r"got shape \(2, 5\)\. A pair \[users, movies\] is read as 2 rows: stack it with np\.column_stack",
        ),
        (np.arange(4), r"X must have shape \(n, 2\).*got shape \(4,\).*split\.X_train"),
        (np.zeros((3, 3), dtype=int), r"X must have shape \(n, 2\).*got shape \(3, 3\)"),
        (np.zeros((3, 2)), r"X must hold integer indices; got dtype float64.*encode_ids"),
    ],
)
def test_rows_must_be_n_by_two_integer_indices(untrained, X, message):
    with pytest.raises(ValueError, match=message):
        train.predict_ratings(untrained["v2"], X)


@pytest.mark.parametrize("entry", ["fit", "rating_metrics"])
@pytest.mark.parametrize(
    ("y", "message"),
    [
        (
            [4.0, np.nan, 3.0],
            r"y has 1 missing or infinite rating\(s\), first at row 1.*drop those rows",
        ),
        ([4.0, 3.0, np.inf], r"y has 1 missing or infinite rating\(s\), first at row 2"),
        (
            [2.0, 10.0, 8.0],
            r"y has 2 rating\(s\) outside the model's rating range \[0\.5, 5\], first 10 at row 1.*min_rating= and max_rating=",
        ),
        ([4.0, 3.0], r"y has 2 ratings for 3 \[user, movie\] rows"),
    ],
)
def test_ratings_must_be_finite_and_inside_the_models_range(untrained, entry, y, message):
    X = [[0, 1], [2, 3], [4, 5]]
    for name in ("v2", "recommender_net_v2"):
        with pytest.raises(ValueError, match=message):
            ENTRY_POINTS[entry](untrained[name], X, y)


def test_validation_ratings_are_checked_too(untrained):
    X = [[0, 1], [2, 3]]
    with pytest.raises(ValueError, match=r"the val ratings has 1 rating\(s\) outside"):
        train.fit(untrained["v2"], X, [3.0, 4.0], config=CONFIG, validation=(X, [3.0, 9.0]))


def test_asking_for_a_part_the_data_do_not_have_is_a_clear_error():
    model = train.build_model("v2", DATA.encoder, n_factors=2, **RANGE)
    two_way = course_split(DATA.encoded)
    with pytest.raises(ValueError, match="this split has no 'val' part.*train_val_test_split"):
        train.fit(model, two_way, config=CONFIG, validation="val")
    with pytest.raises(ValueError, match="validation='val' needs a Split"):
        train.fit(model, DATA.split.X_train, DATA.split.y_train, config=CONFIG, validation="val")
    with pytest.raises(ValueError, match="part must be 'train', 'val' or 'test'; got 'valid'"):
        train.rating_metrics(model, DATA.split, part="valid")
    with pytest.raises(ValueError, match="pass either a Split or X and y, not both"):
        train.rating_metrics(model, DATA.split, DATA.split.y_test)
    with pytest.raises(ValueError, match=r"y is missing: pass fit\(model, X, y\)"):
        train.rating_metrics(model, DATA.split.X_test)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "TrainConfig.batch_size must be at least 1; got 0"),
        ({"batch_size": 2.5}, "TrainConfig.batch_size must be a positive integer"),
        ({"epochs": -1}, "TrainConfig.epochs must be at least 1"),
        ({"steps_per_execution": True}, "TrainConfig.steps_per_execution must be"),
        ({"lr": 0.0}, "TrainConfig.lr must be a finite positive learning rate; got 0.0"),
    ],
)
def test_train_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        train.TrainConfig(**({"batch_size": 64, "epochs": 5, "lr": 1e-3} | kwargs))


def test_an_unknown_optimizer_is_a_clear_error_before_any_training(untrained):
    config = train.TrainConfig(batch_size=64, epochs=1, lr=1e-3, optimizer="adamm")
    with pytest.raises(ValueError, match="'adamm' is not a Keras optimizer.*'adam'"):
        train.fit(untrained["v2"], [[0, 1]], [3.0], config=config)


def test_compile_model_uses_the_configs_optimizer_settings():
    model = train.build_model("v1", n_users=3, n_movies=4, n_factors=2)
    config = train.TrainConfig(
        batch_size=8, epochs=1, lr=0.003, steps_per_execution=5, optimizer="sgd"
    )
    assert train.compile_model(model, config) is model
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.003)
    expected = 1 if keras.backend.backend() == "torch" else 5  # PyTorch's trainer: one batch
    assert model.steps_per_execution == train.steps_per_execution(config) == expected


# --------------------------------------------------------------------------- helpers


def test_build_model_passes_its_keywords_to_the_builder():
    model = train.build_model("recommender_net_v2", DATA.encoder, n_factors=3, **RANGE)
    assert models.rating_range(model) == (1.0, 10.0)
    assert kinds.sizes(model) == (DATA.encoder.n_users, DATA.encoder.n_movies)
    with pytest.raises(
        ValueError, match=r"no model kind is registered as 'v5'.*'v1', 'v2'\].*kinds.register"
    ):
        train.build_model("v5", DATA.encoder)


def test_to_inputs_arranges_rows_the_way_each_model_takes_them(untrained):
    X = np.array([[1, 2], [3, 4], [5, 6]], dtype=np.int64)
    users, movies = train.to_inputs(untrained["v2"], X)
    np.testing.assert_array_equal(users, [1, 3, 5])
    np.testing.assert_array_equal(movies, [2, 4, 6])
    assert users.dtype == movies.dtype == np.int32
    rows = train.to_inputs(untrained["recommender_net_v2"], X)
    np.testing.assert_array_equal(rows, X)
    assert rows.dtype == np.int32


def test_normalize_and_denormalize_are_inverse_and_map_the_ends():
    stars = np.arange(1, 11, dtype=np.float64)
    p = train.normalize_ratings(stars, **RANGE)
    assert p.dtype == np.float32 and p[0] == 0.0 and p[-1] == 1.0
    np.testing.assert_allclose(train.denormalize_ratings(p, **RANGE), stars, rtol=1e-6)
    with pytest.raises(ValueError, match="min_rating must be less than max_rating"):
        train.normalize_ratings(stars, min_rating=5, max_rating=5)


def test_set_seed_repeats_numpy_and_keras_random_numbers():
    def draw(seed):
        train.set_seed(seed)
        return np.random.rand(), float(keras.ops.convert_to_numpy(keras.random.uniform(())))  # noqa: NPY002 (the global state is what set_seed seeds)

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)


# --------------------------------------------------------------------------- determinism


def test_two_seeded_runs_give_identical_losses_on_this_backend():
    """set_seed's guarantee, on whichever backend runs the tests (make backends-test: all)."""
    config = train.TrainConfig(batch_size=256, epochs=2, lr=0.05)
    runs = []
    for _ in range(2):
        train.set_seed()
        model, history = train.train_model(
            "recommender_net_v2", DATA.split, DATA.encoder, config=config, n_factors=4, **RANGE
        )
        runs.append(history.to_numpy().tolist())
    assert np.isfinite(runs[0]).all()
    assert runs[0] == runs[1], f"two seeded runs on {keras.backend.backend()} gave other losses"
    assert np.isfinite(train.rating_metrics(model, DATA.split)["rmse"])


def test_the_names_before_0_2_still_work_with_a_deprecation_warning(course):
    X, y = course.data.split.X_test, course.data.split.y_test
    model = course.models["v2"]
    with pytest.warns(DeprecationWarning, match="use reco.train.rating_metrics"):
        old = train.evaluate(model, X, y)
    assert old == train.rating_metrics(model, X, y)
    with pytest.warns(DeprecationWarning, match=r"the model name 'net_v2' is deprecated"):
        net_v2 = train.build_model(
            "net_v2", course.data.encoder, n_factors=2, min_rating=1, max_rating=10
        )
    assert net_v2.name == "recommender_net_v2"
    with (  # the old keyword is read, then the empty part is refused before any training
        pytest.warns(DeprecationWarning, match=r"fit\(log=...\) is deprecated"),
        pytest.raises(ValueError, match="training part holds no ratings"),
    ):
        train.fit(net_v2, X[:0], y[:0], log=True)
