"""Subject-partitioned runs: the `run` recipe over partitions of subjects, in this process or on a Dask cluster.

    from cdiscflow.scale import run_partitioned
    result = run_partitioned("dara_atra", None, "out", partitions=4, jobs=2)    # `cdiscflow run --partitions 4 -j 2`

Almost all SDTM and ADaM work is per subject, so the unit of parallel work is a *partition of subjects*:

    1. partition   every raw row goes to partition `subject_partition(subject key, count)`: FNV-1a (64 bit) of the
                   UTF-8 bytes of the raw subject field (study.yaml `raw.subject`, e.g. SUBJID; blank = ""), modulo
                   the partition count.  The same subject lands in the same partition for a given count, on every
                   machine and Python version (no salted `hash()`), and all its rows in every form go together.
    2. map, derive the raw files are read once, here, and each file's rows split by partition into a temporary
                   folder beside --out (`split_export`); each partition reads only its rows (`map_study(select=...)`,
                   rows numbered 1..n inside the partition and translated back to the raw file's row numbers
                   afterwards), maps them to SDTM and derives ADaM (`derive_study`) independently: a Dask task
                   (retried on another worker if its worker dies), or a loop here.
    3. combine     what spans subjects is done once over the partitions' results: every dataset concatenated and
                   put in the order of the plain run (`sdtm.mapping.engine.finalize`: keys, then raw origin; ADaM in
                   subject order, each subject's records as derived), unique keys checked, the trial design datasets rebuilt (TS counts subjects and takes the
                   first date over all of them), rejects and accounting summed, file-level findings (a BOM, an
                   unused field) reported once.
    4. the rest    validation, XPT/Dataset-JSON/define.xml (text lengths from all records), report: the plain run's
                   own stages (`pipeline`), so the bytes of every file but run.json (which records the partitioning
                   in its options) are those of the plain run, whatever the partition count.

Output is built in a hidden staging folder beside `--out` and swapped into place when the run ends (also when it
stops on findings: then it holds run.json and findings.* as a plain run's would); a crash leaves `--out` untouched.

Assembly is in memory: the partitions' datasets come back to this process and are combined there (text
categoricals joined by code), so the memory of this process is that of a plain run (workers hold one partition
each): validation is cross-dataset, and SDTM's key order interleaves hash partitions, so streaming the partitions'
records into the files (a merge by key) would pay only once validation runs per partition; not built.
`cdiscflow batch --scheduler` runs many exports' partitions on one cluster (`batch._execute_on_dask`).
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from cdiscflow.core.atomic import atomic_write, staged_output
from cdiscflow.core.outputs import check_output
from cdiscflow.core.errors import CdiscflowError, FindingsError, InputError
from cdiscflow.core.findings import COLUMNS, Findings
from cdiscflow.core.frames import as_text, compact_all, is_text_category
from cdiscflow.core.terminal import UNDER_WAY
from cdiscflow.pipeline import (Progress, RunResult, StageLog, _check_reviewers_guide_inputs, _export, _finish,
                                _report, _stage, _validate, log_sdtm)
from cdiscflow.usecases import require_valid_spec
from cdiscflow.specs.load import load_study
from cdiscflow.specs.model import Form, StudySpec

FNV_OFFSET, FNV_PRIME = np.uint64(0xCBF29CE484222325), np.uint64(0x100000001B3)
DESIGN_DATASETS = ("TE", "TA", "TV", "TI", "TS")  # rebuilt once over all subjects (TS counts them)
# `--partitions auto`: a partition needs about this many bytes of memory per raw byte (benchmarks/RESULTS.md: a
# plain run peaked at 7.88 GiB over a 625 MB raw export at 100,000 subjects)
RAW_MEMORY_FACTOR = 14
RETRIES = 2  # times Dask runs a partition again when its worker dies


# ----------------------------------------------------------------------------------------------------------------
# 1. which partition a subject belongs to


def fnv1a_64(values: pd.Series) -> np.ndarray:
    """FNV-1a 64-bit hash of the UTF-8 bytes of each text value (missing = ""), vectorised over the distinct values
    and their byte positions (no Python loop over records)."""
    codes, uniques = pd.factorize(values.astype(object).where(values.notna(), ""), sort=False)
    encoded = np.array([str(u).encode("utf-8") for u in uniques] or [b""], dtype=bytes)  # distinct subjects only
    lengths = np.char.str_len(encoded)
    width = int(lengths.max()) if len(lengths) else 0
    matrix = np.frombuffer(encoded.tobytes(), dtype=np.uint8).reshape(len(encoded), encoded.itemsize)
    h = np.full(len(encoded), FNV_OFFSET, dtype=np.uint64)
    with np.errstate(over="ignore"):  # multiplication modulo 2**64 is the algorithm
        for i in range(width):  # over byte positions (a subject key is a few bytes)
            live = lengths > i
            h = np.where(live, (h ^ matrix[:, i].astype(np.uint64)) * FNV_PRIME, h)
    return h[codes] if len(codes) else np.zeros(0, dtype=np.uint64)


def subject_partition(subjects: pd.Series, count: int) -> np.ndarray:
    """The partition (0..count-1) of each subject key: FNV-1a 64 of its UTF-8 bytes, modulo `count`."""
    return (fnv1a_64(subjects) % np.uint64(count)).astype(np.int64)


@dataclass
class SubjectSelection:
    """The rows of partition `index` of `count`, for `map_study(select=...)`; remembers, per form, the raw file's
    row numbers of the rows it kept (row i of the partition is `rows[form][i - 1]` of the file)."""

    subject_field: str
    index: int
    count: int
    rows: dict[str, np.ndarray] = field(default_factory=dict)
    pieces: dict[str, str] | None = None  # form -> this partition's rows, read once by `split_export` (a pickle)

    @property
    def read_file(self):
        """How `read_export` reads a form: from the piece `split_export` wrote (the raw file is not read again), or
        None (read the raw file whole, then keep this partition's rows)."""
        return None if self.pieces is None else self._read_piece

    def _read_piece(self, path: Path, form: Form, settings, findings: Findings):
        with open(self.pieces[form.name], "rb") as handle:
            piece: ReadForm = pickle.load(handle)
        if piece.error is not None:  # the raw file cannot be used: reported as reading it here would
            raise piece.error
        findings.extend(piece.findings)  # about the file (a byte-order mark, a column not in forms.yaml)
        return piece.frame, piece.broken

    def __call__(self, form: Form, frame: pd.DataFrame, broken: pd.DataFrame | None):
        if self.subject_field not in frame.columns:
            raise InputError(f"form {form.name!r} has no subject field {self.subject_field} (study.yaml raw.subject): "
                             "a partitioned run splits every form by subject; run without --partitions")
        keep = subject_partition(frame[self.subject_field], self.count) == self.index
        kept = frame[keep]
        self.rows[form.name] = kept.index.to_numpy(dtype=np.int64)
        numbers = pd.RangeIndex(1, len(kept) + 1, name=frame.index.name)
        if broken is not None:
            renumber = pd.Series(np.asarray(numbers), index=kept.index)
            broken = broken[broken.index.isin(kept.index)]
            broken = broken.set_axis(pd.Index(renumber.reindex(broken.index).to_numpy(), name=broken.index.name))
            broken = broken if len(broken) else None
        return kept.set_axis(numbers), broken

    def original(self, form: str, rows: pd.Series) -> pd.Series:
        """Partition row numbers (1-based, missing allowed) of `form` as the raw file's row numbers."""
        table = self.rows.get(form)
        out = pd.array([pd.NA] * len(rows), dtype="Int64")
        number = pd.to_numeric(rows, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        ok = ~np.isnan(number)
        if table is not None and ok.any():
            out[ok] = table[number[ok].astype(np.int64) - 1]
        return pd.Series(out, index=rows.index)


@dataclass
class ReadForm:
    """One partition's rows of one raw file (index: the file's data row numbers), with what reading the whole
    file found, or the error that makes the file unusable."""

    frame: pd.DataFrame | None
    broken: pd.DataFrame | None
    findings: pd.DataFrame | None
    error: InputError | None = None


def split_export(spec: StudySpec, raw_dir: Path, count: int, folder: Path) -> list[dict[str, str]] | None:
    """Read every raw file of the export once, here, and write each partition's rows of it to `folder` (one pickle
    per partition and form); return, per partition, form -> file.  A partition then reads only its rows instead of
    every raw file whole (`SubjectSelection.read_file`).  One form is in memory at a time.  None for an ODM-XML
    export (each partition reads it, and is refused as before)."""
    from cdiscflow.sdtm.raw.files import locate, read_file
    from cdiscflow.sdtm.raw.forms import is_odm_export

    if is_odm_export(spec, raw_dir) or not raw_dir.is_dir():
        return None
    settings = spec.study.get("raw", {})
    subject = str(settings.get("subject", "SUBJID"))
    pieces: list[dict[str, str]] = [{} for _ in range(count)]
    for position, form in enumerate(spec.forms.values()):  # over forms: one raw file in memory at a time
        findings = Findings()
        try:
            path = locate(raw_dir, form)
            frame, broken = read_file(path, form, settings, findings)
            if subject not in frame.columns:
                SubjectSelection(subject, 0, count)(form, frame, broken)  # raises its InputError
        except InputError as exc:
            parts = [ReadForm(None, None, None, exc)] * count
        else:
            which = subject_partition(frame[subject], count)
            broken_which = None if broken is None else \
                pd.Series(which, index=frame.index).reindex(broken.index).to_numpy()
            parts = [ReadForm(frame[which == i], None if broken is None else broken[broken_which == i],
                              findings.frame()) for i in range(count)]
        for i, part in enumerate(parts):  # over partitions
            file = folder / f"{i}-{position}.pkl"
            with atomic_write(file) as handle:
                pickle.dump(part, handle, protocol=pickle.HIGHEST_PROTOCOL)
            pieces[i][form.name] = str(file)
    return pieces


def auto_partitions(raw_dir: Path, jobs: int) -> int:
    """`--partitions auto`: enough partitions that one fits in the memory available per worker (RAW_MEMORY_FACTOR
    bytes a raw byte, at least 256 MiB a worker), and at least one per worker."""
    raw_bytes = sum(p.stat().st_size for p in Path(raw_dir).iterdir() if p.is_file())
    per_worker = max(available_memory() // max(jobs, 1), 1 << 28)
    return max(jobs, math.ceil(raw_bytes * RAW_MEMORY_FACTOR / per_worker))


def available_memory() -> int:
    """Bytes of memory free on this machine now (4 GiB when the system cannot tell)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 4 << 30


# ----------------------------------------------------------------------------------------------------------------
# 2. one partition (a Dask task: paths in, frames out)


@dataclass
class PartitionResult:
    index: int
    sdtm: dict[str, pd.DataFrame]  # plain text, design datasets left out
    provenance: dict[str, pd.DataFrame]  # rows are the raw file's row numbers
    sdtm_findings: pd.DataFrame  # rows are the raw file's row numbers where they name a raw row
    accounting: pd.DataFrame
    rejects: pd.DataFrame
    adam: dict[str, pd.DataFrame]
    adam_findings: pd.DataFrame
    timings: dict[str, float]
    error: CdiscflowError | None = None  # a partition that stopped on its data (strict mapping errors)


def run_partition(study: str, raw_dir: str, index: int, count: int, on_error: str,
                  pieces: dict[str, str] | None = None) -> PartitionResult:
    """Map partition `index` of `count` of the export in `raw_dir` to SDTM and derive its ADaM; `pieces`: its rows
    of every raw file, already read (`split_export`)."""
    from cdiscflow.adam import derive_study
    from cdiscflow.sdtm import map_study

    spec = load_study(study)
    select = SubjectSelection(str(spec.study.get("raw", {}).get("subject", "SUBJID")), index, count, pieces=pieces)
    try:
        sdtm = map_study(spec, raw_dir, on_error=on_error, select=select, compact_text=True)
    except FindingsError as exc:  # strict: this partition's data stops the run; the caller reports every partition's
        findings = _raw_rows(exc.findings.frame(), select, spec)
        return PartitionResult(index, {}, {}, findings, pd.DataFrame(), pd.DataFrame(), {}, pd.DataFrame(), {},
                               error=exc)
    t = time.perf_counter()
    compact_all(sdtm.datasets)  # as the plain run does: repeated text as categoricals, also on the way back
    adam = derive_study(spec, sdtm.datasets, compact_text=True)
    timings = {**sdtm.timings, "adam": time.perf_counter() - t}
    provenance = {}
    for name, prov in sdtm.provenance.items():  # over datasets: partition rows back to the file's rows
        row = prov["row"].copy()
        for form in pd.unique(prov["source"].astype(str)):  # over source forms
            hit = (prov["source"].astype(str) == form).to_numpy()
            if form in select.rows:
                row[hit] = select.original(form, prov["row"][hit])
        provenance[name] = prov.assign(row=row)
    keep = [n for n in sdtm.datasets if n not in DESIGN_DATASETS]
    return PartitionResult(index, {n: sdtm.datasets[n] for n in keep}, {n: provenance[n] for n in keep},
                           _raw_rows(sdtm.findings.frame(), select, spec), sdtm.accounting,
                           _rejects_in_file_rows(sdtm.rejects, select, spec),
                           dict(adam.datasets), adam.findings.frame(), timings)


def _rejects_in_file_rows(rejects: pd.DataFrame, select: SubjectSelection, spec: StudySpec) -> pd.DataFrame:
    """The reject log with the raw file's row numbers: in `row`, and in the reason of a row rejected with its
    subject's enrolment row ("the subject's enrolment row 12 in enrol.csv was rejected")."""
    from cdiscflow.sdtm.raw.forms import roster_form

    rejects = rejects.copy()
    if not len(rejects):
        return rejects
    for form in pd.unique(rejects["form"]):  # over forms
        hit = rejects["form"] == form
        rejects.loc[hit, "row"] = select.original(form, rejects.loc[hit, "row"])
    roster = roster_form(spec)
    pattern = r"(the subject's enrolment row )(\d+)( in )"
    rejects["reason"] = rejects["reason"].str.replace(  # over the rejected rows that name an enrolment row
        pattern, lambda m: f"{m.group(1)}{select.original(roster, pd.Series([int(m.group(2))])).iloc[0]}{m.group(3)}",
        regex=True)
    return rejects


def _raw_rows(findings: pd.DataFrame, select: SubjectSelection, spec: StudySpec) -> pd.DataFrame:
    """Findings with the raw file's row numbers where they name a raw row (`source` is the form's file); the
    record numbers of MAP-KEY-DUP are the partition's, so those are dropped (the combine step checks keys again)."""
    form_of_file = {f.file: f.name for f in spec.forms.values()}
    findings = findings[findings["rule_id"] != "MAP-KEY-DUP"].copy()
    for file, form in form_of_file.items():  # over forms
        hit = (findings["source"] == file) & findings["row"].notna()
        if hit.any():
            findings.loc[hit, "row"] = select.original(form, findings.loc[hit, "row"])
    return findings


# ----------------------------------------------------------------------------------------------------------------
# 3. combine what spans subjects


def combine_findings(frames: list[pd.DataFrame]) -> Findings:
    """The partitions' findings as one table: a finding about a file or the spec (no subject, no row), which
    every partition makes, is kept once."""
    out = Findings()
    seen: set[tuple] = set()
    for frame in frames:  # over partitions, in order
        if frame is None or not len(frame):
            continue
        general = (frame["subject"] == "") & frame["row"].isna()
        keys = [tuple(r) for r in frame.loc[general, list(COLUMNS)].astype(str).itertuples(index=False)]
        repeat = np.zeros(len(frame), dtype=bool)
        repeat[np.flatnonzero(general.to_numpy())] = [k in seen for k in keys]
        seen.update(keys)
        out.extend(frame[~repeat])
    return out


def concat_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The records of `frames` (same columns) one after the other; a text column compacted in any of them
    (`core.frames.compact`) is compacted again over all of them, column by column, so that the combined study stays
    as small in memory as a plain run's."""
    if len(frames) == 1:
        return frames[0].reset_index(drop=True)
    columns = {}
    for name in frames[0].columns:  # over columns
        parts = [f[name] for f in frames]
        if all(is_text_category(c) for c in parts):  # codes joined, no text rebuilt: the categories as compact's
            joined = union_categoricals(parts, sort_categories=True, ignore_order=True).remove_unused_categories()
            columns[name] = pd.Series(joined, name=name)
        elif any(is_text_category(c) for c in parts):
            columns[name] = pd.concat([as_text(c) for c in parts], ignore_index=True).astype("category")
        else:
            columns[name] = pd.concat(parts, ignore_index=True)
    return pd.DataFrame(columns)


def combine_sdtm(spec: StudySpec, parts: list[PartitionResult]):
    """The study's SdtmResult from its partitions: datasets in the plain run's order (`finalize`), keys checked,
    trial design rebuilt over every subject, accounting and rejects summed."""
    from cdiscflow.sdtm.mapping.state import StudyState
    from cdiscflow.sdtm.mapping.engine import SdtmResult, add_trial_design, check_keys, check_sdtm_spec, finalize

    design = check_sdtm_spec(spec)
    findings = combine_findings([p.sdtm_findings for p in parts])
    state = StudyState(spec, design, {}, findings)
    names = [n for n in spec.datasets if any(n in p.sdtm for p in parts)]
    for name in names:  # over datasets
        having = [p for p in parts if name in p.sdtm]
        state.datasets[name] = concat_frames([p.sdtm.pop(name) for p in having])  # partitions' copies freed
        state.provenance[name] = pd.concat([p.provenance.pop(name) for p in having], ignore_index=True)
        state.supp[name] = pd.DataFrame(index=state.datasets[name].index)
        finalize(state, name)
    add_trial_design(state, spec, design)  # over all subjects, as a plain run
    order = [n for n in spec.datasets if n in state.datasets]
    datasets = {n: state.datasets[n] for n in order}
    check_keys(state, datasets)
    accounting = _sum_accounting([p.accounting for p in parts])
    rejects = _all_rejects([p.rejects for p in parts])
    timings: dict[str, float] = {}
    for p in parts:  # over partitions
        for k, v in p.timings.items():
            timings[k] = timings.get(k, 0.0) + v
    return SdtmResult(datasets, {n: state.provenance[n] for n in order}, findings, accounting, rejects, timings)


def _sum_accounting(frames: list[pd.DataFrame]) -> pd.DataFrame:
    from cdiscflow.sdtm.mapping.engine import ACCOUNTING_COLUMNS

    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=ACCOUNTING_COLUMNS)
    whole = pd.concat(frames, ignore_index=True)
    forms = list(dict.fromkeys(whole["form"]))  # the forms in the study's order
    counts = whole.groupby("form", sort=False)[["rows_in", "rows_mapped", "rows_rejected", "rows_lost"]].sum()
    datasets = whole.groupby("form", sort=False)["datasets"].agg(
        lambda s: " ".join(sorted({d for v in s for d in str(v).split()})))
    files = whole.groupby("form", sort=False)["file"].first()
    out = counts.reindex(forms).assign(file=files.reindex(forms), datasets=datasets.reindex(forms))
    return out.reset_index()[ACCOUNTING_COLUMNS].astype({c: "int64" for c in
                                                         ("rows_in", "rows_mapped", "rows_rejected", "rows_lost")})


def _all_rejects(frames: list[pd.DataFrame]) -> pd.DataFrame:
    from cdiscflow.sdtm.mapping.engine import REJECT_COLUMNS

    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=REJECT_COLUMNS)
    whole = pd.concat(frames, ignore_index=True).sort_values(["form", "row"], kind="stable")
    whole["row"] = whole["row"].astype("Int64")
    return whole[REJECT_COLUMNS].reset_index(drop=True)


def combine_adam(spec: StudySpec, parts: list[PartitionResult]) -> dict[str, pd.DataFrame]:
    """The ADaM datasets from the partitions': concatenated, then in subject order (a stable sort by STUDYID,
    USUBJID).  A plain run gives every ADaM dataset subject by subject, each subject's records in derivation order
    (ADTTE by PARAMN, ADRS by parameter and date ...), and a partition derives a subject exactly as a plain run does,
    so this is the plain run's order.  A dataset a partition does not give in subject order cannot be put back in
    that order: that stops the run (a bug in a recipe, exit 3)."""
    from cdiscflow.adam.verbs.checks import SUBJECT_KEYS
    from cdiscflow.core.text import sort_order

    out: dict[str, pd.DataFrame] = {}
    for name in [d.name for d in spec.standard("ADaM")]:  # over datasets
        frames = [p.adam.pop(name) for p in parts if name in p.adam]
        if not frames:
            continue
        keys = [k for k in SUBJECT_KEYS if k in frames[0].columns]
        for frame in frames:  # over partitions: each must come in subject order
            pos = sort_order(frame, keys)
            if not np.array_equal(pos, np.arange(len(frame))):
                raise RuntimeError(f"{name} of a partition is not in subject order ({', '.join(keys)}): a "
                                   "partitioned run cannot give the plain run's record order")
        frame = concat_frames(frames)
        out[name] = frame.take(sort_order(frame, keys)).reset_index(drop=True)
    return out


# ----------------------------------------------------------------------------------------------------------------
# 4. where the partitions run


def map_partitions(study: str, raw_dir: Path, count: int, on_error: str, *, jobs: int = 1,
                   scheduler: str | None = None, scratch: str | Path | None = None, retries: int = RETRIES,
                   client=None, done: Callable[[int, int], None] | None = None) -> list[PartitionResult]:
    """Every partition's result, in partition order: here one after another (no scheduler and one job), on a Dask
    LocalCluster of `jobs` worker processes (`scheduler="local"`), or on the cluster at a `tcp://` address.

    The raw files are read once, here, and split by partition into a temporary folder in `scratch` (default: the
    system's; on a cluster it must be a folder the workers can read, as --out is); each partition reads its rows
    only.  A Dask task whose worker dies (killed, out of memory) is run again on another worker, up to `retries`
    times: a partition is a pure function of its inputs, so a retried partition gives the same result.  `client`:
    a Dask client to submit to (a batch shares one); `done(finished, count)` is called as partitions finish."""
    study, raw_dir = str(Path(study).resolve()), Path(raw_dir).resolve()  # workers may run in another folder
    with tempfile.TemporaryDirectory(prefix=".cdiscflow-partitions-", dir=scratch) as folder:
        pieces = split_export(load_study(study), raw_dir, count, Path(folder)) or [None] * count
        tasks = [(study, str(raw_dir), i, count, on_error, pieces[i]) for i in range(count)]
        if client is None and scheduler is None and jobs <= 1:
            parts = []
            for task in tasks:  # over partitions, one after another in this process
                parts.append(run_partition(*task))
                if done is not None:
                    done(len(parts), count)
            return parts
        with contextlib.ExitStack() as stack:
            client = client or stack.enter_context(dask_client(scheduler, jobs))
            return _gather(client, tasks, retries, done)


def _gather(client, tasks: list[tuple], retries: int, done) -> list[PartitionResult]:
    """Submit the partitions as Dask tasks; their results in partition order, `done` told as each finishes."""
    from distributed import as_completed

    futures = [client.submit(run_partition, *task, pure=False, retries=retries,
                             key=f"cdiscflow-partition-{task[2]}-{os.getpid()}-{time.monotonic_ns()}")
               for task in tasks]
    for finished, _ in enumerate(as_completed(futures), start=1):  # over partitions as the cluster finishes them
        if done is not None:
            done(finished, len(futures))
    return client.gather(futures)


@contextlib.contextmanager
def dask_client(scheduler: str | None, jobs: int):
    """A Dask client: on a LocalCluster of `jobs` worker processes (one thread each) started here and stopped on
    leaving (`scheduler` None or "local"), or on the running cluster at `scheduler` (tcp://HOST:PORT)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ImportError("partitioned runs on several processes or a cluster need Dask: "
                          "pip install 'cdiscflow[scale]'") from exc
    with contextlib.ExitStack() as stack:
        if scheduler in (None, "local"):
            cluster = stack.enter_context(LocalCluster(n_workers=max(jobs, 1), threads_per_worker=1, processes=True,
                                                       dashboard_address=None))
            yield stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(scheduler))
            except (OSError, ValueError) as exc:  # no scheduler there, or not an address
                raise InputError(f"cannot reach the Dask scheduler at {scheduler} ({exc}); start one "
                                 "(`dask scheduler`) or use --scheduler local") from exc
            yield client


# ----------------------------------------------------------------------------------------------------------------
# the run


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
    # the plain run's staging, swap and lock (core.atomic.staged_output): --out holds the previous run or this one
    with staged_output(out, owned_by=("run.json", "crash.log")) as build:
        result.build_dir = build
        try:
            _run_stages(result, str(spec.path), raw, count, jobs, scheduler, on_error, data_docs, say, client)
        except CdiscflowError as exc:  # unusable input, strict mapping errors: log what happened, then propagate
            result.error = exc
            _finish(result, t0)
        else:
            _finish(result, t0)
    result.build_dir = None
    result.written = [out / p.relative_to(build) for p in result.written if build in p.parents]
    if result.error is not None:
        raise result.error
    return result


def _run_stages(result: RunResult, study: str, raw: Path, count: int, jobs: int, scheduler: str | None,
                on_error: str, data_docs: bool, say: Progress, client=None) -> None:
    spec, fail_on = result.spec, result.fail_on
    holder: dict[str, list[PartitionResult]] = {}
    sdtm = _stage(result, "sdtm", say, lambda log: _map_partitions(spec, study, raw, count, jobs, scheduler,
                                                                   on_error, log, holder,
                                                                   scratch=Path(result.build_dir).parent,
                                                                   client=client, say=say))
    result.rejected_rows = len(sdtm.rejects)
    compact_all(sdtm.datasets)
    adam = _stage(result, "adam", say, lambda log: _combine_adam(spec, holder.pop("parts"), sdtm.datasets, log))
    compact_all(adam)
    result.datasets = {**sdtm.datasets, **adam}
    blocked = _stage(result, "validate", say, lambda log: _validate(result, data_docs, log))
    if blocked:
        from cdiscflow.sdtm.mapping.bookkeeping import write_bookkeeping

        write_bookkeeping(sdtm, result.target / "sdtm")
        say("export", f"skipped: {result.failing} finding(s) at or above '{fail_on}'")
    else:
        _stage(result, "export", say, lambda log: _export(result, sdtm, log))
        _stage(result, "report", say, lambda log: _report(result, adam, log))


def _map_partitions(spec, study, raw, count, jobs, scheduler, on_error, log: StageLog, holder, scratch=None,
                    client=None, say: Progress | None = None):
    def done(finished: int, total: int) -> None:
        if say is not None:
            say("sdtm", f"{UNDER_WAY}{finished}/{total} partitions mapped and derived")

    parts = map_partitions(study, raw, count, on_error, jobs=jobs, scheduler=scheduler, scratch=scratch,
                           client=client, done=done)
    failed = [p for p in parts if p.error is not None]
    if failed:  # strict mapping errors in some partitions: one error over all of them, as a plain run gives
        findings = combine_findings([p.sdtm_findings for p in parts])
        raise FindingsError(
            f"{findings.count_at_or_above('error')} error(s) in the raw export; nothing was written. "
            "Fix them, or run with --on-error reject to map the good records and log the rest.\n"
            + findings.summary(limit=40), findings)
    sdtm = combine_sdtm(spec, parts)
    holder["parts"] = parts
    log_sdtm(log, sdtm, skip_steps=("adam",))
    return sdtm


def _combine_adam(spec, parts, sdtm_datasets, log: StageLog) -> dict[str, pd.DataFrame]:
    adam = combine_adam(spec, parts)
    log.findings.extend(combine_findings([p.adam_findings for p in parts]))
    log.rows_in = {n: len(f) for n, f in sdtm_datasets.items()}
    log.rows_out = {n: len(f) for n, f in adam.items()}
    log.steps = {"derive": round(sum(p.timings.get("adam", 0.0) for p in parts), 3)}  # summed over partitions
    return adam
