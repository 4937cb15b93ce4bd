"""The main job, as a recipe: raw -> SDTM -> ADaM -> validate -> export -> report.

    from cdiscflow.pipeline import run
    result = run(study="dara_atra", raw_dir=None, out_dir="out")     # what `cdiscflow run` does

Every dataset is validated before it is written: when the validation finds errors at or above `fail_on`, nothing
but the findings (and the SDTM bookkeeping) is written, and the run ends with exit code 1.  The run log
`out/run.json` records the cdiscflow version, spec, standards and CT versions, per-stage timings and row counts,
so a reviewer can tell how every file was made; it also records the options, the raw files read (size, SHA-256)
and a fingerprint of the spec.  A run that stops (unusable input, strict mapping errors) still writes its run log
and findings before the error propagates.

The output folder is written as a whole (`core.atomic.staged_output`): the run builds everything in a hidden
staging folder beside `out` and swaps it in at the end, so `out` holds the previous complete run or this one, never a
mix -- also when the run is stopped with Ctrl-C or killed (a stopped run removes its staging folder; what SIGKILL
leaves, the next run into `out` removes).  A run that stops on unusable input or strict mapping errors is complete
too: `out` then holds its run.json and findings only.  A second run into the same `out` while one is running is
refused (exit 2).  Files are written deterministically: two runs over the same input and spec give the same bytes
in every file; in run.json only the clock differs (`TIMING_FIELDS`: when the run started and how many seconds it
and its stages took).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import pandas as pd

from cdiscflow import __version__
from cdiscflow.core import background
from cdiscflow.core.atomic import staged_output, write_text
from cdiscflow.core.background import ForkedWorker
from cdiscflow.core.outputs import check_output
from cdiscflow.core.errors import CdiscflowError, exit_code_for
from cdiscflow.core.findings import Findings, at_or_above
from cdiscflow.core.frames import compact_all
from cdiscflow.core.terminal import STARTED
from cdiscflow.core.workbook import write_findings_workbook
from cdiscflow.usecases import require_valid_spec
from cdiscflow.specs.model import StudySpec

Progress = Callable[[str, str], None]  # (stage, message) -> None: how a caller shows progress
# The stages of a run, in order.  Each reports (stage, "started") and then exactly one closing message ("done in ...",
# "failed after ..."); a stage that does not run reports only its closing message ("skipped: ...").
STAGES = ("sdtm", "adam", "validate", "export", "report")


@dataclass
class StageLog:
    name: str
    seconds: float = 0.0
    rows_in: dict[str, int] = field(default_factory=dict)
    rows_out: dict[str, int] = field(default_factory=dict)
    note: str = ""
    findings: Findings = field(default_factory=Findings)  # what this stage found (merged into the run's)
    rows_rejected: dict[str, int] = field(default_factory=dict)  # raw rows per form sent to the reject log
    steps: dict[str, float] = field(default_factory=dict)  # seconds of the stage's own steps (read, map ...)
    error: str = ""  # why the stage stopped the run


@dataclass
class RunResult:
    out_dir: Path  # where the output is once the run has finished
    spec: StudySpec
    findings: Findings = field(default_factory=Findings)
    stages: list[StageLog] = field(default_factory=list)
    datasets: dict[str, pd.DataFrame] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)
    rejected_rows: int = 0
    fail_on: str = "error"
    raw_dir: Path | None = None
    options: dict[str, object] = field(default_factory=dict)
    started: str = ""  # UTC, ISO 8601
    seconds: float = 0.0
    error: CdiscflowError | None = None  # set when the run stopped early (the error is re-raised)
    core_report: str | Path | None = None  # a CDISC CORE report JSON for reviewers_guide.html
    build_dir: Path | None = None  # while the run is writing: its staging folder (swapped onto out_dir at the end)
    rows: dict[str, int] = field(default_factory=dict)  # records per dataset (a partitioned run keeps no datasets)
    subject_count: int | None = None  # DM's subjects, when the datasets are not kept

    @property
    def target(self) -> Path:
        """The folder the stages write into: the staging folder while the run builds, out_dir before and after."""
        return self.build_dir or self.out_dir

    @property
    def failing(self) -> int:
        """Findings at or above the threshold, plus rejected raw rows (they are data that did not make it)."""
        return self.findings.count_at_or_above(self.fail_on) + self.rejected_rows

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return self.error.exit_code
        return exit_code_for(self.findings, self.fail_on, failures=self.rejected_rows)

    @property
    def subjects(self) -> int:
        dm = self.datasets.get("DM")
        if dm is None:
            return self.subject_count or 0
        return int(dm["USUBJID"].nunique())

    @property
    def dataset_count(self) -> int:
        return len(self.datasets) or len(self.rows)


def run(study: str | Path | None = None, raw_dir: str | Path | None = None, out_dir: str | Path = "out", *,
        on_error: str = "strict", fail_on: str = "error", data_docs: bool = True,
        progress: Progress | None = None, core_report: str | Path | None = None) -> RunResult:
    """Run the whole pipeline on one raw export.  Raises SpecError/InputError (exit 2) on unusable input, and
    FindingsError (exit 1) when strict SDTM mapping finds errors (no dataset is written then; once the spec is
    loaded, `out/findings.*` and `out/run.json` are, whatever the outcome).  `core_report` (a CDISC CORE report
    JSON) adds CORE's issues to out/reviewers_guide.html."""
    say = progress or (lambda stage, message: None)
    started, t0 = datetime.now(timezone.utc), time.perf_counter()
    spec = require_valid_spec(study)  # every layer's spec problems stop the run before any raw file is read
    out = Path(out_dir)
    raw = Path(raw_dir) if raw_dir is not None else spec.raw_dir
    check_output(out, [("raw export", raw), ("spec folder", spec.path)])  # before any work, before cleaning
    result = RunResult(out, spec, fail_on=fail_on, raw_dir=raw, started=started.isoformat(timespec="seconds"),
                       options={"on_error": on_error, "fail_on": fail_on, "data_docs": data_docs,
                                **({"core_report": str(core_report)} if core_report is not None else {})})
    result.core_report = core_report
    _check_reviewers_guide_inputs(spec, core_report)
    # Ctrl-C or a bug: the staging folder goes, `out` stays as it was.  An existing `out` is replaced only when it is
    # an earlier run's (run.json, or batch's crash.log of one that crashed).
    # the workers are forked before the output lock is taken, so that they never hold it (a killed run's lock is free)
    workers = (_data_docs_worker(spec, data_docs), _report_worker(spec))
    with _stopping(workers), staged_output(out, owned_by=("run.json", "crash.log")) as build:
        result.build_dir = build
        try:
            findings_written = _run_stages(result, raw, on_error, data_docs, say, workers)
        except CdiscflowError as exc:  # unusable input, strict mapping errors: log what happened, then let it propagate
            result.error = exc
            with contextlib.suppress(OSError):  # an unwritable log must not hide why the run stopped
                _finish(result, t0)
        else:
            _finish(result, t0, findings_written)
    result.build_dir = None
    result.written = [out / p.relative_to(build) for p in result.written if _inside(p, build)]
    if result.error is not None:
        raise result.error
    return result


