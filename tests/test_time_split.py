"""Tests of the splits in time order (reco.split.time_split, leave_last_out_split) and of
what evaluation does with the users they leave new (reco.evaluate.user_groups, top_k's fallback).

Every table is synthetic (tests/synthetic.py), shuffled so that table order is not time
order; the cold-start table adds, after every synthetic timestamp, users and a movie that
only the validation and test parts hold. No model is trained: the fallbacks are baselines.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from synthetic import make_ratings, split_of

from reco import evaluate
from reco import split as split_module
from reco.baselines import BiasBaseline, PopularityBaseline, RandomBaseline
from reco.split import (
    PARTS,
    cold_start_counts,
    course_split,
    encode_ids,
    leave_last_out_split,
    merge_val,
    time_split,
    train_val_test_split,
)

#: The cuts of the cold-start table: both after the last make_ratings timestamp (1_537_799_249).
VAL_START = 1_538_000_000  # 2018-09-26 22:13:20 UTC
TEST_START = 1_540_000_000  # 2018-10-20 01:46:40 UTC
#: Users first seen after the first cut (904 rates in the validation part, then in the test part).
NEW_USERS = (901, 902, 904)
#: A movie first rated after the second cut.
NEW_MOVIE = 99_999


def shuffled_ratings(n_users=40, n_movies=50, density=0.3, seed=0) -> pd.DataFrame:
    """Return make_ratings in a random row order (it comes sorted by user, not by time)."""
    ratings = make_ratings(n_users, n_movies, density, seed)
    return ratings.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def cold_start_ratings() -> pd.DataFrame:
    """Return synthetic ratings, then later ones from new users and of a new movie.

    Before ``VAL_START``: make_ratings (20 users, 30 movies). In the validation window:
    two known users, and new user 904 rating the two most-rated movies (one rating sits
    exactly on the cut). From ``TEST_START`` (one rating exactly on it): known users, new
    users 901, 902 and 904, and ``NEW_MOVIE``, rated by known user 1 and new user 901.
    """
    base = make_ratings(n_users=20, n_movies=30, density=0.3, seed=3)
    counts = base["movieId"].value_counts()
    top = sorted(counts.index, key=lambda movie: (-counts[movie], movie))  # most rated first

    def unrated(user, n):
        rated = set(base.loc[base["userId"] == user, "movieId"])
        return [m for m in sorted(counts.index) if m not in rated][:n]

    v, t = VAL_START, TEST_START
    later = [
        (1, unrated(1, 1)[0], 4.0, v),  # on the first cut: validation
        (2, unrated(2, 1)[0], 3.0, v + 10),
        (904, top[0], 5.0, v + 20),
        (904, top[1], 4.0, v + 30),
        (1, NEW_MOVIE, 4.5, t),  # on the second cut: test
        (3, unrated(3, 1)[0], 5.0, t + 5),
        (2, unrated(2, 2)[1], 4.0, t + 6),
        (901, top[2], 5.0, t + 10),
        (901, NEW_MOVIE, 4.0, t + 11),
        (901, top[5], 4.0, t + 12),
        (902, top[0], 4.0, t + 20),
        (902, top[3], 3.5, t + 21),
        (904, top[4], 4.0, t + 30),
        (904, top[2], 5.0, t + 31),
    ]
    extra = pd.DataFrame(later, columns=base.columns).astype(base.dtypes.to_dict())
    table = pd.concat([base, extra], ignore_index=True)
    return table.sample(frac=1.0, random_state=1).reset_index(drop=True)


@pytest.fixture(scope="module")
def cold():
    """``(encoded, encoder, split)`` of the cold-start table, cut at VAL_START and TEST_START."""
    encoded, encoder = encode_ids(cold_start_ratings())
    return encoded, encoder, time_split(encoded, val_start=VAL_START, test_start=TEST_START)


@pytest.fixture
def encoded():
    return encode_ids(shuffled_ratings())[0]


def part_rows(split, name: str) -> pd.DataFrame:
    """Return part ``name`` as a table: user, movie, rating and the timestamp carried with it."""
    X, y = split.part(name)
    return pd.DataFrame(
        {
            "user": X[:, 0],
            "movie": X[:, 1],
            "rating": y,
            "timestamp": split.context[name]["timestamp"],
            "part": name,
        }
    )


def all_rows(split) -> pd.DataFrame:
    return pd.concat([part_rows(split, name) for name in PARTS], ignore_index=True)


def assert_same_split(a, b) -> None:
    for name in PARTS:
        for got, want in zip(a.part(name), b.part(name), strict=True):
            np.testing.assert_array_equal(got, want, err_msg=name)
        for col, values in b.context[name].items():
            np.testing.assert_array_equal(a.context[name][col], values, err_msg=f"{name} {col}")
    assert (a.n_users, a.n_movies) == (b.n_users, b.n_movies)


# --------------------------------------------------------------------------- time_split


def test_every_train_rating_comes_before_every_val_rating_and_those_before_test(cold):
    encoded, _, split = cold
    times = {name: split.context[name]["timestamp"] for name in PARTS}

    assert times["train"].max() < VAL_START <= times["val"].min()
    assert times["val"].max() < TEST_START <= times["test"].min()
    # a rating made exactly at a cut belongs to the later part
    on_cut = encoded.loc[encoded["timestamp"].isin([VAL_START, TEST_START])]
    assert len(on_cut) == 2
    assert VAL_START in times["val"] and TEST_START in times["test"]
    assert VAL_START not in times["train"] and TEST_START not in times["val"]


def test_time_split_keeps_every_rating_once_in_one_part(cold):
    encoded, _, split = cold
    rows = all_rows(split)
    want = encoded.rename(columns={"user": "u", "movie": "m"})
    got = rows.sort_values(["user", "movie"]).reset_index(drop=True)
    want = want.sort_values(["u", "m"]).reset_index(drop=True)
    assert len(got) == len(encoded) == sum(split.sizes().values())
    np.testing.assert_array_equal(got[["user", "movie"]], want[["u", "m"]])
    np.testing.assert_array_equal(got["rating"], want["rating"])
    np.testing.assert_array_equal(got["timestamp"], want["timestamp"])


@settings(max_examples=40, deadline=None)
@given(
    times=st.lists(st.integers(0, 6), min_size=3, max_size=60),
    quantiles=st.sampled_from([(0.8, 0.9), (0.5, 0.7), (0.1, 0.2), (0.3, 0.95)]),
)
def test_ties_at_a_quantile_cut_go_to_the_later_part(times, quantiles):
    # Few distinct timestamps, so the quantile cuts fall on tied ratings.
    n = len(times)
    table = pd.DataFrame(
        {
            "user": np.arange(n, dtype=np.int32),
            "movie": np.zeros(n, dtype=np.int32),
            "rating": np.full(n, 3.0, dtype=np.float32),
            "timestamp": 1_000_000_000 + 3600 * np.array(times, dtype=np.int64),
        }
    )
    try:
        split = time_split(table, val_quantile=quantiles[0], test_quantile=quantiles[1])
    except ValueError as error:  # ties can leave a part empty: then it must say so
        assert "part is empty" in str(error) or "must come before" in str(error)
        return
    cut_val, cut_test = split.protocol["val_start"], split.protocol["test_start"]
    t = {name: split.context[name]["timestamp"] for name in PARTS}
    assert (t["train"] < cut_val).all()
    assert ((cut_val <= t["val"]) & (t["val"] < cut_test)).all()
    assert (t["test"] >= cut_test).all()
    assert sum(len(v) for v in t.values()) == n


@pytest.mark.parametrize("quantiles", [(0.8, 0.9), (0.6, 0.75)])
def test_quantile_cuts_give_the_requested_shares(encoded, quantiles):
    assert encoded["timestamp"].is_unique  # distinct times: the shares can be exact
    n = len(encoded)
    split = time_split(encoded, val_quantile=quantiles[0], test_quantile=quantiles[1])
    sizes = split.sizes()
    shares = {"train": quantiles[0], "val": quantiles[1] - quantiles[0], "test": 1 - quantiles[1]}
    for name, share in shares.items():
        assert abs(sizes[name] - share * n) <= 2, (name, sizes)


def test_default_quantiles_are_80_10_10(encoded):
    default = time_split(encoded)
    assert_same_split(default, time_split(encoded, val_quantile=0.8, test_quantile=0.9))
    n = len(encoded)
    assert [round(size / n, 2) for size in default.sizes().values()] == [0.8, 0.1, 0.1]


def test_cuts_as_seconds_dates_and_timestamps_agree(cold):
    encoded = cold[0]
    # 2018-09-01 00:00 UTC = 1535760000; 2018-10-01 00:00 UTC = 1538352000
    as_seconds = time_split(encoded, val_start=1_535_760_000, test_start=np.int64(1_538_352_000))
    as_dates = time_split(encoded, val_start="2018-09-01", test_start="2018-10-01")
    as_stamps = time_split(
        encoded,
        val_start=pd.Timestamp("2018-09-01 02:00", tz="Europe/Paris"),  # 00:00 UTC
        test_start=pd.Timestamp("2018-09-30 20:00", tz="America/New_York"),  # 00:00 UTC
    )
    naive = time_split(encoded, val_start=pd.Timestamp("2018-09-01"), test_start="2018-10-01")
    for other in (as_dates, as_stamps, naive):
        assert other.protocol == as_seconds.protocol
        assert_same_split(other, as_seconds)
    assert as_seconds.protocol == {
        "name": "global time",
        "val_start": 1_535_760_000,
        "test_start": 1_538_352_000,
    }


def test_a_datetime_column_splits_like_unix_seconds(encoded):
    as_dates = encoded.assign(timestamp=pd.to_datetime(encoded["timestamp"], unit="s"))
    got, want = time_split(as_dates), time_split(encoded)
    assert got.protocol == want.protocol
    for name in PARTS:
        np.testing.assert_array_equal(got.part(name)[0], want.part(name)[0])
        # the timestamps travel as Unix seconds, so a model reads the same years
        np.testing.assert_array_equal(
            got.context[name]["timestamp"], want.context[name]["timestamp"]
        )
    long = leave_last_out_split(as_dates)
    np.testing.assert_array_equal(
        long.context["val"]["timestamp"], leave_last_out_split(encoded).context["val"]["timestamp"]
    )


def test_context_timestamps_line_up_with_the_rows_of_each_part(cold):
    encoded, _, _ = cold
    tagged = encoded.assign(tag=np.arange(len(encoded)) * 7)  # a context column of our own
    split = time_split(tagged, val_start=VAL_START, test_start=TEST_START, context="tag")
    by_pair = tagged.set_index(["user", "movie"])
    for name in PARTS:
        X, y = split.part(name)
        context = split.context[name]
        assert set(context) == {"tag", "timestamp"}  # the timestamp is always carried
        source = by_pair.loc[list(map(tuple, X))]  # the table's row of each rating of the part
        np.testing.assert_array_equal(context["timestamp"], source["timestamp"], err_msg=name)
        np.testing.assert_array_equal(context["tag"], source["tag"], err_msg=name)
        np.testing.assert_array_equal(y, source["rating"], err_msg=name)
        # the Part that models read carries the same arrays
        np.testing.assert_array_equal(
            split.part_of(name).context["timestamp"], context["timestamp"]
        )


def test_new_users_and_movies_have_indices_but_no_training_rows(cold):
    encoded, encoder, split = cold
    new_users = encoder.encode_users(list(NEW_USERS))
    new_movie = encoder.encode_movies([NEW_MOVIE])[0]
    X_test = split.X_test

    assert (split.n_users, split.n_movies) == (encoder.n_users, encoder.n_movies)
    assert not np.isin(new_users, split.X_train[:, 0]).any()
    assert np.isin(new_users, X_test[:, 0]).all()
    assert new_movie not in split.X_train[:, 1] and new_movie in X_test[:, 1]
    assert np.isin(encoder.encode_users([904]), split.X_val[:, 0]).all()
    # every other user and movie is in training
    users = np.setdiff1d(np.arange(encoder.n_users), new_users)
    assert np.isin(users, split.X_train[:, 0]).all()
    assert len(np.unique(split.X_train[:, 1])) == encoder.n_movies - 1


def test_time_split_needs_a_timestamp_column(encoded):
    with pytest.raises(ValueError, match=r"no column\(s\) \['timestamp'\].*Fix: .*timestamp_col="):
        time_split(encoded.drop(columns="timestamp"))
    renamed = encoded.rename(columns={"timestamp": "when"})
    assert time_split(renamed, timestamp_col="when").protocol == time_split(encoded).protocol


def test_time_split_refuses_missing_timestamps(encoded):
    holes = encoded.astype({"timestamp": np.float64})
    holes.loc[[2, 5], "timestamp"] = np.nan
    with pytest.raises(ValueError, match=r"2 missing timestamp\(s\).*Fix: drop those rows"):
        time_split(holes)


def test_time_split_refuses_timestamps_that_are_not_numbers(encoded):
    as_text = encoded.assign(timestamp=encoded["timestamp"].astype(str))
    with pytest.raises(ValueError, match=r"expected Unix seconds.*Fix: convert it"):
        time_split(as_text)


@pytest.mark.parametrize(
    "val_start, test_start",
    [(TEST_START, VAL_START), (VAL_START, VAL_START), ("2018-10-20", "2018-10-01")],
)
def test_cuts_out_of_order_are_refused(cold, val_start, test_start):
    with pytest.raises(ValueError, match=r"val_start \(.*\) must come before test_start \(.*\)"):
        time_split(cold[0], val_start=val_start, test_start=test_start)


@pytest.mark.parametrize(
    "cuts, empty",
    [
        ({"val_start": 1}, "train"),  # before every rating
        ({"test_start": TEST_START + 1000}, "test"),  # after every rating
        ({"val_start": VAL_START + 31, "test_start": TEST_START}, "val"),  # between two ratings
    ],
)
def test_a_cut_that_leaves_a_part_empty_is_refused(cold, cuts, empty):
    cuts = {"val_start": VAL_START, "test_start": TEST_START} | cuts
    with pytest.raises(
        ValueError,
        match=rf"the '{empty}' part is empty with cuts at .*the ratings run from 1996-.* to "
        r"2018-10-20\)\. Fix: choose cuts inside that range",
    ):
        time_split(cold[0], **cuts)


@pytest.mark.parametrize(
    "val_quantile, test_quantile",
    [(0.9, 0.8), (0.8, 0.8), (0.0, 0.9), (0.8, 1.0), (-0.1, 0.5), (float("nan"), 0.9)],
)
def test_bad_quantiles_are_refused(encoded, val_quantile, test_quantile):
    with pytest.raises(ValueError, match=r"0 < val_quantile < test_quantile < 1; got"):
        time_split(encoded, val_quantile=val_quantile, test_quantile=test_quantile)


@pytest.mark.parametrize("cut", ["not a date", True, [1, 2]])
def test_a_cut_of_another_kind_is_refused(encoded, cut):
    with pytest.raises(ValueError, match=r"val_start must be Unix seconds, a date such as"):
        time_split(encoded, val_start=cut)


def test_a_cut_in_float_seconds_is_read_as_seconds(cold):
    encoded = cold[0]
    exact = time_split(encoded, val_start=VAL_START, test_start=TEST_START)
    floats = time_split(encoded, val_start=float(VAL_START), test_start=np.float64(TEST_START))
    assert floats.protocol == exact.protocol


def test_a_timezone_aware_datetime_column_splits_like_unix_seconds(encoded):
    aware = encoded.assign(timestamp=pd.to_datetime(encoded["timestamp"], unit="s", utc=True))
    assert time_split(aware).protocol == time_split(encoded).protocol


# --------------------------------------------------------------------------- protocol


def test_each_split_says_how_it_was_made(encoded):
    assert course_split(encoded).protocol == {}
    assert train_val_test_split(encoded).protocol == {}
    timed = time_split(encoded)
    assert set(timed.protocol) == {"name", "val_start", "test_start"}
    assert timed.protocol["name"] == "global time"
    assert all(type(timed.protocol[cut]) is int for cut in ("val_start", "test_start"))
    last = leave_last_out_split(encoded, val_fraction=0.2, test_fraction=0.15)
    assert last.protocol == {"name": "leave last out", "val_fraction": 0.2, "test_fraction": 0.15}


# --------------------------------------------------------------------------- leave_last_out_split


def few_and_many_ratings() -> pd.DataFrame:
    """Return shuffled ratings of users with about 30 ratings, plus users with 1, 2 and 3."""
    base = make_ratings(n_users=25, n_movies=60, density=0.5, seed=4)
    ids = np.sort(base["movieId"].unique())
    few = pd.DataFrame(
        {
            "userId": [501, 502, 502, 503, 503, 503],
            "movieId": ids[[0, 0, 1, 0, 1, 2]],
            "rating": np.float32(4.0),
            "timestamp": [1_500_000_000 + k for k in (9, 3, 1, 5, 2, 8)],
        }
    ).astype(base.dtypes.to_dict())
    table = pd.concat([base, few], ignore_index=True)
    return table.sample(frac=1.0, random_state=4).reset_index(drop=True)


@pytest.fixture(scope="module")
def many():
    """``(encoded, encoder)`` of :func:`few_and_many_ratings`."""
    return encode_ids(few_and_many_ratings())


def held_out(n: int, fraction: float) -> int:
    """Return max(1, floor(fraction * n)), in exact arithmetic."""
    return max(1, int(Fraction(str(fraction)) * n))


@pytest.mark.parametrize(
    "val_fraction, test_fraction", [(0.1, 0.1), (0.2, 0.1), (0.15, 0.25), (0.3, 0.29)]
)
def test_each_user_gives_their_last_ratings_to_test_and_the_ones_before_to_val(
    many, val_fraction, test_fraction
):
    encoded, _ = many
    split = leave_last_out_split(encoded, val_fraction=val_fraction, test_fraction=test_fraction)
    rows = all_rows(split)
    n = encoded.groupby("user").size()
    counts = rows.groupby(["user", "part"]).size().unstack(fill_value=0)
    times = rows.groupby(["user", "part"])["timestamp"].agg(["min", "max"]).unstack()

    assert len(rows) == len(encoded)
    checked = 0
    for user, n_user in n.items():
        if n_user < 3:
            continue
        want = {"test": held_out(n_user, test_fraction), "val": held_out(n_user, val_fraction)}
        want["train"] = n_user - want["test"] - want["val"]
        assert counts.loc[user].to_dict() == want, user
        assert times.loc[user, ("max", "train")] <= times.loc[user, ("min", "val")], user
        assert times.loc[user, ("max", "val")] <= times.loc[user, ("min", "test")], user
        checked += 1
    assert checked == n.ge(3).sum() == 26
    assert (counts["test"] > 1).any() and (counts["val"] > 1).any()  # floor matters, not only 1


def test_users_with_fewer_than_three_ratings_stay_whole_in_training(many):
    encoded, encoder = many
    split = leave_last_out_split(encoded)
    rows = all_rows(split)
    for user, n in ((501, 1), (502, 2)):
        mine = rows.loc[rows["user"] == encoder.encode_users([user])[0]]
        assert len(mine) == n and (mine["part"] == "train").all(), user
    three = rows.loc[rows["user"] == encoder.encode_users([503])[0]].sort_values("timestamp")
    assert three["part"].tolist() == ["train", "val", "test"]


def test_every_val_and_test_user_is_in_training(many):
    split = leave_last_out_split(many[0], val_fraction=0.3, test_fraction=0.29)
    train_users = set(split.X_train[:, 0])
    assert set(split.X_test[:, 0]) <= train_users
    assert set(split.X_val[:, 0]) <= train_users
    assert (evaluate.user_groups(split, "test") == "known").all()


def test_ties_in_time_keep_the_table_order():
    # User 1 rated four movies at one moment: the last in the table goes to test, the one
    # before to val. User 2's movie 30 is first in time; 10 and 20 tie, 20 later in the table.
    table = pd.DataFrame(
        {
            "userId": [1, 2, 1, 2, 1, 2, 1],
            "movieId": [30, 10, 10, 20, 40, 30, 20],
            "rating": np.float32(3.0),
            "timestamp": [100, 50, 100, 50, 100, 10, 100],
        }
    )
    encoded, encoder = encode_ids(table)
    split = leave_last_out_split(encoded)
    movie = {name: encoder.decode_movies(split.part(name)[0][:, 1]) for name in PARTS}
    user = {name: encoder.decode_users(split.part(name)[0][:, 0]) for name in PARTS}
    assert sorted(zip(user["test"], movie["test"], strict=True)) == [(1, 20), (2, 20)]
    assert sorted(zip(user["val"], movie["val"], strict=True)) == [(1, 40), (2, 10)]
    assert sorted(zip(user["train"], movie["train"], strict=True)) == [(1, 10), (1, 30), (2, 30)]
    # the same rows in the reverse table order: user 1's last row is now 30, user 2's is 10
    flipped, same = encode_ids(table.iloc[::-1].reset_index(drop=True))
    test = leave_last_out_split(flipped).part("test")[0]
    pairs = zip(same.decode_users(test[:, 0]), same.decode_movies(test[:, 1]), strict=True)
    assert sorted(pairs) == [(1, 30), (2, 10)]


def test_leave_last_out_is_deterministic(many):
    encoded, _ = many
    first = leave_last_out_split(encoded, val_fraction=0.15, test_fraction=0.25)
    again = leave_last_out_split(encoded.copy(), val_fraction=0.15, test_fraction=0.25)
    assert_same_split(again, first)
    assert again.protocol == first.protocol


@pytest.mark.parametrize(
    "val_fraction, test_fraction",
    [(0, 0.1), (0.1, 0), (1, 0.1), (0.1, 1.0), (-0.1, 0.2), (0.5, 0.5), (0.6, 0.5), (np.nan, 0.1)],
)
def test_bad_fractions_are_refused(many, val_fraction, test_fraction):
    with pytest.raises(ValueError, match=r"val_fraction and test_fraction must be fractions"):
        leave_last_out_split(many[0], val_fraction=val_fraction, test_fraction=test_fraction)


def test_leave_last_out_needs_timestamps_and_encoded_users(many):
    encoded, _ = many
    with pytest.raises(ValueError, match=r"no column\(s\) \['timestamp'\].*Fix"):
        leave_last_out_split(encoded.drop(columns="timestamp"))
    with pytest.raises(ValueError, match=r"no column 'user'.*encode_ids"):
        leave_last_out_split(encoded.drop(columns="user"))


def test_large_fractions_never_leave_a_test_user_without_training(many):
    try:
        split = leave_last_out_split(many[0], val_fraction=0.1, test_fraction=0.7)
    except ValueError:
        return  # refusing the fractions would be a fix too
    assert set(split.X_test[:, 0]) <= set(split.X_train[:, 0])


# --------------------------------------------------------------------------- user_groups


def test_user_groups_on_a_hand_made_split():
    # Users 0 and 1 train; the test part holds 3, 0, 2 (unsorted), the val part 4 and 1.
    split = split_of(
        train_rows=[(0, 0, 4.0), (1, 1, 3.0), (1, 2, 5.0)],
        test_rows=[(3, 0, 4.0), (0, 1, 5.0), (2, 2, 3.0), (3, 1, 2.0)],
        val_rows=[(4, 0, 3.0), (1, 0, 4.0)],
        n_users=5,
        n_movies=3,
    )
    test = evaluate.user_groups(split)
    assert test.to_dict() == {0: "known", 2: "new", 3: "new"}
    assert test.index.name == "user" and test.index.is_monotonic_increasing
    assert test.index.tolist() == [0, 2, 3]
    val = evaluate.user_groups(split, "val")
    assert val.to_dict() == {1: "known", 4: "new"} and val.index.name == "user"
    with pytest.raises(ValueError, match="part must be 'test' or 'val'"):
        evaluate.user_groups(split, "train")
    with pytest.raises(ValueError, match="no validation part"):
        evaluate.user_groups(split_of(train_rows=[(0, 0, 4.0)]), "val")


def test_user_groups_of_a_time_split_are_its_new_users(cold):
    _, encoder, split = cold
    groups = evaluate.user_groups(split)
    new = np.sort(encoder.encode_users(list(NEW_USERS)))
    np.testing.assert_array_equal(groups.index[groups == "new"], new)
    assert (groups.drop(new) == "known").all() and len(groups) > len(new)
    np.testing.assert_array_equal(groups.index, np.unique(split.X_test[:, 0]))
    val = evaluate.user_groups(split, "val")
    assert val[encoder.encode_users([904])[0]] == "new"


def test_user_groups_reads_no_test_rating(cold):
    split = cold[2]
    split_module.reset_test_reads()
    try:
        evaluate.user_groups(split)
        assert split_module.test_reads().empty
    finally:
        split_module.reset_test_reads()


# --------------------------------------------------------------------------- top_k's fallback


def expected_list(scores, split, user: int, part: str, k: int) -> list[int]:
    """Return one user's list the slow way: the protocol of reco.evaluate, written out.

    The candidates are the catalogue (the movies of every part) minus the user's training
    movies, and for part="test" their validation movies too; best score first, ties by
    more training ratings, then by the smaller index.
    """
    scores = np.asarray(scores, dtype=np.float32)  # top_k ranks float32 scores
    X_test = split.X_test
    counts = np.bincount(split.X_train[:, 1], minlength=split.n_movies)
    catalogue = set(np.concatenate([split.X_train[:, 1], split.X_val[:, 1], X_test[:, 1]]))
    excluded = set(split.X_train[split.X_train[:, 0] == user, 1])
    if part == "test":
        excluded |= set(split.X_val[split.X_val[:, 0] == user, 1])
    candidates = sorted(int(m) for m in catalogue - excluded)
    return sorted(candidates, key=lambda m: (-scores[m], -counts[m], m))[:k]


def lists_of(recs: pd.DataFrame) -> dict[int, list[int]]:
    recs = recs.sort_values(["user", "rank"])
    return {int(u): g["movie"].tolist() for u, g in recs.groupby("user")}


@pytest.fixture(scope="module")
def fitted(cold):
    """A model with personal lists and two fallbacks, fitted on the cold-start split."""
    split = cold[2]
    return {
        "random": RandomBaseline(seed=0).fit(split),
        "bias": BiasBaseline().fit(split),
        "popularity": PopularityBaseline().fit(split),
    }


def test_without_a_fallback_new_users_get_no_list(cold, fitted):
    _, encoder, split = cold
    recs = evaluate.top_k(fitted["random"], split, k=5)
    assert set(recs["user"]) == set(np.unique(split.X_train[:, 0]))
    assert not set(encoder.encode_users(list(NEW_USERS))) & set(recs["user"])
    explicit = evaluate.top_k(fitted["random"], split, k=5, fallback=None)
    pd.testing.assert_frame_equal(explicit, recs)


@pytest.mark.parametrize("part", ["test", "val"])
def test_the_popularity_fallback_lists_the_most_rated_training_movies(cold, fitted, part):
    _, encoder, split = cold
    k = 5
    recs = evaluate.top_k(fitted["random"], split, k=k, part=part, fallback="popularity")
    lists = lists_of(recs)
    counts = np.bincount(split.X_train[:, 1], minlength=split.n_movies)
    for user in encoder.encode_users(list(NEW_USERS)):
        assert lists[int(user)] == expected_list(counts, split, int(user), part, k), user
    # 904's validation movies are the two most rated: excluded from its test list only
    mine = set(lists[int(encoder.encode_users([904])[0])])
    top_two = set(np.argsort(-counts, kind="stable")[:2])
    assert top_two.isdisjoint(mine) if part == "test" else top_two <= mine
    scores = recs.loc[recs["user"].isin(encoder.encode_users(list(NEW_USERS)))]
    np.testing.assert_array_equal(scores["score"], counts[scores["movie"]])


def test_a_fitted_baseline_as_fallback_gives_the_new_users_its_lists(cold, fitted):
    _, encoder, split = cold
    k = 5
    bias = fitted["bias"]
    recs = evaluate.top_k(fitted["random"], split, k=k, fallback=bias)
    lists = lists_of(recs)
    own = lists_of(evaluate.top_k(bias, split, k=k, fallback=bias))
    counts = np.bincount(split.X_train[:, 1], minlength=split.n_movies)
    differs = 0
    for user in map(int, encoder.encode_users(list(NEW_USERS))):
        want = expected_list(bias.score_users([user])[0], split, user, "test", k)
        assert lists[user] == want == own[user], user
        differs += want != expected_list(counts, split, user, "test", k)
    assert differs  # the lists are the baseline's, not popularity's


def test_a_fallback_leaves_the_known_users_lists_alone(cold, fitted):
    split = cold[2]
    without = evaluate.top_k(fitted["random"], split, k=5)
    known = without["user"].unique()
    for fallback in ("popularity", fitted["bias"], fitted["popularity"]):
        recs = evaluate.top_k(fitted["random"], split, k=5, fallback=fallback)
        mine = recs.loc[recs["user"].isin(known)].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, without)
        assert len(recs) > len(without)  # and the new users got lists


def test_the_fallback_lists_count_in_the_metrics(cold, fitted):
    split = cold[2]
    groups = evaluate.user_groups(split)
    scores = {
        fallback: evaluate.per_user_metrics(
            evaluate.top_k(fitted["random"], split, k=10, fallback=fallback), split, k=10
        )
        for fallback in (None, "popularity")
    }
    new = groups.index[groups == "new"].intersection(scores[None].index)
    assert len(new) and (scores[None].loc[new, "hit_rate"] == 0).all()
    assert scores["popularity"].loc[new, "hit_rate"].sum() > 0


@pytest.mark.parametrize("fallback", ["popular", "Popularity", ""])
def test_an_unknown_fallback_name_is_refused(cold, fitted, fallback):
    with pytest.raises(ValueError, match=r"fallback must be None, 'popularity' or a fitted model"):
        evaluate.top_k(fitted["random"], cold[2], fallback=fallback)


def test_cold_start_counts_name_the_new_users_and_movies_of_the_cold_table(cold):
    _, encoder, split = cold
    test = cold_start_counts(split, "test")
    assert test["users"] == 6  # known users 1, 2, 3 and new 901, 902, 904
    assert test["new users"] == 3 and test["ratings by new users"] == 7
    assert test["new movies"] == 1 and test["ratings of new movies"] == 2
    val = cold_start_counts(split, "val")
    assert (val["ratings"], val["new users"], val["new movies"]) == (4, 1, 0)
    # once validation joins training, user 904 is known: only 901 and 902 are new
    merged = merge_val(split)
    split_module.reset_test_reads()
    counts = cold_start_counts(merged, "test")
    assert counts["new users"] == 2 and counts["ratings by new users"] == 5
    assert split_module.test_reads().empty  # who is in the part, not how they rated
    with pytest.raises(ValueError, match="part must be 'val' or 'test'"):
        cold_start_counts(merge_val(split), "val")


def test_merge_val_moves_validation_into_training_with_its_context(cold):
    _, _, split = cold
    merged = merge_val(split)
    assert merged.X_val is None
    assert len(merged.X_train) == len(split.X_train) + len(split.X_val)
    np.testing.assert_array_equal(merged.X_test, split.X_test)
    stamps = merged.context["train"]["timestamp"]
    assert len(stamps) == len(merged.X_train) and stamps.max() < TEST_START
    np.testing.assert_array_equal(merged.context["test"]["timestamp"],
                                  split.context["test"]["timestamp"])  # fmt: skip
    assert merged.protocol["val_merged"] and merged.protocol["test_start"] == TEST_START
    assert (merged.n_users, merged.n_movies) == (split.n_users, split.n_movies)
    with pytest.raises(ValueError, match="no validation part to merge"):
        merge_val(merged)


# --------------------------------------------------------------------------- top_k in blocks


@pytest.mark.parametrize("part", ["val", "test"])
@pytest.mark.parametrize("fallback", [None, "popularity", "bias"])
def test_the_lists_do_not_depend_on_how_many_users_are_scored_at_once(cold, fitted, part, fallback):
    split = cold[2]
    fallback = fitted.get(fallback, fallback)
    whole = evaluate.top_k(fitted["random"], split, k=5, part=part, fallback=fallback)
    for block in (1, 3, 7):
        blocks = evaluate.top_k(
            fitted["random"], split, k=5, part=part, fallback=fallback, block_users=block
        )
        pd.testing.assert_frame_equal(blocks, whole)


def test_top_k_holds_one_block_of_scores_at_a_time():
    """The scores of all users at once would take 32 MB; a block of 50 users takes 0.8 MB."""
    import tracemalloc

    n_users, n_movies = 2_000, 4_000
    rng = np.random.default_rng(0)
    rows = [(u, int(m), 4.0) for u in range(n_users) for m in rng.choice(n_movies, 3)]
    split = split_of(rows, test_rows=[(0, n_movies - 1, 4.0)], n_users=n_users, n_movies=n_movies)
    popularity = PopularityBaseline().fit(split)
    tracemalloc.start()
    try:
        recs = evaluate.top_k(popularity, split, k=10, block_users=50)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert recs["user"].nunique() == n_users
    assert peak < 8e6, f"peak {peak / 1e6:.1f} MB"  # float64 scores of all users: 64 MB
    assert evaluate._block_users(59_047, None) == 568  # ml-25m's catalogue: 568 users a block
    with pytest.raises(ValueError, match="block_users"):
        evaluate.top_k(popularity, split, block_users=0)
