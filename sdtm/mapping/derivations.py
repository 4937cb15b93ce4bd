"""Dataset-level SDTM derivations, done once and generically; the spec names them in a mapping's `derive:` section.

    AESEQ:   {derive: seq, by: [AESTDTC, AEDECOD]}
    AESTDY:  {derive: study_day, date: AESTDTC}
    EPOCH:   {derive: epoch, date: AESTDTC}
    RFXSTDTC: {derive: first_date, sources: [{dataset: EX, date: EXSTDTC}]}
    EPOCH:   {derive: epoch, date: DSSTDTC, fill: true}     # only where the blocks left EPOCH missing

Every derivation has one signature, `fn(state, dataset, frame, rule) -> Derived`, and a *stage*; the engine runs
the stages in order over all datasets (within a stage: datasets and variables in spec order):

    record   needs only the record and the trial design (VISITNUM); its problems can reject raw rows
    subject  subject-level facts from other datasets (RF dates, death, age)
    arms     after SE is built: planned and actual arm
    timing   EPOCH, study days
    seq      --SEQ, last, once the records are final
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from cdiscflow.core.frames import as_text, is_text_category, text_per_distinct
from cdiscflow.sdtm.mapping.state import StudyState, dates_of, source_frame, sources_dates
from cdiscflow.sdtm.raw.dates import age_in_years, study_day_of_dates
from cdiscflow.core.text import extract, isin, lookup, sort_positions
from cdiscflow.sdtm.trial_design import actual_arms, epoch_of, planned_arms
from cdiscflow.specs.cdisc import pattern_problem
from cdiscflow.specs.model import Rule

STAGES = ("record", "subject", "arms", "timing", "seq")


@dataclass
class Derived:
    values: pd.Series
    problems: pd.DataFrame | None = None  # index = frame rows; rule_id, message, value, expected


@dataclass(frozen=True)
class Derivation:
    name: str
    stage: str
    fn: Callable[[StudyState, str, pd.DataFrame, Rule], Derived]
    args: tuple[str, ...] = ()  # required rule arguments
    doc: str = ""


REGISTRY: dict[str, Derivation] = {}


def derivation(name: str, stage: str, args: tuple[str, ...] = ()):
    def register(fn):
        REGISTRY[name] = Derivation(name, stage, fn, args, (fn.__doc__ or "").strip().splitlines()[0])
        return fn
    return register


def _per_subject(frame: pd.DataFrame, values: pd.Series) -> pd.Series:
    """Broadcast a per-subject series (index USUBJID) onto the frame's records."""
    return lookup(frame["USUBJID"], values)


# ---------------------------------------------------------------------------------------------------------------
# record stage


@derivation("visitnum", "record", ("visit",))
def derive_visitnum(state: StudyState, dataset: str, frame: pd.DataFrame, rule: Rule) -> Derived:
    """VISITNUM from the planned visits (TV) by visit name; a visit TV does not plan is a problem.

    With `unplanned: TEXT` (and `date`), a visit whose name contains TEXT (e.g. UNSCHEDULED) is numbered after the
    subject's latest planned visit on or before its date: that VISITNUM + 0.01, 0.02 ... in date order.
    With `number_from: PATTERN` a visit TV does not plan whose upper-cased name matches the regular expression takes
    the number in its group `value` (`"^UNSCHEDULED (?P<value>\\d+(?:\\.\\d+)?)$"`: UNSCHEDULED 3.1 is VISITNUM 3.1).
    """
    visit = frame[rule.get("visit")]
    upper = text_per_distinct(visit, lambda u: u.str.upper())  # visit names repeat: once per distinct name
    table = {str(v["VISIT"]).upper(): float(v["VISITNUM"]) for v in state.design.visits}
    num = lookup(upper, pd.Series(table, dtype="float64"))
    number_from = rule.get("number_from")
    if number_from:  # unplanned visits that carry their number in their name: "UNSCHEDULED 3.1" is visit 3.1
        named = pd.to_numeric(extract(upper, str(number_from))["value"], errors="coerce")
        num = num.fillna(named)
    marker = rule.get("unplanned")
    if marker:
        unplanned = upper.str.contains(str(marker).upper(), regex=False).fillna(False)
        num = num.mask(unplanned, _unplanned_visitnum(state, frame, num, unplanned.astype(bool), visit, str(marker),
                                                      rule.get("date")))
    bad = visit.notna() & num.isna()
    probs = None
    if bad.any():
        probs = pd.DataFrame({"rule_id": "MAP-VISIT", "message": f"{rule.get('visit')} is not a visit planned in TV",
                              "value": as_text(visit)[bad].astype(str),
                              "expected": "a VISIT of trial_design.yaml visits"},
                             index=bad[bad].index)
    return Derived(num, probs)


