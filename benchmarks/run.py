"""Benchmark the pipeline at N simulated subjects against the I/O floor.

    .venv/bin/python benchmarks/run.py --subjects 10000
    .venv/bin/python benchmarks/run.py --subjects 10000 --subjects 100000 --markdown benchmarks/RESULTS.md

For each N, in fresh processes (so that one measurement's memory never counts in another's):

1. `cdiscflow simulate --subjects N` writes the synthetic raw export (not part of the pipeline figures);
2. the pipeline -- raw -> SDTM -> ADaM -> validate -> export, what `cdiscflow run` does -- runs in one process that
   samples its own resident set every 10 ms, so each stage gets its wall time, CPU time, rows and peak RSS;
3. the I/O floor: read every raw CSV (pandas + pyarrow, all columns as text) and write the same output frames with
   pyreadstat.write_xport alone (version 5), with no mapping and no checks.  The frames are loaded from the
   pipeline's own XPT output before the clock starts.

The analysis report is timed too but is not part of the pipeline total (the floor has nothing to compare it with);
Data Docs are on, as in `cdiscflow run` (they profile a row sample, see validation/datadocs.py).

Targets (issue 10), at N = 100,000: pipeline <= 2x the I/O floor; peak RSS <= 8 GiB; time(100k) / time(10k) <= 11.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PIPELINE_STAGES = ("sdtm", "adam", "validate", "export")  # the pipeline total; "report" is shown beside it
GIB = 1024 ** 3


# ----------------------------------------------------------------------------------------------------------------
# measuring a child process


def measure(argv: list[str], *, env: dict | None = None) -> dict:
    """Run argv in a fresh process; its wall time, CPU time (user + system) and peak RSS, from wait4."""
    t = time.perf_counter()
    proc = subprocess.Popen(argv, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"benchmark step failed (exit {proc.returncode}): {' '.join(argv)}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak_rss": usage.ru_maxrss * 1024}


class RssSampler:
    """Samples this process's resident set every `interval` seconds; `window()` gives the peak since the last call."""

    def __init__(self, interval: float = 0.01):
        self.interval, self._peak, self._stop = interval, 0, threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self._page

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, self.rss())

    def start(self) -> "RssSampler":
        self._thread.start()
        return self

    def window(self) -> int:
        peak, self._peak = max(self._peak, self.rss()), self.rss()
        return peak

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


# ----------------------------------------------------------------------------------------------------------------
# child roles: the pipeline and the I/O floor (each run as `run.py _pipeline ...` / `run.py _floor ...`)


