"""A dataset's columns as the mapping builds them: missing columns, a block's columns as one frame, the blocks'
records stacked with every variable of the dataset in spec order and type."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from cdiscflow.core.text import TEXT, arrow, constant, text_series


def missing(index: pd.Index, dtype) -> pd.Series:
    """A column of missing values of `dtype` (text: str, numbers: float64) on `index`."""
    return constant(None, index) if dtype == TEXT else pd.Series(np.nan, index=index, dtype=dtype)


def assemble(columns: dict[str, pd.Series], index: pd.Index) -> pd.DataFrame:
    """The columns as one frame on `index`, in their order (as inserting them one by one would make it)."""
    if columns and index.is_unique and all(c.index.equals(index) for c in columns.values()):
        return pd.DataFrame(columns, index=index, copy=False)  # (the columns as they are: no alignment, no copy)
    frame = pd.DataFrame(index=index)
    for name, column in columns.items():  # over columns not on the index as it is (none in a mapping)
        frame[name] = column
    return frame


def stack(ds, frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The blocks' records (each frame on 0..n-1) one after the other, with every variable of the dataset in spec
    order and spec type (text: str, numbers: float64); a block that does not map a variable leaves it missing.
    Stacked column by column, the blocks' arrays joined as they are (text: the Arrow chunks, numbers: numpy), with no
    pandas concatenation per column; stacking the frames would make each column a block maps only sometimes Python
    objects, converted back per record."""
    index = pd.RangeIndex(sum(len(f) for f in frames))
    columns = {}
    for v in ds.variables:  # over columns
        dtype = np.dtype("float64") if v.is_numeric else TEXT
        if len(frames) == 1 and v.name in frames[0] and frames[0][v.name].dtype == dtype:
            columns[v.name] = frames[0][v.name]  # one block: its column as it is
        elif v.is_numeric:
            columns[v.name] = np.concatenate([f[v.name].to_numpy(dtype="float64", na_value=np.nan) if v.name in f
                                              else np.full(len(f), np.nan) for f in frames] or [np.empty(0)])
        else:
            chunks = [c for f in frames for c in _text_chunks(f[v.name] if v.name in f else None, len(f))]
            columns[v.name] = text_series(pa.chunked_array(chunks, type=pa.large_string()), index)
    return pd.DataFrame(columns, index=index)


def _text_chunks(col: pd.Series | None, n: int) -> list[pa.Array]:
    """A block's text column as Arrow arrays (no copy), or `n` missing values when the block does not map it."""
    if col is None:
        return [pa.nulls(n, pa.large_string())]
    arr = arrow(col)
    return list(arr.chunks) if isinstance(arr, pa.ChunkedArray) else [arr]
