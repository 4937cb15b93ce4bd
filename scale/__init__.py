"""Subject-partitioned runs: the `run` recipe over partitions of subjects, in this process or on a Dask cluster.

    from cdiscflow.scale import run_partitioned
    result = run_partitioned("dara_atra", None, "out", partitions=4, jobs=2)    # `cdiscflow run --partitions 4 -j 2`

Almost all SDTM and ADaM work is per subject, so the unit of parallel work is a *partition of subjects*, and each
partition does the whole recipe for its subjects; the client combines what spans subjects and never holds the
study's records:

    1. partition   every raw row goes to partition `subject_partition(subject key, count)`: FNV-1a (64 bit) of the
                   UTF-8 bytes of the raw subject field (study.yaml `raw.subject`, e.g. SUBJID; blank = ""), modulo
                   the partition count.  The same subject lands in the same partition for a given count, on every
                   machine and Python version (no salted `hash()`), and all its rows in every form go together.
                   The raw files are read once, one per task where the partitions run, and split into a
                   scratch folder beside --out (`partitions.split_export`).
    2. phase 1     per partition (`stream.run_partition`, a Dask task or a loop here): map to SDTM and derive ADaM,
                   each dataset in the plain run's order inside the partition; validate (schema checks and rules,
                   `validation.partitioned`); the export statistics (`export.pieces`); the datasets spilled to the
                   scratch folder.  Back come the blocks of the final order (`order`: one row per subject and
                   dataset), findings, statistics, the columns TS derives from and the report's ADaM datasets.
    3. combine     in the client: the final order of every dataset from the blocks (the plain run's sort by keys,
                   then raw origin; ADaM by subject), findings in final record numbers, the trial design datasets
                   (TS counts every subject), rejects and accounting summed, validation combined, the export
                   metadata (text lengths over every record ...).
    4. phase 2     per partition (`stream.write_partition`): its records of every dataset written as XPT and
                   Dataset-JSON pieces with the final metadata, the Data Docs sample rows picked out.
    5. assemble    in the client: each file from the pieces in final order (byte ranges copied), define.xml, Data
                   Docs, the report.  The bytes of every file but run.json (which records the partitioning in its
                   options) are those of the plain run, whatever the partition count.

Output is built in a hidden staging folder beside `--out` and swapped into place when the run ends (also when it
stops on findings: then it holds run.json and findings.* as a plain run's would); a crash leaves `--out` untouched.
The scratch folder (raw pieces, spilled partitions, file pieces) is beside it and goes when the run ends; on a
cluster it must be on a filesystem the workers share, as --out is.  `cdiscflow batch --scheduler` runs many exports'
partitions on one cluster (`batch._execute_on_dask`).
"""

from __future__ import annotations

import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from cdiscflow.core.atomic import staged_output
from cdiscflow.core.errors import CdiscflowError, InputError
from cdiscflow.core.outputs import check_output
from cdiscflow.pipeline import (Progress, RunResult, _check_reviewers_guide_inputs, _data_docs_worker, _finish,
                                _report_worker, _stopping, handing_over)
from cdiscflow.scale.cluster import RETRIES, dask_client, map_partitions, partition_runner
from cdiscflow.scale.combine import combine_findings, concat_frames
from cdiscflow.scale.partitions import (RAW_MEMORY_FACTOR, SubjectSelection, auto_partitions, available_memory,
                                        fnv1a_64, split_export, subject_partition)
from cdiscflow.scale.stream import PartitionResult, run_partition, run_stages
from cdiscflow.usecases import require_valid_spec

__all__ = ["RAW_MEMORY_FACTOR", "RETRIES", "PartitionResult", "SubjectSelection", "auto_partitions",
           "available_memory", "combine_findings", "concat_frames", "dask_client", "fnv1a_64", "map_partitions",
           "partition_runner", "run_partition", "run_partitioned", "split_export", "subject_partition"]


def run_partitioned(study: str | Path | None = None, raw_dir: str | Path | None = None, out_dir: str | Path = "out",
                    *, partitions: int | str = "auto", jobs: int = 1, scheduler: str | None = None,
                    on_error: str = "strict", fail_on: str = "error", data_docs: bool = True,
                    progress: Progress | None = None, core_report: str | Path | None = None,
                    client=None) -> RunResult:
    """`pipeline.run` with SDTM and ADaM done per partition of subjects (see the module docstring).  Same errors,
    same files; run.json's options record partitions, jobs and scheduler.  `client`: a running Dask client to submit
    the partitions to (`cdiscflow batch --scheduler`: one cluster for every export); `scheduler` then only names it
    in run.json."""
    say = progress or (lambda stage, message: None)
    started, t0 = datetime.now(timezone.utc), time.perf_counter()
    spec = require_valid_spec(study)  # as a plain run: every problem of the spec before any data is read
    out = Path(out_dir)
    raw = Path(raw_dir) if raw_dir is not None else spec.raw_dir
    if raw is None:
        raise InputError("no raw export folder given and the study names none (study.yaml raw.dir)")
    count = auto_partitions(raw, jobs) if partitions == "auto" else int(partitions)
    if count < 1:
        raise InputError(f"--partitions must be at least 1 (got {count})")
    check_output(out, [("raw export", raw), ("spec folder", spec.path)])  # before any work
    _check_reviewers_guide_inputs(spec, core_report)  # a malformed conformance.yaml or CORE report: before any work
    result = RunResult(out, spec, fail_on=fail_on, raw_dir=raw, started=started.isoformat(timespec="seconds"),
                       options={"on_error": on_error, "fail_on": fail_on, "data_docs": data_docs,
                                **({"core_report": str(core_report)} if core_report is not None else {}),
                                "partitions": count, "jobs": jobs, "scheduler": scheduler or "none"})
    result.core_report = core_report
    # the plain run's forked Data Docs and report workers (not in a batch's thread, whose process runs a Dask client),
    # forked before the output lock is taken and before any cluster starts
    workers = (_data_docs_worker(spec, data_docs), _report_worker(spec)) if client is None else (None, None)
    # the plain run's staging, swap and lock (core.atomic.staged_output): --out holds the previous run or this one
    with _stopping(workers), staged_output(out, owned_by=("run.json", "crash.log")) as build:
        result.build_dir = build
        try:
            findings_written = _run_stages(result, str(spec.path), raw, count, jobs, scheduler, on_error, data_docs,
                                           say, client, workers)
        except CdiscflowError as exc:  # unusable input, strict mapping errors: log what happened, then propagate
            result.error = exc
            _finish(result, t0)
        else:
            _finish(result, t0, findings_written)
    result.build_dir = None
    result.written = [out / p.relative_to(build) for p in result.written if build in p.parents]
    if result.error is not None:
        raise result.error
    return result


def _run_stages(result: RunResult, study: str, raw: Path, count: int, jobs: int, scheduler: str | None,
                on_error: str, data_docs: bool, say: Progress, client=None, workers=(None, None)) -> int | None:
    """The stages (`stream.run_stages`) in a scratch folder beside the staging folder, with the workers handled as
    a plain run handles them (`pipeline._run_stages`)."""
    docs, report = workers
    with tempfile.TemporaryDirectory(prefix=".cdiscflow-partitions-", dir=Path(result.build_dir).parent) as folder, \
            partition_runner(scheduler, jobs, client) as runner:
        with handing_over(result, docs, report):
            written = run_stages(result, study, raw, count, runner, Path(folder), on_error, data_docs, say, docs, report)
    return written
