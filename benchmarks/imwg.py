"""`cdiscflow adam` on pharmaverse IMWG SDTM replicated N times (issue 18; the admiral comparison's workload).

    .venv/bin/python benchmarks/imwg.py                          # 100 copies = 30,600 subjects, min of 3
    .venv/bin/python benchmarks/imwg.py --copies 10 --repeat 1

The SDTM is pharmaverse's (DM, EX, DS, AE, RS = rs_onco_imwg, SUPPRS = supprs_onco_imwg, as read by
tests/test_adam_foreign_study.py), from `--source` (default ../shared/reference-data/pharmaverse/sdtm, beside the
repository).  Copy 1 is the original; copies 2..N get USUBJID and SUBJID suffixed "-R02" ... "-R100", so every
copy is a new set of subjects with the same records.  The replicated datasets are written as XPT v5 into the
work folder (not timed), then `cdiscflow adam --sdtm ... --study tests/data/pharmaverse_imwg` runs in fresh
processes: wall and CPU seconds (user + system, from wait4), minimum of `--repeat`.

    .venv/bin/python benchmarks/imwg.py --engine                 # also: the ADaM engine alone, in one process

`--engine` also times `derive_study` alone (the ADaM derivations, without reading the SDTM, the spec check or
writing) as the command runs it (same Arrow memory pool, datasets returned compact): the SDTM is read once, then
derived `--repeat` times in this process; CPU seconds of each derivation (time.process_time), minimum shown.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
STUDY = HERE.parent / "tests" / "data" / "pharmaverse_imwg"
SOURCE = HERE.parent.parent / "shared" / "reference-data" / "pharmaverse" / "sdtm"
FILES = {"DM": "dm", "EX": "ex", "DS": "ds", "AE": "ae", "RS": "rs_onco_imwg", "SUPPRS": "supprs_onco_imwg"}
SUBJECT_IDS = ("USUBJID", "SUBJID")


def suffix(copy: int) -> str:
    """The subject-id suffix of copy `copy` (1-based): none for the original, then -R02 ... -R100."""
    return "" if copy == 1 else f"-R{copy:02d}"


def replicate(frame: pd.DataFrame, copies: int) -> pd.DataFrame:
    parts = []
    for k in range(1, copies + 1):
        part = frame.copy()
        for col in SUBJECT_IDS:
            if col in part.columns and k > 1:
                text = part[col].astype(object)
                part[col] = text.where(text.isna(), text.astype(str) + suffix(k))
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def write_sdtm(source: Path, copies: int, out: Path) -> int:
    """The replicated SDTM as XPT v5 in `out`; returns the number of subjects."""
    from cdiscflow.export.read import read_dataset
    from cdiscflow.export.xpt import byte_lengths, write_xpt

    out.mkdir(parents=True, exist_ok=True)
    subjects = 0
    for name, stem in FILES.items():
        frame, meta = read_dataset(source / f"{stem}.xpt")
        big = replicate(frame, copies)
        columns = [c if c.is_numeric else replace(c, length=max(1, int(byte_lengths(big[c.name]).max()), c.length or 0))
                   for c in meta.columns]
        write_xpt(out / f"{name.lower()}.xpt", big, [c.xpt() for c in columns], dataset=name, label=meta.label,
                  created=datetime(2020, 1, 1))
        if name == "DM":
            subjects = int(big["USUBJID"].nunique())
    return subjects


def measure(argv: list[str]) -> dict:
    t = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):  # 1: findings, still a complete derivation
        raise SystemExit(f"benchmark step failed (exit {code}): {' '.join(argv)}")
    return {"wall": time.perf_counter() - t, "cpu": usage.ru_utime + usage.ru_stime, "exit": code}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--source", type=Path, default=SOURCE, help="Folder of the pharmaverse SDTM XPT files")
    parser.add_argument("--work", type=Path, help="Working folder (default: a temporary folder, removed after)")
    parser.add_argument("--engine", action="store_true", help="Also time derive_study alone (CPU, in-process)")
    args = parser.parse_args(argv)
    if not all((args.source / f"{stem}.xpt").is_file() for stem in FILES.values()):
        raise SystemExit(f"{args.source}: the pharmaverse SDTM XPT files {', '.join(FILES.values())} are needed")
    work = args.work or Path(tempfile.mkdtemp(prefix="cdiscflow-imwg-"))
    try:
        subjects = write_sdtm(args.source, args.copies, work / "sdtm")
        runs = []
        for i in range(args.repeat):
            out = work / f"adam{i}"
            shutil.rmtree(out, ignore_errors=True)
            runs.append(measure([sys.executable, "-m", "cdiscflow", "adam", "--sdtm", str(work / "sdtm"),
                                 "--study", str(STUDY), "--out", str(out)]))
        engine = time_engine(work / "sdtm", args.repeat) if args.engine else None
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"| `cdiscflow adam`, IMWG x{args.copies} ({subjects:,} subjects), min of {args.repeat} | wall s | CPU s |")
    print("|---|---:|---:|")
    print(f"| adam | {min(r['wall'] for r in runs):.2f} | {min(r['cpu'] for r in runs):.2f} |")
    if engine:
        print(f"| derive_study alone (in-process) | {min(r['wall'] for r in engine):.2f} | "
              f"{min(r['cpu'] for r in engine):.2f} |")
    return 0


def time_engine(sdtm_dir: Path, repeat: int) -> list[dict]:
    """derive_study on the SDTM read once: wall and CPU seconds of each of `repeat` derivations."""
    from cdiscflow.adam.study import derive_study
    from cdiscflow.cli_commands.stages import _jemalloc_arrow_pool
    from cdiscflow.usecases import read_sdtm
    from cdiscflow.core.findings import Findings
    from cdiscflow.usecases import require_valid_spec

    _jemalloc_arrow_pool()  # as `cdiscflow adam`
    spec = require_valid_spec(str(STUDY))
    sdtm = read_sdtm(sdtm_dir, Findings())
    runs = []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        derive_study(spec, sdtm, findings=Findings(), compact_output=True)
        runs.append({"wall": time.perf_counter() - t, "cpu": time.process_time() - c})
    return runs


if __name__ == "__main__":
    sys.exit(main())
