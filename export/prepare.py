"""Make one in-memory dataset ready for submission, step by step from the study spec (in the spirit of xportr).

    dataset name and label -> variables (spec vs data) -> per variable: label, format, type, then
    numbers (range, whole) or text (length, 200 bytes, ASCII, control characters) -> order

Each step reads the spec, fixes what is safe to fix and records every breach as a finding (`XPT-...` rule IDs)
showing both sides, e.g. "AESEV: type in data numeric, type in spec text".  Nothing is cut, rounded or recoded
silently: a breach that would change or lose data is an error, and a dataset with errors is not written.

The result carries the frame in spec order with clean dtypes and the column metadata of what will be written:
character lengths are the longest actual value in bytes (FDA), never the spec's planned length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cdiscflow.core.findings import Findings
from cdiscflow.export.meta import ColumnMeta, DatasetMeta
from cdiscflow.core.xpt_limits import MAX_VALUE_BYTES, MAX_IBM, MIN_IBM
from cdiscflow.export.xpt import format_kind, is_text_category, parse_format, text_categories
from cdiscflow.specs.model import NAME_RE, Dataset, Variable

MAX_LABEL = 40
_SHOW = 60  # characters of an offending value quoted in a finding


@dataclass(frozen=True)
class Prepared:
    """A dataset ready to write: frame in spec order, the metadata of what is written, and whether errors block it."""

    name: str
    standard: str
    frame: pd.DataFrame
    meta: DatasetMeta
    blocked: bool  # True when the dataset has error findings and must not be written


class _Report:
    """Findings of one dataset; knows the subject of every row so per-value findings name it."""

    def __init__(self, findings: Findings, dataset: str, frame: pd.DataFrame):
        self.findings = findings
        self.dataset = dataset
        self.errors = 0
        self.usubjid = frame["USUBJID"] if "USUBJID" in frame.columns else None

    def subjects(self, idx: np.ndarray) -> np.ndarray:
        """The subject (USUBJID, "" when missing or absent) of the rows at positions `idx`."""
        if self.usubjid is None:
            return np.full(len(idx), "", dtype=object)
        picked = self.usubjid.iloc[idx].astype(object)
        return picked.where(picked.notna(), "").astype(str).to_numpy()

    def add(self, severity: str, rule: str, message: str, variable: str = "", value: object = "",
            expected: object = "") -> None:
        self.errors += severity == "error"
        self.findings.add(severity=severity, rule_id=rule, dataset=self.dataset, variable=variable, value=value,
                          expected=expected, message=message, source="export")

    def rows(self, severity: str, rule: str, variable: str, mask: np.ndarray, values: pd.Series | np.ndarray,
             message: str | Callable[[np.ndarray], object], expected: str = "") -> None:
        """One finding per flagged row: subject, 1-based record number, the value and the message.

        `message` is a text, or a function of the flagged row positions returning one text per flagged row (so
        messages are built for the breaches only, column-wise).
        """
        idx = np.flatnonzero(mask)
        if not len(idx):
            return
        self.errors += len(idx) * (severity == "error")
        picked = values.iloc[idx].to_numpy(dtype=object) if isinstance(values, pd.Series) else np.asarray(values)[idx]
        vals = pd.Series(picked, dtype=object).astype(str)
        shown = vals.where(vals.str.len() <= _SHOW, vals.str.slice(0, _SHOW) + "...")
        text = message(idx) if callable(message) else message
        self.findings.extend(pd.DataFrame({
            "severity": severity, "rule_id": rule, "dataset": self.dataset, "variable": variable,
            "subject": self.subjects(idx), "row": idx + 1, "value": shown.to_numpy(),
            "expected": expected, "message": np.asarray(text, dtype=object) if np.ndim(text) else text,
            "source": "export",
        }))


# ----------------------------------------------------------------------------------------------------------------
# the steps


def select_variables(frame: pd.DataFrame, ds: Dataset, report: _Report) -> list[Variable]:
    """Spec variables present in the data; columns the spec does not declare and missing Req/Exp variables are errors."""
    dupes = frame.columns[frame.columns.duplicated()].unique()
    for name in dupes:
        report.add("error", "XPT-VAR-DUPLICATE", f"{name}: column appears more than once in the data", name)
    declared = set(ds.names)
    for name in frame.columns:
        if name not in declared:
            report.add("error", "XPT-VAR-NOT-IN-SPEC",
                       f"{name}: column in the data is not a variable of {ds.name} in variables.csv", str(name),
                       expected=f"one of {', '.join(ds.names)}")
    present = []
    for v in ds.variables:
        if v.name in frame.columns:
            present.append(v)
        elif v.core in ("Req", "Exp"):
            report.add("error", "XPT-VAR-MISSING",
                       f"{v.name}: {v.core} variable of {ds.name} is missing from the data", v.name, expected=v.core)
        else:
            report.add("note", "XPT-VAR-OMITTED",
                       f"{v.name}: {v.core or 'non-required'} variable not in the data; left out of the files and define.xml",
                       v.name)
    return present


def _data_type(col: pd.Series) -> str:
    """How a column's data look, in the spec's words."""
    kind = col.dtype.kind
    if pd.api.types.is_bool_dtype(col.dtype):
        return "boolean"
    if kind in "iuf":
        return "numeric"
    if kind == "M":
        return "datetime64"
    if kind == "m":
        return "timedelta64"
    if pd.api.types.is_string_dtype(col.dtype) and col.dtype != object:
        return "text" if col.count() else "empty"
    nonnull = col.dropna()
    if nonnull.empty:
        return "empty"
    if pd.api.types.is_string_dtype(col.dtype) and col.dtype != object:
        return "text"
    kinds = set(pd.api.types.infer_dtype(nonnull, skipna=True).split("-"))
    if kinds <= {"string"}:
        return "text"
    if kinds & {"integer", "floating", "decimal", "mixed"} and pd.to_numeric(nonnull, errors="coerce").notna().all():
        return "numeric"
    return pd.api.types.infer_dtype(nonnull, skipna=True)


def coerce_type(col: pd.Series, var: Variable, report: _Report) -> pd.Series | None:
    """Return the column with the spec's type (text: str with NaN; numbers: float64, datetime64 or timedelta64).

    None when the data cannot take the spec's type without a change of meaning (reported as XPT-TYPE).
    """
    if is_text_category(col) and not var.is_numeric:  # compacted text stays compact: blanks become missing
        blank = _blank_strings(text_categories(col)[1])
        return col.cat.remove_categories(col.cat.categories[blank]) if blank.any() else col
    if isinstance(col.dtype, pd.CategoricalDtype):
        col = col.astype(object)
    have = _data_type(col)
    kind = format_kind(var.display_format) if var.is_numeric else ""
    if have == "empty":
        return col.astype("str") if not var.is_numeric else pd.Series(np.nan, index=col.index, dtype="float64")
    if not var.is_numeric:
        if have != "text":
            report.add("error", "XPT-TYPE", f"{var.name}: type in data {have}, type in spec {var.datatype}",
                       var.name, value=have, expected=var.datatype)
            return None
        text = col.astype("str")
        blank = _blank(text)
        return text.mask(blank) if blank.any() else text
    wanted = f"{var.datatype}{' with ' + var.display_format if var.display_format else ''}"
    if have == "datetime64":
        if kind not in ("date", "datetime"):
            report.add("error", "XPT-TYPE", f"{var.name}: type in data date/datetime, type in spec {wanted} "
                       "(give a date format such as DATE9. or DATETIME20. in variables.csv)", var.name,
                       value=have, expected=wanted)
            return None
        if getattr(col.dtype, "tz", None) is not None:
            col = col.dt.tz_localize(None)
        if kind == "date":
            timed = (col.notna() & (col != col.dt.normalize())).to_numpy()
            if timed.any():  # the values as text (the whole column's format) only when some are shown
                report.rows("warning", "XPT-DATE-TIME", var.name, timed, col.astype(str),
                            f"{var.name}: value has a time of day; {var.display_format} keeps the date only")
        return col
    if have == "timedelta64":
        if kind != "time":
            report.add("error", "XPT-TYPE", f"{var.name}: type in data time, type in spec {wanted}", var.name,
                       value=have, expected=wanted)
            return None
        return col
    if have in ("numeric", "boolean"):
        return pd.to_numeric(col, errors="raise").astype("float64")
    report.add("error", "XPT-TYPE", f"{var.name}: type in data {have}, type in spec {wanted}", var.name,
               value=have, expected=wanted)
    return None


def _blank(text: pd.Series) -> np.ndarray:
    """Which values are empty or whitespace only (`str.strip() == ""`), judged once per distinct value."""
    arr = text.array
    if not hasattr(arr, "_pa_array"):  # not Arrow-backed: pandas' own strip, row by row
        return (text.str.strip() == "").to_numpy()
    encoded = pc.dictionary_encode(arr._pa_array.combine_chunks())
    blank = pc.equal(pc.utf8_trim_whitespace(encoded.dictionary), "").to_numpy(zero_copy_only=False)
    return np.append(blank, False)[pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)]


_ASCII_BLANK = r"^[\t\n\x0b\x0c\r\x1c-\x1f ]*$"  # what Python's str.strip() removes, among ASCII characters


def _blank_strings(strings: pa.Array) -> np.ndarray:
    """Which of these (distinct) texts are empty or whitespace only, exactly as `str.strip() == ""` says: ASCII
    texts by a regular expression over the whole array, the few others by Python's strip."""
    blank = pc.match_substring_regex(strings, _ASCII_BLANK).to_numpy(zero_copy_only=False)
    other = np.flatnonzero(~pc.string_is_ascii(strings).to_numpy(zero_copy_only=False))
    if len(other):
        text = pd.Series(strings.take(pa.array(other)).to_pylist(), dtype=object)
        blank[other] = (text.str.strip() == "").to_numpy()
    return blank


