"""The exercises' tests tell wrong answers from right ones, run on answers given here.

Each case calls one of a master's test functions, in this process, on an
answer a student could give: a plausible wrong one must fail it, a right one
written another way must pass. (Grading whole notebooks, in a sandbox, is
``test_sandbox.py``.) Run by ``make exercises-test``.
"""

from __future__ import annotations

import ast

import keras
import numpy as np
import pytest
from conftest import ROOT
from test_exercises import blocks


def master_tests(name: str) -> dict:
    """Return the test functions of master ``name`` by name, defined in a namespace of their own."""
    namespace: dict = {}
    for kind, source in blocks(ROOT / "exercises" / f"{name}.md"):
        if kind == "code" and "def test_" in source:
            tree = ast.parse(source)  # the cell's call on the notebook's own names is left out
            tree.body = [node for node in tree.body if not isinstance(node, ast.Expr)]
            exec(compile(tree, name, "exec"), namespace)
    return {k: v for k, v in namespace.items() if k.startswith("test_")}


# ------------------------------------------------------------------ 04 q3: two embedding sizes


def two_sizes(hidden=10, relu="dense", sigmoid=True, dropout=0.0):
    def build(n_users, n_movies, user_factors, movie_factors):
        layers = keras.layers
        users = keras.Input(shape=(1,), dtype="int32")
        movies = keras.Input(shape=(1,), dtype="int32")
        u = layers.Flatten()(layers.Embedding(n_users, user_factors, name="user_embedding")(users))
        m = layers.Flatten()(
            layers.Embedding(n_movies, movie_factors, name="movie_embedding")(movies)
        )
        x = layers.Concatenate()([u, m])
        x = layers.Dense(hidden, activation="relu" if relu == "dense" else None)(x)
        if relu == "layer":
            x = layers.ReLU()(x)
        if dropout:
            x = layers.Dropout(dropout)(x)
        x = layers.Dense(1)(x)
        if sigmoid:
            x = layers.Activation("sigmoid")(x)
            x = layers.Rescaling(4.5, offset=0.5)(x)
        else:  # bounded another way: stars clipped, not mapped
            x = layers.Lambda(lambda t: keras.ops.clip(t + 2.75, 0.5, 5.0))(x)
        return keras.Model([users, movies], x)

    return build


@pytest.mark.parametrize(
    ("answer", "right"),
    [
        (two_sizes(), True),
        (two_sizes(relu="layer", dropout=0.3), True),
        (two_sizes(relu=None), False),
        (two_sizes(hidden=16), False),
        (two_sizes(sigmoid=False), False),
    ],
    ids=["solution", "relu-layer-and-dropout", "no-relu", "dense-16", "clipped-not-sigmoid"],
)
def test_04_q3_tells_the_architecture_asked_for(answer, right):
    test = master_tests("04_neural_net")["test_q3_behaves"]
    if right:
        test(answer, "a")
    else:
        with pytest.raises(AssertionError):
            test(answer, "a")


# ------------------------------------------------------------------ 02 q4: V1 by hand, cold start


@pytest.fixture(scope="module")
def v1_ten_factors():
    """02 q1's model10: V1 with 10 factors, trained for 16 epochs on the three-way split."""
    from dataclasses import replace

    from reco import data, split, train
    from reco.models import build_v1

    encoded, encoder = split.encode_ids(data.load_ratings())
    three_way = split.train_val_test_split(encoded)
    train.set_seed()
    model10 = build_v1(encoder, n_factors=10)
    longer = replace(train.COURSE_DEFAULTS, epochs=16)
    history10 = train.fit(model10, three_way, validation="val", config=longer)
    return model10, three_way, history10


