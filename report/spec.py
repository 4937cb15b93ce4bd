"""The report spec: what a study's analysis report shows, read from `specs/<study>/report.yaml` and checked on load.

The report's content is configuration; one engine (`cdiscflow.report.build`) renders any study's report.yaml.

    title: "..."                      page title
    facts: facts                      spec section with the published figures (facts.yaml), for the reproduction check
    populations:                      id -> {label, where, dataset (default ADSL)}: the subjects of `dataset` with a
                                      record meeting `where` (an expression of cdiscflow.adam.expr)
    sections:                         in page order: {title, items: [...]}, each item one of
      - text: "..."                   a paragraph
      - table: {...}                  kind `summary` or `adverse_events` (below)
      - time_to_event: {...}          Kaplan-Meier tables and figures (below)
      - reproduction: {...}           the side-by-side check of every `fact:` link against the published figure

A **summary** table counts subjects (or summarises values) of `dataset` (optionally filtered by `where`):

    columns: [{id, label, population, where}]    a cell counts the population's subjects among the records meeting
                                                 the column's and the row's conditions; percentages use the
                                                 population size; `where` may also be set per row and column
    percent: {decimals: 1, sign: false} | false  `n (%)` cells, or counts only
    ci: clopper-pearson                          adds an exact 95% CI column to every count row
    pair_labels: [exposed, refractory]           names of the two counts of a `pair` row
    notes: ["..."]                               footnotes under the table
    facts: [<fact link>]                         links that are not about one row (levels usually [row, column])
    rows:                                        one of
      {heading: "..."}                           a heading line
      {id, label, where}                         subjects with a record meeting `where` (a dict column id -> where
                                                 sets it per column); `param: X` adds PARAMCD == 'X' (BDS) and
                                                 `value: V` asks for AVALC == V (or `variable` == V)
      {id, label, variable, categories}          one line per category: {value | values | where, id, label};
                                                 `unknown: {id, label}` counts records without a value; values in
                                                 no category show as 'Other', subjects without a record of a BDS
                                                 parameter as 'Not recorded': nothing is left out silently
      {id, label, stat: median_range, decimals}  median (min-max) of `variable` (AVAL for a parameter); show_n
      {id, label, pair: [P1, P2], value: V}      two counts in one cell ('n (%) / n (%)'), e.g. exposed/refractory
      every row may name another `dataset` and carry `fact:` links

An **adverse_events** table counts patients by their worst grade (`grade`, e.g. ATOXGRN) in grade `bands`
({id, label, grades}) per column, among the records meeting `records` (e.g. AOCC01FL == 'Y'; a row may override
it) and the row's `where`; `by_term: {name, caption, by: [AEBODSYS, AEDECOD], bands}` adds a table of every term.

**time_to_event**: `dataset` (ADTTE), `population`, `unit` (days, weeks, months = days / 30.4375, years),
`endpoints: [{id, paramcd, label, title, ylabel, figure, group_figure}]`, `overall: {id, label}`, `groups:
{variable, title, categories, reference, compare}` (log-rank of each `compare` group against `reference`),
`follow_up: {endpoint, label}` (reverse Kaplan-Meier), `ci_transform` (loglog | log | linear) and `facts` (links
naming their `table`: `<name>` medians and counts, `<name>_logrank` p-values, `<name>_followup`; see report.tte).

Tables and time_to_event items may say why and what for (Analysis Results Metadata and ARS): `reason` (SPECIFIED
IN PROTOCOL, SPECIFIED IN SAP (default), DATA DRIVEN, REQUESTED BY REGULATORY AGENCY) and `purpose` (PRIMARY,
SECONDARY or EXPLORATORY (default) OUTCOME MEASURE); other text is taken as a sponsor term.

**reproduction**: `{name, not_covered: [{item, reason}], known_notes: {mismatch id: how the report shows it}}`;
where it stands, the report shows every fact link's comparison, the documented known mismatches and the gaps.

A **fact link** ties published figures (a node of the facts section, by dotted `path`) to the report's numbers.  The
report's numbers are addressed by table, row, category, column and stat (n, pct, median, min, max, p ...):

    fact: table1.categorical.sex                  tree: the node's keys are walked as the row's levels
                                                  ([category, column] for categories, [column] otherwise; a list
                                                  leaf gives median/min/max or the two counts of a pair)
    fact: {path, levels, column, category, row, stat, keys, round, tolerance, range, test, known}
    fact: {path, value: published, match: {endpoint: row, group: category}, tolerance: tol_accept, ci: ci95}
                                                  records: a dict or a list of dicts; `match` maps their fields to
                                                  the report's dimensions, `value`/`tolerance`/`range` name fields
                                                  (`ci`: a published interval, shown but not checked)
    fact: {path, fields: [~, row, column, category, value]}     tuples: a list of lists, by position
    fact: {path, tally: true}                     a list of values (one per subject) read as counts per value

Comparison: exact by default; `round: N` compares the value rounded half up to N decimals (printed precision);
`tolerance: x` |difference| <= x; `range: [lo, hi]`; `test: above` the report's value must exceed the fact.
`known: ID` (or `[{field: value, id: ID}]` in records) names the entry of the facts' `known_expected_mismatches`
that explains an expected failure: it is still shown as FAIL, marked as documented.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from cdiscflow.adam.expr import ExpressionError, names as expr_names, parse
from cdiscflow.core.errors import SpecError
from cdiscflow.report.survival import TRANSFORMS
from cdiscflow.specs.model import StudySpec

SECTION = "report"  # report.yaml in the study folder
DIMENSIONS = ("row", "category", "column")
UNITS = {"days": 1.0, "weeks": 7.0, "months": 365.25 / 12, "years": 365.25}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
RESERVED = frozenset({"index", "populations", "statistics", "datasets"})  # files the report writes itself
# analysis reason and purpose (CDISC ARM / ARS terms; a sponsor term is allowed too) and what a table says unless set
ANALYSIS_REASONS = ("SPECIFIED IN PROTOCOL", "SPECIFIED IN SAP", "DATA DRIVEN", "REQUESTED BY REGULATORY AGENCY")
ANALYSIS_PURPOSES = ("PRIMARY OUTCOME MEASURE", "SECONDARY OUTCOME MEASURE", "EXPLORATORY OUTCOME MEASURE")
DEFAULT_REASON, DEFAULT_PURPOSE = "SPECIFIED IN SAP", "EXPLORATORY OUTCOME MEASURE"


# ----------------------------------------------------------------------------------------------------------------
# Model


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

    def items(self, kind: type) -> list:
        return [i for s in self.sections for i in s.items if isinstance(i, kind)]

    @property
    def known_mismatches(self) -> dict[str, str]:
        rows = (self.facts or {}).get("known_expected_mismatches") or ()
        return {str(r.get("id")): " ".join(str(r.get("text", "")).split()) for r in rows if isinstance(r, Mapping)}


# ----------------------------------------------------------------------------------------------------------------
# Loading


def load_report_spec(spec: StudySpec) -> ReportSpec | None:
    """The study's report spec (report.yaml), checked against the study's ADaM metadata; None if it has none.

    Raises SpecError listing every problem, each with its place in report.yaml."""
    doc = spec.section(SECTION)
    if doc is None:
        return None
    return _Loader(spec, doc).load()


def check_report_spec(spec: StudySpec) -> ReportSpec | None:
    """For `cdiscflow check-spec`: load the report spec (if any) and fit every fact link to its published figures,
    so that their problems are found before a run.  Raises SpecError listing them."""
    from cdiscflow.report.reproduce import expand_links  # reproduce builds on this module

    report = load_report_spec(spec)
    if report is not None:
        expand_links(report)
    return report


class _Loader:
    def __init__(self, spec: StudySpec, doc: Any):
        self.spec = spec
        self.doc = doc
        self.problems: list[str] = []
        self.facts: Mapping[str, Any] | None = None
        self.table_names: set[str] = set(RESERVED)

    def problem(self, where: str, msg: str) -> None:
        self.problems.append(f"{where}: {msg}")

    # -- top level ----------------------------------------------------------------------------------------------
    def load(self) -> ReportSpec:
        doc = self.doc
        path = str(Path(self.spec.path) / f"{SECTION}.yaml")
        if not isinstance(doc, Mapping):
            raise SpecError("report.yaml must be a mapping with title, populations and sections", path=path)
        self.keys("report.yaml", doc, {"title", "facts", "populations", "sections"})
        facts_name = str(doc.get("facts") or "")
        if facts_name:
            self.facts = self.spec.section(facts_name)
            if self.facts is None:
                self.problem("report.yaml: facts", f"the study has no {facts_name}.yaml")
        self.populations = self.load_populations(doc.get("populations"))
        sections = []
        raw_sections = doc.get("sections")
        if not isinstance(raw_sections, (list, tuple)) or not raw_sections:
            self.problem("report.yaml: sections", "must be a non-empty list")
            raw_sections = ()
        for i, s in enumerate(raw_sections):
            sections.append(self.load_section(f"sections[{i}]", s))
        if self.problems:
            raise SpecError(self.problems, path=path)
        return ReportSpec(title=str(doc.get("title") or self.spec.studyid), populations=self.populations,
                          sections=tuple(sections), facts=self.facts, facts_name=facts_name, path=path)

    def keys(self, where: str, node: Mapping, allowed: set[str], required: tuple[str, ...] = ()) -> None:
        for k in node:
            if k not in allowed:
                self.problem(where, f"unknown key {k!r} (expected {', '.join(sorted(allowed))})")
        for k in required:
            if node.get(k) in (None, ""):
                self.problem(where, f"{k} is missing")

    def load_populations(self, node: Any) -> dict[str, Population]:
        out = {}
        if not isinstance(node, Mapping) or not node:
            self.problem("report.yaml: populations", "must map population ids to {label, where}")
            return out
        for pid, p in node.items():
            where = f"populations.{pid}"
            if not isinstance(p, Mapping):
                self.problem(where, "must be a mapping {label, where, dataset}")
                continue
            self.keys(where, p, {"label", "where", "dataset"}, ("where",))
            dataset = str(p.get("dataset") or "ADSL")
            self.expression(where, p.get("where"), dataset)
            out[str(pid)] = Population(str(pid), str(p.get("label") or pid), str(p.get("where") or ""), dataset)
        return out

    def load_section(self, where: str, node: Any) -> SectionSpec:
        if not isinstance(node, Mapping):
            self.problem(where, "must be a mapping {title, items}")
            return SectionSpec("", ())
        self.keys(where, node, {"title", "items"}, ("title",))
        items = []
        for j, item in enumerate(node.get("items") or ()):
            loc = f"{where}.items[{j}]"
            if not isinstance(item, Mapping) or len(item) != 1:
                self.problem(loc, "must be one of text:, table:, time_to_event:, reproduction:")
                continue
            (kind, body), = item.items()
            if kind == "text":
                items.append(TextItem(" ".join(str(body).split())))
            elif kind == "table":
                table = self.load_table(loc, body, str(node.get("title") or ""))
                if table is not None:
                    items.append(table)
            elif kind == "time_to_event":
                tte = self.load_tte(loc, body, str(node.get("title") or ""))
                if tte is not None:
                    items.append(tte)
            elif kind == "reproduction":
                items.append(self.load_reproduction(loc, body))
            else:
                self.problem(loc, f"unknown item {kind!r} (expected text, table, time_to_event, reproduction)")
        return SectionSpec(str(node.get("title") or ""), tuple(items))

    # -- helpers ------------------------------------------------------------------------------------------------
    def dataset_names(self, where: str, dataset: str) -> tuple[str, ...] | None:
        try:
            ds = self.spec.dataset(dataset)
        except KeyError:
            self.problem(where, f"the study declares no dataset {dataset!r}")
            return None
        if ds.standard != "ADaM":
            self.problem(where, f"{dataset} is not an ADaM dataset (the report reads ADaM only)")
        return ds.names

    def expression(self, where: str, text: Any, dataset: str) -> None:
        if text is None:
            return
        if not isinstance(text, str):
            self.problem(where, f"condition must be text, not {text!r}")
            return
        try:
            parse(text)
        except ExpressionError as exc:
            self.problem(where, str(exc))
            return
        self.variables(where, expr_names(text), dataset)

    def variables(self, where: str, names: tuple[str, ...] | list[str], dataset: str) -> None:
        known = self.dataset_names(where, dataset)
        if known is None:
            return
        missing = [n for n in names if n not in known]
        if missing:
            self.problem(where, f"{dataset} has no variable {', '.join(missing)}")

    def name(self, where: str, name: Any, derived: tuple[str, ...] = ()) -> str:
        """A table name (its CSV file stem), unique in the report with the names derived from it."""
        name = str(name or "")
        if not _NAME_RE.match(name):
            self.problem(where, f"name {name!r} must be a plain file stem (letters, digits, _ . -)")
        for n in (name, *(name + d for d in derived)):
            if n in self.table_names:
                self.problem(where, f"name {n!r} is used twice (or is one the report writes itself)")
            self.table_names.add(n)
        return name

    def population(self, where: str, pid: Any) -> str:
        if str(pid) not in self.populations:
            self.problem(where, f"unknown population {pid!r} (known: {', '.join(self.populations)})")
        return str(pid)

    # -- tables -------------------------------------------------------------------------------------------------
    def load_table(self, where: str, node: Any, section: str = "") -> TableSpec | None:
        if not isinstance(node, Mapping):
            self.problem(where, "table must be a mapping")
            return None
        kind = node.get("kind", "summary")
        allowed = {"name", "kind", "caption", "area", "dataset", "where", "columns", "rows", "percent", "ci", "notes",
                   "pair_labels", "facts", "reason", "purpose"}
        if kind == "adverse_events":
            allowed |= {"records", "grade", "bands", "by_term"}
        elif kind != "summary":
            self.problem(where, f"kind must be summary or adverse_events, not {kind!r}")
            return None
        self.keys(where, node, allowed, ("name", "dataset", "columns", "rows"))
        name = self.name(where, node.get("name"))
        where = f"{where} ({name})"
        dataset = str(node.get("dataset") or "")
        self.dataset_names(where, dataset)
        self.expression(f"{where}.where", node.get("where"), dataset)
        columns = self.load_columns(where, node.get("columns"), dataset)
        column_ids = [c.id for c in columns]
        records = node.get("records")
        self.expression(f"{where}.records", records, dataset)
        grade = str(node.get("grade") or "ATOXGRN")
        bands: tuple[Band, ...] = ()
        if kind == "adverse_events":
            self.variables(f"{where}.grade", [grade], dataset)
            bands = self.load_bands(f"{where}.bands", node.get("bands"))
        pair_labels = tuple(str(x) for x in (node.get("pair_labels") or ("first", "second")))
        if len(pair_labels) != 2:
            self.problem(f"{where}.pair_labels", "must name the two counts of a pair row")
            pair_labels = ("first", "second")
        rows = []
        seen: set[str] = set()
        for i, r in enumerate(node.get("rows") or ()):
            row = self.load_row(f"{where}.rows[{i}]", r, dataset, column_ids, kind, pair_labels)
            if row is None:
                continue
            if row.kind != "heading":
                if row.id in seen:
                    self.problem(f"{where}.rows[{i}]", f"row id {row.id!r} is used twice")
                seen.add(row.id)
            rows.append(row)
        rows = [replace(r, facts=tuple(replace(f, table=f.table or name) for f in r.facts)) for r in rows]
        percent = self.load_percent(f"{where}.percent", node.get("percent", {}))
        ci = str(node.get("ci") or "")
        if ci and ci != "clopper-pearson":
            self.problem(f"{where}.ci", f"only clopper-pearson is available, not {ci!r}")
        by_term = None
        if kind == "adverse_events" and node.get("by_term") is not None:
            by_term = self.load_by_term(f"{where}.by_term", node.get("by_term"), dataset)
        single = {"column": column_ids[0]} if len(column_ids) == 1 else {}
        facts = tuple(self.load_fact(f"{where}.facts[{i}]", f, name, single, ("row", "column"), ())
                      for i, f in enumerate(_as_list(node.get("facts"))))
        notes = tuple(" ".join(str(n).split()) for n in _as_list(node.get("notes")))
        caption = str(node.get("caption") or name)
        return TableSpec(name=name, kind=kind, caption=caption, area=str(node.get("area") or section or caption),
                         dataset=dataset, columns=columns, rows=tuple(rows), where=node.get("where"),
                         percent=percent, ci=ci, notes=notes, pair_labels=pair_labels,  # type: ignore[arg-type]
                         facts=tuple(f for f in facts if f is not None), records=records, grade=grade, bands=bands,
                         by_term=by_term, **self.analysis_terms(where, node))

    def load_columns(self, where: str, node: Any, dataset: str) -> tuple[Column, ...]:
        out = []
        if not isinstance(node, (list, tuple)) or not node:
            self.problem(f"{where}.columns", "must be a non-empty list of {id, label, population, where}")
            return ()
        for i, c in enumerate(node):
            loc = f"{where}.columns[{i}]"
            if not isinstance(c, Mapping):
                self.problem(loc, "must be a mapping {id, label, population, where}")
                continue
            self.keys(loc, c, {"id", "label", "population", "where"}, ("id", "population"))
            self.expression(loc, c.get("where"), dataset)
            cid = str(c.get("id"))
            out.append(Column(cid, str(c.get("label") or cid), self.population(loc, c.get("population")),
                              c.get("where")))
        ids = [c.id for c in out]
        for dup in sorted({i for i in ids if ids.count(i) > 1}):
            self.problem(f"{where}.columns", f"column id {dup!r} is used twice")
        return tuple(out)

    def load_percent(self, where: str, node: Any) -> Percent | None:
        if node is False:
            return None
        if node is None:
            node = {}
        if not isinstance(node, Mapping):
            self.problem(where, "must be {decimals, sign} or false")
            return Percent()
        self.keys(where, node, {"decimals", "sign"})
        return Percent(int(node.get("decimals", 1)), bool(node.get("sign", False)))

    def load_bands(self, where: str, node: Any) -> tuple[Band, ...]:
        out = []
        if not isinstance(node, (list, tuple)) or not node:
            self.problem(where, "must be a non-empty list of {id, label, grades}")
            return ()
        for i, b in enumerate(node):
            loc = f"{where}[{i}]"
            if not isinstance(b, Mapping) or not isinstance(b.get("grades"), (list, tuple)):
                self.problem(loc, "must be {id, label, grades: [...]}")
                continue
            self.keys(loc, b, {"id", "label", "grades"}, ("id",))
            try:
                grades = tuple(float(g) for g in b["grades"])
            except (TypeError, ValueError):
                self.problem(loc, f"grades must be numbers, not {list(b['grades'])!r}")
                continue
            out.append(Band(str(b["id"]), str(b.get("label") or b["id"]), grades))
        return tuple(out)

    def load_by_term(self, where: str, node: Any, dataset: str) -> ByTerm | None:
        if not isinstance(node, Mapping):
            self.problem(where, "must be a mapping {name, caption, by, bands}")
            return None
        self.keys(where, node, {"name", "caption", "by", "bands", "fact"}, ("name", "by"))
        name = self.name(where, node.get("name"))
        by = tuple(str(v) for v in _as_list(node.get("by")))
        self.variables(f"{where}.by", list(by), dataset)
        bands = self.load_bands(f"{where}.bands", node.get("bands"))
        facts = tuple(self.load_fact(f"{where}.fact", f, name, {}, ("row", "column", "category"), ())
                      for f in _as_list(node.get("fact")))
        labels = []
        for v in by:
            try:
                labels.append(self.spec.dataset(dataset).variable(v).label or v)
            except KeyError:
                labels.append(v)
        return ByTerm(name, str(node.get("caption") or name), by, bands, tuple(f for f in facts if f is not None),
                      tuple(labels))

    def load_category(self, where: str, node: Any, dataset: str) -> Category | None:
        if not isinstance(node, Mapping):
            self.problem(where, "a category must be {value | values | where, id, label}")
            return None
        self.keys(where, node, {"value", "values", "where", "id", "label"})
        values = tuple(_as_list(node["values"])) if "values" in node else (
            (node["value"],) if "value" in node else ())
        cond = node.get("where")
        if not values and cond is None:
            self.problem(where, "a category needs value, values or where")
            return None
        self.expression(where, cond, dataset)
        cid = str(node.get("id") if node.get("id") is not None else (values[0] if values else ""))
        if not cid:
            self.problem(where, "a category defined by where needs an id")
        return Category(cid, str(node.get("label") or cid), values, cond)

    def load_row(self, where: str, node: Any, table_dataset: str, column_ids: list[str], table_kind: str,
                 pair_labels: tuple[str, ...]) -> Row | None:
        if not isinstance(node, Mapping):
            self.problem(where, "a row must be a mapping")
            return None
        if "heading" in node:
            self.keys(where, node, {"heading"})
            return Row(id="", label=str(node["heading"]), kind="heading")
        allowed = {"id", "label", "dataset", "where", "param", "variable", "value", "categories", "unknown", "stat",
                   "decimals", "show_n", "pair", "fact", "indent", "records"}
        self.keys(where, node, allowed, ("id",))
        rid = str(node.get("id"))
        where = f"{where} ({rid})"
        dataset = str(node.get("dataset") or table_dataset)
        cond = node.get("where")
        if isinstance(cond, Mapping):
            for cid, text in cond.items():
                if str(cid) not in column_ids:
                    self.problem(where, f"where names column {cid!r}, not one of {', '.join(column_ids)}")
                self.expression(where, text, dataset)
        else:
            self.expression(where, cond, dataset)
        param = node.get("param")
        if param is not None:
            self.variables(where, ["PARAMCD"], dataset)
        self.expression(f"{where}.records", node.get("records"), dataset)
        stat = node.get("stat")
        variable = node.get("variable")
        kind = "count"
        categories: tuple[Category, ...] = ()
        pair: tuple[Category, ...] = ()
        unknown = None
        if stat is not None and stat != "median_range":
            self.problem(where, f"stat must be median_range, not {stat!r}")
        if "pair" in node:
            kind = "pair"
            items = _as_list(node.get("pair"))
            if len(items) != 2:
                self.problem(where, "pair must name two parameters")
            pair = tuple(Category(str(p), label, (), f"PARAMCD == '{p}'") for p, label in zip(items, pair_labels))
            self.variables(where, ["PARAMCD"], dataset)
        elif stat == "median_range":
            kind = "median_range"
            variable = variable or ("AVAL" if param is not None else None)
            if variable is None:
                self.problem(where, "a median_range row needs a variable (or a param: AVAL)")
        elif "categories" in node:
            kind = "categories"
            variable = variable or ("AVALC" if param is not None else None)
            cats = [self.load_category(f"{where}.categories[{i}]", c, dataset)
                    for i, c in enumerate(_as_list(node.get("categories")))]
            categories = tuple(c for c in cats if c is not None)
            if any(c.values for c in categories) and variable is None:
                self.problem(where, "categories with values need a variable (or a param: AVALC)")
            ids = [c.id for c in categories]
            for dup in sorted({i for i in ids if ids.count(i) > 1}):
                self.problem(where, f"category id {dup!r} is used twice")
            if node.get("unknown") is not None:
                u = node["unknown"]
                if not isinstance(u, Mapping) or "id" not in u:
                    self.problem(where, "unknown must be {id, label}")
                else:
                    unknown = Category(str(u["id"]), str(u.get("label") or u["id"]))
        elif "value" in node:
            variable = variable or ("AVALC" if param is not None else None)
            if variable is None:
                self.problem(where, "value needs a variable (or a param: AVALC)")
        if variable is not None:
            self.variables(where, [str(variable)], dataset)
        if table_kind == "adverse_events" and kind != "count":
            self.problem(where, "adverse event rows are terms: {id, label, where}")
        facts = []
        defaults = {"count": ("column",), "categories": ("category", "column"), "median_range": ("column",),
                    "pair": ("column",)}[kind]
        if table_kind == "adverse_events":
            defaults = ("column", "category")
        leaf: tuple[Any, ...] = ()
        if kind == "median_range":
            leaf = ({"stat": ("median", "min", "max")},)
        elif kind == "pair":
            leaf = ({"category": tuple(c.id for c in pair)},)
        for i, f in enumerate(_as_list(node.get("fact"))):
            select = {"row": rid, **({"column": column_ids[0]} if len(column_ids) == 1 else {})}
            link = self.load_fact(f"{where}.fact[{i}]", f, "", select, defaults, leaf,
                                  round_default=int(node.get("decimals", 0)) if kind == "median_range" else None)
            if link is not None:
                facts.append(link)
        return Row(id=rid, label=str(node.get("label") or rid), kind=kind, dataset=dataset if "dataset" in node else "",
                   where=cond, param=None if param is None else str(param),
                   variable=None if variable is None else str(variable), value=node.get("value"),
                   categories=categories, unknown=unknown, pair=pair, decimals=int(node.get("decimals", 0)),
                   show_n=bool(node.get("show_n", False)), records=node.get("records"),
                   indent=int(node.get("indent", 1)), facts=tuple(facts))

    # -- facts --------------------------------------------------------------------------------------------------
    def load_fact(self, where: str, node: Any, table: str, select: Mapping[str, str], default_levels: tuple,
                  leaf: tuple, *, round_default: int | None = None) -> FactLink | None:
        """A fact link (see the module docstring).  `select` fixes dimensions (the row of a row's link),
        `default_levels` are walked when the link names none, `leaf` reads a list at the end of the walk."""
        if isinstance(node, str):
            node = {"path": node}
        if not isinstance(node, Mapping) or "path" not in node:
            self.problem(where, "a fact link is a dotted path or {path, ...}")
            return None
        allowed = {"path", "table", "levels", "row", "category", "column", "stat", "keys", "value", "match",
                   "fields", "round", "tolerance", "range", "test", "known", "ci", "tally"}
        self.keys(where, node, allowed)
        path = tuple(p for p in str(node["path"]).split(".") if p)
        target = self.resolve(where, path)
        sel = dict(select)
        for dim in DIMENSIONS:
            if node.get(dim) is not None:
                sel[dim] = str(node[dim])
        if "levels" in node:
            levels = tuple(str(x) for x in _as_list(node["levels"]))
            bad = [x for x in levels if x not in DIMENSIONS]
            if bad:
                self.problem(where, f"levels must be among {', '.join(DIMENSIONS)}, not {bad}")
        else:
            levels = tuple(d for d in default_levels if d not in sel)
        stat = str(node.get("stat") or "n")
        # a list at the end of the walk: the row's stats (median, min, max) or its pair of counts, unless fixed
        leaf = tuple(lv for lv in leaf
                     if not (("stat" in lv and "stat" in node) or ("category" in lv and "category" in sel)))
        fields = tuple(None if f in (None, "~", "") else str(f) for f in _as_list(node.get("fields")))
        if fields and "value" not in fields:
            self.problem(where, "fields must name the position of the value")
        match = {str(k): str(v) for k, v in (node.get("match") or {}).items()}
        for dim in list(match.values()) + [f for f in fields if f not in (None, "value")]:
            if dim not in DIMENSIONS:
                self.problem(where, f"{dim!r} is not a dimension ({', '.join(DIMENSIONS)})")
        test = str(node.get("test") or "equal")
        if test not in ("equal", "above"):
            self.problem(where, f"test must be equal or above, not {test!r}")
        known = node.get("known")
        known_ids = ([known] if isinstance(known, str)
                     else [k.get("id") for k in _as_list(known) if isinstance(k, Mapping)])
        if known is not None and not known_ids:
            self.problem(where, "known must be a mismatch id or a list of {field: value, id}")
        if self.facts is not None:
            documented = {str(r.get("id")) for r in (self.facts.get("known_expected_mismatches") or ())
                          if isinstance(r, Mapping)}
            for k in known_ids:
                if str(k) not in documented:
                    self.problem(where, f"known mismatch {k!r} is not in known_expected_mismatches of the facts")
        if target is not None and fields and not isinstance(target, (list, tuple)):
            self.problem(where, f"{'.'.join(path)} is not a list of tuples")
        return FactLink(path=path, table=str(node.get("table") or table), select=sel,
                        levels=levels + leaf if not fields and not node.get("value") else levels, stat=stat,
                        keys=tuple(str(k) for k in _as_list(node.get("keys"))), value=str(node.get("value") or ""),
                        match=match, fields=fields,
                        round=node.get("round", round_default), tolerance=node.get("tolerance"),
                        range=node.get("range"), test=test, known=known, ci=str(node.get("ci") or ""),
                        tally=bool(node.get("tally", False)), where=where)

    def resolve(self, where: str, path: tuple[str, ...]) -> Any:
        if self.facts is None:
            self.problem(where, "fact links need `facts:` (the section with the published figures)")
            return None
        node: Any = self.facts
        for i, key in enumerate(path):
            if isinstance(node, Mapping) and key in {str(k) for k in node}:
                node = next(v for k, v in node.items() if str(k) == key)
            else:
                self.problem(where, f"the facts have no {'.'.join(path[:i + 1])}")
                return None
        return node

    # -- time to event and reproduction -------------------------------------------------------------------------
    def load_tte(self, where: str, node: Any, section: str = "") -> TimeToEventSpec | None:
        if not isinstance(node, Mapping):
            self.problem(where, "time_to_event must be a mapping")
            return None
        self.keys(where, node, {"name", "dataset", "population", "unit", "endpoints", "overall", "groups",
                                "follow_up", "ci_transform", "facts", "area", "reason", "purpose"},
                  ("name", "dataset", "population", "endpoints"))
        endpoint_ids = tuple(str(e.get("id")) for e in _as_list(node.get("endpoints")) if isinstance(e, Mapping))
        name = self.name(where, node.get("name"), ("_logrank", "_followup", *(f"_at_risk_{e}" for e in endpoint_ids)))
        where = f"{where} ({name})"
        dataset = str(node.get("dataset"))
        self.variables(where, ["PARAMCD", "AVAL", "CNSR"], dataset)
        population = self.population(where, node.get("population"))
        unit = str(node.get("unit") or "months")
        if unit not in UNITS:
            self.problem(f"{where}.unit", f"must be one of {', '.join(UNITS)}, not {unit!r}")
            unit = "months"
        endpoints = []
        for i, e in enumerate(_as_list(node.get("endpoints"))):
            loc = f"{where}.endpoints[{i}]"
            if not isinstance(e, Mapping):
                self.problem(loc, "must be a mapping {id, paramcd, label, title}")
                continue
            self.keys(loc, e, {"id", "paramcd", "label", "title", "ylabel", "figure", "group_figure"},
                      ("id", "paramcd"))
            eid = str(e.get("id"))
            if not _NAME_RE.match(eid):
                self.problem(loc, f"id {eid!r} must be letters, digits, _ . - (it names the figure files)")
            endpoints.append(Endpoint(eid, str(e.get("paramcd")), str(e.get("label") or eid),
                                      str(e.get("title") or e.get("label") or eid),
                                      str(e.get("ylabel") or "Survival probability"), str(e.get("figure") or ""),
                                      str(e.get("group_figure") or "")))
        overall_node = node.get("overall") or {}
        overall = Category(str(overall_node.get("id") or "all"), str(overall_node.get("label") or "All"))
        groups = None
        g = node.get("groups")
        if g is not None:
            if not isinstance(g, Mapping):
                self.problem(f"{where}.groups", "must be a mapping {variable, categories, reference, compare}")
            else:
                self.keys(f"{where}.groups", g, {"variable", "title", "categories", "reference", "compare"},
                          ("variable",))
                self.variables(f"{where}.groups", [str(g.get("variable"))], dataset)
                cats = [self.load_category(f"{where}.groups.categories[{i}]", c, dataset)
                        for i, c in enumerate(_as_list(g.get("categories")))]
                cats = [c for c in cats if c is not None]
                ids = [c.id for c in cats]
                reference = g.get("reference")
                compare = tuple(str(c) for c in _as_list(g.get("compare")))
                for c in ([reference] if reference is not None else []) + list(compare):
                    if str(c) not in ids:
                        self.problem(f"{where}.groups", f"{c!r} is not one of the group categories {ids}")
                if compare and reference is None:
                    self.problem(f"{where}.groups", "compare needs a reference group")
                groups = Groups(str(g.get("variable")), str(g.get("title") or g.get("variable")), tuple(cats),
                                None if reference is None else str(reference), compare)
        follow_up = None
        fu = node.get("follow_up")
        if fu is not None:
            if not isinstance(fu, Mapping) or str(fu.get("endpoint")) not in [e.id for e in endpoints]:
                self.problem(f"{where}.follow_up", "must be {endpoint: <an endpoint id>, label}")
            else:
                follow_up = (str(fu["endpoint"]), str(fu.get("label") or "Median follow-up (reverse Kaplan-Meier)"))
        transform = str(node.get("ci_transform") or "loglog")
        if transform not in TRANSFORMS:
            self.problem(f"{where}.ci_transform", f"must be one of {', '.join(TRANSFORMS)}, not {transform!r}")
            transform = "loglog"
        facts = []
        for i, f in enumerate(_as_list(node.get("facts"))):
            link = self.load_fact(f"{where}.facts[{i}]", f, "", {}, (), ())
            if link is not None:
                if not link.table:
                    self.problem(f"{where}.facts[{i}]", f"table is missing (one of {name}, {name}_logrank, "
                                 f"{name}_followup)")
                facts.append(link)
        return TimeToEventSpec(name=name, dataset=dataset, population=population, unit=unit,
                               endpoints=tuple(endpoints), overall=overall, groups=groups, follow_up=follow_up,
                               ci_transform=transform, facts=tuple(facts),
                               area=str(node.get("area") or section or "Time to event"),
                               **self.analysis_terms(where, node))

    def analysis_terms(self, where: str, node: Mapping) -> dict[str, str]:
        """`reason` and `purpose` of an analysis (Analysis Results Metadata / ARS terms; free text allowed)."""
        out = {}
        for key, terms in (("reason", ANALYSIS_REASONS), ("purpose", ANALYSIS_PURPOSES)):
            value = node.get(key)
            if value is None:
                continue
            if not isinstance(value, str) or not value.strip():
                self.problem(where, f"{key} must be text, e.g. {terms[0]!r}")
                continue
            out[key] = " ".join(value.split())
        return out

    def load_reproduction(self, where: str, node: Any) -> ReproductionSpec:
        node = node or {}
        if not isinstance(node, Mapping):
            self.problem(where, "reproduction must be a mapping {name, not_covered, facts}")
            return ReproductionSpec("reproduction")
        self.keys(where, node, {"name", "not_covered", "facts", "known_notes"})
        name = self.name(where, node.get("name") or "reproduction", ("_summary", "_fail", "_known", "_not_covered"))
        not_covered = []
        for i, n in enumerate(_as_list(node.get("not_covered"))):
            if not isinstance(n, Mapping) or "item" not in n:
                self.problem(f"{where}.not_covered[{i}]", "must be {item, reason}")
                continue
            not_covered.append(NotCovered(str(n["item"]), " ".join(str(n.get("reason", "")).split())))
        facts = []
        for i, f in enumerate(_as_list(node.get("facts"))):
            link = self.load_fact(f"{where}.facts[{i}]", f, "", {}, (), ())
            if link is not None:
                facts.append(link)
        notes = {str(k): " ".join(str(v).split()) for k, v in (node.get("known_notes") or {}).items()}
        documented = {str(r.get("id")) for r in ((self.facts or {}).get("known_expected_mismatches") or ())
                      if isinstance(r, Mapping)}
        for k in notes:
            if k not in documented:
                self.problem(f"{where}.known_notes", f"{k!r} is not in known_expected_mismatches of the facts")
        return ReproductionSpec(name, tuple(not_covered), tuple(facts), notes)


def _as_list(node: Any) -> list:
    if node is None:
        return []
    if isinstance(node, (list, tuple)):
        return list(node)
    return [node]
