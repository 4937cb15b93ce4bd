"""run.json: enough for a reviewer to tell how the output was made -- also when the run stops early."""

from __future__ import annotations

import hashlib
import json

import pytest

from cdiscflow.core.errors import FindingsError, InputError
from cdiscflow.pipeline import STAGES, run


def _log(out):
    return json.loads((out / "run.json").read_text())


@pytest.mark.slow
def test_run_log_records_inputs_options_and_steps(tmp_path, raw_small):
    out = tmp_path / "out"
    result = run(raw_dir=raw_small, out_dir=out, data_docs=False, on_error="reject")
    log = _log(out)
    assert log["options"] == {"on_error": "reject", "fail_on": "error", "data_docs": False}
    assert log["inputs"]["raw_dir"] == str(raw_small.resolve())
    files = log["inputs"]["files"]
    assert sorted(files) == sorted(p.name for p in raw_small.iterdir())
    enrol = raw_small / "enrol.csv"
    assert files["enrol.csv"] == {"bytes": enrol.stat().st_size,
                                  "sha256": hashlib.sha256(enrol.read_bytes()).hexdigest()}
    assert len(log["study"]["spec_sha256"]) == 64
    stages = {s["stage"]: s for s in log["stages"]}
    assert list(stages) == list(STAGES)
    assert stages["sdtm"]["rows_in"]["enrol"] == 3 and stages["sdtm"]["rows_out"]["DM"] == 3
    assert set(stages["sdtm"]["steps"]) >= {"read", "map", "derive"}
    assert log["started"].endswith("+00:00") and log["seconds"] >= sum(s["seconds"] for s in log["stages"]) - 0.01
    assert log["exit_code"] == result.exit_code == 0 and "error" not in log


@pytest.mark.slow
def test_the_spec_fingerprint_changes_with_the_spec_not_with_the_raw_export(tmp_path, study_copy, raw_small):
    from cdiscflow.pipeline import _spec_fingerprint
    from cdiscflow.specs.load import load_study

    before = _spec_fingerprint(load_study(study_copy))
    (study_copy / "raw").mkdir()
    (study_copy / "raw" / "enrol.csv").write_text("anything")  # the embedded export is an input, not the spec
    assert _spec_fingerprint(load_study(study_copy)) == before
    text = (study_copy / "methods.csv").read_text()
    (study_copy / "methods.csv").write_text(text + "\n")
    assert _spec_fingerprint(load_study(study_copy)) != before


@pytest.mark.slow
def test_strict_mapping_errors_still_leave_findings_and_a_run_log(tmp_path, raw_small):
    text = (raw_small / "enrol.csv").read_text()
    (raw_small / "enrol.csv").write_text(text.replace("UN-UNK-1945,Man,", "UN-UNK-1945,Femme,", 1))
    out = tmp_path / "out"
    with pytest.raises(FindingsError):
        run(raw_dir=raw_small, out_dir=out, data_docs=False)
    log = _log(out)
    assert log["exit_code"] == 1 and log["error"]["type"] == "FindingsError"
    assert [s["stage"] for s in log["stages"]] == ["sdtm"]
    assert log["stages"][0]["error"].startswith("1 error(s) in the raw export")
    assert log["findings"]["error"] == 1 and log["files"] == []
    findings = (out / "findings.csv").read_text()
    assert "MAP-CT" in findings and "Femme" in findings
    assert not list(out.rglob("*.xpt"))


@pytest.mark.slow
def test_unusable_raw_export_is_logged_with_exit_code_2(tmp_path, raw_small):
    (raw_small / "ae.csv").unlink()
    out = tmp_path / "out"
    with pytest.raises(InputError, match="ae.csv"):
        run(raw_dir=raw_small, out_dir=out, data_docs=False)
    log = _log(out)
    assert log["exit_code"] == 2 and log["error"]["type"] == "InputError" and "ae.csv" in log["error"]["message"]
    assert "ae.csv" not in log["inputs"]["files"] and "enrol.csv" in log["inputs"]["files"]
