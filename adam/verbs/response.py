"""Tumour/disease response: criteria as data, confirmed response, best response as ordered events.

The criteria (IMWG 2016, RECIST 1.1 ...) are YAML files in ``specs/standards/response/``: the response values from
best to worst, their AVAL codes, the response-rate thresholds and the confirmation rule.  The engines here read a
`ResponseCriteria`; nothing about a particular criterion is written in code.

Confirmation, method ``next_assessment`` (IMWG; admiralonco's IMWG vignette).  Per subject, assessments in date
order; NE assessments are set aside (they stay NE) and each other assessment looks at the *next non-NE* one:

1. a response level that needs confirmation (sCR, CR, VGPR, PR, MR) is confirmed by a next assessment that is also
   such a level or SD and was done before new anti-cancer therapy (`new_therapy_date`): the same or a better next
   level keeps the level, a lower one downgrades to it (VGPR then PR -> PR; PR then SD -> SD);
2. without such a next assessment (none, PD, or after new therapy) it becomes `unconfirmed` (SD);
3. SD needs no confirmation;
4. PD stands if a `pd_confirmed_vars` flag is "Y" on it (e.g. PD by imaging, death due to PD) or the next non-NE
   assessment is PD; otherwise it becomes `pd_unconfirmed` (NE);
5. with `running_best`, the confirmed response at each assessment is the best so far, PD ranking above every
   response and NE below SD: a subject keeps the best confirmed category until a confirmed PD.
A confirming assessment more than `max_gap_days` later is reported (a note, not an error).

Confirmation, method ``interval`` (RECIST 1.1; admiralonco's confirmed best overall response).  A level with
`confirmed_by` values (CR: CR; PR: CR or PR) is confirmed by the first assessment with one of those values at least
`min_days` later, if the assessments from the next one up to it are all such values or NE, with at most `max_ne`
NE and no PR after a CR.  Unconfirmed CR/PR become SD.  SD and the `sd_like` values (NON-CR/NON-PD) count only on or
after origin + `sd_min_days`; earlier they become NE.  PD and NE stand.

Best response = `derive_extreme_event` over `best_response_events(criteria)`: the levels from best to worst, then NE
for any remaining assessment, then MISSING for subjects without assessments (from ADSL); within a level the first
date.  Rates (RSP, CBR, DCR) = the first assessment reaching the threshold (Y) else N: `rate_events`.

A rate may ask that some of its levels last: ``sustained: {values: [MR, SD], min_days: 42}`` counts those levels
only on or after origin + min_days (admiralonco's clinical benefit CB: PR or better at any time, or MR/SD at least
42 days after randomisation); the others count at any time.  Y is dated at the first qualifying assessment.

The last assessment (LSTA, `last_assessment_events`) has two conventions, chosen by the caller: the last evaluable
assessment, an NE one skipped (the default), or the last assessment whatever its value (``include_not_evaluable``,
admiralonco: an NE assessment after the last evaluable one dates the censoring of PFS).
"""

from __future__ import annotations

import warnings
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from cdiscflow.adam.verbs.checks import (
    SUBJECT_KEYS, as_names, check_frame, describe_rows, require_columns, require_dates,
)
from cdiscflow.adam.verbs.response_criteria import ResponseCriteria
from cdiscflow.adam.verbs.ordering import order_columns, sort_rows
from cdiscflow.core.expr import Condition, Expr, evaluate_condition, set_values
from cdiscflow.adam.verbs.extreme import Event
from cdiscflow.adam.verbs.flags import derive_var_extreme_flag
from cdiscflow.core.errors import InputError
from cdiscflow.core.findings import Findings

# ----------------------------------------------------------------------------------------------------------------
# confirmed response at each assessment


