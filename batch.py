"""Many raw exports in one call: `cdiscflow batch`.

    from cdiscflow.batch import run_batch
    result = run_batch(["cuts/2020_06", "cuts/2020_10"], "out", jobs=2)
    result.exit_code                      # the worst export: 2 > 1 > 0

Each export is converted by `pipeline.run` in a worker process into OUT/<export folder name>/, the layout of
`cdiscflow run` (run.json, findings.*, sdtm/, adam/, validation/, report/), each built in a staging folder and
swapped in whole (an interrupted export keeps its previous folder); a second batch into the same OUT is refused.
Workers get paths, never specs; the spec is checked once up front so that a broken spec stops the batch before any
work.  An export that fails does not stop the others:

    status     exit  meaning
    ok         0     converted; no findings at or above the threshold
    findings   1     findings or rejected raw rows at or above the threshold (see the export's findings.csv)
    unusable   2     the raw export cannot be used (missing file, wrong columns ...)
    crashed    2     an unexpected error in cdiscflow itself: its message here, the traceback in <export>/crash.log
    not run    130   the batch was interrupted (Ctrl-C) before the export finished

At the end OUT/batch_summary.csv and OUT/batch_summary.json list every export (in the order given) with its status,
subjects, datasets written, findings per severity, rejected raw rows, seconds and message.  Two exports whose
folders have the same name (a/raw, b/raw) get names from their parent folders (a_raw, b_raw), never one folder.
"""

from __future__ import annotations

import csv
import io
import json
import multiprocessing as mp
import os
import signal
import time
import traceback
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Sequence

from cdiscflow import __version__
from cdiscflow.core.atomic import output_lock, write_text
from cdiscflow.core.outputs import check_output
from cdiscflow.core.errors import EXIT_FINDINGS, EXIT_OK, EXIT_UNUSABLE, CdiscflowError, InputError
from cdiscflow.core.spreadsheet import neutralise_text

OK, FINDINGS, UNUSABLE, CRASHED, NOT_RUN = "ok", "findings", "unusable", "crashed", "not run"
EXIT_INTERRUPTED = 130  # the shell's code for Ctrl-C
SUMMARY_COLUMNS = ("export", "status", "exit_code", "subjects", "datasets", "errors", "warnings", "notes",
                   "rejected_rows", "seconds", "message", "raw_dir")
SUMMARY = "batch_summary"

ProgressEvent = Callable[[str, str, str], None]  # (export, stage, message)
Finished = Callable[["ExportOutcome"], None]


@dataclass(frozen=True)
class BatchJob:
    name: str  # the output folder name, unique in the batch
    raw_dir: Path
    out_dir: Path


@dataclass(frozen=True)
class BatchSettings:
    """What every job of a batch shares (plain values: it crosses into the worker processes)."""

    study: str | None
    on_error: str = "strict"
    fail_on: str = "error"
    data_docs: bool = True
    scheduler: str | None = None  # a Dask cluster for every export's partitions: "local" or tcp://HOST:PORT
    partitions: int | str | None = None  # subject partitions per export (with a scheduler; None = auto)


@dataclass
class ExportOutcome:
    export: str
    raw_dir: str
    status: str
    exit_code: int
    subjects: int | None = None
    datasets: int | None = None  # datasets written
    findings: dict[str, int] = field(default_factory=dict)  # per severity
    rejected_rows: int = 0
    seconds: float = 0.0
    message: str = ""
    stages: list[dict] = field(default_factory=list)  # the run log's stage entries (for --verbose)

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK

    def findings_text(self) -> str:
        parts = [f"{n} {s}{'s' if n != 1 else ''}" for s, n in self.findings.items() if n]
        return ", ".join(parts) if parts else ("none" if self.status in (OK, FINDINGS) else "")

    def line(self) -> str:
        """One line for the terminal: 'ok: 63 subjects, 26 datasets, no findings, 4.1 s'."""
        if self.status in (OK, FINDINGS):
            findings = self.findings_text()
            text = (f"{self.status}: {self.subjects} subjects, {self.datasets} datasets, "
                    f"{'no findings' if findings == 'none' else findings}, {self.seconds:.1f} s")
            return text + (f" -- {self.message}" if self.message else "")
        return f"{self.status}: {self.message}"

    def row(self) -> dict:
        return {"export": self.export, "status": self.status, "exit_code": self.exit_code,
                "subjects": self.subjects, "datasets": self.datasets,
                "errors": self.findings.get("error"), "warnings": self.findings.get("warning"),
                "notes": self.findings.get("note"), "rejected_rows": self.rejected_rows, "seconds": self.seconds,
                "message": self.message, "raw_dir": self.raw_dir}


