"""ADaM conformance rules: ADSL subjects, time-to-event datasets, best overall response.  Registered with `@rule`
(validation/rulebook.py) when imported by the catalogue (validation/rules.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cdiscflow.core.text import isin, lookup
from cdiscflow.validation.metadata import response_criteria
from cdiscflow.validation.rulebook import (RuleContext, Scope, WholeStudy, rule, datasets_with, _text, _date_text,
                                          _days)


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


@dataclass(frozen=True)
class _Descriptions:
    """One partition's EVNTDESC use in one time-to-event dataset: the distinct (PARAMCD, EVNTDESC) pairs, whether
    each describes an event and a censoring there, and the records with an EVNTDESC (0-based), their pair and
    subject as codes."""

    params: np.ndarray
    descriptions: np.ndarray
    events: np.ndarray  # bool per pair
    censorings: np.ndarray  # bool per pair
    rows: np.ndarray
    pair: np.ndarray  # int32 per row: index of its pair
    subject: np.ndarray  # int32 per row: index into subjects
    subjects: np.ndarray


def _event_descriptions(ctx: RuleContext, targets: list[str]) -> dict[str, _Descriptions]:
    out = {}
    for name in targets:  # over the time-to-event datasets
        df = ctx[name]
        if "EVNTDESC" not in df.columns:
            continue
        param = _text(df["PARAMCD"]) if "PARAMCD" in df.columns else pd.Series("", index=df.index, dtype=object)
        event = pd.to_numeric(df["CNSR"], errors="coerce").eq(0).to_numpy()
        pair, pairs = pd.factorize(param + "\x1f" + _text(df["EVNTDESC"]))
        first = np.unique(pair, return_index=True)[1]  # first record of each pair (pairs in order of appearance)
        rows = np.flatnonzero(df["EVNTDESC"].notna().to_numpy()).astype(np.int32)
        subject, subjects = pd.factorize(df["USUBJID"].to_numpy(dtype=object)[rows]
                                         if "USUBJID" in df.columns else np.full(len(rows), "", dtype=object),
                                         use_na_sentinel=False)  # a missing subject is a subject code too
        out[name] = _Descriptions(param.to_numpy(dtype=object)[first],
                                  _text(df["EVNTDESC"]).to_numpy(dtype=object)[first],
                                  np.bincount(pair[event], minlength=len(pairs)) > 0,
                                  np.bincount(pair[~event], minlength=len(pairs)) > 0,
                                  rows, pair[rows].astype(np.int32), subject.astype(np.int32),
                                  np.asarray(subjects, dtype=object))
    return out


def _mixed_description_findings(summaries: list[dict[str, _Descriptions]], row_maps: list):
    """The records of every (PARAMCD, EVNTDESC) pair that describes an event in some record of the study and a
    censoring in another, in the order of the study's rows."""
    for name in sorted({n for s in summaries for n in s}):  # over the time-to-event datasets
        parts = [(s[name], where) for s, where in zip(summaries, row_maps) if name in s]
        keys = pd.MultiIndex.from_arrays([np.concatenate([p.params for p, _ in parts]),
                                          np.concatenate([p.descriptions for p, _ in parts])])
        kinds = pd.DataFrame({"event": np.concatenate([p.events for p, _ in parts]),
                              "censoring": np.concatenate([p.censorings for p, _ in parts])}, index=keys)
        kinds = kinds.groupby(level=[0, 1], sort=False).any()
        mixed = kinds.index[(kinds["event"] & kinds["censoring"]).to_numpy()]
        if not len(mixed):
            continue
        found = []
        for p, where in parts:  # over partitions: their records of a mixed pair, in rows of the study
            hit = pd.MultiIndex.from_arrays([p.params, p.descriptions]).isin(mixed)[p.pair]
            found.append(pd.DataFrame({"row": where(name, p.rows[hit]), "subject": p.subjects[p.subject[hit]],
                                       "param": p.params[p.pair[hit]], "value": p.descriptions[p.pair[hit]]}))
        rows = pd.concat(found, ignore_index=True).sort_values("row", kind="stable")
        yield pd.DataFrame({"dataset": name, "variable": "EVNTDESC", "subject": rows["subject"].to_numpy(),
                            "row": rows["row"].to_numpy() + 1, "value": rows["value"].to_numpy(),
                            "expected": "one kind per parameter: event or censoring",
                            "message": f"{name}: the same EVNTDESC describes events and censorings of "
                                       + rows["param"].astype(str).to_numpy()})


_DESCRIPTIONS = WholeStudy(_event_descriptions, _mixed_description_findings)  # a pair is mixed over the study


@rule("CF-ADTTE-003", "error", "EVNTDESC is used both for events (CNSR = 0) and censorings (CNSR > 0) of a parameter",
      scope=_TTE, references="ADaM BDS for time-to-event analysis: EVNTDESC describes the event or censoring",
      standard="ADaM", whole_study=_DESCRIPTIONS)
def tte_event_descriptions(ctx: RuleContext, targets: list[str]):
    return _DESCRIPTIONS.check(ctx, targets)


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
