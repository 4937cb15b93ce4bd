"""The typed model of every spec file: which keys exist, what each holds.  Unknown keys are errors.

One pydantic model per file kind validates the YAML (or CSV rows) as written, before the loaders build the objects
the pipeline uses (`specs.model.StudySpec`, the ADaM recipes' settings, the report spec).  The loaders keep their
meaning checks (a codelist exists, an expression parses, a term is in CT ...); this model owns the shape: a key
nobody reads, a typo (`filtre:`), a list where a mapping belongs, an unquoted version number.  `specs.check`
turns its errors into problems with file, line and key; `cdiscflow spec schema` writes the JSON Schema of
`SpecFiles` for editors.

    FILE_MODELS                 file kind -> model (see `file_kind`)
    validate_document(kind, data) -> list[TypedProblem]      (specs/typed_problems.py)

The models of the SDTM-side and report files are here; the building blocks in specs/typed_base.py, the ADaM recipe
files in specs/typed_adam.py; the JSON Schema and docs/spec-reference.md come from specs/typed_reference.py.
"""

from __future__ import annotations

import re
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

from cdiscflow.specs.typed_adam import AdslFile, AdaeFile, AdrsFile, TteFile, AdbaseFile
from cdiscflow.specs.typed_base import Condition, Scalar, Strict


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
    """One mapping rule: exactly one of assign, ct, hardcode, dtc, derive (or sdtm.oak's name), plus its settings."""

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
    # record derivations (sdtm.mapping.algorithms)
    field: Optional[str] = None
    fields: Optional[list[str]] = None
    add: Optional[float] = None
    multiply: Optional[float] = None
    divide: Optional[float] = None
    digits: Optional[int] = None
    key: Optional[str] = None
    otherwise: Scalar = None
    # dataset derivations (sdtm.mapping.derivations)
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
    # sdtm.oak's algorithm names, aliases of the keys above (specs.model.OAK_ALIASES)
    assign_no_ct: Union[str, list[str], None] = Field(None, description="sdtm.oak's name for `assign`")
    assign_ct: Union[str, list[str], None] = Field(None, description="sdtm.oak's name for `ct`")
    hardcode_no_ct: Scalar = Field(None, description="sdtm.oak's name for `hardcode`")
    hardcode_ct: Scalar = Field(None, description="sdtm.oak's name for `hardcode` with a codelist (required)")
    assign_datetime: Optional[str] = Field(None, description="sdtm.oak's name for `dtc`")
    condition_add: Optional[Union[RawCondition, str]] = Field(
        None, description="sdtm.oak's name for `when`: " + CONDITION_HELP)


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

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)  # built when first used, as Strict

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
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # built when first used, as Strict


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
