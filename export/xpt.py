"""SAS transport (XPORT) version 5 writer, vectorised with numpy.

The layout follows SAS technical note TS-140: a stream of 80-byte records in ASCII; a library header, a member
header with the dataset name and label, one 140-byte NAMESTR per variable, then the observations as one
continuous stream of fixed-width rows (character values blank-padded, numbers as 8-byte big-endian IBM-370
doubles), blank-padded to a whole record at the end.

The bytes are the same as pyreadstat's `write_xport(..., file_format_version=5)` writes for the same frame and
metadata (tests/test_export_xpt.py proves it), except for the header timestamp: pyreadstat stamps the wall clock,
we stamp the date the caller gives (the study's data cut), so two runs write identical files.  pyreadstat converts
cell by cell; here every step works on whole columns, so the writer keeps pace with millions of rows.

This module knows the format only.  What to write (names, labels, lengths, formats) is decided by
`cdiscflow.export.prepare` from the study spec.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import BinaryIO, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cdiscflow.core.atomic import atomic_write
from cdiscflow.core.frames import is_text_category as _is_text_category
from cdiscflow.core.sasformats import SAS_EPOCH_DAYS, SAS_EPOCH_SECONDS  # noqa: F401 (re-exported)
from cdiscflow.core.sasformats import (DATE_FORMATS, DATETIME_FORMATS, TIME_FORMATS,  # noqa: F401 (re-exported)
                                      format_kind, parse_format)
from cdiscflow.core.xpt_limits import MAX_IBM, MIN_IBM, byte_lengths, utf8_array  # noqa: F401 (re-exported)
from cdiscflow.core.xpt_read import ibm_to_ieee  # noqa: F401  (the one decoder; re-exported for the writer's tests)

RECORD = 80
NAMESTR_LEN = 140
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_ROWS_PER_CHUNK = 65_536

@dataclass(frozen=True)
class XptVariable:
    """One variable as the transport file stores it."""

    name: str
    label: str
    type: str  # "Char" | "Num"
    length: int  # bytes: character width, 8 for numbers
    format: str = ""  # SAS display format, e.g. DATE9.

    @property
    def is_numeric(self) -> bool:
        return self.type == "Num"


def sas_timestamp(when: date | datetime) -> str:
    """The 16-character header timestamp, e.g. 01OCT20:00:00:00."""
    if not isinstance(when, datetime):
        when = datetime(when.year, when.month, when.day)
    return (f"{when.day:02d}{_MONTHS[when.month - 1]}{when.year % 100:02d}:"
            f"{when.hour:02d}:{when.minute:02d}:{when.second:02d}")


# ----------------------------------------------------------------------------------------------------------------
# numbers


def ieee_to_ibm(values: np.ndarray) -> np.ndarray:
    """IEEE doubles -> IBM-370 doubles as an (n, 8) uint8 array, big-endian; NaN becomes the SAS missing value '.'.

    IBM keeps a base-16 exponent and a 56-bit fraction, so the 53-bit IEEE fraction always fits after the 0-3 bit
    shift that aligns the binary exponent to a hex digit: the conversion is exact.  Like SAS's own routine (TS-140),
    magnitudes below 16**-65 become 0 and from 2**249 up the largest IBM value (`MIN_IBM`, `MAX_IBM`).
    """
    x = np.ascontiguousarray(values, dtype=np.float64)
    bits = x.view(np.uint64)
    sign = bits >> np.uint64(63)
    exponent = ((bits >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64) - 1023
    fraction = (bits & np.uint64((1 << 52) - 1)) | np.uint64(1 << 52)
    shift = (exponent & 3).astype(np.uint64)
    ibm_exp = ((exponent >> 2) + 65).clip(0, 127).astype(np.uint64)
    out = ((ibm_exp | (sign << np.uint64(7))) << np.uint64(56)) | (fraction << shift)
    out = np.where(exponent < -260, np.uint64(0), out)
    overflow = exponent > 248
    if overflow.any():
        out = np.where(overflow, (np.uint64(0x7F) | (sign << np.uint64(7))) << np.uint64(56) | np.uint64((1 << 56) - 1), out)
    missing = np.isnan(x)
    if missing.any():
        out = np.where(missing, np.uint64(0x2E) << np.uint64(56), out)
    return out.astype(">u8").view(np.uint8).reshape(-1, 8)


def to_sas_numbers(values: pd.Series, kind: str = "") -> np.ndarray:
    """A numeric, datetime64 or timedelta64 column -> float64 SAS values (days or seconds since 1960-01-01)."""
    dtype = values.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        if getattr(dtype, "tz", None) is not None:
            values = values.dt.tz_localize(None)
        arr = values.to_numpy(dtype="datetime64[s]")
        nat = np.isnat(arr)
        if kind == "datetime":
            out = (arr - SAS_EPOCH_SECONDS).astype(np.int64).astype(np.float64)
        else:  # a date: whole days (any time of day is dropped; prepare reports it)
            out = (arr.astype("datetime64[D]") - SAS_EPOCH_DAYS).astype(np.int64).astype(np.float64)
        out[nat] = np.nan
        return out
    if pd.api.types.is_timedelta64_dtype(dtype):
        arr = values.to_numpy(dtype="timedelta64[s]")
        out = arr.astype(np.int64).astype(np.float64)
        out[np.isnat(arr)] = np.nan
        return out
    return pd.to_numeric(values, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)


# ----------------------------------------------------------------------------------------------------------------
# characters


def is_text_category(col: pd.Series) -> bool:
    """`core.frames.is_text_category`, answered at once for Arrow-backed text categories (the pipeline's)."""
    dtype = col.dtype
    if not isinstance(dtype, pd.CategoricalDtype):
        return False
    return isinstance(dtype.categories.dtype, pd.StringDtype) or _is_text_category(col)


def text_categories(col: pd.Series) -> tuple[np.ndarray, pa.Array]:
    """A text categorical's codes (-1: missing) and its categories as an Arrow large_string array.  Arrow-backed
    categories are handed over as they are (no round trip through Python objects: this runs for every column of
    every dataset, and the conversion used to be most of its cost at small sizes)."""
    cat = col.array
    cats = cat.categories
    values = cats.array if isinstance(cats.dtype, pd.StringDtype) else cats.to_numpy(dtype=object)
    arr = pa.array(values, type=pa.large_string())
    if isinstance(arr, pa.ChunkedArray):  # categories joined from partitions (union_categoricals) keep their chunks
        arr = arr.combine_chunks()
    return cat.codes, arr


def _char_block(arr: pa.Array, width: int) -> np.ndarray:
    """(n, width) uint8: each value left-aligned and blank-padded."""
    fixed = np.array(arr.to_numpy(zero_copy_only=False), dtype=f"S{width}")
    block = fixed.view(np.uint8).reshape(len(arr), width).copy()
    block[block == 0] = 0x20
    return block


def _items(block: np.ndarray) -> np.ndarray:
    """(n, width) uint8 -> n items of `width` bytes (numpy void), to be taken by code."""
    block = np.ascontiguousarray(block)
    return block.view(f"V{block.shape[1]}").reshape(len(block))


# ----------------------------------------------------------------------------------------------------------------
# records


def _record(text: str) -> bytes:
    raw = text.encode("ascii")
    if len(raw) > RECORD:
        raise ValueError(f"header record longer than {RECORD} bytes: {text!r}")
    return raw.ljust(RECORD, b" ")


def _header(name: str, *numbers: int) -> bytes:
    counts = "".join(f"{n:05d}" for n in (*numbers, 0, 0, 0, 0, 0, 0)[:6])
    return _record(f"HEADER RECORD*******{name:<8}HEADER RECORD!!!!!!!{counts}")


def _pad(text: str, width: int) -> bytes:
    return text.encode("ascii").ljust(width, b" ")[:width]


def _namestr(var: XptVariable, number: int, position: int) -> bytes:
    fname, fwidth, fdec = parse_format(var.format) if var.format else ("", 0, 0)
    numeric = var.is_numeric
    head = np.array([1 if numeric else 2, 0, var.length, number], dtype=">i2").tobytes()
    fmt = np.array([fwidth, fdec, 1 if numeric else 0, 0], dtype=">i2").tobytes()
    inf = np.array([0, 0], dtype=">i2").tobytes()
    out = (head + _pad(var.name, 8) + _pad(var.label, 40) + _pad(fname, 8) + fmt + _pad("", 8) + inf
           + np.array([position], dtype=">i4").tobytes())
    return out + bytes(NAMESTR_LEN - len(out))


def header_bytes(variables: Sequence[XptVariable], *, dataset: str, label: str, created: date | datetime) -> bytes:
    """Everything before the first observation: library, member and descriptor headers and the NAMESTRs."""
    stamp = sas_timestamp(created)
    parts = [
        _header("LIBRARY"),
        _record(f"{'SAS':<8}{'SAS':<8}{'SASLIB':<8}{'6.06':<8}{'bsd4.2':<8}{'':<24}{stamp:>16}"),
        _record(stamp),
        _header("MEMBER", 0, 0, 0, 160, 0, 140),
        _header("DSCRPTR"),
        _record(f"{'SAS':<8}{dataset:<8}{'SASDATA':<8}{'6.06':<8}{'bsd4.2':<8}{'':<24}{stamp:>16}"),
        _record(f"{stamp:>16}{'':>16}{label:<40}{'':<8}"),
        _header("NAMESTR", 0, len(variables)),
    ]
    names = bytearray()
    position = 0
    for i, var in enumerate(variables, start=1):
        names += _namestr(var, i, position)
        position += var.length
    if len(names) % RECORD:
        names += b" " * (RECORD - len(names) % RECORD)
    parts.append(bytes(names))
    parts.append(_header("OBS"))
    return b"".join(parts)


def check_xpt(frame: pd.DataFrame, variables: Sequence[XptVariable], dataset: str, label: str) -> None:
    """What the format cannot hold (names, labels, lengths) or the frame lacks, as a ValueError naming it."""
    if not re.match(r"^[A-Z_][A-Z0-9_]{0,7}$", dataset):
        raise ValueError(f"dataset name {dataset!r} is not a SAS V5 name (1-8 of A-Z, 0-9, _)")
    if len(label.encode("ascii", "replace")) > 40:
        raise ValueError(f"dataset label of {dataset} is longer than 40 characters")
    missing = [v.name for v in variables if v.name not in frame.columns]
    if missing:
        raise ValueError(f"{dataset}: no column(s) {', '.join(missing)} in the frame")
    for v in variables:
        if not re.match(r"^[A-Z_][A-Z0-9_]{0,7}$", v.name):
            raise ValueError(f"{dataset}.{v.name}: not a SAS V5 variable name")
        if len(v.label) > 40 or not v.label.isascii():
            raise ValueError(f"{dataset}.{v.name}: label must be at most 40 ASCII characters")
        if v.is_numeric and v.length != 8:
            raise ValueError(f"{dataset}.{v.name}: numeric variables are written with 8 bytes")
        if not v.is_numeric and not 1 <= v.length <= 200:
            raise ValueError(f"{dataset}.{v.name}: character length {v.length} outside 1-200")


def write_xpt(path: str | Path, frame: pd.DataFrame, variables: Sequence[XptVariable], *, dataset: str,
              label: str = "", created: date | datetime) -> int:
    """Write `frame` as a SAS V5 transport file (atomically) and return its size in bytes.

    Character columns hold text (missing = NaN, written as blanks); numeric columns hold numbers, datetime64 or
    timedelta64 (converted to SAS days or seconds by the variable's display format).  A value longer than its
    variable's length is an error, never truncated.
    """
    check_xpt(frame, variables, dataset, label)
    with atomic_write(path, "wb") as fh:
        return write_xpt_stream(fh, frame, variables, dataset=dataset, label=label, created=created)


def write_xpt_stream(fh: BinaryIO, frame: pd.DataFrame, variables: Sequence[XptVariable], *, dataset: str,
                     label: str, created: date | datetime) -> int:
    head = header_bytes(variables, dataset=dataset, label=label, created=created)
    fh.write(head)
    written = write_observations(fh, frame, variables, dataset=dataset)
    tail = end_padding(written)
    fh.write(tail)
    return len(head) + written + len(tail)


def end_padding(observation_bytes: int) -> bytes:
    """The blanks that fill the last 80-byte record after `observation_bytes` bytes of observations."""
    return b" " * (-observation_bytes % RECORD)


def write_observations(fh: BinaryIO, frame: pd.DataFrame, variables: Sequence[XptVariable], *, dataset: str) -> int:
    """Write the observations of `frame` (no header, no end padding) and return the bytes written: one fixed-width
    row of `sum(v.length)` bytes per record, so the rows of several frames written apart can be laid side by side
    (a partitioned export assembles a file from such pieces, `export.pieces`)."""
    columns = []  # (offset, width, kind, data) with data prepared once for the whole column: numbers or codes
    offset = 0
    for v in variables:
        col = frame[v.name]
        if v.is_numeric:
            columns.append((offset, 8, "num", to_sas_numbers(col, format_kind(v.format))))
        elif is_text_category(col):  # distinct values laid out once; rows pick theirs by code, chunk by chunk
            codes, strings = text_categories(col)
            cats = strings.cast(pa.large_binary())  # categories are never missing
            used = np.bincount(codes.astype(np.int64) + 1, minlength=len(cats) + 1)[1:] > 0
            lengths = pc.binary_length(cats).to_numpy(zero_copy_only=False)
            longest = int(lengths[used].max()) if used.any() else 0
            if longest > v.length:
                raise ValueError(f"{dataset}.{v.name}: a value of {longest} bytes does not fit length {v.length}")
            blank = np.full((1, v.length), 0x20, dtype=np.uint8)  # the last row: code -1 (missing) picks it
            columns.append((offset, v.length, "codes", (_items(np.vstack([_char_block(cats, v.length), blank])), codes)))
        else:  # each distinct value laid out once (missing is b"": blanks), rows pick theirs by code
            encoded = pc.dictionary_encode(utf8_array(col))
            longest = pc.max(pc.binary_length(encoded.dictionary)).as_py() or 0
            if longest > v.length:
                raise ValueError(f"{dataset}.{v.name}: a value of {longest} bytes does not fit length {v.length}")
            columns.append((offset, v.length, "codes", (_items(_char_block(encoded.dictionary, v.length)),
                                                        encoded.indices.to_numpy(zero_copy_only=False))))
        offset += v.length
    row_len = offset
    n = len(frame)
    written = 0
    # one observation is a record whose fields are the variables' bytes: each column's chunk is taken straight into
    # its field (no temporary per column), and the chunk is written as it lies in memory
    record = np.dtype({"names": [f"v{j}" for j in range(len(columns))],
                       "formats": [f"V{width}" for _, width, _, _ in columns],
                       "offsets": [off for off, _, _, _ in columns], "itemsize": row_len}) if columns else None
    for start in range(0, n, _ROWS_PER_CHUNK):
        stop = min(start + _ROWS_PER_CHUNK, n)
        block = np.empty(stop - start, dtype=record)
        for j, (off, width, kind, data) in enumerate(columns):
            field = block[f"v{j}"]
            if kind == "num":
                field[...] = ieee_to_ibm(data[start:stop]).view("V8").reshape(stop - start)
            else:  # the table's rows as single fixed-width items: numpy takes those faster than rows of bytes
                np.take(data[0], data[1][start:stop], out=field, mode="wrap")  # codes in range (-1: the last)
        fh.write(block.view(np.uint8) if row_len else b"")
        written += (stop - start) * row_len
    return written