def _check_reviewers_guide_inputs(spec: StudySpec, core_report: str | Path | None) -> None:
    """A malformed conformance.yaml or CORE report stops the run before any work (not after the mapping)."""
    from cdiscflow.validation.reviewers_guide import core_issues, load_explanations

    load_explanations(spec.path)
    if core_report is not None:
        core_issues(core_report)


def _finish(result: RunResult, t0: float, findings_written: int | None = None) -> None:
    """The findings tables (unless `findings_written`, the number of findings they were written with, is still the
    number of the run's findings) and the run log."""
    result.seconds = round(time.perf_counter() - t0, 3)
    if findings_written != len(result.findings):
        _write_findings(result)
    _write_run_log(result)


def _write_findings(result: RunResult) -> int:
    result.findings.write(result.target, "findings")  # every finding of the run in one table
    write_findings_workbook(result.findings, result.target / "findings.xlsx")  # ... and as a workbook
    return len(result.findings)


def _run_stages(result: RunResult, raw_dir: Path | None, on_error: str, data_docs: bool, say: Progress,
                workers=(None, None)) -> int | None:
    """The stages; returns the number of findings the findings tables were written with when they were written
    while the workers finished (None: not written yet)."""
    # the workers were forked as the run started, so that their imports overlap SDTM and ADaM; each is stopped,
    # whatever happens, before the staging folder goes (stop() again on the way out is a no-op)
    docs, report = workers
    with _stopping(workers), handing_over(result, docs, report):
        written = _run_stages_with(result, raw_dir, on_error, data_docs, say, docs, report)
    return written