@dataclass
class BatchResult:
    out_dir: Path
    settings: BatchSettings
    outcomes: list[ExportOutcome]
    jobs: int
    started: str
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        return max((o.exit_code for o in self.outcomes), default=EXIT_OK)

    def counts(self) -> dict[str, int]:
        c = Counter(o.status for o in self.outcomes)
        return {s: c[s] for s in (OK, FINDINGS, UNUSABLE, CRASHED, NOT_RUN) if c[s]}

    def frame(self):
        """The summary as a pandas DataFrame (one row per export, in the order given)."""
        import pandas as pd

        frame = pd.DataFrame([o.row() for o in self.outcomes], columns=list(SUMMARY_COLUMNS))
        for col in ("subjects", "datasets", "errors", "warnings", "notes"):
            frame[col] = frame[col].astype("Int64")
        return frame

    @property
    def summary_paths(self) -> tuple[Path, Path]:
        return self.out_dir / f"{SUMMARY}.csv", self.out_dir / f"{SUMMARY}.json"


# ----------------------------------------------------------------------------------------------------------------
# the batch


def run_batch(raw_dirs: Iterable[str | Path], out_dir: str | Path, *, study: str | Path | None = None,
              jobs: int = 1, on_error: str = "strict", fail_on: str = "error", data_docs: bool = True,
              progress: ProgressEvent | None = None, finished: Finished | None = None,
              scheduler: str | None = None, partitions: int | str | None = None) -> BatchResult:
    """Convert every raw export into OUT/<name>/ with up to `jobs` worker processes (0: one per CPU), then write
    OUT/batch_summary.csv and .json.  Raises SpecError when the spec is unusable, InputError when an export is
    given twice or --out is in, over or around an export or the spec folder (`core.outputs.check_output`);
    everything that goes wrong inside one export is in its outcome.  Ctrl-C stops the batch: finished exports are
    kept and summarised, the rest are 'not run' (exit code 130).

    Workers are started with the 'spawn' method (the same on Linux, macOS and Windows), so a script that calls
    run_batch needs the usual `if __name__ == "__main__":` guard.

    With a `scheduler` ("local": a Dask LocalCluster of `jobs` worker processes started for the batch; or the
    tcp://HOST:PORT of a running Dask scheduler) every export is a subject-partitioned run (`scale.run_partitioned`,
    `partitions` per export, default auto) and all exports' partitions are tasks on that one cluster: up to `jobs`
    exports at a time are split, combined, validated and written by threads of this process, their partitions run
    on the cluster's workers (which need the package and read access to the exports and to OUT)."""
    from cdiscflow.core.findings import SEVERITIES
    from cdiscflow.sdtm.mapping.engine import ON_ERROR

    if on_error not in ON_ERROR or fail_on not in SEVERITIES:
        raise ValueError(f"on_error must be one of {ON_ERROR} and fail_on one of {SEVERITIES}, "
                         f"got {on_error!r}, {fail_on!r}")
    started, t0 = datetime.now(timezone.utc), time.perf_counter()
    plan = plan_jobs(raw_dirs, out_dir)
    settings = BatchSettings(str(check_study(study)), on_error, fail_on, data_docs, scheduler,
                             partitions if scheduler is not None else None)
    check_output(out_dir, [("spec folder", settings.study)])
    workers = worker_count(jobs, len(plan))
    with output_lock(out_dir):  # one batch per output folder; each export is staged and swapped in by `run`
        if scheduler is None:
            outcomes, interrupted = _execute(plan, settings, workers, progress, finished)
        else:
            outcomes, interrupted = _execute_on_dask(plan, settings, workers, progress, finished)
        result = BatchResult(Path(out_dir), settings, [outcomes.get(j.name) or _not_run(j) for j in plan], workers,
                             started.isoformat(timespec="seconds"), interrupted=interrupted)
        result.seconds = round(time.perf_counter() - t0, 3)
        write_summary(result)
    return result


