"""The report's analyses as metadata: what each number of `statistics.csv` is, read from report.yaml alone.

Analysis Results Metadata in the ADaM define.xml (`export.arm`) and the CDISC ARS reporting event (`report.ars`)
describe the same things, so both read them from here:

* an **output** (display) per report table: summary and adverse-event tables, the table of every adverse event term
  (`by_term`), and per time-to-event item its tables (medians, log-rank tests, numbers at risk, follow-up);
* an **analysis** per row and column of a table (the column totals are the row ``N``), and per endpoint of a
  time-to-event table.  Its id is built from the table, row and column of `statistics.csv`, so every number there
  belongs to exactly one analysis (`analysis_key`);
* its **analysis set** (the column's population: subjects of a dataset meeting a condition), its **data subset**
  (the records counted or summarised: the conditions of the table, column, parameter, row and value, all of which
  must hold), its **method** (count, count with exact CI, median and range, worst grade, Kaplan-Meier ...), the
  **analysis variables**, and a **grouping** when one row has several lines (categories, pairs, grade bands,
  time-to-event groups).

Conditions stay in the report's condition language (`cdiscflow.core.expr`); `checks` turns the simple ones
(``VAR == 'x'``, ``VAR in (...)``, ``VAR != 1``, ``VAR < 3`` joined by ``and``) into where-clause checks
(variable, comparator, values) as define.xml and ARS write them; what is no simple check stays text (`rest`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Iterable

from cdiscflow.core.expr import parse
from cdiscflow.specs.model import StudySpec
from cdiscflow.specs.report.load import load_report_spec
from cdiscflow.specs.report.model import (DEFAULT_PURPOSE, DEFAULT_REASON, SUBJECT, Category, Column, ReportSpec,
                                          Row, TableSpec, TimeToEventSpec)

_COMPARATORS = {ast.Eq: "EQ", ast.NotEq: "NE", ast.Lt: "LT", ast.LtE: "LE", ast.Gt: "GT", ast.GtE: "GE",
                ast.In: "IN", ast.NotIn: "NOTIN"}
_MIRROR = {"LT": "GT", "LE": "GE", "GT": "LT", "GE": "LE", "EQ": "EQ", "NE": "NE"}

# method id -> (label, description, operations (statistics.csv stat -> label))
METHODS: dict[str, tuple[str, str, dict[str, str]]] = {
    "MTH.COUNT": ("Count of subjects", "Distinct subjects (USUBJID) of the analysis set with at least one record of "
                  "the data subset; the percentage uses the size of the analysis set.",
                  {"n": "Number of subjects", "N": "Subjects in the analysis set", "pct": "Percentage (n / N x 100)"}),
    "MTH.COUNT_CI": ("Count of subjects with exact 95% CI", "As MTH.COUNT, with the exact (Clopper-Pearson) 95% "
                     "confidence interval of the proportion, in percent.",
                     {"n": "Number of subjects", "N": "Subjects in the analysis set", "pct": "Percentage",
                      "lower": "Lower limit of the exact 95% CI (%)", "upper": "Upper limit of the exact 95% CI (%)"}),
    "MTH.POPULATION": ("Size of the analysis set", "Distinct subjects (USUBJID) of the analysis set.",
                       {"N": "Subjects in the analysis set"}),
    "MTH.MEDIAN_RANGE": ("Median and range", "Median, minimum and maximum of the analysis variable over the records "
                         "of the data subset (one per subject), and their number.",
                         {"n": "Number of values", "median": "Median", "min": "Minimum", "max": "Maximum"}),
    "MTH.WORST_GRADE": ("Subjects by worst grade", "Distinct subjects of the analysis set counted once, in the band "
                        "of their worst grade among the records of the data subset; the percentage uses the size "
                        "of the analysis set.",
                        {"n": "Number of subjects", "N": "Subjects in the analysis set", "pct": "Percentage"}),
    "MTH.KM": ("Kaplan-Meier estimate", "Kaplan-Meier estimate of the survival function of AVAL (CNSR = 1: "
               "censored); median with its 95% CI (Brookmeyer-Crowley, transformed as the report says) and the "
               "SPSS-style median +/- 1.96 SE interval.",
               {"n": "Subjects", "events": "Events", "censored": "Censored", "median": "Median",
                "lower": "Lower 95% CI", "upper": "Upper 95% CI", "spss_median": "Median (SPSS)",
                "spss_se": "Standard error (SPSS)", "spss_lower": "Lower 95% CI (SPSS)",
                "spss_upper": "Upper 95% CI (SPSS)"}),
    "MTH.LOGRANK": ("Log-rank test", "Log-rank test of the group against the reference group (and of all compared "
                    "groups together).", {"chisq": "Chi-square", "df": "Degrees of freedom", "p": "P-value",
                                           "min_pairwise_p": "Smallest pairwise p-value"}),
    "MTH.AT_RISK": ("Numbers at risk", "Subjects still at risk at each time point of the Kaplan-Meier plot.",
                    {"n": "Subjects at risk"}),
    "MTH.FOLLOWUP": ("Reverse Kaplan-Meier follow-up", "Median follow-up by the reverse Kaplan-Meier method "
                     "(censoring as the event), with its 95% CI.",
                     {"median": "Median follow-up", "lower": "Lower 95% CI", "upper": "Upper 95% CI"}),
}


@dataclass(frozen=True)
class Check:
    """One where-clause condition: `variable` `comparator` `values` on the records of `dataset`."""

    dataset: str
    variable: str
    comparator: str  # EQ NE LT LE GT GE IN NOTIN
    values: tuple[str, ...]


@dataclass(frozen=True)
class Selection:
    """Records of `dataset` meeting every expression; `checks` the simple ones, `rest` the others (as text)."""

    dataset: str
    expressions: tuple[str, ...] = ()

    @property
    def checks(self) -> tuple[Check, ...]:
        return tuple(c for e in self.expressions for c in (checks(e, self.dataset) or ()))

    @property
    def rest(self) -> tuple[str, ...]:
        return tuple(e for e in self.expressions if checks(e, self.dataset) is None)

    @property
    def text(self) -> str:
        return " and ".join(f"({e})" if " or " in e else e for e in self.expressions) or "all records"


@dataclass(frozen=True)
class Group:
    id: str
    label: str
    selection: Selection | None = None  # None: defined by the data or by the method (missing, other ...)


@dataclass(frozen=True)
class Grouping:
    id: str
    label: str
    dataset: str
    variable: str
    groups: tuple[Group, ...] = ()
    data_driven: bool = False


@dataclass(frozen=True)
class AnalysisSet:
    id: str
    label: str
    selection: Selection


@dataclass(frozen=True)
class Analysis:
    id: str
    output: str  # the report table (display)
    name: str
    method: str
    analysis_set: str
    subset: Selection
    variables: tuple[str, ...] = ()
    parameter: str | None = None  # PARAMCD of a BDS parameter
    groupings: tuple[str, ...] = ()
    where: str = ""  # report.yaml location


@dataclass(frozen=True)
class Output:
    id: str  # the report table name
    title: str
    kind: str  # summary | adverse_events | by_term | time_to_event
    reason: str = DEFAULT_REASON  # of every analysis of the output
    purpose: str = DEFAULT_PURPOSE


@dataclass
class Catalogue:
    title: str
    analysis_sets: dict[str, AnalysisSet] = field(default_factory=dict)
    outputs: dict[str, Output] = field(default_factory=dict)
    analyses: dict[str, Analysis] = field(default_factory=dict)
    groupings: dict[str, Grouping] = field(default_factory=dict)

    def add(self, analysis: Analysis) -> None:
        self.analyses[analysis.id] = analysis


# ----------------------------------------------------------------------------------------------------------------
# conditions as where-clause checks


def checks(expression: str, dataset: str) -> tuple[Check, ...] | None:
    """The expression as where-clause checks joined by AND, or None when it is not that simple."""
    node = parse(expression).body
    parts = node.values if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And) else [node]
    out = []
    for part in parts:
        check = _check(part, dataset)
        if check is None:
            return None
        out.append(check)
    return tuple(out)


def _check(node: ast.AST, dataset: str) -> Check | None:
    if not isinstance(node, ast.Compare) or len(node.ops) != 1:
        return None
    op, left, right = _COMPARATORS.get(type(node.ops[0])), node.left, node.comparators[0]
    if op is None:
        return None
    if isinstance(right, ast.Name) and not isinstance(left, ast.Name) and op in _MIRROR:
        left, right, op = right, left, _MIRROR[op]
    if not isinstance(left, ast.Name):
        return None
    values = _literals(right)
    if values is None or (op in ("IN", "NOTIN")) != isinstance(right, (ast.Tuple, ast.List)):
        return None
    return Check(dataset, left.id, op, values)


def _literals(node: ast.AST) -> tuple[str, ...] | None:
    items = node.elts if isinstance(node, (ast.Tuple, ast.List)) else [node]
    out = []
    for item in items:
        if not isinstance(item, ast.Constant) or item.value is None or isinstance(item.value, bool):
            return None
        out.append(value_text(item.value))
    return tuple(out)


def value_text(value: object) -> str:
    """A literal as where-clause text: 15.0 -> '15', 'Y' -> 'Y'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _quote(value: object) -> str:
    return repr(value) if isinstance(value, str) else value_text(value)


