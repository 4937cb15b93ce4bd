"""Benchmark subject-partitioned runs (issue 19) against the plain run, and check that their bytes are the same.

    .venv/bin/python benchmarks/partitioned.py --subjects 10000
    .venv/bin/python benchmarks/partitioned.py --subjects 10000 --config 1 --config 2 --config 2x2 --config 4x2

Each configuration is `PARTITIONSxJOBS` (`1` = the plain run, `cdiscflow run` without --partitions; `2` = two
partitions one after the other in one process; `2x2` = two partitions on a Dask LocalCluster of two worker
processes).  Every run is `cdiscflow run --no-data-docs -q` in a fresh process: wall time, CPU time (the process
and the worker processes it started and waited for) and the peak resident set of the largest single process (wait4
reports the maximum over the process and its descendants).  After the runs, every output file but run.json is
compared byte for byte with the plain run's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

GIB = 1024 ** 3
# the CLI, reporting at exit the peak resident set of its own process (the client) and of its largest descendant
# (a Dask worker or nanny: Linux reports the largest reaped descendant for RUSAGE_CHILDREN) to $BENCH_RSS
_PEAKS = ("import atexit, json, os, resource, runpy, sys\n"
          "def _peaks():\n"
          "    me, kids = (resource.getrusage(w).ru_maxrss * 1024 for w in "
          "(resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))\n"
          "    open(os.environ['BENCH_RSS'], 'w').write(json.dumps({'client': me, 'workers': kids}))\n"
          "atexit.register(_peaks)\n"
          "sys.argv = ['cdiscflow', *sys.argv[1:]]\n"
          "runpy.run_module('cdiscflow', run_name='__main__')\n")
CLI = [sys.executable, "-c", _PEAKS]
DATA_DOCS = False  # --data-docs: runs with the Data Docs (as `cdiscflow run` by default)


def measure(argv: list[str], peaks: Path | None = None) -> dict:
    t = time.perf_counter()
    env = {**os.environ, "BENCH_RSS": str(peaks or os.devnull)}
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"benchmark step failed (exit {code}): {' '.join(argv)}")
    record = {"wall": time.perf_counter() - t, "cpu": usage.ru_utime + usage.ru_stime,
              "peak_rss": usage.ru_maxrss * 1024, "exit": code}
    if peaks is not None and peaks.is_file():
        record.update({f"peak_rss_{k}": v for k, v in json.loads(peaks.read_text()).items()})
    return record


def files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != "run.json")


def same_files(a: Path, b: Path) -> bool:
    """Every file but run.json byte-identical in both folders (compared in chunks: 100k outputs are ~17 GB)."""
    import filecmp

    names = files(a)
    return names == files(b) and all(filecmp.cmp(a / n, b / n, shallow=False) for n in names)


def run_config(config: str, raw: Path, out: Path) -> dict:
    partitions, _, jobs = config.partition("x")
    argv = [*CLI, "run", "--raw", str(raw), "--out", str(out), "-q"] + ([] if DATA_DOCS else ["--no-data-docs"])
    if partitions != "1" or jobs:
        argv += ["--partitions", partitions] + (["--jobs", jobs, "--scheduler", "local"] if jobs else [])
    record = measure(argv, out.with_name(out.name + ".peaks.json"))
    log = json.loads((out / "run.json").read_text())
    record["stages"] = {s["stage"]: s["seconds"] for s in log["stages"]}
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=10000)
    parser.add_argument("--config", action="append", help="PARTITIONS[xJOBS], repeat; default 1, 2, 2x2")
    parser.add_argument("--work", type=Path, default=Path("/tmp/cdiscflow-bench-partitioned"))
    parser.add_argument("--json", type=Path, help="Also write the measurements as JSON here")
    parser.add_argument("--data-docs", action="store_true", help="Runs with Data Docs (default: --no-data-docs)")
    args = parser.parse_args(argv)
    global DATA_DOCS
    DATA_DOCS = args.data_docs
    configs = args.config or ["1", "2", "2x2"]
    raw = args.work / f"raw{args.subjects}"
    if not (raw / "enrol.csv").is_file():
        print(f"simulating {args.subjects} subjects", flush=True)
        measure([*CLI, "simulate", "--subjects", str(args.subjects), "--out", str(raw)])
    raw_bytes = sum(p.stat().st_size for p in raw.iterdir() if p.is_file())
    records = {}
    for config in configs:  # over configurations (a handful)
        out = args.work / f"out{args.subjects}_{config}"
        records[config] = run_config(config, raw, out)
        print(config, json.dumps({k: v for k, v in records[config].items()}), flush=True)
    plain = args.work / f"out{args.subjects}_{configs[0]}"
    for config in configs[1:]:  # over configurations: same bytes as the first
        records[config]["same_bytes"] = same_files(plain, args.work / f"out{args.subjects}_{config}")
    print(f"\n{args.subjects:,} subjects, raw export {raw_bytes / 1e6:,.0f} MB\n")
    print("| partitions x jobs | wall s | CPU s | sdtm+adam s | validate s | export s | report s | peak RSS GiB "
          "client | peak RSS GiB largest worker | bytes = plain run |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for config, r in records.items():
        s = r["stages"]
        print(f"| {config} | {r['wall']:.1f} | {r['cpu']:.1f} | {s.get('sdtm', 0) + s.get('adam', 0):.1f} | "
              f"{s.get('validate', 0):.1f} | {s.get('export', 0):.1f} | {s.get('report', 0):.1f} | "
              f"{r.get('peak_rss_client', r['peak_rss']) / GIB:.2f} | {r.get('peak_rss_workers', 0) / GIB:.2f} | "
              f"{'reference' if config == configs[0] else r['same_bytes']} |")
    if args.json:
        args.json.write_text(json.dumps(records, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
