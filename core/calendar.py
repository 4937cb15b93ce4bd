"""Calendar arithmetic on date columns shared by every layer: whole months and years between two dates (an age)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _completed_months(start: pd.Series, end: pd.Series) -> pd.Series:
    months = (end.dt.year - start.dt.year) * 12 + (end.dt.month - start.dt.month)
    return (months - (end.dt.day < start.dt.day).astype("float64")).astype("float64")


def compute_completed_years(start: pd.Series, end: pd.Series) -> pd.Series:
    """Whole calendar years from `start` to `end` (dates; NaN when either is missing): an age.  Someone born
    2000-02-29 is 1 year old on 2001-03-01, not on 2001-02-28."""
    start, end = pd.to_datetime(start).dt.floor("D"), pd.to_datetime(end).dt.floor("D")
    return np.floor(_completed_months(start, end) / 12).astype("float64")
