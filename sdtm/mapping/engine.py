"""`map_study`: a raw EDC export to SDTM datasets, executed from the study spec.

The recipe:

    1. read and check the raw export (sdtm.raw.forms)                      -> RAW-... findings
    2. map every block of every sdtm/<dataset>.yaml (sdtm.mapping.algorithms) -> records with their raw origin
       + record-level derivations (VISITNUM) and checks (end before start, rows no block maps)  -> MAP-... findings
    3. strict: stop on any error, write nothing.  reject: drop the records of rows with errors (and every row of a
       subject whose enrolment row is rejected) into the reject log
    4. subject-level derivations (RF dates, death, age) -> SE -> arms -> EPOCH, study days -> --SEQ
    5. SUPP-- from the blocks' supplemental qualifiers, SV, trial design datasets (TS TA TE TV TI)
    6. spec column order and types, sort by keys, check keys are unique; account for every raw row

Nothing in here knows a study: datasets, variables, rules and derivation parameters come from the spec.
"""

from __future__ import annotations

import string
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from cdiscflow.core.errors import FindingsError, InputError, SpecError
from cdiscflow.core.findings import Findings
from cdiscflow.core.frames import as_text, compact, expand, is_text_category_dtype
from cdiscflow.sdtm.mapping import derivations as D
from cdiscflow.sdtm.mapping.algorithms import RECORD_DERIVATIONS, Target, condition_mask, run_rule
from cdiscflow.sdtm.mapping.columns import TEXT, assemble, missing, stack
from cdiscflow.sdtm.mapping.record_errors import empty_errors, report_raw_rows, trace_to_raw_rows
from cdiscflow.sdtm.mapping.state import StudyState
from cdiscflow.sdtm.mapping.value_checks import check_date_order, check_plausible_dates, check_storable
from cdiscflow.sdtm.raw.dates import DATE_FORMATS, TIME_FORMATS, formats_of, unknown_date_formats
from cdiscflow.sdtm.raw.files import form_file_problem
from cdiscflow.sdtm.raw.forms import RawForm, RowSelection, form_usubjid, read_export
from cdiscflow.sdtm.mapping.supp import build_supp
from cdiscflow.core.text import constant, isin, join_columns, same_as_previous, sort_positions
from cdiscflow.sdtm.trial_design import (TrialDesign, build_se, build_ta, build_te, build_ti, build_ts, build_tv,
                                         check_source, load_trial_design)
from cdiscflow.sdtm.mapping.visits import build_sv
from cdiscflow.specs.conditions import compile_condition, condition_fields
from cdiscflow.specs.model import Block, Mapping_, Rule, StudySpec

ON_ERROR = ("strict", "reject")
REJECT_COLUMNS = ["form", "file", "row", "subject", "rule_id", "reason"]
ACCOUNTING_COLUMNS = ["form", "file", "rows_in", "rows_mapped", "rows_rejected", "rows_lost", "datasets"]
BUILDERS = {"subject_elements": build_se, "subject_visits": build_sv}
DESIGN_BUILDERS = {"TE": build_te, "TA": build_ta, "TV": build_tv, "TI": build_ti}


@dataclass
class SdtmResult:
    """The mapped study: datasets (spec columns only) and, beside them, where each record came from."""

    datasets: dict[str, pd.DataFrame]
    provenance: dict[str, pd.DataFrame]  # per dataset, aligned on its index: source (raw form or spec), row
    findings: Findings
    accounting: pd.DataFrame
    rejects: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def lost_rows(self) -> int:
        return int(self.accounting["rows_lost"].sum()) if len(self.accounting) else 0