def derive_param_confirmed_response(
    dataset: pd.DataFrame,
    *,
    criteria: ResponseCriteria,
    set_values_to: Mapping[str, Any],
    source_filter: Condition = "PARAMCD == 'OVR'",
    by_vars: Iterable[str] = SUBJECT_KEYS,
    date: str = "ADT",
    order: Iterable[str] = (),
    origin_date: str | None = None,
    new_therapy_date: str | None = None,
    pd_confirmed_vars: Sequence[str] = (),
    findings: Findings | None = None,
    dataset_name: str = "ADRS",
) -> pd.DataFrame:
    """Add confirmed-response records (e.g. PARAMCD COVR): one per source record, AVALC confirmed by the rules of
    `criteria` (see the module text), AVAL recoded, `set_values_to` applied.  Returns `dataset` plus those records.

    `order` breaks ties between assessments on the same date (e.g. ``("RSSEQ",)``).  `origin_date` (e.g. RANDDT)
    is needed when the criteria set a minimum time for SD.  `findings` receives a note (rule ADAM-RSP-GAP) for each
    confirmation more than the criteria's max_gap_days later; without it they are issued as one warning."""
    check_frame(dataset, name=dataset_name)
    by = list(as_names(by_vars, arg="by_vars"))
    source = dataset.loc[evaluate_condition(source_filter, dataset, dataset=dataset_name)]
    needed = by + ["AVALC", date, *order_columns(order), *pd_confirmed_vars]
    needed += [v for v in (origin_date, new_therapy_date) if v]
    require_columns(source, needed, dataset=dataset_name, purpose="confirmed response")
    require_dates(source, [date] + [v for v in (origin_date, new_therapy_date) if v], dataset=dataset_name)
    _check_values(source, criteria, date, by, dataset_name)
    conf = criteria.confirmation
    if conf.method == "interval" and criteria.sd_min_days is not None and origin_date is None:
        raise ValueError(f"{criteria.id} counts SD only {criteria.sd_min_days} days after the origin: give origin_date")

    pos = sort_rows(source, by, [date, *order])
    ordered = source.iloc[pos]
    if conf.method == "next_assessment":
        confirmed = _confirm_next(ordered, criteria, by, date, new_therapy_date, pd_confirmed_vars, findings,
                                  dataset_name)
    else:
        confirmed = _confirm_interval(ordered, criteria, by, date, origin_date)
    result = np.empty(len(source), dtype=object)
    result[pos] = confirmed
    new = source.copy(deep=False)
    new["AVALC"] = pd.Series(result, index=source.index, dtype="str")
    new["AVAL"] = criteria.aval(new["AVALC"])
    new = set_values(new, set_values_to, dataset=dataset_name)
    return pd.concat([dataset, new], ignore_index=True)


def _check_values(source: pd.DataFrame, criteria: ResponseCriteria, date: str, by: list[str], name: str) -> None:
    avalc = source["AVALC"]
    bad = avalc.isna() | ~avalc.isin(criteria.values)
    if bad.any():
        raise InputError(
            f"{name}: {int(bad.sum())} assessment(s) with AVALC missing or not a {criteria.id} response "
            f"({', '.join(criteria.values)}): {describe_rows(source, bad.to_numpy(), by[-1:] + ['AVALC', date])}. "
            "Select the evaluated assessments with source_filter."
        )
    nodate = source[date].isna()
    if nodate.any():
        raise InputError(f"{name}: {int(nodate.sum())} assessment(s) without {date}: "
                         f"{describe_rows(source, nodate.to_numpy(), by[-1:] + ['AVALC'])}")


def _group_ids(frame: pd.DataFrame, by: list[str]) -> np.ndarray:
    return frame.groupby(by, sort=False, dropna=False).ngroup().to_numpy()


