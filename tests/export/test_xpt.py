"""The vectorised XPT v5 writer: same bytes as pyreadstat, IBM doubles checked by hand, deterministic header."""

from __future__ import annotations

import io
import json
import re
from datetime import date

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdiscflow.export.xpt import (MAX_IBM, MIN_IBM, XptVariable, format_kind, ibm_to_ieee, ieee_to_ibm, parse_format, write_xpt,
                                  write_xpt_stream)

STAMP = re.compile(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")
HEADER = 6 * 80 + 80  # the records carrying timestamps all lie in the first 7 records


def _ours(frame, variables, name="TEST", label="Test data") -> bytes:
    buf = io.BytesIO()
    write_xpt_stream(buf, frame, variables, dataset=name, label=label, created=date(2020, 10, 1))
    return buf.getvalue()


def _pyreadstat(tmp_path, frame, variables, name="TEST", label="Test data") -> bytes:
    path = tmp_path / "pyreadstat.xpt"
    pyreadstat.write_xport(frame, str(path), file_format_version=5, table_name=name, file_label=label,
                           column_labels={v.name: v.label for v in variables},
                           variable_format={v.name: v.format for v in variables if v.format})
    return path.read_bytes()


def _normalised(raw: bytes) -> bytes:
    """Blank out the header timestamps (pyreadstat stamps the wall clock); everything else must match."""
    return STAMP.sub(b"#" * 16, raw[:HEADER]) + raw[HEADER:]


def _edge_frame(n: int, seed: int = 7) -> tuple[pd.DataFrame, list[XptVariable]]:
    rng = np.random.default_rng(seed)
    special = np.array([0.0, -0.0, np.nan, 1.0, -1.0, 0.1, 1 / 3, 1e-300, 5e-324, 16.0 ** -65, 2.0 ** -261,
                        7.2e75, 1e76, -1e76, 123456789.123, -2.5e-10])
    numbers = np.concatenate([special, rng.normal(size=n) * 10.0 ** rng.integers(-70, 70, n)])[:n]
    words = np.array(["", "A", "DARA-ATRA-01-001", "  leading blanks", "x" * 200, "MODERATE", "Y"], dtype=object)
    text = pd.Series(words[rng.integers(0, len(words), n)], dtype="str")
    text[::4] = np.nan
    frame = pd.DataFrame({
        "NUM": numbers,
        "TXT": text,
        "TRTSDT": rng.integers(-1000, 30000, n).astype(float),
        "ADTM": rng.integers(0, 2_000_000_000, n).astype(float),
        "SHORT": pd.Series(np.where(rng.random(n) < 0.5, "N", "Y"), dtype="str"),
        "EMPTY": pd.Series([np.nan] * n, dtype="str"),
        "AVAL": np.round(rng.normal(size=n) * 100, 2),
    })
    variables = [
        XptVariable("NUM", "Any number", "Num", 8),
        XptVariable("TXT", "Text up to 200 bytes", "Char", max(1, int(text.str.len().fillna(0).max()) if n else 1),
                    "$CHAR200."),
        XptVariable("TRTSDT", "Date of First Exposure to Treatment", "Num", 8, "DATE9."),
        XptVariable("ADTM", "Analysis Datetime", "Num", 8, "DATETIME20."),
        XptVariable("SHORT", "Flag", "Char", 1),
        XptVariable("EMPTY", "All missing", "Char", 1),
        XptVariable("AVAL", "Analysis Value", "Num", 8, "8.2"),
    ]
    return frame, variables


@pytest.mark.parametrize("rows", [0, 1, 3, 80, 2003])
def test_same_bytes_as_pyreadstat(tmp_path, rows):
    frame, variables = _edge_frame(rows)
    ours, theirs = _ours(frame, variables), _pyreadstat(tmp_path, frame, variables)
    assert len(ours) == len(theirs)
    assert len(ours) % 80 == 0
    assert _normalised(ours) == _normalised(theirs)


def test_same_bytes_as_pyreadstat_without_labels_or_formats(tmp_path):
    frame = pd.DataFrame({"A": [1.5, np.nan], "B": pd.Series(["x", "yz"], dtype="str")})
    variables = [XptVariable("A", "", "Num", 8), XptVariable("B", "", "Char", 2)]
    assert _normalised(_ours(frame, variables, "AB", "")) == _normalised(_pyreadstat(tmp_path, frame, variables, "AB", ""))


def test_ibm_doubles_checked_by_hand():
    # 1 = 0.1(hex) x 16**1 -> exponent 64+1 = 0x41, fraction 0x10...; 100 = 0x64 = 0.64(hex) x 16**2 -> 0x42 64
    # 0.1 = 0x3FB999999999999A in IEEE = 0.1999999999999A(hex) x 16**0 -> 0x40 19 99 99 99 99 99 9A
    got = ieee_to_ibm(np.array([1.0, -1.0, 100.0, 0.1, 0.0, np.nan]))
    assert got.tolist() == [
        [0x41, 0x10, 0, 0, 0, 0, 0, 0],
        [0xC1, 0x10, 0, 0, 0, 0, 0, 0],
        [0x42, 0x64, 0, 0, 0, 0, 0, 0],
        [0x40, 0x19, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9A],
        [0, 0, 0, 0, 0, 0, 0, 0],
        [0x2E, 0, 0, 0, 0, 0, 0, 0],  # SAS missing '.'
    ]


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(min_value=-9e74, max_value=9e74), st.just(float("nan"))), max_size=50))
def test_ibm_round_trip_is_exact(values):
    x = np.array(values, dtype=np.float64)
    x = np.where(np.abs(x) < MIN_IBM, 0.0, x)  # below the IBM range SAS stores 0
    back = ibm_to_ieee(ieee_to_ibm(x))
    assert np.array_equal(back, x, equal_nan=True)