def map_study(spec: StudySpec, raw_dir: str | Path | None = None, *, on_error: str = "strict",
              compact_text: bool = False, select: RowSelection | None = None) -> SdtmResult:
    """Map the raw export in `raw_dir` (default: the study's embedded export) to SDTM.

    strict (default): any error finding stops the run with FindingsError listing every problem.
    reject: records of raw rows with errors go to `rejects` with their reasons; the rest is mapped.
    Datasets are kept compact while they are built (core.frames.compact); compact_text=True returns them so (the
    pipeline does), by default they come back as plain text.
    select: map only some rows of every form (a subject partition: `cdiscflow.scale`; see `read_export`).
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    timings: dict[str, float] = {}
    t = time.perf_counter()
    design = check_sdtm_spec(spec)
    raw_dir = Path(raw_dir) if raw_dir is not None else spec.raw_dir
    if raw_dir is None:
        raise InputError("no raw export folder given and the study names none (study.yaml raw.dir)")
    export = read_export(spec, raw_dir, select=select)
    timings["read"] = time.perf_counter() - t

    # 2. records ----------------------------------------------------------------------------------------------
    t = time.perf_counter()
    state = StudyState(spec, design, dict(export.forms), export.findings)
    errors: list[pd.DataFrame] = [_raw_errors(export)]
    for name in _mapped_in_order(spec):
        frame, prov, supp, probs = map_dataset(state, spec.mappings[name])
        state.datasets[name], state.provenance[name], state.supp[name] = compact(frame), prov, compact(supp)
        errors.append(probs)
    errors.append(run_stage(state, "record"))
    errors.append(check_date_order(state))
    errors.append(check_plausible_dates(state))
    errors.append(check_storable(state))
    errors.append(_unmapped_rows(state, export))
    _note_unused_fields(state)
    timings["map"] = time.perf_counter() - t

    # 3. strict / reject ---------------------------------------------------------------------------------------
    problems = pd.concat([e for e in errors if e is not None and len(e)] or [empty_errors()], ignore_index=True)
    if on_error == "strict" and state.findings.count_at_or_above("error"):
        raise FindingsError(
            f"{state.findings.count_at_or_above('error')} error(s) in the raw export; nothing was written. "
            "Fix them, or run with --on-error reject to map the good records and log the rest.\n"
            + state.findings.summary(limit=40), state.findings)
    rejects = _rejects(state, export, problems)
    _drop_rejected(state, rejects)
    sizes = {name: (len(raw), raw.file) for name, raw in export.forms.items()}
    later_forms = _design_forms(design) | {str(src["form"]) for src in _derive_sources(spec) if "form" in src}
    state.raw = {k: v for k, v in state.raw.items() if k in later_forms}  # the rest of the raw data is done with
    del export

    # 4. subject-level, SE, arms, timing, seq ---------------------------------------------------------------------
    t = time.perf_counter()
    run_stage(state, "subject")
    for name, fn in _builders(spec):
        state.datasets[name] = fn(state)
        state.provenance[name] = _derived_provenance(state.datasets[name], f"derived:{name}")
        state.supp[name] = pd.DataFrame(index=state.datasets[name].index)
    for stage in ("arms", "timing", "seq"):
        run_stage(state, stage)
    timings["derive"] = time.perf_counter() - t

    # 5. SUPP--, trial design ------------------------------------------------------------------------------------
    t = time.perf_counter()
    for name in list(state.datasets):
        finalize(state, name)
    for name in list(state.datasets):
        supp_name = f"SUPP{name}"
        if supp_name in spec.datasets and len(state.supp[name].columns):
            state.datasets[supp_name], state.provenance[supp_name] = build_supp(state, name)
            finalize(state, supp_name)
    add_trial_design(state, spec, design)
    order = [n for n in spec.datasets if n in state.datasets]
    datasets = {n: state.datasets[n] if compact_text else expand(state.datasets[n]) for n in order}
    provenance = {n: state.provenance[n] for n in order}
    check_keys(state, datasets)
    timings["assemble"] = time.perf_counter() - t
    accounting = _accounting(sizes, provenance, rejects)
    return SdtmResult(datasets, provenance, state.findings, accounting, rejects, timings)


# ---------------------------------------------------------------------------------------------------------------
# spec checks the loader cannot do (they need the engine's registries)


def check_sdtm_spec(spec: StudySpec) -> TrialDesign | None:
    """The SDTM parts of a spec the loader cannot check alone: trial design, derivation names and arguments.
    Raises SpecError listing every problem; returns the trial design."""
    problems: list[str] = []
    design = None
    try:
        design = load_trial_design(spec)
    except SpecError as exc:
        problems += exc.problems
    problems += form_problems(spec)
    problems += mapping_problems(spec, has_design=spec.section("trial_design") is not None)
    if problems:
        raise SpecError(problems, path=str(spec.path))
    return design


def form_problems(spec: StudySpec) -> list[str]:
    """Raw files inside the raw export folder (forms.yaml `file:`) and date/time formats the reader knows
    (`format:`), so a typo or an escape stops before any file is read."""
    problems = [p for p in map(form_file_problem, spec.forms.values()) if p]
    for form in spec.forms.values():
        for f in form.fields:
            if f.datatype == "date":
                bad = unknown_date_formats(f.format)
            elif f.datatype == "time":
                bad = [t for t in formats_of(f.format) if t not in TIME_FORMATS]
            elif f.datatype == "datetime":
                date_fmt, _, time_fmt = f.format.partition(" ")
                bad = unknown_date_formats(date_fmt) + [t for t in [time_fmt] if t and t not in TIME_FORMATS]
            else:
                continue
            if bad:
                known = f"dates: {', '.join(DATE_FORMATS)}; times: {', '.join(TIME_FORMATS)}"
                problems.append(f"forms.yaml form {form.name} field {f.name}: unknown {f.datatype} format(s) "
                                f"{', '.join(bad)} ({known})")
    return problems


def mapping_problems(spec: StudySpec, *, has_design: bool) -> list[str]:
    problems = []
    for m in spec.mappings.values():
        for var, rule in m.derive.items():
            msg = D.check_derive(rule)
            if msg:
                problems.append(f"{m.path} derive {m.dataset}.{var}: {msg}")
            for src in rule.get("sources") or ():
                check_source(spec, src, f"derive {m.dataset}.{var} source",
                             lambda where, msg: problems.append(f"{m.path} {where}: {msg}"), required=True)
            if rule.get("where") is not None:  # lookup / flag: the records of another dataset meeting `where`
                check_source(spec, {"dataset": rule.get("dataset"), "where": rule.get("where")},
                             f"derive {m.dataset}.{var}", lambda where, msg: problems.append(f"{m.path} {where}: {msg}"),
                             required=True, needs_date=False)
        for i, b in enumerate(m.blocks, start=1):
            for var, rules in [*b.rules.items(), *b.supp.items()]:
                for r in rules:
                    if r.kind == "derive" and r.source not in RECORD_DERIVATIONS:
                        problems.append(f"{m.path} block {i} {m.dataset}.{var}: unknown record derivation "
                                        f"{r.source!r} (known: {', '.join(sorted(RECORD_DERIVATIONS))})")
        build = m.options.get("build")
        if build is not None and build not in BUILDERS:
            problems.append(f"{m.path}: options.build {build!r} is not one of {', '.join(BUILDERS)}")
        if build == "subject_elements" and not has_design:
            problems.append(f"{m.path}: SE is built from trial_design.yaml, which is missing")
        needs_design = {"visitnum", "visitdy", "epoch", "planned_arm", "actual_arm", "arm_name"}
        if not has_design and any(r.source in needs_design for r in m.derive.values()):
            problems.append(f"{m.path}: derivations need trial_design.yaml, which is missing")
    return problems


def _mapped_in_order(spec: StudySpec) -> list[str]:
    return [n for n in spec.datasets if n in spec.mappings and spec.mappings[n].blocks]


def _builders(spec: StudySpec):
    for name in spec.datasets:
        m = spec.mappings.get(name)
        if m is not None and m.options.get("build"):
            yield name, BUILDERS[m.options["build"]]


# ---------------------------------------------------------------------------------------------------------------
# 2. blocks -> records


def _subset(raw: RawForm, mask: pd.Series | None = None, fields: set[str] | None = None) -> RawForm:
    """The rows in `mask` (all when None) of the `fields` (all when None) of a raw form."""
    keep = [f for f in raw.data.columns if fields is None or f in fields]
    rows = slice(None) if mask is None else mask
    return RawForm(raw.form, raw.path, raw.data.loc[rows, keep],
                   {k: v.loc[rows] for k, v in raw.iso.items() if k in keep},
                   {k: v.loc[rows] for k, v in raw.numbers.items() if k in keep},
                   raw.subjects.loc[rows] if raw.subjects is not None else None)


def rule_fields(rule: Rule) -> set[str]:
    """The raw fields a rule reads (its source fields, time/field/fields arguments and `when` condition)."""
    out = set(condition_fields(rule.when))
    if rule.kind in ("assign", "ct", "dtc"):
        src = rule.source
        out.update(src if isinstance(src, (list, tuple)) else [src])
    for key in ("time", "field"):
        if rule.get(key):
            out.add(rule.get(key))
    out.update(rule.get("fields") or ())
    return {str(f) for f in out}


def subject_fields(spec: StudySpec) -> set[str]:
    """The raw fields that identify the subject (study.yaml raw.subject and the fields of raw.usubjid)."""
    raw = spec.study.get("raw", {})
    return {str(raw.get("subject", "SUBJID"))} | {n for _, n, _, _ in string.Formatter().parse(
        str(raw.get("usubjid", ""))) if n and n != "STUDYID"}


def block_fields(spec: StudySpec, block: Block) -> set[str]:
    """Every raw field a block reads, including those USUBJID is built from."""
    fields = subject_fields(spec) | set(condition_fields(block.where))
    for rules in [*block.rules.values(), *block.supp.values()]:
        for r in rules:
            fields |= rule_fields(r)
    return fields


def map_block(state: StudyState, mapping: Mapping_, block: Block) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One block: the selected raw rows -> (records with all dataset variables, supplemental values, problems)."""
    spec = state.spec
    target_ds = spec.dataset(mapping.dataset)
    form = state.raw[block.form]
    if _selects_all(block.where):  # every row: the form as it is (nothing copied)
        raw = form
    else:
        raw = _subset(form, condition_mask(form.data, block.where, form.numbers, spec.codelists),
                      block_fields(spec, block))
    index = raw.data.index
    probs = []
    masks: dict[str | None, np.ndarray] = {}  # per `when`: the records it selects (variables' rules often share one)

    def selected(when) -> np.ndarray:
        key = compile_condition(when)
        if key not in masks:
            masks[key] = condition_mask(raw.data, when, raw.numbers, spec.codelists).to_numpy()
        return masks[key]

    def write(name: str, rules, variable) -> pd.Series:
        codelist = spec.codelists.get(variable.codelist) if variable is not None and variable.codelist else None
        target = Target(mapping.dataset, name, variable, codelist, spec)
        dtype = np.dtype("float64") if target.numeric else TEXT
        result, written = None, None  # nothing written yet: every record missing
        for rule in rules:  # over the rules of one variable: first matching `when` writes
            if _selects_all(rule.when) and written is None and len(index):  # every record (the usual rule): no masks
                mask, everything = None, True
            else:
                mask = selected(rule.when)
                if written is not None:
                    mask = mask & ~written
                if not mask.any():
                    continue
                everything = bool(mask.all())
            # run on every record of the block (an algorithm reads each record alone), kept where `mask` selects
            w = run_rule(raw, rule, target)
            values = w.values if w.values.index.equals(index) else w.values.reindex(index)
            values = values if values.dtype == dtype else values.astype(dtype)
            if everything:
                result, written = values, np.ones(len(index), dtype=bool)
            elif mask is not None:
                base = result if result is not None else missing(index, dtype)
                result = base.mask(mask, values)
                written = mask if written is None else written | mask
            if w.problems is not None:  # the problems of the records written
                at = index.get_indexer(w.problems.index)
                if (at < 0).any():
                    raise RuntimeError(f"{mapping.dataset}.{name}: a rule reported problems on rows not in its block")
                chosen = w.problems if everything else w.problems[mask[at]]
                if len(chosen):
                    probs.append(chosen.assign(variable=name))
            if everything:
                break  # every record written: later rules select none
        return result if result is not None else missing(index, dtype)

    columns = {}  # the frames are assembled once at the end: a column inserted at a time costs ms each
    for var in target_ds.variables:  # over the dataset's variables
        if var.name in block.rules:
            columns[var.name] = write(var.name, block.rules[var.name], var)
    ids = {"STUDYID": spec.studyid, "DOMAIN": mapping.dataset}
    for name, value in ids.items():
        if name in target_ds and name not in block.rules:
            columns[name] = constant(value, index)
    if "USUBJID" in target_ds and "USUBJID" not in block.rules:
        columns["USUBJID"] = form_usubjid(spec, raw)
    out = assemble(columns, index)
    supp = assemble({qnam: write(qnam, rules, None) for qnam, rules in block.supp.items()}, index)
    problems = pd.concat(probs) if probs else None
    return out, supp, problems


