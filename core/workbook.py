"""Excel workbooks with the same bytes for the same content, and the findings as a workbook.

`fixed_zip` rewrites what openpyxl saves with fixed member timestamps and document-property dates (openpyxl
stamps 'now'); every workbook cdiscflow writes goes through it.

`findings_workbook` is `findings.xlsx`, the layout validation reports made familiar: a Summary sheet (findings per
severity), a Rules sheet (per severity, rule and dataset: how many, on how many subjects, the first message) and a
Details sheet (every finding with dataset, variable, subject, row, value, expected, message, source; filterable,
header frozen).  Text is kept as text: a cell that starts like a formula gets a leading `'`
(`core.spreadsheet.neutralise_formulas`, as in the CSVs) and every text cell is stored as a string, never a formula.
"""

from __future__ import annotations

import io
import re
import zipfile

import pandas as pd

from cdiscflow.core.findings import COLUMNS, SEVERITIES
from cdiscflow.core.spreadsheet import neutralise_formulas

EXCEL_ROWS = 1_048_576  # rows of a worksheet, header included
STAMP = "2000-01-01T00:00:00Z"  # document dates of a findings workbook (fixed: same findings, same bytes)


def fixed_zip(data: bytes, stamp: str) -> bytes:
    """The workbook's zip with fixed member timestamps and document-property dates (deterministic bytes)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(<)", rb"\g<1>" + stamp.encode() + rb"\2",
                              body)
            member = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = info.external_attr
            dst.writestr(member, body)
    return out.getvalue()


def rule_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per severity, rule and dataset: findings, distinct subjects, and the first message."""
    if frame.empty:
        return pd.DataFrame(columns=["severity", "rule_id", "dataset", "findings", "subjects", "message"])
    subjects = frame["subject"].where(frame["subject"] != "")
    grouped = frame.assign(_subject=subjects).groupby(["severity", "rule_id", "dataset"], sort=False)
    out = grouped.agg(findings=("rule_id", "size"), subjects=("_subject", "nunique"),
                      message=("message", "first")).reset_index()
    return out


def severity_summary(frame: pd.DataFrame) -> pd.DataFrame:
    counts = frame["severity"].value_counts()
    rules = frame.groupby("severity")["rule_id"].nunique() if len(frame) else pd.Series(dtype=int)
    return pd.DataFrame({"severity": list(SEVERITIES), "findings": [int(counts.get(s, 0)) for s in SEVERITIES],
                         "rules": [int(rules.get(s, 0)) for s in SEVERITIES]})


def findings_workbook(frame: pd.DataFrame, *, title: str = "cdiscflow findings") -> bytes:
    """findings.xlsx for a findings frame (`Findings.frame()`: sorted, COLUMNS); deterministic bytes."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    frame = frame.reindex(columns=list(COLUMNS))
    shown = frame.iloc[:EXCEL_ROWS - 1]
    wb = Workbook(write_only=True)
    bold = Font(bold=True)

    def sheet(name: str, table: pd.DataFrame, note: str = "") -> None:
        ws = wb.create_sheet(name)
        ws.freeze_panes = "A2"
        columns = list(table.columns)
        if len(table):
            last = _column_letter(len(columns))
            ws.auto_filter.ref = f"A1:{last}{len(table) + 1}"
        header = []
        for c in columns:
            cell = WriteOnlyCell(ws, value=c)
            cell.font = bold
            header.append(cell)
        ws.append(header)
        safe = neutralise_formulas(table.astype(object).where(table.notna(), None))
        for values in safe.itertuples(index=False, name=None):  # openpyxl writes cell by cell
            ws.append([_cell(ws, v) for v in values])
        if note:
            ws.append([])
            ws.append([_cell(ws, note)])

    total = len(frame)
    note = "" if total == len(shown) else (f"Details shows the first {len(shown)} of {total} findings (the sheet is "
                                           "full); every finding is in findings.csv")
    sheet("Summary", severity_summary(frame), note)
    sheet("Rules", rule_summary(frame))
    sheet("Details", shown)
    wb.properties.creator = "cdiscflow"
    wb.properties.title = title
    buf = io.BytesIO()
    wb.save(buf)
    return fixed_zip(buf.getvalue(), STAMP)


def _cell(ws, value):
    from openpyxl.cell import WriteOnlyCell

    if value is None or value == "":
        return None
    cell = WriteOnlyCell(ws, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # stored as text: never a formula
    return cell


def _column_letter(n: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(n)


def write_findings_workbook(findings, path) -> "Path":
    """Write `findings` (a `Findings`) as findings.xlsx at `path`, atomically; return the path."""
    from pathlib import Path

    from cdiscflow.core.atomic import write_bytes

    path = Path(path)
    write_bytes(path, findings_workbook(findings.frame()))
    return path
