"""One exit-code contract for every command: 0 success, 1 findings or rejections at or above the threshold, 2 unusable
input or spec, 3 a bug in cdiscflow (never a traceback); each command's --help says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cdiscflow.cli import main

pytestmark = pytest.mark.slow  # module fixtures run the pipeline end to end

COMMANDS = tuple(main.commands)  # every command, including ones added later


def invoke(*args) -> tuple[int, str]:
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in res.output
    return res.exit_code, res.output


@pytest.fixture(scope="module")
def sdtm_folder(tmp_path_factory) -> Path:
    """SDTM datasets of the 3-subject export, written by `cdiscflow sdtm` (the input of validate and export)."""
    out = tmp_path_factory.mktemp("sdtm") / "sdtm"
    code, output = invoke("sdtm", "--raw", Path(__file__).parent / "data" / "raw_small", "--out", out)
    assert code == 0, output
    return out


@pytest.fixture
def broken_spec(study_copy) -> Path:
    """A spec that contradicts itself ('Man' listed as a synonym of both F and M)."""
    text = (study_copy / "codelists.csv").read_text()
    (study_copy / "codelists.csv").write_text(text.replace("Female|Woman", "Female|Woman|Man", 1))
    return study_copy


@pytest.mark.parametrize("command", COMMANDS)
def test_help_documents_the_exit_codes(command):
    code, output = invoke(command, "--help")
    assert code == 0
    assert "Exit codes:" in output
    for line in ("0  success", "1  findings or rejections at or above the threshold", "2  unusable input or spec",
                 "3  internal error"):
        assert line in output, (command, line)
    assert "Example" in output


@pytest.mark.slow
def test_success_is_0(raw_small, sdtm_folder, tmp_path):
    assert invoke("sdtm", "--raw", raw_small, "--out", tmp_path / "s")[0] == 0
    assert invoke("run", "--raw", raw_small, "--out", tmp_path / "r", "--no-data-docs", "-q")[0] == 0
    assert invoke("validate", sdtm_folder, "--study", "dara_atra", "--out", tmp_path / "v", "--no-data-docs")[0] == 0
    assert invoke("export", "--in", sdtm_folder, "--out", tmp_path / "e")[0] == 0
    assert invoke("check-spec", "dara_atra")[0] == 0


@pytest.mark.slow
def test_findings_and_rejections_are_1(raw_small, sdtm_folder, study_copy, tmp_path):
    dara = raw_small / "dara.csv"
    dara.write_text(dara.read_text().replace("16,mg/kg,1312", "16,mg/lb,1312", 1))  # unknown unit, dara row 6
    for mode in ("strict", "reject"):
        code, output = invoke("sdtm", "--raw", raw_small, "--out", tmp_path / f"s_{mode}", "--on-error", mode)
        assert code == 1 and "MAP-CT" in output
        code, output = invoke("run", "--raw", raw_small, "--out", tmp_path / f"r_{mode}", "--on-error", mode,
                              "--no-data-docs", "-q")
        assert code == 1 and "MAP-CT" in output
    # validate: DTHDTC declared Required makes every living subject an error (SCH-NULL-001)
    variables = study_copy / "variables.csv"
    variables.write_text(variables.read_text().replace("DM,11,DTHDTC,,date,,,Derived,,,",
                                                       "DM,11,DTHDTC,,date,,,Derived,,Req,", 1))
    code, output = invoke("validate", sdtm_folder, "--study", study_copy, "--out", tmp_path / "v", "--no-data-docs")
    assert code == 1 and "SCH-NULL-001" in output
    # export: AETERM longer than the spec's length 5 blocks AE (XPT-LENGTH)
    variables.write_text(variables.read_text().replace("AE,6,AETERM,,text,,", "AE,6,AETERM,,text,5,", 1))
    code, output = invoke("export", "--in", sdtm_folder, "--out", tmp_path / "e", "--study", study_copy)
    assert code == 1 and "not written: AE" in output
    assert not (tmp_path / "e" / "sdtm" / "ae.xpt").exists() and (tmp_path / "e" / "sdtm" / "dm.xpt").exists()


@pytest.mark.slow
def test_unusable_input_is_2(raw_small, tmp_path):
    (raw_small / "atra.csv").unlink()
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "garbage.xpt").write_bytes(b"not a transport file")
    cases = {
        "sdtm": ["sdtm", "--raw", raw_small, "--out", tmp_path / "s"],
        "run": ["run", "--raw", raw_small, "--out", tmp_path / "r", "--no-data-docs"],
        "validate": ["validate", empty, "--out", tmp_path / "v", "--no-data-docs"],
        "export": ["export", "--in", empty, "--out", tmp_path / "e"],
        "convert": ["convert", tmp_path / "garbage.xpt"],
    }
    said = {"sdtm": "atra.csv: file for form 'atra'", "run": "atra.csv: file for form 'atra'",
            "validate": "no datasets", "export": "no datasets", "convert": "not a readable SAS transport (XPT) file"}
    for name, args in cases.items():  # over commands
        code, output = invoke(*args)
        assert (code, said[name] in output) == (2, True), (name, output)
    assert not (tmp_path / "s").exists()  # nothing written; cdiscflow run writes only why it stopped:
    assert sorted(p.name for p in (tmp_path / "r").rglob("*")) == [
        "findings.csv", "findings.json", "findings.xlsx", "run.json"]
    assert '"type": "InputError"' in (tmp_path / "r" / "run.json").read_text()


def test_broken_spec_is_2_for_every_command(broken_spec, raw_small, sdtm_folder, tmp_path):
    for args in (["sdtm", "--raw", raw_small, "--out", tmp_path / "s", "--study", broken_spec],
                 ["run", "--raw", raw_small, "--out", tmp_path / "r", "--study", broken_spec],
                 ["validate", sdtm_folder, "--study", broken_spec, "--out", tmp_path / "v", "--no-data-docs"],
                 ["export", "--in", sdtm_folder, "--out", tmp_path / "e", "--study", broken_spec],
                 ["check-spec", broken_spec]):
        code, output = invoke(*args)
        assert code == 2, (args[0], output)
        assert "collected value 'Man' maps to both 'F' and 'M'" in output, args[0]


def test_output_folder_that_cannot_be_written_is_2(raw_small, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    code, output = invoke("sdtm", "--raw", raw_small, "--out", blocker / "sdtm")
    assert code == 2 and f"--out {blocker / 'sdtm'}: {blocker} is a file, not a folder" in output


@pytest.mark.slow
def test_a_bug_is_3_in_one_line_and_never_1(raw_small, tmp_path, monkeypatch):
    import cdiscflow.sdtm.mapping.engine as engine

    def broken(*args, **kwargs):
        raise KeyError("DMSEQ")

    monkeypatch.setattr(engine, "check_date_order", broken)
    code, output = invoke("sdtm", "--raw", raw_small, "--out", tmp_path / "s")
    assert code == 3
    assert output.startswith("cdiscflow: internal error KeyError: 'DMSEQ'\nThis is a bug in cdiscflow")
    assert not (tmp_path / "s").exists()
    monkeypatch.setenv("CDISCFLOW_DEBUG", "1")  # a developer gets the traceback
    res = CliRunner().invoke(main, ["sdtm", "--raw", str(raw_small), "--out", str(tmp_path / "s")])
    assert isinstance(res.exception, KeyError)