def _selects_all(condition) -> bool:
    """A rule's `when` that selects every record: none, or the empty mapping form."""
    return condition is None or (isinstance(condition, Mapping) and not condition)


def map_dataset(state: StudyState, mapping: Mapping_):
    """All blocks of a dataset, stacked in block order, with provenance and the problems as raw-row errors."""
    frames, rows, supps, errors = [], [], [], []
    for block in mapping.blocks:  # over blocks
        frame, supp, problems = map_block(state, mapping, block)
        raw = state.raw[block.form]
        rows.append(frame.index.to_numpy(dtype="int64"))
        frames.append(frame.reset_index(drop=True))
        supps.append(supp.reset_index(drop=True))
        if problems is not None:
            errors.append(report_raw_rows(state, mapping.dataset, raw, problems))
    frame = stack(state.spec.dataset(mapping.dataset), frames)
    forms = sorted({block.form for block in mapping.blocks})  # a handful of form names over millions of records
    codes = np.concatenate([np.full(len(r), forms.index(block.form)) for r, block in zip(rows, mapping.blocks)])
    source = pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(pd.Index(forms, dtype=str)))
    prov = pd.DataFrame({"source": source, "row": pd.array(np.concatenate(rows), dtype="Int64")})
    supp = pd.concat(supps, ignore_index=True) if supps else pd.DataFrame(index=frame.index)
    return frame, prov, supp, (pd.concat(errors, ignore_index=True) if errors else None)