def plan_jobs(raw_dirs: Iterable[str | Path], out_dir: str | Path) -> list[BatchJob]:
    """One job per raw export, each with its own output folder named after the export folder."""
    given = [Path(p) for p in raw_dirs]
    if not given:
        raise InputError("no raw export folders given")
    resolved = [p.resolve() for p in given]
    seen: dict[Path, Path] = {}
    for p, r in zip(given, resolved):
        if r in seen:
            raise InputError(f"raw export {p} is given twice (also as {seen[r]}); give each export once")
        seen[r] = p
    out = check_output(out_dir, [("raw export", p) for p in given])  # OUT/<name> would be in or over an export
    return [BatchJob(name, r, out / name) for name, r in zip(folder_names(resolved), resolved)]


def folder_names(paths: Sequence[Path]) -> list[str]:
    """Output folder names: the export folder's name; where two would be equal (ignoring case, for case-insensitive
    file systems) parent folders are prefixed until they differ (x/cut/raw, y/cut/raw -> x_cut_raw, y_cut_raw); as
    a last resort _2, _3 ... in the order given."""
    parts = [tuple(p.parts[1:] if p.anchor else p.parts) or ("export",) for p in paths]
    depth = [1] * len(paths)

    def name(i: int) -> str:
        return "_".join(parts[i][-depth[i]:])

    while True:
        groups: dict[str, list[int]] = {}
        for i in range(len(paths)):
            groups.setdefault(name(i).casefold(), []).append(i)
        grown = False
        for members in groups.values():
            if len(members) > 1:
                for i in members:
                    if depth[i] < len(parts[i]):
                        depth[i] += 1
                        grown = True
        if not grown:
            break
    names, used = [], Counter()
    for i in range(len(paths)):
        base = name(i)
        used[base.casefold()] += 1
        names.append(base if used[base.casefold()] == 1 else f"{base}_{used[base.casefold()]}")
    return names


def check_study(study: str | Path | None) -> Path:
    """Check the spec once as check-spec does (SpecError stops the batch before any raw file is read); the
    workers get its path."""
    from cdiscflow.usecases import require_valid_spec
    from cdiscflow.specs.load import resolve_study

    path = resolve_study(study).resolve()
    require_valid_spec(path)
    return path


def worker_count(jobs: int, exports: int) -> int:
    if jobs < 0:
        raise InputError(f"--jobs must be 0 (one per CPU) or more, got {jobs}")
    if jobs == 0:
        jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(jobs, exports))


def write_summary(result: BatchResult) -> tuple[Path, Path]:
    """OUT/batch_summary.csv (one row per export) and OUT/batch_summary.json (the same, plus the batch's settings)."""
    csv_path, json_path = result.summary_paths
    rows = [o.row() for o in result.outcomes]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(SUMMARY_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else neutralise_text(v)) for k, v in r.items()} for r in rows)  # for people
    write_text(csv_path, buffer.getvalue())
    doc = {"cdiscflow": __version__, "started": result.started, "seconds": result.seconds, "jobs": result.jobs,
           "options": asdict(result.settings), "exit_code": result.exit_code, "interrupted": result.interrupted,
           "counts": result.counts(), "exports": rows}
    write_text(json_path, json.dumps(doc, indent=1) + "\n")
    return csv_path, json_path


# ----------------------------------------------------------------------------------------------------------------
# worker processes


def _execute(plan: list[BatchJob], settings: BatchSettings, workers: int, progress: ProgressEvent | None,
             finished: Finished | None, worker: Callable | None = None) -> tuple[dict[str, ExportOutcome], bool]:
    """Run the jobs in pools of worker processes; return the outcomes by export name and whether Ctrl-C stopped the
    batch."""
    scheduler = _Scheduler(plan, settings, worker or run_export, progress, finished)
    try:
        return scheduler.run(workers), scheduler.stopping
    finally:
        scheduler.close()


