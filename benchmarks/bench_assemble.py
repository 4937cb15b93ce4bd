"""Measure the export of a partitioned run from pieces (export/pieces.py) on one large AE-like dataset.

    .venv/bin/python benchmarks/bench_assemble.py [ROWS] [--partitions P] [--subject-rows K] [--keep]

Builds the dataset partition by partition (subjects of K records each, every subject in a random partition; the
final order is subject order, so each subject is a run of K rows from one piece), then times each step as a
partitioned run takes it: each partition's statistics and prepared records (`prepare_partition`; the records are
spilled), `combine_stats`, the pieces from the spill (`write_pieces(..., prepared=True)`), and the assembly of the
final .xpt and .json (`assemble`) in a fresh process, into a staged folder as a run writes (flushed to disk when
the folder is swapped in, timed apart).  The peak RSS printed is that process's (VmHWM): assembly's own, with the
imports and the row maps (8 bytes per row, the one thing in it that grows with the dataset).  Prints wall and CPU
seconds and MB/s of the files assembled.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cdiscflow.core.atomic import staged_output
from cdiscflow.export.api import write_datasets
from cdiscflow.export.pieces import assemble, combine_stats, prepare_partition, write_pieces
from cdiscflow.specs.load import load_study

STUDY = Path(__file__).resolve().parents[1] / "tests" / "export" / "study"  # the export tests' small spec (AE)
TERMS = [f"Adverse event term {i} " + "x" * (i % 40) for i in range(500)]


def subjects_by_partition(rows: int, count: int, per_subject: int, seed: int = 7) -> list[np.ndarray]:
    """The subjects (numbered in final order) of each partition."""
    owner = np.random.default_rng(seed).integers(0, count, rows // per_subject)
    return [np.flatnonzero(owner == p) for p in range(count)]


def partition_frame(subjects: np.ndarray, per_subject: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(subjects) * per_subject
    subject = np.repeat(subjects, per_subject)
    term = rng.integers(0, len(TERMS), n)
    start = np.datetime64("2016-06-01") + rng.integers(0, 1500, n).astype("timedelta64[D]")
    text = lambda values: pd.Series(values, dtype="str")  # noqa: E731
    return pd.DataFrame({
        "STUDYID": text(np.full(n, "XPTTEST")), "DOMAIN": text(np.full(n, "AE")),
        "USUBJID": text(np.char.add("XPTTEST-", subject.astype("U7"))),
        "AESEQ": np.tile(np.arange(1, per_subject + 1), len(subjects)).astype(float),
        "AETERM": text(np.asarray(TERMS, dtype=object)[term]), "AEDECOD": text(np.asarray(TERMS, dtype=object)[term]),
        "AESEV": text(np.asarray(["MILD", "MODERATE", "SEVERE"], dtype=object)[term % 3]),
        "AESER": text(np.where(term % 7 == 0, "Y", "N")), "AETOXGR": text((term % 5 + 1).astype(str)),
        "AESTDTC": text(np.datetime_as_string(start, unit="D")),
        "AESTDY": rng.integers(1, 900, n).astype(float),
    })


def cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rows", nargs="?", type=int, default=4_000_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--subject-rows", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--plain", action="store_true",
                        help="also write the whole dataset with write_datasets (timed; needs it in memory) and "
                             "compare the files")
    parser.add_argument("--assemble-only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.assemble_only:
        return assemble_only(Path(args.assemble_only))
    spec = load_study(STUDY)
    scratch = Path(tempfile.mkdtemp(prefix="bench_assemble_", dir=os.environ.get("TMPDIR", "/tmp")))
    try:
        run(spec, scratch, args)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


def run(spec, scratch: Path, args) -> None:
    k, count = args.subject_rows, args.partitions
    owners = subjects_by_partition(args.rows, count, k)
    final_rows = [(s[:, None] * k + np.arange(k)).ravel() for s in owners]
    times: dict[str, list[float]] = {}

    def timed(step: str, fn, *a):
        w, c = time.perf_counter(), cpu()
        out = fn(*a)
        got = times.setdefault(step, [0.0, 0.0])
        got[0] += time.perf_counter() - w
        got[1] += cpu() - c
        return out

    stats = []
    for p in range(count):  # phase 1, one partition at a time (as one worker would)
        frame = partition_frame(owners[p], k, p)
        partition_stats, prepared = timed("prepare_partition", prepare_partition, "AE", frame, spec)
        stats.append(pickle.loads(pickle.dumps(partition_stats)))
        prepared.to_pickle(scratch / f"spill.{p}.pkl")  # the records as written: phase 2 does not prepare them again
        del frame, prepared
    final = timed("combine_stats", combine_stats, "AE", stats, spec, final_rows)
    pieces = []
    for p in range(count):  # phase 2
        frame = pd.read_pickle(scratch / f"spill.{p}.pkl")
        pieces.append(timed("write_pieces", lambda *a: write_pieces(*a, prepared=True), "AE", frame, final,
                            scratch / "pieces", p))
        del frame
        os.unlink(scratch / f"spill.{p}.pkl")
    job = scratch / "assemble.pkl"
    job.write_bytes(pickle.dumps((pieces, final_rows, final, str(scratch / "out"))))
    del final_rows
    w, c = time.perf_counter(), cpu()
    child = subprocess.run([sys.executable, __file__, "--assemble-only", str(job)], check=True, capture_output=True,
                           text=True)
    wall, cpu_s = time.perf_counter() - w, cpu() - c
    report = json.loads(child.stdout)
    size = sum(report["sizes"].values())
    print(f"AE-like dataset: {args.rows:,} rows in {count} partitions, subjects of {k} rows "
          f"({args.rows // k:,} subjects); files "
          + ", ".join(f"{n} {s / 1e6:,.0f} MB" for n, s in report["sizes"].items()))
    for step, (sw, sc) in times.items():
        print(f"  {step:<17} {sw:7.2f} s wall {sc:7.2f} s CPU")
    print(f"  {'assemble':<17} {report['wall']:7.2f} s wall {report['cpu']:7.2f} s CPU  "
          f"{size / 1e6 / report['wall']:,.0f} MB/s (wall), {size / 1e6 / max(report['cpu'], 1e-9):,.0f} MB/s (CPU); "
          f"peak RSS {report['rss_mb']:.0f} MB (before assembly, with imports and the row maps: "
          f"{report['rss_before_mb']:.0f} MB); then flushed to disk in {report['durable']:.2f} s; "
          f"process {wall:.2f} s wall {cpu_s:.2f} s CPU")
    if args.plain:
        plain(spec, scratch, owners, k, report)


def plain(spec, scratch: Path, owners: list[np.ndarray], k: int, report: dict) -> None:
    """The whole dataset (the partitions' records in final order) written by `write_datasets`; the files compared."""
    parts = [partition_frame(owners[p], k, p) for p in range(len(owners))]
    order = np.argsort(np.concatenate([(s[:, None] * k + np.arange(k)).ravel() for s in owners]), kind="stable")
    whole = pd.concat(parts, ignore_index=True).iloc[order].reset_index(drop=True)
    del parts
    w, c = time.perf_counter(), cpu()
    with staged_output(scratch / "plain") as build:
        write_datasets({"AE": whole}, spec, build, define=False)
        wall, spent = time.perf_counter() - w, cpu() - c
    same = all(filecmp.cmp(scratch / "plain" / "sdtm" / f"ae.{fmt}", scratch / "out" / "sdtm" / f"ae.{fmt}",
                           shallow=False) for fmt in report["sizes"])
    print(f"  {'write_datasets':<17} {wall:7.2f} s wall {spent:7.2f} s CPU  (the whole dataset in one process); "
          f"files {'byte-identical to' if same else 'DIFFERENT from'} the assembled ones")


def assemble_only(job: Path) -> None:
    """Assemble in this fresh process, into a staged output folder as a run does (files flushed to disk together when
    the folder is swapped in, timed apart); peak RSS is this process's high-water mark (VmHWM: not inherited)."""
    pieces, final_rows, final, out = pickle.loads(job.read_bytes())
    spec = load_study(STUDY)
    before = _memory("VmRSS")
    w, c = time.perf_counter(), cpu()
    with staged_output(out) as build:
        files = assemble("AE", pieces, final_rows, final, build, spec)
        wall, spent = time.perf_counter() - w, cpu() - c
        peak = _memory("VmHWM")
    durable = time.perf_counter() - w - wall
    sizes = {f.suffix[1:]: (Path(out) / f.relative_to(build)).stat().st_size for f in files}
    print(json.dumps({"wall": wall, "cpu": spent, "durable": durable, "rss_mb": peak, "rss_before_mb": before,
                      "sizes": sizes}))


def _memory(field: str) -> float:
    """A memory figure of this process from /proc/self/status, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    main()
