"""`cdiscflow validate`: exit codes 0 / 1 / 2, findings files, thresholds."""

from __future__ import annotations

import pytest
import json
from pathlib import Path

import pandas as pd
import pyreadstat
from click.testing import CliRunner

from cdiscflow.cli import main

STUDY = Path(__file__).resolve().parent / "study"


def _write_sdtm(folder, datasets):
    folder.mkdir(exist_ok=True)
    for name in ("TA", "TE", "DM", "AE", "EX", "DS", "RS"):
        pyreadstat.write_xport(datasets[name], str(folder / f"{name.lower()}.xpt"), file_format_version=5,
                               table_name=name)
    return folder


def _validate(*args):
    return CliRunner().invoke(main, ["validate", *map(str, args)])


def test_clean_folder_exits_0(tmp_path, clean):
    data = _write_sdtm(tmp_path / "sdtm", clean)
    res = _validate(data, "--study", STUDY, "--out", tmp_path / "v", "--no-data-docs")
    assert res.exit_code == 0, res.output
    assert "Validated 7 datasets (23 records)" in res.output and "no findings" in res.output
    assert pd.read_csv(tmp_path / "v" / "findings.csv").empty
    rules = pd.read_csv(tmp_path / "v" / "rules.csv")
    assert set(rules.loc[rules["status"] == "skipped", "rule_id"]) >= {"CF-ADSL-001", "CF-DEF-001"}
    assert json.loads((tmp_path / "v" / "findings.json").read_text())["counts"] == {"error": 0, "warning": 0,
                                                                                      "note": 0}


@pytest.mark.slow
def test_errors_exit_1_and_are_summarised(tmp_path, clean):
    clean["AE"].loc[2, "AESEV"] = "mild"
    data = _write_sdtm(tmp_path / "sdtm", clean)
    res = _validate(data, "--study", STUDY, "--out", tmp_path / "v", "--no-data-docs")
    assert res.exit_code == 1
    assert "SCH-CT-001" in res.output and "1 findings at or above 'error'" in res.output
    f = pd.read_csv(tmp_path / "v" / "findings.csv", dtype=str)
    assert f[["rule_id", "subject", "value"]].values.tolist() == [["SCH-CT-001", "VALTEST-002", "mild"]]


@pytest.mark.slow
def test_fail_on_warning(tmp_path, clean):
    clean["DS"].loc[1, "DSDECOD"] = "LOST TO FOLLOW-UP"  # a CT term the study codelist lacks: a warning only
    data = _write_sdtm(tmp_path / "sdtm", clean)
    assert _validate(data, "--study", STUDY, "--out", tmp_path / "v", "--no-data-docs").exit_code == 0
    res = _validate(data, "--study", STUDY, "--out", tmp_path / "v", "--no-data-docs", "--fail-on", "warning")
    assert res.exit_code == 1 and "at or above 'warning'" in res.output


def test_unusable_input_exits_2(tmp_path):
    (tmp_path / "empty").mkdir()
    res = _validate(tmp_path / "empty", "--out", tmp_path / "v")
    assert res.exit_code == 2 and "no datasets" in res.output
    res = _validate(tmp_path / "empty", "--study", tmp_path / "no-such-study")
    assert res.exit_code == 2


def test_help_has_an_example():
    res = CliRunner().invoke(main, ["validate", "--help"])
    assert res.exit_code == 0 and "cdiscflow validate out/sdtm --study" in res.output


def test_list_rules():
    res = CliRunner().invoke(main, ["validate", "--list-rules"])
    assert res.exit_code == 0
    assert "SCH-CT-001" in res.output and "CF-ADRS-001" in res.output and "CORE-000271" in res.output


@pytest.mark.slow
def test_findings_are_never_written_into_the_data_folder(tmp_path, clean):
    data = _write_sdtm(tmp_path / "sdtm", clean)
    before = sorted(p.name for p in data.iterdir())
    res = _validate(data, "--study", STUDY, "--out", data, "--no-data-docs")  # issue 16.3: inputs stay untouched
    assert res.exit_code == 2 and f"--out {data} is the dataset folder {data}" in res.output, res.output
    assert sorted(p.name for p in data.iterdir()) == before
    res = _validate(data, "--study", STUDY, "--out", tmp_path / "v", "--no-data-docs")
    assert res.exit_code == 0, res.output
    for name in ("findings.json", "findings.csv"):  # a findings file put next to the data is never read as data
        (data / name).write_bytes((tmp_path / "v" / name).read_bytes())
    res = _validate(data, "--study", STUDY, "--out", tmp_path / "v", "--no-data-docs")
    assert res.exit_code == 0, res.output