@contextlib.contextmanager
def handing_over(result: RunResult, docs: ForkedWorker | None, report: ForkedWorker | None):
    """The stages with the forked workers: the run waits for the Data Docs at the end; a run stopped by its input is
    still written, with the Data Docs it handed over (pages begun without their findings go, as in process), and a
    report the run never came to goes (also used by a partitioned run)."""
    try:
        yield
    except CdiscflowError:
        if docs is not None and docs.sent and not docs.complete:
            docs.stop()
            shutil.rmtree(result.target / "validation" / "datadocs", ignore_errors=True)
        _wait_for(docs)
        raise
    finally:
        _discard_unused_report(report, result.target)
    _wait_for(docs)


def _discard_unused_report(report: ForkedWorker | None, out: Path) -> None:
    """The report worker gets ADaM as soon as it is derived; when the run does not come to the report stage (the
    findings block the export, or it stopped) the worker is stopped and what it had written goes: the output has
    no report, as when the report is computed in process."""
    if report is not None and report.sent and not report.answered:
        report.stop()
        shutil.rmtree(out / "report", ignore_errors=True)


@contextlib.contextmanager
def _stopping(workers):
    """Stop the workers (those that are not None) when the block ends, however it ends."""
    try:
        yield
    finally:
        for worker in workers:
            if worker is not None:
                worker.stop()


def _wait_for(docs: ForkedWorker | None) -> None:
    """The Data Docs are part of the run: wait for them (their failure is the run's; not listed in run.json's files,
    as before)."""
    if docs is not None and docs.complete:
        docs.result()


def _run_stages_with(result: RunResult, raw_dir: Path | None, on_error: str, data_docs: bool, say: Progress,
                     docs: ForkedWorker | None, report: ForkedWorker | None) -> int | None:
    spec, out, fail_on = result.spec, result.target, result.fail_on
    sdtm = _stage(result, "sdtm", say, lambda log: _map_sdtm(spec, raw_dir, on_error, log))
    result.rejected_rows = len(sdtm.rejects)
    compact_all(sdtm.datasets)  # every dataset stays in memory until export: keep repeated text small
    adam = _stage(result, "adam", say, lambda log: _derive_adam(spec, sdtm.datasets, log))
    compact_all(adam)
    result.datasets = {**sdtm.datasets, **adam}
    if report is not None and adam:  # the report reads ADaM only: it is computed while validation and export run
        report.send((_report_payload(adam, spec), out / "report"))
    if docs is not None and _page_names_ok(result.datasets):  # the Data Docs pages need no findings: they are
        docs.send(_data_docs_payload(result.datasets, spec, out / "validation" / "datadocs"))  # rendered meanwhile
    blocked = _stage(result, "validate", say, lambda log: _validate(result, data_docs, log, docs))
    if blocked:
        from cdiscflow.sdtm.mapping.bookkeeping import write_bookkeeping

        _discard_unused_report(report, out)  # the report never runs when the findings block the export
        write_bookkeeping(sdtm, out / "sdtm")
        say("export", f"skipped: {result.failing} finding(s) at or above '{fail_on}' "
                      f"(see {result.out_dir / 'validation'})")
        return None
    _stage(result, "export", say, lambda log: _export(result, sdtm, log))
    # every finding is in now (the report stage adds none): the tables are written while the workers finish
    written = _write_findings(result)
    _stage(result, "report", say, lambda log: _report(result, adam, log, report))
    return written


def _data_docs_worker(spec: StudySpec, data_docs: bool) -> ForkedWorker | None:
    """The Data Docs are rendered by a forked child started with the run: great-expectations' import (seconds)
    overlaps SDTM and ADaM, and the pages of the datasets (sent when ADaM is derived) validation and export, on a
    second core; index.html follows once validation has sent the findings.  The child writes into the same staging
    folder and the run waits for it before the swap.  In process where fork is not available or Data Docs are off."""
    if not (data_docs and background.available()):
        return None
    # the pages (datasets), then index.html (findings)
    return ForkedWorker(lambda: _data_docs_writer(spec), parts=2, nice=WORKER_NICE)


def _report_worker(spec: StudySpec) -> ForkedWorker | None:
    """The analysis report is computed by a forked child: matplotlib, statsmodels and scipy.stats are imported while
    SDTM and ADaM run, and the report is computed from ADaM while validation and export run.  The report stage waits
    for it."""
    if not background.available():
        return None
    return ForkedWorker(lambda: _report_writer(spec), nice=WORKER_NICE)


