"""Analysis periods: APxxSDT/APxxEDT and TRTxxP/TRTxxA on ADSL, and APERIOD on records by their date.

A period is an epoch of the trial design (SDTM EPOCH):

* ``APxxSDT`` / ``APxxEDT``: the first and last day the subject was dosed in that epoch (EX records of the epoch
  meeting the exposure filter; the last day is EXENDT, or EXSTDT when there is no end);
* ``TRTxxP``: the element (TA.ELEMENT) the subject's planned arm (DM.ARMCD) has in that epoch;
* ``TRTxxA``: the element the subject actually went through in that epoch (SE.ELEMENT, the first if several).

`derive_vars_period_by_date` gives each record of a BDS/OCCDS dataset the period whose window holds its date: a
period runs from its start APxxSDT up to the day before the next period's start (the last period has no end), so an
assessment or adverse event on/after the first Part B dose belongs to Part B.  `first_from` lets the first period
begin earlier (e.g. at enrolment, for events between inclusion and the first dose).  The records get APERIOD,
APERIODC, APERSDT, APEREDT, TRTP and TRTA.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from cdiscflow.adam.verbs.checks import SUBJECT_KEYS, check_frame, require_columns, require_dates
from cdiscflow.core.expr import Condition, evaluate_condition
from cdiscflow.adam.verbs.merge import derive_vars_merged
from cdiscflow.core.errors import InputError, SpecError
from cdiscflow.core.frames import with_columns

PERIOD_VARS = ("APERIOD", "APERIODC", "APERSDT", "APEREDT", "TRTP", "TRTA")


@dataclass(frozen=True)
class Period:
    number: int  # APERIOD (01-99)
    name: str  # APERIODC
    epoch: str  # EPOCH of the EX/SE/TA records that make up the period

    @property
    def xx(self) -> str:
        return f"{self.number:02d}"


def load_periods(section, *, where: str) -> tuple[Period, ...]:
    """``periods: [{period: 1, name: PART A, epoch: PART A TREATMENT}, ...]`` -> Periods (SpecError on problems)."""
    if section is None:
        return ()
    problems, out = [], []
    if not isinstance(section, (list, tuple)):
        raise SpecError(f"{where}: must list the periods, e.g. [{{period: 1, name: PART A, epoch: PART A TREATMENT}}]")
    for i, item in enumerate(section):
        if not isinstance(item, dict) and not hasattr(item, "keys"):
            problems.append(f"{where}[{i}]: must be {{period: n, name: ..., epoch: ...}}")
            continue
        number, name, epoch = item.get("period"), item.get("name"), item.get("epoch")
        if not isinstance(number, int) or not 1 <= number <= 99:
            problems.append(f"{where}[{i}]: period must be a number 1-99, not {number!r}")
        if not isinstance(name, str) or not isinstance(epoch, str):
            problems.append(f"{where}[{i}]: give the period's name (APERIODC) and its EPOCH")
        unknown = sorted(set(item) - {"period", "name", "epoch"})
        if unknown:
            problems.append(f"{where}[{i}]: unknown key(s) {', '.join(unknown)}")
        if not problems:
            out.append(Period(number, name, epoch))
    numbers = [p.number for p in out]
    if numbers != sorted(set(numbers)):
        problems.append(f"{where}: periods must be listed once each, in increasing order")
    if problems:
        raise SpecError(problems)
    return tuple(out)


def derive_vars_period(
    adsl: pd.DataFrame,
    *,
    periods: Sequence[Period],
    dataset_ex: pd.DataFrame,
    dataset_ta: pd.DataFrame | None = None,
    dataset_se: pd.DataFrame | None = None,
    ex_filter: Condition = None,
) -> pd.DataFrame:
    """Add APxxSDT, APxxEDT (from EX, which needs EPOCH, EXSTDT and EXENDT) and, when TA/SE are given, TRTxxP and
    TRTxxA for every period (see the module text)."""
    check_frame(adsl, name="ADSL")
    require_columns(dataset_ex, [*SUBJECT_KEYS, "EPOCH", "EXSTDT", "EXENDT"], dataset="EX", purpose="periods")
    exposed = dataset_ex.loc[evaluate_condition(ex_filter, dataset_ex, dataset="EX")]
    exposed = exposed.assign(__LAST__=exposed["EXENDT"].fillna(exposed["EXSTDT"]))
    out = adsl
    for period in periods:
        in_epoch = exposed[exposed["EPOCH"] == period.epoch]
        out = derive_vars_merged(out, dataset_add=in_epoch, filter_add="notna(EXSTDT)", order=("EXSTDT",),
                                 mode="first", new_vars={f"AP{period.xx}SDT": "EXSTDT"}, dataset_name="ADSL",
                                 dataset_add_name="EX")
        out = derive_vars_merged(out, dataset_add=in_epoch, filter_add="notna(__LAST__)", order=("__LAST__",),
                                 mode="last", new_vars={f"AP{period.xx}EDT": "__LAST__"}, dataset_name="ADSL",
                                 dataset_add_name="EX")
        if dataset_ta is not None:
            require_columns(dataset_ta, ["ARMCD", "EPOCH", "ELEMENT"], dataset="TA", purpose="TRTxxP")
            require_columns(out, ["ARMCD"], dataset="ADSL", purpose="TRTxxP")
            arms = dataset_ta[dataset_ta["EPOCH"] == period.epoch]
            arms = arms.drop_duplicates(["ARMCD"])[["ARMCD", "ELEMENT"]]
            out = derive_vars_merged(out, dataset_add=arms, by_vars=("ARMCD",),
                                     new_vars={f"TRT{period.xx}P": "ELEMENT"}, dataset_name="ADSL",
                                     dataset_add_name="TA")
        if dataset_se is not None:
            require_columns(dataset_se, [*SUBJECT_KEYS, "EPOCH", "ELEMENT", "SESTDTC"], dataset="SE", purpose="TRTxxA")
            elements = dataset_se[dataset_se["EPOCH"] == period.epoch]
            out = derive_vars_merged(out, dataset_add=elements, order=("SESTDTC",), mode="first",
                                     new_vars={f"TRT{period.xx}A": "ELEMENT"}, dataset_name="ADSL",
                                     dataset_add_name="SE")
    return out


def create_period_dataset(adsl: pd.DataFrame, *, periods: Sequence[Period],
                          keep: Sequence[str] = ()) -> pd.DataFrame:
    """One record per subject and period the subject entered (APxxSDT present): the keys, `keep` variables of ADSL
    and APERIOD, APERIODC, APERSDT, APEREDT, TRTP, TRTA."""
    parts = []
    for period in periods:
        start = f"AP{period.xx}SDT"
        require_columns(adsl, [start, f"AP{period.xx}EDT"], dataset="ADSL", purpose=f"period {period.number}")
        rows = adsl[adsl[start].notna()]
        columns = {c: rows[c]._values for c in [*SUBJECT_KEYS, *[k for k in keep if k not in SUBJECT_KEYS]]}
        columns.update(APERIOD=float(period.number), APERIODC=pd.Series(period.name, index=rows.index, dtype="str"),
                       APERSDT=rows[start], APEREDT=rows[f"AP{period.xx}EDT"])
        for var, src in (("TRTP", f"TRT{period.xx}P"), ("TRTA", f"TRT{period.xx}A")):
            columns[var] = rows[src] if src in rows.columns else pd.Series(np.nan, index=rows.index, dtype="str")
        # made at once, by position (a column inserted at a time costs more than the data)
        parts.append(pd.DataFrame({c: v._values if isinstance(v, pd.Series) else v for c, v in columns.items()},
                                  index=rows.index))
    if not parts:
        raise ValueError("periods must list at least one period")
    return pd.concat(parts, ignore_index=True).sort_values([*SUBJECT_KEYS, "APERIOD"], kind="stable",
                                                           ignore_index=True)


def derive_vars_period_by_date(
    dataset: pd.DataFrame,
    *,
    dataset_adsl: pd.DataFrame,
    periods: Sequence[Period],
    date: str,
    first_from: str | None = None,
    dataset_name: str = "dataset",
) -> pd.DataFrame:
    """Add APERIOD, APERIODC, APERSDT, APEREDT, TRTP, TRTA: the period whose window holds `date` (see the module
    text); records outside every window (or without a date) get none."""
    check_frame(dataset, name=dataset_name)
    require_columns(dataset, [*SUBJECT_KEYS, date], dataset=dataset_name, purpose="periods")
    require_dates(dataset, [date], dataset=dataset_name)
    clash = [v for v in PERIOD_VARS if v in dataset.columns]
    if clash:
        raise InputError(f"{dataset_name} already has {', '.join(clash)}")
    starts = [f"AP{p.xx}SDT" for p in periods]
    needed = starts + ([first_from] if first_from else [])
    require_columns(dataset_adsl, [*SUBJECT_KEYS, *needed], dataset="ADSL", purpose="periods")
    window = derive_vars_merged(dataset[list(SUBJECT_KEYS)], dataset_add=dataset_adsl[[*SUBJECT_KEYS, *needed]],
                                new_vars={f"__S{i}": s for i, s in enumerate(needed)}, dataset_name=dataset_name,
                                dataset_add_name="ADSL")
    when = dataset[date].dt.floor("D")
    chosen = np.full(len(dataset), -1, dtype=np.int64)
    for i, period in enumerate(periods):
        lower = window[f"__S{i}"]
        if i == 0 and first_from:
            lower = window[f"__S{len(starts)}"].where(window[f"__S{len(starts)}"].notna(), lower)
        inside = (when >= lower).to_numpy(dtype=bool).copy()
        for later in range(i + 1, len(periods)):
            nxt = window[f"__S{later}"]
            inside &= (nxt.isna() | (when < nxt)).to_numpy(dtype=bool)
        chosen[inside & lower.notna().to_numpy() & window[f"__S{i}"].notna().to_numpy()] = i
    table = create_period_dataset(dataset_adsl, periods=periods)
    keyed = pd.DataFrame({k: dataset[k].to_numpy() for k in SUBJECT_KEYS})
    keyed["APERIOD"] = np.where(chosen >= 0, np.array([p.number for p in periods], dtype=float)[np.maximum(chosen, 0)],
                                np.nan)
    merged = derive_vars_merged(keyed, dataset_add=table, by_vars=(*SUBJECT_KEYS, "APERIOD"),
                                new_vars=[v for v in PERIOD_VARS if v != "APERIOD"], dataset_name=dataset_name,
                                dataset_add_name="the subjects' periods")
    added = {}
    for var in PERIOD_VARS:  # over the period variables, joined on at once
        values = merged[var].to_numpy() if var != "APERIOD" else keyed["APERIOD"].to_numpy()
        added[var] = pd.Series(values).astype("str")._values if var in ("APERIODC", "TRTP", "TRTA") else values
    return with_columns(dataset, added)
