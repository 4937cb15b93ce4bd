"""`cdiscflow run`: the whole recipe on the embedded study, its run log, exit codes and byte-identical re-runs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest
from click.testing import CliRunner

from cdiscflow.cli import main
from cdiscflow.pipeline import run

pytestmark = pytest.mark.slow  # module fixtures run the pipeline end to end


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    a = tmp_path_factory.mktemp("run_a")
    b = tmp_path_factory.mktemp("run_b")
    return run(out_dir=a), run(out_dir=b, data_docs=True)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_run_writes_every_layer_and_a_run_log(two_runs):
    result, _ = two_runs
    out = result.out_dir
    assert result.exit_code == 0 and result.subjects == 63
    for name in ("dm", "ae", "ex", "rs", "ds", "ts", "ta", "te", "se", "suppae"):
        assert (out / "sdtm" / f"{name}.xpt").is_file() and (out / "sdtm" / f"{name}.json").is_file()
    assert (out / "sdtm" / "define.xml").is_file()
    assert (out / "validation" / "findings.csv").is_file() and (out / "validation" / "datadocs" / "index.html").is_file()
    # ADaM: one ADSL record per subject, ADAE one record per AE (225 in AE), ADTTE 4 parameters x 50 treated in Part B
    adam = {name: pyreadstat.read_xport(out / "adam" / f"{name}.xpt")[0] for name in ("adsl", "adae", "adtte")}
    assert len(adam["adsl"]) == 63 and adam["adsl"]["USUBJID"].is_unique
    assert len(adam["adae"]) == 225
    assert adam["adtte"].groupby("PARAMCD").size().to_dict() == {"OSAB": 50, "OSB": 50, "PFSAB": 50, "PFSB": 50}
    assert (out / "adam" / "define.xml").is_file()
    # the report: the paper's PFS-B analysis set (44 RP2D patients) and its 40 events, from statistics.csv
    stats = pd.read_csv(out / "report" / "statistics.csv")
    pfs_b = stats[(stats["table"] == "tte") & (stats["row"] == "PFS_B") & (stats["category"] == "all")]
    assert pfs_b.set_index("stat").loc[["n", "events"], "value"].tolist() == [44, 40]
    assert (out / "report" / "index.html").is_file() and (out / "report" / "km_PFS_B.png").is_file()
    log = json.loads((out / "run.json").read_text())
    assert log["study"] == {"studyid": "DARA-ATRA", "spec": log["study"]["spec"], "datacut": "2020-10-01",
                            "synthetic": True, "spec_sha256": log["study"]["spec_sha256"]}
    assert log["standards"]["SDTMIG"] == "3.4" and log["standards"]["ct"]["SDTM"] == "2025-03-28"
    stages = {s["stage"]: s for s in log["stages"]}
    assert list(stages) == ["sdtm", "adam", "validate", "export", "report"]
    assert stages["adam"]["rows_out"]["ADSL"] == 63 and stages["adam"]["note"] == ""
    assert stages["sdtm"]["rows_in"]["enrol"] == 63 and stages["sdtm"]["rows_out"]["DM"] == 63
    assert log["exit_code"] == 0 and log["rejected_raw_rows"] == 0
    assert "sdtm/dm.xpt" in log["files"]


def test_two_runs_give_identical_bytes(two_runs):
    a, b = (_files(r.out_dir) for r in two_runs)
    assert a.keys() == b.keys()
    differing = [name for name in a if a[name] != b[name] and name != "run.json"]  # run.json holds timings
    assert differing == []


@pytest.mark.slow
def test_validation_errors_block_the_export(tmp_path, study_copy):
    # Declaring DM.DTHDTC Required makes every living subject a schema error (SCH-NULL-001): the run validates before
    # writing, so no dataset is written, the findings say why, and the exit code is 1.
    import shutil

    from cdiscflow.specs.model import SPECS_DIR

    shutil.copytree(SPECS_DIR / "dara_atra" / "raw", study_copy / "raw")
    text = (study_copy / "variables.csv").read_text()
    (study_copy / "variables.csv").write_text(text.replace("DM,11,DTHDTC,,date,,,Derived,,,", "DM,11,DTHDTC,,date,,,Derived,,Req,", 1))
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["run", "--study", str(study_copy), "--out", str(out), "--no-data-docs", "-q"])
    assert res.exit_code == 1, res.output
    assert not list(out.glob("*/*.xpt"))
    findings = (out / "validation" / "findings.csv").read_text()
    assert "SCH-NULL-001" in findings and "DTHDTC" in findings
    assert (out / "sdtm" / "_accounting.csv").is_file()  # the mapping's bookkeeping is still written


def test_cli_run_help_documents_exit_codes():
    res = CliRunner().invoke(main, ["run", "--help"])
    assert res.exit_code == 0
    assert "Exit codes:" in res.output and "2  unusable input or spec" in res.output
    assert "cdiscflow run --raw" in res.output
