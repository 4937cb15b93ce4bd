"""One raw form file read into text columns: where a form's file is (`locate`), the size and first-bytes checks
on it, and the readers for CSV (with broken-row detection), Parquet, XPT and SAS7BDAT (`read_file`, and
`read_typed`/`as_csv_text` for the spec draft).  `forms.read_export` reads a whole export through these."""

from __future__ import annotations

import csv
import io
import os
from dataclasses import replace
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from cdiscflow.core.errors import InputError
from cdiscflow.core.findings import Findings
from cdiscflow.core.parquet_read import read_parquet
from cdiscflow.core.sasformats import format_kind
from cdiscflow.core.text import text_series
from cdiscflow.core.xpt_read import read_xpt
from cdiscflow.specs.model import Form

READERS = (".csv", ".parquet", ".xpt", ".sas7bdat")


def form_file_problem(form: Form) -> str | None:
    """forms.yaml `file:` must name a file inside the raw export folder: no absolute path, no '..'."""
    posix, windows = PurePosixPath(form.file), PureWindowsPath(form.file)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or ".." in windows.parts or not form.file:
        return (f"forms.yaml form {form.name} file {form.file!r}: must be a file name inside the raw export folder "
                "(no absolute path, no '..')")
    return None


def locate(raw_dir: Path, form: Form) -> Path:
    problem = form_file_problem(form)  # check_sdtm_spec reports it first; read_export on its own is guarded too
    if problem:
        raise InputError(problem)
    named = raw_dir / form.file
    if named.is_file():
        return named
    for ext in READERS:
        alt = named.with_suffix(ext)
        if alt.is_file():
            return alt
    raise InputError(f"{form.file}: file for form {form.name!r} ({form.label}) is missing in {raw_dir}")


def read_file(path: Path, form: Form, settings, findings: Findings) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The form's columns as text (NA for blank), indexed by data row; plus the rows whose field count is wrong."""
    ext = path.suffix.lower()
    check_file_head(path, ext, str(settings.get("encoding", "utf-8")))
    broken = None
    if ext == ".csv":
        frame, broken = _read_csv(path, form, settings, findings)
    elif ext in (".parquet", ".xpt", ".sas7bdat"):
        frame = _read_binary(path, ext)
    else:
        raise InputError(f"{path.name}: cannot read {ext} files (use {', '.join(READERS)})")
    frame.columns = [str(c).strip() for c in frame.columns]
    twice = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})  # over columns
    if twice:
        raise InputError(f"{path.name}: column(s) {', '.join(twice)} appear more than once in the header; "
                         "which one holds the data is ambiguous (rename or drop the copies)")
    missing = [f for f in form.names if f not in frame.columns]
    if missing:
        raise InputError(f"{path.name}: missing column(s) {', '.join(missing)} that forms.yaml declares for form "
                         f"{form.name!r}; the file has {', '.join(frame.columns[:12]) or 'no columns'}")
    extra = [c for c in frame.columns if c not in form.names]
    for c in extra:
        findings.add(severity="warning", rule_id="RAW-EXTRA-COLUMN", dataset=form.name, variable=c,
                     message=f"column {c} is not in forms.yaml for form {form.name!r}; it is not mapped",
                     source=path.name)
    frame = frame[list(form.names)]
    frame = pd.DataFrame({c: _trimmed(frame[c]) for c in frame.columns}, index=frame.index)  # over columns
    return frame, broken


def _trimmed(col: pd.Series) -> pd.Series:
    """The column as text with surrounding blanks removed (pandas' str.strip: Arrow's utf8_trim_whitespace) and
    empty text as missing, computed on the Arrow array in two passes."""
    text = col if col.dtype == "str" else col.astype(str)  # (text already: no copy)
    if text.dtype != "str":  # (not Arrow-backed text: pandas does it)
        text = text.str.strip()
        return text.mask(text == "")
    arr = pc.utf8_trim_whitespace(pa.array(text.array))
    arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)
    return text_series(arr, col.index, col.name)


