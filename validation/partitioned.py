"""Validation by partitions of subjects (issue 19): each partition validates its own records, the client combines
the findings into those of the whole study, in its row numbers, without the whole study in memory.

    part = validate_partition(datasets, spec)                   # in a partition: its subjects' datasets, final order
    result = combine_validation(parts, final_rows, design, spec)   # the client: == run_validation(whole study)
    write_outputs(result, None, spec, folder, data_docs=False)     # findings.*, rules.csv (Data Docs: from samples)

`final_rows[D][p][r]` is the 0-based row of the study's dataset D that local row r of partition p becomes (the
row maps of scale.py); a partition's finding at row r (1-based) is the study's finding at final_rows[D][p][r-1] + 1.
Subjects never span partitions, so every check whose answer for a record depends on that record and its
subject's records gives the same finding in the partition as in the study.  The audit of every check:

    check                       scope              partitioned
    SCH-NULL/CT/LEN/DTC/DUR/INT record             partition, row mapped
    SCH-KEY-001                 keys with USUBJID  partition (a duplicate is within one subject)
                                other keys         aggregate: partitions return the key columns, the client finds
                                                   repeats over the study (none in the embedded study)
    SCH-DATASET-001, SCH-COL-*  dataset            every partition finds it: reported once (row-less findings of a
                                                   dataset are deduplicated)
    SCH-TYPE-001                dataset (column)   fails in the study iff in some partition (the same dtype): once
    CF-SUBJ-001/002, ADSL-002   subject            partition (a subject's DM/ADSL record is in its partition)
    CF-SEQ-001, ADSL-001        within subject     partition
    CF-DTC, AE, RS-001, ADTTE-001/002/004/005, DEF-004  record  partition
    CF-DY-*, DTH-*, EX-*, ADRS-001   subject (DM, DS, AE, ADRS)  partition
    CF-EPOCH/ARM/TE-001         + TA, TE           partition, with TE/TA/TV/TI (identical in every partition, built
                                                   from the spec if not given); findings on them come from the client
    CF-DEF-001/002/003          dataset, variable  deduplicated as SCH-COL-*
    CF-RS-002                   whole RS           aggregate (rulebook.WholeStudy): records counted and the first
                                                   record over the study
    CF-ADTTE-003                whole dataset      aggregate: a (PARAMCD, EVNTDESC) pair is mixed over the study;
                                                   partitions return its records as codes
    TE, TA, TV, TI, TS          design datasets    validated by the client on its copies (TS counts every subject;
                                                   no rule reads TS)
    rules.csv                   every rule         ran if it ran anywhere, else the partitions' skip; findings
                                                   counted on the combined findings

A rule that fails to run in some partitions only is reported failed (its CF-ERR-001 once per distinct message).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from cdiscflow.core.findings import COLUMNS, Findings
from cdiscflow.core.frames import as_text
from cdiscflow.specs.model import StudySpec
from cdiscflow.validation.api import ValidationResult
from cdiscflow.validation.define import Define
from cdiscflow.validation.metadata import DatasetPlan
from cdiscflow.validation.plans import dataset_plans
from cdiscflow.validation.rulebook import RuleContext
from cdiscflow.validation.rules import RULES, RuleRun, failure_finding, run_rules
from cdiscflow.validation.schema import _joined, _rows, build_schema, validate_frame

SUBJECT = "USUBJID"
RowMaps = Mapping[str, Sequence[np.ndarray]]  # dataset -> per partition: final row of each local row (0-based)


def client_dataset_names() -> tuple[str, ...]:
    """The datasets the client validates on its own copies: the trial design (TS counts every subject)."""
    from cdiscflow.sdtm.mapping.engine import DESIGN_BUILDERS

    return (*DESIGN_BUILDERS, "TS")


@dataclass
class PartValidation:
    """What one partition's validation returns: small and picklable (no dataset).  Rows are local (1-based in
    findings, 0-based in key rows and aggregates)."""

    names: list[str]  # the partition's datasets, in its order
    rows: dict[str, int]
    plans: dict[str, DatasetPlan]
    notes: pd.DataFrame  # dataset-level plan notes (SCH-DATASET-001)
    schema: dict[str, pd.DataFrame]  # per dataset
    rules: dict[str, pd.DataFrame]  # per rule ID, the findings of rules whose findings are per record or subject
    runs: dict[str, tuple[str, str]]  # rule ID -> (status, reason)
    aggregates: dict[str, object] = field(default_factory=dict)  # whole-study rule ID -> its partition summary
    keys: dict[str, pd.DataFrame] = field(default_factory=dict)  # dataset -> key columns (keys without USUBJID)
    seconds: float = 0.0


def validate_partition(datasets: Mapping[str, pd.DataFrame], spec: StudySpec | None = None, *,
                       define: Define | None = None) -> PartValidation:
    """Schemas and conformance rules over one partition's datasets (each in its final per-partition order).  The
    trial design datasets TE/TA/TV/TI are read by rules (taken from `datasets`, else built from the spec) but not
    validated here; TS is ignored (see combine_validation)."""
    t0 = time.perf_counter()
    datasets = {k.upper(): v for k, v in datasets.items()}
    client = client_dataset_names()
    own = {n: f for n, f in datasets.items() if n not in client}
    design = {n: datasets[n] for n in client if n in datasets and n != "TS"}
    if spec is not None:
        design = {**_design_from_spec(spec, [n for n in client if n != "TS" and n not in design]), **design}
    plans, notes = dataset_plans(own, spec, define)
    design_plans, _ = dataset_plans(design, spec, define)
    schema, keys = {}, {}
    for name, frame in own.items():  # over datasets
        found = validate_frame(frame, schema_of(plans[name]), name)
        if _keys_span_subjects(plans[name], frame):  # uniqueness over the study: decided by the client
            keys[name] = _key_columns(plans[name], frame)
            found = found[found["rule_id"] != "SCH-KEY-001"]
        schema[name] = found.reset_index(drop=True)
    ctx = RuleContext({**own, **design}, {n: p.standard for n, p in {**plans, **design_plans}.items()}, spec, define)
    per_record = [r for r in RULES.values() if r.whole_study is None]
    found, ran = run_rules(ctx, per_record)
    runs = {r.rule.id: (r.status, r.reason) for r in ran}
    aggregates = {}
    for r in RULES.values():  # over the whole-study rules: summaries instead of findings
        if r.whole_study is None:
            continue
        targets, skipped = r.targets(ctx)
        if skipped:
            runs[r.id] = ("skipped", skipped)
            continue
        try:
            aggregates[r.id] = r.whole_study.part(ctx, targets)
        except Exception as exc:  # reported as run_rules reports it (CF-ERR-001)
            found = pd.concat([found, failure_finding(r, exc)], ignore_index=True)
            runs[r.id] = ("failed", f"{type(exc).__name__}: {exc}")
            continue
        runs[r.id] = ("ran", "")
    found = found[~found["dataset"].isin(list(design))]  # the design datasets' own findings come from the client
    rules = {rid: part.reset_index(drop=True) for rid, part in found.groupby("rule_id", sort=False)}
    return PartValidation(list(own), {n: len(f) for n, f in own.items()}, plans,
                          notes.frame(), schema, rules, runs, aggregates, keys, time.perf_counter() - t0)


def combine_validation(parts: Sequence[PartValidation], final_rows: RowMaps,
                       client_datasets: Mapping[str, pd.DataFrame], spec: StudySpec | None = None, *,
                       define: Define | None = None, order: Sequence[str] | None = None) -> ValidationResult:
    """The whole study's ValidationResult from its partitions' (in partition order) and the client's own datasets
    (the trial design, TS final): the findings of `run_validation` on the whole study, in its row numbers; rule runs
    and row counts as there; plans for the Data Docs.  `order`: the study's dataset order (default: the spec's, then
    the rest as first seen)."""
    t0 = time.perf_counter()
    client = {k.upper(): v for k, v in client_datasets.items()}
    names = _study_order([n for p in parts for n in p.names] + list(client), spec, order)
    client_plans, client_notes = dataset_plans(client, spec, define)
    plans = {n: client_plans[n] if n in client else next(p.plans[n] for p in parts if n in p.plans) for n in names}
    findings = Findings()
    findings.extend(_once(pd.concat([p.notes for p in parts] + [client_notes.frame()], ignore_index=True)))
    for name in names:  # over datasets, in the study's order (as run_validation)
        if name in client:
            findings.extend(validate_frame(client[name], schema_of(plans[name]), name))
            continue
        found = _mapped([(i, p.schema[name]) for i, p in enumerate(parts) if name in p.schema], final_rows)
        findings.extend(_once(found))
        keyed = [(i, p.keys[name]) for i, p in enumerate(parts) if name in p.keys]
        if keyed:
            findings.extend(_repeated_keys(name, keyed, final_rows, plans[name]))
    design_all, design_runs = run_rules(RuleContext(client, {n: p.standard for n, p in client_plans.items()},
                                                    spec, define))
    design_found = design_all[design_all["dataset"].isin(list(client))]
    runs, found = [], []
    for r, design_run in zip(RULES.values(), design_runs):  # over the catalogue
        statuses = [p.runs[r.id] for p in parts if r.id in p.runs] + [(design_run.status, design_run.reason)]
        status, reason = _combined_status(statuses)
        frame = _rule_findings(r, parts, final_rows) if status == "ran" else pd.DataFrame(columns=list(COLUMNS))
        frame = pd.concat([frame, design_found[design_found["rule_id"] == r.id]], ignore_index=True)
        if status == "failed":
            frame = _failed(r.id, [p.rules.get("CF-ERR-001") for p in parts] + [design_all])
        found.append(frame)
        runs.append(RuleRun(r, status, reason, 0 if status == "failed" else len(frame)))
    found = [f for f in found if len(f)]
    if found:
        findings.extend(pd.concat(found, ignore_index=True))
    rows = {n: (len(client[n]) if n in client else sum(p.rows.get(n, 0) for p in parts)) for n in names}
    seconds = sum(p.seconds for p in parts)
    return ValidationResult(findings, plans, runs, rows, {"partitions": seconds, "combine": time.perf_counter() - t0,
                                                          "total": seconds + time.perf_counter() - t0})


# ----------------------------------------------------------------------------------------------------------------
# the pieces


@lru_cache(maxsize=256)
def schema_of(plan: DatasetPlan):
    """The pandera schema of a plan, built once per process: a worker validating several partitions (or a loop
    over them) builds each dataset's schema once (0.2-0.5 s for a study's datasets).  The schema is only read."""
    return build_schema(plan)


def _design_from_spec(spec: StudySpec, names: list[str]) -> dict[str, pd.DataFrame]:
    """TE/TA/TV/TI of the spec as the SDTM mapping builds them (identical in every partition)."""
    from cdiscflow.sdtm.mapping.engine import DESIGN_BUILDERS, _add_design, check_sdtm_spec
    from cdiscflow.sdtm.mapping.state import StudyState

    names = [n for n in names if n in spec.datasets and n in DESIGN_BUILDERS]
    if not names:
        return {}
    design = check_sdtm_spec(spec)
    if design is None:
        return {}
    state = StudyState(spec, design, {}, Findings())
    for name in names:  # over the design datasets
        _add_design(state, name, DESIGN_BUILDERS[name](spec, design))
    return {n: state.datasets[n] for n in names}


def _study_order(seen: list[str], spec: StudySpec | None, order: Sequence[str] | None) -> list[str]:
    present = list(dict.fromkeys(seen))
    if order is not None:
        return [n for n in order if n in present] + [n for n in present if n not in order]
    declared = [n for n in (spec.datasets if spec is not None else ()) if n in present]
    return declared + [n for n in present if n not in declared]


def _keys_span_subjects(plan: DatasetPlan, frame: pd.DataFrame) -> bool:
    """Key uniqueness needs other partitions: the keys do not include USUBJID (and all are there to check)."""
    keys = list(plan.keys)
    return bool(keys) and SUBJECT not in keys and set(keys) <= set(frame.columns)


def _key_columns(plan: DatasetPlan, frame: pd.DataFrame) -> pd.DataFrame:
    columns = list(plan.keys) + ([SUBJECT] if SUBJECT in frame.columns else [])
    # text as plain text: partitions' categoricals have their own categories, and are concatenated by the client
    return pd.DataFrame({c: as_text(frame[c]) for c in columns}).reset_index(drop=True)


def _repeated_keys(name: str, keyed: list[tuple[int, pd.DataFrame]], final_rows: RowMaps,
                   plan: DatasetPlan) -> pd.DataFrame:
    """SCH-KEY-001 over the study: the key columns of every partition put at their final rows."""
    keys = list(plan.keys)
    position = np.concatenate([np.asarray(final_rows[name][i], dtype=np.int64) for i, _ in keyed])
    whole = pd.concat([f for _, f in keyed], ignore_index=True)
    whole = whole.iloc[np.argsort(position, kind="stable")].reset_index(drop=True)  # the study's order
    repeated = np.flatnonzero(whole.duplicated(keys, keep=False).to_numpy())
    if not len(repeated):
        return pd.DataFrame(columns=list(COLUMNS))
    rows = pd.Index(repeated)
    subjects = whole[SUBJECT] if SUBJECT in whole.columns else None
    return _rows(pd.Series("SCH-KEY-001", index=rows), pd.Series(", ".join(keys), index=rows),
                 pd.Series(rows, index=rows, dtype=float), _joined(whole.loc[rows, keys]), subjects, plan, name,
                 f"schema ({plan.basis})")


def _mapped(frames: list[tuple[int, pd.DataFrame]], final_rows: RowMaps) -> pd.DataFrame:
    """Findings of partitions (index, frame) with their rows in the study's numbers, ordered by those rows within
    each partition's run of findings."""
    out = []
    for i, frame in frames:  # over partitions
        if not len(frame):
            continue
        frame = frame.copy()
        row = pd.to_numeric(frame["row"], errors="coerce")
        for name in pd.unique(frame.loc[row.notna(), "dataset"]):  # over the datasets named with a row
            at = (frame["dataset"] == name).to_numpy() & row.notna().to_numpy()
            local = row[at].astype(np.int64).to_numpy() - 1
            frame.loc[at, "row"] = np.asarray(final_rows[name][i], dtype=np.int64)[local] + 1
        out.append(frame)
    if not out:
        return pd.DataFrame(columns=list(COLUMNS))
    return pd.concat(out, ignore_index=True)


