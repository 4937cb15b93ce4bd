"""Trial design from the spec (`trial_design.yaml`): TS, TE, TA, TV, TI as written there; SE and the arms derived.

The file names SDTM variables directly (a row of TE is written `{ETCD: ..., ELEMENT: ..., TESTRL: ...}`), plus the
few machine keys the derivations need:

    elements:   TE rows; `EPOCH` (the element's epoch in every arm) and `start` (source rule of the element's start
                date in SE: `{dataset|form, where, date, pick: first|last, after: [ETCD ...]}`)
    arms:       TA: `ARMCD`, `ARM`, `elements: [ETCD ...]`, optional `TABRANCH` / `TATRANS` maps ETCD -> text, and
                `assign`: the planned-arm rule `{form, where}` (one arm may say `assign: otherwise`)
    subject_end: source of the end of each subject's last element (e.g. DM.RFPENDTC)
    visits:     TV rows; `repeat: [first, last]` expands a row with `{n}` in its texts and VISITNUM `start`+`step`
    summary:    TS rows: `TSPARMCD` with `TSVAL` (+ `codelist:` to fill TSVALCD/TSVCDREF/TSVCDVER from CT) or
                `derive: {first|last: DATASET.VARIABLE}` / `{count: DATASET}`, or `TSVALNF` for a null value
    criteria:   TI rows (optional)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from cdiscflow.core.errors import SpecError
from cdiscflow.core.frames import as_text, is_text_category
from cdiscflow.sdtm.mapping.state import StudyState, dates_of, source_dates, source_frame
from cdiscflow.core.text import constant, isin, join_per_group, lookup
from cdiscflow.specs.conditions import compile_condition, condition_codelists, condition_fields
from cdiscflow.specs.model import StudySpec

FILE = "trial_design.yaml"
SECTION = "trial_design"


@dataclass(frozen=True)
class TrialDesign:
    elements: tuple[Mapping[str, Any], ...]
    arms: tuple[Mapping[str, Any], ...]
    visits: tuple[Mapping[str, Any], ...]
    summary: tuple[Mapping[str, Any], ...]
    criteria: tuple[Mapping[str, Any], ...]
    subject_end: Mapping[str, Any] | None

    def element(self, etcd: str) -> Mapping[str, Any]:
        return next(e for e in self.elements if e["ETCD"] == etcd)

    def arm(self, armcd: str) -> Mapping[str, Any]:
        return next(a for a in self.arms if a["ARMCD"] == armcd)

    @property
    def arm_names(self) -> dict[str, str]:
        return {a["ARMCD"]: a["ARM"] for a in self.arms}


# ---------------------------------------------------------------------------------------------------------------
# loading and checking


def load_trial_design(spec: StudySpec) -> TrialDesign | None:
    """Parse and check the trial design section; SpecError lists every broken reference.  None if absent."""
    doc = spec.section(SECTION)
    if doc is None:
        return None
    problems: list[str] = []

    def problem(where: str, msg: str) -> None:
        problems.append(f"{FILE} {where}: {msg}")

    elements = tuple(doc.get("elements") or ())
    etcds = [e.get("ETCD") for e in elements]
    for i, e in enumerate(elements, start=1):
        for k in ("ETCD", "ELEMENT", "TESTRL", "EPOCH"):
            if not e.get(k):
                problem(f"element {i}", f"needs {k}")
        if etcds.count(e.get("ETCD")) > 1:
            problem(f"element {e.get('ETCD')}", "listed twice")
        check_source(spec, e.get("start"), f"element {e.get('ETCD')} start", problem, required=True)
        for a in (e.get("start") or {}).get("after") or ():
            if a not in etcds[: i - 1]:
                problem(f"element {e.get('ETCD')} start", f"after {a}: not an element listed before it")
    epoch_cl = _codelist_of(spec, "TA", "EPOCH")
    if epoch_cl:
        for e in elements:
            if e.get("EPOCH") and e["EPOCH"] not in epoch_cl.values:
                problem(f"element {e.get('ETCD')}", f"EPOCH {e['EPOCH']!r} is not a term of codelist {epoch_cl.id}")
    arms = tuple(doc.get("arms") or ())
    others = 0
    for a in arms:
        where = f"arm {a.get('ARMCD')}"
        for k in ("ARMCD", "ARM", "elements"):
            if not a.get(k):
                problem(where, f"needs {k}")
        for etcd in a.get("elements") or ():
            if etcd not in etcds:
                problem(where, f"element {etcd} is not in elements")
        for k in ("TABRANCH", "TATRANS"):
            for etcd in (a.get(k) or {}):
                if etcd not in (a.get("elements") or ()):
                    problem(where, f"{k} at {etcd}, which is not an element of the arm")
        assign = a.get("assign")
        if assign == "otherwise":
            others += 1
        elif isinstance(assign, Mapping):
            check_source(spec, assign, f"{where} assign", problem, required=False, needs_date=False)
        else:
            problem(where, "needs assign: {form: ..., where: {...}} or assign: otherwise")
        if len(str(a.get("ARMCD", ""))) > 20:
            problem(where, "ARMCD is longer than 20 characters")
    if others > 1:
        problem("arms", "only one arm may be assigned 'otherwise'")
    end = doc.get("subject_end")
    check_source(spec, end, "subject_end", problem, required=False)
    visits = tuple(_expand_visits(doc.get("visits") or (), problem))
    nums = [v.get("VISITNUM") for v in visits]
    for v in visits:
        if nums.count(v.get("VISITNUM")) > 1 and not v.get("ARMCD"):
            problem(f"visit {v.get('VISIT')}", f"VISITNUM {v.get('VISITNUM')} used twice")
    summary = tuple(doc.get("summary") or ())
    for i, t in enumerate(summary, start=1):
        if not t.get("TSPARMCD"):
            problem(f"summary row {i}", "needs TSPARMCD")
        if sum(k in t for k in ("TSVAL", "derive", "TSVALNF")) != 1:
            problem(f"summary {t.get('TSPARMCD')}", "needs exactly one of TSVAL, derive, TSVALNF")
        if len(str(t.get("TSVAL", "")).encode("utf-8")) > 200:
            problem(f"summary {t.get('TSPARMCD')}", "TSVAL is longer than 200 bytes (XPT limit); shorten it")
        cl = t.get("codelist")
        if cl and cl not in spec.codelists:
            problem(f"summary {t.get('TSPARMCD')}", f"unknown codelist {cl!r}")
        elif cl and str(t.get("TSVAL")) not in spec.codelists[cl].values:
            problem(f"summary {t.get('TSPARMCD')}", f"TSVAL {t.get('TSVAL')!r} is not a term of codelist {cl}")
    parm_cl = _codelist_of(spec, "TS", "TSPARMCD")
    if parm_cl:
        for t in summary:
            if t.get("TSPARMCD") and t["TSPARMCD"] not in parm_cl.values:
                problem(f"summary {t['TSPARMCD']}", f"TSPARMCD is not a term of codelist {parm_cl.id}")
    _check_keys(spec, problem, "element", elements, "TE", {"start", "EPOCH"})
    _check_keys(spec, problem, "arm", arms, "TA", {"elements", "assign"})
    _check_keys(spec, problem, "visit", doc.get("visits") or (), "TV", {"repeat"})
    _check_keys(spec, problem, "criterion", doc.get("criteria") or (), "TI", set())
    _check_keys(spec, problem, "summary row", summary, "TS", {"derive", "codelist"})
    if problems:
        raise SpecError(problems, path=str(spec.path))
    return TrialDesign(elements, arms, visits, summary, tuple(doc.get("criteria") or ()), end)


def _check_keys(spec: StudySpec, problem, what: str, rows, dataset: str, machine: set[str]) -> None:
    """Every key of a trial-design row is a variable of its dataset or one of the machine keys (typos surface)."""
    if dataset not in spec.datasets:
        if rows:
            problem(f"{what}s", f"dataset {dataset} is not declared in datasets.csv")
        return
    known = set(spec.dataset(dataset).names) | machine
    for i, row in enumerate(rows, start=1):
        for key in set(row) - known:
            problem(f"{what} {i}", f"{key} is neither a variable of {dataset} nor one of {', '.join(sorted(machine))}")


def _codelist_of(spec: StudySpec, dataset: str, var: str):
    if dataset in spec.datasets and var in spec.datasets[dataset]:
        cl = spec.datasets[dataset].variable(var).codelist
        return spec.codelists.get(cl) if cl else None
    return None


def check_source(spec, src, where, problem, *, required: bool, needs_date: bool = True) -> None:
    if src is None:
        if required:
            problem(where, "missing")
        return
    if not isinstance(src, Mapping):
        problem(where, "must be {dataset: ..., date: ...} or {form: ..., date: ...}")
        return
    if ("dataset" in src) == ("form" in src):
        problem(where, "name exactly one of dataset (SDTM) or form (raw)")
        return
    cols = src.get("date") if needs_date else None
    cols = [] if cols is None else (list(cols) if isinstance(cols, (list, tuple)) else [cols])
    if needs_date and not cols:
        problem(where, "needs date")
    cols += list(condition_fields(src.get("where")))
    for msg in condition_problems(spec, src.get("where")):
        problem(where, msg)
    if "dataset" in src:
        ds = spec.datasets.get(str(src["dataset"]))
        if ds is None:
            problem(where, f"unknown dataset {src['dataset']}")
            return
        names = ds.names
    else:
        form = spec.forms.get(str(src["form"]))
        if form is None:
            problem(where, f"unknown form {src['form']}")
            return
        names = form.names
    for c in cols:
        if c not in names:
            problem(where, f"{c} is not a variable/field of {src.get('dataset') or src.get('form')}")
    if src.get("pick", "first") not in ("first", "last"):
        problem(where, "pick must be first or last")


def condition_problems(spec, condition) -> list[str]:
    """What is wrong with a `where` condition (either form) besides the fields it names: it does not compile to an
    expression, or it looks values up in a codelist the study lacks."""
    from cdiscflow.core.expr import ExpressionError

    try:
        compile_condition(condition)
    except ExpressionError as exc:
        return [f"where: {exc}"]
    return [f"where: unknown codelist {cl!r}" for cl in condition_codelists(condition) if cl not in spec.codelists]


def _expand_visits(rows, problem) -> list[dict]:
    out = []
    for v in rows:
        rep = v.get("repeat")
        if rep is None:
            out.append({k: v[k] for k in v})
            continue
        if not (isinstance(rep, (list, tuple)) and len(rep) == 2) or not isinstance(v.get("VISITNUM"), Mapping):
            problem(f"visit {v.get('VISIT')}", "repeat: [first, last] needs VISITNUM: {start: ..., step: ...}")
            continue
        start, step = v["VISITNUM"].get("start", 1), v["VISITNUM"].get("step", 1)
        for i, n in enumerate(range(int(rep[0]), int(rep[1]) + 1)):  # over planned visits
            row = {k: (val.format(n=n) if isinstance(val, str) else val) for k, val in v.items() if k != "repeat"}
            row["VISITNUM"] = start + i * step
            out.append(row)
    return out


# ---------------------------------------------------------------------------------------------------------------
# trial design datasets


def _frame(spec: StudySpec, name: str, rows: list[dict] | pd.DataFrame) -> pd.DataFrame:
    """The dataset's columns (spec order) from trial-design rows or a frame; STUDYID and DOMAIN filled in."""
    ds = spec.dataset(name)
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    frame = frame.reindex(columns=list(ds.names)).reset_index(drop=True)
    frame["STUDYID"] = spec.studyid
    if "DOMAIN" in ds:
        frame["DOMAIN"] = name
    return frame


