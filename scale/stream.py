"""The streaming partitioned run: each partition maps, derives, validates and writes its own records; the client
holds the blocks, findings and statistics, never the study's records.

    phase 1, per partition (`run_partition`)   map + derive (each dataset in its final order inside the partition),
        validate (`validation.partitioned.validate_partition`), export statistics (`export.pieces.prepare_partition`),
        the datasets spilled to a scratch file one at a time (as written, when no Data Docs need the records as
        validated: phase 2 does not prepare them again); back to the client go the blocks of the final order
        (`scale.order`), the findings, the statistics, the columns TS derives from and the report's ADaM datasets.
    client                                     final order of every dataset from the blocks; SDTM bookkeeping,
        trial design (TS counts every subject), findings in final row numbers, validation combined, export
        metadata from the statistics (lengths of text over all records ...).
    phase 2, per partition (`write_partition`) each dataset's XPT records and Dataset-JSON rows written as pieces
        with the final metadata; the Data Docs sample rows picked out.
    client                                     every .xpt/.json assembled from the pieces in final order (byte
        ranges copied: `export.pieces.assemble`), define.xml, Data Docs from the samples, the report.

The bytes are the plain run's; the client's memory is the blocks (one row per subject and dataset), the findings,
DM's subjects and the report's ADaM datasets; a partition's is one partition.
"""

from __future__ import annotations

import contextlib
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cdiscflow.core.atomic import atomic_write
from cdiscflow.core.errors import CdiscflowError, FindingsError
from cdiscflow.core.frames import compact_all
from cdiscflow.scale.combine import _all_rejects, _sum_accounting, combine_findings, concat_frames
from cdiscflow.scale.order import Blocks, block_prefix, dataset_blocks, final_rows, sources
from cdiscflow.scale.partitions import (SubjectSelection, _raw_rows, _rejects_in_file_rows, split_export,
                                        translate_provenance)
from cdiscflow.specs.load import load_study
from cdiscflow.specs.model import StudySpec

DESIGN_DATASETS = ("TE", "TA", "TV", "TI", "TS")  # built once over all subjects in the client (TS counts them)


@dataclass
class PartitionResult:
    """What a partition sends back: no records but those the client needs whole (`kept`)."""

    index: int
    spill: str | None  # the partition's datasets (SDTM and ADaM, final order inside the partition): `_spilled`
    rows: dict[str, int]  # records per dataset, in the spec's order (SDTM, then ADaM)
    blocks: dict[str, Blocks]
    sdtm_findings: pd.DataFrame  # raw rows as the raw file's; MAP-KEY-DUP rows as the partition's records
    accounting: pd.DataFrame
    rejects: pd.DataFrame
    adam_findings: pd.DataFrame
    validation: object  # validation.partitioned.validate_partition's result
    stats: dict[str, object]  # export.pieces.ExportStats per dataset (`prepare_partition`)
    kept: dict[str, dict[str, pd.DataFrame]]  # "ts": the columns TS derives from; "report": ADaM as the report reads it
    timings: dict[str, float]
    error: CdiscflowError | None = None  # a partition that stopped on its data (strict mapping errors)
    subjects: int = 0  # DM's subjects