def _unplanned_visitnum(state: StudyState, frame: pd.DataFrame, planned_num: pd.Series, unplanned: pd.Series,
                        visit: pd.Series, marker: str, date_var) -> pd.Series:
    """Unplanned visits numbered after the latest planned visit on or before their date among the planned visits
    whose name starts like theirs ("PART A UNSCHEDULED 1" follows a "PART A ..." visit): VISITNUM + 0.01 * k.

    In numpy: the anchors (dated planned records) ordered by (subject, day), the latest one on or before each
    unplanned record's day found by binary search, per visit-name prefix."""
    day = dates_of(state, _first_of(frame, date_var)).to_numpy()
    dated = ~np.isnat(day)
    day = np.where(dated, day, np.datetime64(0, "s")).astype("datetime64[D]").astype(np.int64)
    name = text_per_distinct(visit, lambda u: u.str.upper())
    pattern = "^(?P<p>.*?)" + re.escape(marker.upper())
    prefix = text_per_distinct(name, lambda u: extract(u, pattern)["p"]).where(unplanned)
    subject = frame["USUBJID"]
    subject = subject.cat.codes.to_numpy() if is_text_category(subject) else pd.factorize(subject)[0]
    num = planned_num.to_numpy(dtype="float64", na_value=np.nan)
    anchor = dated & (subject >= 0) & ~np.isnan(num) & name.notna().to_numpy()
    todo = dated & (subject >= 0) & unplanned.to_numpy(dtype=bool)
    key = subject.astype(np.int64) * (1 << 32) + (day + (1 << 31))  # orders as (subject, day)
    rows, nums = [], []
    for pre in prefix[todo].dropna().unique():  # over visit-name prefixes (PART A, PART B)
        a = np.flatnonzero(anchor & name.str.startswith(pre).to_numpy(dtype=bool))
        t = np.flatnonzero(todo & (prefix == pre).to_numpy(dtype=bool))
        if not (len(a) and len(t)):
            continue
        a = a[np.lexsort((num[a], key[a]))]
        a = a[np.append(key[a][1:] != key[a][:-1], True)]  # per subject and day: the highest planned number
        at = np.searchsorted(key[a], key[t], side="right") - 1  # the latest anchor on or before, if the subject's
        hit = (at >= 0) & (subject[a][np.maximum(at, 0)] == subject[t])
        rows.append(t[hit])
        nums.append(num[a][at[hit]])
    out = np.full(len(frame), np.nan)
    if rows:
        rows, nums = np.concatenate(rows), np.concatenate(nums)
        # the same unplanned visit date is one visit; distinct dates after the same anchor count 1, 2 ...
        order = np.lexsort((day[rows], nums, subject[rows]))
        r, n, d = rows[order], nums[order], day[rows][order]
        group = np.ones(len(r), dtype=bool)
        group[1:] = (subject[r][1:] != subject[r][:-1]) | (n[1:] != n[:-1])
        new_day = group.copy()
        new_day[1:] |= d[1:] != d[:-1]
        count = np.cumsum(new_day)
        rank = count - np.maximum.accumulate(np.where(group, count, 0)) + 1
        out[r] = np.round(n + rank / 100, 2)
    return pd.Series(out, index=frame.index)


