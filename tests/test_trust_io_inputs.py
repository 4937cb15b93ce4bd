"""Issue 16, item 9 (inputs): forms.yaml `file:` stays inside the raw folder; UTF-16, binary and oversized raw files are
named for what they are before they are read whole; `convert` refuses numbers an integer column cannot hold and JSON
`true` as a number."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from cdiscflow.cli import main
from cdiscflow.core.errors import InputError, SpecError
from cdiscflow.export.xpt import XptVariable, write_xpt
from cdiscflow.sdtm import map_study
from cdiscflow.specs.load import load_study


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["../secret.csv", "/etc/passwd", "sub/../../secret.csv", "C:\\\\data\\\\enrol.csv"])
def test_a_form_file_outside_the_raw_folder_is_a_spec_error(study_copy, raw_small, name):
    (raw_small.parent / "secret.csv").write_text("SITEID,SUBJID\n")
    edit(study_copy / "forms.yaml", "file: enrol.csv", f"file: '{name}'")
    with pytest.raises(SpecError, match=r"forms.yaml form enrol file .*: must be a file name inside the raw export "
                                        r"folder \(no absolute path, no '\.\.'\)"):
        map_study(load_study(study_copy), raw_small)
    res = CliRunner().invoke(main, ["check-spec", str(study_copy)])
    assert res.exit_code == 2 and "must be a file name inside the raw export folder" in res.output


@pytest.mark.slow
def test_utf16_and_binary_raw_files_are_named_for_what_they_are(raw_small):
    spec = load_study()
    text = (raw_small / "ae.csv").read_text(encoding="utf-8")
    (raw_small / "ae.csv").write_bytes(text.encode("utf-16"))
    (raw_small / "eot.csv").write_bytes(b"PK\x03\x04" + bytes(200))
    (raw_small / "partb.csv").write_bytes((raw_small / "partb.csv").read_bytes()[:40] + b"\x00\x01\x02" * 50)
    with pytest.raises(InputError) as err:
        map_study(spec, raw_small)
    message = str(err.value)
    assert "ae.csv: the file is UTF-16 text (byte-order mark FF FE), not utf-8; save it as utf-8" in message
    assert "eot.csv: the file is a ZIP archive (an Excel .xlsx workbook?), not delimited text" in message
    assert "partb.csv: the file is binary (a NUL byte at byte 40), not delimited text" in message
    assert "Latin-1" not in message


@pytest.mark.slow
def test_a_raw_file_over_the_size_limit_is_not_read(raw_small, monkeypatch):
    monkeypatch.setenv("CDISCFLOW_MAX_FILE_MB", "0.001")  # 1,048 bytes
    size = (raw_small / "ae.csv").stat().st_size
    assert size > 1048
    read = []
    original = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: read.append(self.name) or original(self))
    with pytest.raises(InputError, match=rf"ae\.csv: {size:,} bytes, more than the 1,048 a raw file may have \(not "
                                         r"read; set the environment variable CDISCFLOW_MAX_FILE_MB"):
        map_study(load_study(), raw_small)
    assert "ae.csv" not in read


def _json_with(tmp_path: Path, rows: list) -> Path:
    frame = pd.DataFrame({"N": [1.0, 2.0], "F": [1.5, 2.5]})
    write_xpt(tmp_path / "x.xpt", frame, [XptVariable("N", "Count", "Num", 8), XptVariable("F", "Dose", "Num", 8)],
              dataset="X", created=dt.date(2020, 1, 1))
    assert CliRunner().invoke(main, ["convert", str(tmp_path / "x.xpt")]).exit_code == 0
    doc = json.loads((tmp_path / "x.json").read_text())
    assert [(c["name"], c["dataType"]) for c in doc["columns"]] == [("N", "integer"), ("F", "float")]
    doc["rows"] = rows
    (tmp_path / "y.json").write_text(json.dumps(doc))
    return tmp_path / "y.json"


@pytest.mark.parametrize("rows, message", [
    ([[1, 1.5], [1e308, 2.5]], "N row 2: 1e+308 is not a whole number of magnitude at most 2**53 (dataType integer)"),
    ([[1.5, 1.5], [2, 2.5]], "N row 1: 1.5 is not a whole number of magnitude at most 2**53 (dataType integer)"),
    ([[True, 1.5], [2, 2.5]], "N row 1: true is not a number (dataType integer)"),
    ([[1, 1.5], [2, False]], "F row 2: false is not a number (dataType float)"),
    ([[1, 1e308], [2, 2.5]], "cannot be written as XPT v5:\n  F: row 1 holds 1e+308; XPT v5 holds magnitudes below "
                             "9.046e+74"),
])
def test_convert_refuses_numbers_xpt_cannot_hold(tmp_path, rows, message):
    path = _json_with(tmp_path, rows)
    res = CliRunner().invoke(main, ["convert", str(path), "--out", str(tmp_path / "y.xpt")])
    assert res.exit_code == 2 and f"{path}: {message}" in res.output, res.output
    assert not (tmp_path / "y.xpt").exists()