def _once(frame: pd.DataFrame) -> pd.DataFrame:
    """Row-less findings (a dataset, a variable) once: every partition that has the dataset finds them."""
    if not len(frame):
        return frame
    rowless = pd.to_numeric(frame["row"], errors="coerce").isna().to_numpy()
    if not rowless.any():
        return frame
    text = frame.reindex(columns=list(COLUMNS)).astype(object).where(frame.notna(), "").astype(str)
    first = ~text.duplicated().to_numpy()
    return frame[~rowless | first].reset_index(drop=True)


def _combined_status(statuses: list[tuple[str, str]]) -> tuple[str, str]:
    """A rule ran in the study if it ran somewhere (and failed nowhere); skipped for the reason given first."""
    for wanted in ("failed", "ran"):
        for status, reason in statuses:
            if status == wanted:
                return status, reason
    return statuses[0]


def _rule_findings(r, parts: Sequence[PartValidation], final_rows: RowMaps) -> pd.DataFrame:
    if r.whole_study is not None:
        summaries = [(i, p.aggregates[r.id]) for i, p in enumerate(parts) if r.id in p.aggregates]
        where = [_row_map(final_rows, i) for i, _ in summaries]
        return r.complete(r.whole_study.finish([s for _, s in summaries], where))
    return _once(_mapped([(i, p.rules[r.id]) for i, p in enumerate(parts) if r.id in p.rules], final_rows))


def _row_map(final_rows: RowMaps, index: int):
    def where(dataset: str, rows: np.ndarray) -> np.ndarray:
        return np.asarray(final_rows[dataset][index], dtype=np.int64)[np.asarray(rows, dtype=np.int64)]

    return where


def _failed(rule_id: str, frames: list[pd.DataFrame | None]) -> pd.DataFrame:
    """The CF-ERR-001 findings saying `rule_id` could not run, once per distinct message."""
    frames = [f[(f["rule_id"] == "CF-ERR-001") & (f["value"] == rule_id)] for f in frames if f is not None and len(f)]
    frames = [f for f in frames if len(f)]
    return _once(pd.concat(frames, ignore_index=True)) if frames else pd.DataFrame(columns=list(COLUMNS))
