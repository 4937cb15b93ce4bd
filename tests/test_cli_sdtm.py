"""`cdiscflow sdtm`: files written atomically and deterministically; exit codes 0 / 1 / 2."""

from __future__ import annotations

import pytest
import hashlib

import pandas as pd
import pyreadstat
from click.testing import CliRunner

from cdiscflow.cli import main


def _run(*args):
    return CliRunner().invoke(main, ["sdtm", *map(str, args)])


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.slow
def test_writes_xpt_v5_and_bookkeeping_deterministically(raw_small, tmp_path):
    out1, out2 = tmp_path / "o1", tmp_path / "o2"
    r = _run("--raw", raw_small, "--out", out1)
    assert r.exit_code == 0, r.output
    assert "26 datasets" in r.output
    names = {p.name for p in out1.iterdir()}
    assert {"dm.xpt", "dm.json", "define.xml", "ae.xpt", "suppae.xpt", "ts.xpt", "se.xpt", "_rejects.csv",
            "_accounting.csv", "_findings.csv", "_findings.json"} <= names
    assert not any(n.endswith(".part") for n in names)
    assert _run("--raw", raw_small, "--out", out2).exit_code == 0
    assert _digest(out1) == _digest(out2)  # same input, same bytes
    dm, meta = pyreadstat.read_xport(str(out1 / "dm.xpt"))
    assert meta.table_name == "DM" and meta.file_label == "Demographics"
    assert meta.column_names_to_labels["RFSTDTC"] == "Subject Reference Start Date/Time"
    assert dm["USUBJID"].tolist() == ["DARA-ATRA-01-001", "DARA-ATRA-01-002", "DARA-ATRA-02-003"]
    # SAS transport version 5 (a v8 file starts with LIBV8)
    assert (out1 / "dm.xpt").read_bytes().startswith(b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!")
    acc = pd.read_csv(out1 / "_accounting.csv")
    assert acc["rows_lost"].sum() == 0 and len(acc) == 15


@pytest.mark.slow
def test_strict_error_exits_1_and_writes_nothing(raw_small, tmp_path):
    p = raw_small / "dara.csv"
    p.write_text(p.read_text().replace("16,mg/kg,1312", "16,mg/lb,1312", 1))
    out = tmp_path / "out"
    r = _run("--raw", raw_small, "--out", out)
    assert r.exit_code == 1
    assert "MAP-CT dara.csv row 6 EXDOSU [DARA-ATRA-01-002] 'mg/lb'" in r.output
    assert not out.exists()


@pytest.mark.slow
def test_reject_mode_writes_and_exits_1_when_rows_are_rejected(raw_small, tmp_path):
    p = raw_small / "dara.csv"
    p.write_text(p.read_text().replace("16,mg/kg,1312", "16,mg/lb,1312", 1))
    out = tmp_path / "out"
    r = _run("--raw", raw_small, "--out", out, "--on-error", "reject")
    assert r.exit_code == 1
    rej = pd.read_csv(out / "_rejects.csv", dtype=str)
    assert rej[["form", "row", "rule_id"]].values.tolist() == [["dara", "6", "MAP-CT"]]
    assert (out / "ex.xpt").exists()


@pytest.mark.slow
def test_unusable_input_exits_2(raw_small, tmp_path):
    (raw_small / "atra.csv").unlink()
    r = _run("--raw", raw_small, "--out", tmp_path / "out")
    assert r.exit_code == 2
    assert "atra.csv: file for form 'atra'" in r.output
    assert _run("--raw", tmp_path / "nowhere", "--out", tmp_path / "out").exit_code == 2


def test_help_has_an_example():
    r = CliRunner().invoke(main, ["sdtm", "--help"])
    assert r.exit_code == 0 and "cdiscflow sdtm --raw" in r.output and "--on-error" in r.output
