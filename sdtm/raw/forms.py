"""Read the raw EDC export: one file per form in forms.yaml, checked against the form dictionary.

A file that cannot be read at all (missing, empty, wrong encoding or delimiter, missing columns) makes the whole
export unusable: every such problem is collected and raised together as one `InputError`.  Problems in single
cells or rows (a required value missing, a number that is not one, an impossible date, a duplicate key, a subject
who was never enrolled, a subject at another site than the enrolment form says (`RAW-SITE`, study.yaml
`raw.site`), non-ASCII text, a row with more or fewer fields than the header: `RAW-FIELDS`) become
findings `RAW-...` naming the form, file, data row (first data row = 1), column and what was expected; the rows
stay in the frame and the mapping decides (strict: stop; reject: the row goes to the reject log).

In memory a form is text: every column a string column with missing as NA, indexed by the data row number.
Date and time fields are also kept converted to ISO 8601 (`RawForm.iso`), numbers as floats (`RawForm.numbers`).
"""

from __future__ import annotations

import csv
import io
import os
import string
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyreadstat

from cdiscflow.core.errors import InputError
from cdiscflow.core.findings import Findings
from cdiscflow.core.parquet_read import read_parquet
from cdiscflow.core.sasformats import format_kind
from cdiscflow.core.xpt_read import read_xpt
from cdiscflow.sdtm.raw import odm
from cdiscflow.sdtm.raw.dates import combine_date_time, parse_date, parse_time
from cdiscflow.core.text import isin, join_columns
from cdiscflow.specs.model import Form, StudySpec

READERS = (".csv", ".parquet", ".xpt", ".sas7bdat")
_INT_RE = r"^[+-]?\d+$"
_FLOAT_RE = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"


@dataclass
class RawForm:
    form: Form
    path: Path
    data: pd.DataFrame  # text, NA for blank, index = data row number (1-based)
    iso: dict[str, pd.Series] = field(default_factory=dict)  # date/time fields as ISO 8601 text
    numbers: dict[str, pd.Series] = field(default_factory=dict)  # integer/float fields as float

    @property
    def name(self) -> str:
        return self.form.name

    @property
    def file(self) -> str:
        return self.path.name

    def __len__(self) -> int:
        return len(self.data)


# (form, data rows, broken rows or None) -> the rows kept: what `read_export(select=...)` calls per form
RowSelection = Callable[[Form, pd.DataFrame, "pd.DataFrame | None"], "tuple[pd.DataFrame, pd.DataFrame | None]"]


@dataclass
class RawExport:
    forms: dict[str, RawForm]
    findings: Findings
    subject_field: str
    roster: str  # the form that enrols subjects (the one DM is mapped from)


def usubjid(spec: StudySpec, frame: pd.DataFrame) -> pd.Series:
    """USUBJID from the study.yaml `raw.usubjid` template, e.g. "{STUDYID}-{SUBJID}" (vectorised)."""
    template = str(spec.study.get("raw", {}).get("usubjid", "{STUDYID}-{SUBJID}"))
    out = pd.Series("", index=frame.index, dtype=str)
    missing = pd.Series(False, index=frame.index)
    for literal, name, _, _ in string.Formatter().parse(template):
        out = out + (literal or "")
        if name is None:
            continue
        if name == "STUDYID":
            out = out + spec.studyid
        else:
            col = frame[name].astype(str)
            missing |= col.isna()
            out = out + col.fillna("")
    return out.mask(missing)


def read_export(spec: StudySpec, raw_dir: str | Path, *, select: RowSelection | None = None) -> RawExport:
    """Read and check every form of the study from `raw_dir`; raise InputError listing every unusable file.

    `raw_dir` may also be an ODM-XML file, or a folder holding ODM files and none of the form files: then each form
    is the table of the item group its forms.yaml `file:` names (sdtm.raw.odm).

    `select` keeps some rows of each form as it is read, before any check (a subject partition, `cdiscflow.scale`):
    it gets the form, its data rows and its broken rows and returns the rows kept, numbered 1..n again."""
    raw_dir = Path(raw_dir)
    if _is_odm_export(spec, raw_dir):
        if select is not None:
            raise InputError(f"{raw_dir}: a partitioned run reads form files (CSV, Parquet, XPT), not ODM-XML yet; "
                             "run without --partitions")
        return _read_odm_export(spec, raw_dir)
    if not raw_dir.is_dir():
        raise InputError(f"raw export folder {raw_dir} does not exist")
    settings = spec.study.get("raw", {})
    subject = str(settings.get("subject", "SUBJID"))
    roster = _roster_form(spec)
    unusable: list[str] = []
    findings = Findings()
    forms: dict[str, RawForm] = {}
    for form in spec.forms.values():
        try:
            path = _locate(raw_dir, form)
            read = getattr(select, "read_file", None) or _read_file  # a partition may get its rows already read
            frame, broken = read(path, form, settings, findings)
            if select is not None:
                frame, broken = select(form, frame, broken)
        except InputError as exc:
            unusable.append(str(exc))
            continue
        forms[form.name] = _check_form(spec, RawForm(form, path, frame), findings, broken)
    if unusable:
        head = f"raw export {raw_dir}: {len(unusable)} file(s) cannot be used"
        raise InputError(head + "\n" + "\n".join(f"  - {u}" for u in unusable))
    _check_enrolled(spec, forms, roster, subject, findings)
    if settings.get("site"):
        _check_site(spec, forms, roster, subject, str(settings["site"]), findings)
    return RawExport(forms, findings, subject, roster)


