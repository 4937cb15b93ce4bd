"""ADaM conformance rules: ADSL subjects, time-to-event datasets, best overall response.  Registered with `@rule`
(validation/rulebook.py) when imported by the catalogue (validation/rules.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdiscflow.core.text import isin, lookup
from cdiscflow.validation.metadata import response_criteria
from cdiscflow.validation.rulebook import RuleContext, Scope, rule, datasets_with, _text, _date_text, _days


# ----------------------------------------------------------------------------------------------------------------
# ADaM


@rule("CF-ADSL-001", "error", "ADSL has more than one record for the subject", requires=("ADSL.USUBJID",),
      references="ADaMIG 1.3 section 3.1 (one record per subject)", standard="ADaM")
def adsl_one_per_subject(ctx: RuleContext, targets: list[str]):
    adsl = ctx["ADSL"]
    dup = adsl["USUBJID"].duplicated(keep=False) & adsl["USUBJID"].notna()
    yield ctx.hits("ADSL", dup, "USUBJID", value=adsl["USUBJID"], expected="one record per USUBJID")


@rule("CF-ADSL-002", "error", "the ADSL subject is not in DM", requires=("ADSL.USUBJID", "DM.USUBJID"),
      references="ADaMIG 1.3 section 3.1 (ADSL subjects come from DM)", standard="ADaM")
def adsl_subjects_in_dm(ctx: RuleContext, targets: list[str]):
    usubjid = ctx["ADSL"]["USUBJID"]
    yield ctx.hits("ADSL", usubjid.notna() & ~isin(usubjid, ctx.subjects_of("DM")), "USUBJID", value=usubjid,
                   expected="a USUBJID of DM")


@rule("CF-SUBJ-002", "error", "USUBJID is not a subject in ADSL", requires=("ADSL.USUBJID",),
      scope=datasets_with("ADaM", "USUBJID", exclude=("ADSL",)),
      references="ADaMIG 1.3 section 3.1 (every analysis subject is in ADSL)", standard="ADaM")
def subjects_in_adsl(ctx: RuleContext, targets: list[str]):
    known = ctx.subjects_of("ADSL")
    for name in targets:
        usubjid = ctx[name]["USUBJID"]
        yield ctx.hits(name, usubjid.notna() & ~isin(usubjid, known), "USUBJID", value=usubjid,
                       expected="a USUBJID of ADSL")


_TTE = datasets_with("ADaM", "CNSR", text="ADaM time-to-event datasets (with CNSR)")


@rule("CF-ADTTE-001", "error", "ADT is before STARTDT", scope=_TTE, references="ADaM BDS for time-to-event analysis (ADT is on or after the origin STARTDT)",
      standard="ADaM")
def tte_date_order(ctx: RuleContext, targets: list[str]):
    for name in targets:
        df = ctx[name]
        if not {"ADT", "STARTDT"} <= set(df.columns):
            continue
        bad = (_days(df["ADT"]) < _days(df["STARTDT"])).to_numpy()
        rows = df.index[bad]
        yield ctx.hits(name, bad, "ADT", value=_date_text(df.loc[rows, "ADT"]),
                       expected=">= STARTDT " + _date_text(df.loc[rows, "STARTDT"]))


@rule("CF-ADTTE-002", "error", "CNSR is missing or not a whole number >= 0 (0 = event, 1, 2 ... = censoring reasons)",
      scope=_TTE, references="ADaM BDS for time-to-event analysis: CNSR", standard="ADaM")
def tte_cnsr_values(ctx: RuleContext, targets: list[str]):
    for name in targets:
        cnsr = ctx[name]["CNSR"]
        x = pd.to_numeric(cnsr, errors="coerce")
        bad = x.isna() | (x < 0) | (x != np.floor(x))
        yield ctx.hits(name, bad, "CNSR", value=_text(cnsr), expected="0, 1, 2 ...")


@rule("CF-ADTTE-003", "error", "EVNTDESC is used both for events (CNSR = 0) and censorings (CNSR > 0) of a parameter",
      scope=_TTE, references="ADaM BDS for time-to-event analysis: EVNTDESC describes the event or censoring",
      standard="ADaM")
def tte_event_descriptions(ctx: RuleContext, targets: list[str]):
    for name in targets:
        df = ctx[name]
        if "EVNTDESC" not in df.columns:
            continue
        param = _text(df["PARAMCD"]) if "PARAMCD" in df.columns else pd.Series("", index=df.index, dtype=object)
        event = pd.to_numeric(df["CNSR"], errors="coerce").eq(0)
        key = param + "\x1f" + _text(df["EVNTDESC"])
        kinds = event.groupby(key).nunique()
        mixed = key.map(kinds).gt(1) & df["EVNTDESC"].notna()
        yield ctx.hits(name, mixed, "EVNTDESC", value=df["EVNTDESC"],
                       expected="one kind per parameter: event or censoring",
                       message=f"{name}: the same EVNTDESC describes events and censorings of " + param)


@rule("CF-ADTTE-004", "warning", "CNSDTDSC is populated on an event record (CNSR = 0)", scope=_TTE,
      references="ADaM BDS for time-to-event analysis: CNSDTDSC describes censoring dates only",
      standard="ADaM")
def tte_censor_description(ctx: RuleContext, targets: list[str]):
    for name in targets:
        df = ctx[name]
        if "CNSDTDSC" not in df.columns:
            continue
        bad = df["CNSDTDSC"].notna() & pd.to_numeric(df["CNSR"], errors="coerce").eq(0)
        yield ctx.hits(name, bad, "CNSDTDSC", value=df["CNSDTDSC"], expected="missing when CNSR = 0")


@rule("CF-ADTTE-005", "warning", "AVAL (days) is not ADT - STARTDT + 1", scope=_TTE,
      references="the day-count convention of the CDISC pilot and admiral ADTTE (AVAL = ADT - STARTDT + 1)",
      standard="ADaM")
def tte_aval_days(ctx: RuleContext, targets: list[str]):
    for name in targets:
        df = ctx[name]
        if not {"AVAL", "ADT", "STARTDT"} <= set(df.columns):
            continue
        in_days = (df["AVALU"].isna() | df["AVALU"].astype(str).str.upper().isin(["DAYS", "DAY", "D"])
                   if "AVALU" in df.columns else pd.Series(True, index=df.index))
        want = _days(df["ADT"]) - _days(df["STARTDT"]) + 1
        aval = pd.to_numeric(df["AVAL"], errors="coerce")
        bad = in_days & aval.notna() & want.notna() & (aval - want).abs().gt(1e-6)
        yield ctx.hits(name, bad, "AVAL", value=aval, expected=want)


def _adrs_options(ctx: RuleContext) -> tuple[tuple[str, ...], tuple[str, ...]]:
    opts = (ctx.spec.study.get("validation", {}) or {}).get("adrs", {}) if ctx.spec is not None else {}
    return tuple(opts.get("ovr", ("OVR", "OVRLRESP"))), tuple(opts.get("bor", ("BOR", "CBOR")))


def _adrs_datasets(ctx: RuleContext) -> list[str]:
    ovr, bor = _adrs_options(ctx)
    out = []
    for n in ctx.names("ADaM", "USUBJID", "PARAMCD", "AVALC"):
        codes = set(ctx[n]["PARAMCD"].dropna().unique())
        if codes & set(ovr) and codes & set(bor):
            out.append(n)
    return out


@rule("CF-ADRS-001", "error", "best overall response is better than the subject's best OVR record",
      scope=Scope("ADaM datasets with OVR and BOR/CBOR parameters", _adrs_datasets),
      references="ADaMIG 1.3 BDS; admiralonco best overall response (derived from OVR records)", standard="ADaM")
def best_response_consistent(ctx: RuleContext, targets: list[str]):
    ovr_codes, bor_codes = _adrs_options(ctx)
    crit = response_criteria()
    rank = crit.groupby("result")["rank"].min()
    worst = int(rank.max())  # no OVR record counts as not evaluable
    name_of = crit.sort_values("rank").drop_duplicates("rank").set_index("rank")["result"]
    for name in targets:
        df = ctx[name]
        r = df["AVALC"].map(rank)
        is_ovr = df["PARAMCD"].isin(ovr_codes)
        best = r[is_ovr].groupby(df.loc[is_ovr, "USUBJID"]).min()
        subject_best = lookup(df["USUBJID"], best).astype(float).fillna(worst)
        bad = df["PARAMCD"].isin(bor_codes) & r.notna() & r.lt(subject_best)
        if not bad.any():  # (the texts below are built for every record)
            continue
        expected = "no better than " + subject_best[bad].map(name_of).fillna("NE").astype(str) + " (best OVR)"
        yield ctx.hits(name, bad, "AVALC", value=df["AVALC"], expected=expected,
                       message=f"{name}: " + _text(df["PARAMCD"]) + " is better than every OVR record of the subject")
