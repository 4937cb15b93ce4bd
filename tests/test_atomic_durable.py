"""Files written into a staged output folder are flushed to disk together before the swap, not one by one; files
written anywhere else are fsynced as they are renamed into place (core/atomic.py)."""

import os
from pathlib import Path

import pytest

from cdiscflow.core import atomic


def _recording(monkeypatch):
    synced = []
    real = os.fsync

    def fsync(fd):
        synced.append(os.path.realpath(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    return synced


def test_staged_files_are_flushed_together_before_the_swap(tmp_path, monkeypatch):
    synced = _recording(monkeypatch)
    out = tmp_path / "out"
    with atomic.staged_output(out) as build:
        atomic.write_text(build / "run.json", "{}\n")
        atomic.write_bytes(build / "sdtm" / "dm.xpt", b"x" * 1000)
        with atomic.atomic_path(build / "report" / "km.png") as tmp:
            tmp.write_bytes(b"png")
        assert synced == []  # nothing flushed one by one while the folder is built
        staged = build.resolve()
    assert (out / "sdtm" / "dm.xpt").read_bytes() == b"x" * 1000
    files = {str(staged / rel) for rel in ("run.json", "sdtm/dm.xpt", "report/km.png")}
    folders = {str(staged / rel) for rel in ("", "sdtm", "report")}
    assert files <= set(synced) and {f.rstrip("/") for f in folders} <= set(synced)
    assert synced.index(str(staged / "sdtm")) > max(synced.index(f) for f in files)  # entries after contents
    assert str(out.resolve().parent) == synced[-1]  # then the swap itself
    assert atomic._STAGING == set()


def test_files_outside_a_staged_folder_are_fsynced_as_written(tmp_path, monkeypatch):
    synced = _recording(monkeypatch)
    atomic.write_text(tmp_path / "spec" / "a.yaml", "a: 1\n")
    assert len(synced) == 1 and Path(synced[0]).parent == (tmp_path / "spec").resolve()
    with atomic.staged_output(tmp_path / "out") as build:
        atomic.write_text(tmp_path / "elsewhere.txt", "x")  # beside, not inside, the staging folder
        assert len(synced) == 2
        atomic.write_text(build / "inside.txt", "x")
        assert len(synced) == 2


def test_a_failed_staging_leaves_nothing_registered(tmp_path):
    try:
        with atomic.staged_output(tmp_path / "out") as build:
            atomic.write_text(build / "a.txt", "x")
            raise RuntimeError("stop")
    except RuntimeError:
        pass
    assert atomic._STAGING == set() and not (tmp_path / "out").exists()


def test_a_scratch_file_is_renamed_into_place_but_never_flushed(tmp_path, monkeypatch):
    synced = _recording(monkeypatch)
    with atomic.atomic_write(tmp_path / "scratch" / "0-1.pkl", durable=False) as fh:
        fh.write(b"rows")
    assert synced == [] and (tmp_path / "scratch" / "0-1.pkl").read_bytes() == b"rows"
    assert [p.name for p in (tmp_path / "scratch").iterdir()] == ["0-1.pkl"]  # no temporary sibling left


@pytest.mark.slow
def test_a_partitioned_run_flushes_its_output_but_not_its_scratch_files(tmp_path, monkeypatch):
    """The raw rows split by partition, the spills and the export pieces live in a scratch folder for the length
    of the run: flushing them (gigabytes at 100,000 subjects) only made the run wait for the disk."""
    from cdiscflow.scale import run_partitioned

    synced = _recording(monkeypatch)
    run_partitioned(None, None, tmp_path / "out", partitions=2, data_docs=False)
    assert not [p for p in synced if ".cdiscflow-partitions-" in p]
    assert {"dm.xpt", "adsl.json", "define.xml"} <= {Path(p).name for p in synced}  # the output is, at the swap
