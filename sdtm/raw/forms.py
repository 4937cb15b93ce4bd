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
import string
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cdiscflow.core.errors import InputError
from cdiscflow.core.findings import Findings
from cdiscflow.core.text import arrow
from cdiscflow.sdtm.raw import odm
from cdiscflow.sdtm.raw.dates import Converted, combine_date_time, parse_date, parse_time
from cdiscflow.sdtm.raw.files import locate, read_file
from cdiscflow.core.text import arrow, isin, join_columns, join_text, lookup
from cdiscflow.specs.model import Form, StudySpec

_INT_RE = r"^[+-]?\d+$"
_FLOAT_RE = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"


@dataclass
class RawForm:
    form: Form
    path: Path
    data: pd.DataFrame  # text, NA for blank, index = data row number (1-based)
    iso: dict[str, pd.Series] = field(default_factory=dict)  # date/time fields as ISO 8601 text
    numbers: dict[str, pd.Series] = field(default_factory=dict)  # integer/float fields as float
    subjects: pd.Series | None = None  # USUBJID per row, formatted once when the form is checked (form_usubjid)

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
    """USUBJID from the study.yaml `raw.usubjid` template, e.g. "{STUDYID}-{SUBJID}" (vectorised).  When the
    template reads one raw field, each distinct value of it is formatted once and taken back to the rows by code."""
    template = str(spec.study.get("raw", {}).get("usubjid", "{STUDYID}-{SUBJID}"))
    fields = {name for _, name, _, _ in string.Formatter().parse(template) if name not in (None, "STUDYID")}
    name = next(iter(fields)) if len(fields) == 1 else None
    if name is not None and name in frame and frame[name].dtype == "str" and len(frame) > 1:
        codes, distinct = pd.factorize(frame[name], use_na_sentinel=False)  # missing is one of the values
        text = _usubjid_rows(spec, template, pd.DataFrame({name: distinct}))
        return pd.Series(text.array.take(codes), index=frame.index)
    return _usubjid_rows(spec, template, frame)


def form_usubjid(spec: StudySpec, raw: RawForm) -> pd.Series:
    """USUBJID of each row of a raw form: formatted once when the form was checked (`RawForm.subjects`, kept by
    every subset of its rows), else now."""
    return raw.subjects if raw.subjects is not None else usubjid(spec, raw.data)


def _usubjid_rows(spec: StudySpec, template: str, frame: pd.DataFrame) -> pd.Series:
    """`usubjid` row by row: the formatting itself, the template's literals and fields joined in one Arrow call
    (missing where a field is missing)."""
    parts: list = []
    for literal, name, _, _ in string.Formatter().parse(template):
        if literal:
            parts.append(literal)
        if name is not None:
            parts.append(spec.studyid if name == "STUDYID" else frame[name])
    return join_text(parts, frame.index)


def read_export(spec: StudySpec, raw_dir: str | Path, *, select: RowSelection | None = None) -> RawExport:
    """Read and check every form of the study from `raw_dir`; raise InputError listing every unusable file.

    `raw_dir` may also be an ODM-XML file, or a folder holding ODM files and none of the form files: then each form
    is the table of the item group its forms.yaml `file:` names (sdtm.raw.odm).

    `select` keeps some rows of each form as it is read, before any check (a subject partition, `cdiscflow.scale`):
    it gets the form, its data rows and its broken rows and returns the rows kept, numbered 1..n again."""
    raw_dir = Path(raw_dir)
    if is_odm_export(spec, raw_dir):
        if select is not None:
            raise InputError(f"{raw_dir}: a partitioned run reads form files (CSV, Parquet, XPT), not ODM-XML yet; "
                             "run without --partitions")
        return _read_odm_export(spec, raw_dir)
    if not raw_dir.is_dir():
        raise InputError(f"raw export folder {raw_dir} does not exist")
    settings = spec.study.get("raw", {})
    subject = str(settings.get("subject", "SUBJID"))
    roster = roster_form(spec)
    unusable: list[str] = []
    findings = Findings()
    forms: dict[str, RawForm] = {}
    broken_rows: dict[str, pd.DataFrame | None] = {}
    for form in spec.forms.values():
        try:
            path = locate(raw_dir, form)
            read = getattr(select, "read_file", None) or read_file  # a partition may get its rows already read
            frame, broken = read(path, form, settings, findings)
            if select is not None:
                frame, broken = select(form, frame, broken)
        except InputError as exc:
            unusable.append(str(exc))
            continue
        forms[form.name], broken_rows[form.name] = RawForm(form, path, frame), broken
    if unusable:
        head = f"raw export {raw_dir}: {len(unusable)} file(s) cannot be used"
        raise InputError(head + "\n" + "\n".join(f"  - {u}" for u in unusable))
    dates = _dates_together(list(forms.values()))
    for name, raw in forms.items():  # over forms
        _check_form(spec, raw, findings, broken_rows[name], dates)
    _check_enrolled(spec, forms, roster, subject, findings)
    if settings.get("site"):
        _check_site(spec, forms, roster, subject, str(settings["site"]), findings)
    return RawExport(forms, findings, subject, roster)


