"""Input checks shared by the package's table-handling modules."""

from __future__ import annotations

import pandas as pd


def require_columns(df: pd.DataFrame, cols, what: str) -> None:
    """Raise ``ValueError`` naming the missing columns of ``df`` and the fix.

    Args:
        df: the table to check.
        cols: the column names it must have.
        what: what the table is, for the message (``"ratings"``, ``"history"``).
    """
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(
            f"{what} table has no column(s) {missing}; it has {list(df.columns)}. "
            "Fix: pass the column names as keyword arguments (e.g. item_col=...)."
        )