# ---------------------------------------------------------------------------------------------------------------
# ODM-XML


def _is_odm_export(spec: StudySpec, raw: Path) -> bool:
    if raw.is_file():
        return raw.suffix.lower() == ".xml"
    if not raw.is_dir() or any((raw / f.file).is_file() for f in spec.forms.values()):
        return False
    return bool(odm.odm_files(raw))


def odm_group_for(form: Form, export: odm.OdmExport) -> str | None:
    """The item group a form reads: forms.yaml `file:` is its ItemGroupOID or Name (an extension such as .csv is
    ignored, case too)."""
    wanted = {form.file.lower(), Path(form.file).stem.lower(), form.name.lower()}
    by_oid = [g for g in export.tables if g.lower() == form.file.lower()]
    if by_oid:
        return by_oid[0]
    for oid, group in export.metadata.item_groups.items():  # over the item groups of the metadata
        if group.name.lower() in wanted or oid.lower() in wanted:
            return oid
    return None


def _read_odm_export(spec: StudySpec, raw: Path) -> RawExport:
    files = odm.odm_files(raw)
    if not files:
        raise InputError(f"{raw}: no ODM-XML file (an .xml file whose root element is ODM)")
    export = odm.read_odm(files)
    settings = spec.study.get("raw", {})
    subject = str(settings.get("subject", "SUBJID"))
    roster = _roster_form(spec)
    findings = Findings()
    unusable: list[str] = []
    forms: dict[str, RawForm] = {}
    used: dict[str, str] = {}
    source = files[0] if len(files) == 1 else raw
    for form in spec.forms.values():
        group = odm_group_for(form, export)
        if group is None:
            unusable.append(f"{form.file}: no ItemGroup of the ODM export is form {form.name!r} ({form.label}); the "
                            f"export has {', '.join(list(export.tables)[:12]) or 'none'}")
            continue
        used[group] = form.name
        try:
            frame = _odm_frame(export, group, form, findings, source.name)
        except InputError as exc:
            unusable.append(str(exc))
            continue
        forms[form.name] = _check_form(spec, RawForm(_odm_typed(form, export, group), source, frame), findings)
    if unusable:
        head = f"raw export {raw}: {len(unusable)} form(s) cannot be read from the ODM export"
        raise InputError(head + "\n" + "\n".join(f"  - {u}" for u in unusable))
    _odm_findings(export, used, findings)
    _check_enrolled(spec, forms, roster, subject, findings)
    return RawExport(forms, findings, subject, roster)


def _odm_frame(export: odm.OdmExport, group: str, form: Form, findings: Findings, source: str) -> pd.DataFrame:
    frame = export.tables[group]
    missing = [f for f in form.names if f not in frame.columns]
    if missing:
        raise InputError(f"{form.file}: item group {group} has no item(s) {', '.join(missing)} that forms.yaml "
                         f"declares for form {form.name!r}; it has {', '.join(frame.columns[:12])}")
    extra = [c for c in frame.columns if c not in form.names and c not in odm.KEY_COLUMNS]
    for c in extra:
        findings.add(severity="warning", rule_id="RAW-EXTRA-COLUMN", dataset=form.name, variable=c,
                     message=f"item {c} of item group {group} is not in forms.yaml for form {form.name!r}; "
                             "it is not mapped", source=source)
    frame = frame[list(form.names)]
    frame = frame.apply(lambda col: col.astype(str).str.strip().mask(col.isna()))  # over columns
    return frame.mask(frame == "")


def _odm_typed(form: Form, export: odm.OdmExport, group: str) -> Form:
    """The form as forms.yaml declares it, except that an item the ODM metadata types as an ISO 8601 date is read
    as one (the sender's metadata, not the spec's guess of a display format)."""
    names = export.column_names(group)
    iso = {names[oid] for oid, item in export.metadata.items.items()
           if oid in names and item.datatype in ("date", "partialDate")}
    fields = tuple(replace(f, format="YYYY-MM-DD") if f.name in iso and f.datatype == "date" else f
                   for f in form.fields)
    return replace(form, fields=fields)