def run_stage(state: StudyState, stage: str) -> pd.DataFrame | None:
    """Run the derivations of one stage over every dataset (spec order), variables in mapping order."""
    errors = []
    for name in state.spec.datasets:
        m = state.spec.mappings.get(name)
        if m is None or name not in state.datasets:
            continue
        for var, rule in m.derive.items():  # over derived variables
            d = D.REGISTRY[rule.source]
            if d.stage != stage:
                continue
            frame = state.datasets[name]
            out = d.fn(state, name, frame, rule)
            variable = state.spec.dataset(name).variable(var)
            values = out.values if out.values.index.equals(frame.index) else out.values.reindex(frame.index)
            keep = None  # records whose current value stays (none unless `fill` or `when`)
            if rule.get("fill") or rule.when:
                current = as_text(frame[var]) if var in frame else pd.Series(np.nan, index=frame.index)
                keep = pd.Series(False, index=frame.index)
                if rule.get("fill"):  # derive only where the blocks left the variable missing
                    keep |= current.notna()
                if rule.when:  # derive only for the records meeting the condition (on the dataset's variables)
                    keep |= ~condition_mask(frame, rule.when, None, state.spec.codelists)
                values = current.where(keep, values) if keep.any() else values
            dtype = np.dtype("float64") if variable.is_numeric else TEXT
            values = as_text(values) if dtype == TEXT else values  # a text categorical: by code
            frame[var] = values if values.dtype == dtype else values.astype(dtype)
            if keep is not None and out.problems is not None and len(out.problems):
                out.problems = out.problems[~keep.reindex(out.problems.index, fill_value=False).to_numpy()]
            if out.problems is not None and len(out.problems):
                if stage == "record":
                    errors.append(trace_to_raw_rows(state, name, out.problems, var))
                else:
                    _warn(state, name, var, out.problems)
    return pd.concat(errors, ignore_index=True) if errors else None