# the workers run at a lower CPU priority than the main process: on two cores the run's three processes want more
# CPU than there is while SDTM and ADaM run, and the main process is the critical path (the workers import ahead,
# with time to spare, and render while validation and export run)
WORKER_NICE = 10


def _page_names_ok(datasets) -> bool:
    from cdiscflow.validation.datadocs import check_page_names

    try:
        check_page_names(datasets)
    except CdiscflowError:  # raised by the validate stage, where it stops the run as in process
        return False
    return True


def _report_payload(adam: dict[str, pd.DataFrame], spec: StudySpec) -> dict[str, pd.DataFrame]:
    """What the report worker computes the report from: the ADaM datasets and variables the report reads
    (report.inputs), not the whole of ADaM."""
    from cdiscflow.report.inputs import report_frames, report_inputs

    return report_frames(adam, report_inputs(spec))


def _data_docs_payload(datasets: dict[str, pd.DataFrame], spec: StudySpec, out_dir: Path) -> tuple:
    """What the Data Docs worker's pages are made from: each dataset's sample (at most datadocs.MAX_ROWS records),
    row count and plan, not the datasets (at 100,000 subjects a pickled copy of every dataset while it was sent,
    and another in the worker)."""
    from cdiscflow.validation import datadocs
    from cdiscflow.validation.plans import dataset_plans

    plans, _ = dataset_plans(datasets, spec)  # from the whole datasets, as run_validation makes them
    samples = {name: datadocs.data_docs_sample(frame, datadocs.MAX_ROWS) for name, frame in datasets.items()}
    return samples, {name: len(frame) for name, frame in datasets.items()}, out_dir, plans


def _data_docs_writer(spec: StudySpec):
    from cdiscflow.validation import datadocs  # in the child: its imports overlap the run's

    return datadocs.prepared_writer(spec, max_rows=datadocs.MAX_ROWS)  # the bound the samples were taken with


# ----------------------------------------------------------------------------------------------------------------
# stages: each takes what it needs and fills its StageLog


def _map_sdtm(spec, raw_dir, on_error, log: StageLog):
    from cdiscflow.sdtm import map_study

    sdtm = map_study(spec, raw_dir, on_error=on_error, compact_text=True)
    log_sdtm(log, sdtm)
    return sdtm


def log_sdtm(log: StageLog, sdtm, *, skip_steps: tuple[str, ...] = (), rows: dict[str, int] | None = None) -> None:
    """The SDTM stage's entry of run.json: findings, rows in/rejected per raw form, rows out per dataset (`rows`, or
    counted in `sdtm.datasets`), timings."""
    log.findings.extend(sdtm.findings)
    acc = sdtm.accounting
    if len(acc):
        log.rows_in = {str(r.form): int(r.rows_in) for r in acc.itertuples(index=False)}
        log.rows_rejected = {str(r.form): int(r.rows_rejected) for r in acc.itertuples(index=False) if r.rows_rejected}
    log.rows_out = dict(rows) if rows is not None else {n: len(f) for n, f in sdtm.datasets.items()}
    log.steps = {k: round(v, 3) for k, v in sdtm.timings.items() if k not in skip_steps}
    log.note = f"{len(sdtm.rejects)} raw row(s) rejected"


def _derive_adam(spec, sdtm_datasets, log: StageLog) -> dict[str, pd.DataFrame]:
    from cdiscflow.adam import derive_study  # the ADaM recipe of the study (an ImportError is a bug: exit 3)

    adam = derive_study(spec, sdtm_datasets, compact_text=True)  # every dataset stays in memory until export
    log.findings.extend(adam.findings)
    log.rows_in = {n: len(f) for n, f in sdtm_datasets.items()}
    log.rows_out = {n: len(f) for n, f in adam.datasets.items()}
    return dict(adam.datasets)


def _validate(result: RunResult, data_docs: bool, log: StageLog, docs: ForkedWorker | None = None) -> bool:
    """Validate everything before anything is written; True when the findings block the export.  With `docs` (a
    Data Docs worker already rendering the dataset pages, sent the datasets when ADaM was derived) the findings are
    sent to it for index.html (the caller waits for it); without, the Data Docs are written here."""
    from cdiscflow.validation.api import run_validation, write_outputs

    validation = run_validation(result.datasets, result.spec)
    log.findings.extend(validation.findings)
    folder = result.target / "validation"
    write_outputs(validation, result.datasets, result.spec, folder, data_docs=data_docs and docs is None)
    if data_docs and docs is not None:
        from cdiscflow.validation.datadocs import check_page_names

        check_page_names(result.datasets)  # the one input error of the Data Docs stops the run here, as in process
        docs.send(validation.findings)  # the worker has the datasets since ADaM: it writes index.html with these
    return validation_written(result, validation, log)