def check_numbers(col: pd.Series, var: Variable, report: _Report) -> None:
    """Numbers an XPT cannot hold (infinite, beyond the IBM range) and non-whole values of integer variables."""
    if col.dtype.kind != "f":
        return
    x = col.to_numpy()
    size = np.abs(np.nan_to_num(x, nan=1.0, posinf=np.inf, neginf=np.inf))
    report.rows("error", "XPT-NUMBER", var.name, size >= MAX_IBM, x,
                f"{var.name}: value cannot be stored in a SAS transport file", expected=f"magnitude below {MAX_IBM:.4g}")
    report.rows("warning", "XPT-NUMBER", var.name, (size > 0) & (size < MIN_IBM), x,
                f"{var.name}: value is too small for a SAS transport file and is stored as 0",
                expected=f"0 or magnitude from {MIN_IBM:.4g}")
    if var.datatype == "integer" and not format_kind(var.display_format):
        frac = np.isfinite(x) & (x != np.round(x))
        report.rows("error", "XPT-INTEGER", var.name, frac, x,
                    f"{var.name}: value is not a whole number; type in spec integer", expected="whole number")


def check_text(col: pd.Series, var: Variable, report: _Report) -> int:
    """Byte lengths, the FDA limits (200 bytes, ASCII) and the spec length; returns the length to write."""
    # judged once per distinct value (categories, or the text dictionary-encoded); only a check that some value in
    # the data fails looks at the rows (each row takes its value's result by code)
    if is_text_category(col):
        codes, strings = text_categories(col)
        used = np.bincount(codes.astype(np.int64) + 1, minlength=len(strings) + 1)[1:] > 0  # categories in the data
    else:
        arr = pa.array(col, from_pandas=True, type=pa.large_string())
        if isinstance(arr, pa.ChunkedArray):  # a column concatenated from several frames comes in chunks
            arr = arr.combine_chunks()
        encoded = pc.dictionary_encode(arr)
        codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
        strings = encoded.dictionary
        used = np.ones(len(strings), dtype=bool)

    def per_row(result: np.ndarray, missing) -> np.ndarray:
        return np.append(result, missing)[codes]  # code -1 (missing) picks the appended value

    def rows_text(i: np.ndarray) -> pa.Array:
        return strings.take(pa.array(codes[i]))
    lengths = pc.binary_length(strings).to_numpy(zero_copy_only=False).astype(np.int64)  # distinct: no nulls
    values = col

    def sizes(i: np.ndarray) -> np.ndarray:
        return per_row(lengths, 0)[i].astype(str).astype(object)

    too_long = lengths > MAX_VALUE_BYTES
    if (too_long & used).any():
        report.rows("error", "XPT-VALUE-200", var.name, per_row(too_long, False), values,
                    lambda i: f"{var.name}: value is " + sizes(i) + f" bytes; XPT character values hold at most "
                              f"{MAX_VALUE_BYTES}", expected=f"<= {MAX_VALUE_BYTES} bytes")
    if var.length is not None:
        over = (lengths > var.length) & ~too_long
        if (over & used).any():
            report.rows("error", "XPT-LENGTH", var.name, per_row(over, False), values,
                        lambda i: f"{var.name}: value is " + sizes(i) + f" bytes, length in spec {var.length}",
                        expected=f"<= {var.length} bytes")
    ascii_ok = pc.fill_null(pc.string_is_ascii(strings), True).to_numpy(zero_copy_only=False)
    if (~ascii_ok & used).any():
        def non_ascii(i: np.ndarray) -> np.ndarray:
            first = pc.extract_regex(rows_text(i), r"(?P<c>[^\x00-\x7F])").field("c")
            chars = np.asarray(first.to_numpy(zero_copy_only=False), dtype="U1")
            codes = np.char.mod("%04X", chars.view(np.uint32))
            return np.char.add(np.char.add(np.char.add(f"{var.name}: non-ASCII character '", chars), "' U+"),
                               np.char.add(codes, "; XPT v5 values must be ASCII")).astype(object)
        report.rows("error", "XPT-ASCII", var.name, ~per_row(ascii_ok, True), values, non_ascii, expected="ASCII only")
    control = pc.fill_null(pc.match_substring_regex(strings, r"[\x00-\x1F\x7F]"), False).to_numpy(zero_copy_only=False)
    if (control & used).any():
        report.rows("warning", "XPT-CONTROL", var.name, per_row(control, False), values,
                    f"{var.name}: value contains a control character (tab, line break ...)", expected="printable text")
    return max(1, int(lengths[used].max()) if used.any() else 1)


