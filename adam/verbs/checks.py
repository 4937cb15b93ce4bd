"""The arguments and inputs of the ADaM verbs: name/mapping normalisation, input checks, row descriptions.

Every derivation checks its inputs before it computes anything and raises `InputError` naming the dataset and the
variables (data problems) or `ValueError` (a wrong argument in the calling code).  Nothing here keeps state.
Record ordering (`order=`, first/last selections) is `cdiscflow.adam.verbs.ordering`.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from cdiscflow.core.errors import InputError

SUBJECT_KEYS: tuple[str, ...] = ("STUDYID", "USUBJID")


def as_names(value: str | Iterable[str] | None, *, arg: str) -> tuple[str, ...]:
    """A variable name or a sequence of names as a tuple (None -> ())."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    names = tuple(value)
    bad = [n for n in names if not isinstance(n, str) or not n]
    if bad:
        raise ValueError(f"{arg}: expected variable names, got {bad!r}")
    return names


def as_mapping(value: str | Iterable[str] | Mapping[str, str] | None, *, arg: str) -> dict[str, str]:
    """Names or a {new: source} mapping as a {new: source} dict (a plain name maps to itself)."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        out = {}
        for new, src in value.items():
            if not isinstance(new, str) or not isinstance(src, str):
                raise ValueError(f"{arg}: expected {{new_name: source_name}} strings, got {new!r}: {src!r}")
            out[new] = src
        return out
    return {n: n for n in as_names(value, arg=arg)}


def check_frame(frame: object, *, name: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, not {type(frame).__name__}")
    return frame


def require_columns(frame: pd.DataFrame, columns: Iterable[str], *, dataset: str, purpose: str = "") -> None:
    """Raise InputError listing every variable `frame` lacks."""
    missing = [c for c in dict.fromkeys(columns) if c not in frame.columns]
    if missing:
        why = f" (needed for {purpose})" if purpose else ""
        raise InputError(
            f"{dataset} lacks variable(s) {', '.join(missing)}{why}; it has: {', '.join(map(str, frame.columns)) or 'none'}"
        )


def require_dates(frame: pd.DataFrame, columns: Iterable[str], *, dataset: str) -> None:
    """Raise InputError unless every column is a datetime64 column (an ADaM date or datetime)."""
    bad = [f"{c} ({frame[c].dtype})" for c in columns if not pd.api.types.is_datetime64_any_dtype(frame[c])]
    if bad:
        raise InputError(
            f"{dataset}: {', '.join(bad)} must be date/datetime (datetime64) variables; "
            "convert --DTC text first with derive_vars_dt / derive_vars_dtm"
        )


def require_unique(frame: pd.DataFrame, keys: Sequence[str], *, dataset: str, hint: str = "") -> None:
    """Raise InputError if `keys` do not identify the rows of `frame`, showing the first duplicates."""
    dup = frame.duplicated(list(keys), keep=False)
    if dup.any():
        shown = frame.loc[dup, list(keys)].drop_duplicates().head(5)
        examples = "; ".join(", ".join(f"{k}={v}" for k, v in zip(keys, row)) for row in shown.itertuples(index=False))
        more = f" {hint}" if hint else ""
        raise InputError(
            f"{dataset} has {int(dup.sum())} records that are not unique by {', '.join(keys)} (e.g. {examples}).{more}"
        )


def text(values: object, index: pd.Index | None = None) -> pd.Series:
    """A character variable: pandas' string dtype with NaN for missing."""
    return pd.Series(values, index=index, dtype="str")


def describe_rows(frame: pd.DataFrame, mask: pd.Series | np.ndarray, columns: Sequence[str], limit: int = 5) -> str:
    """'row 3 (USUBJID=01-001, AESTDTC=2020-02-30); row 9 (...)' for the first `limit` rows of `mask`.

    Row numbers are 1-based record numbers of `frame` as given."""
    positions = np.flatnonzero(np.asarray(mask))
    shown = []
    for p in positions[:limit]:
        parts = ", ".join(f"{c}={frame.iloc[p][c]}" for c in columns if c in frame.columns)
        shown.append(f"row {p + 1} ({parts})")
    more = f" and {len(positions) - limit} more" if len(positions) > limit else ""
    return "; ".join(shown) + more
