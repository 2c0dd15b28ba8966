"""reco.metrics: RMSE and MAE in stars."""

import numpy as np
import pytest

from reco.metrics import rmse_mae


def test_rmse_and_mae_of_known_errors():
    out = rmse_mae([1.0, 2.0, 3.0, 4.0], np.array([[2.0], [2.0], [3.0], [1.0]], dtype=np.float32))
    assert out["rmse"] == pytest.approx(np.sqrt((1 + 0 + 0 + 9) / 4))
    assert out["mae"] == pytest.approx((1 + 0 + 0 + 3) / 4)


def test_perfect_predictions_score_zero():
    assert rmse_mae([3.5, 4.0], [3.5, 4.0]) == {"rmse": 0.0, "mae": 0.0}
