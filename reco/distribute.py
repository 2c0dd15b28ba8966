"""Train on many devices, and many machines, with Keras's distribution API (JAX backend).

Keras 3 spreads training over devices without a change to the model or to
:func:`reco.train.fit`: set a *distribution* first, then build and fit as usual.

* :func:`data_parallel` -- a ``keras.distribution.DataParallel``: every device
  holds the whole model, each gets a slice of every batch, and the gradients
  are averaged. The model must fit on one device.
* :func:`model_parallel` -- a ``keras.distribution.ModelParallel`` whose
  ``LayoutMap`` splits V2's user and movie tables (factors and biases) by rows
  over the ``"model"`` axis of a ``DeviceMesh``, and batches over its
  ``"batch"`` axis. Each device holds ``1/n_shards`` of every table, and of
  Adam's two moments for it: the tables are where a recommender's memory goes.
  Build the model with :func:`build_v2_sharded`, so that the rows split evenly.
* :func:`table_rows` says which rows of each table every device holds.

In a notebook::

    import keras
    from reco import distribute, train

    keras.distribution.set_distribution(distribute.model_parallel(4))
    train.set_seed()
    model = distribute.build_v2_sharded(4, encoder)
    history = train.fit(model, split)
    distribute.table_rows(model)  # {"user_embedding": {"cpu:0": (0, 153), ...}, ...}

The distribution API works on the JAX backend only: set ``KERAS_BACKEND=jax``
before Python starts. On a CPU, JAX shows one device unless told otherwise:
start Python with ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (or
``JAX_NUM_CPU_DEVICES=4``) to practise on four.

Many machines (or processes): every process runs the same script and first calls
``keras.distribution.initialize("10.0.0.1:1234", num_processes, process_id)``,
the address being process 0's; JAX then sees every process's devices, and CPUs
talk through Gloo (JAX's default CPU collectives). Keras does not split NumPy
arrays between processes: make the distribution with ``auto_shard_dataset=False``
and give each process its own rows of each batch, :func:`process_rows`. Only the
devices of its own process are *addressable*: :func:`table_rows` lists those.
"""

from __future__ import annotations

import keras
import numpy as np

from reco._checks import positive_int
from reco.models import architecture, build_v2
from reco.train import require_jax

__all__ = [
    "BATCH_AXIS",
    "MODEL_AXIS",
    "V2_TABLES",
    "build_v2_sharded",
    "data_parallel",
    "model_parallel",
    "padded_size",
    "process_rows",
    "rows_per_device",
    "table_layouts",
    "table_rows",
]

#: The device mesh's axis that batches are split over (Keras's own default name).
BATCH_AXIS = "batch"

#: The device mesh's axis that the tables' rows are split over.
MODEL_AXIS = "model"

#: V2's tables, by layer name: each is looked up by row (a user or a movie index).
V2_TABLES = ("user_embedding", "movie_embedding", "user_bias", "movie_bias")


def _require_jax(what: str) -> None:
    require_jax(f"reco.distribute.{what}")


def _devices(devices) -> list:
    all_devices = keras.distribution.list_devices()
    if devices is None:
        return all_devices
    devices = list(devices)
    if not devices:
        raise ValueError(
            f"devices is empty. Fix: leave devices=None for all {len(all_devices)} "
            "devices, or pass some of keras.distribution.list_devices()."
        )
    return devices


def data_parallel(devices=None, *, auto_shard_dataset: bool = True):
    """Return a ``keras.distribution.DataParallel`` over ``devices``.

    Every device holds a copy of the model and gets ``1/len(devices)`` of each
    batch, so the batch size must be a multiple of the number of devices (the
    last batch of an epoch too).

    Args:
        devices: device names such as ``["cpu:0", "cpu:1"]``; default: all of
            ``keras.distribution.list_devices()`` (every process's, once
            ``keras.distribution.initialize`` has run).
        auto_shard_dataset: ``False`` when each process passes its own rows
            (:func:`process_rows`); needed for NumPy data on many processes.

    Raises:
        RuntimeError: Keras is not running on JAX.
        ValueError: ``devices`` is empty.
    """
    _require_jax("data_parallel")
    return keras.distribution.DataParallel(
        devices=_devices(devices), auto_shard_dataset=auto_shard_dataset
    )