def _odm_findings(export: odm.OdmExport, used: dict[str, str], findings: Findings) -> None:
    """The reader's problems as findings on the form's rows (rows with errors go to the reject log), and a note of
    what was skipped as not data."""
    for p in export.problems:  # over the problems found (few)
        form = used.get(p.group, "")
        severity = p.severity if form or not p.group else "warning"
        unused = "" if form or not p.group else f" (item group {p.group} is not read by any form)"
        findings.add(severity=severity, rule_id=p.rule_id, dataset=form or p.group, variable=p.oid,
                     subject=p.subject, row=p.row if form else None, value=p.value, expected="",
                     message=f"line {p.line}: {p.message}{unused}", source=p.file)
    for group, table in export.tables.items():  # over the item groups
        if group not in used and len(table):
            findings.add(severity="note", rule_id="ODM-UNUSED-GROUP", dataset=group,
                         message=f"item group {group} ({len(table)} rows) is not read by any form of forms.yaml")
    for what, n in sorted(export.ignored.items()):
        findings.add(severity="note", rule_id="ODM-IGNORED", variable=what, value=n,
                     message=f"{n} {what} element(s) skipped: not clinical data")
    for group, n in sorted(export.removed.items()):
        findings.add(severity="note", rule_id="ODM-REMOVED", dataset=used.get(group, group), value=n,
                     message=f"{n} row(s) of item group {group} removed by TransactionType Remove")


# ---------------------------------------------------------------------------------------------------------------
# files


def _roster_form(spec: StudySpec) -> str:
    dm = spec.mappings.get("DM")
    if dm is None or not dm.blocks:
        raise InputError("the study maps no DM dataset, so no form says which subjects are enrolled")
    return dm.blocks[0].form


def form_file_problem(form: Form) -> str | None:
    """forms.yaml `file:` must name a file inside the raw export folder: no absolute path, no '..'."""
    posix, windows = PurePosixPath(form.file), PureWindowsPath(form.file)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or ".." in windows.parts or not form.file:
        return (f"forms.yaml form {form.name} file {form.file!r}: must be a file name inside the raw export folder "
                "(no absolute path, no '..')")
    return None


def _locate(raw_dir: Path, form: Form) -> Path:
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


def _read_file(path: Path, form: Form, settings, findings: Findings) -> tuple[pd.DataFrame, pd.DataFrame | None]:
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
    frame = frame.apply(lambda col: col.astype(str).str.strip())  # over columns
    frame = frame.mask(frame == "")
    return frame, broken


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


def _bad_rows(findings: Findings, raw: RawForm, mask: pd.Series, rule_id: str, variable: str, expected: str,
              message: str, subject: pd.Series, values: pd.Series | None = None, severity: str = "error") -> None:
    """Add one finding per row where `mask` is true (vectorised)."""
    if not mask.any():
        return
    idx = mask[mask].index
    frame = pd.DataFrame({
        "severity": severity, "rule_id": rule_id, "dataset": raw.name, "variable": variable,
        "subject": subject.reindex(idx).fillna("").astype(str).to_numpy(), "row": idx.to_numpy(),
        "value": (values if values is not None else raw.data[variable]).reindex(idx).fillna("").astype(str).to_numpy(),
        "expected": expected, "source": raw.file,
    })
    frame["message"] = message if isinstance(message, str) else message.reindex(idx).to_numpy()
    findings.extend(frame)


