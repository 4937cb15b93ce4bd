"""`cdiscflow export` and `cdiscflow convert`: thin commands, documented exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from cdiscflow.cli import main
from cdiscflow.export import read_dataset, write_datasets

STUDY = Path(__file__).resolve().parent / "study"


def _inputs(frames, xspec, tmp_path, fmt=("xpt",)):
    """A folder of datasets as another layer would leave them (here: XPT files written by the export itself)."""
    write_datasets(frames, xspec, tmp_path / "prev", formats=fmt, define=False)
    return tmp_path / "prev"


def test_export_writes_xpt_json_and_define_per_standard(frames, xspec, tmp_path):
    prev = _inputs(frames, xspec, tmp_path)
    out = tmp_path / "sub"
    for standard in ("sdtm", "adam"):
        res = CliRunner().invoke(main, ["export", "--in", str(prev / standard), "--out", str(out), "--study", str(STUDY)])
        assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (out / "adam").iterdir()) == [
        "adsl.json", "adsl.xpt", "adtte.json", "adtte.xpt", "define.xml", "define2-1.xsl"]
    assert len(list((out / "sdtm").glob("*.xpt"))) == 5
    assert "ADaM: ADSL, ADTTE" in res.output
    adsl, _ = read_dataset(out / "adam" / "adsl.json")
    assert adsl["TRTSDT"].iloc[1] == pd.Timestamp("2016-07-12")


def test_export_with_breaches_exits_1_and_writes_findings(frames, xspec, tmp_path):
    frames["DM"].loc[0, "SEX"] = "FEMALE"
    prev = tmp_path / "prev"
    prev.mkdir()
    from cdiscflow.export.datasetjson import JsonHeader, write_dataset_json
    from cdiscflow.export.meta import ColumnMeta, DatasetMeta

    cols = tuple(ColumnMeta(c, c, "integer" if frames["DM"][c].dtype.kind == "f" else "text") for c in frames["DM"])
    write_dataset_json(prev / "dm.json", frames["DM"], DatasetMeta("DM", "Demographics", cols),
                       JsonHeader(created="2020-10-01T00:00:00"))
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["export", "--in", str(prev), "--out", str(out), "--study", str(STUDY)])
    assert res.exit_code == 1, res.output
    assert "not written: DM" in res.output
    found = json.loads((out / "export_findings.json").read_text())["findings"]
    assert [(f["rule_id"], f["subject"], f["variable"], f["value"]) for f in found if f["severity"] == "error"][0] == \
        ("XPT-LENGTH", "XPTTEST-001", "SEX", "FEMALE")


def test_export_of_an_empty_folder_is_unusable_input(tmp_path):
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(main, ["export", "--in", str(tmp_path / "empty"), "--out", str(tmp_path / "o"),
                                    "--study", str(STUDY)])
    assert res.exit_code == 2 and "no datasets" in res.output


def test_convert_both_ways(frames, xspec, tmp_path):
    prev = _inputs(frames, xspec, tmp_path)
    res = CliRunner().invoke(main, ["convert", str(prev / "adam" / "adtte.xpt")])
    assert res.exit_code == 0, res.output
    json_path = prev / "adam" / "adtte.json"
    doc = json.loads(json_path.read_text())
    assert [c["dataType"] for c in doc["columns"] if c["name"] in ("ADT", "CNSR", "AVAL")] == ["date", "integer",
                                                                                               "integer"]
    (tmp_path / "back").mkdir()
    res = CliRunner().invoke(main, ["convert", str(json_path), "--out", str(tmp_path / "back")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "back" / "adtte.xpt").read_bytes() == (prev / "adam" / "adtte.xpt").read_bytes()


def test_convert_refuses_unknown_files(tmp_path):
    (tmp_path / "x.csv").write_text("a,b\n")
    res = CliRunner().invoke(main, ["convert", str(tmp_path / "x.csv")])
    assert res.exit_code == 2 and "expected .xpt or .json" in res.output
    (tmp_path / "bad.xpt").write_bytes(b"not a transport file")
    res = CliRunner().invoke(main, ["convert", str(tmp_path / "bad.xpt")])
    assert res.exit_code == 2 and "not a readable SAS transport (XPT) file" in res.output


def test_help_shows_examples():
    for cmd in ("export", "convert"):
        res = CliRunner().invoke(main, [cmd, "--help"])
        assert res.exit_code == 0 and "Example" in res.output