def child_pipeline(raw: str, out: str, result_path: str) -> None:
    from cdiscflow import pipeline

    sampler = RssSampler().start()
    stages: dict[str, dict] = {}
    clock: dict[str, tuple[float, float]] = {}

    def progress(stage: str, message: str) -> None:
        now = (time.perf_counter(), time.process_time())
        if message == pipeline.STARTED:
            sampler.window()
            clock[stage] = now
            return
        start = clock.get(stage, now)
        stages[stage] = {"wall": now[0] - start[0], "cpu": now[1] - start[1], "peak_rss": sampler.window(),
                         "message": message}

    t = time.perf_counter()
    result = pipeline.run(raw_dir=raw, out_dir=out, progress=progress)
    total = time.perf_counter() - t
    sampler.stop()
    for log in result.stages:  # rows: what each stage read and wrote
        entry = stages.setdefault(log.name, {})
        entry["rows_in"] = sum((log.rows_in or {}).values())
        entry["rows_out"] = sum((log.rows_out or {}).values())
        entry["steps"] = dict(log.steps)
    Path(result_path).write_text(json.dumps({
        "stages": stages, "total": total, "exit": result.exit_code, "subjects": result.subjects,
        "findings": result.findings.counts(), "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "datasets": {n: len(f) for n, f in result.datasets.items()}}, indent=1))


def child_floor(raw: str, out: str, result_path: str) -> None:
    import pandas as pd
    import pyreadstat

    from cdiscflow.export import read_dataset

    t, c = time.perf_counter(), time.process_time()
    rows_read = 0
    for path in _forms(Path(raw)):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, engine="pyarrow", skiprows=_banner_lines(path))
        rows_read += len(frame)
        del frame
    read = {"wall": time.perf_counter() - t, "cpu": time.process_time() - c, "rows": rows_read}

    outputs = sorted(Path(out).glob("sdtm/*.xpt")) + sorted(Path(out).glob("adam/*.xpt"))
    frames = {p: read_dataset(p) for p in outputs}  # loaded before the clock starts: the floor is the writing
    target = Path(tempfile.mkdtemp(prefix="floor-", dir=Path(out).parent))
    t, c = time.perf_counter(), time.process_time()
    rows_written = 0
    for path, (frame, meta) in frames.items():  # with the labels, as a submission needs
        pyreadstat.write_xport(frame, str(target / path.name), file_label=meta.label, table_name=meta.name,
                               column_labels=[c.label for c in meta.columns], file_format_version=5)
        rows_written += len(frame)
    write = {"wall": time.perf_counter() - t, "cpu": time.process_time() - c, "rows": rows_written,
             "datasets": len(frames)}
    shutil.rmtree(target)
    Path(result_path).write_text(json.dumps({"read": read, "write": write}, indent=1))


# ----------------------------------------------------------------------------------------------------------------
# the benchmark


def bench(subjects: int, work: Path, *, floor: bool = True) -> dict:
    here = Path(__file__).resolve()
    raw, out = work / f"raw_{subjects}", work / f"out_{subjects}"
    for d in (raw, out):
        shutil.rmtree(d, ignore_errors=True)
    cli = [sys.executable, "-m", "cdiscflow.cli"]
    print(f"[{subjects:,} subjects] simulate ...", flush=True)
    simulate = measure([*cli, "simulate", "--subjects", str(subjects), "--out", str(raw)])
    simulate["rows"] = sum(_count_rows(p) - _banner_lines(p) for p in _forms(raw))
    print(f"[{subjects:,} subjects] pipeline ...", flush=True)
    result_path = work / f"pipeline_{subjects}.json"
    process = measure([sys.executable, str(here), "_pipeline", str(raw), str(out), str(result_path)])
    pipeline = json.loads(result_path.read_text())
    pipeline["process"] = process
    record = {"subjects": subjects, "simulate": simulate, "pipeline": pipeline,
              "raw_mb": _size(raw) / 1e6, "out_mb": _size(out) / 1e6}
    if floor:
        print(f"[{subjects:,} subjects] I/O floor ...", flush=True)
        floor_path = work / f"floor_{subjects}.json"
        measure([sys.executable, str(here), "_floor", str(raw), str(out), str(floor_path)])
        record["floor"] = json.loads(floor_path.read_text())
    return record


def _forms(raw: Path) -> list[Path]:
    """The raw form CSVs (not the data dictionary that documents them)."""
    return [p for p in sorted(raw.glob("*.csv")) if p.name != "data_dictionary.csv"]


def _banner_lines(path: Path) -> int:
    """How many '#' lines open a raw CSV (the SYNTHETIC banner of `cdiscflow simulate`)."""
    with open(path, encoding="utf-8") as f:
        return sum(1 for _ in iter(lambda: f.readline().startswith("#") or None, None))


def _count_rows(path: Path) -> int:
    with open(path, "rb") as f:
        return max(sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b"")) - 1, 0)


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def pipeline_seconds(record: dict) -> float:
    return sum(record["pipeline"]["stages"][s]["wall"] for s in PIPELINE_STAGES if s in record["pipeline"]["stages"])


def floor_seconds(record: dict) -> float | None:
    f = record.get("floor")
    return None if not f else f["read"]["wall"] + f["write"]["wall"]