@derivation("visitdy", "record", ("visitnum",))
def derive_visitdy(state: StudyState, dataset: str, frame: pd.DataFrame, rule: Rule) -> Derived:
    """VISITDY: the planned study day of the visit (TV.VISITDY by VISITNUM); missing for visits TV does not plan."""
    table = {float(v["VISITNUM"]): float(v["VISITDY"]) for v in state.design.visits
             if v.get("VISITDY") is not None and not v.get("ARMCD")}
    num = frame[rule.get("visitnum")].astype("float64")
    return Derived(num.map(pd.Series(table, dtype="float64")).astype("float64"))


@derivation("numeric", "record", ("variable",))
def derive_numeric(state: StudyState, dataset: str, frame: pd.DataFrame, rule: Rule) -> Derived:
    """The number in a character result where it is one (--STRESN from --STRESC: "36.5" -> 36.5, "<0.5" missing)."""
    return Derived(pd.to_numeric(frame[rule.get("variable")], errors="coerce").astype("float64"))


# ---------------------------------------------------------------------------------------------------------------
# subject stage


def _dates(state: StudyState, rule: Rule, pick: str) -> pd.Series:
    return sources_dates(state, list(rule.get("sources")), pick=pick)


@derivation("first_date", "subject", ("sources",))
def derive_first_date(state, dataset, frame, rule) -> Derived:
    """Earliest complete date per subject over the sources (e.g. RFXSTDTC = first EXSTDTC)."""
    return Derived(_per_subject(frame, _dates(state, rule, "first")).astype(str))


@derivation("last_date", "subject", ("sources",))
def derive_last_date(state, dataset, frame, rule) -> Derived:
    """Latest complete date per subject over the sources (e.g. RFPENDTC = last contact of any kind)."""
    return Derived(_per_subject(frame, _dates(state, rule, "last")).astype(str))


@derivation("lookup", "subject", ("dataset", "value"))
def derive_lookup(state, dataset, frame, rule) -> Derived:
    """A variable of another dataset per subject (first record meeting `where`, in that dataset's order)."""
    src = {"dataset": rule.get("dataset"), "where": rule.get("where") or {}}
    found = source_frame(state, src, [rule.get("value")]).dropna(subset=[rule.get("value")])
    first = found.groupby("USUBJID", sort=False)[rule.get("value")].first()
    return Derived(_per_subject(frame, first))


@derivation("flag", "subject", ("dataset",))
def derive_flag(state, dataset, frame, rule) -> Derived:
    """"Y" when the subject has a record meeting `where` in the dataset, else missing (never "N")."""
    src = {"dataset": rule.get("dataset"), "where": rule.get("where") or {}}
    flag = isin(frame["USUBJID"], source_frame(state, src, [])["USUBJID"])
    return Derived(pd.Series(np.where(flag, "Y", None), index=frame.index, dtype=str))


@derivation("age", "subject", ("birth", "reference"))
def derive_age(state, dataset, frame, rule) -> Derived:
    """Age in completed years at the reference date (both complete dates; no imputation)."""
    return Derived(age_in_years(frame[rule.get("birth")], frame[rule.get("reference")]))


@derivation("hardcode_if", "subject", ("value", "present"))
def derive_hardcode_if(state, dataset, frame, rule) -> Derived:
    """A constant where another variable of the record is filled in (e.g. AGEU where AGE is known)."""
    present = frame[rule.get("present")].notna()
    return Derived(pd.Series(np.where(present, str(rule.get("value")), None), index=frame.index, dtype=str))


