"""Text that a spreadsheet could take for a formula, made harmless.

A cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is run as a formula by Excel and LibreOffice
when a CSV (or a workbook) is opened: data from a raw export must never do that.  `neutralise_formulas` puts a `'`
in front of such text (what spreadsheet programs themselves do to keep text as text); numbers are left alone.
"""

from __future__ import annotations

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` in which every text cell that starts like a formula begins with `'`."""
    out = frame.copy()
    for col in out.columns:
        series = out[col]
        if series.dtype.kind not in "OSU" and not isinstance(series.dtype, pd.StringDtype):
            continue
        try:
            risky = series.str.startswith(FORMULA_STARTS, na=False).astype(bool)  # non-text cells: False
        except AttributeError:  # an object column without any text
            continue
        if risky.any():
            out[col] = series.where(~risky, "'" + series.astype(str))
    return out