def run_partition(study: str, raw_dir: str, index: int, count: int, on_error: str,
                  pieces: dict[str, str] | None = None, scratch: str | None = None,
                  prepared: bool = False) -> PartitionResult:
    """Phase 1 of partition `index` of `count`: map its rows of the export in `raw_dir` (`pieces`: its rows of every
    raw file, already read by `split_export`), derive ADaM, validate, compute the export statistics, spill the
    datasets into `scratch` (`prepared`: as they are written, which phase 2 then writes without preparing them
    again; else as validated, which the Data Docs samples need)."""
    from cdiscflow.adam import derive_study
    from cdiscflow.export.pieces import prepare_partition
    from cdiscflow.sdtm import map_study
    from cdiscflow.validation.partitioned import validate_partition

    spec = load_study(study)
    select = SubjectSelection(str(spec.study.get("raw", {}).get("subject", "SUBJID")), index, count, pieces=pieces)
    try:
        sdtm = map_study(spec, raw_dir, on_error=on_error, select=select, compact_text=True)
    except FindingsError as exc:  # strict: this partition's data stops the run; the caller reports every partition's
        return PartitionResult(index, None, {}, {}, _raw_rows(exc.findings.frame(), select, spec),
                               pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), None, {}, {}, {}, error=exc)
    t = time.perf_counter()
    compact_all(sdtm.datasets)  # as the plain run does: repeated text as categoricals
    adam = derive_study(spec, sdtm.datasets, compact_text=True)
    timings = {**sdtm.timings, "adam": time.perf_counter() - t}
    provenance = translate_provenance(sdtm.provenance, select)
    datasets = {n: f for n, f in sdtm.datasets.items() if n not in DESIGN_DATASETS}
    blocks = {n: _sdtm_blocks(spec, n, f, provenance[n]) for n, f in datasets.items()}
    for name, frame in adam.datasets.items():  # over ADaM datasets: subject order, as `combine_adam` checks
        blocks[name] = _adam_blocks(name, frame)
        datasets[name] = frame
    t = time.perf_counter()
    design = {n: f for n, f in sdtm.datasets.items() if n in DESIGN_DATASETS and n != "TS"}  # read by rules
    validation = validate_partition({**datasets, **design}, spec)
    timings["validate"] = time.perf_counter() - t
    spill = None if scratch is None else str(Path(scratch) / f"partition-{index}.pkl")
    stats, timings["export statistics"] = {}, 0.0
    with atomic_write(Path(spill), durable=False) if spill else contextlib.nullcontext() as handle:  # scratch
        for name, frame in datasets.items():  # over datasets: statistics, then the records spilled one at a time
            t = time.perf_counter()
            stats[name], written = prepare_partition(name, frame, spec)  # written: None if not the spec's
            timings["export statistics"] += time.perf_counter() - t
            if handle is not None:
                as_written = prepared and written is not None
                pickle.dump((name, written if as_written else frame, as_written), handle,
                            protocol=pickle.HIGHEST_PROTOCOL)
            del written
    kept = kept_datasets(spec, datasets, list(adam.datasets))
    findings = _raw_rows(sdtm.findings.frame(), select, spec)
    findings = findings[~findings["dataset"].isin(DESIGN_DATASETS)]  # the client builds and checks them once
    return PartitionResult(index, spill, {n: len(f) for n, f in datasets.items()}, blocks, findings, sdtm.accounting,
                           _rejects_in_file_rows(sdtm.rejects, select, spec), adam.findings.frame(), validation,
                           stats, kept, timings,
                           subjects=int(datasets["DM"]["USUBJID"].nunique()) if "DM" in datasets else 0)


def _sdtm_blocks(spec: StudySpec, name: str, frame: pd.DataFrame, provenance: pd.DataFrame) -> Blocks:
    """The blocks of an SDTM dataset the partition put in order by its keys, then raw origin (`finalize`)."""
    keys = [k for k in spec.dataset(name).keys if k in frame]
    prefix = block_prefix(keys)
    if prefix is not None:
        return dataset_blocks(frame, prefix)
    order = pd.DataFrame({**{k: frame[k].array for k in keys}, "_src": provenance["source"].array,
                          "_row": provenance["row"].array})
    return dataset_blocks(order, None)


def _adam_blocks(name: str, frame: pd.DataFrame) -> Blocks:
    from cdiscflow.adam.verbs.checks import SUBJECT_KEYS
    from cdiscflow.core.text import sort_order

    keys = [k for k in SUBJECT_KEYS if k in frame.columns]
    if not np.array_equal(sort_order(frame, keys), np.arange(len(frame))):
        raise RuntimeError(f"{name} of a partition is not in subject order ({', '.join(keys)}): a partitioned run "
                           "cannot give the plain run's record order")
    return dataset_blocks(frame, keys)