def build_te(spec: StudySpec, design: TrialDesign) -> pd.DataFrame:
    return _frame(spec, "TE", [dict(e) for e in design.elements])


def build_ta(spec: StudySpec, design: TrialDesign) -> pd.DataFrame:
    rows = []
    for a in design.arms:  # over arms and their elements (trial metadata, a handful of rows)
        for order, etcd in enumerate(a["elements"], start=1):
            e = design.element(etcd)
            rows.append({"ARMCD": a["ARMCD"], "ARM": a["ARM"], "TAETORD": order, "ETCD": etcd,
                         "ELEMENT": e["ELEMENT"], "EPOCH": e["EPOCH"],
                         "TABRANCH": (a.get("TABRANCH") or {}).get(etcd),
                         "TATRANS": (a.get("TATRANS") or {}).get(etcd)})
    return _frame(spec, "TA", rows)


def build_tv(spec: StudySpec, design: TrialDesign) -> pd.DataFrame:
    return _frame(spec, "TV", [dict(v) for v in design.visits])


def build_ti(spec: StudySpec, design: TrialDesign) -> pd.DataFrame:
    return _frame(spec, "TI", [dict(c) for c in design.criteria])


def build_ts(state: StudyState) -> pd.DataFrame:
    spec, design = state.spec, state.design
    ct_version = str(spec.study.get("standards", {}).get("ct", {}).get("SDTM", ""))
    parm_cl = _codelist_of(spec, "TS", "TSPARMCD")
    name_cl = _codelist_of(spec, "TS", "TSPARM")
    names = {}
    if parm_cl and name_cl:
        by_code = {t.code: t.value for t in name_cl.terms if t.code}
        names = {t.value: by_code.get(t.code) for t in parm_cl.terms}
    rows = []
    for t in design.summary:  # over trial summary parameters
        row = {k: v for k, v in t.items() if k not in ("derive", "codelist")}
        row.setdefault("TSPARM", names.get(t["TSPARMCD"]))
        if "derive" in t:
            value = _ts_derive(state, t["derive"])
            if value is None:
                row["TSVALNF"] = "NI"
            else:
                row["TSVAL"] = value
        if t.get("codelist"):
            term = next(x for x in spec.codelist(t["codelist"]).terms if x.value == str(t["TSVAL"]))
            row.setdefault("TSVALCD", term.code)
            row.setdefault("TSVCDREF", "CDISC CT")
            row.setdefault("TSVCDVER", ct_version)
        elif row.get("TSVCDREF") and not row.get("TSVALCD") and row.get("TSVAL") is not None:
            row["TSVALCD"] = row["TSVAL"]  # the value is itself the code in the reference (registry id, ISO code)
        row["TSVAL"] = None if row.get("TSVAL") is None else str(row["TSVAL"])
        rows.append(row)
    frame = _frame(spec, "TS", rows)
    frame["TSSEQ"] = frame.groupby("TSPARMCD", sort=False).cumcount().astype("float64") + 1
    return frame


