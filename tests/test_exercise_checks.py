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


def run_solution(name: str) -> dict:
    """Run a master's setup and solution cells in order, here; return the names they set."""
    namespace: dict = {}
    in_tests = False
    for kind, text in blocks(ROOT / "exercises" / f"{name}.md"):
        if kind == "otter":
            head = text.strip().splitlines()[0].strip().upper()
            in_tests = head == "# BEGIN TESTS" or (in_tests and head != "# END TESTS")
        elif not in_tests:  # the setup, the solutions and the cells between them
            exec(compile(text, name, "exec"), namespace)
    return namespace


def passes_every_test_and_never_reads_the_test_part(name: str) -> dict:
    """Run master ``name``'s solution and every test of it on its answers; return the tests."""
    import inspect

    from reco import split

    split.reset_test_reads()
    try:
        namespace = run_solution(name)
        tests = master_tests(name)
        for test in tests.values():
            test(**{p: namespace[p] for p in inspect.signature(test).parameters})
        assert split.test_reads().empty, split.test_reads()
    finally:
        split.reset_test_reads()
    return tests


def test_09_the_solution_passes_every_test_and_never_reads_the_test_part():
    """The master's own cells, run in order here, pass its tests and record no test-part read."""
    tests = passes_every_test_and_never_reads_the_test_part("09_side_features_and_cold_start")
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


# ------------------------------------------------------------------ 10: scaling, in NumPy


@pytest.fixture(scope="module")
def scaling():
    """10's solution, run here: its functions, and the factors and lists of its setup."""
    return run_solution("10_scaling")


def test_10_the_solution_passes_every_test_and_never_reads_the_test_part():
    tests = passes_every_test_and_never_reads_the_test_part("10_scaling")
    assert {f"test_q{i}_answer" for i in range(1, 6)} <= set(tests)


def test_10_q1_counts_float32_weights_and_two_moments():
    test = master_tests("10_scaling")["test_q1_answer"]
    rows = 162_541 + 59_047

    def bytes_of(per_number, copies=None):
        def table_bytes(n_rows, dim, optimizer):
            return per_number * n_rows * dim * (copies or {"sgd": 1, "adam": 3})[optimizer]

        return table_bytes

    right = bytes_of(4)
    test(right, 12 * rows * 51, 4 * 59_047**2)
    test(lambda n, d, o: float(right(n, d, o)), np.int64(12 * rows * 51), float(4 * 59_047**2))
    wrong = {
        "not 8": (bytes_of(8), 24 * rows * 51, 4 * 59_047**2),
        "come on top of the weights": (bytes_of(4, {"sgd": 1, "adam": 2}), 8 * rows * 51, 0),
        r'"adam"\) is off': (bytes_of(4, {"sgd": 1, "adam": 1}), 4 * rows * 51, 0),
        "another shape": (lambda n, d, o: right(1000, 50, o), 12 * rows * 51, 4 * 59_047**2),
        "leaves out the biases": (right, 12 * rows * 50, 4 * 59_047**2),
        "the weights only": (right, 4 * rows * 51, 4 * 59_047**2),
        "v2_bytes is off": (right, 12 * rows * 33, 4 * 59_047**2),  # another embedding size
        "4 bytes, not 8": (right, 12 * rows * 51, 8 * 59_047**2),
        "ease_bytes is off": (right, 12 * rows * 51, int(4 * 4.5 * 59_047**2)),  # fit's peak
    }
    each_fails_saying(test, wrong)