def _warn(state: StudyState, dataset: str, var: str, problems: pd.DataFrame) -> None:
    frame = state.datasets[dataset]
    state.findings.extend(pd.DataFrame({
        "severity": "warning", "rule_id": problems["rule_id"].to_numpy(), "dataset": dataset, "variable": var,
        "subject": frame.loc[problems.index, "USUBJID"].astype(str).to_numpy(), "value": problems["value"].to_numpy(),
        "expected": problems["expected"].to_numpy(), "message": problems["message"].to_numpy()}))


def _mapped_rows(provenance: Mapping[str, pd.DataFrame],
                 sizes: Mapping[str, int]) -> dict[str, tuple[np.ndarray, list[str]]]:
    """Per raw form: which data rows (1..n) have records in some dataset (a boolean per row, in numpy: a frame
    with a column inserted per dataset cost more than the marking) and the datasets that have records of it."""
    hit = {form: np.zeros(n, dtype=bool) for form, n in sizes.items()}
    datasets: dict[str, list[str]] = {form: [] for form in sizes}
    for name, prov in provenance.items():  # over datasets
        rows = prov["row"].to_numpy(dtype="float64", na_value=np.nan)
        codes, sources = pd.factorize(prov["source"])  # by code: no text per record
        codes = np.where(np.isnan(rows), -1, codes)
        for k, form in enumerate(map(str, sources)):  # over the forms feeding the dataset
            selected = codes == k
            if form not in hit or not selected.any():
                continue
            hit[form][rows[selected].astype(np.int64) - 1] = True
            datasets[form].append(name)
    return {form: (hit[form], datasets[form]) for form in sizes}


