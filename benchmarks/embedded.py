"""Time `cdiscflow run` on the embedded 63-subject study, stage by stage (issue 18).

    .venv/bin/python benchmarks/embedded.py                     # min of 3 fresh processes
    .venv/bin/python benchmarks/embedded.py --repeat 5 --json embedded.json
    .venv/bin/python benchmarks/embedded.py --profile /tmp/run.prof   # one run under cProfile instead
    .venv/bin/python benchmarks/embedded.py --bytecode          # modules' bytecode cached, as an installed package

Each repetition is a fresh Python process that imports the command line (as `cdiscflow run` does) and runs the
pipeline into a temporary folder, Data Docs included.  Per stage it records wall and CPU seconds (CPU is the
steadier figure on a shared machine); "startup" is the import of the command line before the pipeline starts, and
"process" the whole child from exec to exit.  A stage's CPU is the main process's; the Data Docs and the report are
computed by forked workers (pipeline.py), whose CPU is the row "background workers" and is part of "process"; the
report stage and "spec load + setup" then hold the main process's wait for them.  The table shows the minimum over
the repetitions of each figure.

Python compiles each module it imports, and keeps the bytecode unless PYTHONDONTWRITEBYTECODE is set (some sandboxes
and containers set it; then every process compiles cdiscflow's ~100 modules again, about 0.5 s CPU).  `--bytecode`
measures as an installed package runs: the children keep their bytecode in a temporary cache
(PYTHONPYCACHEPREFIX), filled by one run that is not counted.  Without it the children inherit the environment.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGES = ("sdtm", "adam", "validate", "export", "report")


def child(out: str, result_path: str) -> None:
    t0, c0 = time.perf_counter(), time.process_time()
    import cdiscflow.cli  # noqa: F401  what `cdiscflow run` imports before it starts
    from cdiscflow import pipeline

    startup = {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}
    clock: dict[str, tuple[float, float]] = {}
    stages: dict[str, dict] = {}

    def progress(stage: str, message: str) -> None:
        now = (time.perf_counter(), time.process_time())
        if message == pipeline.STARTED:
            clock[stage] = now
            return
        start = clock.get(stage, now)
        stages[stage] = {"wall": now[0] - start[0], "cpu": now[1] - start[1]}

    workers = _record_workers(pipeline)
    t, c = time.perf_counter(), time.process_time()
    run_started = time.monotonic()
    result = pipeline.run(out_dir=out, progress=progress)
    run_ended = time.monotonic()
    stages["spec load + setup"] = {"wall": 0.0, "cpu": 0.0}
    run_total = {"wall": time.perf_counter() - t, "cpu": time.process_time() - c}
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)  # the run's forked workers, reaped by now
    stages["background workers (Data Docs, report)"] = {"wall": 0.0, "cpu": reaped.ru_utime + reaped.ru_stime}
    staged = {k: sum(s[k] for n, s in stages.items() if n in STAGES) for k in ("wall", "cpu")}
    stages["spec load + setup"] = {k: run_total[k] - staged[k] for k in ("wall", "cpu")}  # and the run log, waits
    timelines = {name: _worker_times(w.timeline, run_started, run_ended) for name, w in workers}
    Path(result_path).write_text(json.dumps({"startup": startup, "stages": stages, "run": run_total,
                                             "workers": timelines, "exit": result.exit_code}))


def _record_workers(pipeline) -> list:
    """The run's forked workers, as (name, worker), by wrapping the class pipeline.py forks them with."""
    made = []

    class Recorded(pipeline.ForkedWorker):
        def __init__(self, prepare, **options):
            super().__init__(prepare, **options)
            name = "Data Docs" if "data_docs" in prepare.__qualname__ else "report" if "report" in \
                prepare.__qualname__ else prepare.__qualname__
            made.append((name, self))

    pipeline.ForkedWorker = Recorded
    return made