def _confirm_next(ordered: pd.DataFrame, criteria: ResponseCriteria, by: list[str], date: str,
                  new_therapy_date: str | None, pd_vars: Sequence[str], findings: Findings | None,
                  name: str) -> np.ndarray:
    conf = criteria.confirmation
    value = ordered["AVALC"].to_numpy(dtype=object)
    dates = ordered[date].to_numpy()
    groups = _group_ids(ordered, by)
    ne = value == criteria.not_evaluable
    out = value.copy()
    idx = np.flatnonzero(~ne)  # the evaluated assessments, in subject/date order
    v, g, d = value[idx], groups[idx], dates[idx]
    same_next = np.append(g[1:] == g[:-1], False)
    nxt = np.where(same_next, np.append(v[1:], None), None)
    nxt_date = np.where(same_next, np.append(d[1:], np.datetime64("NaT")), np.datetime64("NaT")).astype(d.dtype)
    if new_therapy_date:
        nact = ordered[new_therapy_date].to_numpy()[idx]
        after_therapy = ~np.isnat(nact) & ~np.isnat(nxt_date) & (nxt_date > nact)
    else:
        after_therapy = np.zeros(len(idx), dtype=bool)
    rank = {val: i for i, val in enumerate(criteria.values)}
    v_rank = pd.Series(v, dtype=object).map(rank).to_numpy(dtype="float64")
    n_rank = pd.Series(nxt, dtype=object).map(rank).to_numpy(dtype="float64")
    needs = pd.Series(v, dtype=object).isin(conf.levels).to_numpy()
    confirming = pd.Series(nxt, dtype=object).isin([*conf.levels, criteria.stable]).to_numpy() & ~after_therapy
    kept = needs & confirming & (n_rank <= v_rank)
    down = needs & confirming & (n_rank > v_rank)
    result = v.copy()
    result[down] = nxt[down]
    result[needs & ~kept & ~down] = conf.unconfirmed
    is_pd = v == criteria.progression
    stands = np.zeros(len(idx), dtype=bool)
    for var in pd_vars:
        stands |= (ordered[var].to_numpy(dtype=object)[idx] == "Y")
    result[is_pd & ~(stands | (nxt == criteria.progression))] = conf.pd_unconfirmed
    out[idx] = result
    if conf.max_gap_days is not None:
        gap = (nxt_date - d).astype("timedelta64[D]").astype("float64")
        long_gap = needs & confirming & (gap > conf.max_gap_days)
        if long_gap.any():
            _note_gaps(ordered.iloc[idx], long_gap, gap, conf.max_gap_days, by, date, findings, name)
    if conf.running_best:
        out = _running_best(out, groups, criteria)
    return out


def _note_gaps(rows: pd.DataFrame, mask: np.ndarray, gap: np.ndarray, limit: int, by: list[str], date: str,
               findings: Findings | None, name: str) -> None:
    subject = by[-1]
    chosen = rows.loc[mask]
    days = gap[mask].astype(int)
    messages = [f"{s}: the {a} assessment of {pd.Timestamp(t).date()} was confirmed by one {n} days later "
                f"(more than {limit})" for s, a, t, n in zip(chosen[subject], chosen["AVALC"], chosen[date], days)]
    if findings is None:
        warnings.warn(f"{name}: " + "; ".join(messages), stacklevel=3)
        return
    for (s, msg, n) in zip(chosen[subject], messages, days):
        findings.add(severity="note", rule_id="ADAM-RSP-GAP", dataset=name, variable="AVALC", subject=str(s),
                     value=str(n), expected=f"<= {limit} days", message=msg, source="derive_param_confirmed_response")


def _running_best(values: np.ndarray, groups: np.ndarray, criteria: ResponseCriteria) -> np.ndarray:
    """The best confirmed value so far per subject: PD above every response, NE below SD."""
    evaluable = [v for v in criteria.values if v not in (criteria.progression, criteria.not_evaluable)]
    scale = [criteria.not_evaluable, *reversed(evaluable), criteria.progression]  # low -> high
    code = {v: i for i, v in enumerate(scale)}
    codes = pd.Series(values).map(code)
    best = codes.groupby(groups).cummax().to_numpy(dtype=np.int64)
    return np.array(scale, dtype=object)[best]


