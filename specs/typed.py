"""The typed model of every spec file: which keys exist, what each holds.  Unknown keys are errors.

One pydantic model per file kind validates the YAML (or CSV rows) as written, before the loaders build the objects
the pipeline uses (`specs.model.StudySpec`, the ADaM recipes' settings, the report spec).  The loaders keep their
meaning checks (a codelist exists, an expression parses, a term is in CT ...); this model owns the shape: a key
nobody reads, a typo (`filtre:`), a list where a mapping belongs, an unquoted version number.  `specs.check`
turns its errors into problems with file, line and key; `cdiscflow spec schema` writes the JSON Schema of
`SpecFiles` for editors.

    FILE_MODELS                 file kind -> model (see `file_kind`)
    validate_document(kind, data) -> list[TypedProblem]
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError, model_validator

# ----------------------------------------------------------------------------------------------------------------
# building blocks

Condition = str  # the expression language of cdiscflow.core.expr, e.g. "AVALC in ('CR', 'PR') and ADT >= TRTSDT"
Name = str  # a variable or dataset name (upper case, 1-8 characters)
Scalar = Union[str, int, float, bool, None]


class Strict(BaseModel):
    """Every spec mapping: keys are exactly the fields (a typo is an error), values as declared."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class ExprValue(Strict):
    """A value computed from each record: ``{expr: "ADT - TRTSDT + 1"}``."""

    expr: str


Value = Union[ExprValue, Scalar]  # a constant, or {expr: ...}

# ----------------------------------------------------------------------------------------------------------------
# study.yaml


class Standards(Strict):
    SDTMIG: Optional[str] = None
    SDTM: Optional[str] = None
    ADaMIG: Optional[str] = None
    ADaM: Optional[str] = None
    define: Optional[str] = Field(None, description="Define-XML version, e.g. \"2.1.0\"")
    ct: dict[str, str] = Field(default_factory=dict, description="CT package date per standard: {SDTM: \"2025-03-28\"}")
    dictionaries: dict[str, str] = Field(default_factory=dict, description="{MedDRA: \"23.0\", CTCAE: \"4.03\"}")


class RawSettings(Strict):
    dir: Optional[str] = Field(None, description="the raw export folder, relative to the study folder")
    subject: Optional[str] = Field(None, description="raw field identifying the subject in every form (SUBJID)")
    site: Optional[str] = Field(None, description="raw field holding the site")
    usubjid: Optional[str] = Field(None, description="USUBJID template over STUDYID and raw fields: \"{STUDYID}-{SUBJID}\"")
    encoding: Optional[str] = None
    delimiter: Optional[str] = None
    comment: Optional[str] = Field(None, description="leading lines starting with this text are skipped")
    earliest_date: Optional[Any] = Field(None, description="no date of a record may be earlier (YYYY-MM-DD; default "
                                                         "1900-01-01): earlier ones are MAP-DATE-FLOOR errors")


class AdrsValidation(Strict):
    ovr: list[str] = Field(default_factory=list, description="PARAMCDs of the overall response per visit")
    bor: list[str] = Field(default_factory=list, description="PARAMCDs of the best overall response")


class ValidationOptions(Strict):
    adrs: Optional[AdrsValidation] = None


class StudyFile(Strict):
    """study.yaml: identity, data cut, standards, raw-export settings."""

    studyid: str
    name: Optional[str] = None
    title: Optional[str] = None
    protocol: Optional[str] = None
    description: Optional[str] = None
    registry: dict[str, str] = Field(default_factory=dict)
    sponsor: Optional[str] = None
    country: Optional[str] = None
    synthetic: bool = False
    datacut: Optional[Any] = Field(None, description="data cut-off date, YYYY-MM-DD")
    metadata_date: Optional[Any] = None
    standards: Standards
    raw: Optional[RawSettings] = None
    validation: Optional[ValidationOptions] = None


# ----------------------------------------------------------------------------------------------------------------
# forms.yaml


