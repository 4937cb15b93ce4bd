"""The one way cdiscflow reads a SAS transport (XPORT version 5) file: check its structure, then decode it.

A transport file (SAS technical note TS-140) is a stream of 80-byte records: the library header and its two
records, the member header, the descriptor header and its two records (dataset name, label), the NAMESTR header
with the number of variables, one 140-byte NAMESTR per variable (blank-padded to a whole record), the OBS header,
then the observations as one continuous stream of fixed-width rows, blank-padded to a whole record at the end.

Version 8 files (long names) hold their observation count in the OBSV8 header: they are decoded by pyreadstat and
the rows must equal that count (`_read_version8`).  Version 5 stores no observation count: the count follows from the file length, the row width and the padding
rule.  So every structural fact is checked before a single value is decoded (`xpt_layout`): the header records
and their order, each NAMESTR (type, length, position; the positions tile the row without gap or overlap), a data
section that is a whole number of records, trailing bytes that are blank padding shorter than a record, and no
second member.  A truncated, extended or otherwise damaged file fails with the file name and the byte offset of the
first problem (`InputError`, exit 2) instead of being read as fewer rows.  `read_xpt` then decodes exactly that
many observations from the checked layout, column by column with numpy (pyreadstat, which cdiscflow used before,
drops trailing observations whose values are all blank; pandas' `read_sas` drops rows of narrow datasets).

What the format cannot tell: a file cut exactly where a record and an observation end together is a shorter valid
file -- `read_xpt` catches it only when the Dataset-JSON copy beside the file (dm.xpt, dm.json, as cdiscflow writes
them) declares its `records`; and observations narrower than 80 bytes that are entirely blank at the very end are
read as padding (as SAS itself reads them).  A last observation of blanks in a dataset with a numeric variable is
an error (SAS writes a missing number as '.', never blanks): blanks appended to a file.
"""

from __future__ import annotations

import mmap
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from cdiscflow.core.errors import InputError

RECORD = 80
NAMESTR = 140
_HEAD = b"HEADER RECORD*******"
_BANG = b"HEADER RECORD!!!!!!!"
_NAME = re.compile(rb"^[A-Za-z_][A-Za-z0-9_]{0,7} *$")
ENCODINGS = ("utf-8", "cp1252", "latin-1")  # SAS on Windows writes Windows-1252; latin-1 decodes any byte


@dataclass(frozen=True)
class XptVariableLayout:
    name: str
    numeric: bool
    length: int
    position: int  # byte offset inside an observation
    label: str = ""
    format: str = ""  # SAS display format as written: DATE9., 8.2, $20. ("" when none)


@dataclass(frozen=True)
class XptLayout:
    """What the structure of a transport file says, checked: dataset name, variables, where the data start and how
    many observations there are."""

    path: Path
    dataset: str
    variables: tuple[XptVariableLayout, ...]
    data_start: int  # byte offset of the first observation
    row_length: int
    rows: int
    label: str = ""
    created: datetime | None = None  # the member header's creation stamp


def _fail(path: Path, offset: int, problem: str) -> InputError:
    return InputError(f"{path}: not a readable SAS transport (XPT) file: {problem} at byte {offset:,}")


def _header(data: bytes, offset: int, name: bytes, path: Path) -> bytes:
    """The 80-byte header record `name` (LIBRARY, MEMBER ...) at `offset`; its last 32 bytes are returned."""
    record = data[offset:offset + RECORD]
    if len(record) < RECORD:
        raise _fail(path, len(data), f"the file ends inside the header (expected the {name.decode()} header record)")
    expected = _HEAD + name.ljust(8) + _BANG
    if record[:48] != expected:
        if name == b"LIBRARY" and record[:48] == _HEAD + b"LIBV8   " + _BANG:
            raise _Version8()
        raise _fail(path, offset, f"expected the {name.decode()} header record, found {record[:48]!r}")
    return record[48:]


class _Version8(Exception):
    """A version 8 file: `read_xpt` checks it against the observation count its OBSV8 header holds."""


