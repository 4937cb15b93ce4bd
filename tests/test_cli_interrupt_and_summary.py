"""Issue 16.9: an empty enrolment form is summarised (not one line per record of every other form), and exit 130
(interrupted) is documented in `run --help` (every command's) and the README's exit-code table.  That Ctrl-C really
ends `run` with 130 is tested on a real process in tests/test_reliability_run_atomic.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cdiscflow.cli import main

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_an_empty_enrolment_form_is_summarised(raw_small, tmp_path):
    enrol = raw_small / "enrol.csv"
    enrol.write_text("".join(enrol.read_text().splitlines(keepends=True)[:2]))  # banner + header: no subject
    res = CliRunner().invoke(main, ["sdtm", "--raw", str(raw_small), "--out", str(tmp_path / "sdtm")])
    assert res.exit_code == 1
    lines = res.output.splitlines()
    assert sum(line.startswith("RAW-NOT-ENROLLED ") for line in lines) == 20  # was 49: one per record
    assert "... and 29 more error(s): RAW-NOT-ENROLLED 29 in 10 file(s)" in lines
    assert "cdiscflow: 49 error(s) in the raw export; nothing was written." in res.output
    assert len(lines) < 45


@pytest.mark.parametrize("command", ["run", "batch", "sdtm", "validate"])
def test_help_documents_exit_130(command):
    res = CliRunner().invoke(main, [command, "--help"])
    assert res.exit_code == 0
    assert "130  interrupted (Ctrl-C)" in res.output


def test_readme_exit_code_table_has_3_and_130():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    table = text[text.index("### Exit codes"):]
    table = table[:table.index("\n\n", table.index("| code |"))]
    rows = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows == ["code", "0", "1", "2", "3", "130"]
