"""Validation of a whole study against validation by partitions of subjects (issue 19), in CPU and wall seconds.

    .venv/bin/python benchmarks/validate_partitions.py [RAW_DIR] [--partitions 1 --partitions 2]

Maps and derives the raw export in RAW_DIR (default: the embedded study's) as `cdiscflow run` does (not timed), then times `run_validation` on the
whole study, and, for each partition count, `validate_partition` on each partition's datasets (split by USUBJID with
scale.subject_partition, as tests/validation/test_validation_partitioned.py does; the split is not timed) and
`combine_validation` on their pickled results; checks that the findings frames are equal and prints one line each.
"""

from __future__ import annotations

import argparse
import pickle
import time

import numpy as np
import pandas as pd


def _clock() -> tuple[float, float]:
    return time.process_time(), time.perf_counter()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    cpu, wall = _clock()
    return cpu - start[0], wall - start[1]


def own_categories(frame: pd.DataFrame) -> pd.DataFrame:
    """A partition's records with the categories of its own text only, as its own mapping compacts them."""
    for name in frame.columns:  # over columns
        if isinstance(frame[name].dtype, pd.CategoricalDtype):
            frame[name] = frame[name].cat.remove_unused_categories()
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("raw", nargs="?", help="raw export folder (cdiscflow simulate --subjects N --out RAW); "
                                                "default: the embedded study's")
    parser.add_argument("--partitions", type=int, action="append", help="partition counts (default 1 and 2)")
    args = parser.parse_args()

    from cdiscflow.adam import derive_study
    from cdiscflow.core.frames import compact_all
    from cdiscflow.scale import subject_partition
    from cdiscflow.sdtm import map_study
    from cdiscflow.specs.load import load_study
    from cdiscflow.validation.api import run_validation
    from cdiscflow.validation.partitioned import client_dataset_names, combine_validation, validate_partition

    spec = load_study("dara_atra")
    sdtm = map_study(spec, args.raw, on_error="reject", compact_text=True)
    compact_all(sdtm.datasets)
    datasets = {**sdtm.datasets, **derive_study(spec, sdtm.datasets, compact_text=True).datasets}
    records = sum(len(f) for f in datasets.values())

    start = _clock()
    whole = run_validation(datasets, spec)
    cpu, wall = _since(start)
    expected = whole.findings.frame()
    print(f"whole study: {records:,} records, {len(expected):,} findings: {cpu:.2f} s CPU, {wall:.2f} s wall")

    for count in args.partitions or [1, 2]:  # over partition counts
        client = {n: f for n, f in datasets.items() if n in client_dataset_names()}
        parts = [dict(client) for _ in range(count)]
        final_rows = {}
        for name, frame in datasets.items():  # over datasets: each partition's records in the study's order
            if name in client:
                continue
            where = subject_partition(frame["USUBJID"], count)
            final_rows[name] = [np.flatnonzero(where == i) for i in range(count)]
            for i in range(count):  # over partitions
                parts[i][name] = own_categories(frame.iloc[final_rows[name][i]].reset_index(drop=True))
        results, times = [], []
        for part in parts:  # over partitions, one after the other in this process
            start = _clock()
            results.append(pickle.dumps(validate_partition(part, spec)))
            times.append(_since(start))
        start = _clock()
        combined = combine_validation([pickle.loads(r) for r in results], final_rows, client, spec)
        c_cpu, c_wall = _since(start)
        pd.testing.assert_frame_equal(combined.findings.frame(), expected)
        per = ", ".join(f"{c:.2f}" for c, _ in times)
        print(f"{count} partition(s): partitions {per} s CPU (sum {sum(c for c, _ in times):.2f}, "
              f"wall {sum(w for _, w in times):.2f}); combine {c_cpu:.2f} s CPU ({c_wall:.2f} wall); "
              f"results {sum(len(r) for r in results) / 1e6:.2f} MB pickled; findings equal")


if __name__ == "__main__":
    main()