MAX_FILE_MB = "CDISCFLOW_MAX_FILE_MB"  # environment variable: the largest raw file read, in MB (default 1024)
_SIGNATURES = (  # first bytes -> what the file really is
    (b"\xff\xfe\x00\x00", "UTF-32 text (byte-order mark FF FE 00 00)"), (b"\x00\x00\xfe\xff", "UTF-32 text"),
    (b"\xff\xfe", "UTF-16 text (byte-order mark FF FE)"), (b"\xfe\xff", "UTF-16 text (byte-order mark FE FF)"),
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook?)"), (b"\xd0\xcf\x11\xe0", "an old Excel/Office file"),
    (b"PAR1", "a Parquet file"), (b"HEADER RECORD*******LIB", "a SAS transport (XPT) file"),
    (b"\x1f\x8b", "a gzip archive"), (b"%PDF", "a PDF document"), (b"SQLite format 3", "an SQLite database"),
)


def max_file_bytes() -> int:
    value = os.environ.get(MAX_FILE_MB, "1024")
    try:
        return int(float(value) * 1024 * 1024)
    except ValueError:
        raise InputError(f"environment variable {MAX_FILE_MB}={value!r} is not a number of megabytes") from None


def check_file_head(path: Path, ext: str, encoding: str = "utf-8") -> None:
    """Before a file is read whole: its size against the limit, and for delimited text its first bytes (UTF-16 or
    binary files are named for what they are, not called Latin-1)."""
    size, limit = path.stat().st_size, max_file_bytes()
    if size > limit:
        raise InputError(f"{path.name}: {size:,} bytes, more than the {limit:,} a raw file may have (not read; set "
                         f"the environment variable {MAX_FILE_MB} to read larger files)")
    if ext != ".csv" or encoding.lower().replace("-", "").startswith(("utf16", "utf32")):
        return
    with open(path, "rb") as fh:
        head = fh.read(4096)
    what = next((name for mark, name in _SIGNATURES if head.startswith(mark)), None)
    if what is None and b"\x00" in head:
        even, odd = head[0::2].count(0), head[1::2].count(0)
        what = ("UTF-16 text without a byte-order mark" if min(even, odd) == 0 and max(even, odd) >= len(head) // 4
                else f"binary (a NUL byte at byte {head.find(0)})")
    if what is not None and what.startswith("UTF-"):
        raise InputError(f"{path.name}: the file is {what}, not {encoding}; save it as {encoding} or set raw.encoding "
                         "in study.yaml")
    if what is not None:
        raise InputError(f"{path.name}: the file is {what}, not delimited text; export the form as CSV")


def _read_binary(path: Path, ext: str) -> pd.DataFrame:
    return _data_rows(as_csv_text(read_typed(path, ext)[0]))


def read_typed(path: Path, ext: str | None = None) -> tuple[pd.DataFrame, dict[str, dict[str, str]]]:
    """A Parquet, XPT or SAS (.sas7bdat) file as a typed frame, with each column's SAS label and format where the
    file holds them ({column: {"label": ..., "format": ...}}); InputError when it cannot be read.  Parquet and XPT go
    through the structural readers of `core` (damage names the file and, for XPT, the byte offset); numeric SAS
    dates, datetimes and times of an XPT become ISO 8601 text."""
    ext = (ext or path.suffix).lower()
    if ext == ".parquet":
        return read_parquet(path), {}
    if ext == ".xpt":
        xpt = read_xpt(path, encodings=("utf-8",))
        columns = {v.name: {"label": v.label, "format": v.format} for v in xpt.layout.variables}
        return _sas_dates_as_text(xpt.frame, xpt.layout), columns
    import pyreadstat  # here: it imports narwhals, ~0.05 s a run that reads no .sas7bdat would pay

    try:
        frame, meta = pyreadstat.read_sas7bdat(str(path))
    except (OSError, ValueError, UnicodeDecodeError, pyreadstat.ReadstatError, pyreadstat.PyreadstatError) as exc:
        raise InputError(f"{path.name}: not a readable SAS dataset (.sas7bdat) file ({exc})") from None
    labels = dict(zip(meta.column_names, meta.column_labels or [None] * len(meta.column_names)))
    formats = meta.original_variable_types or {}
    columns = {c: {"label": str(labels.get(c) or ""), "format": str(formats.get(c) or "")} for c in frame.columns}
    return frame, columns


