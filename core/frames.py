"""Keeping many large datasets in memory at once.

A pipeline run holds every SDTM and ADaM dataset in memory between stages: validation is cross-dataset and runs
before anything is written.  Clinical text columns repeat a few values over millions of records (STUDYID, DOMAIN,
USUBJID, --TESTCD, EPOCH, VISIT ...): stored as pandas categoricals they take 1-4 bytes a record instead of the
text itself plus an 8-byte offset.  `compact` does that to the columns where it pays; the values, their order and
their missingness are unchanged, and every later stage reads them exactly as before (a categorical of text compares,
sorts, filters and writes like the text: the categories are sorted).
"""

from __future__ import annotations

from typing import Callable, Mapping, MutableMapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

REPEAT_SHARE = 0.5  # a text column becomes categorical when it has at most this many distinct values per record


def compact(frame: pd.DataFrame, *, share: float = REPEAT_SHARE) -> pd.DataFrame:
    """`frame` with its repetitive text columns stored as categoricals (in place; the frame is returned)."""
    rows = len(frame)
    if rows < 2:
        return frame
    for name, dtype in list(frame.dtypes.items()):  # over columns (their dtypes read once, not a column each)
        if not (pd.api.types.is_string_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype)):
            continue
        col = frame[name]
        if col.dtype == "str":  # one hashing pass: counted and, when it pays, coded from the same factorization
            categorical = _categorical(col, share * rows)
            if categorical is not None:
                frame[name] = categorical
        elif col.nunique(dropna=True) <= share * rows:
            frame[name] = col.astype("category")
    return frame


def _categorical(col: pd.Series, most: float) -> pd.Series | None:
    """`col.astype("category")` of a text column with at most `most` distinct values, else None (`text_categorical`
    of the column's Arrow text as it is)."""
    categorical = text_categorical([pa.array(col.array)], most=most)
    return None if categorical is None else pd.Series(categorical, index=col.index, name=col.name)


TEXT = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' text dtype ("str": Arrow-backed, missing is NaN)


def text_categorical(arrays: Sequence[pa.Array | pa.ChunkedArray], *, most: float = np.inf) -> pd.Categorical | None:
    """Arrow text arrays (plain or dictionary-encoded), one after the other, as one categorical on their sorted
    distinct values, or None when they have more than `most`: what `astype("category")` of the text gives (the
    categories in text order, as pandas sorts Arrow text; missing is code -1; the codes in the integer type pandas
    keeps them in).  Each array is coded by Arrow where it is (dictionary_encode: a third of pandas' factorize on
    Arrow-backed text, which matters over ~300 columns per SDTM stage), the dictionaries unified when there are
    several; each value's code is then its rank among the sorted values, taken in one pass."""
    chunks = [a for c in arrays for a in (c.chunks if isinstance(c, pa.ChunkedArray) else (c,))]
    if len(chunks) == 1 and not pa.types.is_dictionary(chunks[0].type):  # one plain array: coded as it is
        encoded = pc.dictionary_encode(chunks[0])  # distinct values in order of appearance; missing stays missing
        distinct, indices = encoded.dictionary, encoded.indices
    else:
        kind = pa.dictionary(pa.int32(), pa.large_string())
        coded = [(c if pa.types.is_dictionary(c.type) else pc.dictionary_encode(c)).cast(kind) for c in chunks]
        unified = pa.chunked_array(coded, type=kind).unify_dictionaries()
        distinct = unified.chunk(0).dictionary if unified.num_chunks else pa.array([], pa.large_string())
        indices = pa.chunked_array([c.indices for c in unified.chunks], type=pa.int32())
    if len(distinct) > most:
        return None
    order = pc.array_sort_indices(distinct).to_numpy()  # text order, as pandas sorts Arrow text
    # each value's code is its rank among the sorted values; missing (read as one past the values) is -1
    rank = np.empty(len(order) + 1, dtype=_code_dtype(len(order)))
    rank[order], rank[-1] = np.arange(len(order)), -1
    codes = rank[pc.fill_null(indices, len(order)).to_numpy(zero_copy_only=False)]
    categories = pd.Index(pd.arrays.ArrowStringArray(distinct.take(order), dtype=TEXT))
    return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(categories, ordered=False), validate=False)


def _code_dtype(categories: int) -> type:
    """The integer type pandas holds the codes of a categorical of this many categories in (int8 below 127 ...)."""
    for kind in (np.int8, np.int16, np.int32):
        if categories < np.iinfo(kind).max:
            return kind
    return np.int64