def kept_datasets(spec: StudySpec, datasets: dict[str, pd.DataFrame],
                  adam_names: list[str]) -> dict[str, dict[str, pd.DataFrame]]:
    """What the client needs of a partition's records: "ts", the columns TS derives from (trial_design.yaml
    summary: `count: DM`, `first: DM.RFICDTC` ...); "report", ADaM as the report reads it (`report.report_frames`:
    the variables it reads; the other datasets as their record count)."""
    from cdiscflow.report import report_frames, report_inputs

    ts = {n: datasets[n][list(dict.fromkeys(c for c in columns if c in datasets[n]))]
          for n, columns in ts_sources(spec).items() if n in datasets}
    adam = {n: datasets[n] for n in adam_names if n in datasets}
    return {"ts": ts, "report": report_frames(adam, report_inputs(spec))}


def ts_sources(spec: StudySpec) -> dict[str, list[str]]:
    """The datasets and columns the trial summary's `derive` rules read (with USUBJID)."""
    from cdiscflow.sdtm.mapping.engine import check_sdtm_spec

    design = check_sdtm_spec(spec)
    out: dict[str, list[str]] = {}
    for t in (design.summary if design is not None else ()):  # over trial summary parameters
        rule = t.get("derive") or {}
        if "count" in rule:
            out.setdefault(str(rule["count"]), ["USUBJID"])
        for pick in ("first", "last"):
            if pick in rule:
                ds, var = str(rule[pick]).split(".")
                out.setdefault(ds, ["USUBJID"]).append(var)
    return out


# ----------------------------------------------------------------------------------------------------------------
# the client: what spans partitions


