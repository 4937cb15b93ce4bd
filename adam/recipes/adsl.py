"""ADSL, one record per subject of DM, derived top-down like admiral's `ad_adsl.R` template.

The recipe is the same for every study; what a study decides is data in ``specs/<study>/adam/adsl.yaml``:

    filter:        the DM records that become ADSL subjects (default: every one), e.g. ACTARMCD != 'Scrnfail'
    dates:         imputed dates on DM (e.g. DTHDT with DTHDTF)                      -> sources.DateRule
    exposure:      the EX records that count as a dose (TRTSDT(M), TRTEDT(M), SAFFL)
                     dataset (EX), filter; merges: variables other datasets lend the dose records (MergeRule into
                     EX, e.g. the discontinuation date); dates: DateRules on the dose records that replace the
                     default EXSTDTM/EXENDTM (time imputed only), e.g. an open last dose ending at discontinuation
    periods:       analysis periods by EPOCH (APxxSDT/APxxEDT, TRTxxP/TRTxxA)         -> periods.Period
    merges:        variables from other datasets (admiral's derive_vars_merged)      -> merge.MergeRule
    summaries:     sums, counts ... over another dataset's records per subject
                   (admiral's derive_vars_merged_summary: cumulative dose, questionnaire totals) -> merge.SummaryRule
    extreme_events: the first/last of ordered events (admiral's derive_vars_extreme_event, e.g. the cause of
                   death from a fatal AE, else DS)                                    -> extreme.ExtremeEventRule
    last_alive:    the dates that show a subject alive (LSTALVDT, on or before the data cut)
    disposition:   status variables from DS (EOSSTT, EOTxxSTT ...) and their reasons
    derive:        variables from conditions, expressions, durations (groups, flags)  -> categories.VariableRule
    analysis:      merges + derive from other ADaM datasets (e.g. best response from ADRS), run after them

Merges and summaries may read the pseudo-dataset EXPOSURE: the dose records as the exposure section prepared them
(filtered, merged, dates imputed; EXSTDT/EXENDT are the dates of EXSTDTM/EXENDTM).

Every section is optional except what the spec's ADSL variables need.  `derive_adsl` returns the working ADSL
(every derived variable, the spec's and the helpers); `derive_study` keeps the spec's variables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from cdiscflow.adam.verbs.checks import SUBJECT_KEYS, check_frame, require_columns, text
from cdiscflow.adam.verbs.categories import VariableRule, apply_variable_rules, load_variable_rules
from cdiscflow.adam.verbs.dates import derive_vars_dtm
from cdiscflow.core.expr import Expr, ExpressionError, evaluate_condition, parse
from cdiscflow.adam.verbs.extreme import Event, ExtremeEventRule, derive_vars_extreme_event, load_extreme_event_rules
from cdiscflow.adam.verbs.merge import MergeRule, SummaryRule, derive_vars_merged, load_merge_rules, load_summary_rules
from cdiscflow.adam.verbs.periods import Period, derive_vars_period, load_periods
from cdiscflow.adam.verbs.sources import DateRule, SourceData, apply_date_rules, load_date_rules
from cdiscflow.core.errors import InputError, SpecError
from cdiscflow.specs.model import NAME_RE, StudySpec

SECTION = "adam/adsl"
EXPOSURE = "EXPOSURE"  # the prepared dose records, as merges and summaries name them


# ----------------------------------------------------------------------------------------------------------------
# the spec section


@dataclass(frozen=True)
class AliveSource:
    dataset: str
    date: str
    filter: str | None = None
    dates: tuple[DateRule, ...] = ()


@dataclass(frozen=True)
class Status:
    """A disposition status variable: COMPLETED / DISCONTINUED from the DS records meeting `filter` (DSDECOD
    COMPLETED or any other term), else ONGOING for subjects meeting `population`."""

    name: str
    filter: str
    reason: str | None = None
    date: str | None = None
    population: str | None = None


@dataclass(frozen=True)
class AdslSpec:
    filter: str | None = None
    dates: tuple[DateRule, ...] = ()
    exposure_dataset: str = "EX"
    exposure_filter: str | None = None
    exposure_merges: tuple[MergeRule, ...] = ()
    exposure_dates: tuple[DateRule, ...] = ()
    periods: tuple[Period, ...] = ()
    merges: tuple[MergeRule, ...] = ()
    summaries: tuple[SummaryRule, ...] = ()
    last_alive: tuple[AliveSource, ...] = ()
    disposition: tuple[Status, ...] = ()
    derive: tuple[VariableRule, ...] = ()
    analysis_merges: tuple[MergeRule, ...] = ()
    analysis_derive: tuple[VariableRule, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    extreme_events: tuple[ExtremeEventRule, ...] = ()


_KEYS = {"description", "filter", "dates", "exposure", "periods", "merges", "summaries", "last_alive", "disposition",
         "derive", "analysis", "extreme_events"}


def load_adsl_spec(spec: StudySpec, section: str = SECTION) -> AdslSpec:
    """The ADSL settings of a study (an empty section gives DM plus treatment dates); SpecError lists problems."""
    data = spec.section(section) or {}
    where = f"{section}.yaml"
    problems: list[str] = []

    def collect(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SpecError as exc:
            problems.extend(exc.problems)
            return ()

    if not isinstance(data, Mapping):
        raise SpecError(f"{where}: must be a mapping of sections ({', '.join(sorted(_KEYS))})")
    for key in sorted(set(data) - _KEYS):
        problems.append(f"{where}: unknown section '{key}' (expected {', '.join(sorted(_KEYS))})")
    exposure = data.get("exposure") or {}
    if not isinstance(exposure, Mapping) or set(exposure) - {"dataset", "filter", "merges", "dates"}:
        problems.append(f"{where}: exposure: give dataset (default EX), filter (the records that count as a dose) "
                        f"and optionally merges and dates (on the dose records)")
        exposure = {}
    _check_condition(exposure.get("filter"), f"{where}: exposure.filter", problems)
    _check_condition(data.get("filter"), f"{where}: filter", problems)
    alive = []
    for i, item in enumerate(data.get("last_alive") or ()):
        loc = f"{where}: last_alive[{i + 1}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("dataset"), str) or not _name(item.get("date")):
            problems.append(f"{loc}: give dataset and date (a date variable), optionally filter and dates")
            continue
        _check_condition(item.get("filter"), f"{loc}.filter", problems)
        alive.append(AliveSource(item["dataset"].upper(), item["date"], item.get("filter"),
                                 collect(load_date_rules, item.get("dates"), where=f"{loc}.dates")))
    statuses = []
    for name, item in (data.get("disposition") or {}).items():
        loc = f"{where}: disposition.{name}"
        if not _name(name) or not isinstance(item, Mapping) or not isinstance(item.get("filter"), str):
            problems.append(f"{loc}: give the status variable's DS filter, optionally reason, date, population")
            continue
        unknown = sorted(set(item) - {"filter", "reason", "date", "population"})
        if unknown:
            problems.append(f"{loc}: unknown key(s) {', '.join(unknown)}")
        for key in ("filter", "population"):
            _check_condition(item.get(key), f"{loc}.{key}", problems)
        statuses.append(Status(name, item["filter"], item.get("reason"), item.get("date"), item.get("population")))
    analysis = data.get("analysis") or {}
    if not isinstance(analysis, Mapping) or set(analysis) - {"merges", "derive"}:
        problems.append(f"{where}: analysis: has merges and derive (from ADaM datasets derived after ADSL)")
        analysis = {}
    out = AdslSpec(
        filter=None if data.get("filter") is None else str(data["filter"]),
        dates=collect(load_date_rules, data.get("dates"), where=f"{where}: dates"),
        exposure_dataset=str(exposure.get("dataset", "EX")).upper(),
        exposure_filter=exposure.get("filter"),
        exposure_merges=collect(load_merge_rules, exposure.get("merges"), where=f"{where}: exposure.merges"),
        exposure_dates=collect(load_date_rules, exposure.get("dates"), where=f"{where}: exposure.dates"),
        periods=collect(load_periods, data.get("periods"), where=f"{where}: periods"),
        merges=collect(load_merge_rules, data.get("merges"), where=f"{where}: merges"),
        summaries=collect(load_summary_rules, data.get("summaries"), where=f"{where}: summaries"),
        last_alive=tuple(alive),
        disposition=tuple(statuses),
        derive=collect(load_variable_rules, data.get("derive"), where=f"{where}: derive"),
        analysis_merges=collect(load_merge_rules, analysis.get("merges"), where=f"{where}: analysis.merges"),
        analysis_derive=collect(load_variable_rules, analysis.get("derive"), where=f"{where}: analysis.derive"),
        extreme_events=collect(load_extreme_event_rules, data.get("extreme_events"), where=f"{where}: extreme_events"),
    )
    if problems:
        raise SpecError(problems, path=str(spec.path))
    return out


def _name(value: Any) -> bool:
    return isinstance(value, str) and bool(NAME_RE.match(value))


def _check_condition(condition: Any, where: str, problems: list[str]) -> None:
    if condition is None:
        return
    try:
        parse(str(condition))
    except ExpressionError as exc:
        problems.append(f"{where}: {exc}")


# ----------------------------------------------------------------------------------------------------------------
# the recipe


def derive_adsl(spec: StudySpec, sources: SourceData, settings: AdslSpec | None = None) -> pd.DataFrame:
    """ADSL from DM and the other SDTM datasets, step by step as the study's adsl.yaml says (see the module text)."""
    cfg = settings or load_adsl_spec(spec)

    # -- demographics: DM with its qualifiers and dates; the data cut ------------------------------------------
    dm = sources["DM"]
    if cfg.filter is not None:
        dm = dm.loc[evaluate_condition(cfg.filter, dm, dataset="DM")].reset_index(drop=True)
    adsl = apply_date_rules(dm, cfg.dates, dataset_name="ADSL")
    adsl = adsl.assign(DCUTDT=pd.Timestamp(spec.datacut))

    # -- treatment: first and last dose, safety population -----------------------------------------------------
    ex = exposure_records(sources, cfg)
    adsl = derive_vars_treatment(adsl, dataset_ex=ex)

    # -- periods: APxxSDT/APxxEDT, TRTxxP/TRTxxA ---------------------------------------------------------------
    if cfg.periods:
        adsl = derive_vars_period(adsl, periods=cfg.periods, dataset_ex=ex,
                                  dataset_ta=sources["TA"] if "TA" in sources else None,
                                  dataset_se=sources["SE"] if "SE" in sources else None)

    # -- variables from other datasets (registration, disposition details, death cause ...) --------------------
    def source(name: str) -> pd.DataFrame:
        return adsl if name == "ADSL" else ex if name == EXPOSURE else sources[name]

    adsl = apply_merges(adsl, cfg.merges, source)

    # -- summaries of other datasets' records (cumulative dose, questionnaire totals ...) ----------------------
    adsl = apply_merges(adsl, cfg.summaries, source)
    for rule in cfg.extreme_events:  # e.g. the cause of death and its domain
        adsl = rule.apply(adsl, source, dataset_name="ADSL")

    # -- last date known alive ---------------------------------------------------------------------------------
    if cfg.last_alive:
        adsl = derive_var_lstalvdt(adsl, cfg.last_alive, sources)

    # -- disposition -------------------------------------------------------------------------------------------
    for status in cfg.disposition:
        adsl = derive_var_disposition_status(adsl, dataset_ds=sources["DS"], status=status)

    # -- groups and population flags ---------------------------------------------------------------------------
    return apply_variable_rules(adsl, cfg.derive, dataset_name="ADSL")


