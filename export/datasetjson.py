"""CDISC Dataset-JSON 1.1: write and read one dataset per file.

Rows are arrays in column order; a missing value is `null` (an empty string only ever comes from data that hold
one, and cdiscflow's frames never do).  ADaM numeric dates, datetimes and times travel as ISO 8601 strings with
`targetDataType: integer` and their SAS display format, as the standard asks.  Output is deterministic: the
creation date/time is given by the caller (the study's data cut), keys are written in the order the specification
documents, numbers with Python's shortest round-trip representation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import numpy as np
import orjson
import pandas as pd

from cdiscflow import __version__
from cdiscflow.core.atomic import atomic_write
from cdiscflow.core.errors import InputError
from cdiscflow.export.meta import ColumnMeta, DatasetMeta
from cdiscflow.export.xpt import SAS_EPOCH_SECONDS, byte_lengths

DSJ_VERSION = "1.1.0"
SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "dataset-json-1.1" / "dataset.schema.json"
_ROWS_PER_CHUNK = 20_000


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
        yield piece.decode("utf-8")


def _chunks(frame: pd.DataFrame, meta: DatasetMeta, header: JsonHeader) -> Iterator[bytes]:
    """The file's UTF-8 bytes in pieces (what `dataset_json_chunks` decodes).

    The rows are the bytes of `json.dumps(rows, ensure_ascii=False, allow_nan=False, separators=(",", ":"))`.  A
    chunk whose values orjson writes the same way (nearly always) is built column by column: each distinct text or
    date is encoded once, numbers as one numpy array, and the rows are joined from the columns' JSON tokens; other
    chunks go through the json module as before (same bytes, same errors).
    """
    doc = header_json(meta, header, len(frame))
    head = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    yield (head[:-1] + ',"rows":[').encode("utf-8")
    for start in range(0, len(frame), _ROWS_PER_CHUNK):
        part = frame.iloc[start:start + _ROWS_PER_CHUNK]
        if meta.columns and all(_orjson_writes_as_json(part[c.name], c) for c in meta.columns):
            text = _rows_by_column([_column_tokens(part[c.name], c) for c in meta.columns])
        else:
            cols = [_column_values(part[c.name], c) for c in meta.columns]
            rows = list(zip(*cols)) if cols else [() for _ in range(len(part))]
            text = json.dumps(rows, ensure_ascii=False, allow_nan=False, separators=(",", ":"))[1:-1].encode("utf-8")
        yield (b"," if start else b"") + text
    yield b"]}\n"


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
        x = pd.to_numeric(values).to_numpy(dtype=np.float64, na_value=np.nan)
        present = x[~np.isnan(x)]
        return bool(np.isfinite(present).all() and not ((present != 0) & (np.abs(present) < 1e-4)).any())
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.cat.categories.to_series()
    return len(values) == 0 or pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")


def _column_tokens(values: pd.Series, col: ColumnMeta) -> np.ndarray:
    """One column as JSON tokens: a fixed-width bytes array (numpy pads with NUL bytes, which JSON text never holds:
    orjson writes a NUL character as \\u0000), b"null" for missing.  Each distinct value is encoded once."""
    if not col.is_numeric or col.kind:
        if col.kind:
            values = pd.Series(_iso(values, col.kind), dtype=object)
        if isinstance(values.dtype, pd.CategoricalDtype):
            codes, distinct = values.cat.codes.to_numpy(), values.cat.categories.tolist()
        else:
            codes, distinct = pd.factorize(values)  # missing -> -1
            distinct = distinct.tolist()
        table = [orjson.dumps(v, option=_ORJSON_STRICT) for v in distinct] + [b"null"]
        return np.array(table, dtype=bytes)[codes]
    x = pd.to_numeric(values).to_numpy(dtype=np.float64, na_value=np.nan)
    missing = np.isnan(x)
    if col.dsj_types()[0] == "integer":
        _check_whole(x, missing, values, col)
        x = np.nan_to_num(x).astype(np.int64)
    distinct, codes = np.unique(x, return_inverse=True)
    table = np.array(orjson.dumps(distinct, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b","), dtype=bytes)
    tokens = table[codes]
    zero = x == 0  # np.unique takes -0.0 and 0.0 as one value; json writes each as it is
    if missing.any() or zero.any():
        tokens = tokens.astype(f"S{max(tokens.dtype.itemsize, 4)}")
        tokens[missing] = b"null"
        if x.dtype.kind == "f":
            tokens[zero & np.signbit(x)] = b"-0.0"
            tokens[zero & ~np.signbit(x)] = b"0.0"
    return tokens


def _rows_by_column(tokens: list[np.ndarray]) -> bytes:
    """Rows `[a,b,...],[c,d,...]` from the columns' tokens (without the enclosing brackets of the array): one byte
    grid, row by row, with the separators between the padded tokens; dropping the padding leaves the text."""
    n = len(tokens[0])
    blocks = [np.full((n, 1), ord("["), dtype=np.uint8)]
    for k, column in enumerate(tokens):
        if k:
            blocks.append(np.full((n, 1), ord(","), dtype=np.uint8))
        blocks.append(np.ascontiguousarray(column).view(np.uint8).reshape(n, column.dtype.itemsize))
    blocks.append(np.full((n, 2), (ord("]"), ord(",")), dtype=np.uint8))
    grid = np.hstack(blocks).ravel()
    return grid[grid != 0].tobytes()[:-1]


def write_dataset_json(path: str | Path, frame: pd.DataFrame, meta: DatasetMeta, header: JsonHeader) -> int:
    """Write one dataset as Dataset-JSON 1.1 (atomically, UTF-8); return the size in bytes.

    The header and column metadata are checked against the Dataset-JSON schema before anything is written.
    """
    problems = validate_dataset_json(header_json(meta, header, len(frame)))
    if problems:
        raise ValueError(f"{meta.name}: Dataset-JSON metadata does not match the schema: " + "; ".join(problems))
    size = 0
    with atomic_write(path, "wb") as fh:
        for piece in _chunks(frame, meta, header):
            fh.write(piece)
            size += len(piece)
    return size


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
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}" for e in errors]


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