def _unmapped_rows(state: StudyState, export) -> pd.DataFrame | None:
    sizes = {name: len(raw) for name, raw in export.forms.items()}
    errors = []
    for name, (mapped, _) in _mapped_rows(state.provenance, sizes).items():
        raw = export.forms[name]
        lost = ~mapped
        if lost.any():
            p = pd.DataFrame({"rule_id": "MAP-UNMAPPED", "variable": "",
                              "message": "no mapping block selects this row (check the blocks' where conditions)",
                              "value": "", "expected": "a block of sdtm/*.yaml for this row"},
                             index=raw.data.index[lost])
            errors.append(report_raw_rows(state, "", raw, p))
    return pd.concat(errors, ignore_index=True) if errors else None


def _note_unused_fields(state: StudyState) -> None:
    """A raw field no block maps, conditions on or ignores (with a reason) is a note: data that goes nowhere."""
    used: dict[str, set[str]] = {}
    for m in state.spec.mappings.values():
        for b in m.blocks:
            used.setdefault(b.form, set()).update(block_fields(state.spec, b), b.ignore)
    for src in [*_design_sources(state.design), *_derive_sources(state.spec)]:
        if "form" in src:
            dates = src.get("date") or ()
            used.setdefault(src["form"], set()).update(
                subject_fields(state.spec), condition_fields(src.get("where")),
                dates if isinstance(dates, (list, tuple)) else [dates])
    site = state.spec.study.get("raw", {}).get("site")
    for form in state.spec.forms.values():
        for f in form.fields:
            if f.name not in used.get(form.name, set()) and f.name != site:
                state.findings.add(severity="note", rule_id="MAP-FIELD-UNUSED", dataset=form.name, variable=f.name,
                                   message=f"raw field {form.name}.{f.name} ({f.label}) is not mapped to SDTM; map it "
                                           "or list it under the block's ignore: with the reason", source=form.file)


# ---------------------------------------------------------------------------------------------------------------
# 3. rejects



def _raw_errors(export) -> pd.DataFrame:
    f = export.findings.frame()
    f = f[(f["severity"] == "error") & f["row"].notna() & f["dataset"].isin(list(export.forms))]
    return pd.DataFrame({"form": f["dataset"], "row": f["row"], "rule_id": f["rule_id"],
                         "message": f["variable"].where(f["variable"] == "", f["variable"] + ": ") + f["message"]})