def validation_written(result: RunResult, validation, log: StageLog) -> bool:
    """The validate stage's end (a plain or partitioned run): the reviewer's guide, the stage's log; True when the
    findings block the export."""
    from cdiscflow.validation.reviewers_guide import write_reviewers_guide

    result.written.append(write_reviewers_guide(result.spec, validation.findings, result.target,
                                                core_report=result.core_report))
    counts = validation.findings.counts()
    log.rows_in = dict(validation.rows)
    log.note = ", ".join(f"{n} {s}" for s, n in counts.items())
    return any(n and at_or_above(s, result.fail_on) for s, n in counts.items())


def _export(result: RunResult, sdtm, log: StageLog) -> None:
    from cdiscflow.export.api import write_datasets
    from cdiscflow.sdtm.mapping.bookkeeping import write_bookkeeping

    exported = write_datasets(result.datasets, result.spec, result.target)
    log.findings.extend(exported.findings)
    write_bookkeeping(sdtm, result.target / "sdtm")
    result.written += exported.files
    log.rows_out = {n: len(result.datasets[n]) for n in exported.written}
    if exported.blocked:
        log.note = f"not written: {', '.join(exported.blocked)}"


def _report_writer(spec: StudySpec):
    from cdiscflow.report import build_report  # (an ImportError is a bug: exit 3)

    for name in _NOT_IN_THE_REPORT_WORKER:  # `import name` raises ImportError in this child (sys.modules holds None)
        sys.modules.setdefault(name, None)
    for library in _REPORT_LIBRARIES:  # what the report imports when it first needs it: now, in the child
        with contextlib.suppress(ImportError):  # ahead of time only: a report that needs it still fails as before
            importlib.import_module(library)
    return lambda payload: build_report(spec, *payload)


# the libraries the report imports lazily (seconds): the report worker imports them ahead
_REPORT_LIBRARIES = ("statsmodels.stats.proportion", "statsmodels.duration.survfunc", "scipy.stats")
# optional libraries the report's libraries import when installed and the report never uses: statsmodels imports
# polars (0.2 s) only to recognise polars frames, and treats none as such without it; the report passes pandas
_NOT_IN_THE_REPORT_WORKER = ("polars",)


def _report(result: RunResult, adam: dict[str, pd.DataFrame], log: StageLog,
            worker: ForkedWorker | None = None) -> None:
    if not adam:
        log.note = "skipped: no ADaM datasets"
        return
    if worker is not None and worker.sent:
        result.written += worker.result()
        return
    from cdiscflow.report import build_report  # the study's analysis report (an ImportError is a bug: exit 3)

    result.written += build_report(result.spec, adam, result.target / "report")


def _stage(result: RunResult, name: str, say: Progress, body):
    log = StageLog(name)
    say(name, STARTED)
    t = time.perf_counter()
    try:
        value = body(log)
    except CdiscflowError as exc:
        log.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(getattr(exc, "findings", None), Findings):
            log.findings.extend(exc.findings)  # strict mapping: the problems that stopped the run
        raise
    finally:
        log.seconds = round(time.perf_counter() - t, 3)
        result.stages.append(log)
        result.findings.extend(log.findings)
        if log.error:
            say(name, f"failed after {log.seconds:.1f} s: {log.error}")
    say(name, f"done in {log.seconds:.1f} s" + (f" ({log.note})" if log.note else ""))
    return value


# ----------------------------------------------------------------------------------------------------------------
# run log


# run.json fields that hold the clock: the only ones in which two runs over the same input may differ
TIMING_FIELDS = ("started", "seconds", "stages[].seconds", "stages[].steps")


def without_timings(log: dict) -> dict:
    """A run log with the TIMING_FIELDS taken out: the same for two runs over the same input and spec."""
    return {**{k: v for k, v in log.items() if k not in ("started", "seconds")},
            "stages": [{k: v for k, v in s.items() if k not in ("seconds", "steps")} for s in log.get("stages", [])]}