class _Scheduler:
    """Hands the jobs to worker processes and collects their outcomes.

    Dead workers: a worker process that dies (killed, out of memory, a crash in compiled code) breaks its whole
    pool, and every export still in it fails with it.  Exports that had not started go to a fresh pool; those that
    had are suspects and run again one at a time, so only the export that kills its worker is reported as crashed.

    Ctrl-C: exports not yet started are not started (a shared stop flag), running exports stop with their own
    Ctrl-C (same terminal) or finish; whatever finished is kept.  A second Ctrl-C stops waiting."""

    def __init__(self, plan, settings, worker, progress, finished):
        self.plan, self.settings, self.worker = plan, settings, worker
        self.progress, self.finished = progress, finished
        self.ctx = mp.get_context("spawn")  # fresh interpreters: no threads, locks or open files inherited
        self.events = self.ctx.SimpleQueue()  # put() writes at once: a marker sent just before a worker dies arrives
        self.stop = self.ctx.Event()
        self.stopping = False
        self.outcomes: dict[str, ExportOutcome] = {}
        self.started: set[str] = set()
        self.failures: Counter[str] = Counter()  # pools that broke before any export in them started
        self.order = {job.name: i for i, job in enumerate(plan)}
        self.todo: list[BatchJob] = []
        self.suspects: list[BatchJob] = []

    def run(self, workers: int) -> dict[str, ExportOutcome]:
        self.todo = list(self.plan)
        try:
            while (self.todo or self.suspects) and not self.stopping:
                if self.todo:
                    jobs, self.todo = self.todo, []
                    self._pool(jobs, min(workers, len(jobs)), isolated=False)
                else:
                    jobs, self.suspects = self.suspects, []
                    self._pool(jobs, 1, isolated=True)
        except KeyboardInterrupt:  # the second Ctrl-C
            self.stopping = True
        self._drain()
        return self.outcomes

    def close(self) -> None:
        self.events.close()

    def _pool(self, jobs: list[BatchJob], size: int, isolated: bool) -> None:
        waiting: list[BatchJob] = []  # in the pool when it broke, not started
        moved = False  # did any export of this pool finish or start?
        with ProcessPoolExecutor(max_workers=size, mp_context=self.ctx, initializer=_init_worker,
                                 initargs=(self.events, self.stop)) as pool:
            futures = {pool.submit(_call, self.worker, job, self.settings): job for job in jobs}
            pending = set(futures)
            while pending:
                try:
                    ready, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                    self._drain()
                except KeyboardInterrupt:
                    if self.stopping:
                        raise
                    self.stopping = True
                    self.stop.set()
                    for future in pending:
                        future.cancel()
                    continue
                for future in sorted(ready, key=lambda f: self.order[futures[f].name]):
                    job = futures[future]
                    if future.cancelled():
                        continue
                    try:
                        outcome = future.result()
                    except BrokenProcessPool:
                        if job.name not in self.started:
                            waiting.append(job)
                            continue
                        moved = True
                        if isolated:  # it ran alone: it is the one that killed its worker
                            self._done(_crashed(job, "the worker process died (killed, out of memory or a crash in "
                                                     "compiled code) while converting this export"))
                        else:
                            self.started.discard(job.name)
                            self.suspects.append(job)
                        continue
                    except KeyboardInterrupt:  # stopped by Ctrl-C while running: 'not run'
                        continue
                    except Exception as exc:  # e.g. a result that could not be sent back
                        outcome = _crashed(job, _one_line(f"{type(exc).__name__}: {exc}"))
                    moved = True
                    if outcome is not None:  # None: not started because the batch is stopping
                        self._done(outcome)
        self._drain()
        for job in waiting:
            if not moved:  # the pool broke before anything ran: worker processes cannot start
                self.failures[job.name] += 1
            if self.failures[job.name] >= 2:
                self._done(_crashed(job, "no worker process could be started for this export"))
            else:
                (self.suspects if isolated else self.todo).append(job)

    def _drain(self) -> None:
        while True:
            try:
                if self.events.empty():
                    return
                export, stage, message = self.events.get()
            except (OSError, EOFError):
                return
            self.started.add(export)
            if stage is not None and self.progress is not None and export not in self.outcomes:
                self.progress(export, stage, message)

    def _done(self, outcome: ExportOutcome) -> None:
        self.outcomes[outcome.export] = outcome
        if self.finished is not None:
            self.finished(outcome)