def _confirm_interval(ordered: pd.DataFrame, criteria: ResponseCriteria, by: list[str], date: str,
                      origin_date: str | None) -> np.ndarray:
    conf = criteria.confirmation
    value = ordered["AVALC"].to_numpy(dtype=object)
    groups = _group_ids(ordered, by)
    days = ordered[date].dt.floor("D").to_numpy().astype("datetime64[D]").astype(np.int64)
    n = len(value)
    position = np.arange(n)
    ne = (value == criteria.not_evaluable).astype(np.int64)
    cum_ne = pd.Series(ne).groupby(groups).cumsum().to_numpy()
    confirmed = np.zeros(n, dtype=bool)
    span = (days.max() - days.min() + conf.min_days + 2) if n else 1
    base = days.min() if n else 0
    for level, by_values in conf.confirmed_by.items():
        rows = np.flatnonzero(value == level)
        if not len(rows):
            continue
        cand = np.flatnonzero(np.isin(value, by_values))
        cand_key = groups[cand] * span + (days[cand] - base)
        target = groups[rows] * span + (days[rows] + conf.min_days - base)
        at = np.searchsorted(cand_key, target, side="left")
        found = at < len(cand)
        j = np.where(found, cand[np.minimum(at, len(cand) - 1)], -1)
        found &= groups[np.maximum(j, 0)] == groups[rows]
        disallowed = (~np.isin(value, [*by_values, criteria.not_evaluable])).astype(np.int64)
        cum_bad = pd.Series(disallowed).groupby(groups).cumsum().to_numpy()
        jj = np.maximum(j, 0)
        ok = found & (cum_bad[jj] - cum_bad[rows] == 0) & (cum_ne[jj] - cum_ne[rows] <= conf.max_ne)
        if len(by_values) > 1:  # no downgrade between: a worse confirming value after a better one breaks it
            better = by_values[0]
            last_better = _last_position(value == better, groups, position)
            last_worse = _last_position(np.isin(value, by_values[1:]), groups, position)
            lw = last_worse[jj]
            broken = (lw > rows) & (last_better[np.maximum(lw, 0)] > rows)
            ok &= ~broken
        confirmed[rows[ok]] = True
    out = value.copy()
    responses = np.isin(value, list(conf.confirmed_by))
    out[responses & ~confirmed] = conf.unconfirmed
    if criteria.sd_min_days is not None and origin_date:
        origin = ordered[origin_date].dt.floor("D").to_numpy().astype("datetime64[D]").astype("float64")
        origin[ordered[origin_date].isna().to_numpy()] = np.nan
        early = ~(days >= origin + criteria.sd_min_days)
        sd_like = np.isin(out, [criteria.stable, *criteria.sd_like])
        out[sd_like & early] = criteria.not_evaluable
    return out


