"""Column-wise text operations on Arrow compute (pandas' regex paths run Python per value; these run in C++):
extraction, normalising, membership (`isin`) and key lookups (`lookup`) for every layer (mapping, derivations and
the conformance checks alike).  Every function takes and returns whole columns; nothing loops over records.

Text columns are pandas `str` (Arrow-backed in pandas 3); missing stays missing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cdiscflow.core.frames import TEXT, is_text_category, text_per_distinct


def arrow(values: pd.Series | pd.Index) -> pa.Array:
    """The column as Arrow large_string (a text column as it is: astype would cost a pandas call per use).  Read
    from the column's array: pyarrow given the Series itself probes it for its protocols, each a failed pandas
    attribute lookup (~10x the conversion on a few thousand records)."""
    text = values if values.dtype == "str" else values.astype(str)
    return pa.array(text.array, type=pa.large_string(), from_pandas=True)


def text_series(arr: pa.Array | pa.ChunkedArray, index: pd.Index, name=None) -> pd.Series:
    """An Arrow text array (or chunked array) as a text Series on `index`, wrapped as it is (the Series
    constructor given a dtype converts it through pandas' sequence path: ~2x the time)."""
    return pd.Series(pd.arrays.ArrowStringArray(arr, dtype=TEXT), index=index, name=name, copy=False)


def constant(value: str | None, index: pd.Index) -> pd.Series:
    """The same text on every row of `index` (None: missing), made by Arrow: pandas broadcasts a scalar to a text
    column through a Python sequence (about 4x slower on 2,000 rows, 18x on 200,000)."""
    n = len(index)
    arr = pa.nulls(n, pa.large_string()) if value is None else pa.repeat(pa.scalar(value, pa.large_string()), n)
    return text_series(arr, index)


def join_text(parts: list, index: pd.Index) -> pd.Series:
    """Literal texts and text columns (on `index`) joined per row in one Arrow call, missing where a column is
    missing: how a template such as "PART {PART} {VISIT}" is filled."""
    arrays = [_one_array(arrow(p)) if isinstance(p, pd.Series) else p for p in parts]
    if not any(isinstance(a, pa.Array) for a in arrays):  # no column: the same text on every row
        return constant("".join(arrays), index)
    text = [a if isinstance(a, pa.Array) else pa.scalar(a, pa.large_string()) for a in [*arrays, ""]]
    return text_series(pc.binary_join_element_wise(*text, null_handling="emit_null"), index)  # the last: the separator


def _one_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One Arrow array (a column of no rows, or of several buffers, comes as a ChunkedArray)."""
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def extract(values: pd.Series, pattern: str) -> pd.DataFrame:
    """Named groups of `pattern` (which must match the whole text) as columns; NaN where it does not match."""
    found = pc.extract_regex(arrow(values), pattern)
    return pd.DataFrame({f.name: text_series(pc.struct_field(found, f.name), values.index) for f in found.type},
                        index=values.index)


def squash_upper(values: pd.Series) -> pd.Series:
    """Blanks collapsed and trimmed, upper case: how collected text is compared with codelist terms.  Computed once
    per distinct value (`core.frames.text_per_distinct`): raw answers repeat a handful of values, and the regular
    expression over every record cost ~7x that (1M records of 5 values)."""
    if not (values.dtype == "str" or is_text_category(values)):  # numbers, objects: each as its own text (1.0, True)
        return text_series(squash_upper_arrow(arrow(values)), values.index)
    return text_per_distinct(values, lambda u: text_series(squash_upper_arrow(arrow(u)), u.index)).rename(None)


def squash_upper_arrow(arr: pa.Array) -> pa.Array:
    """`squash_upper` of an Arrow text array."""
    return pc.utf8_upper(pc.utf8_trim_whitespace(pc.replace_substring_regex(arr, r"\s+", " ")))


def strip_blank(values: pd.Series) -> pd.Series:
    """Surrounding blanks removed; empty text becomes missing."""
    text = text_series(pc.utf8_trim_whitespace(arrow(values)), values.index)
    return text.mask(text == "")


def _text_array(values: pd.Series) -> pa.Array | None:
    """The column as a pyarrow string array when it holds text (str, a text categorical from `core.frames.compact`,
    or objects that are all text), else None."""
    if is_text_category(values):
        return pa.array(values, from_pandas=True).dictionary_decode().cast(pa.large_string())
    if values.dtype == "str":
        return arrow(values)
    if values.dtype == object:
        try:
            return pa.array(values, type=pa.large_string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return None
    return None


def isin(values: pd.Series, lookup) -> pd.Series:
    """values.isin(lookup), a boolean Series; missing values are never in.

    A text column is compared as text, in C++ (pandas' Arrow-string isin walks the lookup values in Python): the
    lookup values are taken as text (101 finds "101").  A text categorical (`core.frames.compact`) is compared by its
    categories, each once, and the answer taken to the rows by code.  Any other column (numbers, dates) is compared
    by pandas.
    """
    if not (is_text_category(values) or values.dtype == "str" or values.dtype == object):
        return pd.Series(values.isin(list(lookup)).to_numpy(dtype=bool), index=values.index)
    if is_text_category(values):
        value_set = text_set(lookup)
        if value_set is None:
            return pd.Series(False, index=values.index)
        known = pc.is_in(arrow(pd.Series(values.cat.categories)), value_set=value_set)
        known = np.append(pc.fill_null(known, False).to_numpy(zero_copy_only=False), False)  # code -1: missing
        return pd.Series(known[values.cat.codes.to_numpy()], index=values.index, dtype=bool)
    arr = _text_array(values)
    if arr is None:
        return pd.Series(values.isin(list(lookup)).to_numpy(dtype=bool), index=values.index)
    value_set = text_set(lookup)
    if value_set is None:
        return pd.Series(False, index=values.index)
    found = pc.is_in(arr, value_set=value_set)
    return pd.Series(pc.fill_null(found, False), index=values.index, dtype=bool)


def text_set(lookup) -> pa.Array | None:
    """The distinct lookup values as text, as `isin` compares them (None when there are none); a text Index or
    Series is taken as it is.  For a caller that tests many columns against one list (a codelist)."""
    if isinstance(lookup, (pd.Index, pd.Series)) and lookup.dtype == "str":
        distinct = lookup.dropna().unique()
    else:
        distinct = pd.Series(list(lookup), dtype=str).dropna().unique()  # any iterable: a list, a set, values
    if len(distinct) == 0:
        return None
    return pa.array(distinct, type=pa.large_string())


def lookup(keys: pd.Series, table: pd.Series) -> pd.Series:
    """keys.map(table) for a table indexed by unique keys; missing where a key is not found.

    Text keys and a text-indexed table are matched in C++ (no hash table per call); the values keep the table's type
    (text stays str, numbers become float64 when a key is not found).  Anything else goes through pandas' map.
    """
    category = is_text_category(keys)
    arr = None if category else _text_array(keys)
    index = pd.Series(table.index)
    text_index = index.dtype == "str" or pd.api.types.infer_dtype(index, skipna=False) in ("string", "empty")
    if (arr is None and not category) or not text_index:
        return keys.map(table)
    if len(table) == 0:
        return pd.Series(np.nan, index=keys.index, dtype=table.dtype if table.dtype != object else str)
    if category:  # each category looked up once, then taken by code; code -1 (missing) looks up a missing key
        distinct = np.append(np.asarray(keys.cat.categories, dtype=object), None)
        found = pc.index_in(pa.array(distinct, type=pa.large_string(), from_pandas=True), value_set=arrow(index))
        pos = found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)[keys.cat.codes.to_numpy()]
    else:
        pos = pc.index_in(arr, value_set=arrow(index)).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    taken = pd.Series(pd.api.extensions.take(table.array, pos, allow_fill=True), index=keys.index, name=table.name)
    return taken.astype(str) if table.dtype == object else taken


def join_per_group(keys: pd.Series, values: pd.Series, sep: str) -> pd.Series:
    """Each key's text values joined by `sep` in record order, indexed by the distinct keys in order of first
    appearance (missing keys left out): `values.groupby(keys, sort=False).agg(sep.join)` in Arrow, without a Python
    call per group (a subject's element path over SE: 100,000 calls at 100,000 subjects)."""
    codes, uniques = pd.factorize(keys, sort=False)
    rows = np.flatnonzero(codes >= 0)
    rows = rows[np.argsort(codes[rows], kind="stable")]  # each group's records together, in record order
    ends = np.cumsum(np.bincount(codes[rows], minlength=len(uniques)))
    items = _one_array(arrow(values)).take(pa.array(rows))
    lists = pa.LargeListArray.from_arrays(pa.array(np.concatenate([[0], ends]), pa.int64()), items)
    return text_series(pc.binary_join(lists, pa.scalar(sep, pa.large_string())), pd.Index(uniques, name=keys.name))


def sort_order(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Row positions that sort `frame` by `columns` (ascending, missing first, stable), computed by Arrow."""
    if not columns:
        return np.arange(len(frame))
    return sort_positions([frame[c] for c in columns])


def sort_positions(keys: list[pd.Series], *, missing: str = "first") -> np.ndarray:
    """Row positions that sort by the key columns (of equal length, taken by position), ascending and stable, with
    missing values first or last in each key, as pandas' sort_values orders them; computed by Arrow."""
    table = pa.table({str(k): _sortable(col) for k, col in enumerate(keys)})
    placement = "at_start" if missing == "first" else "at_end"
    return pc.sort_indices(table, sort_keys=[(str(k), "ascending", placement) for k in range(len(keys))]).to_numpy()


def _sortable(col: pd.Series) -> pa.Array:
    """A column as an Arrow array that sorts like its values; a categorical by its codes when its categories are in
    order (missing is code -1, so it still sorts first)."""
    if col.dtype == "str":
        return arrow(col)
    if isinstance(col.dtype, pd.CategoricalDtype):
        if col.cat.categories.is_monotonic_increasing:
            codes = col.cat.codes.to_numpy()
            return pa.array(codes.astype(np.int32), mask=codes < 0)
        return arrow(col.astype(str).where(col.notna()))
    return pa.array(col, from_pandas=True)


def same_as_previous(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """True where a row has the same values (missing equal to missing) in `columns` as the row before it."""
    same = np.zeros(len(frame), dtype=bool)
    if len(frame) < 2 or not columns:
        return same
    same[1:] = True
    for c in columns:  # over key columns
        same[1:] &= _equal_to_previous(frame[c])
    return same


def _equal_to_previous(col: pd.Series) -> np.ndarray:
    """For each value but the first, whether it equals the value before it (missing equal to missing).  A
    categorical compares codes (missing is code -1) and a numpy column its array: no pandas operation per column."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy()
        return codes[1:] == codes[:-1]
    if isinstance(col.dtype, np.dtype) and col.dtype.kind in "biuf":
        values = col.to_numpy()
        equal = values[1:] == values[:-1]
        return equal | (np.isnan(values[1:]) & np.isnan(values[:-1])) if col.dtype.kind == "f" else equal
    now, before = col.iloc[1:].reset_index(drop=True), col.iloc[:-1].reset_index(drop=True)
    return ((now == before).fillna(False) | (now.isna() & before.isna())).to_numpy(dtype=bool)


def join_columns(frame: pd.DataFrame, sep: str, *, names: bool = False) -> pd.Series:
    """The text of several columns joined per row ("A=1, B=2" with names), built column by column."""
    out = None
    for c in frame.columns:  # over columns
        part = frame[c].astype(str).fillna("")
        part = (c + "=" + part) if names else part
        out = part if out is None else out + sep + part
    return out if out is not None else pd.Series("", index=frame.index, dtype=str)


def normalise(value: str) -> str:
    """How collected values are compared with codelist synonyms: case, surrounding and repeated blanks ignored."""
    return " ".join(str(value).split()).upper()
