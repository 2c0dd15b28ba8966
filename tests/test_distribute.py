"""Tests of reco.distribute: V2 trained on many devices and on two processes, JAX backend.

The pytest process runs Keras on TensorFlow, and JAX reads its number of CPU
devices once, when it starts; so the training runs in fresh processes
(``distribute_job.py``) with ``KERAS_BACKEND=jax``, ``JAX_PLATFORMS=cpu`` and
``XLA_FLAGS=--xla_force_host_platform_device_count=N``. One process, run once
for the module, trains every single-process case on 4 devices; the two-process
test starts two more, on 127.0.0.1.

What is compared: the training loss of each of 2 epochs (mean squared error
plus the L2 penalty), V2 with 8 factors on 5,000 synthetic ratings of 300 users
and 200 movies, batches of 500, from :func:`reco.train.set_seed`.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from importlib.util import find_spec

import numpy as np
import pytest
from conftest import ROOT, python_env

pytestmark = pytest.mark.skipif(
    find_spec("jax") is None,
    reason="jax is not installed: Keras's distribution API runs on the JAX backend only "
    "(pip install jax)",
)

JOB = ROOT / "tests" / "distribute_job.py"

#: Seconds a training process may take (measured: 25 to 60 on a busy 2-core machine).
TIMEOUT = 180

#: Relative tolerance between losses on different devices. Splitting a batch over
#: devices changes only the order of float32 sums (the loss's mean over the batch,
#: the gradients' sum over its parts): measured, the losses agree to the bit or
#: differ by 1.2e-7 (1 unit in the last place) on 4 devices. 1e-5 leaves room for
#: another CPU's order of sums; a lost or doubled part of a batch, or a table row
#: on the wrong device, changes the loss by more than 1e-3.
RTOL = 1e-5

SINGLE_PROCESS = (
    "data_parallel 2",
    "data_parallel 4",
    "model_parallel 2 of 2",
    "model_parallel 4 of 4",
    "model_parallel 2 of 4",
)


def _env(n_devices: int) -> dict[str, str]:
    return python_env(
        {
            "KERAS_BACKEND": "jax",
            "JAX_PLATFORMS": "cpu",
            "XLA_FLAGS": f"--xla_force_host_platform_device_count={n_devices}",
        }
    )


def _answer(stdout: str) -> dict:
    """The JSON line the job printed last (Gloo prints its connections to stdout before it)."""
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def on_devices() -> dict:
    """What ``distribute_job.py devices`` answers, on 4 CPU devices."""
    try:
        run = subprocess.run(
            [sys.executable, str(JOB), "devices"],
            cwd=ROOT, env=_env(4), capture_output=True, text=True, timeout=TIMEOUT,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"the training on 4 devices took over {TIMEOUT} s")
    assert run.returncode == 0, f"the training on 4 devices failed:\n{run.stderr[-3000:]}"
    return _answer(run.stdout)


@pytest.mark.parametrize("name", SINGLE_PROCESS)
def test_training_on_many_devices_gives_the_losses_of_one_device(on_devices, name):
    losses = on_devices["losses"]
    assert on_devices["devices"] == ["cpu:0", "cpu:1", "cpu:2", "cpu:3"]
    np.testing.assert_allclose(losses[name], losses["1 device"], rtol=RTOL, atol=0)
    assert losses["1 device"][1] < losses["1 device"][0]  # it learns


def _blocks(rows: dict) -> list[list[int]]:
    return [list(block) for block in rows.values()]


def test_model_parallel_gives_each_of_4_devices_a_quarter_of_every_table(on_devices):
    rows = on_devices["rows"]
    users = [[0, 75], [75, 150], [150, 225], [225, 300]]
    movies = [[0, 50], [50, 100], [100, 150], [150, 200]]
    assert list(rows["user_embedding"]) == ["cpu:0", "cpu:1", "cpu:2", "cpu:3"]
    assert _blocks(rows["user_embedding"]) == _blocks(rows["user_bias"]) == users
    assert _blocks(rows["movie_embedding"]) == _blocks(rows["movie_bias"]) == movies
    # Adam's two moments of a table are split as the table is.
    assert len(on_devices["moments"]) == 2
    assert all(_blocks(m) == users for m in on_devices["moments"].values())


def test_a_2x2_mesh_splits_each_table_in_two_and_copies_it_over_the_batch_axis(on_devices):
    rows = on_devices["rows 2x2"]["user_embedding"]
    assert rows == {"cpu:0": [0, 150], "cpu:1": [150, 300], "cpu:2": [0, 150], "cpu:3": [150, 300]}


def test_padded_tables_split_evenly_and_their_padding_stays_zero(on_devices):
    padded = on_devices["padded"]  # 301 users and 199 movies, over 4 devices
    assert padded["sizes"] == [304, 200]
    assert _blocks(padded["rows"]["user_embedding"]) == [[0, 76], [76, 152], [152, 228], [228, 304]]
    assert _blocks(padded["rows"]["movie_bias"]) == [[0, 50], [50, 100], [100, 150], [150, 200]]
    # After two epochs of Adam with an L2 penalty, the rows no rating looks up are still zero.
    assert padded["largest padding"] == dict.fromkeys(padded["rows"], 0.0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_on_127_0_0_1_train_as_one_process(on_devices, tmp_path):
    port, env = _free_port(), _env(1)
    processes, logs = [], []
    for i in range(2):
        out, err = tmp_path / f"stdout{i}", tmp_path / f"stderr{i}"
        with open(out, "w") as stdout, open(err, "w") as stderr:
            command = [sys.executable, str(JOB), "process", str(i), "2", str(port)]
            processes.append(
                subprocess.Popen(command, cwd=ROOT, env=env, stdout=stdout, stderr=stderr)
            )
        logs.append((out, err))
    deadline = time.monotonic() + TIMEOUT
    try:
        # If one fails the other waits for it (in jax.distributed.initialize or a
        # collective): stop both as soon as one fails, or at the deadline.
        while any(p.poll() is None for p in processes):
            failed = [i for i, p in enumerate(processes) if p.poll() not in (None, 0)]
            assert not failed, (
                f"process {failed[0]} failed:\n{logs[failed[0]][1].read_text()[-3000:]}"
            )
            assert time.monotonic() < deadline, (
                f"the two processes did not finish within {TIMEOUT} s (a hang in "
                "jax.distributed.initialize or a Gloo collective?); both were stopped"
            )
            time.sleep(0.2)
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    for i, p in enumerate(processes):
        assert p.returncode == 0, f"process {i} failed:\n{logs[i][1].read_text()[-3000:]}"
    answers = [_answer(out.read_text()) for out, _ in logs]

    one = on_devices["in order"]  # one process, one device, the same batches
    for i, answer in enumerate(answers):
        assert answer["process"] == i
        assert answer["devices"] == answers[0]["devices"] and len(answer["devices"]) == 2
        np.testing.assert_allclose(answer["data_parallel"], one, rtol=RTOL, atol=0)
        np.testing.assert_allclose(answer["model_parallel"], one, rtol=RTOL, atol=0)
    # The table split over the processes: each holds half of it, on its own device.
    first, second = (a["rows"]["user_embedding"] for a in answers)
    assert _blocks(first) == [[0, 150]] and _blocks(second) == [[150, 300]]
    assert set(first) | set(second) == set(answers[0]["devices"])


# ------------------------------------------------------- in this process (any backend)


def test_the_module_imports_on_any_backend_and_asks_for_jax():
    import keras

    from reco import distribute

    if keras.backend.backend() == "jax":
        pytest.skip("this process runs JAX: nothing to refuse")
    for call in (distribute.data_parallel, lambda: distribute.model_parallel(2)):
        with pytest.raises(RuntimeError, match="KERAS_BACKEND=jax"):
            call()


def test_padded_size_rounds_up_to_a_multiple_of_the_shards():
    from reco.distribute import padded_size

    assert [padded_size(n, 4) for n in (1, 4, 5, 301)] == [4, 4, 8, 304]
    with pytest.raises(ValueError, match="n_shards must be at least 1"):
        padded_size(10, 0)


def test_the_processes_rows_make_the_batches_of_one_process():
    from reco.distribute import process_rows

    parts = [process_rows(10, 4, num_processes=2, process_id=i) for i in range(2)]
    assert parts[0].tolist() == [0, 1, 4, 5, 8] and parts[1].tolist() == [2, 3, 6, 7, 9]
    with pytest.raises(ValueError, match="do not split evenly over 2 processes"):
        process_rows(9, 4, num_processes=2, process_id=0)
