"""The typed model of the ADaM spec files (adam/*.yaml): the shared rule kinds (dates, merges, summaries, cases,
flags, periods, events) and one model per recipe file (adsl, adae, adrs, tte, adbase)."""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import Field

from cdiscflow.specs.typed_base import Condition, Scalar, Strict, ExprValue, Value


# ----------------------------------------------------------------------------------------------------------------
# adam/*.yaml: the shared rule kinds


class DateRuleModel(Strict):
    """NEW: {dtc: X, highest_imputation: M, ...} (adam.verbs.sources.DateRule)."""

    dtc: str
    highest_imputation: Optional[str] = None
    date_imputation: Optional[str] = None
    time_imputation: Optional[str] = None
    min_dates: Optional[list[str]] = None
    max_dates: Optional[list[str]] = None
    preserve: Optional[bool] = None
    flag: Optional[bool] = None


class MergeRuleModel(Strict):
    """Variables from another dataset (admiral's derive_vars_merged; adam.verbs.merge.MergeRule)."""

    dataset: str
    filter: Optional[Condition] = None
    new_vars: dict[str, Optional[str]] = Field(default_factory=dict, description="NEW: SOURCE variable")
    by_vars: Optional[list[str]] = None
    order: Optional[list[str]] = None
    mode: Optional[Literal["first", "last"]] = None
    exist_flag: Optional[str] = None
    true_value: Scalar = None
    false_value: Scalar = None
    missing_values: Optional[dict[str, Scalar]] = None
    description: Optional[str] = None


SummaryFunction = dict[Literal["sum", "mean", "min", "max", "count", "n_distinct"], Optional[str]]


class SummaryRuleModel(Strict):
    """Sums, counts ... over another dataset's records (admiral's derive_vars_merged_summary)."""

    dataset: str
    filter: Optional[Condition] = None
    new_vars: dict[str, SummaryFunction]
    by_vars: Optional[list[str]] = None
    missing_values: Optional[dict[str, Scalar]] = None
    description: Optional[str] = None


class DurationModel(Strict):
    start: str
    end: str
    add_one: Optional[bool] = None
    unit: Optional[str] = None


class CasesRule(Strict):
    cases: dict[Union[str, int, float], Condition] = Field(description="value -> condition, first true wins")
    default: Optional[Value] = None


class ExprRule(Strict):
    expr: str


class DurationRule(Strict):
    duration: DurationModel


VariableRuleModel = Union[CasesRule, ExprRule, DurationRule, Scalar]  # adam.verbs.categories.VariableRule


class PeriodModel(Strict):
    period: int
    name: Optional[str] = None
    epoch: str


class EventModel(Strict):
    dataset: str
    condition: Optional[Condition] = None
    set_values_to: dict[str, Value] = Field(default_factory=dict)
    description: Optional[str] = None


class ExtremeEventModel(Strict):
    new_vars: list[str]
    events: list[EventModel]
    order: Optional[list[str]] = None
    mode: Optional[Literal["first", "last"]] = None
    ignore_event_order: Optional[bool] = None
    description: Optional[str] = None


class FlagRuleModel(Strict):
    by: list[str]
    order: list[str]
    mode: Optional[Literal["first", "last"]] = None
    filter: Optional[Condition] = None


# ----------------------------------------------------------------------------------------------------------------
# adam/adsl.yaml


class ExposureModel(Strict):
    dataset: Optional[str] = None
    filter: Optional[Condition] = None
    merges: list[MergeRuleModel] = Field(default_factory=list)
    dates: dict[str, DateRuleModel] = Field(default_factory=dict)


class AliveSourceModel(Strict):
    dataset: str
    date: str
    filter: Optional[Condition] = None
    dates: dict[str, DateRuleModel] = Field(default_factory=dict)


class StatusModel(Strict):
    filter: Condition
    reason: Optional[str] = None
    date: Optional[str] = None
    population: Optional[Condition] = None


class AnalysisModel(Strict):
    merges: list[MergeRuleModel] = Field(default_factory=list)
    derive: dict[str, VariableRuleModel] = Field(default_factory=dict)


class AdslFile(Strict):
    description: Optional[str] = None
    filter: Optional[Condition] = None
    dates: dict[str, DateRuleModel] = Field(default_factory=dict)
    exposure: Optional[ExposureModel] = None
    periods: list[PeriodModel] = Field(default_factory=list)
    merges: list[MergeRuleModel] = Field(default_factory=list)
    summaries: list[SummaryRuleModel] = Field(default_factory=list)
    extreme_events: list[ExtremeEventModel] = Field(default_factory=list)
    last_alive: list[AliveSourceModel] = Field(default_factory=list)
    disposition: dict[str, StatusModel] = Field(default_factory=dict)
    derive: dict[str, VariableRuleModel] = Field(default_factory=dict)
    analysis: Optional[AnalysisModel] = None


