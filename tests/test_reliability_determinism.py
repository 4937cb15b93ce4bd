"""Same input, same bytes: two `cdiscflow run`s over the same export give identical files, in fresh Python processes
with different hash seeds (set and dict order from string hashing cannot leak into the output), with rejected rows
in play, from copies of the export in different folders.  The documented exceptions are in run.json only: the clock
(`pipeline.TIMING_FIELDS`) and, as provenance, the folder the export was read from."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cdiscflow.pipeline import TIMING_FIELDS, without_timings


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _run(raw: Path, out: Path, hash_seed: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "cdiscflow", "run", "--raw", str(raw), "--out", str(out), "--on-error", "reject",
           "--no-data-docs", "-q"]
    return subprocess.run(cmd, cwd=out.parent, capture_output=True, text=True,
                          env={**os.environ, "PYTHONHASHSEED": hash_seed}, timeout=600)


@pytest.mark.slow
def test_two_runs_in_fresh_processes_give_the_same_bytes(raw_small, tmp_path):
    # a few bad rows, so the reject log, the accounting and the findings have content whose order matters
    ae = raw_small / "ae.csv"
    ae.write_text(ae.read_text().replace("20-AUG-2016,UN-SEP-2016", "20-AUG-2016,10-AUG-2016", 1)
                  .replace("17-FEB-2017,", "31-FEB-2017,", 1))
    enrol = raw_small / "enrol.csv"
    enrol.write_text(enrol.read_text().replace("UN-UNK-1945,Man,", "UN-UNK-1945,Femme,", 1))
    other = tmp_path / "elsewhere" / "raw"
    shutil.copytree(raw_small, other)
    a, b = _run(raw_small, tmp_path / "a", "1"), _run(other, tmp_path / "b", "2")
    assert (a.returncode, b.returncode) == (1, 1), a.stderr + b.stderr  # rows were rejected
    fa, fb = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert fa.keys() == fb.keys()
    assert {"sdtm/_rejects.csv", "sdtm/_accounting.csv", "sdtm/dm.xpt", "findings.json", "run.json"} <= fa.keys()
    assert [n for n in fa if fa[n] != fb[n] and n != "run.json"] == []
    la, lb = json.loads(fa["run.json"]), json.loads(fb["run.json"])
    assert TIMING_FIELDS == ("started", "seconds", "stages[].seconds", "stages[].steps")
    assert la["inputs"]["raw_dir"] != lb["inputs"]["raw_dir"] and la["inputs"]["files"] == lb["inputs"]["files"]
    for log in (la, lb):
        log["inputs"].pop("raw_dir")
    assert without_timings(la) == without_timings(lb)  # run.json: only the clock (and the raw folder) differ
    assert la["started"] and la["seconds"] > 0
    assert la["rejected_raw_rows"] == 9  # enrol row 3 and its subject's 6 rows, ae rows 2 and 3
    # ae row 3, the only AE with an ATRA causality (SUPPAE QNAM AERELATR), was rejected: ADAE keeps the variable
    from cdiscflow.export.read import read_dataset

    adae, _ = read_dataset(tmp_path / "a" / "adam" / "adae.xpt")
    assert len(adae) == 1 and "AERELATR" in adae.columns and adae["AERELATR"].isna().all()