def _ts_derive(state: StudyState, rule: Mapping[str, Any]) -> str | None:
    if "study" in rule:
        from cdiscflow.sdtm.mapping.algorithms import study_value

        return str(study_value(state.spec, str(rule["study"]))).strip()
    if "count" in rule:
        return str(state.dataset(rule["count"])["USUBJID"].nunique())
    pick = "first" if "first" in rule else "last"
    ds, var = str(rule[pick]).split(".")
    dates = source_dates(state, {"dataset": ds, "date": var}, pick=pick)
    if dates.empty:
        return None
    values = dates.sort_values()
    return str(values.iloc[0] if pick == "first" else values.iloc[-1])[:10]


# ---------------------------------------------------------------------------------------------------------------
# SE: subject elements


def build_se(state: StudyState) -> pd.DataFrame:
    """Per subject, the elements whose start rule finds a date, in date order; each ends where the next starts.

    An element's `start.after` lists earlier elements whose start its date must not precede (e.g. follow-up starts
    at the end of treatment *after* the last treatment element began).  The last element ends at `subject_end`.
    """
    spec, design = state.spec, state.design
    subjects = state.dataset("DM")["USUBJID"]
    starts: dict[str, pd.Series] = {}
    for e in design.elements:  # over elements (trial metadata)
        src = dict(e["start"])
        pick = src.get("pick", "first")
        after = [starts[a] for a in src.get("after") or () if a in starts]
        if not after:  # the subject's first (last) complete date of the source, by code
            starts[e["ETCD"]] = source_dates(state, src, pick=pick)
            continue
        cols = src["date"] if isinstance(src["date"], (list, tuple)) else [src["date"]]
        frame = source_frame(state, src, list(cols)).melt(id_vars="USUBJID", value_name="date")[["USUBJID", "date"]]
        frame = frame.dropna(subset=["date"])
        frame = frame[frame["date"].str.len() >= 10]
        floor = after[0]
        for other in after[1:]:  # over earlier elements: the latest of their starts
            floor = floor.reindex(floor.index.union(other.index))
            other = other.reindex(floor.index)
            floor = floor.where(floor.notna() & ((floor >= other) | other.isna()), other)
        lim = lookup(frame["USUBJID"], floor)
        frame = frame[lim.isna() | (frame["date"].str.slice(0, 10) >= lim.str.slice(0, 10))]
        frame = frame.sort_values(["USUBJID", "date"], kind="stable").groupby("USUBJID")["date"]
        starts[e["ETCD"]] = (frame.first() if pick == "first" else frame.last()).astype(str)
    order = {e["ETCD"]: i for i, e in enumerate(design.elements)}
    long = pd.concat([s.rename("SESTDTC").to_frame().assign(ETCD=k) for k, s in starts.items()]).reset_index()
    long = long[isin(long["USUBJID"], subjects)]
    long["_order"] = long["ETCD"].map(order)
    long = long.sort_values(["USUBJID", "SESTDTC", "_order"], kind="stable").reset_index(drop=True)
    nxt = long.groupby("USUBJID")["SESTDTC"].shift(-1)
    end = pd.Series(dtype=str)
    if design.subject_end:
        end = source_dates(state, design.subject_end, pick="last")
    last_end = lookup(long["USUBJID"], end)
    last_end = last_end.where(last_end.str.slice(0, 10) >= long["SESTDTC"].str.slice(0, 10))
    long["SEENDTC"] = nxt.fillna(last_end).astype(str)
    elements = {e["ETCD"]: e for e in design.elements}
    long["ELEMENT"] = long["ETCD"].map({k: v["ELEMENT"] for k, v in elements.items()})
    long["EPOCH"] = long["ETCD"].map({k: v["EPOCH"] for k, v in elements.items()})
    return _frame(spec, "SE", long)