def xpt_layout(path: str | Path) -> XptLayout:
    """Check the whole structure of a transport file and return its layout; `InputError` with the byte offset of the
    first problem otherwise.  Reads the file once (headers are parsed, observations only scanned for padding and for
    a second member)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            if not path.stat().st_size:
                raise InputError(f"{path}: the file is empty (expected a SAS transport file)")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:  # not read whole: files may be GBs
                return _layout(data, path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None


def _layout(data: mmap.mmap, path: Path) -> XptLayout:
    _header(data, 0, b"LIBRARY", path)
    if not data[RECORD:RECORD + 24].startswith(b"SAS     SAS     SASLIB  "):
        raise _fail(path, RECORD, "the library header's first record does not start 'SAS     SAS     SASLIB'")
    tail = _header(data, 3 * RECORD, b"MEMBER", path)
    size = tail[26:30].strip()  # "0140" (or "0136" on VAX/VMS, which cdiscflow does not read)
    if size != b"0140":
        raise _fail(path, 3 * RECORD + 74, f"NAMESTR size {size.decode(errors='replace')!r}, expected 0140")
    _header(data, 4 * RECORD, b"DSCRPTR", path)
    member = data[5 * RECORD:6 * RECORD]
    if len(member) < RECORD or not member.startswith(b"SAS     "):
        raise _fail(path, 5 * RECORD, "the member descriptor record does not start 'SAS     '")
    dataset = member[8:16].decode("ascii", errors="replace").strip()
    created = _stamp(member[64:80])
    label = data[6 * RECORD + 32:6 * RECORD + 72].decode("latin-1").rstrip()
    tail = _header(data, 7 * RECORD, b"NAMESTR", path)
    count = tail[6:10]
    if not count.isdigit():
        raise _fail(path, 7 * RECORD + 54, f"number of variables {count!r} is not a number")
    nvars = int(count)
    names_start = 8 * RECORD
    names_end = names_start + -(-nvars * NAMESTR // RECORD) * RECORD
    if len(data) < names_end:
        raise _fail(path, len(data), f"the file ends inside the {nvars} variable descriptors (NAMESTR records)")
    variables = tuple(_namestr(data, names_start + i * NAMESTR, i + 1, path) for i in range(nvars))
    row_length = _check_positions(variables, path, names_start)
    _header(data, names_end, b"OBS", path)
    data_start = names_end + RECORD
    rows = _observations(data, data_start, row_length, path)
    last = data[data_start + (rows - 1) * row_length:data_start + rows * row_length] if rows else b"x"
    if any(v.numeric for v in variables) and not last.strip(b" "):  # SAS writes a missing number as '.', not blanks
        raise _fail(path, data_start + (rows - 1) * row_length, f"observation {rows:,} is all blanks, which no "
                                                                 "numeric value is (blanks appended to the file?)")
    return XptLayout(path, dataset, variables, data_start, row_length, rows, label, created)


def _stamp(raw: bytes) -> datetime | None:
    """'01OCT20:00:00:00' -> datetime (two-digit years: 00-69 are 20xx, as SAS's YEARCUTOFF default does)."""
    try:
        stamp = datetime.strptime(raw.decode("ascii").strip().title(), "%d%b%y:%H:%M:%S")
    except (UnicodeDecodeError, ValueError):
        return None
    return stamp.replace(year=stamp.year - 100) if stamp.year >= 2070 else stamp


def _namestr(data: bytes, offset: int, number: int, path: Path) -> XptVariableLayout:
    raw = data[offset:offset + NAMESTR]
    ntype, _hash, length, _varnum = np.frombuffer(raw[:8], dtype=">i2").tolist()
    name = raw[8:16]
    position = int(np.frombuffer(raw[84:88], dtype=">i4")[0])
    if ntype not in (1, 2):
        raise _fail(path, offset, f"variable {number}: type {ntype} (expected 1 numeric or 2 character)")
    if not _NAME.match(name):
        raise _fail(path, offset + 8, f"variable {number}: {name!r} is not a SAS variable name")
    numeric = ntype == 1
    if (numeric and not 2 <= length <= 8) or (not numeric and not 1 <= length <= 200):
        raise _fail(path, offset + 4, f"variable {name.decode().strip()}: length {length} is impossible for a "
                                      f"{'numeric' if numeric else 'character'} variable in XPT v5")
    label = raw[16:56].decode("latin-1").rstrip()
    fname = raw[56:64].decode("latin-1").strip()
    width, decimals = np.frombuffer(raw[64:68], dtype=">i2").tolist()
    fmt = f"{fname}{width or ''}.{decimals or ''}" if (fname or width) else ""
    return XptVariableLayout(name.decode("ascii").strip(), numeric, int(length), position, label, fmt)


def _check_positions(variables: tuple[XptVariableLayout, ...], path: Path, names_start: int) -> int:
    """The variables must tile the observation: sorted by position, each starts where the previous one ends."""
    seen: set[str] = set()
    for i, v in enumerate(variables):
        if v.name.upper() in seen:
            raise _fail(path, names_start + i * NAMESTR + 8, f"variable {v.name} is described twice")
        seen.add(v.name.upper())
    end = 0
    for v in sorted(variables, key=lambda v: v.position):
        if v.position != end:
            i = variables.index(v)
            raise _fail(path, names_start + i * NAMESTR + 84, f"variable {v.name} starts at position {v.position} "
                                                               f"of the observation, expected {end}")
        end += v.length
    return end


def _observations(data: bytes, start: int, row_length: int, path: Path) -> int:
    """The number of observations: the data section is whole records; after the last observation come fewer than 80
    bytes, all blank; a blank observation inside those last bytes is padding (TS-140)."""
    size = len(data) - start
    if size % RECORD:
        cut = start + size - size % RECORD
        raise _fail(path, cut, f"the data section is {size:,} bytes, not a whole number of 80-byte records (the file "
                               "is truncated or has bytes appended); the last incomplete record starts")
    if size == 0:
        return 0
    second = _second_member(data, start)
    if len(second):
        raise _fail(path, start + int(second[0]) * RECORD, "a second dataset (MEMBER header) follows the first; "
                                                           "cdiscflow reads one dataset per file")
    if row_length == 0:
        raise _fail(path, start, "observations follow a dataset without variables")
    rows = size // row_length
    rest = data[start + rows * row_length:]
    if rest.strip(b" "):
        raise _fail(path, start + rows * row_length, f"{len(rest)} bytes after the last whole observation are not "
                                                     "blank padding (an observation is cut short)")
    while rows and size - (rows - 1) * row_length < RECORD and not data[start + (rows - 1) * row_length:
                                                                          start + rows * row_length].strip(b" "):
        rows -= 1  # at most 79 / row_length times: blank rows inside the final record are padding
    if size - rows * row_length >= RECORD:
        raise _fail(path, start + rows * row_length + (size - rows * row_length) // RECORD * RECORD,
                    "a whole 80-byte record of padding follows the last observation (bytes appended?)")
    return rows


def _second_member(data: mmap.mmap, start: int) -> np.ndarray:
    """Record numbers (from `start`) that are a MEMBER header, scanned in blocks of records."""
    member = np.frombuffer(_HEAD + b"MEMBER  " + _BANG, dtype=np.uint8)
    found = []
    block = RECORD * 65_536
    for offset in range(start, len(data), block):  # over 5 MB blocks of the data section
        records = np.frombuffer(data[offset:offset + block], dtype=np.uint8).reshape(-1, RECORD)
        hits = np.flatnonzero((records[:, :48] == member).all(axis=1))
        found.extend((hits + (offset - start) // RECORD).tolist())
    return np.array(found, dtype=np.int64)


@dataclass(frozen=True)
class XptData:
    frame: pd.DataFrame  # text: str with "" for blank; numbers: float64 with NaN for missing (SAS days/seconds)
    layout: XptLayout
    encoding: str


def read_xpt(path: str | Path, encodings: tuple[str, ...] = ENCODINGS, *, blank_missing: bool = False) -> XptData:
    """Check the structure (`xpt_layout`), then decode exactly its observations: numbers from IBM-370 doubles (SAS
    missing values -> NaN), text right-trimmed, decoded with the first of `encodings` every text value decodes
    with; blank text is "" (NaN with `blank_missing`).  Every problem is an `InputError` naming the file."""
    path = Path(path)
    try:
        layout = xpt_layout(path)
    except _Version8:
        return _read_version8(path, encodings)
    with open(path, "rb") as fh:
        fh.seek(layout.data_start)
        block = np.frombuffer(fh.read(layout.rows * layout.row_length), dtype=np.uint8)
    if len(block) != layout.rows * layout.row_length:  # the file changed since its layout was read
        raise _fail(path, layout.data_start + len(block), "the file ends before its last observation")
    block = block.reshape(layout.rows, layout.row_length)
    numbers = {v.name: _numbers(block, v) for v in layout.variables if v.numeric}
    raw_text = {v.name: _text_bytes(block, v) for v in layout.variables if not v.numeric}
    for encoding in encodings:  # the file's text is in one encoding: the first that decodes every value
        try:
            text = {name: _decode(values, encoding, blank_missing) for name, values in raw_text.items()}
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InputError(f"{path}: text cannot be decoded as {' or '.join(encodings)}")
    frame = pd.DataFrame({v.name: numbers[v.name] if v.numeric else text[v.name] for v in layout.variables},
                         columns=[v.name for v in layout.variables], index=pd.RangeIndex(layout.rows))
    _check_sibling_records(path, layout)
    return XptData(frame, layout, encoding)


_OBSV8 = _HEAD + b"OBSV8   " + _BANG


def _read_version8(path: Path, encodings: tuple[str, ...]) -> XptData:
    """Version 8 (long names and labels) holds its observation count in the OBSV8 header: the data section must be
    whole records and the decoded rows (pyreadstat) must equal that count."""
    import pyreadstat

    data = path.read_bytes()
    at = data.find(_OBSV8)
    if at < 0 or at % RECORD:
        raise _fail(path, max(at, 0), "version 8 file without its OBSV8 header record")
    count = data[at + 48:at + RECORD].strip()
    start = at + RECORD
    if (len(data) - start) % RECORD:
        raise _fail(path, len(data) - (len(data) - start) % RECORD, "the data section is not a whole number of "
                                                                    "80-byte records (truncated or extended)")
    for encoding in encodings:  # the first encoding every text value decodes with
        try:
            frame, meta = pyreadstat.read_xport(str(path), encoding=encoding, disable_datetime_conversion=True)
            break
        except Exception as exc:  # pyreadstat raises its own error types
            if isinstance(exc, UnicodeDecodeError) or "encoding" in str(exc):
                continue
            raise InputError(f"{path}: not a readable SAS transport (XPT) file ({exc})") from None
    else:
        raise InputError(f"{path}: text cannot be decoded as {' or '.join(encodings)}")
    if not count.isdigit() or int(count) != len(frame):
        raise _fail(path, at + 48, f"the OBSV8 header declares {count.decode(errors='replace')!r} observations, "
                                   f"{len(frame):,} were decoded")
    variables, position = [], 0
    for name in frame.columns:  # over variables
        numeric = meta.readstat_variable_types.get(name) != "string"
        length = int(meta.variable_storage_width.get(name) or (8 if numeric else 1))
        fmt = meta.original_variable_types.get(name) or ""
        variables.append(XptVariableLayout(name, numeric, length, position, meta.column_names_to_labels.get(name)
                                           or "", fmt if not fmt or "." in fmt else f"{fmt}."))
        position += length
    layout = XptLayout(path, str(meta.table_name or path.stem), tuple(variables), start, position, len(frame),
                       meta.file_label or "", meta.creation_time)
    frame = pd.DataFrame({v.name: frame[v.name] if v.numeric else frame[v.name].astype("str") for v in variables})
    _check_sibling_records(path, layout)
    return XptData(frame, layout, encoding)


_RECORDS = re.compile(rb'"records"\s*:\s*(\d+)')
_DSJ = re.compile(rb'"datasetJSONVersion"')


def _check_sibling_records(path: Path, layout: XptLayout) -> None:
    """XPT v5 cannot say how many observations it should hold; the Dataset-JSON copy written beside it (dm.xpt,
    dm.json) can: its `records` must equal the observations read.  Catches a cut exactly at a record and
    observation boundary, which the structure alone cannot."""
    sibling = path.with_suffix(".json")
    if not sibling.is_file():
        return
    with open(sibling, "rb") as fh:
        head = fh.read(8192)  # the header comes before the rows (cdiscflow writes `records` before `columns`)
    found = _RECORDS.search(head)
    if not found or not _DSJ.search(head):
        return
    if int(found.group(1)) != layout.rows:
        raise InputError(f"{path}: holds {layout.rows:,} observations but the Dataset-JSON beside it ({sibling.name}) "
                         f"declares {int(found.group(1)):,} records: one of the two files is damaged or stale")


def _numbers(block: np.ndarray, var: XptVariableLayout) -> np.ndarray:
    """A numeric column: IBM-370 doubles, stored with their first `length` bytes (2-8), as float64."""
    raw = np.zeros((len(block), 8), dtype=np.uint8)
    raw[:, :var.length] = block[:, var.position:var.position + var.length]
    return ibm_to_ieee(raw)


def _text_bytes(block: np.ndarray, var: XptVariableLayout) -> tuple[np.ndarray, "pa.Array", bool]:
    """A character column as its distinct values, right-trimmed (trailing blanks become NULs, which numpy's `S`
    type drops), and each row's index into them: the fixed-width cells are dictionary-encoded by Arrow first, so
    only the distinct values are trimmed and decoded (clinical text repeats).  The flag says whether every distinct
    value is ASCII without NUL bytes (so that Arrow reads and decodes them as Python would, in any encoding)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cells = np.ascontiguousarray(block[:, var.position:var.position + var.length])
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(var.length), len(cells), [None, pa.py_buffer(cells)])
    encoded = pc.dictionary_encode(fixed)
    cells = np.frombuffer(encoded.dictionary.buffers()[1], dtype=np.uint8)[
        encoded.dictionary.offset * var.length:(encoded.dictionary.offset + len(encoded.dictionary)) * var.length]
    cells = cells.reshape(len(encoded.dictionary), var.length).copy()
    plain = not ((cells == 0) | (cells >= 0x80)).any()
    written = cells != 0x20
    end = var.length - np.argmax(written[:, ::-1], axis=1)  # one past the last non-blank byte
    end[~written.any(axis=1)] = 0
    cells[np.arange(var.length) >= end[:, None]] = 0  # trailing blanks become NULs, which numpy's `S` type drops
    return cells.view(f"S{var.length}").ravel(), encoded.indices, plain


def _decode(values: tuple[np.ndarray, "pa.Array", bool], encoding: str, blank_missing: bool = False) -> pd.Series:
    """Decode the distinct values only and take them back by row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    distinct, indices, plain = values
    if plain:  # ASCII without NULs: the same text in every encoding, decoded by Arrow
        decoded = pa.array(distinct, type=pa.binary()).cast(pa.large_string())  # pandas' str storage type
    else:
        decoded = pa.array([u.decode(encoding) for u in distinct.tolist()], pa.large_string())
    if blank_missing:
        decoded = pc.if_else(pc.equal(decoded, ""), pa.scalar(None, pa.large_string()), decoded)
    return pd.Series(pc.take(decoded, indices), dtype="str")


def ibm_to_ieee(raw: np.ndarray) -> np.ndarray:
    """(n, 8) uint8 IBM-370 doubles -> float64; SAS missing values ('.', '._', '.A'-'.Z') become NaN."""
    b = np.ascontiguousarray(raw, dtype=np.uint8).reshape(-1, 8).view(">u8").ravel().astype(np.uint64)
    first = (b >> np.uint64(56)).astype(np.int64)
    mant = b & np.uint64((1 << 56) - 1)
    sign = np.where(first & 0x80, -1.0, 1.0)
    exp = (first & 0x7F) - 64
    value = sign * np.ldexp(mant.astype(np.float64), (4 * exp - 56).astype(np.int32))
    is_missing = (mant == 0) & ((first == 0x2E) | (first == 0x5F) | ((first >= 0x41) & (first <= 0x5A)))
    return np.where(is_missing, np.nan, value)
