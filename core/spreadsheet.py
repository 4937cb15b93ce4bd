"""CSV files meant for people are safe to open in a spreadsheet (issue 16.4: CSV formula injection).

A spreadsheet program runs a cell that starts with `=`, `+`, `-` or `@` as a formula (`=HYPERLINK(...)`,
`+cmd|' /C calc'!A0`, `@SUM(1)`), and a leading tab or carriage return can hide such a start.  Data values reach our
CSVs unchanged (a raw field in the reject log, a subject identifier in findings.csv, a term in a report table), so
every CSV written for people goes through `neutralise_formulas`, which prefixes such text cells with an apostrophe
(`'=HYPERLINK(...)`), as the OWASP guidance on CSV injection recommends: a spreadsheet shows the text and runs
nothing.  JSON outputs keep the exact values; files that programs read back (the spec's own CSVs, the raw export
the simulator writes) are not touched.

What is neutralised: cells of *text* columns (object, string or categorical dtype) whose text starts with one of
`= + - @`, tab or carriage return.  Numbers stored as numbers (int/float columns, or a number object in a mixed
column) are not text and stay as they are: `-1` in a numeric column is written `-1`.  A negative number held as
*text* (`"-1"` in a text column, e.g. a raw value in the reject log) is prefixed like any other text, `'-1`, because
the guidance gives no safe exception (`-1+1` and `-2+3+cmd|...` also look numeric at first sight): in a spreadsheet
it reads as the text -1, and `'` is easy to strip when read back by a program (`str.removeprefix("'")`).
"""

from __future__ import annotations

import csv

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a cell starting with one of these is run as a formula
FORMULA_STARTS = FORMULA_START  # the name core/workbook.py's first version used
PREFIX = "'"


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every text cell that a spreadsheet would run as a formula prefixed with an apostrophe
    (vectorised, per text column).  Numbers, missing values and other cells are unchanged; so are the column names
    (ours).  Returns `frame` itself when no cell needs it, else a new frame (the input is never modified)."""
    out = frame
    for position, column in enumerate(frame.columns):  # over columns
        values = frame.iloc[:, position]
        risky = _formula_cells(values)
        if risky is None or not risky.any():
            continue
        if out is frame:
            out = frame.copy()
        text = values.astype(object)
        out.isetitem(position, text.where(~risky, PREFIX + text[risky].astype(str)))
    return out


def csv_text(frame: pd.DataFrame, **to_csv) -> str:
    """The CSV text of `frame` for people: formulas neutralised, no index, '\\n' line ends (extra `to_csv` options
    such as float_format pass through).  pandas quotes a cell holding '\\n' but not one holding a bare carriage
    return, which a spreadsheet takes for the end of the row; a frame with such a cell is written with every
    non-numeric field quoted (csv.QUOTE_NONNUMERIC), so the row stays one row."""
    safe = neutralise_formulas(frame)
    if _holds_carriage_return(safe):
        to_csv.setdefault("quoting", csv.QUOTE_NONNUMERIC)
    return safe.to_csv(index=False, lineterminator="\n", **to_csv)


def neutralise_text(value: object) -> object:
    """One cell: the same rule for a writer that has a single value rather than a frame (csv module rows)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return PREFIX + value
    return value


def _formula_cells(values: pd.Series) -> pd.Series | None:
    """A boolean mask of the text cells starting like a formula; None for a column that holds no text."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        categories = dtype.categories
        if not (pd.api.types.is_object_dtype(categories.dtype) or pd.api.types.is_string_dtype(categories.dtype)):
            return None
        risky_categories = _starts_like_formula(pd.Series(categories, dtype=object))
        return pd.Series(values.cat.codes.isin(risky_categories[risky_categories].index), index=values.index)
    if not (pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)):
        return None  # numbers, dates, booleans: not text
    return _starts_like_formula(values)


def _holds_carriage_return(frame: pd.DataFrame) -> bool:
    for position in range(frame.shape[1]):  # over columns
        values = frame.iloc[:, position]
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = pd.Series(values.dtype.categories, dtype=object)
        elif not (pd.api.types.is_object_dtype(values.dtype) or pd.api.types.is_string_dtype(values.dtype)):
            continue
        try:
            if values.str.contains("\r", regex=False).fillna(False).astype(bool).any():
                return True
        except AttributeError:  # no text in the column
            continue
    return False


def _starts_like_formula(values: pd.Series) -> pd.Series:
    try:
        first = values.str[:1]  # NaN for missing values and for non-text objects (a number in a mixed column)
    except AttributeError:  # an object column without any text (all numbers or all missing)
        return pd.Series(False, index=values.index)
    return first.isin(FORMULA_START).fillna(False).astype(bool)