_EVENTS = None  # in a worker: the progress queue
_STOP = None  # in a worker: set when the batch is stopping


def _init_worker(events, stop) -> None:
    global _EVENTS, _STOP
    _EVENTS, _STOP = events, stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # an idle worker leaves Ctrl-C to the batch; run_export handles it


def _call(worker: Callable, job: BatchJob, settings: BatchSettings) -> ExportOutcome | None:
    if _STOP is not None and _STOP.is_set():
        return None  # the batch is stopping: do not start
    if _EVENTS is not None:
        _EVENTS.put((job.name, None, None))  # picked up: from now on a dead worker is this export's
    try:
        return worker(job, settings)
    except KeyboardInterrupt:  # the user's Ctrl-C reached this worker: no export starts after it
        if _STOP is not None:
            _STOP.set()
        raise


def run_export(job: BatchJob, settings: BatchSettings) -> ExportOutcome:
    """One export, in a worker process: `pipeline.run` into job.out_dir, every failure turned into an outcome."""
    from cdiscflow.pipeline import run

    def say(stage: str, message: str) -> None:
        if _EVENTS is not None:
            _EVENTS.put((job.name, stage, message))

    def convert():
        return run(settings.study, job.raw_dir, job.out_dir, on_error=settings.on_error, fail_on=settings.fail_on,
                   data_docs=settings.data_docs, progress=say)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C stops a running export
    try:
        return _outcome(job, convert)
    finally:
        signal.signal(signal.SIGINT, previous)


def _outcome(job: BatchJob, convert: Callable) -> ExportOutcome:
    """Run `convert()` (a run of one export) and turn its result, or whatever stopped it, into the export's outcome."""
    t = time.perf_counter()
    try:
        result = convert()
    except CdiscflowError as exc:
        return _failed(job, exc, time.perf_counter() - t)
    except Exception as exc:  # a bug in cdiscflow: the message here, the traceback in a file, the batch goes on
        return _crashed(job, _one_line(f"{type(exc).__name__}: {exc}"), time.perf_counter() - t,
                        trace=traceback.format_exc())
    return _succeeded(job, result, time.perf_counter() - t)


# ----------------------------------------------------------------------------------------------------------------
# on a Dask cluster