def test_02_q1_and_q3_want_the_validation_curve_not_the_tests(v1_ten_factors):
    """A history10 drawn on the test part fails q1 and q3; the validation one passes.

    The wrong curve is the right one with its last epoch read on the test part
    (what ``train.fit(..., validation="test")`` ends at, measured here on the
    same model rather than by training it again).
    """
    from reco import train

    model10, three_way, history10 = v1_ten_factors
    tests = master_tests("02_dot_product_v1")
    on_test = history10.copy()
    on_test.loc[on_test.index[-1], "val_rmse"] = train.rating_metrics(model10, three_way)["rmse"]
    val = train.rating_metrics(model10, three_way, part="val")["rmse"]
    fit = train.rating_metrics(model10, three_way, part="train")["rmse"]
    n_params = model10.count_params()
    for history, right in ((history10, True), (on_test, False)):
        best = int(history["val_rmse"].idxmin())
        calls = (
            lambda h=history: tests["test_q1_trained_on_three_way"](model10, h, n_params, fit, val),
            lambda h=history, b=best: tests["test_q3_answer"](
                b, float(h["val_rmse"].min()), "b", h, model10
            ),
        )
        for call in calls:
            if right:
                call()
            else:
                with pytest.raises(AssertionError, match="validation"):
                    call()
    last = len(history10)  # the curve turns: the last epoch is not the best
    assert int(history10["val_rmse"].idxmin()) < last
    with pytest.raises(AssertionError, match="lowest val_rmse"):
        tests["test_q3_answer"](
            last, float(history10["val_rmse"].iloc[-1]), "b", history10, model10
        )


def test_02_q4_cold_max_is_judged_relatively(v1_ten_factors):
    from reco import metrics

    model10, three_way, _ = v1_ten_factors
    test = master_tests("02_dot_product_v1")["test_q4_cold_answer"]
    cold = metrics.unseen_mask(three_way.X_val, three_way.X_train)
    u = model10.get_layer("user_embedding").get_weights()[0]
    m = model10.get_layer("movie_embedding").get_weights()[0]
    X = three_way.X_val[cold]
    per_row = np.sum(u[X[:, 0]] * m[X[:, 1]], axis=1)
    test(model10, float(np.abs(per_row).max()))  # right: one dot product per row
    batch_summed = float(abs(per_row.sum()))  # the tensordot bug: the batch's sum on every row
    for wrong in (0.0, batch_summed):
        with pytest.raises(AssertionError):
            test(model10, wrong)


# ------------------------------------------------------------------ 05 q3: the loading error


class _Unregistered(keras.Model):  # like 05's BatchSummingRecommenderNet: not registered
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(1)

    def call(self, x):
        return self.dense(x)


def test_05_q3_wants_the_error_keras_raised_not_one_built_by_hand(tmp_path):
    test = master_tests("05_subclassed_model")["test_q3_answer"]
    _Unregistered.__name__ = _Unregistered.__qualname__ = "BatchSummingRecommenderNet"
    model = _Unregistered()
    model(np.zeros((2, 3), dtype="float32"))
    model.save(tmp_path / "broken.keras")
    try:
        keras.models.load_model(tmp_path / "broken.keras")
    except Exception as err:
        raised = err
    test(raised, "reco>RecommenderNetV2")  # right
    message = "Could not locate class 'BatchSummingRecommenderNet'"
    try:
        raise TypeError(message)
    except TypeError as err:
        by_hand = err
    for wrong in (TypeError(message), by_hand):
        with pytest.raises(AssertionError, match="keras.models.load_model raised"):
            test(wrong, "reco>RecommenderNetV2")


# ------------------------------------------------------------------ 06 q1 and q3: what a list leaves out


@pytest.fixture(scope="module")
def quick_v2():
    """06's setup: V2 trained for 3 epochs on the training part of the three-way split."""
    from dataclasses import replace

    from reco import data, models, split, train

    ratings, movies = data.load_ratings(), data.load_movies()
    encoded, encoder = split.encode_ids(ratings)
    three_way = split.train_val_test_split(encoded)
    train.set_seed()
    v2 = models.build_v2(encoder)
    train.fit(v2, three_way, config=replace(train.COURSE_DEFAULTS, epochs=3))
    return v2, encoder, ratings, movies


def test_06_q1_a_list_that_keeps_rated_movies_fails(quick_v2):
    from reco import recommend

    v2, encoder, ratings, movies = quick_v2
    test = master_tests("06_recommendations")["test_q1_answer"]
    counts = ratings.groupby("userId").size()
    user = int(counts[counts == counts.min()].index.max())
    generic = recommend.by_movie_bias(v2, encoder, ratings, movies, user)
    for exclude, right in ((True, True), (False, False)):
        recs = recommend.recommend(v2, encoder, ratings, movies, user, exclude_rated=exclude)
        shared = len(set(recs["movieId"]) & set(generic["movieId"]))
        if right:
            test(user, recs, shared, v2)
        else:
            rated = set(ratings.loc[ratings["userId"] == user, "movieId"])
            assert rated & set(recs["movieId"]), "the question's user must test the exclusion"
            with pytest.raises(AssertionError, match="not rated"):
                test(user, recs, shared, v2)