def with_columns(frame: pd.DataFrame, new: Mapping[str, object]) -> pd.DataFrame:
    """`frame` with the columns of `new` ({name: values on `frame`'s rows}) added after its own, as one new frame;
    `frame` itself when `new` is empty.

    Joined on at once (one concatenation): inserting the columns one at a time copies the frame's blocks into one
    block again and again and grows its column labels (Arrow text) by one chunk each, which every later insert and
    column lookup of a wide frame (ADSL) pays for."""
    if not new:
        return frame
    return pd.concat([frame, pd.DataFrame(new, index=frame.index)], axis=1)


def compact_all(datasets: MutableMapping[str, pd.DataFrame], *, share: float = REPEAT_SHARE) -> None:
    """`compact` every frame of a {name: frame} mapping, in place."""
    for name in list(datasets):
        datasets[name] = compact(datasets[name], share=share)


def is_text_category(col: pd.Series) -> bool:
    """A categorical column whose categories are text (what `compact` makes of a text column)."""
    return is_text_category_dtype(col.dtype)


def is_text_category_dtype(dtype) -> bool:
    """`is_text_category` of a column's dtype."""
    return isinstance(dtype, pd.CategoricalDtype) and (
        len(dtype.categories) == 0 or pd.api.types.is_string_dtype(dtype.categories.dtype))


def as_text(col: pd.Series) -> pd.Series:
    """A compacted text column back as plain text (for code that fills or overwrites values); others unchanged."""
    if not is_text_category(col):
        return col
    categories = col.cat.categories
    if categories.dtype == "str":  # each record's text taken from its category by code (missing: code -1)
        values = pd.api.extensions.take(categories.array, col.cat.codes.to_numpy(), allow_fill=True)
        return pd.Series(values, index=col.index, name=col.name)
    return col.astype(str).where(col.notna())  # (astype goes through a Python object per record)


def expand(frame: pd.DataFrame) -> pd.DataFrame:
    """The reverse of `compact`: text categoricals back to plain text columns (in place; the frame is returned)."""
    for name in frame.columns:
        if is_text_category(frame[name]):
            frame[name] = as_text(frame[name]).astype("str")
    return frame


def text_per_distinct(values: pd.Series, fn: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """`fn` (text -> a Series of the same length) applied to the distinct values of a text column only, its answers
    taken back to every record by code; missing records give missing.  A text categorical (`compact`) is
    evaluated on its categories.  The result has `fn`'s dtype, on `values`' index."""
    if is_text_category(values):
        codes, uniques = values.cat.codes.to_numpy(), pd.Series(values.cat.categories, dtype=str)
    else:
        codes, found = pd.factorize(values, use_na_sentinel=True)
        uniques = pd.Series(found, dtype=str)
    answers = fn(uniques.reset_index(drop=True))
    taken = pd.api.extensions.take(answers.array, codes, allow_fill=True)
    return pd.Series(taken, index=values.index, name=values.name)


def per_unique(values: pd.Series, fn: Callable[[np.ndarray], np.ndarray], fill) -> np.ndarray:
    """Apply `fn` to the distinct non-missing values (an object array) and broadcast the answer to every row.

    `fn` returns one result per distinct value (1-D) or one row per distinct value (2-D); missing rows get `fill`.
    """
    codes, uniques = _codes(values)
    result = np.asarray(fn(np.asarray(uniques, dtype=object)))
    if not result.size:
        return np.full((len(values),) + result.shape[1:], fill, dtype=np.asarray(fill).dtype)
    # one gather: code -1 (missing) picks the `fill` row appended after the distinct values' answers
    answers = np.concatenate([result, np.full((1,) + result.shape[1:], fill, dtype=result.dtype)])
    return answers[codes]


def _codes(values: pd.Series) -> tuple[np.ndarray, object]:
    """(code per row, -1 for missing; the distinct values the codes point to).  A categorical already holds both:
    its codes and categories are taken as they are (no pass over the rows to hash them), unless it has more
    categories than rows or no value at all (then it is factorized as any other column)."""
    if isinstance(values.dtype, pd.CategoricalDtype) and 0 < len(values.dtype.categories) <= len(values):
        codes = values.cat.codes.to_numpy()
        if (codes >= 0).any():
            return codes, values.dtype.categories
    return pd.factorize(values, use_na_sentinel=True)