def _elements_by_start(state: StudyState, se: pd.DataFrame) -> pd.DataFrame:
    """SE's elements with their start and end dates, in start order (once per run: every EPOCH reads them)."""
    cached = state.cache.get("se_by_start")
    if cached is not None and cached[0] is se:
        return cached[1]
    right = pd.DataFrame({"USUBJID": as_text(se["USUBJID"]).astype(str), "s": dates_of(state, se["SESTDTC"]),
                          "e": dates_of(state, se["SEENDTC"]), "EPOCH": se["EPOCH"]}).dropna(subset=["s"])
    # the next element starts on the day the previous ends: that day belongs to the next element
    right = right.sort_values(["s"], kind="stable")
    state.cache["se_by_start"] = (se, right)
    return right


def epoch_of(state: StudyState, usubjid: pd.Series, dates: pd.Series) -> pd.Series:
    """EPOCH of the SE element in which each date falls: SESTDTC <= date < SEENDTC (the last element: <= its end).

    Each record takes its subject's last element (in start order) starting on or before its date, found by one
    binary search over SE's elements ordered by (subject, start day); subjects are joined by code (no text hashed
    per record)."""
    se = state.dataset("SE")
    d = dates_of(state, dates).to_numpy()
    if is_text_category(usubjid):  # the records' subjects by code (missing: -1)
        key, subjects = usubjid.cat.codes.to_numpy().astype(np.int64), usubjid.cat.categories
    else:
        key, subjects = pd.factorize(as_text(usubjid), use_na_sentinel=True)
        key, subjects = key.astype(np.int64), pd.Index(subjects)
    dated = ~np.isnat(d)
    right = _elements_by_start(state, se) if dated.any() and not se.empty else None
    if right is None or right.empty:  # no dated record, or no element with a start
        return constant(None, dates.index)
    code = subjects.get_indexer(right["USUBJID"])
    code = np.where(code < 0, -2, code).astype(np.int64)  # a subject the records do not name: -2
    by_subject = np.argsort(code, kind="stable")  # subject, then start (SE's elements are in start order)
    starts = _subject_day(code[by_subject], right["s"].to_numpy()[by_subject])
    found = np.searchsorted(starts, _subject_day(key, np.where(dated, d, np.datetime64(0, "s"))), side="right") - 1
    element = by_subject[np.maximum(found, 0)]  # each record's candidate element (row of `right`)
    ends = right["e"].to_numpy()[element]
    epochs = as_text(right["EPOCH"]).astype(str)
    hit = (dated & (found >= 0) & (code[element] == key) & (np.isnat(ends) | (d <= ends))
           & epochs.notna().to_numpy()[element])
    pos = np.where(hit, element, -1)
    return pd.Series(pd.api.extensions.take(epochs.array, pos, allow_fill=True), index=dates.index, dtype=str)