def test_10_q2_pads_as_reco_distribute_pads():
    from reco.distribute import padded_size

    test = master_tests("10_scaling")["test_q2_answer"]

    def share_fits(n):  # a device's share of the four tables, with Adam, in 80 GB
        rows = padded_size(400_000_000, n) + padded_size(3_000_000, n)
        return 12 * 129 * rows // n <= 80 * 10**9

    assert min(n for n in range(1, 100) if share_fits(n)) == 8

    def right(n, k):
        return padded_size(n, k), padded_size(n, k) // k

    test(right, 8)  # the master's cases are padded_size's
    test(lambda n, k: [np.int64(-(-n // k) * k), -(-n // k)], np.int64(8))
    wrong = {
        "leave a row out": (lambda n, k: (n // k * k, n // k), 8),
        "in that order": (lambda n, k: right(n, k)[::-1], 8),
        "pad only up to the next multiple": (lambda n, k: ((n // k + 1) * k, n // k + 1), 8),
        r"shard_rows\(5, 8\)": (lambda n, k: (n, 1) if n < k else right(n, k), 8),
        "Adam's two moments": (right, 3),  # 4 bytes a number: the weights alone
        "min_shards is off": (right, 7),
    }
    each_fails_saying(test, wrong)


def lazy_adam_with(mistake=None):
    """Lazy Adam in NumPy, right or with one plausible mistake."""

    def lazy_adam(table, batches, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        table = np.array(table, dtype=np.float32)
        m, v = np.zeros_like(table), np.zeros_like(table)
        count = np.zeros(len(table), dtype=np.int64)
        for step, (rows, grad) in enumerate(batches, 1):
            if mistake == "last gradient wins":  # a fancy assignment keeps one of a row's gradients
                distinct, g = rows, np.asarray(grad, np.float32)
            else:
                distinct, inverse = np.unique(rows, return_inverse=True)
                g = np.zeros((len(distinct), table.shape[1]), dtype=np.float32)
                np.add.at(g, inverse, grad)
            count[distinct] += 1
            m[distinct] = beta_1 * m[distinct] + (1 - beta_1) * g
            v[distinct] = beta_2 * v[distinct] + (1 - beta_2) * g * g
            t = np.full(len(table), step) if mistake == "global count" else count
            if mistake == "every row":  # the whole table, each row by its own count
                with np.errstate(divide="ignore", invalid="ignore"):
                    m_hat, v_hat = m / (1 - beta_1 ** t[:, None]), v / (1 - beta_2 ** t[:, None])
                table -= lr * m_hat / (np.sqrt(v_hat) + epsilon)
                continue
            t = t[distinct][:, None]
            if mistake == "no bias correction":
                m_hat, v_hat = m[distinct], v[distinct]
            else:
                m_hat, v_hat = m[distinct] / (1 - beta_1**t), v[distinct] / (1 - beta_2**t)
            if mistake == "epsilon inside":
                table[distinct] -= lr * m_hat / np.sqrt(v_hat + epsilon)
            else:
                table[distinct] -= lr * m_hat / (np.sqrt(v_hat) + epsilon)
        return table

    return lazy_adam


def test_10_q3_matches_reco_sparse_lazy_adam(scaling):
    """The master's lazy Adam is reco.sparse's (its JAX step, driven as fit_sparse drives it)."""
    jnp = pytest.importorskip("jax.numpy")
    from reco.sparse import _lazy_adam_rows

    rng = np.random.default_rng(0)
    table = rng.normal(size=(12, 5)).astype(np.float32)
    steps = [[0, 3], [3, 3, 9], [9], [11, 0, 0], [4], [3]]
    batches = [(np.array(r), rng.normal(size=(len(r), 5)).astype(np.float32)) for r in steps]
    params, count = jnp.asarray(table), jnp.zeros(len(table), jnp.int32)
    m, v = jnp.zeros_like(params), jnp.zeros_like(params)
    for rows, grad in batches:
        distinct, inverse = np.unique(rows, return_inverse=True)
        summed = np.zeros((len(distinct), 5), np.float32)
        np.add.at(summed, inverse, grad)
        count = count.at[distinct].add(1)
        params, m, v = _lazy_adam_rows(
            params, m, v, count[distinct], jnp.asarray(distinct), jnp.asarray(summed), 0.05
        )
    ours = scaling["lazy_adam"](table, batches, 0.05)
    np.testing.assert_allclose(ours, np.asarray(params), rtol=1e-5, atol=1e-6)
    assert np.array_equal(ours[[1, 2, 5, 6, 7, 8, 10]], table[[1, 2, 5, 6, 7, 8, 10]])


def test_10_q3_wants_each_rows_own_count_and_only_its_rows(scaling):
    test = master_tests("10_scaling")["test_q3_answer"]
    test(scaling["lazy_adam"], "a")
    test(lazy_adam_with(), "a")
    wrong = {
        "global step count": (lazy_adam_with("global count"), "a"),
        "bias correction is missing": (lazy_adam_with("no bias correction"), "a"),
        "sum of its gradients": (lazy_adam_with("last gradient wins"), "a"),
        "stay exactly as they were": (lazy_adam_with("every row"), "a"),  # 0 / 0 on them
        "lazy_adam is off": (lazy_adam_with("epsilon inside"), "a"),
        "the table's shape": (lambda table, batches, lr, **kw: np.asarray(table)[:-1], "a"),
    }
    each_fails_saying(test, wrong)
    for letter in ("b", "c"):
        with pytest.raises(AssertionError):
            test(lazy_adam_with(), letter)


def test_10_q4_scores_a_chunk_at_a_time_and_breaks_ties_as_evaluate_does(scaling):
    from reco import evaluate

    test = master_tests("10_scaling")["test_q4_answer"]
    right, lists = scaling["top_k_in_chunks"], scaling["lists"]
    test(right, lists)

    def by_lexsort(score_block, n_users, popularity, k, chunk):
        tie_rank = evaluate.tie_order(popularity)
        out = []
        for start in range(0, n_users, chunk):
            block = score_block(start, min(start + chunk, n_users))
            keys = np.broadcast_to(tie_rank, block.shape)
            out.append(np.lexsort((keys, -block), axis=1)[:, :k].copy())  # a view keeps it all
        return np.vstack(out)

    test(by_lexsort, lists.astype(np.int32))

    def by_lexsort_views(score_block, n_users, popularity, k, chunk):
        tie_rank = evaluate.tie_order(popularity)
        out = []
        for start in range(0, n_users, chunk):
            block = score_block(start, min(start + chunk, n_users))
            keys = np.broadcast_to(tie_rank, block.shape)
            out.append(np.lexsort((keys, -block), axis=1)[:, :k])  # each view keeps its block
        return np.vstack(out)

    def ranked(scores, popularity, k):
        return evaluate.rank_scores(scores, k, evaluate.tie_order(popularity))[1].reshape(-1, k)

    def at_once(score_block, n_users, popularity, k, chunk):
        return ranked(score_block(0, n_users), popularity, k)

    def hoarded(score_block, n_users, popularity, k, chunk):
        blocks = [score_block(s, min(s + chunk, n_users)) for s in range(0, n_users, chunk)]
        return ranked(np.concatenate(blocks), popularity, k)

    def ties_by_index(score_block, n_users, popularity, k, chunk):
        starts = range(0, n_users, chunk)
        blocks = (score_block(s, min(s + chunk, n_users)) for s in starts)
        return np.vstack([np.argsort(-b, axis=1, kind="stable")[:, :k] for b in blocks])

    def last_left_out(score_block, n_users, popularity, k, chunk):
        starts = range(0, n_users - chunk + 1, chunk)
        return np.vstack([ranked(score_block(s, s + chunk), popularity, k) for s in starts])

    def worst_first(score_block, n_users, popularity, k, chunk):
        return right(lambda a, b: -score_block(a, b), n_users, popularity, k, chunk)

    unscaled = right(  # the left singular vectors without the singular values
        lambda a, b: scaling["u"][a:b, scaling["order"]] @ scaling["movie_factors"].T,
        scaling["n_users"], scaling["popularity"], 10, 100,
    )  # fmt: skip
    wrong = {
        "asked for 230 users at once": (at_once, lists),
        "still held": (hoarded, lists),
        "a slice": (by_lexsort_views, lists),
        "not the ties": (ties_by_index, lists),
        "last, shorter block": (last_left_out, lists),
        "best movies, best first": (worst_first, lists),
        "lists is off": (right, unscaled),
        "hold 10 movies for each": (right, lists[:, :5]),
    }
    each_fails_saying(test, wrong)


def test_10_q5_compares_each_users_lists_as_sets(scaling):
    test = master_tests("10_scaling")["test_q5_answer"]
    recall, two_stage, exact = scaling["recall_at_k"], scaling["two_stage"], scaling["exact"]
    recalls = scaling["recalls"]
    assert 0.5 < recalls[10] < recalls[50] < recalls[200] < 1  # nine in ten by 50 candidates
    test(recall, recalls)
    test(lambda a, e: np.mean([np.intersect1d(x, y).size for x, y in zip(a, e, strict=True)])
         / e.shape[1],
         {n: np.float64(r) for n, r in recalls.items()})  # fmt: skip

    def placewise(approx, exact):
        return float(np.mean(np.asarray(approx) == np.asarray(exact)))

    def pooled(approx, exact):
        return len(set(np.ravel(approx)) & set(np.ravel(exact))) / len(set(np.ravel(exact)))

    def summed(approx, exact):
        hits = sum(len(set(a) & set(e)) for a, e in zip(approx, exact, strict=True))
        return hits / np.shape(exact)[1]

    finer = {n: recall(two_stage(n, coarse=8), exact) for n in (10, 50, 200)}
    wrong = {
        "not all users' movies at once": (pooled, recalls),
        "not place by place": (placewise, recalls),
        "recall_at_k is off": (summed, recalls),
        r"recalls\[10\] is off": (recall, finer),  # the first stage on 8 factors, not 4
        r"recalls\[200\] is off": (recall, {**recalls, 200: recalls[50]}),
    }
    each_fails_saying(test, wrong)
