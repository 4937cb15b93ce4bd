"""Files written into a staged output folder are flushed to disk together before the swap, not one by one; files
written anywhere else are fsynced as they are renamed into place (core/atomic.py)."""

import os
from pathlib import Path

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