def table(record: dict) -> str:
    stages = record["pipeline"]["stages"]
    lines = [f"### {record['subjects']:,} subjects", "",
             "| stage | wall s | CPU s | rows in | rows out | peak RSS GiB |",
             "|---|---:|---:|---:|---:|---:|"]
    sim = record["simulate"]
    lines.append(f"| simulate (not in total) | {sim['wall']:.1f} | {sim['cpu']:.1f} | | {sim['rows']:,} | "
                 f"{sim['peak_rss'] / GIB:.2f} |")
    for name in (*PIPELINE_STAGES, "report"):
        s = stages.get(name)
        if s and "wall" in s:
            label = name if name != "report" else "report (not in total)"
            rows_in, rows_out = (f"{s[k]:,}" if s.get(k) else "" for k in ("rows_in", "rows_out"))
            lines.append(f"| {label} | {s['wall']:.1f} | {s['cpu']:.1f} | {rows_in} | {rows_out} | "
                         f"{s['peak_rss'] / GIB:.2f} |")
    total = pipeline_seconds(record)
    cpu = sum(stages[s]["cpu"] for s in PIPELINE_STAGES if s in stages)
    lines.append(f"| **pipeline** | **{total:.1f}** | {cpu:.1f} | | | "
                 f"**{record['pipeline']['process']['peak_rss'] / GIB:.2f}** |")
    f = record.get("floor")
    if f:
        lines.append(f"| I/O floor: read raw CSVs | {f['read']['wall']:.1f} | {f['read']['cpu']:.1f} | "
                     f"{f['read']['rows']:,} | | |")
        lines.append(f"| I/O floor: pyreadstat write | {f['write']['wall']:.1f} | {f['write']['cpu']:.1f} | | "
                     f"{f['write']['rows']:,} | |")
        lines.append(f"| **I/O floor** | **{floor_seconds(record):.1f}** | | | | |")
        lines += ["", f"pipeline / I/O floor = {total / floor_seconds(record):.2f} (target <= 2)"]
    lines += [f"peak RSS of the pipeline process = {record['pipeline']['process']['peak_rss'] / GIB:.2f} GiB "
              f"(target <= 8); raw export {record['raw_mb']:,.0f} MB, output {record['out_mb']:,.0f} MB; "
              f"findings {record['pipeline']['findings'] or 'none'}", ""]
    return "\n".join(lines)


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    import pandas as pd
    import pyreadstat

    from cdiscflow import __version__
    return (f"{platform.platform()}, {os.cpu_count()} cores, {mem:.0f} GiB RAM; Python {platform.python_version()}, "
            f"pandas {pd.__version__}, pyreadstat {pyreadstat.__version__}, cdiscflow {__version__}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("_pipeline", "_floor"):
        (child_pipeline if argv[0] == "_pipeline" else child_floor)(*argv[1:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, action="append", help="N (repeat for several); default 10000")
    parser.add_argument("--work", type=Path, help="Working folder (default: a temporary folder, removed after)")
    parser.add_argument("--no-floor", action="store_true", help="Skip the I/O floor measurement")
    parser.add_argument("--json", type=Path, help="Also write the measurements as JSON here")
    parser.add_argument("--markdown", type=Path, help="Also write the tables as Markdown here (RESULTS.md)")
    args = parser.parse_args(argv)
    sizes = args.subjects or [10_000]
    work = args.work or Path(tempfile.mkdtemp(prefix="cdiscflow-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    records = []
    try:
        for n in sizes:
            records.append(bench(n, work, floor=not args.no_floor))
            print(table(records[-1]), flush=True)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    text = [f"Machine: {machine()}", "", f"Command: `python benchmarks/run.py {' '.join(argv)}`", ""]
    text += [table(r) for r in records]
    if len(records) > 1:
        small, big = records[0], records[-1]
        ratio = pipeline_seconds(big) / pipeline_seconds(small)
        text.append(f"time({big['subjects']:,}) / time({small['subjects']:,}) = {ratio:.2f} "
                    f"(target <= {big['subjects'] / small['subjects'] * 1.1:.0f})")
    print("\n".join(text[4 + len(records):]))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "records": records}, indent=1))
    if args.markdown:
        args.markdown.write_text("\n".join(text) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