def check_label(text: str, what: str, report: _Report, variable: str = "") -> None:
    if len(text) > MAX_LABEL:
        report.add("error", "XPT-LABEL", f"{what} label is {len(text)} characters (max {MAX_LABEL}): {text!r}",
                   variable, value=text, expected=f"<= {MAX_LABEL} characters")
    if not text.isascii():
        report.add("error", "XPT-LABEL", f"{what} label has non-ASCII characters: {text!r}", variable, value=text,
                   expected="ASCII only")
    if not text:
        report.add("warning", "XPT-LABEL", f"{what} has no label", variable)


def check_format(var: Variable, report: _Report) -> None:
    fmt = var.display_format
    if not fmt:
        return
    try:
        name, _, _ = parse_format(fmt)
    except ValueError as exc:
        report.add("error", "XPT-FORMAT", f"{var.name}: {exc}", var.name, value=fmt)
        return
    if len(name) > 8:
        report.add("error", "XPT-FORMAT", f"{var.name}: format name {name} is longer than 8 characters (XPT v5)",
                   var.name, value=fmt)
    if not var.is_numeric and format_kind(fmt):
        report.add("error", "XPT-FORMAT", f"{var.name}: {fmt} is a numeric date format but the spec type is "
                   f"{var.datatype} (character)", var.name, value=fmt, expected="integer")


