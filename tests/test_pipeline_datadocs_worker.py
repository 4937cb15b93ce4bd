"""`cdiscflow run` renders Data Docs in a forked child started with the run (issue 18): the same bytes as rendering
them in process, and a failure there is the run's failure with nothing of the run written."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from cdiscflow import pipeline
from cdiscflow.core import background
from cdiscflow.core.background import WorkerDied
from cdiscflow.core.errors import FindingsError
from cdiscflow.validation import datadocs

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
    assert spawned == [1]
    monkeypatch.setattr(background, "available", lambda: False)  # in process, as before the worker
    pipeline.run(raw_dir=raw_small, out_dir=tmp_path / "inline", data_docs=True)
    assert spawned == [1]

    forked, inline = _files(tmp_path / "forked"), _files(tmp_path / "inline")
    assert sorted(forked) == sorted(inline)
    docs = [n for n in forked if n.startswith("validation/datadocs/")]
    assert "validation/datadocs/index.html" in docs and "validation/datadocs/validations/DM.html" in docs
    assert len(docs) > 20
    for name in forked:
        if name == "run.json":
            a, b = (pipeline.without_timings(json.loads(f[name])) for f in (forked, inline))
            assert a == b
        else:
            assert forked[name] == inline[name], name


def test_a_data_docs_failure_fails_the_run_and_nothing_is_written(raw_small, tmp_path, monkeypatch):
    def broken(datasets, spec, out_dir, **kwargs):
        if os.getpid() == parent:
            raise AssertionError("Data Docs were rendered in the main process")
        Path(out_dir).mkdir(parents=True)
        (Path(out_dir) / "index.html").write_text("half a page")
        raise RuntimeError("the DM page could not be rendered")

    parent = os.getpid()
    monkeypatch.setattr(datadocs, "write_data_docs", broken)  # the forked child starts with this
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

    monkeypatch.setattr(datadocs, "write_data_docs", killed)
    with pytest.raises(WorkerDied, match="exit code -9"):
        pipeline.run(raw_dir=raw_small, out_dir=out, data_docs=True)
    assert _files(out) == before
    assert _leftovers(tmp_path) == []


def test_a_run_that_stops_early_stops_the_worker(raw_small, tmp_path, monkeypatch):
    """Strict mapping errors stop the run in the SDTM stage: the warming child is stopped, not left behind."""
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
    assert len(workers) == 1 and not workers[0]._process.is_alive() and not workers[0].sent
    log = json.loads((tmp_path / "out" / "run.json").read_text())
    assert [s["stage"] for s in log["stages"]] == ["sdtm"] and not (tmp_path / "out" / "validation").exists()