def test_06_q3_the_filter_changes_the_list(quick_v2):
    from reco import explore, recommend

    v2, encoder, ratings, movies = quick_v2
    test = master_tests("06_recommendations")["test_q3_answer"]
    unfiltered = recommend.recommend(v2, encoder, ratings, movies, 42)
    with pytest.raises(AssertionError, match="well-known"):
        test(unfiltered, v2)  # the filter forgotten
    long = recommend.recommend(v2, encoder, ratings, movies, 42, k=500)
    long = long.join(explore.movie_stats(ratings)[["n_ratings"]], on="movieId")
    with pytest.raises(AssertionError, match="well-known"):
        test(long[long["n_ratings"] >= 20].head(10), v2)  # a looser threshold
    counts = ratings["movieId"].value_counts()
    by_hand = [m for m in long["movieId"] if counts[m] >= 100][:10]
    test(long.set_index("movieId").loc[by_hand].reset_index(), v2)  # right, written another way


# ------------------------------------------------------------------ 04 q1: trained as net was


def test_04_q1_net0_must_be_trained_as_net_was():
    """8 epochs, or the course split (which leaks the validation part), fail; seeding later passes."""
    from dataclasses import replace

    from reco import data, split, train

    encoded, encoder = split.encode_ids(data.load_ratings())
    three_way = split.train_val_test_split(encoded)
    test = master_tests("04_neural_net")["test_q1_answer"]
    quick = replace(train.COURSE_DEFAULTS, epochs=3)
    train.set_seed()
    net = train.build_model("recommender_net", encoder)
    train.fit(net, three_way, config=quick)

    def net0(seed_after=False, epochs=3, on=three_way):
        if not seed_after:
            train.set_seed()
        model = train.build_model("recommender_net", encoder, dropout=0, hidden_dropout=0)
        if seed_after:
            train.set_seed()
        train.fit(model, on, config=replace(quick, epochs=epochs))
        return model

    def answer(model):
        gaps = [
            train.rating_metrics(m, three_way, part="val")["rmse"]
            - train.rating_metrics(m, three_way, part="train")["rmse"]
            for m in (net, model)
        ]
        return net, model, gaps[0], gaps[1], gaps[0] < gaps[1]

    test(*answer(net0(seed_after=True)))  # right, written another way
    for wrong in (net0(epochs=8), net0(on=split.course_split(encoded))):
        with pytest.raises(AssertionError, match="trained as net was"):
            test(*answer(wrong))


# ------------------------------------------------------------------ 08 q1: trained on the training part


def test_08_q1_a_model_that_saw_the_validation_part_fails():
    """mf32 trained on the course split fails; seeded after building, it passes.

    Its NDCG cannot tell them apart, so the hidden test compares how often a
    training and a validation movie reach their user's top 100.
    """
    from reco import baselines, data, evaluate, implicit, split, train

    encoded, encoder = split.encode_ids(data.load_ratings())
    three_way = split.train_val_test_split(encoded)
    test = master_tests("08_learning_to_rank")["test_q1_answer"]
    quick = train.TrainConfig(batch_size=64, epochs=10, lr=1e-2, steps_per_execution=4)

    def ndcg(model):
        recs = evaluate.top_k(model, three_way, part="val")
        return evaluate.ranking_metrics(recs, three_way, part="val")["ndcg"]

    pop = ndcg(baselines.PopularityBaseline().fit(three_way))
    for on, right in ((three_way, True), (split.course_split(encoded), False)):
        mf32 = implicit.build_implicit_mf(encoder, n_factors=32)
        train.set_seed()  # after building: another valid way, other weights
        history32 = train.fit(mf32, on, config=quick)
        answer = (mf32, history32, ndcg(mf32), ndcg(mf32) > pop, pop)
        if right:
            test(*answer)
        else:
            with pytest.raises(AssertionError, match="training part only"):
                test(*answer)


# ------------------------------------------------------------------ 03 q4: trained as v2 was


