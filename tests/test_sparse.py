"""Tests of reco.sparse: the opt-in V2 training that touches only a batch's rows.

The test session runs Keras on TensorFlow, and :func:`reco.sparse.fit_sparse`
needs JAX, so one fresh process (``KERAS_BACKEND=jax``) runs every JAX check
once, for the whole module, and prints its findings as JSON; the tests read them.
"""

from __future__ import annotations

import importlib.util
import json

import keras
import numpy as np
import pytest
from conftest import run_python

from reco import models, sparse

JAX_CHECKS = r"""
import json
import jax
import jax.numpy as jnp
import keras
import numpy as np
from reco import models, sparse, synthetic, train
from reco.split import course_split, encode_ids

out = {"backend": keras.backend.backend()}
ratings = synthetic.synthetic_ratings(30_000, n_users=400, n_movies=300, rank=4, noise=0.3)
split = course_split(encode_ids(ratings)[0])
train.set_seed(0)
model = models.build_v2(n_users=split.n_users, n_movies=split.n_movies, n_factors=8)
initial = model.get_weights()

# One step on a batch of 512 ratings of 10 users and 15 movies: each row repeats.
rng = np.random.default_rng(0)
X = np.stack([rng.integers(0, 10, 512), rng.integers(0, 15, 512)], axis=1).astype(np.int32)
y = rng.choice(np.arange(1, 11) / 2, 512).astype(np.float32)
before = jax.tree.map(np.asarray, sparse.sparse_state(model))
lr, l2 = 0.01, 0.03
state = sparse.fit_sparse(model, X, y, epochs=1, batch_size=512, lr=lr, l2=l2).attrs["state"]
after = jax.tree.map(np.asarray, state)
same, changed = True, True
for side, column in (("user", 0), ("movie", 1)):
    touched = np.unique(X[:, column])
    rest = np.setdiff1d(np.arange(len(before["count"][side])), touched)
    for key in ("params", "m", "v", "count"):
        same &= np.array_equal(after[key][side][rest], before[key][side][rest])
    changed &= bool((after["params"][side][touched] != before["params"][side][touched]).all())
    changed &= bool((after["count"][side][touched] == 1).all())
out["untouched_unchanged"], out["touched_changed"] = bool(same), bool(changed)
out["written_back"] = bool(np.array_equal(
    keras.ops.convert_to_numpy(model.get_layer("user_bias").embeddings),
    after["params"]["user"][:, -1:]))

# The reference: JAX's gradient of the same loss w.r.t. the whole tables, where a
# repeated row's gradients are summed; after one Adam step m = (1 - beta_1) * gradient.
def loss(p):
    u, m = p["user"][X[:, 0]], p["movie"][X[:, 1]]
    pred = 0.5 + 4.5 * jax.nn.sigmoid((u[:, :-1] * m[:, :-1]).sum(1) + u[:, -1] + m[:, -1])
    return jnp.mean((pred - y) ** 2 + l2 * ((u * u).sum(1) + (m * m).sum(1)))
dense = jax.tree.map(np.asarray, jax.jit(jax.grad(loss))(before["params"]))
out["moment_error"] = max(float(np.abs(after["m"][k] - 0.1 * dense[k]).max()) for k in dense)
out["moment_scale"] = min(float(np.abs(dense[k]).max()) for k in dense)
# Adam's first step is lr * sign(gradient) (up to epsilon) for every touched element.
step = after["params"]["movie"][:15] - before["params"]["movie"][:15]
out["first_step"] = np.abs(step[np.abs(dense["movie"][:15]) > 1e-4]).tolist()

# It learns the planted signal, deterministically.
runs = []
for seed in (1, 1, 2):
    model.set_weights(initial)
    h = sparse.fit_sparse(model, split, epochs=6, batch_size=512, lr=0.02, l2=1e-3, seed=seed)
    runs.append(h["loss"].tolist())
out["losses"] = runs
out["rmse"] = train.rating_metrics(model, split, part="test")["rmse"]
out["mean_rmse"] = float(np.sqrt(np.mean((split.y_test - split.y_train.mean()) ** 2)))
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def jax_run():
    if importlib.util.find_spec("jax") is None:
        pytest.skip("JAX is not installed: reco.sparse runs on the JAX backend only")
    return json.loads(run_python(JAX_CHECKS, env={"KERAS_BACKEND": "jax"}).splitlines()[-1])


def test_a_step_changes_only_the_rows_of_its_batch_and_their_optimizer_state(jax_run):
    assert jax_run["backend"] == "jax"
    assert jax_run["untouched_unchanged"], "a row outside the batch, or its state, changed"
    assert jax_run["touched_changed"], "a row of the batch was not updated once"
    assert jax_run["written_back"], "the trained tables were not written into the model"


def test_repeated_rows_in_a_batch_sum_their_gradients(jax_run):
    assert jax_run["moment_error"] < 1e-7 + 1e-5 * jax_run["moment_scale"]
    np.testing.assert_allclose(jax_run["first_step"], 0.01, rtol=1e-3)


def test_it_learns_a_planted_signal_better_than_the_mean(jax_run):
    losses = jax_run["losses"][0]
    assert losses[-1] < 0.7 * losses[0]
    assert jax_run["rmse"] < 0.9 * jax_run["mean_rmse"]


def test_the_same_seed_gives_identical_losses(jax_run):
    first, again, other = jax_run["losses"]
    assert first == again
    assert first != other


def test_a_model_that_is_not_v2_is_refused_naming_the_fix():
    model = models.build_v1(n_users=3, n_movies=3, n_factors=2)
    with pytest.raises(
        ValueError, match="'v1' model. Fix: build the model with reco.models.build_v2"
    ):
        sparse.fit_sparse(model, np.zeros((1, 2), np.int32), np.ones(1, np.float32))


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="the session runs on JAX")
def test_another_backend_is_refused_naming_the_fix():
    model = models.build_v2(n_users=3, n_movies=3, n_factors=2)
    with pytest.raises(RuntimeError, match="KERAS_BACKEND=jax"):
        sparse.fit_sparse(model, np.zeros((1, 2), np.int32), np.ones(1, np.float32))
