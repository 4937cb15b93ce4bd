"""ADRS: overall response per assessment, confirmed response, best confirmed response, rates, PD, death, last
assessment; per analysis period when the study has periods (e.g. Part A and Part B).

The recipe follows admiralonco's IMWG vignette; the criteria (response values, AVAL codes, rates, confirmation)
come from ``specs/standards/response/`` and what a study decides from ``specs/<study>/adam/adrs.yaml``:

    response_criteria: {id: IMWG2016}            # see cdiscflow.adam.verbs.response_criteria.response_criteria_from_spec
    source:                                      # the overall response assessments
      dataset: RS
      filter: RSTESTCD == 'OVRLRESP' and RSEVAL == 'INVESTIGATOR'
      value: RSSTRESC                            # becomes AVALC
      dates: {ADT: {dtc: RSDTC, highest_imputation: D, date_imputation: last}}
      order: [RSSEQ]                             # same-day tie-break; the first is SRCSEQ
    origin: RANDDT                               # assessments before it are not analysed (with periods: APERSDT)
    new_therapy_date: NACTDT                     # optional: later assessments neither count nor confirm
    pd_confirmed_vars: [PDIFL]                   # optional: a PD marked Y stands without confirmation
    last_assessment:                             # optional: the LSTA convention (defaults shown)
      parameter: OVR                             # OVR: the collected response; COVR: the confirmed one
      not_evaluable: skip                        # skip: the last evaluable assessment; include: the last one, NE or not
    parameters: {OVR: ..., COVR: ..., CBOR: ..., RSP: ..., PD: ..., DEATH: ..., LSTA: ...}   # PARAMCD: PARAM

Records and flags:

* OVR: one record per assessment (AVALC the collected response; AVAL per the criteria; SRCDOM/SRCVAR/SRCSEQ);
* COVR: the confirmed response at each assessment (`derive_param_confirmed_response`), confirmation within a period;
* ANL01FL on OVR/COVR: one assessment per date (the worst) on or after the origin and not after the data cut
  (ADSL.DCUTDT); ANL02FL: before new anti-cancer
  therapy; ANL03FL: up to and including the first PD (all three per parameter and period);
* CBOR, the rates (e.g. RSP, CBR, DCR), PD: from the COVR records with all three flags, per subject and period,
  with a record (MISSING / N) for every subject who entered the period; a rate whose criteria make some levels
  `sustained` (e.g. CB: MR/SD at least 42 days after the origin) counts those days from `origin` (with periods:
  from the start of the period);
  DEATH per subject from ADSL.DTHDT; LSTA: the last OVR record that is not NE (flags 1 and 2).  Derived records
  have ANL01FL = Y.

Conventions (`last_assessment`, one key each; the defaults are cdiscflow's, the alternatives admiralonco's IMWG):

* ``parameter``: LSTA copies the last OVR record (AVALC the collected response, default) or the last COVR record
  (``COVR``: AVALC the confirmed response, as admiralonco's LSTA over the confirmed responses), flags 1 and 2 either way;
* ``not_evaluable``: an assessment whose collected response is NE, after the last evaluable one, is skipped
  (``skip``, default: LSTA and a PFS censored at LSTA date the last evaluable assessment) or taken (``include``:
  admiralonco's LSTA, PFS censored at the date of that NE assessment).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np
import pandas as pd

from cdiscflow.adam.verbs.checks import SUBJECT_KEYS, require_columns, text
from cdiscflow.core.expr import ExpressionError, evaluate_condition, parse
from cdiscflow.adam.verbs.extreme import derive_extreme_event
from cdiscflow.adam.verbs.flags import derive_var_relative_flag
from cdiscflow.adam.verbs.merge import derive_vars_merged
from cdiscflow.adam.verbs.obs_number import derive_var_obs_number
from cdiscflow.adam.verbs.periods import Period, create_period_dataset, derive_vars_period_by_date
from cdiscflow.adam.verbs.response import (
    YN_AVAL, best_response_events, death_events, derive_param_confirmed_response, derive_var_worst_flag,
    last_assessment_events, progression_events, rate_events,
)
from cdiscflow.adam.verbs.response_criteria import ResponseCriteria, response_criteria_from_spec
from cdiscflow.adam.verbs.sources import DateRule, SourceData, apply_date_rules, load_date_rules
from cdiscflow.core.errors import InputError, SpecError
from cdiscflow.core.findings import Findings
from cdiscflow.specs.model import NAME_RE, StudySpec

SECTION = "adam/adrs"
FIXED = ("OVR", "COVR", "CBOR", "PD", "DEATH", "LSTA")  # parameters with a fixed meaning; rates come from criteria


@dataclass(frozen=True)
class AdrsSpec:
    criteria: ResponseCriteria
    dataset: str
    filter: str | None
    value: str
    date: str
    dates: tuple[DateRule, ...]
    order: tuple[str, ...]
    origin: str | None
    new_therapy_date: str | None
    pd_confirmed_vars: tuple[str, ...]
    parameters: Mapping[str, str]  # PARAMCD -> PARAM, in PARAMN order
    lsta_parameter: str = "OVR"  # last_assessment.parameter: OVR | COVR
    lsta_not_evaluable: str = "skip"  # last_assessment.not_evaluable: skip | include


_KEYS = {"description", "response_criteria", "source", "origin", "new_therapy_date", "pd_confirmed_vars", "parameters",
         "last_assessment"}
_LSTA_CHOICES = {"parameter": ("OVR", "COVR"), "not_evaluable": ("skip", "include")}
_SOURCE_KEYS = {"dataset", "filter", "value", "date", "dates", "order"}


def load_adrs_spec(spec: StudySpec, section: str = SECTION) -> AdrsSpec:
    data = spec.section(section)
    where = f"{section}.yaml"
    if not isinstance(data, Mapping):
        raise SpecError(f"the study spec has no {where} (response criteria, source, parameters)", path=str(spec.path))
    problems: list[str] = []
    for key in sorted(set(data) - _KEYS):
        problems.append(f"{where}: unknown key '{key}' (expected {', '.join(sorted(_KEYS))})")
    criteria = response_criteria_from_spec(spec, section)
    src = data.get("source") or {}
    if not isinstance(src, Mapping) or not isinstance(src.get("dataset"), str) or not _name(src.get("value")):
        problems.append(f"{where}: source: give dataset, filter, value (the response variable) and the date")
        src = {"dataset": "", "value": ""}
    for key in sorted(set(src) - _SOURCE_KEYS):
        problems.append(f"{where}: source: unknown key '{key}' (expected {', '.join(sorted(_SOURCE_KEYS))})")
    if src.get("filter") is not None:
        try:
            parse(str(src["filter"]))
        except ExpressionError as exc:
            problems.append(f"{where}: source.filter: {exc}")
    try:
        dates = load_date_rules(src.get("dates"), where=f"{where}: source.dates")
    except SpecError as exc:
        problems.extend(exc.problems)
        dates = ()
    date = src.get("date", "ADT")
    order = src.get("order") or ()
    order = (order,) if isinstance(order, str) else tuple(order)
    params = data.get("parameters") or {}
    if not isinstance(params, Mapping) or not params:
        problems.append(f"{where}: parameters: map each PARAMCD to derive to its PARAM ({', '.join(FIXED)} and the "
                        f"rates of {criteria.id}: {', '.join(criteria.rates)})")
        params = {}
    for code in params:
        if code not in FIXED and code not in criteria.rates:
            problems.append(f"{where}: parameters: {code} is neither one of {', '.join(FIXED)} nor a rate of "
                            f"{criteria.id} ({', '.join(criteria.rates)})")
    if params and "OVR" not in params:
        problems.append(f"{where}: parameters: OVR (the assessments) is needed for every other parameter")
    from_confirmed = [c for c in params if c in ("CBOR", "PD", *criteria.rates)]
    if from_confirmed and "COVR" not in params:
        problems.append(f"{where}: parameters: {', '.join(from_confirmed)} are derived from the confirmed responses; "
                        "add COVR")
    for key in ("origin", "new_therapy_date"):
        if data.get(key) is not None and not _name(data.get(key)):
            problems.append(f"{where}: {key} must be a date variable name, not {data.get(key)!r}")
    lsta = _last_assessment(data.get("last_assessment"), where, problems)
    if lsta["parameter"] == "COVR" and "LSTA" in params and "COVR" not in params:
        problems.append(f"{where}: last_assessment.parameter COVR takes LSTA from the confirmed responses; add COVR to "
                        "parameters")
    if problems:
        raise SpecError(problems, path=str(spec.path))
    return AdrsSpec(criteria=criteria, dataset=str(src["dataset"]).upper(), filter=src.get("filter"),
                    value=src["value"], date=date, dates=dates, order=order, origin=data.get("origin"),
                    new_therapy_date=data.get("new_therapy_date"),
                    pd_confirmed_vars=tuple(data.get("pd_confirmed_vars") or ()),
                    parameters=MappingProxyType({str(k): str(v) for k, v in params.items()}),
                    lsta_parameter=lsta["parameter"], lsta_not_evaluable=lsta["not_evaluable"])


def _last_assessment(value: Any, where: str, problems: list[str]) -> dict[str, str]:
    """The `last_assessment` conventions with their defaults (OVR, skip); problems named with their key."""
    chosen = {key: options[0] for key, options in _LSTA_CHOICES.items()}
    if value is None:
        return chosen
    if not isinstance(value, Mapping):
        problems.append(f"{where}: last_assessment: must be a mapping ({', '.join(_LSTA_CHOICES)})")
        return chosen
    for key in sorted(set(value) - set(_LSTA_CHOICES), key=str):
        problems.append(f"{where}: last_assessment: unknown key '{key}' (expected {', '.join(_LSTA_CHOICES)})")
    for key, options in _LSTA_CHOICES.items():
        if key in value:
            if value[key] not in options:
                problems.append(f"{where}: last_assessment.{key}: must be one of {', '.join(options)}, "
                                f"not {value[key]!r}")
            else:
                chosen[key] = value[key]
    return chosen


def _name(value: Any) -> bool:
    return isinstance(value, str) and bool(NAME_RE.match(value))


# ----------------------------------------------------------------------------------------------------------------
# the recipe


def derive_adrs(spec: StudySpec, sources: SourceData, adsl: pd.DataFrame, *, periods: tuple[Period, ...] = (),
                findings: Findings | None = None, settings: AdrsSpec | None = None) -> pd.DataFrame:
    """ADRS (working frame, ASEQ assigned) from the response assessments and ADSL; see the module text."""
    cfg = settings or load_adrs_spec(spec)
    crit = cfg.criteria
    by = [*SUBJECT_KEYS, "APERIOD"] if periods else list(SUBJECT_KEYS)
    params = cfg.parameters

    # -- OVR: the assessments ----------------------------------------------------------------------------------
    ovr = overall_response_records(sources, cfg)
    cut = "DCUTDT" if "DCUTDT" in adsl.columns else None
    ovr = _merge_adsl_dates(ovr, adsl, [v for v in (cfg.origin, cfg.new_therapy_date, cut) if v])
    if periods:
        ovr = derive_vars_period_by_date(ovr, dataset_adsl=adsl, periods=periods, date="ADT", dataset_name="ADRS")
        origin = "APERSDT"
    else:
        origin = cfg.origin
    ovr = ovr.assign(PARAMCD="OVR", PARAM=params["OVR"])
    in_scope = "notna(APERIOD)" if periods else None

    # -- COVR: confirmed response at each assessment -----------------------------------------------------------
    adrs = ovr
    if "COVR" in params:
        adrs = derive_param_confirmed_response(
            adrs, criteria=crit, set_values_to={"PARAMCD": "COVR", "PARAM": params["COVR"]},
            source_filter="PARAMCD == 'OVR'" + (f" and {in_scope}" if in_scope else ""), by_vars=by,
            order=cfg.order, new_therapy_date=cfg.new_therapy_date, pd_confirmed_vars=cfg.pd_confirmed_vars,
            findings=findings, dataset_name="ADRS")

    # -- analysis flags on the assessments ---------------------------------------------------------------------
    adrs = flag_assessments(adrs, crit, by=by, origin=origin, new_therapy_date=cfg.new_therapy_date,
                            order=cfg.order, in_scope=in_scope, cut=cut)
    analysed = "ANL01FL == 'Y' and ANL02FL == 'Y' and ANL03FL == 'Y'"
    confirmed = adrs.loc[evaluate_condition(f"PARAMCD == 'COVR' and {analysed}", adrs, dataset="ADRS")]
    assessed = adrs.loc[evaluate_condition(f"PARAMCD == {cfg.lsta_parameter!r} and ANL01FL == 'Y' and ANL02FL == 'Y'",
                                           adrs, dataset="ADRS")]
    if periods:
        subjects = create_period_dataset(adsl, periods=periods)
    else:
        subjects = adsl[list(SUBJECT_KEYS)].copy()
    keep = list(subjects.columns)
    src = {"covr": confirmed, "ovr": assessed, "subjects": subjects, "adsl": adsl[[*SUBJECT_KEYS, "DTHDT"]]}

    # -- best confirmed response, rates, progression (per subject and period) ----------------------------------
    derived = []  # each parameter's records, appended to the assessments at once (not ADRS copied per parameter)

    def add(code: str, events, *, mode: str = "first", aval=None, by_vars=by) -> None:
        if code not in params:
            return
        values = {"PARAMCD": code, "PARAM": params[code], "ANL01FL": "Y"}
        if aval is not None:
            values["AVAL"] = aval
        derived.append(derive_extreme_event(None, events=events, source_datasets=src, by_vars=by_vars,
                                            order=("ADT",), mode=mode, set_values_to=values))

    add("CBOR", best_response_events(crit, dataset_name="covr", adsl_name="subjects", keep_adsl_vars=keep),
        aval=crit.aval_expr())
    late = [r for r in crit.rates if r in params and crit.rates[r].sustained]
    if late and not origin:
        raise SpecError(f"adrs.yaml: {', '.join(late)} count(s) some levels only days after the origin: give origin "
                        "(e.g. RANDDT)", path=str(spec.path))
    for rate in crit.rates:
        if rate in params:
            add(rate, rate_events(crit, rate, dataset_name="covr", adsl_name="subjects", keep_adsl_vars=keep,
                                  origin_date=origin if crit.rates[rate].sustained else None), aval=YN_AVAL)
    add("PD", progression_events(crit, dataset_name="covr", adsl_name="subjects", keep_adsl_vars=keep), aval=YN_AVAL)
    add("LSTA", last_assessment_events(crit, dataset_name="ovr", adsl_name="subjects", keep_adsl_vars=keep,
                                       include_not_evaluable=cfg.lsta_not_evaluable == "include",
                                       response_var="AVALC" if cfg.lsta_parameter == "OVR" else cfg.value),
        mode="last", aval=crit.aval_expr())
    add("DEATH", death_events(adsl_name="adsl"), aval=YN_AVAL, by_vars=list(SUBJECT_KEYS))
    adrs = pd.concat([adrs, *derived], ignore_index=True)
    derived.clear()  # the parameters' records are in ADRS now: their own frames go
    if "DEATH" in params:
        death = (adrs["PARAMCD"] == "DEATH") & (adrs["AVALC"] == "Y")
        adrs.loc[death, "SRCDOM"] = "ADSL"
        adrs.loc[death, "SRCVAR"] = "DTHDT"
        adrs.loc[death, "SRCSEQ"] = np.nan
    order = ["PARAMN", *(["APERIOD"] if periods else []), "ADT", "SRCSEQ"]  # ASEQ: parameter, period, date, record
    return derive_var_obs_number(derive_var_paramn(adrs, params), order=order, new_var="ASEQ", missing="first",
                                 dataset_name="ADRS")


def overall_response_records(sources: SourceData, cfg: AdrsSpec) -> pd.DataFrame:
    """The OVR records: the source assessments with ADT, AVALC (the response) and AVAL, and their origin."""
    rs = apply_date_rules(sources[cfg.dataset], cfg.dates, dataset_name=cfg.dataset)
    rs = rs.loc[evaluate_condition(cfg.filter, rs, dataset=cfg.dataset)]
    require_columns(rs, [cfg.value, cfg.date, *cfg.order], dataset=cfg.dataset, purpose="ADRS")
    out = rs.copy()
    if cfg.date != "ADT":
        out["ADT"] = out[cfg.date]
    out["AVALC"] = out[cfg.value].astype("str")
    out["AVAL"] = cfg.criteria.aval(out["AVALC"])
    out["SRCDOM"] = pd.Series(cfg.dataset, index=out.index, dtype="str")
    out["SRCVAR"] = pd.Series(cfg.value, index=out.index, dtype="str")
    out["SRCSEQ"] = out[cfg.order[0]].astype("float64") if cfg.order else np.nan
    return out


def _merge_adsl_dates(frame: pd.DataFrame, adsl: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    missing = [n for n in names if n not in frame.columns]
    if not missing:
        return frame
    require_columns(adsl, missing, dataset="ADSL", purpose="ADRS origin / new therapy date")
    return derive_vars_merged(frame, dataset_add=adsl, new_vars=missing, dataset_name="ADRS", dataset_add_name="ADSL")


def flag_assessments(adrs: pd.DataFrame, criteria: ResponseCriteria, *, by: list[str], origin: str | None,
                     new_therapy_date: str | None, order: tuple[str, ...], in_scope: str | None,
                     cut: str | None = None) -> pd.DataFrame:
    """ANL01FL (worst assessment per date, on/after the origin and on/before the data cut `cut`), ANL02FL (before
    new anti-cancer therapy) and ANL03FL (up to the first PD) on the OVR and COVR records, per parameter and
    period."""
    scope = "PARAMCD in ('OVR', 'COVR')" + (f" and {in_scope}" if in_scope else "")
    if origin:
        scope += f" and ADT >= {origin}"
    if cut:
        scope += f" and ADT <= {cut}"
    adrs = derive_var_worst_flag(adrs, criteria=criteria, by_vars=[*by, "PARAMCD"], order=order, filter=scope,
                                 dataset_name="ADRS")
    assessment = adrs["PARAMCD"].isin(["OVR", "COVR"]).to_numpy()
    if new_therapy_date:
        before = adrs[new_therapy_date].isna() | (adrs["ADT"] < adrs[new_therapy_date])
        adrs["ANL02FL"] = text(np.where(assessment & before.to_numpy(), "Y", None), index=adrs.index)
    else:
        adrs["ANL02FL"] = text(np.where(assessment, "Y", None), index=adrs.index)
    parts = derive_var_relative_flag(adrs.loc[assessment], by_vars=[*by, "PARAMCD"], order=("ADT", *order),
                                     new_var="ANL03FL", condition=f"AVALC == {criteria.progression!r}",
                                     selection="before", inclusive=True, dataset_name="ADRS")
    adrs["ANL03FL"] = pd.Series(np.nan, index=adrs.index, dtype="str")
    adrs.loc[assessment, "ANL03FL"] = parts["ANL03FL"]
    return adrs


def derive_var_paramn(adrs: pd.DataFrame, params: Mapping[str, str]) -> pd.DataFrame:
    """PARAMN = the position (1, 2 ...) of the record's PARAMCD among the spec's parameters; a PARAMCD the spec does not
    list is an InputError."""
    order = {code: float(i + 1) for i, code in enumerate(params)}
    codes, codelist = pd.factorize(adrs["PARAMCD"])  # each distinct PARAMCD looked up once
    paramn = np.append(np.array([order.get(code, np.nan) for code in codelist], dtype="float64"), np.nan)
    out = adrs.assign(PARAMN=paramn[codes])  # code -1 (missing PARAMCD) takes the appended NaN
    if out["PARAMN"].isna().any():
        raise InputError(f"ADRS has records of parameters the spec does not list: "
                         f"{sorted(set(out.loc[out['PARAMN'].isna(), 'PARAMCD']))}")
    return out


__all__ = ["AdrsSpec", "derive_adrs", "derive_var_paramn", "flag_assessments", "load_adrs_spec",
           "overall_response_records"]