def _in(variable: str, values: Iterable) -> str:
    values = tuple(values)
    if len(values) == 1:
        return f"{variable} == {_quote(values[0])}"
    return f"{variable} in ({', '.join(_quote(v) for v in values)})"


# ----------------------------------------------------------------------------------------------------------------
# the catalogue of a report spec


def analysis_id(table: str, row: str = "", column: str = "") -> str:
    """The analysis of a statistics.csv number (table, row, column); the column totals are row 'N'."""
    return ".".join(["AN", table, row or "N"] + ([column] if column else []))


def report_catalogue(spec: StudySpec) -> Catalogue | None:
    """The analysis catalogue of the study's report.yaml, or None when the study has no report."""
    report = load_report_spec(spec)
    return catalogue(report) if report is not None else None


def catalogue(report: ReportSpec) -> Catalogue:
    """Every output, analysis set, grouping and analysis of the report, in report order."""
    cat = Catalogue(report.title)
    for pid, p in report.populations.items():
        cat.analysis_sets[pid] = AnalysisSet(f"AS.{pid}", p.label, Selection(p.dataset, (p.where,)))
    for section in report.sections:
        for item in section.items:
            if isinstance(item, TableSpec) and item.kind == "summary":
                _summary(cat, item)
            elif isinstance(item, TableSpec) and item.kind == "adverse_events":
                _adverse_events(cat, item)
            elif isinstance(item, TimeToEventSpec):
                _time_to_event(cat, item, report)
    return cat