def complete_adsl(adsl: pd.DataFrame, analysis: Mapping[str, pd.DataFrame], settings: AdslSpec) -> pd.DataFrame:
    """The `analysis` section: variables from ADaM datasets derived after ADSL (e.g. the best response of a period
    from ADRS), then the rules that use them."""
    def source(name: str) -> pd.DataFrame:
        if name not in analysis:
            raise InputError(f"adsl.yaml analysis.merges reads {name}, which the study does not derive "
                             f"(derived: {', '.join(sorted(analysis)) or 'none'})")
        return analysis[name]

    adsl = apply_merges(adsl, settings.analysis_merges, source)
    return apply_variable_rules(adsl, settings.analysis_derive, dataset_name="ADSL")


def apply_merges(dataset: pd.DataFrame, rules, source, *, dataset_name: str = "ADSL") -> pd.DataFrame:
    for rule in rules:
        dataset = rule.apply(dataset, source(rule.dataset), dataset_name=dataset_name)
    return dataset


def exposure_records(sources: SourceData, cfg: AdslSpec) -> pd.DataFrame:
    """The doses: EX records meeting the exposure filter, with EXSTDTM (time imputed 00:00:00) and EXENDTM (time
    imputed 23:59:59), as admiral's template derives them; then the exposure section's merges and dates (which may
    replace EXSTDTM/EXENDTM); EXSTDT/EXENDT are the dates of EXSTDTM/EXENDTM."""
    ex = sources[cfg.exposure_dataset]
    ex = ex.loc[evaluate_condition(cfg.exposure_filter, ex, dataset=cfg.exposure_dataset)]
    for rule in cfg.exposure_merges:
        ex = rule.apply(ex, sources[rule.dataset], dataset_name=cfg.exposure_dataset)
    ex = ex.drop(columns=[c for c in ("EXSTDTM", "EXSTTMF", "EXSTDTF", "EXENDTM", "EXENTMF", "EXENDTF")
                          if c in ex.columns])
    ex = derive_vars_dtm(ex, new_vars_prefix="EXST", dtc="EXSTDTC", highest_imputation="h",
                         flag_imputation="time", dataset_name=cfg.exposure_dataset)
    if "EXENDTC" in ex.columns:
        ex = derive_vars_dtm(ex, new_vars_prefix="EXEN", dtc="EXENDTC", highest_imputation="h",
                             time_imputation="last", flag_imputation="time", dataset_name=cfg.exposure_dataset)
    else:
        ex = ex.assign(EXENDTM=pd.Series(pd.NaT, index=ex.index, dtype="datetime64[us]"),
                       EXENTMF=pd.Series(np.nan, index=ex.index, dtype="str"))
    ex = apply_date_rules(ex, cfg.exposure_dates, dataset_name=cfg.exposure_dataset)
    return ex.assign(EXSTDT=ex["EXSTDTM"].dt.floor("D"), EXENDT=ex["EXENDTM"].dt.floor("D"))


