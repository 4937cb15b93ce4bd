"""Dataset-JSON writing speed: orjson (today) against the json module (before issue 18), same bytes.

    .venv/bin/python benchmarks/bench_datasetjson.py --rows 1000000

The frame is LB-like (the largest dataset at 10k subjects: 7 text columns held as compact categoricals, 3 numbers,
an ISO 8601 date text, a sequence number).  Both writers run `--repeat` times; the table shows the minimum wall and
CPU seconds of each and checks that the two files are byte-identical.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cdiscflow.export import datasetjson
from cdiscflow.export.datasetjson import JsonHeader, write_dataset_json
from cdiscflow.export.meta import ColumnMeta, DatasetMeta


def lb_like(rows: int, seed: int = 0) -> tuple[pd.DataFrame, DatasetMeta]:
    rng = np.random.default_rng(seed)
    subjects = np.array([f"DARA-ATRA-{i:06d}" for i in range(max(rows // 450, 1))])
    tests = np.array(["HGB", "PLAT", "WBC", "NEUT", "LYM", "CREAT", "ALT", "AST", "BILI", "ALB", "MPROT", "KAPPA"])
    result = np.round(rng.normal(50, 20, rows), 1)
    frame = pd.DataFrame({
        "STUDYID": pd.Categorical(["DARA-ATRA"] * rows),
        "DOMAIN": pd.Categorical(["LB"] * rows),
        "USUBJID": pd.Categorical(subjects[np.sort(rng.integers(0, len(subjects), rows))]),
        "LBSEQ": np.arange(1, rows + 1, dtype=np.float64),
        "LBTESTCD": pd.Categorical(tests[rng.integers(0, len(tests), rows)]),
        "LBORRES": pd.Categorical(np.char.mod("%.1f", result)),
        "LBORRESU": pd.Categorical(np.array(["g/L", "10^9/L", "umol/L"])[rng.integers(0, 3, rows)]),
        "LBSTRESN": np.where(rng.random(rows) < 0.03, np.nan, result),
        "LBSTNRLO": np.where(rng.random(rows) < 0.5, np.nan, 3.5),
        "VISIT": pd.Categorical(np.array([f"CYCLE {i} DAY 1" for i in range(1, 30)])[rng.integers(0, 29, rows)]),
        "LBDTC": pd.Categorical(pd.date_range("2016-01-01", periods=900).strftime("%Y-%m-%d")[
            rng.integers(0, 900, rows)]),
        "LBDY": rng.integers(-28, 900, rows).astype(np.float64),
    })
    types = {"LBSEQ": "integer", "LBSTRESN": "float", "LBSTNRLO": "float", "LBDY": "integer"}
    meta = DatasetMeta("LB", "Laboratory Test Results", tuple(
        ColumnMeta(c, c, types.get(c, "text"), None if c in types else 40) for c in frame.columns))
    return frame, meta


def timed(write, path: Path, repeat: int) -> tuple[float, float]:
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        write(path)
        best_wall, best_cpu = min(best_wall, time.perf_counter() - t), min(best_cpu, time.process_time() - c)
    return best_wall, best_cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    frame, meta = lb_like(args.rows)
    header = JsonHeader(created="2020-10-01T00:00:00")
    real = datasetjson._orjson_writes_as_json
    with tempfile.TemporaryDirectory(prefix="cdiscflow-dsj-") as tmp:
        fast_path, json_path = Path(tmp) / "fast.json", Path(tmp) / "json.json"
        fast = timed(lambda p: write_dataset_json(p, frame, meta, header), fast_path, args.repeat)
        datasetjson._orjson_writes_as_json = lambda values, col: False  # the json module only, as before
        try:
            slow = timed(lambda p: write_dataset_json(p, frame, meta, header), json_path, args.repeat)
        finally:
            datasetjson._orjson_writes_as_json = real
        same = fast_path.read_bytes() == json_path.read_bytes()
        size = fast_path.stat().st_size
    print(f"| writer ({args.rows:,} LB-like rows, {size / 1e6:.0f} MB, min of {args.repeat}) | wall s | CPU s |")
    print("|---|---:|---:|")
    print(f"| json module (before) | {slow[0]:.2f} | {slow[1]:.2f} |")
    print(f"| orjson + Arrow by column (now) | {fast[0]:.2f} | {fast[1]:.2f} |")
    print(f"| speed-up (CPU) | | {slow[1] / fast[1]:.1f}x |")
    print(f"byte-identical: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
