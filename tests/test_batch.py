"""`cdiscflow batch`: many exports in parallel, one failing without stopping the others, the summary, exit codes,
folder names that never collide, and plain output when nobody watches a terminal."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cdiscflow.batch import (CRASHED, FINDINGS, NOT_RUN, OK, UNUSABLE, BatchJob, BatchResult, BatchSettings,
                             ExportOutcome, _execute, folder_names, plan_jobs, run_export)
from cdiscflow.cli import main
from cdiscflow.core.errors import InputError

pytestmark = pytest.mark.slow  # module fixtures run the pipeline end to end

ANSI = "\x1b["
BAR = "━"  # rich's progress bar


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def three_exports(tmp_path_factory):
    """Three simulated exports (seeds 1, 2, 3), the third damaged: a column of the AE form renamed."""
    root = tmp_path_factory.mktemp("exports")
    runner = CliRunner()
    for seed in (1, 2, 3):
        res = runner.invoke(main, ["simulate", "--seed", str(seed), "--out", str(root / f"cut{seed}")])
        assert res.exit_code == 0, res.output
    ae = root / "cut3" / "ae.csv"
    ae.write_text(ae.read_text().replace(",AETERM,", ",AE_TERM,", 1))
    return root


@pytest.fixture(scope="module")
def batch_run(three_exports, tmp_path_factory):
    out = tmp_path_factory.mktemp("batch") / "out"
    args = ["batch", *(str(three_exports / f"cut{n}") for n in (1, 2, 3)), "--out", str(out), "--jobs", "2",
            "--no-data-docs"]
    res = CliRunner().invoke(main, args, env={"CI": None})  # captured output: not a terminal
    return res, out


@pytest.mark.slow
def test_batch_converts_the_good_exports_and_reports_the_damaged_one(batch_run):
    res, out = batch_run
    assert res.exit_code == 2, res.output  # the worst export is unusable
    for name in ("cut1", "cut2"):
        log = json.loads((out / name / "run.json").read_text())
        assert log["exit_code"] == 0 and log["stages"][0]["rows_out"]["DM"] == 63
        assert (out / name / "sdtm" / "dm.xpt").is_file() and (out / name / "sdtm" / "define.xml").is_file()
    log = json.loads((out / "cut3" / "run.json").read_text())  # the failure leaves its run log too
    assert log["exit_code"] == 2 and "AETERM" in log["error"]["message"]
    assert not list((out / "cut3").rglob("*.xpt"))


def test_batch_summary_csv_and_json(batch_run, three_exports):
    _, out = batch_run
    rows = _rows(out / "batch_summary.csv")
    assert [r["export"] for r in rows] == ["cut1", "cut2", "cut3"]  # the order given, not the order finished
    assert [(r["status"], r["exit_code"], r["subjects"], r["datasets"]) for r in rows] == [
        ("ok", "0", "63", "31"), ("ok", "0", "63", "31"), ("unusable", "2", "", "")]
    assert rows[0]["errors"] == "0" and float(rows[0]["seconds"]) > 0
    assert "ae.csv" in rows[2]["message"] and "AETERM" in rows[2]["message"]
    assert rows[2]["raw_dir"] == str((three_exports / "cut3").resolve())
    doc = json.loads((out / "batch_summary.json").read_text())
    assert doc["exit_code"] == 2 and doc["counts"] == {"ok": 2, "unusable": 1} and doc["jobs"] == 2
    assert doc["options"]["data_docs"] is False and doc["options"]["on_error"] == "strict"
    assert [e["status"] for e in doc["exports"]] == ["ok", "ok", "unusable"]


def test_batch_terminal_output_is_plain_when_captured(batch_run):
    res, out = batch_run
    text = res.output
    assert ANSI not in text and BAR not in text
    assert "[cut1/sdtm] started" in text and "[cut3/sdtm] failed after" in text
    assert "[cut1] ok: 63 subjects, 31 datasets, no findings" in text
    lines = text.splitlines()
    header = lines.index("export  status    subjects  datasets  findings  seconds")
    assert lines[header + 1].split()[:5] == ["cut1", "ok", "63", "31", "none"]
    assert lines[header + 3].split()[:2] == ["cut3", "unusable"]
    assert any(line.startswith("cut3: raw export") and "AETERM" in line for line in lines)
    assert "3 exports in" in text and "(2 ok, 1 unusable)" in text and "Traceback" not in text


@pytest.mark.slow
def test_findings_give_exit_1_and_duplicate_folder_names_do_not_collide(tmp_path, raw_small):
    import shutil

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    shutil.copytree(raw_small, tmp_path / "a" / "raw")
    shutil.copytree(raw_small, tmp_path / "b" / "raw")
    enrol = tmp_path / "b" / "raw" / "enrol.csv"
    enrol.write_text(enrol.read_text().replace("UN-UNK-1945,Man,", "UN-UNK-1945,Femme,", 1))
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["batch", str(tmp_path / "a" / "raw"), str(tmp_path / "b" / "raw"),
                                    "--out", str(out), "--no-data-docs", "-q"])
    assert res.exit_code == 1, res.output
    rows = {r["export"]: r for r in _rows(out / "batch_summary.csv")}
    assert set(rows) == {"a_raw", "b_raw"}
    assert (rows["a_raw"]["status"], rows["a_raw"]["subjects"]) == ("ok", "3")
    assert (rows["b_raw"]["status"], rows["b_raw"]["exit_code"], rows["b_raw"]["errors"]) == ("findings", "1", "1")
    assert "MAP-CT" in (out / "b_raw" / "findings.csv").read_text()  # the problems, not only a count
    assert (out / "a_raw" / "sdtm" / "dm.xpt").is_file()
    assert "[a_raw/" not in res.output  # --quiet: no progress, the summary only
    assert "b_raw: 1 error(s) in the raw export" in res.output


def test_folder_names():
    paths = [Path("/d/x/cut/raw"), Path("/d/y/cut/raw"), Path("/d/z/raw"), Path("/d/2020_10")]
    assert folder_names(paths) == ["x_cut_raw", "y_cut_raw", "z_raw", "2020_10"]
    # names equal but for case collide on case-insensitive file systems
    assert folder_names([Path("/d/a/Raw"), Path("/d/b/raw")]) == ["a_Raw", "b_raw"]
    # nothing left to tell them apart: numbered in the order given
    assert folder_names([Path("/raw"), Path("/RAW")]) == ["raw", "RAW_2"]
    # a prefixed name meeting a real folder of that name
    assert folder_names([Path("/d/a/raw"), Path("/d/b/raw"), Path("/e/a_raw")]) == ["d_a_raw", "b_raw", "e_a_raw"]


def test_an_export_given_twice_is_refused(tmp_path):
    (tmp_path / "cut").mkdir()
    with pytest.raises(InputError, match="given twice"):
        plan_jobs([tmp_path / "cut", tmp_path / "x" / ".." / "cut"], tmp_path / "out")
    res = CliRunner().invoke(main, ["batch", str(tmp_path / "cut"), str(tmp_path / "cut"), "--out", "o"])
    assert res.exit_code == 2 and "given twice" in res.output


def test_the_output_never_lands_in_a_raw_export(tmp_path):
    (tmp_path / "out" / "cut1").mkdir(parents=True)
    with pytest.raises(InputError, match="contains the raw export"):
        plan_jobs([tmp_path / "out" / "cut1"], tmp_path / "out")  # OUT/cut1 is the export itself
    assert plan_jobs([tmp_path / "out" / "cut1"], tmp_path / "elsewhere")[0].out_dir == tmp_path / "elsewhere" / "cut1"


def test_a_broken_spec_stops_the_batch_before_any_work(tmp_path, study_copy, raw_small):
    (study_copy / "datasets.csv").write_text("not,a,spec\n")
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["batch", str(raw_small), "--study", str(study_copy), "--out", str(out)])
    assert res.exit_code == 2 and "datasets.csv" in res.output
    assert not out.exists()


def _outcome(status: str, code: int) -> ExportOutcome:
    return ExportOutcome(status, "raw", status, code)


@pytest.mark.parametrize("statuses, expected", [
    ([(OK, 0), (OK, 0)], 0),
    ([(OK, 0), (FINDINGS, 1)], 1),
    ([(FINDINGS, 1), (UNUSABLE, 2), (OK, 0)], 2),
    ([(OK, 0), (CRASHED, 2)], 2),
])
def test_exit_code_is_the_worst_export(statuses, expected):
    result = BatchResult(Path("out"), BatchSettings(None), [_outcome(s, c) for s, c in statuses], 1, "")
    assert result.exit_code == expected
    frame = result.frame()
    assert list(frame["status"]) == [s for s, _ in statuses] and str(frame["subjects"].dtype) == "Int64"
    result.interrupted = True
    assert result.exit_code == 130


def test_a_crash_in_a_worker_becomes_a_message_and_a_crash_log(tmp_path, monkeypatch):
    import cdiscflow.pipeline

    def boom(*args, **kwargs):
        raise ZeroDivisionError("division by zero in a derivation")

    monkeypatch.setattr(cdiscflow.pipeline, "run", boom)
    job = BatchJob("cut9", tmp_path / "raw", tmp_path / "out" / "cut9")
    outcome = run_export(job, BatchSettings(None))
    assert (outcome.status, outcome.exit_code) == (CRASHED, 2)
    assert outcome.message == ("ZeroDivisionError: division by zero in a derivation "
                               "(traceback in cut9/crash.log)")
    assert "Traceback" not in outcome.line()
    assert "Traceback (most recent call last)" in (tmp_path / "out" / "cut9" / "crash.log").read_text()


@pytest.mark.slow
def test_a_worker_process_that_dies_takes_only_its_own_export(tmp_path, monkeypatch):
    # The pool breaks when a worker dies; the exports that were running beside it are run again one at a time, so
    # only the export that kills its worker is reported as crashed.
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    import _batch_workers

    plan = [BatchJob(n, tmp_path / n, tmp_path / "out" / n) for n in ("one", "boom", "two", "three")]
    seen = []
    outcomes, interrupted = _execute(plan, BatchSettings(None), 2, None, seen.append,
                                     worker=_batch_workers.die_on_boom)
    assert not interrupted
    assert {n: o.status for n, o in outcomes.items()} == {"one": OK, "boom": CRASHED, "two": OK, "three": OK}
    assert "worker process died" in outcomes["boom"].message
    assert sorted(o.export for o in seen) == ["boom", "one", "three", "two"]  # each reported once


def test_not_run_exports_are_listed_when_interrupted():
    from cdiscflow.batch import _not_run

    outcome = _not_run(BatchJob("cut4", Path("raw"), Path("out/cut4")))
    assert (outcome.status, outcome.exit_code) == (NOT_RUN, 130)


def test_no_export_starts_once_the_batch_is_stopping(monkeypatch):
    import threading

    import cdiscflow.batch as batch

    stop = threading.Event()
    monkeypatch.setattr(batch, "_STOP", stop)
    calls = []
    job = BatchJob("cut1", Path("raw"), Path("out/cut1"))
    assert batch._call(lambda j, s: calls.append(j) or "outcome", job, BatchSettings(None)) == "outcome"
    stop.set()
    assert batch._call(lambda j, s: calls.append(j) or "outcome", job, BatchSettings(None)) is None
    assert calls == [job]

    def interrupted(j, s):
        raise KeyboardInterrupt

    stop.clear()
    with pytest.raises(KeyboardInterrupt):
        batch._call(interrupted, job, BatchSettings(None))
    assert stop.is_set()  # a Ctrl-C in one worker keeps the others from starting new exports