class FormFieldModel(Strict):
    name: str
    label: Optional[str] = None
    type: Literal["text", "integer", "float", "date", "time", "datetime"] = "text"
    format: Union[str, list[str], None] = Field(None, description="date/time format(s), alternatives tried in order")
    codelist: Optional[str] = None
    required: bool = False
    description: Optional[str] = None
    specify: Optional[bool] = Field(None, description="marks the free text of an 'other, specify' answer")


class FormModel(Strict):
    file: Optional[str] = Field(None, description="file of the form in the raw folder (default <form>.csv)")
    label: Optional[str] = None
    description: Optional[str] = None
    keys: list[str] = Field(default_factory=list)
    fields: list[FormFieldModel]


class FormsFile(Strict):
    forms: dict[str, FormModel]


# ----------------------------------------------------------------------------------------------------------------
# sdtm/<dataset>.yaml

# A condition on raw fields (block `where`, rule `when`): FIELD -> value | [values] | {not|present|ge|gt|le|lt: ...}
# | {codelist: CL, in|not: ...}; its meaning is checked by the loader.
RawCondition = dict[str, Any]
CONDITION_HELP = ("a condition: expression text (as in ADaM), or the mapping form FIELD: test that compiles to one "
                  "(see [Conditions](#conditions))")


def _condition(**kw: Any) -> Any:
    """A `where`/`when` key of the SDTM files: expression text or the mapping form (specs.conditions)."""
    return Field(None, description=CONDITION_HELP, **kw)


class RuleModel(Strict):
    """One mapping rule: exactly one of assign, ct, hardcode, dtc, derive, plus that algorithm's settings."""

    assign: Union[str, list[str], None] = None
    ct: Union[str, list[str], None] = None
    hardcode: Scalar = None
    dtc: Optional[str] = None
    derive: Optional[str] = None
    when: Optional[Union[RawCondition, str]] = _condition()
    codelist: Optional[str] = None
    via: Optional[str] = None
    format: Optional[str] = None
    pattern: Optional[str] = None
    case: Optional[Literal["upper", "lower"]] = None
    time: Optional[str] = None
    # record derivations (sdtm.algorithms)
    field: Optional[str] = None
    fields: Optional[list[str]] = None
    add: Optional[float] = None
    multiply: Optional[float] = None
    divide: Optional[float] = None
    digits: Optional[int] = None
    key: Optional[str] = None
    otherwise: Scalar = None
    # dataset derivations (sdtm.derivations)
    by: Optional[list[str]] = None
    visit: Optional[str] = None
    visitnum: Optional[str] = None
    number_from: Optional[str] = None
    unplanned: Optional[Any] = None
    date: Union[str, list[str], None] = None
    reference: Optional[str] = None
    birth: Optional[str] = None
    sources: Optional[list[dict[str, Any]]] = None
    present: Optional[str] = None
    value: Scalar = None
    variable: Optional[str] = None
    dataset: Optional[str] = None
    where: Optional[Union[RawCondition, str]] = _condition()
    code: Optional[str] = None
    fill: Optional[bool] = None


RuleSpec = Union[str, RuleModel]  # a bare field name is {assign: FIELD}


class BlockModel(Strict):
    form: str
    description: Optional[str] = None
    where: Optional[Union[RawCondition, str]] = _condition()
    map: dict[str, Union[RuleSpec, list[RuleSpec], None]] = Field(default_factory=dict)
    supp: dict[str, Union[RuleSpec, list[RuleSpec]]] = Field(default_factory=dict)
    ignore: dict[str, str] = Field(default_factory=dict, description="raw field -> why it is not mapped")


class MappingOptions(Strict):
    build: Optional[str] = Field(None, description="a dataset built by code from other data (subject_elements)")


class SdtmMappingFile(Strict):
    dataset: str
    description: Optional[str] = None
    blocks: list[BlockModel] = Field(default_factory=list)
    derive: dict[str, Union[RuleModel, list[RuleModel]]] = Field(default_factory=dict)
    options: Optional[MappingOptions] = None