@derivation("last_before", "subject", ("date",))
def derive_last_before(state, dataset, frame, rule) -> Derived:
    """--LOBXFL: "Y" on the last record per subject and `by` with a complete date on or before DM.RFXSTDTC."""
    ref_var = rule.get("reference", "RFXSTDTC")
    by = list(rule.get("by") or ())
    dm = state.dataset("DM").drop_duplicates("USUBJID").set_index("USUBJID")[ref_var]
    d = dates_of(state, frame[rule.get("date")])
    ref = dates_of(state, lookup(frame["USUBJID"], dm))
    eligible = d.notna() & ref.notna() & (d <= ref)
    work = frame.loc[eligible, ["USUBJID", *by]].assign(_d=d[eligible])
    work = work.sort_values(["USUBJID", *by, "_d"], kind="stable", na_position="first")
    last = work.groupby(["USUBJID", *by], dropna=False, sort=False).tail(1).index
    out = pd.Series(np.nan, index=frame.index, dtype=str)
    out.loc[last] = "Y"
    return Derived(out)


# ---------------------------------------------------------------------------------------------------------------
# arms stage


@derivation("planned_arm", "arms")
def derive_planned_arm(state, dataset, frame, rule) -> Derived:
    """ARMCD from the arms' assignment rules in trial_design.yaml."""
    return Derived(_per_subject(frame, planned_arms(state)).astype(str))


@derivation("actual_arm", "arms")
def derive_actual_arm(state, dataset, frame, rule) -> Derived:
    """ACTARMCD: the arm whose element path the subject's SE path follows (planned arm preferred)."""
    return Derived(_per_subject(frame, actual_arms(state)["ACTARMCD"]).astype(str))


@derivation("arm_name", "arms", ("code",))
def derive_arm_name(state, dataset, frame, rule) -> Derived:
    """ARM / ACTARM: the description of the arm code in `code` (TA)."""
    return Derived(frame[rule.get("code")].map(state.design.arm_names).astype(str))


@derivation("arm_null_reason", "arms")
def derive_arm_null_reason(state, dataset, frame, rule) -> Derived:
    """ARMNRS when ARMCD/ACTARMCD is null: NOT ASSIGNED, ASSIGNED NOT TREATED, UNPLANNED TREATMENT."""
    return Derived(_per_subject(frame, actual_arms(state)["ARMNRS"]).astype(str))


@derivation("unplanned_arm", "arms")
def derive_unplanned_arm(state, dataset, frame, rule) -> Derived:
    """ACTARMUD: the elements an unplanned-treatment subject went through."""
    return Derived(_per_subject(frame, actual_arms(state)["ACTARMUD"]).astype(str))


# ---------------------------------------------------------------------------------------------------------------
# timing stage


def _first_of(frame: pd.DataFrame, names) -> pd.Series:
    """The first non-missing of one or several date variables, per record."""
    names = list(names) if isinstance(names, (list, tuple)) else [names]
    if len(names) == 1:  # as it is (a compacted column stays coded: its dates are parsed by code)
        return frame[names[0]]
    out = as_text(frame[names[0]])
    for n in names[1:]:  # over variables
        out = out.fillna(as_text(frame[n]))
    return out


@derivation("epoch", "timing", ("date",))
def derive_epoch(state, dataset, frame, rule) -> Derived:
    """EPOCH of the subject's element (SE) in which the record's date (first filled of `date`) falls."""
    return Derived(epoch_of(state, frame["USUBJID"], _first_of(frame, rule.get("date"))))


@derivation("study_day", "timing", ("date",))
def derive_study_day(state, dataset, frame, rule) -> Derived:
    """--DY: date - reference + 1 on/after the reference (DM.RFSTDTC unless `reference`), date - reference before."""
    ref_var = rule.get("reference", "RFSTDTC")
    if dataset == "DM" and ref_var in frame:
        reference = dates_of(state, frame[ref_var])
    else:
        reference = _subject_dates(state, frame["USUBJID"], ref_var)
    # dates parsed once per run (dates_of), then sdtm.raw.dates' formula
    return Derived(study_day_of_dates(dates_of(state, frame[rule.get("date")]), reference))