def derive_vars_treatment(adsl: pd.DataFrame, *, dataset_ex: pd.DataFrame) -> pd.DataFrame:
    """TRTSDTM/TRTSTMF/TRTSDT (the first dose's start), TRTEDTM/TRTETMF/TRTEDT (the latest end of a dose; doses
    without an end do not count, as in admiral's template) and SAFFL (Y when the subject has a dose, else N) from
    the dose records of EX."""
    ex = dataset_ex
    order_start = ("EXSTDTM", "EXSEQ") if "EXSEQ" in ex.columns else ("EXSTDTM",)
    order_end = ("EXENDTM", "EXSEQ") if "EXSEQ" in ex.columns else ("EXENDTM",)
    adsl = derive_vars_merged(adsl, dataset_add=ex, filter_add="notna(EXSTDTM)", order=order_start, mode="first",
                              new_vars={"TRTSDTM": "EXSTDTM", "TRTSTMF": "EXSTTMF"}, dataset_name="ADSL",
                              dataset_add_name="EX")
    adsl = derive_vars_merged(adsl, dataset_add=ex, filter_add="notna(EXENDTM)", order=order_end, mode="last",
                              new_vars={"TRTEDTM": "EXENDTM", "TRTETMF": "EXENTMF"}, dataset_name="ADSL",
                              dataset_add_name="EX")
    adsl = adsl.assign(TRTSDT=adsl["TRTSDTM"].dt.floor("D"), TRTEDT=adsl["TRTEDTM"].dt.floor("D"))
    return derive_vars_merged(adsl, dataset_add=ex[list(SUBJECT_KEYS)].drop_duplicates(), new_vars={},
                              exist_flag="SAFFL", false_value="N", dataset_name="ADSL", dataset_add_name="EX")