def run_log(result: RunResult) -> dict:
    """What a reviewer needs to tell how the output was made.  Deterministic but for the TIMING_FIELDS."""
    spec = result.spec
    std = spec.study.get("standards", {})
    log = {
        "cdiscflow": __version__,
        "python": platform.python_version(),
        "libraries": _library_versions(),
        "started": result.started,
        "seconds": result.seconds,
        "options": dict(result.options),
        "study": {"studyid": spec.studyid, "spec": str(spec.path), "datacut": spec.datacut.isoformat(),
                  "synthetic": bool(spec.study.get("synthetic", False)),
                  "spec_sha256": _spec_fingerprint(spec)},
        "standards": {k: (dict(v) if hasattr(v, "items") else v) for k, v in std.items()},
        "inputs": _raw_inputs(result.raw_dir),
        "stages": [stage_entry(s) for s in result.stages],
        "findings": result.findings.counts(),
        "rejected_raw_rows": result.rejected_rows,
        "exit_code": result.exit_code,
        "files": sorted(str(p.relative_to(result.target)) for p in result.written if _inside(p, result.target)),
    }
    if result.error is not None:
        log["error"] = {"type": type(result.error).__name__, "message": str(result.error)}
    return log


def stage_entry(s: StageLog) -> dict:
    entry = {"stage": s.name, "seconds": s.seconds, "rows_in": s.rows_in, "rows_out": s.rows_out, "note": s.note}
    if s.rows_rejected:
        entry["rows_rejected"] = s.rows_rejected
    if s.steps:
        entry["steps"] = s.steps
    if s.error:
        entry["error"] = s.error
    return entry


def detail_tables(stages: list[dict]) -> list:
    """What `--verbose` shows after a run, from the run log's stage entries: stage timings (with their steps), rows per
    raw form, and records per dataset through mapping/derivation, validation and export."""
    from cdiscflow.core.terminal import Table

    by_stage = {s["stage"]: s for s in stages}
    timing = Table("stages", ["stage", "seconds", "steps", "note"], [
        [s["stage"], f"{s['seconds']:.2f}", " ".join(f"{k} {v:.2f}" for k, v in s.get("steps", {}).items()),
         s.get("error") or s["note"]] for s in stages])
    tables = [timing]
    sdtm = by_stage.get("sdtm", {})
    if sdtm.get("rows_in"):
        rejected = sdtm.get("rows_rejected", {})
        tables.append(Table("raw forms", ["form", "rows in", "rejected"],
                            [[f, n, rejected.get(f, 0)] for f, n in sdtm["rows_in"].items()]))
    made = {**sdtm.get("rows_out", {}), **by_stage.get("adam", {}).get("rows_out", {})}
    if made:
        validated = by_stage.get("validate", {}).get("rows_in", {})
        written = by_stage.get("export", {}).get("rows_out", {})
        tables.append(Table("datasets", ["dataset", "records", "validated", "written"],
                            [[n, k, validated.get(n), written.get(n)] for n, k in made.items()]))
    return tables


def _raw_inputs(raw_dir: Path | None) -> dict:
    """The raw export as it was read: every file of the folder with its size and SHA-256."""
    if raw_dir is None:
        return {"raw_dir": None, "files": {}}
    folder = Path(raw_dir)
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")) if folder.is_dir() else []
    if folder.is_file():  # an ODM-XML export given as one file
        files = [folder]
    return {"raw_dir": str(folder.resolve()),
            "files": {p.name: {"bytes": p.stat().st_size, "sha256": _sha256(p)} for p in files}}


def _spec_fingerprint(spec: StudySpec) -> str:
    """One SHA-256 over the spec folder's files (relative path + bytes), the embedded raw export left out: two runs
    with the same fingerprint used the same spec."""
    digest = hashlib.sha256()
    for p in spec_files(spec):
        digest.update(p.relative_to(spec.path).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return digest.hexdigest()


def spec_files(spec: StudySpec) -> list[Path]:
    """The files of the spec folder that make the spec (sorted): hidden files, caches and the embedded raw export
    left out.  They are what the fingerprint covers and what a hand-off package ships as the program."""
    raw = spec.raw_dir.resolve() if spec.raw_dir is not None else None
    out = []
    for p in sorted(Path(spec.path).rglob("*")):
        rel = p.relative_to(spec.path)
        if (not p.is_file() or any(part.startswith(".") or part == "__pycache__" for part in rel.parts)
                or (raw is not None and _inside(p.resolve(), raw))):
            continue
        out.append(p)
    return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_run_log(result: RunResult) -> Path:
    path = result.target / "run.json"
    write_text(path, json.dumps(run_log(result), indent=1, default=str) + "\n")
    return path


def _library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("pandas", "numpy", "pyarrow", "pandera", "pyreadstat", "great-expectations", "statsmodels"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False
