"""The report spec's model: frozen dataclasses for every item of report.yaml (the grammar: `cdiscflow.specs.report`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

SECTION = "report"  # report.yaml in the study folder
SUBJECT = "USUBJID"  # the subject key of every dataset the report reads (populations, counts, Kaplan-Meier)
DIMENSIONS = ("row", "category", "column")
UNITS = {"days": 1.0, "weeks": 7.0, "months": 365.25 / 12, "years": 365.25}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
RESERVED = frozenset({"index", "populations", "statistics", "datasets"})  # files the report writes itself
# analysis reason and purpose (CDISC ARM / ARS terms; a sponsor term is allowed too) and what a table says unless set
ANALYSIS_REASONS = ("SPECIFIED IN PROTOCOL", "SPECIFIED IN SAP", "DATA DRIVEN", "REQUESTED BY REGULATORY AGENCY")
ANALYSIS_PURPOSES = ("PRIMARY OUTCOME MEASURE", "SECONDARY OUTCOME MEASURE", "EXPLORATORY OUTCOME MEASURE")
DEFAULT_REASON, DEFAULT_PURPOSE = "SPECIFIED IN SAP", "EXPLORATORY OUTCOME MEASURE"

#: pointwise CI transforms for S(t) (and so for the Brookmeyer-Crowley median interval): report.yaml `ci_transform`
TRANSFORMS = {
    "log": "log transform (R survival default, conf.type='log')",
    "loglog": "log-log transform (SAS PROC LIFETEST default, CONFTYPE=LOGLOG)",
    "linear": "linear transform (R conf.type='plain', SAS CONFTYPE=LINEAR)",
}


@dataclass(frozen=True)
class FactLink:
    """Published figures at `path` in the facts section and where the report's numbers for them are."""

    path: tuple[str, ...]
    table: str = ""  # the report table holding the numbers
    select: Mapping[str, str] = field(default_factory=dict)  # fixed dimensions (row, category, column)
    levels: tuple[Any, ...] = ()  # tree mode: dimension per nesting level; a final dict {dim: [ids]} reads a list
    stat: str = "n"
    keys: tuple[str, ...] = ()  # tree mode: only these keys of the top level
    value: str = ""  # records mode: the field holding the published value
    match: Mapping[str, str] = field(default_factory=dict)  # records mode: field -> dimension
    fields: tuple[str | None, ...] = ()  # tuples mode: dimension (or 'value') per position
    round: int | None = None
    tolerance: Any = None  # number, or (records mode) a field name
    range: Any = None  # [lo, hi], or (records mode) a field name
    test: str = "equal"  # equal | above
    known: Any = None  # known mismatch id, or records mode [{field: value, id: ID}]
    tally: bool = False  # tree mode: the node is a list of values, each one subject (counted per value)
    ci: str = ""  # records mode: field with the published CI (shown, not checked)
    where: str = ""  # location in report.yaml, for messages

    @property
    def mode(self) -> str:
        return "tuples" if self.fields else ("records" if self.value else "tree")


@dataclass(frozen=True)
class Population:
    id: str
    label: str
    where: str
    dataset: str = "ADSL"


@dataclass(frozen=True)
class Column:
    id: str
    label: str
    population: str
    where: str | None = None


@dataclass(frozen=True)
class Category:
    id: str
    label: str
    values: tuple[Any, ...] = ()
    where: str | None = None


@dataclass(frozen=True)
class Row:
    id: str
    label: str
    kind: str  # heading | count | categories | median_range | pair
    dataset: str = ""  # "" = the table's
    where: str | Mapping[str, str] | None = None  # one condition, or one per column id
    param: str | None = None
    variable: str | None = None
    value: Any = None
    categories: tuple[Category, ...] = ()
    unknown: Category | None = None
    pair: tuple[Category, ...] = ()
    decimals: int = 0
    show_n: bool = False
    records: str | None = None  # adverse events: overrides the table's record filter
    indent: int = 1
    facts: tuple[FactLink, ...] = ()

    def where_for(self, column: str) -> str | None:
        if isinstance(self.where, Mapping):
            return self.where.get(column)
        return self.where


@dataclass(frozen=True)
class Percent:
    decimals: int = 1
    sign: bool = False


@dataclass(frozen=True)
class Band:
    id: str
    label: str
    grades: tuple[float, ...]


@dataclass(frozen=True)
class ByTerm:
    name: str
    caption: str
    by: tuple[str, ...]
    bands: tuple[Band, ...]
    facts: tuple[FactLink, ...] = ()
    by_labels: tuple[str, ...] = ()  # column headers: the variables' labels


@dataclass(frozen=True)
class TableSpec:
    name: str
    kind: str  # summary | adverse_events
    caption: str
    area: str
    dataset: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    where: str | None = None
    percent: Percent | None = Percent()
    ci: str = ""
    notes: tuple[str, ...] = ()
    pair_labels: tuple[str, str] = ("first", "second")
    facts: tuple[FactLink, ...] = ()
    records: str | None = None  # adverse events
    grade: str = "ATOXGRN"
    bands: tuple[Band, ...] = ()
    by_term: ByTerm | None = None
    reason: str = DEFAULT_REASON  # why and what for (Analysis Results Metadata, ARS)
    purpose: str = DEFAULT_PURPOSE


@dataclass(frozen=True)
class Endpoint:
    id: str
    paramcd: str
    label: str
    title: str
    ylabel: str = "Survival probability"
    figure: str = ""
    group_figure: str = ""


@dataclass(frozen=True)
class Groups:
    variable: str
    title: str
    categories: tuple[Category, ...]
    reference: str | None = None
    compare: tuple[str, ...] = ()


@dataclass(frozen=True)
class TimeToEventSpec:
    name: str
    dataset: str
    population: str
    unit: str
    endpoints: tuple[Endpoint, ...]
    overall: Category
    groups: Groups | None = None
    follow_up: tuple[str, str] | None = None  # (endpoint id, label)
    ci_transform: str = "loglog"
    facts: tuple[FactLink, ...] = ()
    area: str = "Time to event"
    reason: str = DEFAULT_REASON
    purpose: str = DEFAULT_PURPOSE

    @property
    def days_per_unit(self) -> float:
        return UNITS[self.unit]


@dataclass(frozen=True)
class NotCovered:
    item: str
    reason: str


@dataclass(frozen=True)
class ReproductionSpec:
    name: str
    not_covered: tuple[NotCovered, ...] = ()
    facts: tuple[FactLink, ...] = ()
    known_notes: Mapping[str, str] = field(default_factory=dict)  # known mismatch id -> how the report shows it


@dataclass(frozen=True)
class TextItem:
    text: str


@dataclass(frozen=True)
class SectionSpec:
    title: str
    items: tuple[Any, ...]  # TextItem | TableSpec | TimeToEventSpec | ReproductionSpec


@dataclass(frozen=True)
class ReportSpec:
    title: str
    populations: Mapping[str, Population]
    sections: tuple[SectionSpec, ...]
    facts: Mapping[str, Any] | None  # the facts section itself
    facts_name: str = ""
    path: str = ""
    # the ADaM datasets the report reads and, for each, the variables it reads (the subject key always): what the
    # loader checked the report's conditions, rows, grades, groups and endpoints against
    reads: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def items(self, kind: type) -> list:
        return [i for s in self.sections for i in s.items if isinstance(i, kind)]

    @property
    def known_mismatches(self) -> dict[str, str]:
        rows = (self.facts or {}).get("known_expected_mismatches") or ()
        return {str(r.get("id")): " ".join(str(r.get("text", "")).split()) for r in rows if isinstance(r, Mapping)}
