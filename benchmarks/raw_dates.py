"""Time raw date conversion (`sdtm.raw.dates.parse_date`) per distinct value against row by row (issue 18).

    .venv/bin/python benchmarks/raw_dates.py               # 1,000,000 rows, min of 3
    .venv/bin/python benchmarks/raw_dates.py --rows 200000 --repeat 5

The column is what a raw export holds: about 3,000 distinct collected dates (complete, partial with UN/UNK parts,
a few impossible or malformed ones) repeated over the rows, 5 % blank or missing.  "row by row" is
`parse_date_rows`, the conversion as it ran before (every row read); "per distinct" is `parse_date`.  CPU seconds
(process time), the minimum over the repetitions; both give the same result (checked here too).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

from cdiscflow.sdtm.raw.dates import parse_date, parse_date_rows

MONTHS = np.array(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])


def raw_column(rows: int, seed: int = 18) -> pd.Series:
    rng = np.random.default_rng(seed)
    days = pd.date_range("2015-01-01", periods=2_900, freq="D")
    distinct = [f"{d.day:02d}-{MONTHS[d.month - 1]}-{d.year}" for d in days]
    distinct += ["UN-MAR-2017", "UN-UNK-2009", "30-FEB-2016", "05-XYZ-2016", "2016-07-05", " ", ""]
    values = np.array(distinct, dtype=object)[rng.integers(0, len(distinct), rows)]
    values[rng.random(rows) < 0.05] = None
    return pd.Series(values, dtype="str")


def cpu_seconds(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        c0 = time.process_time()
        fn()
        best = min(best, time.process_time() - c0)
    return best


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    col = raw_column(args.rows)
    for fmt in ("DD-MON-YYYY", "DD-MON-YYYY|YYYY-MM-DD"):
        a, b = parse_date(col, fmt), parse_date_rows(col, fmt)
        pd.testing.assert_series_equal(a.iso, b.iso)
        pd.testing.assert_series_equal(a.problem, b.problem)
        rows = cpu_seconds(lambda: parse_date_rows(col, fmt), args.repeat)
        distinct = cpu_seconds(lambda: parse_date(col, fmt), args.repeat)
        print(f"{fmt:24s} {args.rows:,} rows, {col.nunique():,} distinct: row by row {rows:.3f} s CPU, "
              f"per distinct {distinct:.3f} s CPU ({rows / distinct:.0f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