def _check_form(spec: StudySpec, raw: RawForm, findings: Findings, broken: pd.DataFrame | None = None) -> RawForm:
    data = raw.data
    subject_field = str(spec.study.get("raw", {}).get("subject", "SUBJID"))
    subject = usubjid(spec, data) if subject_field in data else pd.Series("", index=data.index)
    if broken is not None:
        _bad_rows(findings, raw, pd.Series(data.index.isin(broken.index), index=data.index), "RAW-FIELDS", "",
                  broken["expected"].iloc[0], broken["message"].reindex(data.index), subject,
                  values=broken["value"].reindex(data.index))
    for f in raw.form.fields:
        col = data[f.name]
        present = col.notna()
        nonascii = present & col.str.contains(r"[^\x00-\x7f]", regex=True, na=False)
        _bad_rows(findings, raw, nonascii, "RAW-NONASCII", f.name, "ASCII text",
                  f"{f.name} has non-ASCII characters; SAS XPT v5 carries ASCII only (replace them at the source)",
                  subject)
        if f.required:
            _bad_rows(findings, raw, ~present, "RAW-REQUIRED", f.name, "a value",
                      f"required field {f.name} ({f.label}) is blank", subject)
        if f.datatype in ("integer", "float"):
            pattern = _INT_RE if f.datatype == "integer" else _FLOAT_RE
            ok = col.str.match(pattern, na=False)
            _bad_rows(findings, raw, present & ~ok, "RAW-TYPE", f.name, f"{f.datatype} number",
                      f"{f.name} ({f.label}) is not a{'n' if f.datatype == 'integer' else ''} {f.datatype}", subject)
            number = pd.to_numeric(col.where(ok), errors="coerce").astype("float64")
            huge = ok & ~np.isfinite(number)  # 1e400, or 400 digits: no floating-point number holds it
            _bad_rows(findings, raw, huge, "RAW-TYPE", f.name, f"{f.datatype} number",
                      f"{f.name} ({f.label}) is too large to store as a number", subject)
            raw.numbers[f.name] = number.where(~huge)
        elif f.datatype in ("date", "time", "datetime"):
            converted = _convert_datetime(col, f.datatype, f.format)
            bad = converted.problem.notna()
            msg = (f"{f.name} ({f.label}) " + converted.problem.astype(str)) if bad.any() else ""
            rule = "RAW-TIME" if f.datatype == "time" else "RAW-DATE"
            _bad_rows(findings, raw, bad, rule, f.name, f.format, msg, subject)
            raw.iso[f.name] = converted.iso
    keys = [k for k in raw.form.keys if k in data]
    if keys:
        complete = data[keys].notna().all(axis=1)
        dup = complete & data.duplicated(keys, keep=False)
        if dup.any():
            rows = pd.Series(data.index, index=data.index)[dup]
            group = join_columns(data.loc[dup, keys], "|")
            others = rows.groupby(group).transform(lambda r: ", ".join(map(str, r)))  # over duplicate groups
            key_text = join_columns(data.loc[dup, keys], ", ", names=True)
            msg = "duplicate key " + key_text + " (rows " + others + ")"
            _bad_rows(findings, raw, dup, "RAW-DUPKEY", ", ".join(keys), "unique key " + ", ".join(keys),
                      msg.reindex(data.index), subject, values=key_text.reindex(data.index))
    return raw


def _convert_datetime(col: pd.Series, datatype: str, fmt: str):
    if datatype == "date":
        return parse_date(col, fmt)
    if datatype == "time":
        return parse_time(col, fmt)
    date_fmt, _, time_fmt = fmt.partition(" ")
    date_text, _, time_text = col.str.partition(" ").T.values if len(col) else (col, None, col)
    d = parse_date(pd.Series(date_text, index=col.index), date_fmt)
    t = parse_time(pd.Series(time_text, index=col.index).replace("", np.nan), time_fmt or "HH:MM")
    iso = combine_date_time(d.iso, t.iso)
    problem = d.problem.fillna(t.problem)
    return type(d)(iso, problem)


def _check_enrolled(spec: StudySpec, forms: dict[str, RawForm], roster: str, subject: str, findings: Findings) -> None:
    if roster not in forms:
        return
    enrolled = forms[roster].data[subject].dropna()
    for name, raw in forms.items():
        if name == roster or subject not in raw.data:
            continue
        col = raw.data[subject]
        stranger = col.notna() & ~isin(col, enrolled)
        _bad_rows(findings, raw, stranger, "RAW-NOT-ENROLLED", subject, f"a subject in {forms[roster].file}",
                  f"subject {subject} is not enrolled (no row in {forms[roster].file})", usubjid(spec, raw.data))


def _check_site(spec: StudySpec, forms: dict[str, RawForm], roster: str, subject: str, site: str,
                findings: Findings) -> None:
    """Every form's site of a subject is the site the enrolment form gives (a subject has one SITEID in DM)."""
    if roster not in forms or site not in forms[roster].data or subject not in forms[roster].data:
        return
    enrolled = forms[roster].data[[subject, site]].dropna().drop_duplicates(subject)
    site_of = pd.Series(enrolled[site].to_numpy(), index=enrolled[subject].to_numpy())
    for name, raw in forms.items():
        if name == roster or subject not in raw.data or site not in raw.data:
            continue
        expected = raw.data[subject].map(site_of)
        other = raw.data[site].notna() & expected.notna() & (raw.data[site] != expected)
        if not other.any():
            continue
        message = (f"subject {subject} " + raw.data[subject].astype(str) + f" is at {site} "
                   + expected.astype(str) + f" in {forms[roster].file}, not " + raw.data[site].astype(str))
        _bad_rows(findings, raw, other.fillna(False).astype(bool), "RAW-SITE", site,
                  f"the subject's {site} in {forms[roster].file}", message, usubjid(spec, raw.data))
