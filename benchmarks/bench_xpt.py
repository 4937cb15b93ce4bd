"""Measure the XPT v5 writer against pyreadstat on an EX-like frame.

    .venv/bin/python benchmarks/bench_xpt.py [ROWS] [--skip-pyreadstat]

Prints rows/s for cdiscflow's vectorised writer (best of 3 runs: wall and CPU seconds) and for
pyreadstat.write_xport (version 5, once), and whether the two files are byte-identical apart from the header
timestamps.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from cdiscflow.export.xpt import XptVariable, write_xpt

_STAMP = re.compile(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")


def ex_like(rows: int, seed: int = 1) -> tuple[pd.DataFrame, list[XptVariable]]:
    rng = np.random.default_rng(seed)
    subj = rng.integers(1, 100_001, rows)
    start = np.datetime64("2016-06-01") + rng.integers(0, 1500, rows).astype("timedelta64[D]")
    frame = pd.DataFrame({
        "STUDYID": pd.Series(["DARA-ATRA"] * rows, dtype="str"),
        "DOMAIN": pd.Series(["EX"] * rows, dtype="str"),
        "USUBJID": pd.Series(np.char.add("DARA-ATRA-", subj.astype(str)), dtype="str"),
        "EXSEQ": rng.integers(1, 40, rows).astype(float),
        "EXTRT": pd.Series(np.where(rng.random(rows) < 0.7, "DARATUMUMAB", "TRETINOIN"), dtype="str"),
        "EXDOSE": np.round(rng.choice([16.0, 15.0, 30.0, 45.0], rows), 1),
        "EXDOSU": pd.Series(np.where(rng.random(rows) < 0.7, "mg/kg", "mg/m2"), dtype="str"),
        "EXSTDTC": pd.Series(np.datetime_as_string(start, unit="D"), dtype="str"),
        "EXENDTC": pd.Series(np.datetime_as_string(start + 2, unit="D"), dtype="str"),
        "EXSTDY": rng.integers(1, 900, rows).astype(float),
        "EXENDY": rng.integers(1, 900, rows).astype(float),
    })
    frame.loc[frame.index[::13], "EXENDTC"] = np.nan
    variables = [XptVariable(c, f"{c} label", "Num" if frame[c].dtype.kind == "f" else "Char",
                             8 if frame[c].dtype.kind == "f" else int(frame[c].str.len().max()))
                 for c in frame.columns]
    return frame, variables


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 1_000_000
    frame, variables = ex_like(rows)
    with tempfile.TemporaryDirectory() as tmp:
        ours, theirs = Path(tmp) / "ours.xpt", Path(tmp) / "theirs.xpt"
        t_ours = cpu_ours = float("inf")
        for _ in range(3):
            t0, c0 = time.perf_counter(), time.process_time()
            write_xpt(ours, frame, variables, dataset="EX", label="Exposure", created=date(2020, 10, 1))
            t_ours, cpu_ours = min(t_ours, time.perf_counter() - t0), min(cpu_ours, time.process_time() - c0)
        print(f"cdiscflow  {rows:>9,} rows  {t_ours:7.2f} s  {rows / t_ours:>12,.0f} rows/s  "
              f"{ours.stat().st_size / 1e6:.1f} MB  (CPU {cpu_ours:.2f} s)")
        if "--skip-pyreadstat" in sys.argv:
            return
        import pyreadstat

        t0 = time.perf_counter()
        pyreadstat.write_xport(frame, str(theirs), file_format_version=5, table_name="EX", file_label="Exposure",
                               column_labels={v.name: v.label for v in variables})
        t_theirs = time.perf_counter() - t0
        print(f"pyreadstat {rows:>9,} rows  {t_theirs:7.2f} s  {rows / t_theirs:>12,.0f} rows/s  "
              f"(ours {t_theirs / t_ours:.0f}x faster)")
        same = _STAMP.sub(b"", ours.read_bytes()[:800]) == _STAMP.sub(b"", theirs.read_bytes()[:800]) and \
            ours.read_bytes()[800:] == theirs.read_bytes()[800:]
        print(f"byte-identical apart from the header timestamps: {same}")


if __name__ == "__main__":
    main()