def _totals(cat: Catalogue, table: TableSpec) -> None:
    for column in table.columns:
        cat.add(Analysis(analysis_id(table.name, "", column.id), table.name, f"Patients: {column.label}",
                         "MTH.POPULATION", column.population, Selection(table.dataset), where=f"table {table.name}"))


def _records(table: TableSpec, row: Row, column: Column, *, records: str | None = None) -> Selection:
    """The records a cell reads: column, table (same dataset), parameter, row (and record filter) conditions."""
    dataset = row.dataset or table.dataset
    parts = [column.where]
    if dataset == table.dataset:
        parts.append(table.where)
    if records:
        parts.append(records)
    if row.param is not None:
        parts.append(f"PARAMCD == {row.param!r}")
    parts.append(row.where_for(column.id))
    if row.kind == "count" and row.value is not None:
        parts.append(_in(row.variable, (row.value,)))
    return Selection(dataset, tuple(p for p in parts if p))


def _category_group(dataset: str, variable: str | None, cat: Category) -> Group:
    parts = []
    if cat.values and variable:
        parts.append(_in(variable, cat.values))
    if cat.where:
        parts.append(cat.where)
    return Group(cat.id, cat.label, Selection(dataset, tuple(parts)))


def _summary(cat: Catalogue, table: TableSpec) -> None:
    cat.outputs[table.name] = Output(table.name, table.caption, "summary", table.reason, table.purpose)
    _totals(cat, table)
    for row in table.rows:
        if row.kind == "heading":
            continue
        dataset = row.dataset or table.dataset
        groupings: tuple[str, ...] = ()
        if row.kind == "categories":
            gid = f"GF.{table.name}.{row.id}"
            groups = [_category_group(dataset, row.variable, c) for c in row.categories]
            cat.groupings[gid] = Grouping(gid, row.label, dataset, row.variable or "", tuple(groups))
            groupings = (gid,)
        elif row.kind == "pair":
            gid = f"GF.{table.name}.{row.id}"
            groups = [Group(p.id, label, Selection(dataset, tuple(x for x in (p.where, _in(row.variable or "AVALC",
                            (row.value,)) if row.value is not None else None) if x)))
                      for p, label in zip(row.pair, table.pair_labels)]
            cat.groupings[gid] = Grouping(gid, " / ".join(table.pair_labels), dataset, "PARAMCD", tuple(groups))
            groupings = (gid,)
        method = ("MTH.MEDIAN_RANGE" if row.kind == "median_range"
                  else "MTH.COUNT_CI" if table.ci else "MTH.COUNT")
        variables = tuple(v for v in (row.variable,) if v)
        for column in table.columns:
            cat.add(Analysis(analysis_id(table.name, row.id, column.id), table.name, f"{row.label}: {column.label}",
                             method, column.population, _records(table, row, column), variables, row.param,
                             groupings, where=f"table {table.name}, row {row.id}, column {column.id}"))


