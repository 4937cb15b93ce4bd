"""Issue 16, items 3, 10 and 9 (unwritable --out): no command writes into or over its inputs or into cdiscflow's own
folders, an unusable --out is found before any work, and `validate DIR` without --out writes beside DIR."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cdiscflow.cli import main
from cdiscflow.core.errors import InputError
from cdiscflow.core.outputs import PACKAGE_ROOT, check_output
from cdiscflow.export.xpt import XptVariable, write_xpt


def listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def cli(*args) -> tuple[int, str]:
    res = CliRunner().invoke(main, [str(a) for a in args])
    return res.exit_code, res.output


def small_sdtm(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame({"STUDYID": ["S1"] * 3, "USUBJID": ["S1-1", "S1-2", "S1-3"], "AGE": np.array([40., 51, 62])})
    write_xpt(folder / "dm.xpt", frame, [XptVariable("STUDYID", "Study Identifier", "Char", 2),
                                         XptVariable("USUBJID", "Unique Subject Identifier", "Char", 4),
                                         XptVariable("AGE", "Age", "Num", 8)],
              dataset="DM", created=dt.date(2020, 1, 1))
    return folder


def test_the_rule(tmp_path):
    raw = tmp_path / "raw"
    (raw / "sub").mkdir(parents=True)
    for out, word in ((raw, "is the raw export"), (raw / "sub", "is inside the raw export"),
                      (tmp_path, "contains the raw export"), (tmp_path / "x" / ".." / "raw", "is the raw export")):
        with pytest.raises(InputError, match=f"--out {out} {word} {raw}"):
            check_output(out, [("raw export", raw)])
    (tmp_path / "link").symlink_to(raw)
    with pytest.raises(InputError, match="is the raw export"):
        check_output(tmp_path / "link", [("raw export", raw)])
    assert check_output(tmp_path / "out", [("raw export", raw), ("spec folder", None)]) == tmp_path / "out"
    # a file output may sit beside its input file, never on it or in an input folder
    (raw / "dm.xpt").write_bytes(b"")
    assert check_output(raw.parent / "dm.json", [("input file", raw / "dm.xpt")], is_file=True)
    with pytest.raises(InputError, match="is the input file"):
        check_output(raw / "dm.xpt", [("input file", raw / "dm.xpt")], is_file=True)
    with pytest.raises(InputError, match="is inside the spec folder"):
        check_output(raw / "define.xml", [("spec folder", raw)], is_file=True)
    with pytest.raises(InputError, match="inside cdiscflow's own validation/ folder"):
        check_output(PACKAGE_ROOT / "validation" / "out", [])
    assert not (PACKAGE_ROOT / "validation" / "out").exists()


@pytest.mark.slow
def test_run_and_sdtm_refuse_an_out_in_or_over_the_raw_export(tmp_path, raw_small):
    before = listing(raw_small)
    for args in (["run", "--raw", raw_small, "--out", raw_small],
                 ["run", "--raw", raw_small, "--out", raw_small / "out"],
                 ["run", "--raw", raw_small, "--out", raw_small.parent],
                 ["sdtm", "--raw", raw_small, "--out", raw_small],
                 ["sdtm", "--raw", raw_small, "--out", raw_small / "sdtm"]):
        code, output = cli(*args)
        assert code == 2 and f"the raw export {raw_small}" in output, (args, output)
    assert listing(raw_small) == before and not (raw_small / "out").exists() and not (raw_small / "sdtm").exists()


def test_the_spec_folder_is_an_input_too(tmp_path, raw_small, study_copy):
    before = listing(study_copy)
    code, output = cli("run", "--raw", raw_small, "--study", study_copy, "--out", study_copy / "out")
    assert code == 2 and f"is inside the spec folder {study_copy}" in output
    code, output = cli("spec", "export", study_copy, "--format", "xlsx", "--out", study_copy / "spec.xlsx")
    assert code == 2 and "is inside the spec folder" in output
    assert listing(study_copy) == before


@pytest.mark.slow
def test_dataset_commands_refuse_their_input_folder(tmp_path):
    sdtm = small_sdtm(tmp_path / "sdtm")
    before = listing(sdtm)
    for args in (["adam", "--sdtm", sdtm, "--out", sdtm],
                 ["validate", sdtm, "--out", sdtm],
                 ["validate", sdtm, "--out", sdtm / "validation"],
                 ["export", "--in", sdtm, "--out", sdtm / "x"],
                 ["report", "--adam", sdtm, "--out", sdtm / "report"],
                 ["compare", "--study", "cdiscpilot01", "--sdtm", sdtm, "--reference", tmp_path, "--out",
                  tmp_path / "cmp"]):
        code, output = cli(*args)
        assert code == 2 and "choose" in output and str(sdtm if args[0] != "compare" else tmp_path) in output, \
            (args, output)
    assert listing(sdtm) == before


def test_spec_import_never_replaces_the_folder_of_its_source(tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "define.xml").write_text("<ODM/>")
    code, output = cli("spec", "import", folder / "define.xml", "--out", folder, "--force")
    assert code == 2 and f"contains the source file {folder / 'define.xml'}" in output
    assert (folder / "define.xml").read_text() == "<ODM/>"


def test_nothing_writes_into_the_package(tmp_path):
    sdtm = small_sdtm(tmp_path / "sdtm")
    target = PACKAGE_ROOT / "report" / "trust_io_dm.json"
    try:
        code, output = cli("convert", sdtm / "dm.xpt", "--out", target)
        assert code == 2 and "inside cdiscflow's own report/ folder" in output
        assert not target.exists()
    finally:
        target.unlink(missing_ok=True)


def test_an_unusable_out_is_found_before_any_work(tmp_path, raw_small):
    (tmp_path / "file").write_text("a file")
    code, output = cli("run", "--raw", raw_small, "--out", tmp_path / "file" / "out", "--no-data-docs")
    assert code == 2 and f"--out {tmp_path / 'file' / 'out'}: {tmp_path / 'file'} is a file, not a folder" in output
    assert "[sdtm]" not in output and "findings" not in output  # no stage ran
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        code, output = cli("sdtm", "--raw", raw_small, "--out", locked / "sdtm")
        assert code == 2 and f"cannot write into {locked}" in output


def test_validate_without_out_writes_beside_the_folder(tmp_path, monkeypatch):
    sdtm = small_sdtm(tmp_path / "data" / "sdtm")
    monkeypatch.chdir(tmp_path)
    code, output = cli("validate", "data/sdtm", "--no-data-docs")
    assert code in (0, 1), output
    assert not (tmp_path / "validation").exists()  # before: ./validation (the package's own, from the repo root)
    assert (tmp_path / "data" / "sdtm-validation" / "findings.csv").is_file()
    assert sorted(p.name for p in sdtm.iterdir()) == ["dm.xpt"]
    assert "default: (DIRECTORY-validation, beside DIRECTORY)" in " ".join(cli("validate", "--help")[1].split())
    shutil.rmtree(tmp_path / "data" / "sdtm-validation")
