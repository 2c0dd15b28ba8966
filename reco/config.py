"""Training settings: how a model is optimised, and nothing about the model.

:class:`TrainConfig` holds the optimizer, learning rate, batch size, epochs and
``steps_per_execution``. Each model kind declares its default configuration in
its contract (:mod:`reco.kinds`); :func:`reco.train.fit` uses it unless told
otherwise. This module imports no Keras until an optimizer is made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from reco._checks import positive_int

__all__ = ["COURSE_DEFAULTS", "ORIGINAL_SETTINGS", "TrainConfig"]


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained: the optimisation settings, and nothing about the model.

    Attributes:
        batch_size: examples per gradient step (ratings, or users for the
            implicit model). The L2 penalty, set in the builders, is added
            once per step: change it with the batch size.
        epochs: passes over the training examples.
        lr: the optimizer's learning rate, a finite positive number.
        steps_per_execution: batches run per call into the compiled graph
            (faster; it does not change the results).
        optimizer: a Keras optimizer name, such as ``"adam"``.
    """

    batch_size: int
    epochs: int
    lr: float
    steps_per_execution: int = 1
    optimizer: str = "adam"

    def __post_init__(self):
        for name in ("batch_size", "epochs", "steps_per_execution"):
            value = getattr(self, name)
            object.__setattr__(
                self, name, positive_int(value, f"TrainConfig.{name}", f"for example {name}=8")
            )
        try:
            lr = float(self.lr)
        except (TypeError, ValueError):
            lr = math.nan
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(
                f"TrainConfig.lr must be a finite positive learning rate; got {self.lr!r}. "
                "Fix: for example lr=1e-2."
            )

    def make_optimizer(self):
        """Return a new Keras optimizer with this config's learning rate."""
        import keras

        try:
            return keras.optimizers.get(
                {"class_name": self.optimizer, "config": {"learning_rate": float(self.lr)}}
            )
        except ValueError as err:
            raise ValueError(
                f"TrainConfig.optimizer {self.optimizer!r} is not a Keras optimizer. "
                "Fix: use a name such as 'adam', 'sgd' or 'rmsprop'."
            ) from err


#: The course's original settings: batch 64, 5 epochs, Adam 1e-3. The original
#: course built its models with an L2 of 1e-6 (``make bench`` does the same).
ORIGINAL_SETTINGS = TrainConfig(batch_size=64, epochs=5, lr=1e-3)

#: The course's training settings for the four rating models, chosen on the
#: validation part of ``train_val_test_split`` and measured with ``make bench``:
#: 32x bigger batches, a 10x learning rate, and 16 batches per graph call.
#: The builders' default L2 (100x the original) is matched to these batches.
#: No XLA: Keras turns ``jit_compile`` off whenever TensorFlow op determinism
#: is on, and the course needs determinism more than XLA.
COURSE_DEFAULTS = TrainConfig(batch_size=2048, epochs=8, lr=1e-2, steps_per_execution=16)
