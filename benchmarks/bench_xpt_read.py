"""Measure the structural XPT reader (core.xpt_read: layout check + numpy decode) against pyreadstat's decoder on
the EX-like frame of bench_xpt.py.

    .venv/bin/python benchmarks/bench_xpt_read.py [ROWS]

Prints seconds and rows/s for both (the structural reader: best of 3, wall and CPU), and whether they decode the
same values.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pyreadstat

from cdiscflow.core.xpt_read import read_xpt, xpt_layout
from cdiscflow.export.xpt import write_xpt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_xpt import ex_like  # noqa: E402


def main(rows: int) -> None:
    frame, variables = ex_like(rows)
    with tempfile.TemporaryDirectory(prefix="cdiscflow-bench-") as tmp:
        path = Path(tmp) / "ex.xpt"
        write_xpt(path, frame, variables, dataset="EX", label="Exposure", created=date(2020, 10, 1))
        t = time.perf_counter()
        xpt_layout(path)
        t_layout = time.perf_counter() - t
        t_ours = cpu_ours = float("inf")
        for _ in range(3):
            t, c = time.perf_counter(), time.process_time()
            ours = read_xpt(path).frame
            t_ours, cpu_ours = min(t_ours, time.perf_counter() - t), min(cpu_ours, time.process_time() - c)
        t = time.perf_counter()
        theirs, _ = pyreadstat.read_xport(str(path), disable_datetime_conversion=True)
        t_theirs = time.perf_counter() - t
        same = all(np.array_equal(ours[c].to_numpy(), theirs[c].to_numpy(), equal_nan=ours[c].dtype.kind == "f")
                   for c in ours.columns)
        size = path.stat().st_size / 2 ** 20
    print(f"{rows:,} rows, {size:.0f} MB: structure check {t_layout:.2f} s; structural reader {t_ours:.2f} s "
          f"({rows / t_ours:,.0f} rows/s, CPU {cpu_ours:.2f} s); pyreadstat {t_theirs:.2f} s ({rows / t_theirs:,.0f} rows/s); "
          f"same values: {same}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