def _bands(cat: Catalogue, gid: str, label: str, dataset: str, grade: str, bands) -> str:
    groups = tuple(Group(b.id, b.label, Selection(dataset, (_in(grade, b.grades),))) for b in bands)
    cat.groupings[gid] = Grouping(gid, label, dataset, grade, groups)
    return gid


def _adverse_events(cat: Catalogue, table: TableSpec) -> None:
    cat.outputs[table.name] = Output(table.name, table.caption, "adverse_events", table.reason, table.purpose)
    _totals(cat, table)
    bands = _bands(cat, f"GF.{table.name}.grade", "Worst grade", table.dataset, table.grade, table.bands)
    for row in table.rows:
        if row.kind == "heading":
            continue
        for column in table.columns:
            cat.add(Analysis(analysis_id(table.name, row.id, column.id), table.name, f"{row.label}: {column.label}",
                             "MTH.WORST_GRADE", column.population,
                             _records(table, row, column, records=row.records or table.records),
                             (table.grade,), None, (bands,),
                             where=f"table {table.name}, row {row.id}, column {column.id}"))
    if table.by_term is None:
        return
    bt = table.by_term
    cat.outputs[bt.name] = Output(bt.name, bt.caption, "by_term", table.reason, table.purpose)
    term_bands = _bands(cat, f"GF.{bt.name}.grade", "Worst grade", table.dataset, table.grade, bt.bands)
    term = f"GF.{bt.name}.term"
    cat.groupings[term] = Grouping(term, " / ".join(bt.by), table.dataset, bt.by[-1], data_driven=True)
    base = Row("", "", "count")
    for column in table.columns:
        cat.add(Analysis(f"AN.{bt.name}.TERM.{column.id}", bt.name, f"Every term: {column.label}",
                         "MTH.WORST_GRADE", column.population, _records(table, base, column, records=table.records),
                         (table.grade, *bt.by), None, (term, term_bands),
                         where=f"table {table.name}, by_term, column {column.id}"))


def _time_to_event(cat: Catalogue, tte: TimeToEventSpec, report: ReportSpec) -> None:
    names = {"": ("Kaplan-Meier medians", "MTH.KM"), "_logrank": ("Log-rank tests", "MTH.LOGRANK"),
             "_at_risk": ("Numbers at risk", "MTH.AT_RISK"), "_followup": ("Median follow-up", "MTH.FOLLOWUP")}
    groups: tuple[str, ...] = ()
    if tte.groups is not None:
        gid = f"GF.{tte.name}.group"
        cat.groupings[gid] = Grouping(gid, tte.groups.title, tte.dataset, tte.groups.variable, tuple(
            [Group(tte.overall.id, tte.overall.label, Selection(tte.dataset))]
            + [_category_group(tte.dataset, tte.groups.variable, c) for c in tte.groups.categories]))
        groups = (gid,)
    for suffix, (title, method) in names.items():
        table = f"{tte.name}{suffix}"
        cat.outputs[table] = Output(table, f"{tte.area}: {title}", "time_to_event", tte.reason, tte.purpose)
        endpoints = [e for e in tte.endpoints if suffix != "_followup"
                     or (tte.follow_up is not None and e.id == tte.follow_up[0])]
        for e in endpoints:
            extra: tuple[str, ...] = ()
            if suffix == "_logrank":
                extra = (f"GF.{tte.name}.reference",)
                cat.groupings.setdefault(extra[0], Grouping(extra[0], "Compared with", tte.dataset,
                                                            tte.groups.variable if tte.groups else "",
                                                            data_driven=True))
            if suffix == "_at_risk":
                extra = (f"GF.{tte.name}.time",)
                cat.groupings.setdefault(extra[0], Grouping(extra[0], f"Time ({tte.unit})", tte.dataset, "AVAL",
                                                            data_driven=True))
            variables = ("AVAL", "CNSR") + ((tte.groups.variable,) if tte.groups and suffix != "_followup" else ())
            cat.add(Analysis(analysis_id(table, e.id), table, f"{e.label}: {e.title}", method, tte.population,
                             Selection(tte.dataset, (f"PARAMCD == {e.paramcd!r}",)), variables, e.paramcd,
                             (groups if suffix != "_followup" else ()) + extra,
                             where=f"time_to_event {tte.name}, endpoint {e.id}"))


def analysis_key(table: str, row: str, column: str, outputs: dict[str, Output]) -> str:
    """The analysis a statistics.csv number belongs to."""
    kind = outputs[table].kind if table in outputs else ""
    if kind == "time_to_event":
        return analysis_id(table, row)
    if kind == "by_term" and row:
        return f"AN.{table}.TERM.{column}"
    return analysis_id(table, row, column)