def derive_var_lstalvdt(adsl: pd.DataFrame, alive: tuple[AliveSource, ...], sources: SourceData) -> pd.DataFrame:
    """LSTALVDT: the latest date among the `alive` sources that is on or before the data cut (DCUTDT)."""
    require_columns(adsl, ["DCUTDT"], dataset="ADSL", purpose="LSTALVDT")
    cut = adsl[[*SUBJECT_KEYS, "DCUTDT"]]
    events, frames = [], {}
    for number, src in enumerate(alive):
        frame = adsl if src.dataset == "ADSL" else sources[src.dataset]
        frame = apply_date_rules(frame, src.dates, dataset_name=src.dataset)
        if "DCUTDT" not in frame.columns:
            frame = derive_vars_merged(frame, dataset_add=cut, new_vars=("DCUTDT",), dataset_name=src.dataset,
                                       dataset_add_name="ADSL")
        name = f"{src.dataset}#{number}"
        frames[name] = frame
        condition = f"notna({src.date}) and {src.date} <= DCUTDT"
        if src.filter:
            condition += f" and ({src.filter})"
        events.append(Event(f"{src.dataset}.{src.date}", condition, {"LSTALVDT": Expr(f"{src.date}")}, name,
                            keep_source_vars=(*SUBJECT_KEYS, src.date)))
    return derive_vars_extreme_event(adsl, events=events, source_datasets=frames, order=("LSTALVDT",), mode="last",
                                     ignore_event_order=True, new_vars=("LSTALVDT",))


