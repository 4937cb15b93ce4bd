"""Run-level atomicity (issue 16.5): an output folder is built in a staging folder beside `--out` and swapped in at
the end, so `--out` holds the previous complete run or the new complete run, never a mix; a stopped run leaves no
staging folder (what SIGKILL leaves, the next run removes); a second run into the same `--out` is refused.

The quick tests drive `core.atomic.staged_output` directly and `pipeline.run` with a stage that fails; the slow test
kills `python -m cdiscflow run` with SIGINT and SIGKILL at seeded random moments and compares `--out` with the
two complete runs it may hold."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cdiscflow.core import atomic
from cdiscflow.core.atomic import OutputBusyError, clear_leftovers, lock_path, output_lock, staged_output, write_text

REPO = Path(__file__).resolve().parents[1]


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _beside(target: Path) -> list[str]:
    """What lies beside `target` and is named after it: staging folders, .old folders, lock files."""
    return sorted(p.name for p in target.parent.iterdir() if p.name.startswith(f".{target.name}"))


def _previous(target: Path) -> dict[str, bytes]:
    write_text(target / "run.json", "{}\n")
    write_text(target / "sdtm" / "dm.xpt", "old dm")
    write_text(target / "sdtm" / "ae.xpt", "old ae, not made by the new run")
    return _tree(target)


# ----------------------------------------------------------------------------------------------------------------
# core.atomic.staged_output


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2-exchange", "two-renames"])
def test_a_staged_folder_replaces_the_previous_one_whole(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(atomic, "exchange", lambda a, b: False)  # platforms without an atomic exchange
    out = tmp_path / "out"
    _previous(out)
    with staged_output(out, owned_by=("run.json",)) as build:
        assert build.parent == out.parent and build.name.startswith(f".out.{os.getpid()}.")
        assert build.name.endswith(".staging") and list(build.iterdir()) == []
        write_text(build / "run.json", "{\"new\": 1}\n")
        write_text(build / "sdtm" / "dm.xpt", "new dm")
        assert (out / "sdtm" / "ae.xpt").read_text() == "old ae, not made by the new run"  # untouched until the end
        assert lock_path(out).read_text() == f"{os.getpid()}\n"
    assert _tree(out) == {"run.json": b"{\"new\": 1}\n", "sdtm/dm.xpt": b"new dm"}  # nothing of the old one
    assert _beside(out) == []  # no staging folder, no .old, no lock file
    assert oct(out.stat().st_mode & 0o777) != oct(0o700)  # not mkdtemp's private mode


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2-exchange", "two-renames"])
def test_ctrl_c_during_the_swap_waits_until_the_swap_is_done(tmp_path, monkeypatch, exchange):
    real = atomic.exchange

    def interrupted(a, b):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C right between the renames
        return real(a, b) if exchange else False

    monkeypatch.setattr(atomic, "exchange", interrupted)
    out = tmp_path / "out"
    _previous(out)
    with pytest.raises(KeyboardInterrupt):
        with staged_output(out) as build:
            write_text(build / "run.json", "new\n")
    assert _tree(out) == {"run.json": b"new\n"}  # the swap finished before the interrupt was delivered
    assert _beside(out) == []


@pytest.mark.parametrize("stop", [KeyboardInterrupt, RuntimeError])
def test_a_stopped_build_leaves_the_previous_folder_and_no_staging(tmp_path, stop):
    out = tmp_path / "out"
    before = _previous(out)
    with pytest.raises(stop):
        with staged_output(out, owned_by=("run.json",)) as build:
            write_text(build / "run.json", "{\"new\": 1}\n")
            raise stop()
    assert _tree(out) == before
    assert _beside(out) == []


def test_into_a_new_folder(tmp_path):
    out = tmp_path / "deep" / "out"
    with staged_output(out) as build:
        write_text(build / "a.csv", "x\n")
    assert _tree(out) == {"a.csv": b"x\n"} and _beside(out) == []


def test_a_second_writer_is_refused_with_the_pid(tmp_path):
    out = tmp_path / "out"
    with staged_output(out) as build:
        write_text(build / "a.csv", "first\n")
        with pytest.raises(OutputBusyError, match=rf"another cdiscflow run \(pid {os.getpid()}\) is writing"):
            with staged_output(out):
                pass
    assert _tree(out) == {"a.csv": b"first\n"}


def test_a_lock_held_by_another_process_is_refused_and_a_dead_ones_is_taken_over(tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom cdiscflow.core.atomic import output_lock\n"
         f"with output_lock({str(out)!r}):\n    print('locked', flush=True)\n    time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(OutputBusyError, match=rf"pid {holder.pid}\)"):
            with output_lock(out):
                pass
    finally:
        holder.kill()  # SIGKILL: the lock file stays, with the dead pid in it
        holder.wait()
    assert lock_path(out).read_text().strip() == str(holder.pid)  # stale
    with output_lock(out) as lock:  # the kernel released the lock with the process: taken over
        assert lock.read_text() == f"{os.getpid()}\n"
    assert not lock_path(out).exists()


def test_leftovers_of_killed_runs_are_cleared_and_a_cut_swap_is_undone(tmp_path):
    out = tmp_path / "out"
    # a run killed while building (SIGKILL: its staging folder stays) and one killed between its two renames
    stale = tmp_path / ".out.99999999.k3j9x_a1.staging"
    write_text(stale / "sdtm" / "dm.xpt", "half")
    old = tmp_path / ".out.99999998.ab12cd34.old"
    before = _previous(old)
    other = tmp_path / ".out.x.12.ab12cd34.staging"  # another folder's (out.x), and a user's own
    other.mkdir()
    (tmp_path / ".out.notes").write_text("mine")
    removed = clear_leftovers(out)
    assert removed == [stale]
    assert _tree(out) == before  # the previous complete output is back
    assert _beside(out) == [".out.notes", ".out.x.12.ab12cd34.staging"]
    # an .old beside an existing out is the rest of a removal that was cut: it goes
    old.mkdir()
    assert clear_leftovers(out) == [old] and _tree(out) == before


def test_a_folder_that_is_not_an_earlier_output_is_never_replaced(tmp_path):
    home = tmp_path / "home"
    write_text(home / "thesis.docx", "years of work")
    with pytest.raises(OutputBusyError, match="is not empty and is not an earlier cdiscflow output .no run.json."):
        with staged_output(home, owned_by=("run.json",)):
            pytest.fail("must not start")
    assert _tree(home) == {"thesis.docx": b"years of work"} and _beside(home) == []
    empty = tmp_path / "empty"
    empty.mkdir()
    with staged_output(empty, owned_by=("run.json",)) as build:
        write_text(build / "run.json", "{}")
    assert _tree(empty) == {"run.json": b"{}"}


# ----------------------------------------------------------------------------------------------------------------
# pipeline.run, sdtm, batch


@pytest.mark.slow
def test_a_run_stopped_in_the_report_stage_leaves_the_previous_run(tmp_path, raw_small, monkeypatch):
    """Before issue 16.5 the stopped run left its new datasets beside the previous run's run.json and report."""
    from cdiscflow import pipeline

    out = tmp_path / "out"
    first = pipeline.run(raw_dir=raw_small, out_dir=out, data_docs=False)
    assert first.exit_code == 0 and all(p.is_file() and out in p.parents for p in first.written)
    before = _tree(out)
    enrol = raw_small / "enrol.csv"
    lines = enrol.read_text().splitlines(keepends=True)
    enrol.write_text("".join(lines[:-1]))  # one subject fewer: every dataset changes

    def stopped(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "_report", stopped)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run(raw_dir=raw_small, out_dir=out, data_docs=False, on_error="reject")
    assert _tree(out) == before
    assert _beside(out) == []