def _last_position(mask: np.ndarray, groups: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Per row: position of the last row at or before it (same group) where mask holds, else -1."""
    marked = pd.Series(np.where(mask, position, np.nan))
    return marked.groupby(groups).ffill().fillna(-1).to_numpy(dtype=np.int64)


# ----------------------------------------------------------------------------------------------------------------
# one assessment per date, events for the parameters


def derive_var_worst_flag(
    dataset: pd.DataFrame,
    *,
    criteria: ResponseCriteria,
    new_var: str = "ANL01FL",
    by_vars: Iterable[str] = SUBJECT_KEYS,
    date: str = "ADT",
    order: Iterable[str] = (),
    filter: Condition = None,
    dataset_name: str = "ADRS",
) -> pd.DataFrame:
    """Flag one assessment per subject and date among the records meeting `filter`: the worst (PD, then the
    levels from worst to best, NE last); `order` (e.g. ``("RSSEQ",)``) breaks remaining ties.

    Typical ANL01FL: ``filter="PARAMCD == 'COVR' and ADT >= RANDDT"``."""
    check_frame(dataset, name=dataset_name)
    require_columns(dataset, ["AVALC", date], dataset=dataset_name)
    tmp = "__worst__"
    rank = {v: i for i, v in enumerate(criteria.worst_first())}
    work = dataset.assign(**{tmp: dataset["AVALC"].map(rank).astype("float64")})
    flagged = derive_var_extreme_flag(work, by_vars=[*as_names(by_vars, arg="by_vars"), date],
                                      order=[tmp, *as_names(order, arg="order")], new_var=new_var, mode="first",
                                      filter=filter, dataset_name=dataset_name)
    return flagged.drop(columns=tmp)


def best_response_events(criteria: ResponseCriteria, *, dataset_name: str = "ovr", adsl_name: str = "adsl",
                         origin_date: str | None = None, keep_adsl_vars: Sequence[str] = ()) -> tuple[Event, ...]:
    """Ordered events for best (confirmed) overall response: each level from best to worst (SD-like levels only on
    or after origin + sd_min_days when the criteria set it and `origin_date` is given), NE for any other
    assessment, then the missing value for every subject of ADSL."""
    events = []
    window = criteria.sd_min_days is not None and origin_date is not None
    for level in criteria.values:
        if level == criteria.not_evaluable:
            continue
        condition = f"AVALC == {level!r}"
        if window and level in (criteria.stable, *criteria.sd_like):
            condition += f" and ADT >= {origin_date} + days({criteria.sd_min_days})"
        events.append(Event(f"best response {level}", condition, {"AVALC": level}, dataset_name))
    events.append(Event(f"best response {criteria.not_evaluable} (no assessment qualifies for a better one)",
                        f"AVALC in {tuple(criteria.values)!r}", {"AVALC": criteria.not_evaluable}, dataset_name))
    events.append(Event(f"no assessment: {criteria.missing.value}", None, {"AVALC": criteria.missing.value},
                        adsl_name, keep_source_vars=tuple(keep_adsl_vars)))
    return tuple(events)


def rate_events(criteria: ResponseCriteria, rate: str, *, dataset_name: str = "ovr", adsl_name: str = "adsl",
                keep_adsl_vars: Sequence[str] = (), origin_date: str | None = None) -> tuple[Event, ...]:
    """Y at the first assessment whose value counts for `rate` (e.g. RSP: PR or better), else N (from ADSL).

    A rate with `sustained` values (e.g. CB: MR and SD) counts those only when ``ADT >= origin_date + min_days``;
    `origin_date` (e.g. RANDDT) is then required."""
    if rate not in criteria.rates:
        raise ValueError(f"{criteria.id} defines no rate {rate!r} (rates: {', '.join(criteria.rates)})")
    spec = criteria.rates[rate]
    condition = f"AVALC in {spec.values!r}"
    if spec.sustained:
        if not origin_date:
            raise ValueError(f"rate {rate} counts {', '.join(spec.sustained)} only {spec.sustained_days} days after "
                             "the origin: give origin_date")
        anytime = tuple(v for v in spec.values if v not in spec.sustained)
        late = f"(AVALC in {spec.sustained!r} and ADT >= {origin_date} + days({spec.sustained_days}))"
        condition = f"AVALC in {anytime!r} or {late}" if anytime else late
    return (
        Event(f"{rate}: {spec.description or ', '.join(spec.values)}", condition, {"AVALC": "Y"}, dataset_name),
        Event(f"{rate}: not reached", None, {"AVALC": "N"}, adsl_name, keep_source_vars=tuple(keep_adsl_vars)),
    )


def progression_events(criteria: ResponseCriteria, *, dataset_name: str = "ovr", adsl_name: str = "adsl",
                       keep_adsl_vars: Sequence[str] = ()) -> tuple[Event, ...]:
    """Y at the first progression, else N."""
    return (
        Event("first progression", f"AVALC == {criteria.progression!r}", {"AVALC": "Y"}, dataset_name),
        Event("no progression", None, {"AVALC": "N"}, adsl_name, keep_source_vars=tuple(keep_adsl_vars)),
    )


def death_events(*, date: str = "DTHDT", adsl_name: str = "adsl", keep_adsl_vars: Sequence[str] = ()) -> tuple[Event, ...]:
    """Y with ADT = the death date when there is one, else N."""
    keep = tuple(dict.fromkeys([date, *keep_adsl_vars]))
    return (
        Event("death", f"notna({date})", {"AVALC": "Y", "ADT": Expr(date)}, adsl_name, keep_source_vars=keep),
        Event("alive", None, {"AVALC": "N"}, adsl_name, keep_source_vars=keep),
    )


def last_assessment_events(criteria: ResponseCriteria, *, dataset_name: str = "ovr", adsl_name: str | None = "adsl",
                           keep_adsl_vars: Sequence[str] = (), include_not_evaluable: bool = False,
                           response_var: str = "AVALC") -> tuple[Event, ...]:
    """The last evaluable assessment (`response_var`, the collected response, not NE), or with
    `include_not_evaluable` the last assessment whatever its value (admiralonco's LSTA); use with ``mode="last"``.
    On confirmed-response records (whose AVALC carries the best response so far over an NE assessment) name the
    collected response, e.g. ``response_var="RSSTRESC"``.  Subjects without one get a record with missing AVALC and
    ADT from ADSL (none if `adsl_name` is None)."""
    if include_not_evaluable:
        events = [Event("last assessment", None, {}, dataset_name)]
    else:
        events = [Event("last evaluable assessment", f"{response_var} != {criteria.not_evaluable!r}", {},
                        dataset_name)]
    if adsl_name:
        events.append(Event("no evaluable assessment", None, {"AVALC": MISSING_TEXT}, adsl_name,
                            keep_source_vars=tuple(keep_adsl_vars)))
    return tuple(events)


# a missing AVALC that stays text: `None` in set_values_to gives a float NaN column, and appending it to text
# records made ADRS.AVALC an object column (compared value by value in Python by every later condition on it)
MISSING_TEXT = Expr(lambda frame: pd.Series(np.nan, index=frame.index, dtype="str"))
YN_AVAL = Expr(lambda frame: frame["AVALC"].map({"Y": 1.0, "N": 0.0}).astype("float64"))
