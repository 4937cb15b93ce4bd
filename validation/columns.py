"""Whole-column helpers the checks share: evaluate per distinct value, membership and lookups at pyarrow speed.

Clinical columns repeat few distinct values (subjects, terms, dates), and their text lives in pyarrow arrays (the
pandas 3 `str` dtype), so membership and key lookups go through pyarrow compute, and expensive text parsing runs
once per distinct value.  Every function takes and returns whole columns; nothing loops over records.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cdiscflow.core.frames import is_text_category, per_unique  # noqa: F401 (re-exported)


def _text_array(values: pd.Series) -> pa.Array | None:
    """The column as a pyarrow string array, or None when it does not hold text only."""
    if is_text_category(values):  # compacted text (core.frames.compact)
        return pa.array(values, from_pandas=True).dictionary_decode().cast(pa.string())
    if not (pd.api.types.is_string_dtype(values.dtype) or values.dtype == object):
        return None
    try:
        return pa.array(values, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None


def isin(values: pd.Series, allowed: Iterable) -> np.ndarray:
    """Boolean array: the value is one of `allowed` (missing values are not)."""
    allowed = list(allowed)
    arr = _text_array(values)
    if arr is not None and all(isinstance(a, str) for a in allowed):
        hit = pc.is_in(arr, value_set=pa.array(allowed, type=pa.string()))
        return hit.fill_null(False).to_numpy(zero_copy_only=False)
    return values.isin(allowed).to_numpy(dtype=bool)


def lookup(keys: pd.Series, table: pd.Series) -> pd.Series:
    """`keys.map(table)` for a table with a unique index, without building a hash table per call."""
    arr = _text_array(keys)
    index_values = [k for k in table.index]
    if arr is not None and all(isinstance(k, str) for k in index_values):
        pos = pc.index_in(arr, value_set=pa.array(index_values, type=pa.string()))
        pos = pos.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        taken = pd.api.extensions.take(table.array, pos, allow_fill=True)
        return pd.Series(taken, index=keys.index, name=table.name)
    return keys.map(table)
