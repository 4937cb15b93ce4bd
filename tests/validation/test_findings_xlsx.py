"""findings.xlsx beside findings.csv: the same rows, summaries per severity and rule, filterable, formula-safe,
deterministic bytes."""

from __future__ import annotations

import pytest
from pathlib import Path

import openpyxl
import pandas as pd
import pyreadstat
from click.testing import CliRunner

from cdiscflow.cli import main
from cdiscflow.core.spreadsheet import neutralise_formulas

STUDY = Path(__file__).resolve().parent / "study"


def _validate(tmp_path, clean, out):
    folder = tmp_path / "sdtm"
    folder.mkdir(exist_ok=True)
    for name in ("TA", "TE", "DM", "AE", "EX", "DS", "RS"):
        pyreadstat.write_xport(clean[name], str(folder / f"{name.lower()}.xpt"), file_format_version=5,
                               table_name=name)
    return CliRunner().invoke(main, ["validate", str(folder), "--study", str(STUDY), "--out", str(out),
                                     "--no-data-docs"])


def _sheet(path, name):
    ws = openpyxl.load_workbook(path)[name]
    rows = list(ws.iter_rows(values_only=True))
    return ws, rows[0], rows[1:]


@pytest.mark.slow
def test_findings_workbook_has_the_rows_of_findings_csv(tmp_path, clean):
    clean["AE"].loc[2, "AESEV"] = "=1+1"  # a raw value that a spreadsheet would run as a formula
    clean["AE"].loc[1, "AESEV"] = "mild"
    clean["DS"].loc[1, "DSDECOD"] = "LOST TO FOLLOW-UP"  # a warning
    res = _validate(tmp_path, clean, tmp_path / "v")
    assert res.exit_code == 1, res.output
    csv = pd.read_csv(tmp_path / "v" / "findings.csv", dtype=str, keep_default_na=False)
    book = tmp_path / "v" / "findings.xlsx"
    ws, header, rows = _sheet(book, "Details")
    assert list(header) == list(csv.columns)
    got = [["" if v is None else str(v) for v in r] for r in rows]
    assert got == neutralise_formulas(csv).values.tolist()
    assert len(got) == len(csv) >= 3
    assert ws.auto_filter.ref == f"A1:J{len(csv) + 1}" and ws.freeze_panes == "A2"
    # the formula-like value is text with a leading quote, never a formula
    cell = next(c for r in ws.iter_rows() for c in r if c.value == "'=1+1")
    assert cell.data_type == "s"
    # summaries: per severity, and per severity/rule/dataset
    _, header, summary = _sheet(book, "Summary")
    counts = csv["severity"].value_counts()
    rules = csv.groupby("severity")["rule_id"].nunique()
    assert [r for r in summary if r[0]] == [(s, int(counts.get(s, 0)), int(rules.get(s, 0)))
                                           for s in ("error", "warning", "note")]
    _, header, rules = _sheet(book, "Rules")
    assert header[:5] == ("severity", "rule_id", "dataset", "findings", "subjects")
    expected = csv.groupby(["severity", "rule_id", "dataset"], sort=False).size()
    assert {(r[0], r[1], r[2]): r[3] for r in rules} == expected.to_dict()
    assert ("error", "SCH-CT-001", "AE", 2, 2) in [r[:5] for r in rules]


@pytest.mark.slow
def test_findings_workbook_bytes_repeat(tmp_path, clean):
    clean["AE"].loc[2, "AESEV"] = "mild"
    _validate(tmp_path, clean, tmp_path / "a")
    _validate(tmp_path, clean, tmp_path / "b")
    assert (tmp_path / "a" / "findings.xlsx").read_bytes() == (tmp_path / "b" / "findings.xlsx").read_bytes()