def _execute_on_dask(plan: list[BatchJob], settings: BatchSettings, workers: int, progress: ProgressEvent | None,
                     finished: Finished | None) -> tuple[dict[str, ExportOutcome], bool]:
    """Every export as a partitioned run whose partitions are tasks on one Dask cluster (a LocalCluster of
    `workers` processes for "local"); up to `workers` exports at a time, each driven by a thread of this process.
    Ctrl-C: exports not started are not run; running ones finish (a second Ctrl-C stops waiting)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from cdiscflow.scale import dask_client

    lock = threading.Lock()  # the display and the outcomes are shared by the threads
    outcomes: dict[str, ExportOutcome] = {}

    def convert(job: BatchJob, client) -> None:
        def say(stage: str, message: str) -> None:
            if progress is not None:
                with lock:
                    progress(job.name, stage, message)

        outcome = _outcome(job, lambda: _run_partitioned(job, settings, client, say))
        with lock:
            outcomes[job.name] = outcome
            if finished is not None:
                finished(outcome)

    interrupted = False
    with dask_client(settings.scheduler, workers) as client, ThreadPoolExecutor(max_workers=workers) as threads:
        futures = [threads.submit(convert, job, client) for job in plan]
        try:
            for future in futures:  # in the order given; each thread reports its own export
                future.result()
        except KeyboardInterrupt:
            interrupted = True
            for future in futures:
                future.cancel()  # those not started; running exports finish
            try:
                wait(futures)
            except KeyboardInterrupt:  # the second Ctrl-C
                pass
    return outcomes, interrupted


def _run_partitioned(job: BatchJob, settings: BatchSettings, client, say):
    from cdiscflow.scale import run_partitioned

    workers = len(client.scheduler_info().get("workers", {})) or 1
    return run_partitioned(settings.study, job.raw_dir, job.out_dir, partitions=settings.partitions or "auto",
                           jobs=workers, scheduler=settings.scheduler, on_error=settings.on_error,
                           fail_on=settings.fail_on, data_docs=settings.data_docs, progress=say, client=client)


def _succeeded(job: BatchJob, result, seconds: float) -> ExportOutcome:
    from cdiscflow.pipeline import stage_entry

    stages = [stage_entry(s) for s in result.stages]
    export = next((s for s in stages if s["stage"] == "export"), None)
    outcome = ExportOutcome(job.name, str(job.raw_dir), OK if result.exit_code == EXIT_OK else FINDINGS,
                            result.exit_code, subjects=result.subjects,
                            datasets=len(export["rows_out"]) if export else 0, findings=result.findings.counts(),
                            rejected_rows=result.rejected_rows, seconds=round(seconds, 3), stages=stages)
    if outcome.status == FINDINGS:
        outcome.message = _findings_message(result, export is None)
    elif export and export["note"]:
        outcome.message = export["note"]
    return outcome


def _findings_message(result, blocked: bool) -> str:
    parts = []
    n = result.findings.count_at_or_above(result.fail_on)
    if n:
        parts.append(f"{n} finding(s) at or above '{result.fail_on}'"
                     + ("; nothing exported" if blocked else "") + " (see findings.csv)")
    if result.rejected_rows:
        parts.append(f"{result.rejected_rows} raw row(s) rejected (see sdtm/_rejects.csv)")
    return "; ".join(parts)


def _failed(job: BatchJob, exc: CdiscflowError, seconds: float) -> ExportOutcome:
    """Unusable input (exit 2) or strict mapping errors (exit 1): the run log and findings are in the folder."""
    status = FINDINGS if exc.exit_code == EXIT_FINDINGS else UNUSABLE
    findings = getattr(exc, "findings", None)
    counts = findings.counts() if findings is not None else {}
    text = str(exc)
    message = text.splitlines()[0] + " (see findings.csv)" if status == FINDINGS else _one_line(text)
    return ExportOutcome(job.name, str(job.raw_dir), status, exc.exit_code, findings=counts,
                         seconds=round(seconds, 3), message=message)


def _crashed(job: BatchJob, message: str, seconds: float = 0.0, trace: str = "") -> ExportOutcome:
    if trace:
        try:
            write_text(job.out_dir / "crash.log", trace)
            message += f" (traceback in {job.name}/crash.log)"
        except OSError:
            pass
    return ExportOutcome(job.name, str(job.raw_dir), CRASHED, EXIT_UNUSABLE, seconds=round(seconds, 3),
                         message=message)


def _not_run(job: BatchJob) -> ExportOutcome:
    return ExportOutcome(job.name, str(job.raw_dir), NOT_RUN, EXIT_INTERRUPTED, message="interrupted before it finished")


def _one_line(text: str) -> str:
    """A multi-line message as one line: 'head: ...; - item; - item'."""
    lines = [line.strip().removeprefix("- ") for line in text.splitlines() if line.strip()]
    return "; ".join(lines)


def summary_table(result: BatchResult):
    """The terminal summary: export, status, subjects, datasets, findings, seconds (the CSV has every column)."""
    from cdiscflow.core.terminal import Table

    return Table(f"batch: {len(result.outcomes)} exports -> {result.out_dir}",
                 ["export", "status", "subjects", "datasets", "findings", "seconds"],
                 [[o.export, o.status, o.subjects, o.datasets, o.findings_text(), f"{o.seconds:.1f}"]
                  for o in result.outcomes])
