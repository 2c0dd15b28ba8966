"""Error measures in stars, shared by training, evaluation and the comparisons."""

from __future__ import annotations

import numpy as np


def rmse_mae(y, pred) -> dict[str, float]:
    """Return the root mean squared error and the mean absolute error of predictions.

    Args:
        y: true ratings, any shape with ``n`` elements.
        pred: predicted ratings, ``n`` elements; compared in float64.

    Returns:
        ``{"rmse": float, "mae": float}``.
    """
    err = np.asarray(pred, dtype=np.float64).reshape(-1) - np.asarray(y, dtype=np.float64).reshape(
        -1
    )
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err)))}