def derive_var_disposition_status(adsl: pd.DataFrame, *, dataset_ds: pd.DataFrame, status: Status) -> pd.DataFrame:
    """A status variable (SBJTSTAT terms): COMPLETED when the subject's DS record meeting the filter says COMPLETED,
    DISCONTINUED for any other term, ONGOING without such a record (only for subjects meeting `population`, when
    given); plus the reason (DSDECOD when discontinued) and the date (DSSTDT) if named."""
    check_frame(adsl, name="ADSL")
    new_vars = {"__TERM__": "DSDECOD"}
    if status.date:
        new_vars[status.date] = "DSSTDT"
    order = ("DSSTDT", "DSSEQ") if "DSSEQ" in dataset_ds.columns else ("DSSTDT",)
    work = derive_vars_merged(adsl, dataset_add=dataset_ds, filter_add=status.filter, new_vars=new_vars,
                              order=order, mode="last", dataset_name="ADSL", dataset_add_name="DS")
    term = work["__TERM__"]
    eligible = evaluate_condition(status.population, adsl, dataset="ADSL")
    value = np.where(term.isna(), np.where(eligible, "ONGOING", None),
                     np.where(term == "COMPLETED", "COMPLETED", "DISCONTINUED"))
    work[status.name] = text(value, index=adsl.index)
    if status.reason:
        work[status.reason] = text(np.where(work[status.name] == "DISCONTINUED", term, None), index=adsl.index)
    return work.drop(columns="__TERM__")


__all__ = ["AdslSpec", "AliveSource", "Status", "complete_adsl", "derive_adsl", "derive_var_disposition_status",
           "derive_var_lstalvdt", "derive_vars_treatment", "exposure_records", "load_adsl_spec"]
