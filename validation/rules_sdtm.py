"""SDTM conformance rules: subjects and records, study days, trial design, death, adverse events, response, exposure.
Registered with `@rule` (validation/rulebook.py) when imported by the catalogue (validation/rules.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdiscflow.validation import iso8601
from cdiscflow.core.text import isin, lookup
from cdiscflow.validation.metadata import response_criteria
from cdiscflow.validation.schema import repeats_a_key
from cdiscflow.validation.rulebook import (RuleContext, Scope, WholeStudy, rule, datasets_with, finding, _text, _is,
                                          _domain_prefix)


# ----------------------------------------------------------------------------------------------------------------
# SDTM: subjects and records


@rule("CF-SUBJ-001", "error", "USUBJID is not a subject in DM", requires=("DM.USUBJID",),
      scope=datasets_with("SDTM", "USUBJID", exclude=("DM",)), references="CORE-000201 (CG0029)")
def subjects_in_dm(ctx: RuleContext, targets: list[str]):
    known = ctx.subjects_of("DM")
    for name in targets:
        usubjid = ctx[name]["USUBJID"]
        yield ctx.hits(name, usubjid.notna() & ~isin(usubjid, known), "USUBJID", value=usubjid,
                       expected="a USUBJID of DM")


def _seq_datasets(ctx: RuleContext) -> list[str]:
    return [n for n in ctx.names("SDTM", "USUBJID")
            if f"{_domain_prefix(n, ctx[n])}SEQ" in ctx[n].columns]


@rule("CF-SEQ-001", "error", "--SEQ is not unique within the subject",
      scope=Scope("SDTM datasets with USUBJID and --SEQ", _seq_datasets), references="CORE-000544 (CG0028)")
def seq_unique(ctx: RuleContext, targets: list[str]):
    for name in targets:
        df = ctx[name]
        seq = f"{_domain_prefix(name, df)}SEQ"
        if not repeats_a_key(df, ["USUBJID", seq]):  # the usual case, from codes: no record to flag
            continue
        dup = df.duplicated(["USUBJID", seq], keep=False) & df["USUBJID"].notna() & df[seq].notna()
        yield ctx.hits(name, dup, seq, value=df[seq], expected="unique per USUBJID",
                       message=f"{name}: {seq} is used more than once for the subject")


def _date_pairs(df: pd.DataFrame) -> list[tuple[str, str]]:
    return [(c, c[:-5] + "ENDTC") for c in df.columns if c.endswith("STDTC") and c[:-5] + "ENDTC" in df.columns]


@rule("CF-DTC-001", "error", "start date/time is after the end date/time",
      scope=Scope("SDTM datasets with --STDTC and --ENDTC", lambda ctx: [
          n for n in ctx.names("SDTM") if _date_pairs(ctx[n])]),
      references="CORE-000718 (FB3209), CORE-000711 (FB3404), CORE-000714 (FB3408)")
def start_before_end(ctx: RuleContext, targets: list[str]):
    for name in targets:
        df = ctx[name]
        for start, end in _date_pairs(df):
            after = iso8601.compare(iso8601.parts(df[start]), iso8601.parts(df[end])) > 0
            rows = df.index[after]
            value = df.loc[rows, start].astype(str) + " > " + df.loc[rows, end].astype(str)
            yield ctx.hits(name, after, f"{start}, {end}", value=value, expected=f"{start} <= {end}",
                           message=f"{name}: {start} is after {end} (compared to the precision both have)")


# ----------------------------------------------------------------------------------------------------------------
# SDTM: study days


def _dy_pairs(df: pd.DataFrame) -> list[tuple[str, str]]:
    return [(c, c[:-2] + "DTC") for c in df.columns if c.endswith("DY") and c[:-2] + "DTC" in df.columns]


def _dy_datasets(ctx: RuleContext) -> list[str]:
    return [n for n in ctx.names("SDTM", "USUBJID", exclude=("DM",)) if _dy_pairs(ctx[n])]


def _study_days(ctx: RuleContext, name: str) -> list[tuple]:
    """(dy column, dtc column, dy values, expected day, computable mask, subject in DM mask) per --DY pair;
    computed once per dataset and shared by CF-DY-001 and CF-DY-002."""

    def compute() -> list[tuple]:
        ref = ctx.per_subject("DM", "RFSTDTC")
        ref_date = ctx.cached(("reference dates",), lambda: iso8601.to_date(ref) if len(ref)
                              else pd.Series(dtype="datetime64[s]"))  # one parse for every dataset
        df = ctx[name]
        if not len(df):  # no records (a partition without subjects): no study days to check
            return []
        in_dm = pd.Series(isin(df["USUBJID"], ref.index), index=df.index)
        r = lookup(df["USUBJID"], ref_date)
        out = []
        for dy, dtc in _dy_pairs(df):
            d = iso8601.to_date(df[dtc])
            delta = (d - r).dt.days
            expected = delta + (delta >= 0)
            out.append((dy, dtc, pd.to_numeric(df[dy], errors="coerce"), expected, d.notna() & r.notna(), in_dm))
        return out

    return ctx.cached(("study days", name), compute)


@rule("CF-DY-001", "error", "--DY does not match the date and DM.RFSTDTC (or is 0)",
      requires=("DM.USUBJID", "DM.RFSTDTC"),
      scope=Scope("SDTM datasets with --DY and --DTC pairs", _dy_datasets),
      references="CORE-000529 (CG0006), CORE-000558")
def study_day_value(ctx: RuleContext, targets: list[str]):
    for name in targets:
        for dy, dtc, value, expected, computable, _ in _study_days(ctx, name):
            wrong = value.notna() & ((computable & value.ne(expected)) | value.eq(0))
            if not wrong.any():  # (the expected days are converted for every record)
                continue
            yield ctx.hits(name, wrong, dy, value=value, expected=expected.astype("Int64"),
                           message=f"{name}: {dy} is not the study day of {dtc} counted from DM.RFSTDTC "
                                   f"(day 1 = RFSTDTC, no day 0)")


@rule("CF-DY-002", "error", "--DY is populated although the date or DM.RFSTDTC is not a complete date",
      requires=("DM.USUBJID", "DM.RFSTDTC"), scope=Scope("SDTM datasets with --DY and --DTC pairs", _dy_datasets),
      references="CORE-000354 (CG0007), CORE-000139 (CG0223)")
def study_day_without_dates(ctx: RuleContext, targets: list[str]):
    for name in targets:
        for dy, dtc, value, _, computable, in_dm in _study_days(ctx, name):
            yield ctx.hits(name, value.notna() & ~computable & in_dm, dy, value=value,
                           expected=f"missing unless {dtc} and DM.RFSTDTC are complete dates",
                           message=f"{name}: {dy} is populated but {dtc} or DM.RFSTDTC lacks a complete date")


# ----------------------------------------------------------------------------------------------------------------
# SDTM: trial design


@rule("CF-EPOCH-001", "error", "EPOCH is not an epoch of the trial arms (TA.EPOCH)", requires=("TA.EPOCH",),
      scope=datasets_with("SDTM", "EPOCH", exclude=("TA",)), references="CORE-000271 (CG0009)")
def epoch_in_ta(ctx: RuleContext, targets: list[str]):
    known = pd.Index(ctx["TA"]["EPOCH"].dropna().unique()) if "EPOCH" in ctx["TA"] else pd.Index([])
    for name in targets:
        epoch = ctx[name]["EPOCH"]
        yield ctx.hits(name, epoch.notna() & ~isin(epoch, known), "EPOCH", value=epoch,
                       expected=" | ".join(map(str, known)) or "a TA.EPOCH value")


_ARM_PAIRS = (  # (code, name, codes allowed outside TA, rule)
    ("ARMCD", "ARM", ("SCRNFAIL", "NOTASSGN"), "CF-ARM-001"),
    ("ACTARMCD", "ACTARM", ("SCRNFAIL", "NOTASSGN", "NOTTRT", "UNPLAN"), "CF-ARM-002"),
)


def _arm_hits(ctx: RuleContext, rule_id: str):
    code, label, exempt, _ = next(p for p in _ARM_PAIRS if p[3] == rule_id)
    dm, ta = ctx["DM"], ctx["TA"]
    if code not in dm.columns or "ARMCD" not in ta.columns:
        return
    arms = ta[[c for c in ("ARMCD", "ARM") if c in ta.columns]].drop_duplicates()
    pair = label in dm.columns and "ARM" in arms.columns
    left = dm[[code, label]] if pair else dm[[code]]
    right = arms.rename(columns={"ARMCD": code, "ARM": label}) if pair else arms[["ARMCD"]].rename(
        columns={"ARMCD": code})
    matched = left.merge(right.drop_duplicates().assign(_ok=True), how="left", on=list(left.columns))["_ok"]
    x = dm[code]
    bad = x.notna() & ~x.isin(exempt) & matched.isna().to_numpy()
    value = _text(x) + (" / " + _text(dm[label]) if pair else "")
    expected = " | ".join((_text(arms["ARMCD"]) + (" / " + _text(arms["ARM"]) if pair else "")).map(str).tolist())
    yield ctx.hits("DM", bad, f"{code}, {label}" if pair else code, value=value, expected=expected,
                   message=f"DM: {code}" + (f"/{label}" if pair else "") + " is not an arm of TA")


@rule("CF-ARM-001", "error", "ARMCD/ARM is not an arm of TA", requires=("DM.ARMCD", "TA.ARMCD"),
      references="CORE-000531 (CG0126), CORE-000367 (CG0117), CORE-000318 (FB0902)")
def planned_arm_in_ta(ctx: RuleContext, targets: list[str]):
    yield from _arm_hits(ctx, "CF-ARM-001")


@rule("CF-ARM-002", "error", "ACTARMCD/ACTARM is not an arm of TA", requires=("DM.ACTARMCD", "TA.ARMCD"),
      references="CORE-000331 (CG0124, CG0125), CORE-000208 (CG0512)")
def actual_arm_in_ta(ctx: RuleContext, targets: list[str]):
    yield from _arm_hits(ctx, "CF-ARM-002")


@rule("CF-TE-001", "error", "ETCD is not an element of TE", requires=("TE.ETCD",),
      scope=Scope("TA or SE with ETCD", lambda ctx: [n for n in ("TA", "SE") if n in ctx and "ETCD" in ctx[n]]),
      references="SDTMIG 3.4 trial design model (TE describes every element TA and SE use); SDTMIG 3.4 SE: "
                 "an unplanned element is ETCD = UNPLAN, described by SEUPDES")
def elements_in_te(ctx: RuleContext, targets: list[str]):
    known = pd.Index(ctx["TE"]["ETCD"].dropna().unique()) if "ETCD" in ctx["TE"] else pd.Index([])
    for name in targets:
        etcd = ctx[name]["ETCD"]
        allowed = known.append(pd.Index([UNPLANNED_ELEMENT])) if name == "SE" else known
        yield ctx.hits(name, etcd.notna() & ~isin(etcd, allowed), "ETCD", value=etcd,
                       expected=" | ".join(map(str, allowed)))


UNPLANNED_ELEMENT = "UNPLAN"  # SDTMIG 3.4 SE: the ETCD of an element the trial design does not plan


# ----------------------------------------------------------------------------------------------------------------
# SDTM: death


def _dm_col(ctx: RuleContext, column: str) -> pd.Series:
    dm = ctx["DM"]
    return dm[column] if column in dm.columns else pd.Series(np.nan, index=dm.index, dtype=object)


def _dm_rows_for(ctx: RuleContext, subjects: pd.Index) -> pd.Series:
    return ctx["DM"]["USUBJID"].isin(subjects)


@rule("CF-DTH-001", "error", "DTHDTC is populated but DTHFL is not 'Y'", requires=("DM",),
      references="CORE-000007 (CG0435)")
def death_date_needs_flag(ctx: RuleContext, targets: list[str]):
    dthdtc, dthfl = _dm_col(ctx, "DTHDTC"), _dm_col(ctx, "DTHFL")
    yield ctx.hits("DM", dthdtc.notna() & ~_is(dthfl, "Y"), "DTHFL", value=dthfl, expected="Y")


@rule("CF-DTH-002", "error", "DTHFL has a value other than 'Y' (it is 'Y' or missing)", requires=("DM",),
      references="CORE-000006 (CG0131)")
def death_flag_values(ctx: RuleContext, targets: list[str]):
    dthfl = _dm_col(ctx, "DTHFL")
    yield ctx.hits("DM", dthfl.notna() & ~_is(dthfl, "Y"), "DTHFL", value=dthfl, expected="Y or missing")


def _ds_death(ctx: RuleContext) -> pd.Series:
    ds = ctx["DS"]
    return _is(ds["DSDECOD"], "DEATH") if "DSDECOD" in ds.columns else pd.Series(False, index=ds.index)


@rule("CF-DTH-003", "error", "DS records a death but DM.DTHFL is not 'Y'", requires=("DM.USUBJID", "DS.USUBJID"),
      references="CORE-000252 (CG0136)")
def ds_death_needs_flag(ctx: RuleContext, targets: list[str]):
    dead = pd.Index(ctx["DS"].loc[_ds_death(ctx), "USUBJID"].dropna().unique())
    dthfl = _dm_col(ctx, "DTHFL")
    yield ctx.hits("DM", _dm_rows_for(ctx, dead) & ~_is(dthfl, "Y"), "DTHFL", value=dthfl, expected="Y",
                   message="DM: DS has a DSDECOD = DEATH record for the subject but DTHFL is not Y")


@rule("CF-DTH-004", "warning", "DM.DTHFL is 'Y' but DS has no DSDECOD = DEATH record",
      requires=("DM.USUBJID", "DS.USUBJID"),
      references="CORE-000679 (FB0608)")
def flag_needs_ds_death(ctx: RuleContext, targets: list[str]):
    dead = pd.Index(ctx["DS"].loc[_ds_death(ctx), "USUBJID"].dropna().unique())
    dthfl = _dm_col(ctx, "DTHFL")
    yield ctx.hits("DM", _is(dthfl, "Y") & ~_dm_rows_for(ctx, dead), "DTHFL", value=dthfl,
                   expected="a DS record with DSDECOD = DEATH")


@rule("CF-DTH-005", "warning", "DTHFL is 'Y' but DTHDTC is missing (acceptable only if the date is unknown)",
      requires=("DM",), references="CORE-000705 (FB0610)")
def flag_needs_date(ctx: RuleContext, targets: list[str]):
    dthfl, dthdtc = _dm_col(ctx, "DTHFL"), _dm_col(ctx, "DTHDTC")
    yield ctx.hits("DM", _is(dthfl, "Y") & dthdtc.isna(), "DTHDTC", value="", expected="date of death")


@rule("CF-DTH-006", "error", "AE records a fatal event (AESDTH = Y or AEOUT = FATAL) but DM.DTHFL is not 'Y'",
      requires=("DM.USUBJID", "AE.USUBJID"), references="CORE-000253 (CG0135), CORE-000254 (CG0134)")
def fatal_ae_needs_flag(ctx: RuleContext, targets: list[str]):
    ae = ctx["AE"]
    fatal = pd.Series(False, index=ae.index)
    for col, value in (("AESDTH", "Y"), ("AEOUT", "FATAL")):
        if col in ae.columns:
            fatal |= _is(ae[col], value)
    dead = pd.Index(ae.loc[fatal, "USUBJID"].dropna().unique())
    dthfl = _dm_col(ctx, "DTHFL")
    yield ctx.hits("DM", _dm_rows_for(ctx, dead) & ~_is(dthfl, "Y"), "DTHFL", value=dthfl, expected="Y")


@rule("CF-DTH-007", "warning", "the DS death date differs from DM.DTHDTC", requires=("DM.USUBJID", "DS.USUBJID"),
      references="SDTMIG 3.4 DM/DS assumptions (DTHDTC and the DS death record describe one event)")
def death_dates_agree(ctx: RuleContext, targets: list[str]):
    ds = ctx["DS"]
    if "DSSTDTC" not in ds.columns:
        return
    death = _ds_death(ctx)
    dthdtc = ctx.subject_value("DS", "DM", "DTHDTC")
    ds_day, dm_day = iso8601.to_date(ds["DSSTDTC"]), iso8601.to_date(dthdtc)
    differ = death & ds_day.notna() & dm_day.notna() & ds_day.ne(dm_day)
    yield ctx.hits("DS", differ, "DSSTDTC", value=ds["DSSTDTC"], expected=iso8601.date_part(dthdtc),
                   message="DS: the DEATH record's DSSTDTC is not the date of DM.DTHDTC")


# ----------------------------------------------------------------------------------------------------------------
# SDTM: adverse events

_SERIOUS_CRITERIA = ("AESCAN", "AESCONG", "AESDISAB", "AESDTH", "AESHOSP", "AESLIFE", "AESOD", "AESMIE")


def _criteria(ae: pd.DataFrame) -> tuple[list[str], pd.Series]:
    flags = [c for c in _SERIOUS_CRITERIA if c in ae.columns]
    any_y = ae[flags].eq("Y").any(axis=1) if flags else pd.Series(False, index=ae.index)
    return flags, any_y


@rule("CF-AE-001", "error", "AESER is 'Y' but no seriousness criterion (AESCAN ... AESMIE) is 'Y'",
      requires=("AE",), scope=Scope("AE with AESER", lambda ctx: ["AE"] if "AESER" in ctx["AE"] else []),
      references="CORE-000266 (CG0042)")
def serious_needs_criterion(ctx: RuleContext, targets: list[str]):
    ae = ctx["AE"]
    _, any_y = _criteria(ae)
    yield ctx.hits("AE", _is(ae["AESER"], "Y") & ~any_y, "AESER", value="Y",
                   expected="at least one of " + ", ".join(_SERIOUS_CRITERIA) + " = Y")


@rule("CF-AE-002", "error", "a seriousness criterion is 'Y' but AESER is not 'Y'", requires=("AE",),
      references="CORE-000022 (CG0041)")
def criterion_needs_serious(ctx: RuleContext, targets: list[str]):
    ae = ctx["AE"]
    flags, any_y = _criteria(ae)
    aeser = ae["AESER"] if "AESER" in ae.columns else pd.Series(np.nan, index=ae.index, dtype=object)
    bad = any_y & ~_is(aeser, "Y")
    rows = ae.index[bad]
    which = pd.Series("", index=rows, dtype=object)
    for c in flags:  # names of the criteria set to Y, built column by column
        which = which + np.where(ae.loc[rows, c].eq("Y").fillna(False), c + "=Y ", "")
    yield ctx.hits("AE", bad, "AESER", value=_text(aeser), expected="Y",
                   message="AE: AESER is not Y although " + which.str.strip())


# ----------------------------------------------------------------------------------------------------------------
# SDTM: response


def _rs_results(ctx: RuleContext) -> dict[tuple[str, str], tuple[frozenset[str], str]]:
    """(RSCAT, RSTESTCD) -> (valid results, where the list comes from); RSCAT '*' matches any category."""
    table: dict[tuple[str, str], tuple[frozenset[str], str]] = {}
    crit = response_criteria()
    for (cat, test), grp in crit.groupby(["rscat", "rstestcd"], sort=False):
        table[(cat, test)] = (frozenset(grp["result"]), "specs/standards/response-criteria.csv")
    spec = ctx.spec
    if spec is not None:
        for vl in spec.valuelevel:
            if vl.dataset != "RS" or vl.variable not in ("RSSTRESC", "RSORRES") or not vl.codelist:
                continue
            cl = spec.codelists.get(vl.codelist)
            if cl is None or not cl.terms:
                continue
            tests, cats = ["*"], ["*"]
            for w in vl.where:
                if w.comparator in ("EQ", "IN") and w.variable == "RSTESTCD":
                    tests = list(w.values)
                elif w.comparator in ("EQ", "IN") and w.variable == "RSCAT":
                    cats = list(w.values)
            for cat in cats:
                for test in tests:
                    table[(cat, test)] = (frozenset(cl.values), f"study spec valuelevel.csv (codelist {cl.id})")
    return table


@rule("CF-RS-001", "error", "the response result is not valid for its RSCAT/RSTESTCD", requires=("RS",),
      scope=Scope("RS with RSTESTCD and RSSTRESC", lambda ctx: ["RS"] if {"RSTESTCD", "RSSTRESC"} <= set(
          ctx["RS"].columns) else []),
      references="response criteria (IMWG 2016, RECIST 1.1) via specs/standards/response-criteria.csv or the "
                 "study's value-level metadata")
def response_result_valid(ctx: RuleContext, targets: list[str]):
    rs = ctx["RS"]
    table = _rs_results(ctx)
    cat = _text(rs["RSCAT"]) if "RSCAT" in rs.columns else pd.Series("", index=rs.index, dtype=object)
    test = _text(rs["RSTESTCD"])
    result = rs["RSSTRESC"]
    codes, combos = pd.factorize(cat + "\x1f" + test)
    for i, combo in enumerate(combos):
        c, t = combo.split("\x1f")
        entry = table.get((c, t)) or table.get(("*", t))
        if entry is None:
            continue
        allowed, origin = entry
        bad = (codes == i) & result.notna().to_numpy() & ~isin(result, allowed)
        yield ctx.hits("RS", bad, "RSSTRESC", value=result, expected=" | ".join(sorted(allowed)),
                       message=f"RS: RSSTRESC is not a {c or 'any-category'} {t} result ({origin})")


def _unchecked_criteria(ctx: RuleContext, targets: list[str]) -> list[tuple[str, str, int, int]]:
    """(RSCAT, RSTESTCD, records, first record 0-based) of each criterion without a list of valid results, in the
    order of their first records."""
    rs = ctx["RS"]
    table = _rs_results(ctx)
    cat = _text(rs["RSCAT"]) if "RSCAT" in rs.columns else pd.Series("", index=rs.index, dtype=object)
    test = _text(rs["RSTESTCD"])
    codes, combos = pd.factorize(cat + "\x1f" + test)
    counts = np.bincount(codes[codes >= 0], minlength=len(combos))
    out = []
    for i, combo in enumerate(combos):  # over the distinct criteria
        c, t = combo.split("\x1f")
        if (c, t) in table or ("*", t) in table:
            continue
        out.append((c, t, int(counts[i]), int(np.flatnonzero(codes == i)[0])))
    return out


def _unchecked_criteria_findings(summaries: list, row_maps: list):
    """One note per criterion over every partition: records counted, the first record of the study named."""
    seen: dict[tuple[str, str], list[int]] = {}  # (RSCAT, RSTESTCD) -> [records, first row of the study]
    for summary, where in zip(summaries, row_maps):  # over partitions
        for c, t, n, first in summary:  # over its unchecked criteria
            row = int(where("RS", np.array([first]))[0])
            got = seen.setdefault((c, t), [0, row])
            got[0], got[1] = got[0] + n, min(got[1], row)
    for (c, t), (n, first) in sorted(seen.items(), key=lambda item: item[1][1]):
        yield finding("RS", "RSCAT, RSTESTCD", value=f"RSCAT={c} RSTESTCD={t}", row=first + 1,
                      expected="a criterion in specs/standards/response-criteria.csv or the study's "
                               "value-level metadata",
                      message=f"RS: {n} records of RSCAT '{c}' / RSTESTCD '{t}' were not checked: no "
                              f"list of valid results is known for this criterion")


_UNCHECKED = WholeStudy(_unchecked_criteria, _unchecked_criteria_findings)  # counts records over the whole study


@rule("CF-RS-002", "note", "no list of valid results is known for this RSCAT/RSTESTCD; its results were not checked",
      requires=("RS",), scope=Scope("RS with RSTESTCD", lambda ctx: ["RS"] if "RSTESTCD" in ctx["RS"] else []),
      whole_study=_UNCHECKED)
def response_criteria_known(ctx: RuleContext, targets: list[str]):
    return _UNCHECKED.check(ctx, targets)


# ----------------------------------------------------------------------------------------------------------------
# SDTM: exposure


@rule("CF-EX-001", "error", "exposure lies outside DM.RFXSTDTC..RFXENDTC", requires=("DM.USUBJID", "EX.USUBJID"),
      scope=Scope("EX with EXSTDTC", lambda ctx: ["EX"] if "EXSTDTC" in ctx["EX"] else []),
      references="SDTMIG 3.4 DM: RFXSTDTC/RFXENDTC are the first/last exposure (CG0147, CG0148)")
def exposure_within_reference(ctx: RuleContext, targets: list[str]):
    ex = ctx["EX"]
    start = ex["EXSTDTC"]
    end = ex["EXENDTC"].fillna(start) if "EXENDTC" in ex.columns else start
    first = ctx.subject_value("EX", "DM", "RFXSTDTC")
    last = ctx.subject_value("EX", "DM", "RFXENDTC")
    early = iso8601.compare(iso8601.parts(start), iso8601.parts(first)) < 0
    late = iso8601.compare(iso8601.parts(end), iso8601.parts(last)) > 0
    bad = early | late
    rows = ex.index[bad]
    value = _text(start[rows]) + ".." + _text(end[rows])
    expected = "within " + _text(first[rows]) + ".." + _text(last[rows])
    yield ctx.hits("EX", bad, "EXSTDTC, EXENDTC", value=value, expected=expected,
                   message="EX: the exposure record starts before DM.RFXSTDTC or ends after DM.RFXENDTC")


@rule("CF-EX-002", "error", "RFXSTDTC/RFXENDTC are not the first EXSTDTC / last EXENDTC of the subject",
      requires=("DM.USUBJID", "EX.USUBJID"),
      scope=Scope("EX with EXSTDTC", lambda ctx: ["EX"] if "EXSTDTC" in ctx["EX"] else []),
      references="CORE-000239 (CG0148), CORE-000238 (CG0147)")
def reference_exposure_dates(ctx: RuleContext, targets: list[str]):
    ex, dm = ctx["EX"], ctx["DM"]
    start_day = iso8601.to_date(ex["EXSTDTC"])
    end_text = ex["EXENDTC"].fillna(ex["EXSTDTC"]) if "EXENDTC" in ex.columns else ex["EXSTDTC"]
    end_day = iso8601.to_date(end_text)
    by = ex["USUBJID"]
    firsts = start_day.groupby(by).min()
    lasts = end_day.groupby(by).max()
    for var, per_subject in (("RFXSTDTC", firsts), ("RFXENDTC", lasts)):
        want = per_subject.reindex(dm["USUBJID"].to_numpy()).set_axis(dm.index)  # (map() fails on empty frames)
        have_text = _dm_col(ctx, var)
        have = iso8601.to_date(have_text)
        missing = have_text.isna() & want.notna()
        differ = have.notna() & want.notna() & have.ne(want)
        word = "first EXSTDTC" if var == "RFXSTDTC" else "last EXENDTC (or EXSTDTC)"
        yield ctx.hits("DM", missing | differ, var, value=_text(have_text), expected=want.dt.strftime("%Y-%m-%d"),
                       message=f"DM: {var} is not the date of the subject's {word} in EX")
