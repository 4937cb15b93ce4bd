"""CDISC Dataset-JSON 1.1: write and read one dataset per file.

Rows are arrays in column order; a missing value is `null` (an empty string only ever comes from data that hold
one, and cdiscflow's frames never do).  ADaM numeric dates, datetimes and times travel as ISO 8601 strings with
`targetDataType: integer` and their SAS display format, as the standard asks.  Output is deterministic: the
creation date/time is given by the caller (the study's data cut), keys are written in the order the specification
documents, numbers with Python's shortest round-trip representation.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cdiscflow import __version__
from cdiscflow.core.atomic import atomic_write
from cdiscflow.core.errors import InputError
from cdiscflow.export.meta import ColumnMeta, DatasetMeta
from cdiscflow.export.xpt import SAS_EPOCH_SECONDS, byte_lengths, is_text_category, text_categories

DSJ_VERSION = "1.1.0"
SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "dataset-json-1.1" / "dataset.schema.json"
_ROWS_PER_CHUNK = 16_384  # rows laid out and written at a time: ~2 MB, written while still in the cache


@dataclass(frozen=True)
class JsonHeader:
    """The file-level attributes of a Dataset-JSON file (the dataset-level ones come from DatasetMeta)."""

    created: str  # datasetJSONCreationDateTime, ISO 8601 without fraction, e.g. 2020-10-01T00:00:00
    db_last_modified: str = ""
    originator: str = ""
    source_system: tuple[str, str] | None = ("cdiscflow", __version__)
    study_oid: str = ""
    metadata_version_oid: str = ""
    metadata_ref: str = ""
    file_oid: str = ""


# ----------------------------------------------------------------------------------------------------------------
# writing


def column_json(col: ColumnMeta, dataset: str) -> dict:
    dtype, target = col.dsj_types()
    out: dict = {"itemOID": col.item_oid or f"IT.{dataset}.{col.name}", "name": col.name, "label": col.label,
                 "dataType": dtype}
    if target:
        out["targetDataType"] = target
    if dtype == "string" and col.length:
        out["length"] = int(col.length)
    if col.display_format:
        out["displayFormat"] = col.display_format
    if col.key_sequence:
        out["keySequence"] = int(col.key_sequence)
    return out


def header_json(meta: DatasetMeta, header: JsonHeader, records: int) -> dict:
    doc: dict = {"datasetJSONCreationDateTime": header.created, "datasetJSONVersion": DSJ_VERSION}
    if header.file_oid:
        doc["fileOID"] = header.file_oid
    if header.db_last_modified:
        doc["dbLastModifiedDateTime"] = header.db_last_modified
    if header.originator:
        doc["originator"] = header.originator
    if header.source_system:
        doc["sourceSystem"] = {"name": header.source_system[0], "version": header.source_system[1]}
    if header.study_oid:
        doc["studyOID"] = header.study_oid
    if header.metadata_version_oid:
        doc["metaDataVersionOID"] = header.metadata_version_oid
    if header.metadata_ref:
        doc["metaDataRef"] = header.metadata_ref
    doc["itemGroupOID"] = meta.item_group_oid or f"IG.{meta.name}"
    doc["records"] = int(records)
    doc["name"] = meta.name
    doc["label"] = meta.label
    doc["columns"] = [column_json(c, meta.name) for c in meta.columns]
    return doc


def _iso(values: pd.Series, kind: str) -> np.ndarray:
    """Dates/datetimes/times (datetime64, timedelta64 or SAS numbers) -> ISO 8601 strings (object, None missing)."""
    if kind == "time":
        if values.dtype.kind == "m":
            secs = values.to_numpy(dtype="timedelta64[s]").astype(np.int64).astype(np.float64)
            secs[values.isna().to_numpy()] = np.nan
        else:
            secs = pd.to_numeric(values).to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(secs)
        s = np.nan_to_num(secs).astype(np.int64)
        parts = [np.char.zfill((s // 3600).astype(str), 2), np.char.zfill((s // 60 % 60).astype(str), 2),
                 np.char.zfill((s % 60).astype(str), 2)]
        text = np.char.add(np.char.add(np.char.add(parts[0], ":"), np.char.add(parts[1], ":")), parts[2])
    else:
        if values.dtype.kind == "M":
            if getattr(values.dtype, "tz", None) is not None:
                values = values.dt.tz_localize(None)
            stamps = values.to_numpy(dtype="datetime64[s]")
        else:  # SAS days / seconds
            x = pd.to_numeric(values).to_numpy(dtype=np.float64, na_value=np.nan)
            if kind == "date":
                stamps = SAS_EPOCH_SECONDS + (np.nan_to_num(x) * 86400).astype("timedelta64[s]")
            else:
                stamps = SAS_EPOCH_SECONDS + np.nan_to_num(x).astype("timedelta64[s]")
            stamps[np.isnan(x)] = np.datetime64("NaT")
        missing = np.isnat(stamps)
        text = np.datetime_as_string(stamps, unit="D" if kind == "date" else "s")
    out = text.astype(object)
    out[missing] = None
    return out


def _column_values(col: pd.Series, meta: ColumnMeta) -> list:
    """One column as a list of JSON-ready Python values (None for missing)."""
    if not meta.is_numeric:
        out = col.to_numpy(dtype=object, na_value=None)
        return out.tolist()
    if meta.kind:
        return _iso(col, meta.kind).tolist()
    x = pd.to_numeric(col).to_numpy(dtype=np.float64, na_value=np.nan)
    missing = np.isnan(x)
    if meta.dsj_types()[0] == "integer":
        _check_whole(x, missing, col, meta)
        out = np.nan_to_num(x).astype(np.int64).astype(object)
    else:
        out = x.astype(object)
    out[missing] = None
    return out.tolist()


def _check_whole(x: np.ndarray, missing: np.ndarray, col: pd.Series, meta: ColumnMeta) -> None:
    fraction = np.flatnonzero(~missing & (x != np.round(x)))
    if len(fraction):
        raise ValueError(f"{meta.name}: record {col.index[fraction[0]] + 1}: {float(x[fraction[0]])!r} is not a whole "
                         "number but the column is integer")


def dataset_json_chunks(frame: pd.DataFrame, meta: DatasetMeta, header: JsonHeader) -> Iterator[str]:
    """The file's text in pieces: header and columns first, then the rows a chunk at a time."""
    for piece in _chunks(frame, meta, header):
        yield bytes(piece).decode("utf-8")