def _rejects(state: StudyState, export, problems: pd.DataFrame) -> pd.DataFrame:
    """One line per rejected raw row with every reason; a rejected enrolment rejects the subject's other rows."""
    problems = problems.dropna(subset=["row"]).copy()
    problems["row"] = problems["row"].astype(int)
    roster, subject = export.roster, export.subject_field
    if roster in export.forms and len(problems):
        rdata = export.forms[roster].data
        bad_rows = problems.loc[problems["form"] == roster, "row"].unique()
        gone = rdata.loc[rdata.index.isin(bad_rows), subject].dropna()
        where = dict(zip(gone.to_numpy(), gone.index.to_numpy()))
        for name, raw in export.forms.items():  # over forms
            if name == roster or subject not in raw.data:
                continue
            hit = isin(raw.data[subject], list(where))
            if hit.any():
                rows = raw.data.index[hit]
                first = raw.data.loc[hit, subject].map(where).astype(str)
                problems = pd.concat([problems, pd.DataFrame({
                    "form": name, "row": rows, "rule_id": "MAP-SUBJECT-REJECTED",
                    "message": ("the subject's enrolment row " + first + f" in {export.forms[roster].file} was rejected"
                                ).to_numpy()})], ignore_index=True)
    if problems.empty:
        return pd.DataFrame(columns=REJECT_COLUMNS)
    problems = problems.drop_duplicates(["form", "row", "rule_id", "message"])
    problems = problems.sort_values(["form", "row", "rule_id"], kind="stable")
    many = problems.duplicated(["form", "row"], keep=False)
    single = problems.loc[~many, ["form", "row", "rule_id", "message"]].rename(columns={"message": "reason"})
    joined = problems[many].groupby(["form", "row"], sort=True).agg(  # only rows with several problems
        rule_id=("rule_id", lambda s: ";".join(dict.fromkeys(s))), reason=("message", " | ".join)).reset_index()
    grouped = pd.concat([single, joined], ignore_index=True).sort_values(["form", "row"], kind="stable")
    grouped = grouped.reset_index(drop=True)
    files = {n: r.file for n, r in export.forms.items()}
    grouped["file"] = grouped["form"].map(files)
    subj = []
    for name, rows in grouped.groupby("form")["row"]:  # over forms
        raw = export.forms[name]
        subj.append(form_usubjid(state.spec, raw).reindex(rows.to_numpy()).set_axis(rows.index))
    grouped["subject"] = pd.concat(subj).reindex(grouped.index).fillna("")
    grouped["row"] = grouped["row"].astype("Int64")
    return grouped[REJECT_COLUMNS].reset_index(drop=True)


def _drop_rejected(state: StudyState, rejects: pd.DataFrame) -> None:
    if rejects.empty:
        return
    bad = pd.MultiIndex.from_arrays([rejects["form"].astype(str), rejects["row"].astype(int)])
    for name in list(state.datasets):
        prov = state.provenance[name]
        key = pd.MultiIndex.from_arrays([as_text(prov["source"]).astype(str), prov["row"].fillna(-1).astype(int)])
        keep = ~key.isin(bad)
        state.datasets[name] = state.datasets[name][keep].reset_index(drop=True)
        state.provenance[name] = prov[keep].reset_index(drop=True)
        state.supp[name] = state.supp[name][keep].reset_index(drop=True)
    for form, rows in rejects.groupby("form")["row"]:  # over forms: design rules read accepted rows only
        raw = state.raw[form]
        state.raw[form] = _subset(raw, ~raw.data.index.isin(rows.astype(int).to_numpy()))


# ---------------------------------------------------------------------------------------------------------------
# 5./6. assemble