def test_header_stamp_is_the_given_date_and_writes_repeat(tmp_path):
    frame, variables = _edge_frame(10)
    a, b = tmp_path / "a.xpt", tmp_path / "b.xpt"
    for p in (a, b):
        write_xpt(p, frame, variables, dataset="TEST", label="Test data", created=date(2020, 10, 1))
    raw = a.read_bytes()
    assert raw == b.read_bytes()
    assert raw[80:160].startswith(b"SAS     SAS     SASLIB  6.06    bsd4.2")
    assert raw[80 + 64:160] == b"01OCT20:00:00:00"
    assert STAMP.findall(raw[:HEADER]) == [b"01OCT20:00:00:00"] * 4


def test_read_back_with_pyreadstat(tmp_path):
    frame, variables = _edge_frame(50)
    path = tmp_path / "t.xpt"
    write_xpt(path, frame, variables, dataset="TEST", label="Test data", created=date(2020, 10, 1))
    back, meta = pyreadstat.read_xport(str(path), disable_datetime_conversion=True)
    assert meta.table_name == "TEST" and meta.file_label == "Test data"
    assert meta.column_labels[2] == "Date of First Exposure to Treatment"
    assert meta.original_variable_types["TRTSDT"] == "DATE9"
    assert meta.variable_storage_width == {"NUM": 8, "TXT": 200, "TRTSDT": 8, "ADTM": 8, "SHORT": 1, "EMPTY": 1,
                                           "AVAL": 8}
    # exact within the range SAS's routine keeps; below it 0, above it the largest IBM value (read as infinity)
    expected = np.where(np.abs(frame["NUM"]) < MIN_IBM, 0.0, frame["NUM"])
    expected = np.where(np.abs(expected) >= MAX_IBM, np.copysign(np.inf, expected), expected)
    assert np.array_equal(back["NUM"].to_numpy(), expected, equal_nan=True)
    assert back["TRTSDT"].tolist() == frame["TRTSDT"].tolist()
    # blanks read back as "" -- missing text; leading blanks kept, trailing blanks are padding
    assert back["TXT"].tolist() == frame["TXT"].fillna("").tolist()