def _worker_times(timeline: dict, run_started: float, run_ended: float) -> dict:
    """A worker's timeline in seconds from the start of pipeline.run: when it was forked, ready (its imports done),
    handed its payload, done; when the main process began to wait for it, and how long it waited (0: the worker
    was done before the main process needed it, i.e. it is not on the critical path).  A job in two parts (the Data
    Docs: the pages from the datasets, then index.html from the findings) also has "part done" (its first part
    ended) and "sent more" (the main process sent the second payload)."""
    at = {k: round(v - run_started, 3) for k, v in timeline.items()}
    out = {"forked": at.get("forked"), "ready": at.get("prepared"), "sent": at.get("sent"),
           "handed": at.get("handed"), "part done": at.get("part done"), "sent more": at.get("sent more"),
           "done": at.get("done"), "waited from": at.get("waited")}
    if "waited" in timeline and "answered" in timeline:
        out["main waited"] = round(max(0.0, timeline["answered"] - timeline["waited"]), 3)
    out["run ended"] = round(run_ended - run_started, 3)
    out["cpu"] = timeline.get("cpu")
    return out


def measure(out: Path, result_path: Path, env: dict | None = None) -> dict:
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "_child", str(out), str(result_path)], env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("the benchmark run failed")
    record = json.loads(result_path.read_text())
    record["process"] = {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime}
    record["load average"] = os.getloadavg()[0]  # the machine is shared: how busy it was as the run ended
    return record


def summary(records: list[dict]) -> dict:
    """The minimum of every figure over the repetitions."""
    rows = {"startup (imports)": [r["startup"] for r in records]}
    for name in (*STAGES, "spec load + setup", "background workers (Data Docs, report)"):
        rows[name] = [r["stages"][name] for r in records if name in r["stages"]]
    rows["process (exec to exit)"] = [r["process"] for r in records]
    return {name: {k: min(v[k] for v in values) for k in ("wall", "cpu")} for name, values in rows.items() if values}


def table(best: dict, repeat: int) -> str:
    lines = [f"| part (min of {repeat}) | wall s | CPU s |", "|---|---:|---:|"]
    lines += [f"| {name} | {v['wall']:.2f} | {v['cpu']:.2f} |" for name, v in best.items()]
    return "\n".join(lines)


def worker_table(records: list[dict]) -> str:
    """The forked workers' timelines, seconds from the start of pipeline.run, of the run whose main process waited
    least for them (its "main waited" is how much of the run's wall time the worker added)."""
    best = min(records, key=lambda r: sum(w.get("main waited", 0.0) for w in r.get("workers", {}).values()))
    cols = ("forked", "ready", "sent", "handed", "part done", "sent more", "waited from", "done", "main waited",
            "run ended", "cpu")
    lines = ["| worker (s from run start) | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for name, w in best.get("workers", {}).items():
        lines.append(f"| {name} | " + " | ".join("-" if w.get(c) is None else f"{w[c]:.2f}" for c in cols) + " |")
    waits = [f"{sum(w.get('main waited', 0.0) for w in r.get('workers', {}).values()):.2f}" for r in records]
    return "\n".join(lines) + "\nmain process waited for the workers (s), each run: " + ", ".join(waits)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_child"]:
        child(*argv[1:])
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)  # as the `cdiscflow` console script ends (cli.entry): without Python's shutdown
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="Also write every measurement as JSON here")
    parser.add_argument("--profile", type=Path, help="Run once under cProfile and write the profile here")
    parser.add_argument("--bytecode", action="store_true",
                        help="Children keep the modules' bytecode (a temporary cache, filled by an uncounted run)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cdiscflow-embedded-") as tmp:
        env = None
        if args.bytecode:
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "bytecode")
            measure(Path(tmp) / "warm-up", Path(tmp) / "warm-up.json", env)
        if args.profile:
            subprocess.run([sys.executable, "-m", "cProfile", "-o", str(args.profile), "-m", "cdiscflow", "run",
                            "--out", str(Path(tmp) / "out"), "-q"], check=True)
            return 0
        records = [measure(Path(tmp) / f"out{i}", Path(tmp) / f"r{i}.json", env) for i in range(args.repeat)]
    best = summary(records)
    print(table(best, args.repeat))
    print(worker_table(records))
    print("load average (1 min) after each run: " + ", ".join(f"{r['load average']:.1f}" for r in records))
    if args.json:
        args.json.write_text(json.dumps({"runs": records, "min": best}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