def _subject_dates(state: StudyState, usubjid: pd.Series, variable: str) -> pd.Series:
    """A date variable of DM (its first record per subject) parsed (`dates_of`), per record of `usubjid`: DM's dates
    parsed per subject and taken to the records by subject code (no text per record); NaT where DM has none."""
    dm_subjects, dm_dates = _dm_first_dates(state, variable)
    if is_text_category(usubjid):
        codes, subjects = usubjid.cat.codes.to_numpy(), usubjid.cat.categories
    else:
        codes, subjects = pd.factorize(usubjid, use_na_sentinel=True)
    at = dm_subjects.get_indexer(subjects)  # each subject's place among DM's subjects, or -1 (the NaT after them)
    return pd.Series(np.append(dm_dates[at], np.datetime64("NaT", "s"))[codes], index=usubjid.index)  # -1: NaT


def _dm_first_dates(state: StudyState, variable: str) -> tuple[pd.Index, np.ndarray]:
    """DM's subjects (each once) and the parsed date of `variable` on each subject's first DM record, NaT appended
    (for subjects DM lacks).  Kept while DM holds the same USUBJID and `variable` columns (the same array objects):
    every study day of the timing stage reads them (23 calls on the embedded study).  The engine replaces DM's
    columns or DM itself (new arrays), never edits them in place; code that edits DM in place (`dm.loc[...] = ...`
    keeps the arrays) between derivations must empty `state.cache["dm_first_dates"]`."""
    dm = state.dataset("DM")
    usubjid, values = dm["USUBJID"], dm[variable]
    memo = state.cache.setdefault("dm_first_dates", {})
    kept = memo.get(variable)
    if kept is not None and kept[0] is usubjid.array and kept[1] is values.array:
        return kept[2]
    dm_subjects = pd.Index(as_text(usubjid).astype(str))
    first = ~dm_subjects.duplicated()  # each subject's first DM record
    dates = np.append(dates_of(state, values).to_numpy()[first], np.datetime64("NaT", "s"))
    memo[variable] = (usubjid.array, values.array, (dm_subjects[first], dates))
    return dm_subjects[first], dates


# ---------------------------------------------------------------------------------------------------------------
# seq stage


@derivation("seq", "seq")
def derive_seq(state, dataset, frame, rule) -> Derived:
    """--SEQ: 1, 2, ... within subject, ordered by `by` then by raw origin (stable for the same input)."""
    by = list(rule.get("by") or ())
    prov = state.provenance.get(dataset)  # aligned on the frame's index
    keys = [frame["USUBJID"], *(frame[b] for b in by), *((prov["source"], prov["row"]) if prov is not None else ())]
    pos = sort_positions(keys, missing="last")  # by subject, `by`, raw origin
    subject = frame["USUBJID"]
    codes = subject.cat.codes.to_numpy() if is_text_category(subject) else pd.factorize(subject)[0]
    ordered = codes[pos]
    first = np.ones(len(pos), dtype=bool)  # where each subject's records start in that order
    first[1:] = ordered[1:] != ordered[:-1]
    at = np.arange(len(pos))
    seq = np.empty(len(pos), dtype="float64")
    seq[pos] = at - np.maximum.accumulate(np.where(first, at, 0)) + 1
    return Derived(pd.Series(np.where(codes < 0, np.nan, seq), index=frame.index))  # no subject: no --SEQ


def check_derive(rule: Rule) -> str | None:
    """Problem text if a derive rule names an unknown derivation or lacks an argument, else None."""
    d = REGISTRY.get(rule.source)
    if d is None:
        return f"unknown derivation {rule.source!r} (known: {', '.join(sorted(REGISTRY))})"
    missing = [a for a in d.args if rule.get(a) is None]
    if missing:
        return f"derivation {rule.source} needs {', '.join(missing)}"
    if rule.get("number_from") is not None:
        return pattern_problem(rule.get("number_from"))
    return None