@pytest.mark.slow
def test_sdtm_command_refuses_a_second_writer(tmp_path, raw_small):
    from cdiscflow.usecases import map_raw_to_sdtm_folder

    out = tmp_path / "o" / "sdtm"
    with output_lock(out):
        with pytest.raises(OutputBusyError):
            map_raw_to_sdtm_folder(None, raw_small, out)
    assert not out.exists() and _beside(out) == []


def test_batch_refuses_a_second_batch_into_the_same_out(tmp_path, raw_small):
    from cdiscflow.batch import run_batch

    with output_lock(tmp_path / "out"):
        with pytest.raises(OutputBusyError, match="another cdiscflow run"):
            run_batch([raw_small], tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------------------------------------------
# killed at random moments (slow): --out holds one complete run


def _cli(raw: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "cdiscflow", "run", "--raw", str(raw), "--out", str(out), "--no-data-docs", "-q"]


def _complete_run(folder: Path) -> tuple[dict, dict[str, bytes]]:
    """A run's manifest: the run log without its clock, and every other file's bytes."""
    from cdiscflow.pipeline import without_timings

    files = _tree(folder)
    log = without_timings(json.loads(files.pop("run.json")))
    return log, files


@pytest.fixture(scope="module")
def two_exports(tmp_path_factory):
    """Two small exports (3 and 2 subjects) and the output of a complete run over each."""
    base = tmp_path_factory.mktemp("killrun")
    shutil.copytree(REPO / "tests" / "data" / "raw_small", base / "a")
    shutil.copytree(REPO / "tests" / "data" / "raw_small", base / "b")
    enrol = base / "b" / "enrol.csv"
    lines = enrol.read_text().splitlines(keepends=True)
    enrol.write_text("".join(lines[:-1]))  # one subject fewer (its other records: rejected as not enrolled)
    timings = {}
    for name in ("a", "b"):
        t = time.monotonic()
        proc = subprocess.run(_cli(base / name, base / f"ref_{name}") + ["--on-error", "reject"], cwd=base,
                              capture_output=True, text=True)
        timings[name] = time.monotonic() - t
        assert proc.returncode in (0, 1), proc.stderr[-2000:]
    refs = {name: _complete_run(base / f"ref_{name}") for name in ("a", "b")}
    assert refs["a"][0]["inputs"] != refs["b"][0]["inputs"]
    return base, refs, timings


@pytest.mark.slow
@pytest.mark.parametrize("sig,seed", [(signal.SIGINT, 1), (signal.SIGINT, 2), (signal.SIGINT, 3),
                                      (signal.SIGKILL, 1), (signal.SIGKILL, 2), (signal.SIGKILL, 3)])
def test_killed_run_leaves_one_complete_run(two_exports, tmp_path, sig, seed):
    base, refs, timings = two_exports
    out = tmp_path / "out"
    shutil.copytree(base / "ref_a", out)  # the previous complete run
    delay = random.Random(seed).uniform(0.2, 1.1) * timings["b"]  # a few seeded moments, some after the end
    proc = subprocess.Popen(_cli(base / "b", out) + ["--on-error", "reject"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=300)
    got = _complete_run(out)
    which = [name for name, ref in refs.items() if got == ref]
    assert len(which) == 1, f"--out is neither complete run (exit {proc.returncode}): {stderr[-2000:]}"
    if proc.returncode in (0, 1):
        assert which == ["b"]
    if sig == signal.SIGINT:
        assert _beside(out) == [], "a run stopped with Ctrl-C removes its staging folder and lock"
        if "interrupted" in stderr:
            assert proc.returncode == 130
    # the next run completes over whatever a killed run left, and tidies it
    again = subprocess.run(_cli(base / "b", out) + ["--on-error", "reject"], cwd=tmp_path, capture_output=True,
                           text=True)
    assert again.returncode in (0, 1), again.stderr[-2000:]
    assert _complete_run(out) == refs["b"]
    assert _beside(out) == []


@pytest.mark.slow
def test_ctrl_c_during_a_run_exits_130_and_keeps_the_previous_run(two_exports, tmp_path):
    base, refs, _ = two_exports
    out = tmp_path / "out"
    shutil.copytree(base / "ref_a", out)
    proc = subprocess.Popen(_cli(base / "b", out) + ["--on-error", "reject"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:  # wait until the run is building
        if any(p.name.endswith(".staging") for p in tmp_path.iterdir()):
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-2000:]
    assert "cdiscflow: interrupted" in stderr
    assert _complete_run(out) == refs["a"]
    assert _beside(out) == []


@pytest.mark.slow
def test_every_command_that_writes_a_folder_builds_it_whole(raw_small, tmp_path):
    """sdtm, adam, export, validate and report replace their --out folder whole (a file of the previous output that
    the new one does not make is gone), and none of them replaces a folder that is not its own earlier output."""
    from click.testing import CliRunner

    from cdiscflow.cli import main

    def invoke(*args) -> int:
        res = CliRunner().invoke(main, [str(a) for a in args])
        assert "Traceback" not in res.output, res.output
        return res.exit_code

    sdtm, adam = tmp_path / "sdtm", tmp_path / "adam"
    commands = {"sdtm": (sdtm, ["sdtm", "--raw", raw_small, "--out", sdtm], "_accounting.csv"),
                "adam": (adam, ["adam", "--sdtm", sdtm, "--out", adam], "_findings.csv"),
                "export": (tmp_path / "e", ["export", "--in", sdtm, "--out", tmp_path / "e"], "export_findings.csv"),
                "validate": (tmp_path / "v", ["validate", sdtm, "--study", "dara_atra", "--no-data-docs", "--out",
                                              tmp_path / "v"], "rules.csv"),
                "report": (tmp_path / "r", ["report", "--adam", adam, "--out", tmp_path / "r"], "statistics.csv")}
    for name, (out, args, marker) in commands.items():  # over commands, in the order their inputs need
        write_text(out / marker, "an earlier output\n")
        write_text(out / "stale.xpt", "a dataset the new output does not have")
        assert invoke(*args) == (1 if name == "report" else 0), name  # 3 subjects do not reproduce the paper
        assert (out / marker).read_text() != "an earlier output\n" and not (out / "stale.xpt").exists(), name
        assert _beside(out) == [], name
        foreign = tmp_path / f"{name}_foreign"
        write_text(foreign / "notes.txt", "mine")
        assert invoke(*[foreign if a == out else a for a in args]) == 2, name  # refused before any work
        assert _tree(foreign) == {"notes.txt": b"mine"}, name


def test_two_spellings_of_one_folder_share_one_lock(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with staged_output(tmp_path / "real" / "out"):
        with pytest.raises(OutputBusyError):
            with staged_output(tmp_path / "link" / ".." / "real" / "out"):
                pass
        with pytest.raises(OutputBusyError):
            with staged_output(tmp_path / "link" / "out"):
                pass