class FinalOrder:
    """The final row numbers of every dataset's records, per partition (`scale.order.final_rows`), computed from
    the partitions' blocks when first asked for and kept (8 bytes a record)."""

    def __init__(self, parts: list[PartitionResult]):
        self.parts = parts
        self._rows: dict[str, list[np.ndarray]] = {}

    def __call__(self, name: str) -> list[np.ndarray]:
        if name not in self._rows:
            self._rows[name] = final_rows([p.blocks.get(name) for p in self.parts])
        return self._rows[name]

    __getitem__ = __call__  # a mapping dataset -> per partition row maps, as `validation.partitioned` reads it

    def sources(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        return sources(self(name))


def in_final_rows(findings: pd.DataFrame, order: FinalOrder, index: int, which: pd.Series) -> pd.DataFrame:
    """`findings` of partition `index` whose `row` is a record number of their dataset (`which`): as the final
    dataset's record numbers."""
    if not which.any():
        return findings
    findings = findings.copy()
    rows = findings["row"].astype("Int64")
    for name in pd.unique(findings.loc[which, "dataset"]):  # over datasets named
        hit = (which & (findings["dataset"] == name) & rows.notna()).to_numpy()
        local = rows[hit].to_numpy(dtype=np.int64) - 1
        findings.loc[hit, "row"] = order(name)[index][local] + 1
    return findings


def combined_kept(parts: list[PartitionResult], order: FinalOrder, group: str, name: str) -> pd.DataFrame | None:
    """A dataset as the partitions kept it for `group` ("ts", "report"), over all partitions, in final order."""
    having = [p for p in parts if name in p.kept.get(group, {})]
    if not having:
        return None
    frames = [p.kept[group][name] for p in having]
    final = np.concatenate([order(name)[p.index] for p in having])
    if not len(frames[0].columns):  # the record count only
        return pd.DataFrame(index=pd.RangeIndex(len(final)))
    frame = concat_frames(frames)
    return frame.take(np.argsort(final, kind="stable")).reset_index(drop=True)


def trial_design(spec: StudySpec, parts: list[PartitionResult], order: FinalOrder):
    """TE, TA, TV, TI and TS as the plain run builds them, TS from every subject (the kept columns it derives from),
    and the findings of their key check."""
    from cdiscflow.core.findings import Findings
    from cdiscflow.sdtm.mapping.engine import add_trial_design, check_keys, check_sdtm_spec
    from cdiscflow.sdtm.mapping.state import StudyState

    design = check_sdtm_spec(spec)
    state = StudyState(spec, design, {}, Findings())
    for name in ts_sources(spec):  # over the datasets TS reads: the kept columns, every subject
        frame = combined_kept(parts, order, "ts", name)
        if frame is not None:
            state.datasets[name] = frame
    add_trial_design(state, spec, design)
    datasets = {n: state.datasets[n] for n in spec.datasets if n in DESIGN_DATASETS and n in state.datasets}
    check_keys(state, datasets)
    return datasets, state.findings


# ----------------------------------------------------------------------------------------------------------------
# phase 2, per partition: pieces of the files, sample rows


@dataclass
class Written:
    """What phase 2 of a partition sends back: where its pieces are, and the sample rows asked for."""

    index: int
    pieces: dict[str, object] = field(default_factory=dict)  # dataset -> export.pieces.write_pieces's answer
    samples: dict[str, pd.DataFrame] = field(default_factory=dict)  # dataset -> the rows asked for, in order
    rows: dict[str, np.ndarray] = field(default_factory=dict)  # dataset -> which (partition rows)


def write_partition(spill: str, index: int, finals: dict[str, object], folder: str,
                    wanted: dict[str, np.ndarray]) -> Written:
    """Phase 2 of partition `index`: its records of each dataset in `finals` written as pieces into `folder` with
    the final metadata; its rows `wanted` (dataset -> partition rows, increasing) picked out for the Data Docs.
    The spill is read a dataset at a time."""
    from cdiscflow.export.pieces import write_pieces

    out = Written(index, rows=wanted)
    with open(spill, "rb") as handle:
        for name, frame, as_written in _spilled(handle):  # over datasets, one in memory at a time
            if name in wanted:
                if as_written:
                    raise RuntimeError(f"{name}: the Data Docs sample needs the records as validated, and the "
                                       "partition spilled them as written")
                out.samples[name] = frame.take(wanted[name])
            if name in finals:
                out.pieces[name] = write_pieces(name, frame, finals[name], folder, index, prepared=as_written)
    return out


def _spilled(handle):
    """The (dataset name, records, as written) entries `run_partition` spilled, one after another."""
    while True:
        try:
            yield pickle.load(handle)
        except EOFError:
            return


# ----------------------------------------------------------------------------------------------------------------
# the stages of a streaming partitioned run (pipeline's stages, by partition)


@dataclass
class Study:
    """The client's view of a partitioned study: the partitions' answers and what was combined from them."""

    spec: StudySpec
    parts: list[PartitionResult]
    order: FinalOrder
    design: dict[str, pd.DataFrame]  # TE, TA, TV, TI, TS: built here over every subject
    findings: object  # core.findings.Findings of SDTM mapping
    accounting: pd.DataFrame
    rejects: pd.DataFrame
    timings: dict[str, float]
    sdtm_rows: dict[str, int]  # records per SDTM dataset, in the spec's order
    adam_rows: dict[str, int]
    validation: object = None  # validation.api.ValidationResult, once combined

    def rows(self, name: str) -> int:
        return self.sdtm_rows.get(name, self.adam_rows.get(name, 0))


def map_and_derive(spec: StudySpec, study: str, raw: Path, count: int, runner, folder: Path, on_error: str,
                   say=None, *, data_docs: bool = True) -> Study:
    """Phase 1 over every partition, then what spans them: trial design, SDTM findings in final record numbers,
    accounting and rejects summed (`scale`'s combine steps).  Without `data_docs` the partitions spill their records
    as written (no Data Docs sample needs them as validated)."""
    from cdiscflow.core.terminal import UNDER_WAY

    def done(finished: int, total: int) -> None:
        if say is not None:
            say("sdtm", f"{UNDER_WAY}{finished}/{total} partitions mapped and derived")

    clock = {"split": time.perf_counter()}
    pieces = split_export(spec, raw, count, folder, runner) or [None] * count
    clock["partitions"] = time.perf_counter()
    tasks = [(study, str(raw), i, count, on_error, pieces[i], str(folder), not data_docs) for i in range(count)]
    parts = runner.map(run_partition, tasks, done)
    clock["combine"] = time.perf_counter()
    for piece in (f for p in pieces if p for f in p.values()):  # the raw rows are read: their copies go
        Path(piece).unlink(missing_ok=True)
    failed = [p for p in parts if p.error is not None]
    if failed:  # strict mapping errors in some partitions: one error over all of them, as a plain run gives
        findings = combine_findings([p.sdtm_findings for p in parts])
        raise FindingsError(
            f"{findings.count_at_or_above('error')} error(s) in the raw export; nothing was written. "
            "Fix them, or run with --on-error reject to map the good records and log the rest.\n"
            + findings.summary(limit=40), findings)
    order = FinalOrder(parts)
    findings = combine_findings([in_final_rows(p.sdtm_findings, order, p.index,
                                               p.sdtm_findings["rule_id"] == "MAP-KEY-DUP") for p in parts])
    design, design_findings = trial_design(spec, parts, order)
    findings.extend(design_findings)
    adam_names = {d.name for d in spec.standard("ADaM")}
    present = {n for p in parts for n in p.rows} | set(design)
    rows = {n: sum(p.rows.get(n, 0) for p in parts) + (len(design[n]) if n in design else 0)
            for n in spec.datasets if n in present}
    timings: dict[str, float] = {}
    for p in parts:  # over partitions: seconds summed
        for k, v in p.timings.items():
            timings[k] = timings.get(k, 0.0) + v
    clock["end"] = time.perf_counter()
    steps = list(clock)
    timings.update({f"client {a}": clock[b] - clock[a] for a, b in zip(steps, steps[1:])})  # wall, this process
    return Study(spec, parts, order, design, findings, _sum_accounting([p.accounting for p in parts]),
                 _all_rejects([p.rejects for p in parts]), timings,
                 {n: k for n, k in rows.items() if n not in adam_names},
                 {n: k for n, k in rows.items() if n in adam_names})


def validate(study: Study, result, log, data_docs: bool) -> bool:
    """The partitions' validation combined (findings in final record numbers), the trial design validated here;
    findings.*, rules.csv and the reviewer's guide written (the Data Docs follow once the samples are picked out).
    True when the findings block the export."""
    from cdiscflow.pipeline import validation_written
    from cdiscflow.validation.api import write_outputs
    from cdiscflow.validation.partitioned import combine_validation

    validation = combine_validation([p.validation for p in study.parts], study.order, study.design, study.spec)
    study.validation = validation
    if data_docs:
        from cdiscflow.validation.datadocs import check_page_names

        check_page_names(validation.rows)  # the one input error of the Data Docs stops the run here, as in process
    log.findings.extend(validation.findings)
    write_outputs(validation, {}, study.spec, result.target / "validation", data_docs=False)
    return validation_written(result, validation, log)


def sample_rows(study: Study) -> tuple[dict[str, np.ndarray], list[dict[str, np.ndarray]]]:
    """The final rows of each dataset's Data Docs sample (`validation.datadocs.data_docs_sample_positions`: they
    depend on the record count only), and per partition its rows of them (dataset -> partition rows, in final
    order)."""
    from cdiscflow.validation.datadocs import data_docs_sample_positions

    final: dict[str, np.ndarray] = {}
    wanted: list[dict[str, np.ndarray]] = [{} for _ in study.parts]
    for name in [*study.sdtm_rows, *study.adam_rows]:  # over datasets
        n = study.rows(name)
        positions = data_docs_sample_positions(n)
        final[name] = rows = np.arange(n) if positions is None else np.sort(positions)
        if name in study.design:
            continue
        partition, local = study.order.sources(name)
        for p in study.parts:  # over partitions
            if name in p.rows:
                wanted[p.index][name] = local[rows[partition[rows] == p.index]]
    return final, wanted


def samples_in_order(study: Study, final: dict[str, np.ndarray], written: list[Written]) -> dict[str, pd.DataFrame]:
    """Each dataset's sample as `data_docs_sample` takes it from the whole dataset: the rows in final order,
    labelled with their final row numbers."""
    out = {}
    for name, rows in final.items():  # over datasets
        if name in study.design:
            frame = study.design[name].take(rows)
        else:
            having = [w for w in written if name in w.samples]
            frame = concat_frames([w.samples[name] for w in having])
            at = np.concatenate([study.order(name)[w.index][w.rows[name]] for w in having])  # their final rows
            frame = frame.take(np.argsort(at, kind="stable"))
        out[name] = frame.set_axis(pd.Index(rows))
    return out


def phase_two(study: Study, runner, folder: Path, finals: dict[str, object], data_docs: bool
              ) -> tuple[list[Written], dict[str, np.ndarray]]:
    """Phase 2 over every partition (pieces of the datasets in `finals`, the Data Docs samples); the spilled
    partitions go once every partition is done (a retried task reads its spill again)."""
    final, wanted = sample_rows(study) if data_docs else ({}, [{} for _ in study.parts])
    tasks = [(p.spill, p.index, finals, str(folder), wanted[p.index]) for p in study.parts]
    written = runner.map(write_partition, tasks)
    for p in study.parts:  # over partitions
        Path(p.spill).unlink(missing_ok=True)
    return written, final


def write_data_docs(study: Study, result, written: list[Written], final: dict[str, np.ndarray], docs=None) -> None:
    """The Data Docs from the samples the partitions picked out (the pages a plain run writes): sent to the forked
    Data Docs worker (the samples, then the findings for index.html; the run waits for it before the swap), or
    written here."""
    from cdiscflow.validation.datadocs import write_data_docs_from_samples

    samples = samples_in_order(study, final, written)
    rows = {n: study.rows(n) for n in samples}
    folder = result.target / "validation" / "datadocs"
    if docs is not None:
        docs.send((samples, rows, folder, study.validation.plans))
        docs.send(study.validation.findings)
        return
    write_data_docs_from_samples(samples, rows, study.spec, folder, findings=study.validation.findings,
                                 plans=study.validation.plans)


# ----------------------------------------------------------------------------------------------------------------
# the recipe


def run_stages(result, study: str, raw: Path, count: int, runner, folder: Path, on_error: str, data_docs: bool,
               say, docs=None, report_worker=None) -> int | None:
    """The plain run's stages over partitions (`runner`: where they run; `folder`: the scratch folder; `docs`,
    `report_worker`: the plain run's forked workers, or None to work here).  Returns the number of findings the
    findings tables were written with (None: not written yet), as `pipeline._run_stages` does."""
    from cdiscflow.pipeline import _discard_unused_report, _stage, _write_findings, log_sdtm
    from cdiscflow.sdtm.mapping.bookkeeping import write_bookkeeping

    spec = result.spec

    def sdtm_stage(log):
        mapped = map_and_derive(spec, study, raw, count, runner, folder, on_error, say, data_docs=data_docs)
        log_sdtm(log, mapped, skip_steps=("adam", "validate", "export statistics"), rows=mapped.sdtm_rows)
        return mapped

    mapped = _stage(result, "sdtm", say, sdtm_stage)
    result.rejected_rows = len(mapped.rejects)
    result.rows = {**mapped.sdtm_rows, **mapped.adam_rows}
    result.subject_count = sum(p.subjects for p in mapped.parts)
    _stage(result, "adam", say, lambda log: log_adam(mapped, log))
    if report_worker is not None and mapped.adam_rows:  # computed while validation and export run, as in a plain run
        report_worker.send((report_inputs(mapped), result.target / "report"))
    blocked = _stage(result, "validate", say, lambda log: validate(mapped, result, log, data_docs))
    if blocked:
        _discard_unused_report(report_worker, result.target)  # the report never runs when the findings block
        write_bookkeeping(mapped, result.target / "sdtm")
        if data_docs:  # the Data Docs as a plain run writes them when the findings block the export
            write_data_docs(mapped, result, *phase_two(mapped, runner, folder, {}, data_docs), docs)
        say("export", f"skipped: {result.failing} finding(s) at or above '{result.fail_on}' "
                      f"(see {result.out_dir / 'validation'})")
        return None
    _stage(result, "export", say, lambda log: export(mapped, result, log, runner, folder, data_docs, docs))
    written = _write_findings(result)  # every finding is in now: the tables are written while the workers finish
    _stage(result, "report", say, lambda log: report(mapped, result, log, report_worker))
    return written


def log_adam(study: Study, log) -> None:
    log.findings.extend(combine_findings([p.adam_findings for p in study.parts]))
    log.rows_in = dict(study.sdtm_rows)
    log.rows_out = dict(study.adam_rows)
    log.steps = {"derive": round(study.timings.get("adam", 0.0), 3)}  # summed over partitions


def report_inputs(study: Study) -> dict[str, pd.DataFrame]:
    """ADaM as the report reads it (`report.report_frames`), from what the partitions kept, in final order."""
    return {n: combined_kept(study.parts, study.order, "report", n) for n in study.adam_rows}


def report(study: Study, result, log, worker=None) -> None:
    """The report: the forked worker's (sent its inputs once ADaM was combined), or computed here."""
    from cdiscflow.report import build_report

    if not study.adam_rows:
        log.note = "skipped: no ADaM datasets"
        return
    if worker is not None and worker.sent:
        result.written += worker.result()
        return
    result.written += build_report(study.spec, report_inputs(study), result.target / "report")


def export(study: Study, result, log, runner, folder: Path, data_docs: bool, docs=None) -> None:
    """The export stage by partition: final metadata from the statistics (`export.pieces.combine_stats`), pieces
    written by the partitions, every file assembled here in final order with define.xml (`assemble_export`); then
    the Data Docs from the samples the partitions picked out, and the SDTM bookkeeping."""
    from cdiscflow.export.pieces import assemble_export, combine_stats, export_stats, write_pieces
    from cdiscflow.sdtm.mapping.bookkeeping import write_bookkeeping

    spec = study.spec
    clock = {"metadata": time.perf_counter()}
    names = [n for n in spec.datasets if n in study.sdtm_rows or n in study.adam_rows]
    finals, rows = {}, {}
    for name in names:  # over datasets, in the spec's order
        if name in study.design:
            stats, rows[name] = [export_stats(name, study.design[name], spec)], [np.arange(len(study.design[name]))]
        else:
            having = [p for p in study.parts if name in p.stats]  # a partition may have no records of a SUPP--
            stats, rows[name] = [p.stats[name] for p in having], [study.order(name)[p.index] for p in having]
        finals[name] = combine_stats(name, stats, spec, rows[name])
    clock["pieces"] = time.perf_counter()
    written, samples = phase_two(study, runner, folder / "pieces", {n: f for n, f in finals.items()
                                                                      if n not in study.design}, data_docs)
    pieces = {name: [w.pieces[name] for w in written if name in w.pieces] for name in names if name not in study.design}
    for name, frame in study.design.items():  # over the trial design datasets: one piece each, written here
        pieces[name] = [write_pieces(name, frame, finals[name], folder / "pieces", len(study.parts))]
    clock["samples"] = time.perf_counter()
    if data_docs:  # sent to the Data Docs worker now: its pages are made while the files are assembled
        write_data_docs(study, result, written, samples, docs)
    clock["assemble"] = time.perf_counter()
    exported = assemble_export(finals, pieces, rows, spec, result.target, remove_pieces=True)
    clock["end"] = time.perf_counter()
    steps = list(clock)
    log.steps = {a: round(clock[b] - clock[a], 3) for a, b in zip(steps, steps[1:])}
    log.findings.extend(exported.findings)
    write_bookkeeping(study, result.target / "sdtm")
    result.written += exported.files
    log.rows_out = {n: study.rows(n) for n in exported.written}
    if exported.blocked:
        log.note = f"not written: {', '.join(exported.blocked)}"