# ----------------------------------------------------------------------------------------------------------------
# the chain


def prepare_dataset(frame: pd.DataFrame, ds: Dataset, findings: Findings) -> Prepared:
    """Run the steps for one dataset and return it ready to write (or blocked, with the reasons in `findings`)."""
    report = _Report(findings, ds.name, frame)
    if not NAME_RE.match(ds.name):
        report.add("error", "XPT-NAME", f"dataset name {ds.name!r} is not a SAS V5 name (1-8 of A-Z, 0-9, _)")
    check_label(ds.label, f"dataset {ds.name}", report)

    variables = select_variables(frame, ds, report)
    frame = frame.loc[:, ~frame.columns.duplicated()]  # duplicates are reported; check the first of each
    columns: dict[str, pd.Series] = {}
    metas: list[ColumnMeta] = []
    for var in variables:
        check_label(var.label, var.name, report, var.name)
        check_format(var, report)
        col = coerce_type(frame[var.name], var, report)
        if col is None:
            continue
        if var.is_numeric:
            check_numbers(col, var, report)
            length = 8
        else:
            length = check_text(col, var, report)
        columns[var.name] = col
        key = ds.keys.index(var.name) + 1 if var.name in ds.keys else None
        metas.append(ColumnMeta(var.name, var.label, var.datatype, length, var.display_format, key,
                                f"IT.{ds.name}.{var.name}"))
    in_data = [c for c in frame.columns if c in columns]
    if in_data != list(columns):
        report.add("note", "XPT-ORDER", f"columns put in spec order ({', '.join(list(columns)[:6])} ...)")
    out = pd.DataFrame(columns, index=frame.index).reset_index(drop=True)
    meta = DatasetMeta(ds.name, ds.label, tuple(metas), format="spec", item_group_oid=f"IG.{ds.name}")
    return Prepared(ds.name, ds.standard, out, meta, blocked=report.errors > 0)

