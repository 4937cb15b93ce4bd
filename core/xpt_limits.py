"""What SAS XPT v5 can store, known to every layer that must check data against it before export (the SDTM engine
reports unstorable values on their raw rows; the export writer enforces the same limits)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

MAX_VALUE_BYTES = 200  # a character value of an XPT v5 variable, in bytes
# Magnitudes the SAS conversion routine (TS-140) stores faithfully: from 16**-65 up to (not including) 2**249.
# Smaller become 0; larger become the largest IBM value, which readers turn into infinity.
MIN_IBM = 16.0 ** -65
MAX_IBM = 2.0 ** 249


def utf8_array(values: pd.Series) -> pa.Array:
    """A text column as an Arrow large_binary array (UTF-8 bytes), missing values as empty strings."""
    arr = pa.array(values, from_pandas=True) if not isinstance(values, (pa.Array, pa.ChunkedArray)) else values
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):  # a compacted text column (core.frames.compact)
        arr = arr.dictionary_decode()
    if pa.types.is_null(arr.type):
        arr = pa.nulls(len(arr), pa.large_string())
    return pc.fill_null(arr.cast(pa.large_binary()), b"")


def byte_lengths(values: pd.Series) -> np.ndarray:
    """UTF-8 byte length of every value of a text column (0 for missing)."""
    return pc.binary_length(utf8_array(values)).to_numpy(zero_copy_only=False).astype(np.int64)
