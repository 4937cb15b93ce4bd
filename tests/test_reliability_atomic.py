"""Atomic output, proved: every file is renamed into place; a run killed with SIGKILL mid-write leaves no truncated
file and `out` as it was (the run builds in a staging folder beside `out`, swapped in only at the end: issue 16.5;
tests/test_reliability_run_atomic.py kills runs at random moments), and the next run clears what it left.

The kill test runs `python -m cdiscflow run` in a subprocess on a 600-subject synthetic export (about 60 MB of
output, lb.json alone 10 MB), waits until the largest Dataset-JSON file is being written, and kills the process."""

from __future__ import annotations

import ast
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cdiscflow.core import atomic
from cdiscflow.core.atomic import atomic_write, remove_stale_parts, write_text
from cdiscflow.export.read import read_dataset
from cdiscflow.pipeline import run

REPO = Path(__file__).resolve().parents[1]
TEMP = re.compile(r"^\..+\.part$")


def _outputs(folder: Path) -> dict[str, bytes]:
    """Every dataset file a reader would take: *.xpt and *.json, not the hidden .part temporaries."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.suffix in (".xpt", ".json") and not p.name.startswith(".")}


def _temporaries(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if TEMP.match(p.name))


# ----------------------------------------------------------------------------------------------------------------
# every writer goes through core.atomic


@pytest.mark.slow
def test_every_file_of_a_run_is_renamed_into_place(tmp_path, raw_small, monkeypatch):
    """Record every os.replace during a whole run (Data Docs included): each file in the output folder got there by
    a rename from a temporary (into the run's staging folder, which then became `out` whole), and nothing was written
    outside it (the working directory stays empty)."""
    real_replace = os.replace
    journal = tmp_path / "renames.txt"  # the Data Docs are written by a forked child: it records here too

    def spy(src, dst, *args, **kwargs):
        with open(journal, "a", encoding="utf-8") as fh:
            fh.write(f"{Path(dst).resolve()}\n")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(atomic.os, "replace", spy)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    result = run(raw_dir=raw_small, out_dir="out", data_docs=True)
    renamed = {Path(line) for line in journal.read_text(encoding="utf-8").splitlines()}
    assert result.exit_code == 0
    files = {p.relative_to(work / "out") for p in (work / "out").rglob("*") if p.is_file()}
    kinds = {p.suffix for p in files}
    assert {".xpt", ".json", ".xml", ".xsl", ".csv", ".html"} <= kinds
    assert len(files) > 60
    staging = {f for p in renamed for f in p.parents if f.name.startswith(".out.") and f.name.endswith(".staging")}
    assert len(staging) == 1 and Path(work / "out").resolve() in renamed  # built whole, then renamed onto out
    (build,) = staging
    assert sorted(map(str, files - {p.relative_to(build) for p in renamed if build in p.parents})) == []
    assert [p.name for p in work.iterdir()] == ["out"]


def test_report_writers_rename_into_place(tmp_path, monkeypatch):
    """The report's PNG, HTML and CSV writers (the pipeline runs them once ADaM is there) go through core.atomic."""
    import pandas as pd

    from cdiscflow.report import Figure, Section, Table, plot_km, write_html_report

    renamed: list[str] = []
    real_replace = os.replace
    monkeypatch.setattr(atomic.os, "replace", lambda src, dst: (renamed.append(Path(dst).name), real_replace(src, dst)))
    plot_km(tmp_path / "km_os.png", [3.0, 5.0, 8.0, 12.0], [1, 0, 1, 1])
    written = write_html_report(tmp_path, "OS", [Section("Overall survival", [
        Table("os", pd.DataFrame({"n": [4], "events": [3]})), Figure("km_os.png")])], synthetic=True)
    assert [p.name for p in written] == ["index.html", "os.csv"]
    assert renamed == ["km_os.png", "index.html", "os.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.html", "km_os.png", "os.csv"]


# Calls that write a file by themselves.  Library code writes through core.atomic only; to_csv()/to_json() without a
# path return text, and a buffer (io.StringIO/BytesIO) is fine.
_WRITING_METHODS = {"write_text", "write_bytes", "touch", "to_csv", "to_json", "to_parquet", "to_excel", "to_feather",
                    "to_pickle", "to_xml", "to_html", "savefig", "write_xport", "write_sav", "imsave"}
_MOVING = {("shutil", "copy"), ("shutil", "copy2"), ("shutil", "copyfile"), ("shutil", "move"), ("os", "rename"),
           ("os", "replace")}
_NOT_LIBRARY = ("tests", "benchmarks", ".venv", "specs/standards/build.py", "core/atomic.py")


def _library_modules():
    for path in sorted(REPO.rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if not rel.startswith(_NOT_LIBRARY):
            yield rel, ast.parse(path.read_text(encoding="utf-8"))


def _buffers(tree: ast.AST) -> set[str]:
    """Names bound to an in-memory buffer (buf = io.StringIO(); with io.BytesIO() as buffer)."""
    out = set()
    for node in ast.walk(tree):
        value, targets = None, []
        if isinstance(node, ast.Assign):
            value, targets = node.value, node.targets
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            value, targets = node.context_expr, [node.optional_vars]
        if isinstance(value, ast.Call) and ast.unparse(value.func).split(".")[-1] in ("StringIO", "BytesIO"):
            out |= {t.id for t in targets if isinstance(t, ast.Name)}
    return out


def _writes_a_file(call: ast.Call, buffers: set[str]) -> bool:
    func = call.func
    if isinstance(func, ast.Name) and func.id == "open":
        mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
        return isinstance(mode, ast.Constant) and bool(set(str(mode.value)) & set("wax+"))
    if not isinstance(func, ast.Attribute):
        return False
    if isinstance(func.value, ast.Name) and (func.value.id, func.attr) in _MOVING:
        return True
    if func.attr not in _WRITING_METHODS:
        return False
    target = call.args[0] if call.args else next((k.value for k in call.keywords
                                                  if k.arg in ("path", "path_or_buf", "fname", "dst")), None)
    if func.attr in ("write_text", "write_bytes", "touch"):
        return True  # pathlib: always a file
    return target is not None and not (isinstance(target, ast.Name) and target.id in buffers)


@pytest.mark.slow
def test_no_library_module_writes_a_file_around_core_atomic():
    offenders = []
    for rel, tree in _library_modules():  # over modules
        buffers = _buffers(tree)
        offenders += [f"{rel}:{node.lineno}: {ast.unparse(node)[:80]}" for node in ast.walk(tree)
                      if isinstance(node, ast.Call) and _writes_a_file(node, buffers)]
    assert offenders == []


def test_the_scan_catches_a_direct_write():
    tree = ast.parse("import io\nbuf = io.StringIO()\nframe.to_csv(buf)\nframe.to_csv(path)\n"
                     "open(p, 'w')\nopen(p)\nPath(p).write_text('x')\nfig.savefig(out / 'km.png')\nshutil.move(a, b)")
    buffers = _buffers(tree)
    hits = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call) and _writes_a_file(node, buffers)]
    assert sorted(hits) == [4, 5, 7, 8, 9]