def table_layouts(device_mesh, tables=V2_TABLES):
    """Return a ``keras.distribution.LayoutMap`` that splits ``tables`` by rows over ``"model"``.

    A table's variable is ``"<layer name>/embeddings"`` (shape ``(rows, size)``);
    its layout ``("model", None)`` gives each device of the ``"model"`` axis a
    block of whole rows. Variables the map does not name are replicated.

    Args:
        device_mesh: a ``keras.distribution.DeviceMesh`` with a ``"model"`` axis.
        tables: the layer names of the tables (default: V2's four).
    """
    layout_map = keras.distribution.LayoutMap(device_mesh)
    for name in tables:
        layout_map[rf"(.*/)?{name}/embeddings"] = (MODEL_AXIS, None)
    return layout_map


def model_parallel(
    n_shards: int, devices=None, *, tables=V2_TABLES, auto_shard_dataset: bool = True
):
    """Return a ``keras.distribution.ModelParallel`` that splits V2's tables into ``n_shards``.

    The devices form a 2-D mesh ``(len(devices) // n_shards, n_shards)`` with
    axes ``("batch", "model")``: each table's rows are split over the
    ``n_shards`` devices of a ``"model"`` row of the mesh, and each batch over
    the ``"batch"`` axis (``n_shards == len(devices)`` is a 1-D split: every
    device sees the whole batch and holds ``1/n_shards`` of each table). The
    tables' rows must be a multiple of ``n_shards``: build the model with
    :func:`build_v2_sharded`.

    Args:
        n_shards: how many devices share a table; it must divide the number of devices.
        devices: device names; default: all of ``keras.distribution.list_devices()``.
        tables: the layer names of the tables to split (default: V2's four).
        auto_shard_dataset: ``False`` when each process passes its own rows.

    Raises:
        RuntimeError: Keras is not running on JAX.
        ValueError: ``n_shards`` is not a positive divisor of the number of devices.
    """
    _require_jax("model_parallel")
    devices = _devices(devices)
    n_shards = positive_int(n_shards, "n_shards", f"a divisor of the {len(devices)} devices")
    if len(devices) % n_shards:
        raise ValueError(
            f"n_shards={n_shards} does not divide the {len(devices)} devices. Fix: use a "
            f"divisor of {len(devices)}, or start Python with more devices "
            "(XLA_FLAGS=--xla_force_host_platform_device_count=N on a CPU)."
        )
    mesh = keras.distribution.DeviceMesh(
        shape=(len(devices) // n_shards, n_shards),
        axis_names=(BATCH_AXIS, MODEL_AXIS),
        devices=devices,
    )
    return keras.distribution.ModelParallel(
        layout_map=table_layouts(mesh, tables),
        batch_dim_name=BATCH_AXIS,
        auto_shard_dataset=auto_shard_dataset,
    )


def padded_size(n: int, n_shards: int) -> int:
    """Return ``n`` rounded up to a multiple of ``n_shards`` (``padded_size(301, 4) == 304``)."""
    n = positive_int(n, "n", "a number of rows, such as n_users")
    n_shards = positive_int(n_shards, "n_shards", "for example n_shards=4")
    return -(-n // n_shards) * n_shards


def build_v2_sharded(
    n_shards: int,
    encoder=None,
    *,
    n_users: int | None = None,
    n_movies: int | None = None,
    **kwargs,
) -> keras.Model:
    """Build V2 with its tables padded to a multiple of ``n_shards`` rows, the padding zero.

    Why pad: JAX splits an array over devices only in equal blocks, so a table
    of 301 users cannot be split four ways; with 304 rows each device holds 76.
    The padding rows belong to no user or movie, so no batch looks them up;
    they start at zero, and as the L2 penalty of a zero row and its gradient
    are zero, Adam leaves them at zero: the padding adds nothing to the loss.
    (The real rows start from another random draw than :func:`reco.models.build_v2`'s,
    of a bigger table.) Build it under the distribution it will train with.

    The model's sizes are the padded ones: when scoring every movie
    (``reco.kinds.score_users``), keep the first ``n_movies`` columns, or a
    padding movie may be recommended.

    Args:
        n_shards: the number of devices that share a table (:func:`model_parallel`'s).
        encoder: the fitted :class:`reco.split.IdEncoder`; or ``None`` and give
            ``n_users`` and ``n_movies``.
        n_users, n_movies: the real numbers of users and movies.
        **kwargs: the other arguments of :func:`reco.models.build_v2`
            (``n_factors``, ``l2``, ``min_rating``, ``max_rating``).

    Returns:
        an uncompiled V2 with ``padded_size(n_users, n_shards)`` user rows and
        ``padded_size(n_movies, n_shards)`` movie rows.

    Raises:
        ValueError: as :func:`reco.models.build_v2`, or ``n_shards`` is not a positive integer.
    """
    n_shards = positive_int(n_shards, "n_shards", "for example n_shards=4")
    n_users, n_movies, _ = architecture(encoder, n_users, n_movies, kwargs.get("n_factors", 50))
    model = build_v2(
        n_users=padded_size(n_users, n_shards), n_movies=padded_size(n_movies, n_shards), **kwargs
    )
    for name, real in (
        ("user_embedding", n_users),
        ("user_bias", n_users),
        ("movie_embedding", n_movies),
        ("movie_bias", n_movies),
    ):
        table = model.get_layer(name).embeddings
        keep = keras.ops.arange(table.shape[0])[:, None] < real
        table.assign(keras.ops.where(keep, table.value, keras.ops.zeros_like(table.value)))
    return model


def rows_per_device(variable) -> dict[str, tuple[int, int]]:
    """Return which rows of ``variable`` each addressable device holds, as ``(start, stop)``.

    A replicated variable gives ``(0, rows)`` on every device; a table split
    four ways gives four blocks of ``rows / 4``. On many processes only this
    process's devices are listed.

    Args:
        variable: a Keras variable or a ``jax.Array`` of at least one dimension.

    Returns:
        device name (``"cpu:0"``, as ``keras.distribution.list_devices`` names
        it) -> ``(start, stop)``, sorted by device name.

    Raises:
        RuntimeError: Keras is not running on JAX.
    """
    _require_jax("rows_per_device")
    array = getattr(variable, "value", variable)
    rows = array.shape[0]
    out = {}
    for shard in array.addressable_shards:
        block = shard.index[0]
        start, stop, _ = block.indices(rows)
        out[f"{shard.device.platform}:{shard.device.id}"] = (start, stop)
    return dict(sorted(out.items()))


def table_rows(model, tables=V2_TABLES) -> dict[str, dict[str, tuple[int, int]]]:
    """Return, for each table of ``model``, the rows each addressable device holds.

    Args:
        model: a built Keras model with the layers ``tables``.
        tables: layer names of Embedding layers (default: V2's four).

    Returns:
        layer name -> :func:`rows_per_device` of its table.

    Raises:
        RuntimeError: Keras is not running on JAX.
    """
    return {name: rows_per_device(model.get_layer(name).embeddings) for name in tables}


def process_rows(
    n_rows: int,
    batch_size: int,
    *,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> np.ndarray:
    """Return the indices of the rows this process feeds, so the processes make batches together.

    Batch ``k`` of the whole run is rows ``k * batch_size`` to ``(k + 1) *
    batch_size`` of the data; process ``p`` of ``P`` feeds its ``p``-th
    ``1/P``, and Keras joins the processes' parts into that batch. Fit each
    process on its rows with ``batch_size // P`` and ``shuffle=False``
    (shuffle the rows once before): the batches, hence the losses, are those
    of one process fitting all rows with ``batch_size``.

    Args:
        n_rows: how many rows (ratings) the data hold.
        batch_size: the batch size of the whole run; a multiple of the number of processes.
        num_processes, process_id: default: JAX's (``jax.process_count()``,
            ``jax.process_index()``), after ``keras.distribution.initialize``.

    Returns:
        int64 indices of shape ``(n_rows // num_processes,)``, in batch order.

    Raises:
        RuntimeError: Keras is not running on JAX and the processes are not given.
        ValueError: ``batch_size`` (or the last batch) does not split evenly.
    """
    if num_processes is None or process_id is None:
        _require_jax("process_rows")
        import jax

        num_processes, process_id = jax.process_count(), jax.process_index()
    n_rows = positive_int(n_rows, "n_rows", "the number of ratings")
    batch_size = positive_int(batch_size, "batch_size", "for example batch_size=2048")
    num_processes = positive_int(num_processes, "num_processes", "for example 2")
    if not 0 <= process_id < num_processes:
        raise ValueError(f"process_id must be in [0, {num_processes}); got {process_id}.")
    last = n_rows % batch_size
    if batch_size % num_processes or last % num_processes:
        raise ValueError(
            f"batches of {batch_size} rows (the last of {last or batch_size}) do not split "
            f"evenly over {num_processes} processes. Fix: use a batch size and a number of "
            "rows that are multiples of the number of processes."
        )
    starts = np.arange(0, n_rows, batch_size)
    sizes = np.minimum(batch_size, n_rows - starts) // num_processes
    return np.concatenate(
        [
            np.arange(s + process_id * k, s + (process_id + 1) * k)
            for s, k in zip(starts, sizes, strict=True)
        ]
    )
