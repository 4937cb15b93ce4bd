"""One exit-code policy for every command (core.errors.exit_code_for): real exit codes through the command line.

A finding at or above `--fail-on` gives exit 1, below it exit 0; things without a severity (rejected raw rows,
comparisons not explained, reproduction failures not documented) always give 1.  The hand-made inputs below carry
exactly one kind of warning each, so the threshold alone decides the code.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cdiscflow.cli import main
from cdiscflow.core.errors import EXIT_FINDINGS, EXIT_OK, exit_code_for
from cdiscflow.core.findings import Findings

FINDINGS_COMMANDS = (["run"], ["batch"], ["sdtm"], ["adam"], ["export"], ["convert"], ["validate"], ["package"])


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _findings(*severities: str) -> Findings:
    f = Findings()
    for i, severity in enumerate(severities):
        f.add(severity=severity, rule_id=f"T-{i}", dataset="DM", message="hand-made")
    return f


def test_the_policy_weighs_findings_against_the_threshold():
    one_warning = _findings("warning", "note", "note")
    assert exit_code_for(one_warning, "error") == EXIT_OK == 0
    assert exit_code_for(one_warning, "warning") == EXIT_FINDINGS == 1
    assert exit_code_for(_findings("note", "note"), "warning") == 0  # notes never fail a command
    assert exit_code_for(_findings("error"), "error") == 1
    assert exit_code_for(_findings("error"), "warning") == 1  # an error is at or above 'warning' too
    assert exit_code_for(Findings(), "warning") == 0
    # rejected rows / unexplained differences have no severity: any of them fails, whatever the threshold
    assert exit_code_for(Findings(), "error", failures=2) == 1
    assert exit_code_for(failures=1) == 1 and exit_code_for(failures=0) == 0 and exit_code_for() == 0


@pytest.mark.parametrize("command", FINDINGS_COMMANDS, ids=lambda c: c[0])
def test_every_command_with_findings_accepts_fail_on(command):
    res = _cli(*command, "--help")
    assert res.exit_code == 0 and "--fail-on [error|warning]" in res.output


@pytest.fixture(scope="module")
def sdtm_small(tmp_path_factory):
    """The SDTM of the hand-made 3-subject export, as `cdiscflow sdtm` writes it (no findings)."""
    out = tmp_path_factory.mktemp("exit") / "sdtm"
    res = _cli("sdtm", "--raw", Path(__file__).parent / "data" / "raw_small", "--out", out)
    assert res.exit_code == 0 and "no findings" in res.output, res.output
    return out


def _json_folder(sdtm, tmp_path, name: str, column: str, value: str):
    """A folder with one Dataset-JSON file of `sdtm`, the first row's `column` set to `value`."""
    folder = tmp_path / "in"
    folder.mkdir()
    doc = json.loads((sdtm / f"{name}.json").read_text(encoding="utf-8"))
    index = [c["name"] for c in doc["columns"]].index(column)
    doc["rows"][0][index] = value
    (folder / f"{name}.json").write_text(json.dumps(doc), encoding="utf-8")
    return folder


def _extra_column(raw):
    """The raw export with one column forms.yaml does not know in enrol.csv: a RAW-EXTRA-COLUMN warning."""
    enrol = raw / "enrol.csv"
    lines = enrol.read_text(encoding="utf-8").splitlines()
    lines = [lines[0]] + [f"{lines[1]},EXTRA"] + [f"{line},x" for line in lines[2:]]  # banner, header, records
    enrol.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return raw


@pytest.mark.slow
def test_run_the_threshold_decides_the_exit_code(raw_small, tmp_path):
    raw = _extra_column(raw_small)
    res = _cli("run", "--raw", raw, "--out", tmp_path / "a", "-q", "--no-data-docs")
    assert res.exit_code == 0, res.output
    assert "1 warning" in res.output and (tmp_path / "a" / "sdtm" / "dm.xpt").is_file()
    res = _cli("run", "--raw", raw, "--out", tmp_path / "b", "-q", "--no-data-docs", "--fail-on", "warning")
    assert res.exit_code == 1, res.output
    findings = (tmp_path / "b" / "findings.csv").read_text(encoding="utf-8")
    assert findings.count("RAW-EXTRA-COLUMN") == 1 and "warning" in findings


@pytest.mark.slow
def test_sdtm_an_extra_raw_column_is_a_warning(raw_small, tmp_path):
    _extra_column(raw_small)
    res = _cli("sdtm", "--raw", raw_small, "--out", tmp_path / "a")
    assert res.exit_code == 0, res.output
    assert "1 warning" in res.output
    res = _cli("sdtm", "--raw", raw_small, "--out", tmp_path / "b", "--fail-on", "warning")
    assert res.exit_code == 1, res.output


@pytest.mark.slow
def test_export_a_control_character_is_a_warning(sdtm_small, tmp_path):
    folder = _json_folder(sdtm_small, tmp_path, "ae", "AETERM", "Infusion\treaction")
    res = _cli("export", "--in", folder, "--out", tmp_path / "x", "--format", "xpt")
    assert res.exit_code == 0, res.output
    assert "XPT-CONTROL" in (tmp_path / "x" / "export_findings.csv").read_text()
    res = _cli("export", "--in", folder, "--out", tmp_path / "y", "--format", "xpt", "--fail-on", "warning")
    assert res.exit_code == 1, res.output
    assert (tmp_path / "y" / "sdtm" / "ae.xpt").is_file()  # a warning does not block the dataset


@pytest.mark.slow
def test_convert_non_ascii_text_is_a_warning(sdtm_small, tmp_path):
    folder = _json_folder(sdtm_small, tmp_path, "ae", "AETERM", "Infusion réaction")
    res = _cli("convert", folder / "ae.json", "--out", tmp_path / "a.xpt")
    assert res.exit_code == 0 and "warning: AETERM: non-ASCII text" in res.output, res.output
    res = _cli("convert", folder / "ae.json", "--out", tmp_path / "b.xpt", "--fail-on", "warning")
    assert res.exit_code == 1 and (tmp_path / "b.xpt").is_file()


@pytest.mark.slow
def test_adam_without_findings_exits_0_at_either_threshold(sdtm_small, tmp_path):
    folder = tmp_path / "sdtm"
    shutil.copytree(sdtm_small, folder)
    res = _cli("adam", "--sdtm", folder, "--out", tmp_path / "adam", "--fail-on", "warning")
    assert res.exit_code == 0 and "no findings" in res.output, res.output