def _chunks(frame: pd.DataFrame, meta: DatasetMeta, header: JsonHeader) -> Iterator[bytes | memoryview]:
    """The file's UTF-8 bytes in pieces (what `dataset_json_chunks` decodes): the head, the rows, the end."""
    yield head_bytes(meta, header, len(frame))
    yield from _rows_and_end(frame, meta)


def _rows_and_end(frame: pd.DataFrame, meta: DatasetMeta) -> Iterator[bytes | memoryview]:
    held = None
    for piece, _ in row_chunks(frame, meta):  # each piece is written while it is fresh in the cache, one behind
        if held is not None:
            yield held
        held = piece
    if held is not None:
        yield held[:-1]  # every row ends "],"; the last one without the comma
    yield END


END = b"]}\n"  # after the last row


def head_bytes(meta: DatasetMeta, header: JsonHeader, records: int) -> bytes:
    """Everything before the first row: the header, the columns and the opening of `rows`."""
    head = json.dumps(header_json(meta, header, records), ensure_ascii=False, separators=(",", ":"))
    return (head[:-1] + ',"rows":[').encode("utf-8")


def row_chunks(frame: pd.DataFrame, meta: DatasetMeta) -> Iterator[tuple[bytes | memoryview, np.ndarray]]:
    """The rows' UTF-8 bytes a chunk at a time, every row followed by a comma (the last one too), each chunk with
    where its rows end (n + 1 byte offsets from 0).

    The rows are the bytes of `json.dumps(rows, ensure_ascii=False, allow_nan=False, separators=(",", ":"))`.  When
    orjson writes every column's values the json module's way (nearly always), each column is encoded once for the
    whole dataset: its distinct values become JSON tokens (with the row's brackets and commas around them), the
    rows pick theirs by code, and the rows are joined from the columns' tokens a chunk at a time.  Otherwise each
    chunk is written that way when its values allow it and through the json module when not (same bytes, same
    errors).  A row's bytes depend on that row only, so the rows of a dataset's parts written apart are the rows of
    the dataset (`export.pieces`).
    """
    n = len(frame)
    columns = [frame[c.name] for c in meta.columns]
    if n and columns and all(_orjson_writes_as_json(v, c) for v, c in zip(columns, meta.columns)):
        _check_integers(columns, meta.columns)
        tokens = [_column_tokens(v, c, k == 0, k == len(columns) - 1)
                  for k, (v, c) in enumerate(zip(columns, meta.columns))]
        yield from _row_runs(tokens, n)
    else:
        for start in range(0, n, _ROWS_PER_CHUNK):
            part = frame.iloc[start:start + _ROWS_PER_CHUNK]
            if meta.columns and all(_orjson_writes_as_json(part[c.name], c) for c in meta.columns):
                _check_integers([part[c.name] for c in meta.columns], meta.columns)
                tokens = [_column_tokens(part[c.name], c, k == 0, k == len(meta.columns) - 1)
                          for k, c in enumerate(meta.columns)]
                runs = list(_row_runs(tokens, len(part)))
                yield b"".join(piece for piece, _ in runs), _joined_ends([ends for _, ends in runs])
            else:
                cols = [_column_values(part[c.name], c) for c in meta.columns]
                rows = list(zip(*cols)) if cols else [() for _ in range(len(part))]
                text = json.dumps(rows, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
                data = text[1:-1].encode("utf-8") + b","
                yield data, _row_ends(data)


def _row_ends(data: bytes) -> np.ndarray:
    """Where each row of `[...],[...],` ends (n + 1 byte offsets from 0): a row holds scalars only, so each `]`
    outside a string closes one; a quote is a string's boundary unless an odd number of backslashes precede it."""
    b = np.frombuffer(data, dtype=np.uint8)
    position = np.arange(len(b))
    not_slash = np.maximum.accumulate(np.where(b == 0x5C, -1, position))  # last byte at or before that is no backslash
    quotes = np.flatnonzero(b == 0x22)  # never the first byte (a row starts with "[")
    bounds = quotes[(quotes - 1 - not_slash[quotes - 1]) % 2 == 0]
    toggles = np.zeros(len(b), dtype=np.int8)
    toggles[bounds] = 1
    outside = np.cumsum(toggles, dtype=np.int64) % 2 == 0
    return np.concatenate([[0], np.flatnonzero((b == 0x5D) & outside) + 2]).astype(np.int64)


def _joined_ends(ends: list[np.ndarray]) -> np.ndarray:
    """The row ends of chunks laid back to back (each list of ends starts at 0)."""
    out, base = [np.zeros(1, dtype=np.int64)], 0
    for e in ends:  # over chunks
        out.append(e[1:] + base)
        base += int(e[-1])
    return np.concatenate(out)


# orjson refuses (TypeError) what it would write differently from the json module: subclasses of str/int/float,
# datetimes, dataclasses
_ORJSON_STRICT = orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _orjson_writes_as_json(values: pd.Series, col: ColumnMeta) -> bool:
    """Whether orjson writes this column's values with the json module's bytes.  Floats: the same shortest
    round-trip digits, but orjson writes 1e-05 as 0.00001 (exponents -5 to -9) and inf as null where json
    refuses it; text: the same escapes, provided every value is a plain str."""
    if col.is_numeric:
        if col.kind:
            return True  # ISO 8601 text
        x = pd.to_numeric(values).to_numpy(dtype=np.float64, na_value=np.nan)  # NaN (missing) passes both tests
        return not np.isinf(x).any() and not ((np.abs(x) < 1e-4) & (x != 0)).any()
    dtype = values.dtype.categories.dtype if isinstance(values.dtype, pd.CategoricalDtype) else values.dtype
    if isinstance(dtype, pd.StringDtype):
        return True  # holds str (or missing) only
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.cat.categories.to_series()
    return len(values) == 0 or pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")


def _check_integers(columns: list[pd.Series], metas: tuple[ColumnMeta, ...]) -> None:
    """Integer columns hold whole numbers; the error names the first record (then the first column) that does not."""
    first = None
    for values, col in zip(columns, metas):
        if col.is_numeric and not col.kind and col.dsj_types()[0] == "integer":
            x = pd.to_numeric(values).to_numpy(dtype=np.float64, na_value=np.nan)
            fraction = np.flatnonzero(~np.isnan(x) & (x != np.round(x)))
            if len(fraction) and (first is None or fraction[0] < first[0]):
                first = (fraction[0], values, col, x)
    if first is not None:
        row, values, col, x = first
        missing = np.isnan(x)
        _check_whole(x, missing, values, col)


def _column_tokens(values: pd.Series, col: ColumnMeta, first: bool, last: bool) -> tuple[pa.Array, np.ndarray]:
    """One column as JSON tokens: the distinct tokens (`table`, each with what follows it in the row: `,`, or `],`
    after the last column; `[` before the first column's) and each row's index into it (`codes`).  Each distinct
    value is encoded once; b"null" for missing."""
    before, after = (b"[" if first else b""), (b"]," if last else b",")
    if not col.is_numeric or col.kind:
        if is_text_category(values) and not col.kind:
            codes, distinct = text_categories(values)
        else:
            if isinstance(values.dtype, pd.CategoricalDtype):
                codes, distinct = values.cat.codes.to_numpy(), values.cat.categories
            else:
                codes, distinct = pd.factorize(values)  # missing -> -1
            if col.kind:  # each distinct date, datetime or time once as ISO 8601 text
                distinct = _iso(pd.Series(distinct), col.kind)
            distinct = distinct.tolist()
        table = _text_tokens(distinct, before, after)
        codes = codes.astype(np.int64)
        codes[codes < 0] = len(table) - 1
        return table, codes
    x = pd.to_numeric(values).to_numpy(dtype=np.float64, na_value=np.nan)
    missing = np.isnan(x)
    has_missing = bool(missing.any())
    if col.dsj_types()[0] == "integer":
        x = (np.where(missing, 0.0, x) if has_missing else x).astype(np.int64)
    codes, distinct = _number_codes(x, missing if has_missing else None)
    numbers = _number_table(distinct, before, after)
    extra = pa.array([before + t + after for t in (b"null", b"-0.0", b"0.0")], type=pa.large_binary())
    table = pa.concat_arrays([numbers, extra])
    null, negative_zero, zero = len(distinct), len(distinct) + 1, len(distinct) + 2
    codes = codes.astype(np.int64, copy=True)
    if has_missing:  # arithmetic, not a masked assignment: missing values are often scattered (branches mispredict)
        codes += missing * (null - codes)
    is_zero = x == 0
    if x.dtype.kind == "f" and is_zero.any():  # factorize takes -0.0 and 0.0 as one value; json writes each as it is
        codes[is_zero & np.signbit(x)] = negative_zero
        codes[is_zero & ~np.signbit(x)] = zero
    return table, codes


def _text_tokens(distinct: list | pa.Array, before: bytes, after: bytes) -> pa.Array:
    """The JSON tokens of distinct texts (a list, or an Arrow string array), then b"null": a text without a quote,
    backslash or control character is itself between quotes (both encoders write it so, UTF-8 unescaped), joined
    by Arrow; the others by orjson."""
    if isinstance(distinct, pa.Array):
        strings = distinct.cast(pa.large_string())
    elif distinct and set(map(type, distinct)) != {str}:  # orjson decides (and refuses what json would write otherwise)
        tokens = [before + orjson.dumps(v, option=_ORJSON_STRICT) + after for v in distinct]
        return pa.array(tokens + [before + b"null" + after], type=pa.large_binary())
    else:
        strings = pa.array(distinct, type=pa.large_string())
    quoted = pc.binary_join_element_wise(pa.scalar(before + b'"', pa.large_binary()), strings.cast(pa.large_binary()),
                                         pa.scalar(b'"' + after, pa.large_binary()), pa.scalar(b"", pa.large_binary()))
    escaped = pc.match_substring_regex(strings, r'["\\\x00-\x1f]').to_numpy(zero_copy_only=False)
    if escaped.any():
        odd = strings.take(pa.array(np.flatnonzero(escaped))).to_pylist()
        rewritten = [before + orjson.dumps(v, option=_ORJSON_STRICT) + after for v in odd]
        quoted = pc.replace_with_mask(quoted, pa.array(escaped), pa.array(rewritten, type=pa.large_binary()))
    return pa.concat_arrays([quoted, pa.array([before + b"null" + after], type=pa.large_binary())])


def _number_table(distinct: np.ndarray, before: bytes, after: bytes) -> pa.Array:
    """The JSON tokens of numbers (`before` + number + `after` each), from one orjson call over them all."""
    raw = orjson.dumps(distinct, option=orjson.OPT_SERIALIZE_NUMPY)  # b"[1.5,2.0,...]"
    if not len(distinct):
        return pa.array([], type=pa.large_binary())
    # where each number ends: the commas between them and the closing bracket (numbers hold no comma)
    ends = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8) == ord(","))
    ends = np.concatenate([[0], ends, [len(raw) - 1]]).astype(np.int64)
    if (before, after) == (b"", b","):  # a middle column: raw without "[", its "]" made a comma, is the tokens
        data = bytearray(raw)
        data[-1] = ord(",")
        data, offsets = memoryview(data)[1:], ends
    else:  # the first or last column: brackets around the row
        data = before + raw[1:-1].replace(b",", after + before) + after
        offsets = np.concatenate([[0], np.cumsum(np.diff(ends) - 1 + len(before) + len(after))]).astype(np.int64)
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(distinct),
                                            [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _number_codes(x: np.ndarray, missing: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Numbers to encode and each row's index among them, found without hashing where possible: whole numbers in a
    narrow range index the range (sequence numbers, study days); mostly distinct floats are encoded row by row;
    floats with few decimals in a narrow range index the range of their scaled values (`_decimal_codes`); other
    columns by their distinct values (`pd.factorize`, NaN -> -1).  `missing`: where x is NaN (None: nowhere); those
    rows' codes are set by the caller."""
    n = len(x)
    if x.dtype.kind == "i" and n:
        low, high = int(x.min()), int(x.max())
        if high - low <= 2 * n + 1024:
            return x - low, np.arange(low, high + 1, dtype=np.int64)
    elif n > 4 * _SAMPLE and len(pd.unique(x[:_SAMPLE])) > _SAMPLE // 2:
        return np.arange(n), x  # NaN rows are given the null token by the caller
    elif x.dtype.kind == "f" and n >= _DECIMAL_MIN_ROWS:
        found = _decimal_codes(x, missing)
        if found is not None:
            return found
    return pd.factorize(x)


_DECIMAL_SCALES = (1, 10, 100, 1000)
_DECIMAL_MIN_ROWS = 4096  # below this pd.factorize is as quick


def _decimal_codes(x: np.ndarray, missing: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
    """Floats that are all k / scale for whole k in a narrow range (results with one decimal, reference limits,
    doses): each row's code is k - lowest k, and the numbers to encode are every (lowest k + i) / scale.  Exact: a
    scale is taken only when k / scale gives back every value bit for bit (IEEE division is correctly rounded, so
    the number encoded for a row is the row's own float; -0.0 and 0.0 are told apart by the caller).  None when no
    scale fits.  The scale is chosen on a sample and checked on every row."""
    low, high = float(np.fmin.reduce(x)), float(np.fmax.reduce(x))  # NaN left out (all NaN: NaN)
    if np.isnan(low):
        return None
    if missing is not None:  # NaN rows take the lowest value (any code will do: the caller gives them null); fmax
        x = np.fmax(x, low)  # fills without branching on the mask, and the arithmetic below meets no NaN
    sample = x[:_SAMPLE]
    for scale in _DECIMAL_SCALES:
        if max(abs(low), abs(high)) * scale >= 2.0 ** 52 or (high - low) * scale > len(x) // 4 + 1024:
            return None  # larger scales only widen the range
        if not np.array_equal(np.rint(sample * scale) / scale, sample):
            continue
        k = np.rint(x * scale)
        if not np.array_equal(k / scale, x):
            continue
        k_low, k_high = int(np.rint(low * scale)), int(np.rint(high * scale))
        codes = k.astype(np.int64) - k_low
        return codes, np.arange(k_low, k_high + 1, dtype=np.int64) / scale
    return None


_SAMPLE = 10_000


def _row_runs(tokens: list[tuple[pa.Array, np.ndarray]], n: int) -> Iterator[tuple[memoryview, np.ndarray]]:
    """The rows `[a,b,...],[c,d,...],` from the columns' tokens (each token already followed by its separator), a
    chunk at a time, with where each row of the chunk ends: adjacent columns with few distinct values are first
    paired into one token per row (`_paired`); then one Arrow `take` over all the columns' tokens, row by row, lays
    the rows out back to back in its data buffer (a row ends where its last token does)."""
    tokens = _paired(tokens, max(_PAIR_LIMIT, n // _PAIR_SHARE))
    table = pa.concat_arrays([t for t, _ in tokens])
    first = np.cumsum([0] + [len(t) for t, _ in tokens[:-1]])
    for start in range(0, n, _ROWS_PER_CHUNK):
        stop = min(start + _ROWS_PER_CHUNK, n)
        picks = np.empty((stop - start, len(tokens)), dtype=np.int32 if len(table) < 2 ** 31 else np.int64)
        for j, (_, codes) in enumerate(tokens):
            np.add(codes[start:stop], first[j], out=picks[:, j])
        rows = table.take(pa.array(picks.ravel()))
        offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64)[rows.offset:rows.offset + len(rows) + 1]
        ends = offsets[::len(tokens)] - offsets[0]
        yield memoryview(rows.buffers()[2])[int(offsets[0]):int(offsets[-1])], ends


_PAIR_LIMIT, _PAIR_SHARE = 4_096, 64  # adjacent columns are paired while their tokens multiply to at most this (or n/64)


def _paired(tokens: list[tuple[pa.Array, np.ndarray]], limit: int) -> list[tuple[pa.Array, np.ndarray]]:
    """Adjacent columns whose token tables multiply to at most `limit` entries become one column: its table holds
    every pair of tokens (a then b), its code is a's code * len(b) + b's.  Fewer, longer tokens per row to lay out."""
    out = [tokens[0]]
    for table, codes in tokens[1:]:
        last, last_codes = out[-1]
        if len(last) * len(table) <= limit:
            a = np.repeat(np.arange(len(last)), len(table))
            b = np.tile(np.arange(len(table)), len(last))
            pairs = pc.binary_join_element_wise(last.take(pa.array(a)), table.take(pa.array(b)),
                                                pa.scalar(b"", pa.large_binary()))
            out[-1] = (pairs, last_codes * len(table) + codes)
        else:
            out.append((table, codes))
    return out


def write_dataset_json(path: str | Path, frame: pd.DataFrame, meta: DatasetMeta, header: JsonHeader) -> int:
    """Write one dataset as Dataset-JSON 1.1 (atomically, UTF-8); return the size in bytes.

    The header and column metadata are checked against the Dataset-JSON schema before anything is written.
    """
    head = checked_head(meta, header, len(frame))
    size = len(head)
    with atomic_write(path, "wb") as fh:
        fh.write(head)
        for piece in _rows_and_end(frame, meta):
            fh.write(piece)
            size += len(piece)
    return size


def checked_head(meta: DatasetMeta, header: JsonHeader, records: int) -> bytes:
    """`head_bytes`, once the header and column metadata are checked against the Dataset-JSON schema (ValueError)."""
    problems = validate_dataset_json(header_json(meta, header, records))
    if problems:
        raise ValueError(f"{meta.name}: Dataset-JSON metadata does not match the schema: " + "; ".join(problems))
    return head_bytes(meta, header, records)


# ----------------------------------------------------------------------------------------------------------------
# schema


@lru_cache(maxsize=1)
def _validator():
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def validate_dataset_json(doc: dict) -> list[str]:
    """Every breach of the Dataset-JSON 1.1 schema, as 'path: message' texts (empty when valid)."""
    if _valid_by_parts(doc):
        return []
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}" for e in errors]


def _valid_by_parts(doc: dict) -> bool:
    """True when `doc` is valid, proved cheaply (without importing jsonschema): the schema says of `columns` only
    that it is an array whose items each match one schema, so the document is valid exactly when it is valid with no
    columns and each column is valid on its own -- and most columns are alike across a study's datasets (judged once
    each).  False (then the full validation, and its messages, decide) when it cannot be proved so."""
    items = _column_schema()
    columns = doc.get("columns")
    if items is None or not isinstance(columns, list) or not all(isinstance(c, dict) for c in columns):
        return False
    try:  # keyed with the values' types: True == 1 for the cache, not for the schema
        if not all(_column_valid(tuple((k, type(v), v) for k, v in c.items())) for c in columns):
            return False
    except TypeError:  # a value that is not hashable (a list ...): no shortcut
        return False
    return _proves_valid({**doc, "columns": []}, _schema_doc())


@lru_cache(maxsize=1)
def _schema_doc() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _column_schema() -> dict | None:
    """The schema of one column (`columns.items`), or None when the schema says more about `columns` than 'an
    array of such items' (no shortcut then)."""
    columns = _schema_doc().get("properties", {}).get("columns")
    if not isinstance(columns, dict) or set(columns) - {"type", "items", "description"} or \
            columns.get("type") != "array" or not isinstance(columns.get("items"), dict):
        return None
    return columns["items"]


@lru_cache(maxsize=4096)
def _column_valid(column: tuple) -> bool:
    return _proves_valid({k: v for k, _, v in column}, _column_schema())


_PROVABLE = frozenset({"type", "properties", "required", "additionalProperties", "items", "$ref", "enum", "pattern",
                       "minimum",
                       # no constraint: annotations, the root's identity and definitions (refs are "#/..." in it),
                       # and the LinkML generator's own keys (not JSON Schema keywords: jsonschema ignores them)
                       "description", "title", "$schema", "$id", "$defs", "$comment", "metamodel_version", "version"})
_TYPES = {"string": lambda v: isinstance(v, str), "array": lambda v: isinstance(v, list),
          "object": lambda v: isinstance(v, dict),
          "integer": lambda v: isinstance(v, int) and not isinstance(v, bool)}


def _proves_valid(value: object, schema: object) -> bool:
    """True only when `value` is valid against `schema` (a part of the Dataset-JSON schema, its `$ref`s resolved in
    that schema), judged by the few keywords this schema's header parts use, as jsonschema judges them; False when
    it is not valid or when the schema asks anything else (another keyword, type or form: the caller then validates
    with jsonschema).  Stricter where that is simpler (1.0 is not proved an integer, nor a pattern on a non-text)."""
    if not isinstance(schema, dict) or not schema.keys() <= _PROVABLE:
        return False
    ref = schema.get("$ref")
    if ref is not None:  # draft 2019-09: the referenced schema applies beside the other keywords
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return False
        target: object = _schema_doc()
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        if not _proves_valid(value, target):
            return False
    kind = schema.get("type")
    if kind is not None and not (kind in _TYPES and _TYPES[kind](value)):
        return False
    if "enum" in schema and not (isinstance(value, str) and all(isinstance(e, str) for e in schema["enum"])
                                 and value in schema["enum"]):
        return False
    if "pattern" in schema and not (isinstance(value, str) and re.search(schema["pattern"], value)):
        return False
    if "minimum" in schema and not (_TYPES["integer"](value) and isinstance(schema["minimum"], int)
                                    and value >= schema["minimum"]):
        return False
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        if not isinstance(properties, dict) or extra not in (True, False):
            return False
        if not all(key in value for key in schema.get("required", ())):
            return False
        for key, item in value.items():  # over the header's keys
            if key in properties:
                if not _proves_valid(item, properties[key]):
                    return False
            elif extra is False:
                return False
    elif "properties" in schema or "required" in schema or "additionalProperties" in schema:
        return False  # they say nothing of a non-object, but proving that is not needed here
    if isinstance(value, list) and "items" in schema:
        return isinstance(schema["items"], dict) and all(_proves_valid(item, schema["items"]) for item in value)
    return True


# ----------------------------------------------------------------------------------------------------------------
# reading


def read_dataset_json(path: str | Path) -> tuple[pd.DataFrame, DatasetMeta]:
    """Read a Dataset-JSON 1.1 file into a frame with cdiscflow's conventions and its metadata.

    Text: str with NaN for missing ("" and null alike); numbers: float64; ADaM dates/datetimes (targetDataType
    integer): datetime64, times: timedelta64; SDTM ISO 8601 character dates stay text.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a Dataset-JSON file ({exc})") from None
    if not isinstance(doc, dict):
        raise InputError(f"{path}: not a Dataset-JSON file (top level is not an object)")
    rows = doc.get("rows") or []
    problems = validate_dataset_json({k: v for k, v in doc.items() if k != "rows"})
    if problems:
        raise InputError(f"{path}: does not match the Dataset-JSON 1.1 schema: " + "; ".join(problems[:5]))
    cols = [ColumnMeta.from_dsj(c) for c in doc["columns"]]
    names = [c.name for c in cols]
    if len(rows) != doc["records"]:
        raise InputError(f"{path}: 'records' says {doc['records']} but the file has {len(rows)} rows")
    if rows:
        widths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        bad = np.flatnonzero(widths != len(cols))
        if len(bad):
            raise InputError(f"{path}: row {bad[0] + 1} has {widths[bad[0]]} values for {len(cols)} columns")
    raw = pd.DataFrame(rows, columns=names, dtype=object) if rows else pd.DataFrame(columns=names, dtype=object)
    data = {}
    for c, spec in zip(cols, doc["columns"]):
        data[c.name] = _from_json(raw[c.name], c, spec["dataType"], path)
    frame = pd.DataFrame(data, columns=names)
    dataset = str(doc["name"])
    meta = DatasetMeta(
        name=dataset, label=str(doc.get("label", "")), format="json", path=str(path), encoding="utf-8",
        columns=tuple(_with_lengths(c, frame[c.name]) for c in cols), created=str(doc["datasetJSONCreationDateTime"]),
        item_group_oid=str(doc["itemGroupOID"]), study_oid=str(doc.get("studyOID", "")),
        metadata_version_oid=str(doc.get("metaDataVersionOID", "")),
    )
    return frame, meta


def _with_lengths(col: ColumnMeta, values: pd.Series) -> ColumnMeta:
    """Character columns without a declared length get the longest value (bytes), as the XPT writer needs one."""
    if col.is_numeric or col.length:
        return col
    n = byte_lengths(values)
    return replace(col, length=max(1, int(n.max()) if len(n) else 1))


def _from_json(values: pd.Series, col: ColumnMeta, dtype: str, path: Path) -> pd.Series:
    if not col.is_numeric:
        present = values.dropna()
        if len(present) and pd.api.types.infer_dtype(present, skipna=True) != "string":
            bad = present[~present.map(lambda v: isinstance(v, str))]  # error path only: find the first offender
            raise InputError(f"{path}: {col.name} row {bad.index[0] + 1}: {bad.iloc[0]!r} is not a string ({dtype})")
        text = values.astype("str")
        return text.mask(text == "")
    try:
        if col.kind == "date" or col.kind == "datetime":
            return pd.to_datetime(values, format="ISO8601").astype("datetime64[us]")
        if col.kind == "time":
            return pd.to_timedelta(values).astype("timedelta64[us]")
        if dtype == "boolean":
            return values.map({True: 1.0, False: 0.0}).astype("float64")
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path}: {col.name}: value not readable as {dtype} ({exc})") from None
    return _json_numbers(values, col, dtype, path)


_JSON_NUMBERS = frozenset({"integer", "floating", "mixed-integer-float", "decimal", "empty"})
LARGEST_EXACT_INTEGER = 2 ** 53  # every whole number up to this magnitude is exact as a double (and in SAS)


def _json_numbers(values: pd.Series, col: ColumnMeta, dtype: str, path: Path) -> pd.Series:
    """A numeric column: JSON numbers only (`true` is not 1), finite, and for dataType integer whole numbers SAS
    holds exactly; anything else names file, row and variable."""
    present = values.dropna()
    if pd.api.types.infer_dtype(present, skipna=True) not in _JSON_NUMBERS:
        is_number = present.map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))  # error path
        bad = present[~is_number.astype(bool)]
        raise InputError(f"{path}: {col.name} row {bad.index[0] + 1}: {json.dumps(bad.iloc[0])} is not a number "
                         f"(dataType {dtype})")
    x = pd.to_numeric(values, errors="raise").astype("float64").to_numpy()
    wrong = np.isinf(x)
    if dtype == "integer":
        wrong |= np.isfinite(x) & ((x != np.round(x)) | (np.abs(x) > LARGEST_EXACT_INTEGER))
    if wrong.any():
        row = int(np.flatnonzero(wrong)[0])
        expected = "a whole number of magnitude at most 2**53" if dtype == "integer" else "a finite number"
        raise InputError(f"{path}: {col.name} row {row + 1}: {values.iloc[row]!r} is not {expected} (dataType "
                         f"{dtype})")
    return pd.Series(x, index=values.index, dtype="float64")