# ----------------------------------------------------------------------------------------------------------------
# adam/adae.yaml


class QueryTermGroup(Strict):
    variable: str
    in_: Optional[Union[list[str], str]] = Field(None, alias="in")
    contains: Optional[Union[list[str], str]] = None
    unless: Optional[Condition] = None


class QueryModel(Strict):
    name: str
    terms: list[QueryTermGroup]
    description: Optional[str] = None


class AdaePeriod(Strict):
    date: Optional[str] = None
    first_from: Optional[str] = None


class TreatmentEmergent(Strict):
    start: Optional[str] = None
    end: Optional[str] = None
    end_window: Optional[int] = None
    filter: Optional[Condition] = None


class AdaeFile(Strict):
    description: Optional[str] = None
    source: Optional[str] = None
    adsl_vars: list[str] = Field(default_factory=list)
    dates: dict[str, DateRuleModel] = Field(default_factory=dict)
    derive: dict[str, VariableRuleModel] = Field(default_factory=dict)
    queries: dict[str, QueryModel] = Field(default_factory=dict)
    period: Optional[AdaePeriod] = None
    treatment_emergent: Optional[TreatmentEmergent] = None
    reference_date: Optional[str] = None
    flags: dict[str, FlagRuleModel] = Field(default_factory=dict)
    order: Optional[list[str]] = None


# ----------------------------------------------------------------------------------------------------------------
# adam/adrs.yaml


class ResponseSource(Strict):
    dataset: Optional[str] = None
    filter: Optional[Condition] = None
    value: Optional[str] = None
    date: Optional[str] = None
    dates: dict[str, DateRuleModel] = Field(default_factory=dict)
    order: Optional[list[str]] = None


class ResponseCriteriaChoice(Strict):
    id: str
    overrides: dict[str, Any] = Field(default_factory=dict,
                                      description="settings of specs/standards/response/<id>.yaml to replace")


class LastAssessment(Strict):
    parameter: Optional[Literal["OVR", "COVR"]] = None
    not_evaluable: Optional[Literal["skip", "include"]] = None


class AdrsFile(Strict):
    description: Optional[str] = None
    response_criteria: ResponseCriteriaChoice
    source: Optional[ResponseSource] = None
    origin: Optional[str] = None
    new_therapy_date: Optional[str] = None
    pd_confirmed_vars: Optional[list[str]] = None
    parameters: dict[str, str] = Field(default_factory=dict, description="PARAMCD -> PARAM")
    last_assessment: Optional[LastAssessment] = None


# ----------------------------------------------------------------------------------------------------------------
# adam/tte.yaml


class TteSourceModel(Strict):
    type: Literal["event", "censor"]
    dataset: str
    date: str
    filter: Optional[Condition] = None
    order: Optional[list[str]] = None
    censor: Optional[int] = None
    set_values_to: dict[str, Value] = Field(default_factory=dict)
    description: Optional[str] = None


class TteParameterModel(Strict):
    start_date: str
    events: list[str]
    censors: list[str] = Field(default_factory=list)
    set_values_to: dict[str, Value] = Field(default_factory=dict)
    population: Optional[Condition] = None
    description: Optional[str] = None


class TteFile(Strict):
    description: Optional[str] = None
    sources: dict[str, TteSourceModel]
    parameters: dict[str, TteParameterModel]
    adsl_vars: list[str] = Field(default_factory=list)
    derive: dict[str, VariableRuleModel] = Field(default_factory=dict)


# ----------------------------------------------------------------------------------------------------------------
# adam/adbase.yaml


class Timepoint(Strict):
    avisit: str
    avisitn: float
    date: str


class BaseSource(Strict):
    dataset: str
    filter: Optional[Condition] = None
    aval: Optional[Union[str, ExprValue]] = None
    avalc: Optional[Union[str, ExprValue]] = None


class BaseExists(Strict):
    dataset: str
    filter: Optional[Condition] = None


class BaseParameterModel(Strict):
    param: str
    parcat1: Optional[str] = None
    from_: Optional[BaseSource] = Field(None, alias="from")
    exists: Union[BaseExists, list[BaseExists], None] = None
    cases: Optional[dict[Union[str, int, float], Condition]] = None
    default: Optional[Value] = None
    expr: Optional[str] = None
    keep: Optional[bool] = None


class AdbaseFile(Strict):
    description: Optional[str] = None
    timepoints: list[Timepoint]
    parameters: dict[str, BaseParameterModel]