# ----------------------------------------------------------------------------------------------------------------
# trial_design.yaml (rows of TE/TA/TV/TI/TS: their keys are variables of those datasets, checked by the loader)


class SourceRef(Strict):
    """Where a date comes from: a raw form or a mapped dataset, optionally filtered."""

    form: Optional[str] = None
    dataset: Optional[str] = None
    date: Optional[str] = None
    where: Optional[Union[RawCondition, str]] = _condition()
    pick: Optional[Literal["first", "last"]] = None
    after: Optional[list[str]] = None


class DesignRow(BaseModel):
    """A trial-design row: upper-case keys are variables of the design dataset; the rest are the listed settings."""

    model_config = ConfigDict(extra="allow", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _only_variables_and_settings(cls, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = set(cls.model_fields)
            bad = [k for k in data if k not in allowed
                   and not (isinstance(k, str) and re.fullmatch(r"[A-Z][A-Z0-9_]{0,7}", k))]
            if bad:
                raise ValueError(f"unknown key(s) {', '.join(map(str, bad))}: a row holds variables (upper case)"
                                 + (f" and {', '.join(sorted(allowed))}" if allowed else ""))
        return data


class ElementRow(DesignRow):
    start: Optional[SourceRef] = None


class ArmAssign(Strict):
    form: Optional[str] = None
    dataset: Optional[str] = None
    where: Optional[Union[RawCondition, str]] = _condition()


class ArmRow(DesignRow):
    elements: list[str] = Field(default_factory=list)
    assign: Union[ArmAssign, Literal["otherwise"], None] = None


class VisitRow(DesignRow):
    repeat: Optional[list[Any]] = None


class PlainRow(DesignRow):
    pass


class SummaryRow(DesignRow):
    codelist: Optional[str] = None
    derive: Optional[dict[str, Any]] = None


class SubjectEnd(Strict):
    dataset: Optional[str] = None
    form: Optional[str] = None
    date: Optional[str] = None
    where: Optional[Union[RawCondition, str]] = _condition()


class TrialDesignFile(Strict):
    description: Optional[str] = None
    elements: list[ElementRow] = Field(default_factory=list)
    arms: list[ArmRow] = Field(default_factory=list)
    visits: list[VisitRow] = Field(default_factory=list)
    criteria: list[PlainRow] = Field(default_factory=list)
    summary: list[SummaryRow] = Field(default_factory=list)
    subject_end: Optional[SubjectEnd] = None


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


# ----------------------------------------------------------------------------------------------------------------
# report.yaml, facts.yaml, comparison.yaml (their items are checked in depth by specs.report / sdtm.compare)


class Population(Strict):
    label: Optional[str] = None
    where: Condition
    dataset: Optional[str] = None


class ReportSection(Strict):
    title: str
    items: list[dict[str, Any]] = Field(default_factory=list, description="text, table, time_to_event, reproduction")


class ReportFile(Strict):
    title: Optional[str] = None
    facts: Optional[str] = Field(None, description="the facts file of published figures (default facts.yaml)")
    populations: dict[str, Population] = Field(default_factory=dict)
    sections: list[ReportSection] = Field(default_factory=list)


class FactsFile(RootModel[dict[str, Any]]):
    """facts.yaml: published figures by id (free structure; report.yaml links cells to them with `fact:`)."""


class ConformanceExplanation(Strict):
    text: str = Field(description="why the rule reports issues (shown in out/reviewers_guide.html)")
    datasets: list[str] = Field(default_factory=list, description="the datasets it covers (empty: every dataset)")


class ConformanceFile(Strict):
    """conformance.yaml: the reviewer's guide explanations of conformance issues (CORE or cdiscflow rule ids)."""

    explanations: dict[str, ConformanceExplanation] = Field(default_factory=dict,
                                                            description="rule id -> explanation")


class ComparisonDataset(Strict):
    keys: list[str] = Field(default_factory=list)
    order_by: Optional[list[str]] = None
    differences: dict[str, dict[str, Any]] = Field(default_factory=dict)
    extra_records: list[dict[str, Any]] = Field(default_factory=list)
    not_mapped: dict[str, Any] = Field(default_factory=dict)


class ComparisonReference(Strict):
    name: Optional[str] = None
    files: dict[str, str] = Field(default_factory=dict)


class ComparisonFile(Strict):
    reference: Optional[ComparisonReference] = None
    datasets: dict[str, ComparisonDataset] = Field(default_factory=dict)


# ----------------------------------------------------------------------------------------------------------------
# the metadata CSVs: one model per row (cells are text; blank cells are absent)


class CsvRow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetRow(CsvRow):
    standard: Literal["SDTM", "ADaM"]
    dataset: str
    label: str
    class_: str = Field(alias="class")
    structure: str
    keys: str = ""
    subclass: str = ""
    repeating: str = ""
    reference_data: str = ""
    comment: str = ""


class VariableRow(CsvRow):
    dataset: str
    order: str = ""
    variable: str
    label: str = ""
    datatype: str
    length: str = ""
    codelist: str = ""
    origin: str = ""
    source: str = ""
    core: str = ""
    role: str = ""
    display_format: str = ""
    method: str = ""
    significant_digits: str = ""
    comment: str = ""
    mandatory: str = ""
    pages: str = ""


class ValueLevelRow(CsvRow):
    dataset: str
    variable: str
    where: str
    datatype: str
    length: str = ""
    codelist: str = ""
    origin: str = ""
    label: str = ""
    method: str = ""
    display_format: str = ""
    comment: str = ""
    significant_digits: str = ""
    mandatory: str = ""
    source: str = ""
    pages: str = ""


class CodelistRow(CsvRow):
    codelist: str
    codelist_code: str = ""
    codelist_name: str = ""
    extensible: str = ""
    datatype: str = ""
    dictionary: str = ""
    version: str = ""
    term: str = ""
    term_code: str = ""
    decode: str = ""
    synonyms: str = ""
    order: str = ""


class MethodRow(CsvRow):
    method: str
    name: str = ""
    type: str
    description: str
    expression_context: str = ""
    expression_code: str = ""
    document: str = ""
    pages: str = ""


class CommentRow(CsvRow):
    comment: str
    description: str
    document: str = ""
    pages: str = ""


class DocumentRow(CsvRow):
    document: str
    title: str = ""
    href: str
    kind: str = ""


CSV_MODELS: dict[str, type[CsvRow]] = {
    "datasets.csv": DatasetRow, "variables.csv": VariableRow, "valuelevel.csv": ValueLevelRow,
    "codelists.csv": CodelistRow, "methods.csv": MethodRow, "comments.csv": CommentRow, "documents.csv": DocumentRow,
}

FILE_MODELS: dict[str, type[BaseModel]] = {
    "study.yaml": StudyFile, "forms.yaml": FormsFile, "trial_design.yaml": TrialDesignFile,
    "report.yaml": ReportFile, "facts.yaml": FactsFile, "comparison.yaml": ComparisonFile,
    "conformance.yaml": ConformanceFile, "sdtm/*.yaml": SdtmMappingFile, "adam/adsl.yaml": AdslFile, "adam/adae.yaml": AdaeFile,
    "adam/adrs.yaml": AdrsFile, "adam/tte.yaml": TteFile, "adam/adbase.yaml": AdbaseFile,
}


class SpecFiles(Strict):
    """All files of a study folder (for the JSON Schema: one definition per file kind)."""

    study: StudyFile
    forms: Optional[FormsFile] = None
    trial_design: Optional[TrialDesignFile] = None
    sdtm: dict[str, SdtmMappingFile] = Field(default_factory=dict, description="sdtm/<dataset>.yaml")
    adsl: Optional[AdslFile] = Field(None, description="adam/adsl.yaml")
    adae: Optional[AdaeFile] = Field(None, description="adam/adae.yaml")
    adrs: Optional[AdrsFile] = Field(None, description="adam/adrs.yaml")
    tte: Optional[TteFile] = Field(None, description="adam/tte.yaml")
    adbase: Optional[AdbaseFile] = Field(None, description="adam/adbase.yaml")
    report: Optional[ReportFile] = None
    facts: Optional[FactsFile] = None
    comparison: Optional[ComparisonFile] = None
    conformance: Optional[ConformanceFile] = None


def file_kind(rel: str) -> str | None:
    """The FILE_MODELS key of a spec file path relative to the study folder, or None for a file no model covers."""
    if rel in FILE_MODELS:
        return rel
    if rel.startswith("sdtm/") and rel.endswith(".yaml") and rel.count("/") == 1:
        return "sdtm/*.yaml"
    return None


# ----------------------------------------------------------------------------------------------------------------
# validation -> problems


@dataclass(frozen=True)
class TypedProblem:
    path: tuple  # keys (str) and 0-based indexes (int) into the document
    message: str
    hint: str = ""


def validate_document(kind: str, data: Any) -> list[TypedProblem]:
    """Every problem the model of `kind` finds in a parsed YAML document (one per location)."""
    model = FILE_MODELS[kind]
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return _problems(model, data, exc)
    return []


def validate_row(file: str, row: dict[str, str]) -> list[TypedProblem]:
    """Problems of one CSV row (cells as text; blank cells left out so defaults apply)."""
    model = CSV_MODELS[file]
    data = {k: v for k, v in row.items() if v != ""}
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return _problems(model, data, exc)
    return []


def _problems(model: type[BaseModel], data: Any, exc: ValidationError) -> list[TypedProblem]:
    """One problem per data location: the union branches pydantic tried are folded into the likeliest reason."""
    by_path: dict[tuple, list[dict]] = {}
    for err in exc.errors(include_url=False):
        path = _data_path(data, err["loc"], err["type"] in ("missing", "extra_forbidden"))
        by_path.setdefault(path, []).append(err)
    out = []
    for path, errors in by_path.items():
        if any(p2 != path and p2[: len(path)] == path for p2 in by_path):
            continue  # a deeper location explains it (a union branch that got further)
        extra = [e for e in errors if e["type"] == "extra_forbidden"]
        if extra:
            key = path[-1] if path else "?"
            allowed = _allowed_keys(model, data, path[:-1])
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else (f"expected one of: {', '.join(allowed)}" if allowed else "")
            out.append(TypedProblem(path, f"unknown key '{key}'", hint))
            continue
        err = errors[0]
        out.append(TypedProblem(path, _message(err, errors), _hint(err)))
    return out


def _message(err: dict, errors: list[dict]) -> str:
    if err["type"] == "missing":
        return "required key is missing"
    got = err.get("input")
    shown = repr(got) if not isinstance(got, (dict, list)) else ("a mapping" if isinstance(got, dict) else "a list")
    kinds = sorted({_expected(e) for e in errors if _expected(e)})
    if kinds:
        return f"expected {' or '.join(kinds)}, got {shown}"
    return f"{err['msg']} (got {shown})"


def _expected(err: dict) -> str:
    return {"string_type": "text", "int_type": "a whole number", "int_parsing": "a whole number",
            "float_type": "a number", "float_parsing": "a number", "bool_type": "true/false",
            "bool_parsing": "true/false", "dict_type": "a mapping", "list_type": "a list",
            "model_type": "a mapping", "model_attributes_type": "a mapping",
            "literal_error": f"one of {err.get('ctx', {}).get('expected', '')}",
            "value_error": err["msg"].removeprefix("Value error, "),
            "none_required": "nothing"}.get(err["type"], "")


def _hint(err: dict) -> str:
    if err["type"] == "string_type" and isinstance(err.get("input"), float):
        return "quote it: YAML reads 2.10 as the number 2.1 (write \"2.10\")"
    if err["type"] == "string_type" and isinstance(err.get("input"), bool):
        return "quote it: YAML reads an unquoted Yes/No/true/false as a boolean"
    if err["type"] == "missing":
        return "add it"
    return ""


def _data_path(data: Any, loc: tuple, names_key: bool = False) -> tuple:
    """The path into the document of an error location: union branch tags in `loc` are skipped."""
    path: list = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and any(str(k) == part for k in node):
            key = next(k for k in node if str(k) == part)
            path.append(key)
            node = node[key]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and part.endswith("_") and part[:-1] in node:
            path.append(part[:-1])
            node = node[part[:-1]]
        elif not isinstance(node, (dict, list)):
            break
        elif names_key and isinstance(node, dict) and part not in node and _looks_like_key(part, loc):
            path.append(part)  # the missing / unknown key itself
            break
    return tuple(path)


def _looks_like_key(part: Any, loc: tuple) -> bool:
    return isinstance(part, str) and part == loc[-1]


def _allowed_keys(model: type[BaseModel], data: Any, path: tuple) -> list[str]:
    """The keys a model allows at `path` (the mapping holding an unknown key), found by walking the annotations."""
    import typing

    def keys_of(tp: Any) -> list[str]:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return [f.alias or n for n, f in tp.model_fields.items()]
        return []

    def step(tp: Any, part: Any, value: Any) -> list[Any]:
        origin = typing.get_origin(tp)
        if origin is Union:
            out = []
            for arm in typing.get_args(tp):
                out += step(arm, part, value)
            return out
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            for n, f in tp.model_fields.items():
                if part in (n, f.alias):
                    return [f.annotation]
            return []
        if origin in (list, tuple) and isinstance(part, int):
            return [typing.get_args(tp)[0]]
        if origin is dict:
            return [typing.get_args(tp)[1]]
        return []

    candidates: list[Any] = [model]
    node = data
    for part in path:
        nxt = []
        for tp in candidates:
            nxt += step(tp, part, node)
        candidates = nxt
        node = node[part] if isinstance(node, (dict, list)) else None
    flat: list[Any] = []
    for tp in candidates:
        flat += list(typing.get_args(tp)) if typing.get_origin(tp) is Union else [tp]
    models = [tp for tp in flat if keys_of(tp)]
    if not models:
        return []
    present = set(map(str, node)) if isinstance(node, dict) else set()
    best = max(models, key=lambda tp: len(present & set(keys_of(tp))))
    return keys_of(best)


def schema_text() -> str:
    """The JSON Schema of every spec file kind (`SpecFiles`), as stable, sorted JSON text."""
    import json

    schema = SpecFiles.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "cdiscflow study spec"
    return json.dumps(schema, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def reference_markdown() -> str:
    """docs/spec-reference.md: every key of every spec file kind (type, required, description), from the model."""
    import typing

    def type_name(tp: Any) -> str:
        origin = typing.get_origin(tp)
        if origin is Union:
            return " or ".join(type_name(a) for a in typing.get_args(tp) if a is not type(None))
        if origin in (list, tuple):
            return f"list of {type_name(typing.get_args(tp)[0])}"
        if origin is dict:
            k, v = typing.get_args(tp)
            return f"mapping {type_name(k)} -> {type_name(v)}"
        if origin is Literal:
            return " / ".join(repr(a) for a in typing.get_args(tp))
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return f"[{tp.__name__}](#{tp.__name__.lower()})"
        return getattr(tp, "__name__", str(tp)).replace("NoneType", "null")

    seen: list[type[BaseModel]] = []

    def collect(tp: Any) -> None:
        for arg in typing.get_args(tp):
            collect(arg)
        if isinstance(tp, type) and issubclass(tp, BaseModel) and tp not in seen and tp.model_fields:
            seen.append(tp)
            for f in tp.model_fields.values():
                collect(f.annotation)

    examples = _examples()
    lines = ["# Spec reference (generated from specs/typed.py: `cdiscflow spec schema` writes the JSON Schema)", "",
             "Every key of every spec file. A key not listed is an error (`cdiscflow check-spec` names it, with",
             "the closest known key). Examples are the first use in the embedded studies (`specs/*/`).", "",
             "| file | model |", "|---|---|"]
    for kind, model in [*FILE_MODELS.items(), *CSV_MODELS.items()]:
        lines.append(f"| `{kind}` | [{model.__name__}](#{model.__name__.lower()}) |")
        collect(model)
    for model in seen:
        lines += ["", f"## {model.__name__}", "", (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else "",
                  "", "| key | type | required | description | example |", "|---|---|---|---|---|"]
        for name, f in model.model_fields.items():
            key = f.alias or name
            example = examples.get((model.__name__, key), "")
            example = f"`{example}`" if example else ""
            lines.append(f"| `{key}` | {type_name(f.annotation)} | {'yes' if f.is_required() else ''} "
                         f"| {f.description or ''} | {example} |")
    lines += ["", *_conditions_section()]
    return "\n".join(lines) + "\n"


def _conditions_section() -> list[str]:
    """The one condition language, as specs.conditions documents it (one text, two places)."""
    from cdiscflow.specs import conditions

    doc = (conditions.__doc__ or "").strip().splitlines()
    return ["## Conditions", "", *(line.rstrip() for line in doc)]


def _examples() -> dict[tuple[str, str], str]:
    """(model name, key) -> the first value the embedded studies give it, as one short line of YAML."""
    import csv
    import typing

    import yaml

    from cdiscflow.specs.model import SPECS_DIR, embedded_studies
    from cdiscflow.specs.safe_yaml import load_yaml

    out: dict[tuple[str, str], str] = {}

    def shown(value: Any) -> str:
        text = yaml.safe_dump(value, default_flow_style=True, width=10_000, allow_unicode=True).strip()
        text = text.removesuffix("...").strip().replace("|", "\\|").replace("`", "'")
        return text if len(text) <= 70 else text[:67] + "..."

    def walk(tp: Any, value: Any) -> None:
        origin = typing.get_origin(tp)
        if origin is Union:
            arms = [a for a in typing.get_args(tp) if a is not type(None)]
            models = [a for a in arms if isinstance(a, type) and issubclass(a, BaseModel)]
            if isinstance(value, dict) and models:
                walk(max(models, key=lambda m: len(set(map(str, value)) & set(_keys(m)))), value)
            elif isinstance(value, list):
                for a in arms:
                    if typing.get_origin(a) in (list, tuple):
                        walk(a, value)
                        break
            return
        if origin in (list, tuple) and isinstance(value, list):
            for v in value:
                walk(typing.get_args(tp)[0], v)
        elif origin is dict and isinstance(value, dict):
            for v in value.values():
                walk(typing.get_args(tp)[1], v)
        elif isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(value, dict):
            fields = {f.alias or n: f for n, f in tp.model_fields.items()}
            for k, v in value.items():
                if k in fields:
                    out.setdefault((tp.__name__, k), shown(v))
                    walk(fields[k].annotation, v)

    for name in embedded_studies():
        root = SPECS_DIR / name
        for p in sorted([*root.glob("*.yaml"), *root.glob("sdtm/*.yaml"), *root.glob("adam/*.yaml")]):
            kind = file_kind(p.relative_to(root).as_posix())
            if kind is not None and kind != "facts.yaml":
                walk(FILE_MODELS[kind], load_yaml(p)[0])
        for file, model in CSV_MODELS.items():
            if (root / file).is_file():
                with open(root / file, encoding="utf-8-sig", newline="") as fh:
                    for row in csv.DictReader(fh):
                        for k, v in row.items():
                            if k and v and v.strip():
                                out.setdefault((model.__name__, k.strip()), shown(v.strip()))
    return out


def _keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]