def test_dates_from_datetime64(tmp_path):
    frame = pd.DataFrame({"ADT": pd.to_datetime(["1960-01-01", "2020-10-01", None, "1959-12-31"]),
                          "ADTM": pd.to_datetime(["1960-01-01 00:00:01", "2020-10-01 12:30:00", None, None])})
    variables = [XptVariable("ADT", "Analysis Date", "Num", 8, "DATE9."),
                 XptVariable("ADTM", "Analysis Datetime", "Num", 8, "DATETIME20.")]
    path = tmp_path / "d.xpt"
    write_xpt(path, frame, variables, dataset="D", created=date(2020, 10, 1))
    back, _ = pyreadstat.read_xport(str(path), disable_datetime_conversion=True)
    assert back["ADT"].tolist()[:2] == [0.0, 22189.0]  # 2020-10-01 is day 22189 since 1960-01-01
    assert back["ADT"].tolist()[3] == -1.0
    assert back["ADTM"].tolist()[:2] == [1.0, 22189 * 86400 + 45000.0]
    assert np.isnan(back["ADT"][2]) and np.isnan(back["ADTM"][2])


def test_value_longer_than_length_is_refused(tmp_path):
    frame = pd.DataFrame({"A": pd.Series(["abc"], dtype="str")})
    with pytest.raises(ValueError, match="3 bytes does not fit length 2"):
        write_xpt(tmp_path / "x.xpt", frame, [XptVariable("A", "A", "Char", 2)], dataset="X", created=date(2020, 1, 1))
    assert not (tmp_path / "x.xpt").exists()


def test_format_parsing():
    assert parse_format("DATE9.") == ("DATE", 9, 0)
    assert parse_format("8.2") == ("", 8, 2)
    assert parse_format("$CHAR20.") == ("$CHAR", 20, 0)
    assert parse_format("E8601DA.") == ("E8601DA", 0, 0)
    assert parse_format("E8601DT19.") == ("E8601DT", 19, 0)
    assert format_kind("DATE9.") == "date" and format_kind("DATETIME20.") == "datetime"
    assert format_kind("TIME8.") == "time" and format_kind("8.2") == ""
    with pytest.raises(ValueError):
        parse_format("9DATE.")


def test_times_from_timedelta64_and_back(tmp_path):
    from cdiscflow.export import read_dataset

    frame = pd.DataFrame({"ATM": pd.to_timedelta(["00:00:00", "09:30:15", None, "23:59:59"])})
    path = tmp_path / "t.xpt"
    write_xpt(path, frame, [XptVariable("ATM", "Analysis Time", "Num", 8, "TIME8.")], dataset="T",
              created=date(2020, 10, 1))
    raw, _ = pyreadstat.read_xport(str(path), disable_datetime_conversion=True)
    assert raw["ATM"].tolist()[:2] == [0.0, 9 * 3600 + 30 * 60 + 15.0] and raw["ATM"].tolist()[3] == 86399.0
    back, meta = read_dataset(path)
    assert meta.column("ATM").kind == "time"
    assert back["ATM"].tolist()[1] == pd.Timedelta("09:30:15") and pd.isna(back["ATM"][2])
    from cdiscflow.export.datasetjson import JsonHeader, write_dataset_json

    write_dataset_json(tmp_path / "t.json", back, meta, JsonHeader(created="2020-10-01T00:00:00"))
    doc = json.loads((tmp_path / "t.json").read_text())
    assert doc["columns"][0]["dataType"] == "time" and doc["columns"][0]["targetDataType"] == "integer"
    assert [r[0] for r in doc["rows"]] == ["00:00:00", "09:30:15", None, "23:59:59"]
    again, _ = read_dataset(tmp_path / "t.json")
    assert again["ATM"].tolist()[3] == pd.Timedelta("23:59:59")