def test_03_q4_wide_models_must_be_trained_as_v2_was():
    """Seeded after building passes; trained on the course split (which leaks validation), fails."""
    from dataclasses import replace

    from reco import data, split, train
    from reco.models import build_v2

    encoded, encoder = split.encode_ids(data.load_ratings())
    three_way = split.train_val_test_split(encoded)
    test = master_tests("03_biases_and_sigmoid_v2")["test_q4_trained_as_v2_was"]
    quick = replace(train.COURSE_DEFAULTS, epochs=3)

    def wide(factors, on=three_way):
        model = build_v2(encoder, max_rating=5.5, n_factors=factors)
        train.set_seed()  # after building: another valid way, other weights
        train.fit(model, on, config=quick)
        return model

    wide50 = wide(50)
    test(wide50, wide(100))
    with pytest.raises(AssertionError, match="not trained as v2 was"):
        test(wide50, wide(100, on=split.course_split(encoded)))


# ------------------------------------------------------------------ 09: cold start, on validation only


def each_fails_saying(test, wrong: dict) -> None:
    """Each wrong answer (the arguments of ``test``) fails with its message, a regex."""
    for message, answer in wrong.items():
        with pytest.raises(AssertionError, match=message):
            test(*answer)


@pytest.fixture(scope="module")
def cold_start_data():
    """09's setup: the ratings encoded, the time split with earlier cuts, leave-last-out, genres."""
    from reco import data, features, split

    encoded, encoder = split.encode_ids(data.load_ratings())
    genres = features.genre_matrix(data.load_movies(), encoder)
    early = split.time_split(encoded, val_quantile=0.7, test_quantile=0.85)
    return encoded, early, split.leave_last_out_split(encoded), genres


def test_09_the_solution_passes_every_test_and_never_reads_the_test_part():
    """The master's own cells, run in order here, pass its tests and record no test-part read."""
    import inspect

    from reco import split

    name = "09_side_features_and_cold_start"
    namespace: dict = {}
    in_tests = False
    split.reset_test_reads()
    try:
        for kind, text in blocks(ROOT / "exercises" / f"{name}.md"):
            if kind == "otter":
                head = text.strip().splitlines()[0].strip().upper()
                in_tests = head == "# BEGIN TESTS" or (in_tests and head != "# END TESTS")
            elif not in_tests:  # the setup, the solutions and the cells between them
                exec(compile(text, name, "exec"), namespace)
        tests = master_tests(name)
        for test in tests.values():
            test(**{p: namespace[p] for p in inspect.signature(test).parameters})
        assert split.test_reads().empty, split.test_reads()
    finally:
        split.reset_test_reads()
    assert {"test_q1_answer", "test_q2_answer", "test_q3_answer"} <= set(tests)


def test_09_q1_counts_ratings_and_distinct_movies_of_the_validation_part(cold_start_data):
    from reco import split

    encoded, early, last_out, _ = cold_start_data
    test = master_tests("09_side_features_and_cold_start")["test_q1_answer"]
    val = split.cold_start_counts(early, part="val")
    on_test = split.cold_start_counts(early, part="test")
    default = split.cold_start_counts(split.time_split(encoded), part="val")  # the notebook's
    right = (val["ratings by new users"] / val["ratings"], val["new movies"], 0)
    assert split.cold_start_counts(last_out, part="val")["new users"] == 0
    assert (val["ratings"], val["ratings by new users"], val["new movies"]) == (15125, 13137, 1131)
    test(*right)
    test(np.float64(right[0]), np.int64(right[1]), np.int64(0))  # numpy types
    wrong = {
        "share of new users": (val["new users"] / val["users"], right[1], 0),
        "test part's share": (on_test["ratings by new users"] / on_test["ratings"], right[1], 0),
        "the notebook's cuts": (default["ratings by new users"] / default["ratings"], right[1], 0),
        "counts the ratings of new movies": (right[0], val["ratings of new movies"], 0),
        "new_movies is off": (right[0], default["new movies"], 0),
        "llo_new_users is off": (right[0], right[1], val["new users"]),  # the time split's
    }
    each_fails_saying(test, wrong)


