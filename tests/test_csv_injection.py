"""CSV formula injection (issue 16.4): CSVs meant for people neutralise cells a spreadsheet would run as a formula
(`= + - @`, tab, CR at the start: prefixed with an apostrophe); JSON keeps the exact values; numbers stay numbers."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest

from cdiscflow.core.findings import Findings
from cdiscflow.core.spreadsheet import csv_text, neutralise_formulas, neutralise_text

HOSTILE = ["=HYPERLINK(\"http://x.test\",\"click\")", "+cmd|' /C calc'!A0", "-1+1", "@SUM(1)", "\t=1+1", "\r=1+1",
           "-1"]
SAFE = ["CR", "1+1", "a=b", " =1", "", "'=already"]


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_every_hostile_start_is_prefixed_and_nothing_else():
    frame = pd.DataFrame({"value": HOSTILE + SAFE})
    got = neutralise_formulas(frame)["value"].tolist()
    assert got == ["'" + v for v in HOSTILE] + SAFE
    assert frame["value"].tolist() == HOSTILE + SAFE  # the input is not modified


def test_numbers_stay_numbers_and_text_numbers_are_prefixed():
    frame = pd.DataFrame({"n": [-1, 2], "x": [-1.5, np.nan], "mixed": pd.Series([-3, "-3"], dtype=object),
                          "text": ["-1", "2"], "when": pd.to_datetime(["2020-01-01", None]),
                          "flag": [True, False]})
    assert _cells(csv_text(frame)) == [["n", "x", "mixed", "text", "when", "flag"],
                                       ["-1", "-1.5", "-3", "'-1", "2020-01-01", "True"],
                                       ["2", "", "'-3", "2", "", "False"]]
    numbers = frame[["n", "x", "when", "flag"]]
    assert neutralise_formulas(numbers) is numbers  # nothing to do: the same frame, no copy


def test_categorical_and_string_columns():
    frame = pd.DataFrame({"cat": pd.Categorical(["=1+1", "Y", "=1+1", None]),
                          "s": pd.Series(["@x", None, "ok", "+y"], dtype="string")})
    assert _cells(csv_text(frame))[1:] == [["'=1+1", "'@x"], ["Y", ""], ["'=1+1", "ok"], ["", "'+y"]]


def test_a_carriage_return_inside_a_cell_keeps_the_row_whole():
    frame = pd.DataFrame({"a": ["x\ry", "z"], "n": [1, 2]})
    assert csv_text(frame) == '"a","n"\n"x\ry",1\n"z",2\n'
    assert _cells(csv_text(frame)) == [["a", "n"], ["x\ry", "1"], ["z", "2"]]
    plain = pd.DataFrame({"a": ["x", "z"], "n": [1, 2]})
    assert csv_text(plain) == "a,n\nx,1\nz,2\n"  # no carriage return: quoting as before


def test_one_cell_rule_for_csv_module_writers():
    assert [neutralise_text(v) for v in ["=1", "-", "ok", 5, None, -2]] == ["'=1", "'-", "ok", 5, None, -2]


def test_findings_csv_is_neutralised_in_every_text_column_and_the_json_is_exact(tmp_path):
    findings = Findings()
    text_columns = ["rule_id", "dataset", "variable", "subject", "value", "expected", "message", "source"]
    hostile = {c: HOSTILE[i % len(HOSTILE)] for i, c in enumerate(text_columns)}  # severity: one of three words
    findings.add(**{**hostile, "severity": "error", "row": 7})
    csv_path, json_path = findings.write(tmp_path, "findings")
    header, row = _cells(csv_path.read_bytes().decode())
    got = dict(zip(header, row))
    assert {c: got[c] for c in text_columns} == {c: "'" + v for c, v in hostile.items()}
    assert got["row"] == "7"
    record = json.loads(json_path.read_text())["findings"][0]
    assert {c: record[c] for c in text_columns} == hostile  # exact values in JSON


def test_report_tables_and_statistics_are_neutralised(tmp_path):
    from cdiscflow.report import Section, Table, write_html_report

    frame = pd.DataFrame({"term": HOSTILE, "n": range(len(HOSTILE))})
    written = write_html_report(tmp_path, "T", [Section("s", [Table("terms", frame)])], synthetic=True)
    (table,) = [p for p in written if p.suffix == ".csv"]
    rows = _cells(table.read_bytes().decode())
    assert rows[1:] == [["'" + v, str(i)] for i, v in enumerate(HOSTILE)]


@pytest.mark.slow
def test_sdtm_findings_neutralise_raw_values(tmp_path, raw_small):
    """A raw field with a formula (rejected: not a date) reaches the SDTM folder's _findings.csv as text a
    spreadsheet does not run."""
    from cdiscflow.usecases import map_raw_to_sdtm_folder

    ae = raw_small / "ae.csv"
    text = ae.read_text().splitlines()
    h = next(i for i, line in enumerate(text) if not line.startswith("#"))
    header, first = next(csv.reader([text[h]])), next(csv.reader([text[h + 1]]))
    first[header.index("AESTDAT")] = "=HYPERLINK(\"http://x.test\")"  # not a date: the row is rejected
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(first)
    ae.write_text("\n".join([*text[:h + 1], buffer.getvalue().strip(), *text[h + 2:]]) + "\n")
    result = map_raw_to_sdtm_folder(None, raw_small, tmp_path / "sdtm", on_error="reject")
    assert result.rejects[["form", "row", "rule_id"]].values.tolist() == [["ae", 1, "RAW-DATE"]]
    written = (tmp_path / "sdtm" / "_findings.csv").read_bytes().decode()
    rows = _cells(written)
    assert [r[rows[0].index("value")] for r in rows[1:]] == ["'=HYPERLINK(\"http://x.test\")"]
    assert not any(c.startswith(("=", "+", "@", "\t", "\r")) for row in rows for c in row)
    found = json.loads((tmp_path / "sdtm" / "_findings.json").read_text())["findings"]
    assert [f["value"] for f in found] == ["=HYPERLINK(\"http://x.test\")"]  # JSON: exact


@pytest.mark.parametrize("value", HOSTILE)
def test_batch_summary_neutralises_messages(value):
    from cdiscflow.core.spreadsheet import neutralise_text

    assert neutralise_text(value) == "'" + value