# ---------------------------------------------------------------------------------------------------------------
# ODM-XML


def is_odm_export(spec: StudySpec, raw: Path) -> bool:
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
    roster = roster_form(spec)
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
        forms[form.name] = RawForm(_odm_typed(form, export, group), source, frame)
    if unusable:
        head = f"raw export {raw}: {len(unusable)} form(s) cannot be read from the ODM export"
        raise InputError(head + "\n" + "\n".join(f"  - {u}" for u in unusable))
    dates = _dates_together(list(forms.values()))
    for raw_form in forms.values():  # over forms
        _check_form(spec, raw_form, findings, None, dates)
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


def roster_form(spec: StudySpec) -> str:
    dm = spec.mappings.get("DM")
    if dm is None or not dm.blocks:
        raise InputError("the study maps no DM dataset, so no form says which subjects are enrolled")
    return dm.blocks[0].form


def _bad_rows(findings: Findings, raw: RawForm, mask: pd.Series | np.ndarray, rule_id: str, variable: str,
              expected: str, message: str, subject: pd.Series, values: pd.Series | None = None,
              severity: str = "error") -> None:
    """Add one finding per row where `mask` (booleans per row of the form, in its order) is true (vectorised)."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return
    idx = raw.data.index[mask]
    frame = pd.DataFrame({
        "severity": severity, "rule_id": rule_id, "dataset": raw.name, "variable": variable,
        "subject": subject.reindex(idx).fillna("").astype(str).to_numpy(), "row": idx.to_numpy(),
        "value": (values if values is not None else raw.data[variable]).reindex(idx).fillna("").astype(str).to_numpy(),
        "expected": expected, "source": raw.file,
    })
    frame["message"] = message if isinstance(message, str) else message.reindex(idx).to_numpy()
    findings.extend(frame)


def _check_form(spec: StudySpec, raw: RawForm, findings: Findings, broken: pd.DataFrame | None = None,
                dates: Mapping[tuple[str, str], Converted] | None = None) -> RawForm:
    """Every field of a form checked (RAW-... findings) and its dates, times and numbers converted (`raw.iso`,
    `raw.numbers`, in place); `dates`: the date and time fields already converted ({(form, field): Converted},
    `_dates_together`)."""
    data = raw.data
    subject_field = str(spec.study.get("raw", {}).get("subject", "SUBJID"))
    if subject_field in data:
        raw.subjects = subject = usubjid(spec, data)
    else:
        subject = pd.Series("", index=data.index)
    if broken is not None:
        _bad_rows(findings, raw, pd.Series(data.index.isin(broken.index), index=data.index), "RAW-FIELDS", "",
                  broken["expected"].iloc[0], broken["message"].reindex(data.index), subject,
                  values=broken["value"].reindex(data.index))
    dates = dates if dates is not None else _dates_together([raw])
    ascii_only = _all_ascii([data[f.name] for f in raw.form.fields])  # the usual form: no field to look into
    for f in raw.form.fields:  # over fields: the masks in numpy, findings only where a mask is set
        col = data[f.name]
        present = col.notna().to_numpy()
        if not ascii_only:
            _bad_rows(findings, raw, present & _non_ascii(col), "RAW-NONASCII", f.name, "ASCII text",
                      f"{f.name} has non-ASCII characters; SAS XPT v5 carries ASCII only "
                      "(replace them at the source)", subject)
        if f.required:
            _bad_rows(findings, raw, ~present, "RAW-REQUIRED", f.name, "a value",
                      f"required field {f.name} ({f.label}) is blank", subject)
        if f.datatype in ("integer", "float"):
            pattern = _INT_RE if f.datatype == "integer" else _FLOAT_RE
            ok = col.str.match(pattern, na=False).to_numpy(dtype=bool)  # (pandas: Python's re where RE2 differs)
            _bad_rows(findings, raw, present & ~ok, "RAW-TYPE", f.name, f"{f.datatype} number",
                      f"{f.name} ({f.label}) is not a{'n' if f.datatype == 'integer' else ''} {f.datatype}", subject)
            number = _numbers(col, ok)
            huge = ok & ~np.isfinite(number.to_numpy())  # 1e400, or 400 digits: no floating-point number holds it
            _bad_rows(findings, raw, huge, "RAW-TYPE", f.name, f"{f.datatype} number",
                      f"{f.name} ({f.label}) is too large to store as a number", subject)
            raw.numbers[f.name] = number.where(~huge) if huge.any() else number
        elif f.datatype in ("date", "time", "datetime"):
            converted = dates.get((raw.name, f.name)) or _convert_datetime(col, f.datatype, f.format)
            bad = converted.problem.notna().to_numpy()
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


def _dates_together(raws: list[RawForm]) -> dict[tuple[str, str], Converted]:
    """The date (or time) fields of all forms that share a format converted in one call: the distinct values of all
    of them read once (a value converts the same whichever column or form holds it, see dates.per_distinct), each
    field's rows taken back from the joint answer.  {(form name, field name): Converted} for the date and time
    fields (datetime fields are converted on their own)."""
    groups: dict[tuple[str, str], list[tuple[RawForm, str]]] = {}
    for raw in raws:  # over forms
        for f in raw.form.fields:  # over the form's fields
            if f.datatype in ("date", "time"):
                groups.setdefault((f.datatype, f.format), []).append((raw, f.name))
    out = {}
    for (datatype, fmt), fields in groups.items():  # over (type, format) groups, few
        joint = _convert_datetime(pd.concat([raw.data[n] for raw, n in fields], ignore_index=True), datatype, fmt)
        start = 0
        for raw, n in fields:  # over the group's fields
            stop = start + len(raw.data)
            out[raw.name, n] = Converted(joint.iso.iloc[start:stop].set_axis(raw.data.index),
                                         joint.problem.iloc[start:stop].set_axis(raw.data.index))
            start = stop
    return out


def _all_ascii(columns: list[pd.Series]) -> bool:
    """Whether every value of the text columns is ASCII: one Arrow pass over them all (their arrays as the chunks of
    one), instead of a mask per column."""
    chunks = []
    for col in columns:  # over columns
        arr = arrow(col)
        chunks.extend(arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr])
    return bool(pc.all(pc.string_is_ascii(pa.chunked_array(chunks, type=pa.large_string()))).as_py())


def _non_ascii(col: pd.Series) -> np.ndarray:
    """True where the text has a character outside ASCII (missing: False), tested in C++ without a regex."""
    return ~pc.fill_null(pc.string_is_ascii(arrow(col)), True).to_numpy(zero_copy_only=False)


def _numbers(text: pd.Series, ok: np.ndarray) -> pd.Series:
    """The text as float64 where `ok` (NaN where missing, not `ok` or not a number), each distinct value read once
    by pandas and the result taken back to the rows by code (raw numbers repeat: doses, lab results, visit numbers)."""
    codes, distinct = pd.factorize(text, use_na_sentinel=True)
    values = pd.to_numeric(pd.Series(distinct), errors="coerce").astype("float64").to_numpy()
    return pd.Series(np.where(ok, np.append(values, np.nan)[codes], np.nan), index=text.index, name=text.name)


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
        if not stranger.any():
            continue
        _bad_rows(findings, raw, stranger, "RAW-NOT-ENROLLED", subject, f"a subject in {forms[roster].file}",
                  f"subject {subject} is not enrolled (no row in {forms[roster].file})", form_usubjid(spec, raw))


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
        expected = lookup(raw.data[subject], site_of)  # (pandas' map hashes every row's text)
        other = raw.data[site].notna() & expected.notna() & (raw.data[site] != expected)
        if not other.any():
            continue
        message = (f"subject {subject} " + raw.data[subject].astype(str) + f" is at {site} "
                   + expected.astype(str) + f" in {forms[roster].file}, not " + raw.data[site].astype(str))
        _bad_rows(findings, raw, other.fillna(False).astype(bool), "RAW-SITE", site,
                  f"the subject's {site} in {forms[roster].file}", message, form_usubjid(spec, raw))