# ----------------------------------------------------------------------------------------------------------------
# temporaries


def test_stale_temporaries_are_removed_and_only_they(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(tmp_path / "dm.xpt") as fh:
            fh.write(b"half")
            raise KeyboardInterrupt  # an interrupted write removes its own temporary
    assert list(tmp_path.iterdir()) == []
    # SIGKILL leaves them: simulate what it leaves, next to a user's own hidden file and a complete dataset
    (tmp_path / ".dm.xpt.k3j9x_a1.part").write_bytes(b"HEADER RECORD half")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".km_os.ab12cd34.png.part").write_bytes(b"\x89PNG half")
    (tmp_path / ".notes.part").write_text("a user's file, not ours")
    write_text(tmp_path / "ae.xpt", "complete")
    removed = remove_stale_parts(tmp_path, tmp_path / "sub")
    assert [p.name for p in removed] == [".dm.xpt.k3j9x_a1.part", ".km_os.ab12cd34.png.part"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".notes.part", "ae.xpt", "sub"]


# ----------------------------------------------------------------------------------------------------------------
# kill -9 mid-write


@pytest.fixture(scope="module")
def big_export(tmp_path_factory):
    """A 600-subject synthetic export and the output of an uninterrupted run over it (the reference bytes)."""
    from cdiscflow.studies.dara_atra.simulate import simulate

    base = tmp_path_factory.mktemp("kill")
    simulate(base / "raw", seed=20161, subjects=600)
    ref = run(raw_dir=base / "raw", out_dir=base / "ref", data_docs=False)
    assert ref.exit_code == 0
    return base


