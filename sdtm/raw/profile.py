"""A raw export profiled as tables of fields (for `cdiscflow init`): for form files (CSV, Parquet, XPT, SAS) the
type, date format and terms of each field from its values, labels and formats from the SAS header or
data_dictionary.csv; for an ODM-XML export its own metadata (ItemDef DataType, Question, CodeList)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cdiscflow.core.errors import InputError

MAX_TERMS = 40  # a text field with more distinct values is free text, not a codelist


@dataclass
class RawField:
    name: str
    label: str
    datatype: str  # text | integer | float | date | time
    format: str = ""
    values: tuple[str, ...] = ()  # distinct collected values (text fields with few values only)
    length: int = 0
    description: str = ""


@dataclass
class RawTable:
    name: str
    file: str
    label: str
    fields: list[RawField]
    data: pd.DataFrame  # text


@dataclass
class Export:
    tables: list[RawTable]
    studyid: str
    kind: str  # csv | odm
    comment: str = ""  # the CSV files start with banner lines beginning with this


DICTIONARY = "data_dictionary.csv"  # optional: labels of the fields (file, field, label, form_label)


def _text_frame(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.apply(lambda col: col.astype(str).str.strip().mask(col.isna()))  # over columns
    return frame.mask(frame.isin(["", "NaT", "nan", "None"]))


def _read_table(path: Path) -> tuple[pd.DataFrame, dict[str, dict[str, str]]]:
    from cdiscflow.sdtm.raw.files import as_csv_text, read_typed

    if path.suffix.lower() == ".csv":
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        skip = next((i for i, line in enumerate(lines) if not line.startswith("#")), 0)
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skiprows=skip, encoding="utf-8")
        return _text_frame(frame), {}
    frame, meta = read_typed(path)
    return _text_frame(as_csv_text(frame)), meta


def field_type(values: pd.Series) -> tuple[str, str]:
    """(type, format) that every collected value follows: integer, float, a date or time format, else text."""
    from cdiscflow.sdtm.raw.dates import DATE_FORMATS, TIME_FORMATS, parse_date, parse_time

    v = values.dropna()
    if v.empty or v.str.fullmatch(r"0\d+").any():  # a code with leading zeros ("01") is text, not a number
        return "text", ""
    if v.str.fullmatch(r"[+-]?\d+").all():
        return "integer", ""
    if v.str.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?").all():
        return "float", ""
    sample = v.drop_duplicates().head(2000)
    left, chosen = sample, []
    for fmt in DATE_FORMATS:  # over the known display formats, in order: those that cover every value
        if fmt == "DD-Mon-YYYY" or left.empty:
            continue
        parsed = parse_date(left, fmt)
        ok = parsed.problem.isna() & parsed.iso.notna()
        if ok.any():
            chosen.append(fmt)
            left = left[~ok.to_numpy()]
    if chosen and left.empty and len(chosen) <= 3 and chosen != ["YYYY"]:
        if "DD-MON-YYYY" in chosen and not sample.str.contains(r"-[A-Z]{3}-", regex=True).all():
            chosen[chosen.index("DD-MON-YYYY")] = "DD-Mon-YYYY"
        return "date", "|".join(chosen)
    for fmt in TIME_FORMATS:
        if (parse_time(sample, fmt).problem.isna() & parse_time(sample, fmt).iso.notna()).all():
            return "time", fmt
    return "text", ""


def _profile_field(name: str, values: pd.Series, label: str = "", sas_format: str = "") -> RawField:
    dtype, fmt = field_type(values)
    present = values.dropna()
    distinct = pd.unique(present)
    terms = tuple(sorted(map(str, distinct))) if dtype == "text" and 0 < len(distinct) <= MAX_TERMS else ()
    desc = f"SAS format {sas_format}" if sas_format else ""
    return RawField(name, label or name, dtype, fmt, terms, int(present.str.len().max()) if len(present) else 0,
                    desc)


def profile_files(folder: Path) -> Export:
    from cdiscflow.sdtm.raw.files import READERS

    tables = []
    labels, form_labels = _dictionary(folder / DICTIONARY)
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in READERS):  # over the files
        if path.name == DICTIONARY:
            continue
        frame, meta = _read_table(path)
        for c in frame.columns:
            meta.setdefault(c, {}).setdefault("label", "")
            meta[c]["label"] = meta[c]["label"] or labels.get((path.name, c), "")
        fields = [_profile_field(c, frame[c], meta[c]["label"], meta[c].get("format", "")) for c in frame.columns]
        name = re.sub(r"[^a-z0-9_]", "_", path.stem.lower())
        tables.append(RawTable(name, path.name, form_labels.get(path.name, name), fields, frame))
    if not tables:
        raise InputError(f"{folder}: no raw form files ({', '.join(READERS)}) and no ODM-XML file")
    comment = any(p.read_bytes()[:1] == b"#" for p in folder.glob("*.csv") if p.name != DICTIONARY)
    return Export(tables, folder.resolve().name.upper(), "csv", "#" if comment else "")


def _dictionary(path: Path) -> tuple[dict[tuple[str, str], str], dict[str, str]]:
    """Field labels (file, field) -> label and form labels file -> label from a data dictionary beside the forms
    (columns file, field, label and optionally form_label), when the export has one."""
    if not path.is_file():
        return {}, {}
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if not {"file", "field", "label"} <= set(frame.columns):
        return {}, {}
    fields = dict(zip(zip(frame["file"], frame["field"]), frame["label"]))
    forms = dict(zip(frame["file"], frame["form_label"])) if "form_label" in frame else {}
    return fields, forms


def profile_odm(files: list[Path]) -> Export:
    """Tables from the ODM clinical data, described by the ODM metadata (types, questions, codelists)."""
    from cdiscflow.sdtm.raw.odm import KEY_COLUMNS, read_odm

    export = read_odm(files)
    meta = export.metadata
    tables = []
    for oid, frame in export.tables.items():  # over the item groups
        if frame.empty:
            continue
        frame = _text_frame(frame)
        group = meta.item_groups.get(oid)
        names = export.column_names(oid)
        by_name = {name: meta.items.get(item_oid) for item_oid, name in names.items()}
        fields = [RawField("SUBJECTKEY", "Subject key", "text"), RawField("SITEOID", "Site", "text")]
        for key in ("EVENTOID", "EVENTREPEATKEY", "FORMOID", "FORMREPEATKEY", "IGREPEATKEY"):
            if frame[key].notna().any():
                fields.append(RawField(key, f"ODM {key.lower()}", "text"))
        for col in frame.columns:
            if col in KEY_COLUMNS:
                continue
            item = by_name.get(col)
            profiled = _profile_field(col, frame[col], item.label if item else "")
            if item is not None:
                typed = _odm_type(item)
                if typed is not None:
                    profiled.datatype, profiled.format = typed
                cl = meta.codelists.get(item.codelist)
                if cl is not None:
                    profiled.values = tuple(t for t, _ in cl.terms)
                notes = [f"unit {item.unit}"] * bool(item.unit) + [f"range {r}" for r in item.ranges]
                profiled.description = "; ".join(notes)
            fields.append(profiled)
        label = group.label or group.name if group else oid
        tables.append(RawTable(re.sub(r"[^a-z0-9_]", "_", (group.name if group else oid).lower()), oid, label,
                               fields, frame))
    return Export(tables, meta.study_oid or files[0].stem.upper(), "odm")


def _odm_type(item) -> tuple[str, str] | None:
    from cdiscflow.sdtm.raw.dates import DATE_FORMATS, TIME_FORMATS

    if item.datatype == "integer":
        return "integer", ""
    if item.datatype in ("float", "double"):
        return "float", ""
    if item.datatype in ("date", "partialDate"):
        return "date", "YYYY-MM-DD"
    if item.datatype in ("time", "partialTime"):
        return "time", "HH:MM:SS"
    if item.raw_format in DATE_FORMATS:
        return "date", item.raw_format
    if item.raw_format in TIME_FORMATS:
        return "time", item.raw_format
    return None


def profile_export(raw: Path) -> Export:
    from cdiscflow.sdtm.raw.odm import odm_files

    files = odm_files(raw)
    if files:
        return profile_odm(files)
    if not raw.is_dir():
        raise InputError(f"{raw}: not a folder of raw form files nor an ODM-XML file")
    return profile_files(raw)