def _sas_dates_as_text(frame: pd.DataFrame, layout) -> pd.DataFrame:
    """Numeric variables with a SAS date/datetime/time display format as ISO 8601 text (missing stays missing)."""
    out = frame.copy()
    for var in layout.variables:  # over columns
        kind = format_kind(var.format) if var.numeric else ""
        if not kind:
            continue
        x = frame[var.name].to_numpy(dtype=np.float64)
        ok = np.isfinite(x)
        seconds = np.where(ok, np.round(x * (86400 if kind == "date" else 1)), 0).astype(np.int64)
        if kind == "time":
            parts = [pd.Series(seconds // 3600), pd.Series(seconds % 3600 // 60), pd.Series(seconds % 60)]
            text = parts[0].astype(str).str.zfill(2) + ":" + parts[1].astype(str).str.zfill(2) + ":" \
                + parts[2].astype(str).str.zfill(2)
        else:
            stamps = np.datetime64("1960-01-01T00:00:00", "s") + seconds.astype("timedelta64[s]")
            text = pd.Series(np.datetime_as_string(stamps, unit="D" if kind == "date" else "s"))
        out[var.name] = text.where(ok).astype("str")
    return out


def _data_rows(frame: pd.DataFrame) -> pd.DataFrame:
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    return frame


def as_csv_text(frame: pd.DataFrame) -> pd.DataFrame:
    """A typed table (Parquet, XPT) as the text a CSV export would hold: numbers as the shortest text that reads
    back the same value, so an age stored as the float 63.0 reads "63" as in a CSV; missing stays missing."""
    out = {}
    for c in frame.columns:  # over columns
        col = frame[c]
        if pd.api.types.is_bool_dtype(col):
            col = col.map({True: "true", False: "false"})
        elif pd.api.types.is_numeric_dtype(col):
            arr = pa.array(col.astype("float64").to_numpy(), from_pandas=True)
            col = pd.Series(pc.cast(arr, pa.string()), index=frame.index)
        out[c] = col.astype(str)
    return pd.DataFrame(out, index=frame.index)


def _read_csv(path: Path, form: Form, settings, findings: Findings) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Parse a delimited text file with Arrow; returns the frame and the rows whose field count differs from the
    header's (each kept, with the fields it has, and reported as RAW-FIELDS: nothing is dropped or shifted)."""
    data = path.read_bytes()
    encoding = str(settings.get("encoding", "utf-8"))
    delimiter = str(settings.get("delimiter", ","))
    comment = str(settings.get("comment", "") or "")
    if not data.strip():
        raise InputError(f"{path.name}: the file is empty (expected a header row with {', '.join(form.names[:4])} ...)")
    if data.startswith(b"\xef\xbb\xbf"):
        findings.add(severity="warning", rule_id="RAW-BOM", dataset=form.name,
                     message="file starts with a UTF-8 byte-order mark; it was ignored (save as UTF-8 without BOM)",
                     source=path.name)
        data = data[3:]
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        byte = data[exc.start: exc.start + 1].hex()
        hint = " (the file looks Latin-1/Windows-1252 encoded)" if encoding.lower().replace("-", "") == "utf8" else ""
        raise InputError(f"{path.name}: not valid {encoding} at line {line} (byte 0x{byte}){hint}; save the file as "
                         f"{encoding} or set raw.encoding in study.yaml") from None
    body, skip = _skip_comments(text, comment)
    header = body.lstrip("\r\n").split("\n", 1)[0].rstrip("\r")
    if not header.strip():
        raise InputError(f"{path.name}: no header row after {skip} comment line(s) "
                         f"(expected {delimiter.join(form.names[:4])} ...)")
    if delimiter not in header and len(form.names) > 1:
        seen = [d for d in (";", "\t", "|", ",") if d in header and d != delimiter]
        hint = f"; it looks {seen[0]!r}-delimited" if seen else ""
        raise InputError(f"{path.name}: the header row has no {delimiter!r} delimiter{hint} "
                         f"(study.yaml raw.delimiter is {delimiter!r})")
    names = next(csv.reader([header], delimiter=delimiter))
    bad_rows: list[tuple[int | None, int, int, str]] = []

    def invalid(row) -> str:  # called by Arrow for each row with the wrong number of fields only
        bad_rows.append((row.number, row.expected_columns, row.actual_columns, row.text))
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO(body.encode("utf-8")),
            read_options=pacsv.ReadOptions(use_threads=False, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True, invalid_row_handler=invalid),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False))
    except pa.ArrowException as exc:
        raise InputError(f"{path.name}: cannot be parsed as {delimiter!r}-delimited CSV ({exc})") from None
    frame = table.to_pandas()
    if not bad_rows:
        return _data_rows(frame), None
    return _with_broken_rows(path, frame, bad_rows, delimiter)