def _staging_sdtm(out: Path) -> list[Path]:
    return [p / "sdtm" for p in out.parent.glob(f".{out.name}.*.staging")]


def _killed_mid_write(raw: Path, out: Path, victim: str, previous: Path | None = None) -> list[str]:
    """Kill a run while `victim` is being written; returns the temporaries left in the sdtm/ of its staging folder.  The window is about
    150 ms (lb.json at 600 subjects): should the kill land just after the rename on a busy machine, try again (at
    most 3 times, `out` restored from `previous` each time)."""
    for _ in range(3):  # over attempts
        if previous is not None:
            shutil.rmtree(out, ignore_errors=True)
            shutil.copytree(previous, out)
        left = _run_and_kill(raw, out, victim)
        if any(n.startswith(f".{victim}.") for n in left):
            return left
    pytest.fail(f"3 kills missed the write of {victim}")


def _run_and_kill(raw: Path, out: Path, victim: str) -> list[str]:
    """Start `cdiscflow run`, wait until `victim` (e.g. lb.json) is being written, SIGKILL it; return the temporaries
    it left in the sdtm/ of its staging folder."""
    cmd = [sys.executable, "-m", "cdiscflow", "run", "--raw", str(raw), "--out", str(out), "--no-data-docs", "-q"]
    proc = subprocess.Popen(cmd, cwd=out.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "CDISCFLOW_DEBUG": "1"})
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            sdtm = next(iter(_staging_sdtm(out)), None)
            if sdtm is not None and sdtm.is_dir() and any(n.startswith(f".{victim}.") for n in os.listdir(sdtm)):
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.0005)
    finally:
        if proc.poll() is None and time.monotonic() >= deadline:
            proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the run ended on its own ({proc.returncode}): " + \
        proc.stderr.read().decode()[-2000:]
    proc.stderr.close()
    return [t for folder in _staging_sdtm(out) for t in _temporaries(folder)]


@pytest.mark.slow
def test_sigkill_mid_write_leaves_no_truncated_file(big_export, tmp_path):
    ref = _outputs(big_export / "ref")
    # the victim: the largest Dataset-JSON (the longest write: lb.json, 10 MB)
    victim = max((n for n in ref if n.startswith("sdtm/") and n.endswith(".json")), key=lambda n: len(ref[n]))
    victim = victim.split("/")[1]
    # 1. into a new folder: no `out` at all; in the staging folder each dataset file is absent or complete
    out = tmp_path / "fresh"
    left = _killed_mid_write(big_export / "raw", out, victim)
    assert any(n.startswith(f".{victim}.") for n in left)  # killed while the victim was being written
    assert not out.exists()
    (staging,) = [p.parent for p in _staging_sdtm(out)]
    got = _outputs(staging)
    assert f"sdtm/{victim}" not in got and len(got) < len(ref)  # interrupted: not everything is there
    assert [n for n in got if got[n] != ref[n]] == []  # everything that is there is complete (the same bytes)
    for name in got:  # readable, with the right number of records
        if name.endswith(".xpt"):
            frame, _ = read_dataset(staging / name)
            want, _ = read_dataset(big_export / "ref" / name)
            assert len(frame) == len(want) > 0
    # 2. over a previous complete output (a different study size): every file is the old one (before issue 16.5 the
    # datasets written so far were new, the rest old: a mix)
    pristine, old = tmp_path / "pristine", tmp_path / "old"
    assert run(raw_dir=REPO / "tests" / "data" / "raw_small", out_dir=pristine, data_docs=False).exit_code == 0
    before = _outputs(pristine)
    left = _killed_mid_write(big_export / "raw", old, victim, previous=pristine)
    assert any(n.startswith(f".{victim}.") for n in left)
    assert _outputs(old) == before
    # 3. the next run completes over the debris and removes the staging folder with its temporaries
    again = run(raw_dir=REPO / "tests" / "data" / "raw_small", out_dir=old, data_docs=False)
    assert again.exit_code == 0
    assert _temporaries(old) == [] and _staging_sdtm(old) == []
    final = _outputs(old)
    assert [n for n in before if final.get(n) != before[n] and n != "run.json"] == []  # run.json: timings differ