def _subject_day(subject: np.ndarray, day: np.ndarray) -> np.ndarray:
    """(subject code, day) as one int64 that orders as the pair (codes from -2 up; days since 1970 of either sign)."""
    days = day.astype("datetime64[D]").astype(np.int64)
    return subject.astype(np.int64) * (1 << 32) + (days + (1 << 31))


# ---------------------------------------------------------------------------------------------------------------
# arms


def planned_arms(state: StudyState) -> pd.Series:
    """ARMCD per subject (index USUBJID) from the arms' `assign` rules; first matching arm wins."""
    if "planned_arms" in state.cache:
        return state.cache["planned_arms"]
    subjects = state.dataset("DM")["USUBJID"]
    out = pd.Series(np.nan, index=pd.Index(subjects, name="USUBJID"), dtype=str)
    default = None
    for a in state.design.arms:  # over arms
        if a["assign"] == "otherwise":
            default = a["ARMCD"]
            continue
        hits = source_frame(state, a["assign"], [])["USUBJID"]
        mask = isin(pd.Series(out.index, index=out.index), hits) & out.isna()
        out[mask] = a["ARMCD"]
    if default is not None:
        out = out.fillna(default)
    state.cache["planned_arms"] = out
    return out


def actual_arms(state: StudyState) -> pd.DataFrame:
    """ACTARMCD / ARMNRS / ACTARMUD per subject from the elements the subject went through (SE).

    The subject's element path must be the start of an arm's path: the planned arm if it fits, else the one arm that
    fits.  No exposure -> ARMNRS "ASSIGNED, NOT TREATED"; no arm fits -> "UNPLANNED TREATMENT" with the path in
    ACTARMUD.
    """
    if "actual_arms" in state.cache:
        return state.cache["actual_arms"]
    dm = state.dataset("DM")
    se = state.dataset("SE")
    planned = planned_arms(state)
    paths = join_per_group(se["USUBJID"], se["ETCD"], " ")  # each subject's elements in SE's order
    arm_paths = {a["ARMCD"]: " ".join(a["elements"]) for a in state.design.arms}
    subj = pd.DataFrame(index=pd.Index(dm["USUBJID"], name="USUBJID"))
    subj["path"] = paths.reindex(subj.index)
    subj["planned"] = planned.reindex(subj.index)
    treated = (dm.set_index("USUBJID")["RFXSTDTC"].notna() if "RFXSTDTC" in dm else subj["path"].notna())
    treated = treated.reindex(subj.index).fillna(False).astype(bool)
    fits = pd.DataFrame(index=subj.index)
    for code, path in arm_paths.items():  # over arms: a subject fits an arm whose path starts with the subject's
        steps = path.split()
        fits[code] = subj["path"].isin({" ".join(steps[:k]) for k in range(1, len(steps) + 1)})
    n_fit = fits.sum(axis=1)
    col = fits.columns.get_indexer(subj["planned"].fillna("").astype(str))
    planned_fits = pd.Series(np.where(col >= 0, fits.to_numpy()[np.arange(len(fits)), np.maximum(col, 0)], False),
                             index=subj.index)
    only = fits.idxmax(axis=1).where(n_fit == 1) if len(fits.columns) else pd.Series(np.nan, index=subj.index)
    act = subj["planned"].where(planned_fits, only).where(treated)
    nrs = pd.Series(np.nan, index=subj.index, dtype=str)
    nrs = nrs.mask(~treated, "ASSIGNED, NOT TREATED")
    nrs = nrs.mask(subj["planned"].isna(), "NOT ASSIGNED")
    unplanned = treated & act.isna()
    nrs = nrs.mask(unplanned, "UNPLANNED TREATMENT")
    names = {e["ETCD"]: e["ELEMENT"] for e in state.design.elements}
    steps = subj["path"].where(unplanned).dropna().str.split().explode()
    ud = join_per_group(pd.Series(steps.index, index=steps.index), steps.map(names), "; ").reindex(subj.index)
    out = pd.DataFrame({"ACTARMCD": act.astype(str), "ARMNRS": nrs, "ACTARMUD": ud.astype(str)})
    state.cache["actual_arms"] = out
    return out