def test_09_q2_wants_the_new_movies_and_the_training_mean(cold_start_data):
    from reco import baselines, metrics, split

    encoded, _, last_out, genres = cold_start_data
    test = master_tests("09_side_features_and_cold_start")["test_q2_answer"]
    new = metrics.unseen_mask(last_out.X_val, last_out.X_train)
    X, y = last_out.X_val[new], last_out.y_val[new]
    assert len(y) == 735  # a user's last ratings can be a movie's first

    def rmse(pred):
        return metrics.rmse_mae(y, pred)["rmse"]

    mean = np.full(len(y), last_out.y_train.mean())
    genre = baselines.GenreMeanBaseline(genres).fit(last_out).predict(X)
    user = baselines.GenreMeanBaseline(genres, user_bias=True).fit(last_out).predict(X)
    right = [rmse(mean), rmse(genre), rmse(user), True, True]
    assert right[1] < right[0] and right[2] < right[1]  # lower, and lower again with the user
    gap = metrics.rmse_gap(y, genre, mean)
    assert gap["low"] < 0 < gap["high"]  # yet the genre mean ties with the global mean
    test(*right)
    every = metrics.rmse_mae(last_out.y_val, np.full(len(last_out.y_val), last_out.y_train.mean()))
    by_time = split.time_split(encoded)  # the notebook's split, whose new movies it prints
    on_time = metrics.unseen_mask(by_time.X_val, by_time.X_train)
    time_mean = metrics.baseline_rmse(by_time.y_train, by_time.y_val[on_time])
    damped_100 = baselines.GenreMeanBaseline(genres, damping=100).fit(last_out).predict(X)
    wrong = {
        "time split's new movies": [time_mean, *right[1:]],
        "over every validation rating": [every["rmse"], *right[1:]],
        "mean of the training ratings": [rmse(np.full(len(y), y.mean())), *right[1:]],
        "rmse_genre is off": [right[0], rmse(damped_100), *right[2:]],
        "rmse_genre_user is off": [right[0], right[1], right[1], True, True],
        "genre_lower": [*right[:3], False, True],
        "genre_tie": [*right[:4], False],  # the gap is a tie: its interval includes 0
    }
    each_fails_saying(test, wrong)


def test_09_q3_the_trap_removes_only_the_asked_movies(cold_start_data):
    import pandas as pd

    from reco import baselines, evaluate, questionnaire

    encoded = cold_start_data[0]
    test = master_tests("09_side_features_and_cold_start")["test_q3_answer"]
    held_out = questionnaire.new_user_split(encoded)
    popularity = baselines.PopularityBaseline().fit(held_out.split)
    orders = {s: questionnaire.question_order(s, held_out.split) for s in ("popular", "random")}

    def ndcg(recs):
        return evaluate.ranking_metrics(recs, held_out.split, part="val")["ndcg"]

    def lists(order, ranking, n=10):
        """Each user's first 10 movies of ``ranking`` that ``order`` did not ask them about."""
        rows = []
        for user, (movies, _) in questionnaire.asked(order, held_out.pool("val"), n).items():
            skip = set(movies.tolist())
            ranked = [m for m in ranking[: 10 + n] if m not in skip][:10]
            rows += [(user, int(m), rank) for rank, m in enumerate(ranked, 1)]
        return pd.DataFrame(rows, columns=["user", "movie", "rank"])

    fair = {
        name: questionnaire.questionnaire_metrics(popularity, held_out, order, 10)["ndcg"].mean()
        for name, order in orders.items()
    }
    trap = {name: ndcg(lists(order, orders["popular"])) for name, order in orders.items()}
    assert trap["popular"] > trap["random"] + 0.02  # the trap favours popular questions
    test(fair, trap, "b")
    kept = ndcg(lists(orders["popular"], orders["popular"], n=0))  # nothing asked is removed
    own_order = ndcg(lists(orders["random"], orders["random"]))  # lists drawn from the order asked
    wrong = {
        "the fair score": (fair, dict(fair), "b"),
        r'trap\["popular"\] is off': (fair, {"popular": kept, "random": kept}, "b"),
        r'trap\["random"\] is off': (fair, {**trap, "random": own_order}, "b"),
        r'fair\["popular"\] is off': ({**fair, "popular": trap["popular"]}, trap, "b"),
    }
    each_fails_saying(test, wrong)
    for letter in ("a", "c"):
        with pytest.raises(AssertionError):
            test(fair, trap, letter)
