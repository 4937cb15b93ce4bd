"""ADAE (OCCDS): adverse events with analysis dates, toxicity grade, period attribution, the protocol's
treatment-emergent window and worst-grade occurrence flags for the safety tables.

The recipe is generic; ``specs/<study>/adam/adae.yaml`` says what a study decides:

    source: AE                                   # SUPP-- qualifiers (e.g. per-drug causality) come along
    adsl_vars: [TRTSDT, ENRLDT, DTHDT, DCUTDT]   # ADSL variables the rules below use
    dates:                                       # ASTDT/AENDT with imputation and ASTDTF/AENDTF (sources.DateRule)
      ASTDT: {dtc: AESTDTC, highest_imputation: M, date_imputation: first, min_dates: [TRTSDT]}
      AENDT: {dtc: AEENDTC, highest_imputation: M, date_imputation: last, max_dates: [DTHDT, DCUTDT]}
    derive: {ATOXGR: {expr: AETOXGR}, ATOXGRN: {expr: number(AETOXGR)}}
    queries:                                     # customised queries: CQ01NAM ... (query.Query, after derive)
      CQ01: {name: DERMATOLOGIC EVENTS, terms: [{variable: AEDECOD, contains: [DERMATITIS, ERYTHEMA]}]}
    period: {date: ASTDT, first_from: ENRLDT}    # APERIOD/TRTA by the start date (periods.derive_vars_period_by_date)
    treatment_emergent:                          # TRTEMFL (flags.derive_var_trtemfl) within the protocol window
      start: ENRLDT                              #   from this date ...
      end: APEREDT                               #   ... to this date + end_window days
      end_window: 30
      filter: ATOXGRN >= 2                       #   and only events meeting this condition (optional)
    reference_date: TRTSDT                       # ASTDY / AENDY
    flags:                                       # worst-grade occurrence flags (flags.ExtremeFlagRule)
      AOCC01FL: {by: [APERIOD, AEBODSYS, AEDECOD], order: [-ATOXGRN, ASTDT, AESEQ], filter: TRTEMFL == 'Y'}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from cdiscflow.adam.verbs.checks import SUBJECT_KEYS, require_columns
from cdiscflow.adam.verbs.categories import VariableRule, apply_variable_rules, load_variable_rules
from cdiscflow.adam.verbs.dates import derive_vars_dy
from cdiscflow.core.expr import ExpressionError, evaluate_condition, parse
from cdiscflow.adam.verbs.flags import ExtremeFlagRule, derive_var_trtemfl, load_extreme_flag_rules
from cdiscflow.adam.verbs.merge import derive_vars_merged
from cdiscflow.adam.verbs.obs_number import derive_var_obs_number
from cdiscflow.adam.verbs.periods import Period, derive_vars_period_by_date
from cdiscflow.adam.verbs.query import Query, derive_vars_query, load_queries
from cdiscflow.adam.verbs.sources import DateRule, SourceData, apply_date_rules, load_date_rules
from cdiscflow.core.errors import SpecError
from cdiscflow.specs.model import NAME_RE, StudySpec

SECTION = "adam/adae"


@dataclass(frozen=True)
class AdaeSpec:
    dataset: str = "AE"
    adsl_vars: tuple[str, ...] = ()
    dates: tuple[DateRule, ...] = ()
    derive: tuple[VariableRule, ...] = ()
    queries: tuple[Query, ...] = ()
    period_date: str | None = None
    period_first_from: str | None = None
    te_start: str | None = None
    te_end: str | None = None
    te_window: int | None = None
    te_filter: str | None = None
    reference_date: str | None = None
    flags: tuple[ExtremeFlagRule, ...] = ()
    order: tuple[str, ...] = ("ASTDT", "AESEQ")


_KEYS = {"description", "source", "adsl_vars", "dates", "derive", "queries", "period", "treatment_emergent", "reference_date",
         "flags", "order"}


def load_adae_spec(spec: StudySpec, section: str = SECTION) -> AdaeSpec:
    data = spec.section(section)
    where = f"{section}.yaml"
    if not isinstance(data, Mapping):
        raise SpecError(f"the study spec has no {where}", path=str(spec.path))
    problems: list[str] = [f"{where}: unknown key '{k}' (expected {', '.join(sorted(_KEYS))})"
                           for k in sorted(set(data) - _KEYS)]

    def collect(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SpecError as exc:
            problems.extend(exc.problems)
            return ()

    period = data.get("period") or {}
    te = data.get("treatment_emergent") or {}
    if not isinstance(period, Mapping) or set(period) - {"date", "first_from"}:
        problems.append(f"{where}: period: give date (the AE date that decides the period) and optionally first_from")
        period = {}
    if not isinstance(te, Mapping) or set(te) - {"start", "end", "end_window", "filter"}:
        problems.append(f"{where}: treatment_emergent: give start, end, end_window and optionally filter")
        te = {}
    if te and not isinstance(te.get("start"), str):
        problems.append(f"{where}: treatment_emergent.start: the date the window opens (e.g. TRTSDT)")
    window = te.get("end_window")
    if window is not None and (not isinstance(window, int) or window < 0 or not te.get("end")):
        problems.append(f"{where}: treatment_emergent.end_window: whole days after `end`")
    if te.get("filter") is not None:
        try:
            parse(str(te["filter"]))
        except ExpressionError as exc:
            problems.append(f"{where}: treatment_emergent.filter: {exc}")
    names = [*(data.get("adsl_vars") or ()), *(data.get("order") or ())]
    bad = [n for n in names if not isinstance(n, str) or not NAME_RE.match(n.lstrip("-"))]
    if bad:
        problems.append(f"{where}: {bad} are not variable names")
    out = AdaeSpec(
        dataset=str(data.get("source", "AE")).upper(), adsl_vars=tuple(data.get("adsl_vars") or ()),
        dates=collect(load_date_rules, data.get("dates"), where=f"{where}: dates"),
        derive=collect(load_variable_rules, data.get("derive"), where=f"{where}: derive"),
        queries=collect(load_queries, data.get("queries"), where=f"{where}: queries"),
        period_date=period.get("date"), period_first_from=period.get("first_from"),
        te_start=te.get("start"), te_end=te.get("end"), te_window=window, te_filter=te.get("filter"),
        reference_date=data.get("reference_date"),
        flags=collect(load_extreme_flag_rules, data.get("flags"), where=f"{where}: flags"),
        order=tuple(data.get("order") or ("ASTDT", "AESEQ")),
    )
    if problems:
        raise SpecError(problems, path=str(spec.path))
    return out


def derive_adae(spec: StudySpec, sources: SourceData, adsl: pd.DataFrame, *, periods: tuple[Period, ...] = (),
                settings: AdaeSpec | None = None) -> pd.DataFrame:
    """ADAE (working frame, ASEQ assigned): see the module text for the steps."""
    cfg = settings or load_adae_spec(spec)

    # -- the events with the ADSL dates the rules need ---------------------------------------------------------
    adae = sources[cfg.dataset]
    if cfg.adsl_vars:
        adae = derive_vars_merged(adae, dataset_add=adsl, new_vars=list(cfg.adsl_vars), dataset_name="ADAE",
                                  dataset_add_name="ADSL")

    # -- analysis dates, grades --------------------------------------------------------------------------------
    adae = apply_date_rules(adae, cfg.dates, dataset_name="ADAE")
    adae = apply_variable_rules(adae, cfg.derive, dataset_name="ADAE")
    if cfg.queries:
        adae = derive_vars_query(adae, queries=cfg.queries, dataset_name="ADAE")

    # -- period of each event, treatment-emergent flag ---------------------------------------------------------
    if cfg.period_date and periods:
        adae = derive_vars_period_by_date(adae, dataset_adsl=adsl, periods=periods, date=cfg.period_date,
                                          first_from=cfg.period_first_from, dataset_name="ADAE")
    if cfg.te_start:
        adae = derive_var_treatment_emergent(adae, cfg)
    if cfg.reference_date:
        adae = derive_vars_dy(adae, reference_date=cfg.reference_date,
                              source_vars={"ASTDY": "ASTDT", "AENDY": "AENDT"}, dataset_name="ADAE")

    # -- worst-grade occurrence flags --------------------------------------------------------------------------
    for rule in cfg.flags:
        adae = rule.apply(adae, dataset_name="ADAE")
    return derive_var_obs_number(adae, order=cfg.order, new_var="ASEQ", dataset_name="ADAE")


def derive_var_treatment_emergent(adae: pd.DataFrame, cfg: AdaeSpec) -> pd.DataFrame:
    """TRTEMFL: Y for events starting in the window [start, end + end_window] (`derive_var_trtemfl`) that meet the
    protocol's filter; missing otherwise."""
    out = derive_var_trtemfl(adae, new_var="__TE__", start_date="ASTDT", end_date="AENDT", trt_start_date=cfg.te_start,
                             trt_end_date=cfg.te_end, end_window=cfg.te_window, dataset_name="ADAE")
    keep = evaluate_condition(cfg.te_filter, out, dataset="ADAE")
    flag = (out["__TE__"] == "Y").to_numpy() & keep
    out["TRTEMFL"] = pd.Series(np.where(flag, "Y", None), index=out.index, dtype="str")
    return out.drop(columns="__TE__")


__all__ = ["AdaeSpec", "derive_adae", "derive_var_treatment_emergent", "load_adae_spec"]