def _derived_provenance(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    return pd.DataFrame({"source": source, "row": pd.array([pd.NA] * len(frame), dtype="Int64")}, index=frame.index)


def add_trial_design(state, spec: StudySpec, design: TrialDesign | None) -> None:
    """TE, TA, TV, TI from trial_design.yaml, then TS (which counts the subjects mapped): the study-level domains."""
    if design is None:
        return
    for name, build in DESIGN_BUILDERS.items():
        if name in spec.datasets:
            _add_design(state, name, build(spec, design))
    if "TS" in spec.datasets:
        _add_design(state, "TS", build_ts(state))


def _add_design(state: StudyState, name: str, frame: pd.DataFrame) -> None:
    """A trial design dataset, kept as plain text: a few records per arm, element, visit or parameter whatever the
    number of subjects, so compacting them saves no memory and costs a pass per column (~40 columns)."""
    state.datasets[name] = frame
    state.provenance[name] = _derived_provenance(frame, "trial_design.yaml")
    state.supp[name] = pd.DataFrame(index=frame.index)
    finalize(state, name, compact_text=False)


def finalize(state: StudyState, name: str, *, compact_text: bool = True) -> None:
    """Spec columns in spec order with spec types (text: str with NaN; numbers: float64); sorted by the keys;
    repetitive text compacted (`core.frames.compact`) unless `compact_text` is False."""
    ds = state.spec.dataset(name)
    frame = state.datasets[name].reindex(columns=list(ds.names))
    dtypes = dict(zip(frame.columns, frame.dtypes))
    for v in ds.variables:  # over columns: converted where the dtype is not the spec's
        dtype = dtypes[v.name]
        if v.is_numeric:
            if dtype != "float64":
                frame[v.name] = pd.to_numeric(frame[v.name], errors="coerce").astype("float64")
        elif dtype != "str" and not is_text_category_dtype(dtype):
            frame[v.name] = frame[v.name].astype(str)  # blocks and derivations never write "" (raw blanks are missing)
    keys = [k for k in ds.keys if k in frame]
    prov = state.provenance[name]
    # keys, then raw origin: the same input gives the same order (the columns as they are, taken by position)
    pos = sort_positions([*(frame[k] for k in keys), prov["source"], prov["row"]])
    # compacted before the records are put in order (the same columns compact in any order): codes are moved, not text
    state.datasets[name] = (compact(frame) if compact_text else frame).take(pos).reset_index(drop=True)
    state.provenance[name] = prov.take(pos).reset_index(drop=True)
    supp = state.supp.get(name)
    state.supp[name] = supp.take(pos).reset_index(drop=True) if supp is not None else \
        pd.DataFrame(index=state.datasets[name].index)


def check_keys(state: StudyState, datasets: dict[str, pd.DataFrame]) -> None:
    for name, frame in datasets.items():
        keys = list(state.spec.dataset(name).keys)
        if not keys or frame.empty:
            continue
        same = same_as_previous(frame, keys)  # sorted by the keys: duplicates are neighbours
        dup = pd.Series(same | np.append(same[1:], False), index=frame.index)
        if dup.any():
            rows = np.flatnonzero(dup.to_numpy()) + 1
            state.findings.extend(pd.DataFrame({
                "severity": "error", "rule_id": "MAP-KEY-DUP", "dataset": name, "variable": ",".join(keys),
                "subject": frame.loc[dup, "USUBJID"].astype(str).to_numpy() if "USUBJID" in frame else "",
                "row": rows, "value": join_columns(frame.loc[dup, keys], "|").to_numpy(),
                "expected": "unique keys", "message": f"{name} keys {', '.join(keys)} are not unique"}))


def _design_sources(design: TrialDesign | None) -> list[Mapping]:
    """The sources the trial-design rules read (element starts, arm assignment)."""
    if design is None:
        return []
    return [e["start"] for e in design.elements] + [a["assign"] for a in design.arms
                                                     if isinstance(a["assign"], Mapping)]


def _derive_sources(spec: StudySpec) -> list[Mapping]:
    """The sources dataset-level derivations read (e.g. DTHDTC from a raw death date field)."""
    return [src for m in spec.mappings.values() for r in m.derive.values() for src in (r.get("sources") or ())
            if isinstance(src, Mapping)]


def _design_forms(design: TrialDesign | None) -> set[str]:
    """Raw forms the trial-design rules read after mapping: their accepted rows are kept until then."""
    return {str(s["form"]) for s in _design_sources(design) if "form" in s}


def _accounting(sizes: dict[str, tuple[int, str]], provenance: dict[str, pd.DataFrame],
                rejects: pd.DataFrame) -> pd.DataFrame:
    mapped = _mapped_rows(provenance, {name: n for name, (n, _) in sizes.items()})
    rej = rejects.groupby("form").size() if len(rejects) else pd.Series(dtype=int)
    rows = []
    for name, (n_in, file) in sizes.items():  # over forms
        hit, datasets = mapped[name]
        n_map, n_rej = int(hit.sum()), int(rej.get(name, 0))
        rows.append({"form": name, "file": file, "rows_in": n_in, "rows_mapped": n_map, "rows_rejected": n_rej,
                     "rows_lost": n_in - n_map - n_rej, "datasets": " ".join(sorted(datasets))})
    return pd.DataFrame(rows, columns=ACCOUNTING_COLUMNS)
