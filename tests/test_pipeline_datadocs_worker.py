"""`cdiscflow run` renders Data Docs and computes the report in forked children started with the run (issue 18): the
same bytes as in process, and a failure there is the run's failure with nothing of the run written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cdiscflow import pipeline
from cdiscflow.core import background
from cdiscflow.core.background import WorkerDied
from cdiscflow.core.errors import FindingsError, InputError
from cdiscflow.validation import datadocs

RAW_SMALL = Path(__file__).resolve().parent / "data" / "raw_small"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not background.available(), reason="forking workers are used on Linux only")]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_background_data_docs_are_the_same_bytes_as_in_process(raw_small, tmp_path, monkeypatch):
    spawned = []
    real = background.ForkedWorker

    def counting(*args, **kwargs):
        spawned.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "ForkedWorker", counting)
    pipeline.run(raw_dir=raw_small, out_dir=tmp_path / "forked", data_docs=True)
    assert spawned == [1, 1]  # the Data Docs worker and the report worker
    monkeypatch.setattr(background, "available", lambda: False)  # in process, as before the workers
    pipeline.run(raw_dir=raw_small, out_dir=tmp_path / "inline", data_docs=True)
    assert spawned == [1, 1]

    forked, inline = _files(tmp_path / "forked"), _files(tmp_path / "inline")
    assert sorted(forked) == sorted(inline)
    docs = [n for n in forked if n.startswith("validation/datadocs/")]
    assert "validation/datadocs/index.html" in docs and "validation/datadocs/validations/DM.html" in docs
    assert len(docs) > 20 and any(n.startswith("report/") and n.endswith(".png") for n in forked)
    for name in forked:
        if name == "run.json":
            a, b = (pipeline.without_timings(json.loads(f[name])) for f in (forked, inline))
            assert a == b
        else:
            assert forked[name] == inline[name], name


def test_the_workers_are_sent_samples_not_the_datasets(raw_small, tmp_path, monkeypatch):
    """The Data Docs worker gets each dataset's Data Docs sample (at most MAX_ROWS records, here with MAX_ROWS
    lowered to 10), row count and plan; the report worker the ADaM datasets the report reads, with the columns it
    reads, and every other ADaM dataset as its row count only."""
    from cdiscflow.report import report_inputs

    sent = []
    real_send = background.ForkedWorker.send

    def recording(self, payload):
        sent.append(payload)
        return real_send(self, payload)

    monkeypatch.setattr(background.ForkedWorker, "send", recording)
    monkeypatch.setattr(datadocs, "MAX_ROWS", 10)  # the worker (forked after this) renders with the same bound
    result = pipeline.run(raw_dir=raw_small, out_dir=tmp_path / "out", data_docs=True)
    report_payload, docs_payload, findings = sent
    samples, rows, out_dir, plans = docs_payload
    datasets = result.datasets
    assert sorted(samples) == sorted(rows) == sorted(plans) == sorted(datasets)
    assert out_dir.parts[-2:] == ("validation", "datadocs")
    for name, frame in datasets.items():
        assert rows[name] == len(frame)
        assert len(samples[name]) == min(len(frame), 10)
        assert samples[name].equals(frame.sample(n=10, random_state=0).sort_index() if len(frame) > 10 else frame)
    biggest = max(rows, key=rows.get)
    assert rows[biggest] > 10 and len(samples[biggest]) == 10  # a sampled dataset
    assert len(findings) == 0  # the validation findings, for index.html
    index = (tmp_path / "out" / "validation" / "datadocs" / "index.html").read_text()
    assert f'{rows[biggest]:,}</td><td class="num">10 (sample)' in index

    adam, report_dir = report_payload
    assert report_dir.name == "report"
    inputs = report_inputs(result.spec)
    for name, frame in adam.items():
        full = datasets[name]
        assert len(frame) == len(full)
        if name in inputs:
            assert list(frame.columns) == [c for c in full.columns if c in inputs[name]]
            assert frame.equals(full[list(frame.columns)])
        else:
            assert list(frame.columns) == []
    assert set(adam["ADBASE"].columns) < set(datasets["ADBASE"].columns)


def test_a_data_docs_failure_fails_the_run_and_nothing_is_written(raw_small, tmp_path, monkeypatch):
    def broken(samples, rows, spec, out_dir, **kwargs):
        if os.getpid() == parent:
            raise AssertionError("Data Docs were rendered in the main process")
        Path(out_dir).mkdir(parents=True)
        (Path(out_dir) / "index.html").write_text("half a page")
        raise RuntimeError("the DM page could not be rendered")

    parent = os.getpid()
    monkeypatch.setattr(datadocs, "write_sample_pages", broken)  # the forked child starts with this
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="the DM page could not be rendered") as info:
        pipeline.run(raw_dir=raw_small, out_dir=out, data_docs=True)
    assert any("in the background worker" in note for note in info.value.__notes__)
    assert not out.exists()
    assert _leftovers(tmp_path) == []  # the staging folder went too


def test_a_killed_worker_fails_the_run_and_keeps_the_previous_output(raw_small, tmp_path, monkeypatch):
    out = tmp_path / "out"
    pipeline.run(raw_dir=raw_small, out_dir=out, data_docs=False)
    before = _files(out)

    def killed(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(datadocs, "write_sample_pages", killed)
    with pytest.raises(WorkerDied, match="exit code -9"):
        pipeline.run(raw_dir=raw_small, out_dir=out, data_docs=True)
    assert _files(out) == before
    assert _leftovers(tmp_path) == []


def test_a_run_that_stops_early_stops_the_worker(raw_small, tmp_path, monkeypatch):
    """Strict mapping errors stop the run in the SDTM stage: the warming children are stopped, not left behind."""
    workers = []
    real = background.ForkedWorker

    def recording(*args, **kwargs):
        workers.append(real(*args, **kwargs))
        return workers[-1]

    monkeypatch.setattr(pipeline, "ForkedWorker", recording)
    text = (raw_small / "enrol.csv").read_text()
    (raw_small / "enrol.csv").write_text(text.replace("UN-UNK-1945,Man,", "UN-UNK-1945,Femme,", 1))
    with pytest.raises(FindingsError):
        pipeline.run(raw_dir=raw_small, out_dir=tmp_path / "out", data_docs=True)
    assert len(workers) == 2  # Data Docs, report
    assert all(not w._process.is_alive() and not w.sent for w in workers)
    log = json.loads((tmp_path / "out" / "run.json").read_text())
    assert [s["stage"] for s in log["stages"]] == ["sdtm"] and not (tmp_path / "out" / "validation").exists()


def test_the_main_process_imports_no_heavy_library(tmp_path):
    """great_expectations, matplotlib, statsmodels and scipy.stats (seconds each) are imported by the workers only,
    while the main process maps and derives; the Data Docs and the report are there all the same."""
    code = ("import sys\nfrom cdiscflow import pipeline\n"
            f"r = pipeline.run(raw_dir={str(RAW_SMALL)!r}, out_dir={str(tmp_path / 'out')!r})\n"
            "print(r.exit_code, [m for m in ('great_expectations', 'matplotlib', 'statsmodels', 'scipy.stats') "
            "if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split("\n")[-2] == "0 []"
    assert (tmp_path / "out" / "validation" / "datadocs" / "validations" / "AE.html").is_file()
    assert sorted(p.name for p in (tmp_path / "out" / "report").glob("*.png"))


def test_a_report_failure_is_the_report_stages_failure(raw_small, tmp_path, monkeypatch):
    from cdiscflow.report import build as report_build

    def broken(spec, adam, out_dir):
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "report.html").write_text("half a report")
        raise InputError("ADTTE: variable AVAL is missing")

    import cdiscflow.report as report_package

    # the package first: reading it there imports it from report.build (PEP 562) and keeps it, so report.build must
    # not be patched yet, or the package would keep `broken` after the test (a later test's report worker runs it)
    monkeypatch.setattr(report_package, "build_report", broken, raising=False)  # the package may hold it already
    monkeypatch.setattr(report_build, "build_report", broken)
    out = tmp_path / "out"
    with pytest.raises(InputError, match="ADTTE: variable AVAL is missing"):
        pipeline.run(raw_dir=raw_small, out_dir=out)
    log = json.loads((out / "run.json").read_text())
    assert [s["stage"] for s in log["stages"]] == ["sdtm", "adam", "validate", "export", "report"]
    assert log["stages"][-1]["error"] == "ADTTE: variable AVAL is missing" and log["exit_code"] == 2
    assert (out / "validation" / "datadocs" / "index.html").is_file()  # the Data Docs worker finished its job


def test_a_blocked_export_stops_the_report_worker_and_leaves_no_report(raw_small, tmp_path, monkeypatch):
    # the report worker gets ADaM before validation: when the findings block the export it is stopped and what it
    # may have written goes (no report, as in process, where the report stage never runs then)
    workers = []
    real_worker, real_validate = background.ForkedWorker, pipeline._validate

    def recording(*args, **kwargs):
        workers.append(real_worker(*args, **kwargs))
        return workers[-1]

    monkeypatch.setattr(pipeline, "ForkedWorker", recording)
    monkeypatch.setattr(pipeline, "_validate", lambda *args: real_validate(*args) or True)  # findings block export
    out = tmp_path / "out"
    pipeline.run(raw_dir=raw_small, out_dir=out)
    docs, report = workers
    assert docs.sent and report.sent and not report.answered and not report._process.is_alive()
    assert not (out / "report").exists() and not (out / "adam").exists()
    assert (out / "validation" / "datadocs" / "index.html").is_file()


def test_what_the_report_worker_wrote_goes_when_the_findings_block_the_export(raw_small, tmp_path, monkeypatch):
    real_validate = pipeline._validate
    seen = []

    def blocking_once_the_report_is_being_written(result, *args):
        real_validate(result, *args)
        deadline = time.monotonic() + 120
        while not list((result.target / "report").glob("*.png")) and time.monotonic() < deadline:
            time.sleep(0.02)
        seen.extend(p.name for p in (result.target / "report").glob("*.png"))
        return True  # the findings block the export

    monkeypatch.setattr(pipeline, "_validate", blocking_once_the_report_is_being_written)
    out = tmp_path / "out"
    result = pipeline.run(raw_dir=raw_small, out_dir=out)
    assert seen  # the worker had written part of the report when the export was blocked
    assert not (out / "report").exists() and not (out / "adam").exists()
    assert [s.name for s in result.stages] == ["sdtm", "adam", "validate"]
    assert "report" not in {Path(f).parts[0] for f in json.loads((out / "run.json").read_text())["files"]}
    assert _leftovers(tmp_path) == []


def test_workers_die_with_a_killed_run_and_never_hold_its_lock(tmp_path):
    """A run killed with SIGKILL: its workers go with it (they would otherwise finish importing and wait), and the
    output folder's lock is free for the next run at once."""
    code = ("import os, signal, sys\nfrom cdiscflow import pipeline\n"
            "real = pipeline._run_stages\n"
            "def stages(result, *args):\n"
            "    print(' '.join(str(w._process.pid) for w in args[-1]), flush=True)\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n"
            "pipeline._run_stages = stages\n"
            f"pipeline.run(raw_dir={str(RAW_SMALL)!r}, out_dir={str(tmp_path / 'out')!r})\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL
    pids = [int(p) for p in done.stdout.split()]
    assert len(pids) == 2
    deadline = __import__("time").monotonic() + 30
    while any(_alive(p) for p in pids) and __import__("time").monotonic() < deadline:
        __import__("time").sleep(0.1)
    assert not any(_alive(p) for p in pids)
    assert pipeline.run(raw_dir=RAW_SMALL, out_dir=tmp_path / "out", data_docs=False).exit_code == 0


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"  # a zombie is dead, waiting for its reaper
    except FileNotFoundError:
        return False


def test_the_data_docs_pages_are_rendered_while_the_datasets_are_validated(raw_small, tmp_path, monkeypatch):
    """The worker gets the datasets' samples once ADaM is derived and renders the per-dataset pages while the main
    process validates; index.html (it needs the findings) is written only after validation has sent them."""
    real_validate = pipeline._validate
    seen = {}

    def validate_once_the_pages_are_there(result, *args):
        docs = result.target / "validation" / "datadocs"
        deadline = time.monotonic() + 120
        while not (docs / "expectations" / "VS.html").is_file() and time.monotonic() < deadline:
            time.sleep(0.02)  # the last dataset's pages (in name order) are written before validation begins
        seen["pages"] = sorted(p.name for p in (docs / "validations").glob("*.html"))
        seen["index before the findings"] = (docs / "index.html").exists()
        return real_validate(result, *args)

    monkeypatch.setattr(pipeline, "_validate", validate_once_the_pages_are_there)
    out = tmp_path / "out"
    result = pipeline.run(raw_dir=raw_small, out_dir=out, data_docs=True)
    assert result.exit_code == 0
    assert seen["index before the findings"] is False
    assert seen["pages"] == sorted(f"{name}.html" for name in result.datasets) and "DM.html" in seen["pages"]
    index = (out / "validation" / "datadocs" / "index.html").read_text()
    assert "Findings over all records" in index


def test_a_run_stopped_in_validation_after_the_pages_were_begun_leaves_no_data_docs(raw_small, tmp_path,
                                                                                    monkeypatch):
    workers = []
    real = background.ForkedWorker

    def recording(*args, **kwargs):
        workers.append(real(*args, **kwargs))
        return workers[-1]

    def stopping(result, *args):
        deadline = time.monotonic() + 120
        while not list((result.target / "validation" / "datadocs").rglob("*.html")) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert list((result.target / "validation" / "datadocs").rglob("*.html"))  # the worker had begun
        raise InputError("the validation found an unusable dataset")

    monkeypatch.setattr(pipeline, "ForkedWorker", recording)
    monkeypatch.setattr(pipeline, "_validate", stopping)
    out = tmp_path / "out"
    with pytest.raises(InputError, match="unusable dataset"):
        pipeline.run(raw_dir=raw_small, out_dir=out, data_docs=True)
    docs = workers[0]
    assert docs.sent and not docs.complete and not docs.answered and not docs._process.is_alive()
    log = json.loads((out / "run.json").read_text())
    assert [s["stage"] for s in log["stages"]] == ["sdtm", "adam", "validate"] and log["exit_code"] == 2
    assert not (out / "validation" / "datadocs").exists() and not (out / "report").exists()
    assert _leftovers(tmp_path) == []