def _skip_comments(text: str, comment: str) -> tuple[str, int]:
    """The text after the leading comment lines, and how many there were (only '\n' ends a line here: a value may
    hold any other line-break character)."""
    skip, pos = 0, 0
    while comment and text.startswith(comment, pos):  # over the few banner lines
        end = text.find("\n", pos)
        pos = len(text) if end < 0 else end + 1
        skip += 1
    return text[pos:], skip


def _with_broken_rows(path: Path, frame: pd.DataFrame, bad_rows, delimiter: str):
    """Put the rows Arrow could not align back at their data row number, with the fields they have (by position)."""
    if any(number is None for number, *_ in bad_rows):
        raise InputError(f"{path.name}: rows with the wrong number of fields, at positions the parser cannot tell")
    n = len(frame) + len(bad_rows)
    bad = pd.DataFrame(bad_rows, columns=["row", "expected", "actual", "text"])
    bad["row"] -= 1  # Arrow counts the header as row 1; data rows start at 1
    good_rows = np.setdiff1d(np.arange(1, n + 1), bad["row"].to_numpy())
    frame.index = pd.Index(good_rows, name="row")
    width = len(frame.columns)
    fields = [(next(csv.reader([t], delimiter=delimiter), []) + [""] * width)[:width]  # over the broken rows only
              for t in bad["text"]]
    broken_frame = pd.DataFrame(fields, columns=frame.columns, index=pd.Index(bad["row"].to_numpy(), name="row"),
                                dtype=str)
    frame = pd.concat([frame, broken_frame]).sort_index(kind="stable")
    spans = bad["text"].str.count("\n")
    hint = np.where(bad["actual"] > bad["expected"], f"a value with an unquoted {delimiter!r}, or a shifted row?",
                    "a truncated or broken line?")
    hint = np.where(spans > 0, "an unbalanced quote? the row spans " + (spans + 1).astype(str) + " lines", hint)
    problems = pd.DataFrame({
        "rule_id": "RAW-FIELDS",
        "value": bad["text"].str.slice(0, 120).to_numpy(),
        "expected": bad["expected"].astype(str).to_numpy() + " fields",
        "message": ("row has " + bad["actual"].astype(str) + " fields, the header has "
                    + bad["expected"].astype(str) + " (" + hint + ")").to_numpy(),
    }, index=pd.Index(bad["row"].to_numpy(), name="row"))
    return frame, problems


# ---------------------------------------------------------------------------------------------------------------
# cell and row checks
