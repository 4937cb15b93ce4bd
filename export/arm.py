"""Analysis Results Metadata (ARM 1.0 for Define-XML 2.1) in the ADaM define.xml: one `arm:ResultDisplay` per
table the study's report produces, one `arm:AnalysisResult` per row and column of it (per endpoint for the
time-to-event tables).

What each result is comes from the report's analysis catalogue (`specs.report.analyses`, read from report.yaml): its
analysis set (population) and data subset become `def:WhereClauseDef`s on the ADaM datasets written, its analysis
variables and parameter are the written `ItemDef`s, its method and place in report.yaml the documentation, and the
`cdiscflow report` command the programming code.  A condition that no where clause can state (``notna(NACTDT)``,
``or``) is stated in words in a `def:CommentDef` of the result's datasets; a variable or dataset that was not
written is never referred to.

A study without report.yaml gets no ARM.  The define.xml is then plain Define-XML 2.1; with ARM it validates
against the ARM 1.0 schema (`arm1-0-0.xsd`, which extends Define-XML 2.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from lxml import etree

from cdiscflow import __version__
from cdiscflow.specs.report import DEFAULT_PURPOSE, DEFAULT_REASON
from cdiscflow.specs.report.analyses import METHODS, Analysis, Catalogue, Check, Selection, report_catalogue

ARM = "http://www.cdisc.org/ns/arm/v1.0"
DEF = "http://www.cdisc.org/ns/def/v2.1"


@dataclass
class ArmParts:
    """What the ARM adds to a define.xml: where clauses, comments and the displays (built by `build`)."""

    catalogue: Catalogue | None
    written: Mapping[str, frozenset[str]]  # dataset -> variables written
    where_clauses: dict[tuple[Check, ...], str] = field(default_factory=dict)  # checks -> OID
    comments: dict[str, str] = field(default_factory=dict)  # OID -> text
    imported: tuple[list[dict], list[dict]] = ((), ())  # analysis_displays.csv, analysis_results.csv rows

    def has(self, dataset: str, variable: str | None = None) -> bool:
        return dataset in self.written and (variable is None or variable in self.written[dataset])


def analysis_results(spec, written: Mapping[str, frozenset[str]]) -> ArmParts | None:
    """The ARM of the study's report for the ADaM datasets written (dataset -> variable names), or None."""
    cat = report_catalogue(spec)
    if cat is None:
        displays, results = imported_results(spec)
        if not any(set(_names(r["datasets"])) & set(written) for r in results):
            return None
        return ArmParts(None, written, imported=(displays, results))
    if not any(a.subset.dataset in written for a in cat.analyses.values()):
        return None
    return ArmParts(cat, written)


def imported_results(spec) -> tuple[list[dict], list[dict]]:
    """The spec's analysis_displays.csv and analysis_results.csv (written by `spec import` from a workbook's
    Analysis Displays / Analysis Results sheets); empty lists when it has none."""
    import csv

    out = []
    for name in ("analysis_displays.csv", "analysis_results.csv"):
        path = spec.path / name
        rows = []
        if path.is_file():
            with open(path, encoding="utf-8", newline="") as fh:
                rows = [{k: (v or "").strip() for k, v in r.items()} for r in csv.DictReader(fh)]
        out.append(rows)
    return out[0], out[1]


def _names(cell: str) -> list[str]:
    return [x.strip().upper() for x in (cell or "").split(",") if x.strip()]


def build_displays(parts: ArmParts, el, text) -> etree._Element:
    """<arm:AnalysisResultDisplays>; `el`/`text` are define.py's element makers (ODM/def namespaces)."""
    cat = parts.catalogue
    displays = el(None, "AnalysisResultDisplays", ns=ARM)
    if cat is None:
        _imported_displays(parts, displays, el, text)
        return displays
    by_output: dict[str, list[Analysis]] = {}
    for a in cat.analyses.values():
        if parts.has(a.subset.dataset) and parts.has(cat.analysis_sets[a.analysis_set].selection.dataset):
            by_output.setdefault(a.output, []).append(a)
    for oid, analyses in by_output.items():
        output = cat.outputs[oid]
        rd = el(displays, "ResultDisplay", {"OID": f"RD.{oid}", "Name": oid}, ns=ARM)
        text(rd, "Description", output.title)
        for a in analyses:
            _result(parts, rd, a, el, text)
    return displays


def _result(parts: ArmParts, rd, a: Analysis, el, text) -> None:
    cat = parts.catalogue
    label, description, operations = METHODS[a.method]
    ds = a.subset.dataset
    ar = el(rd, "AnalysisResult", {
        "OID": a.id.replace("AN.", "AR.", 1), "ParameterOID": f"IT.{ds}.PARAMCD"
        if a.parameter and parts.has(ds, "PARAMCD") else None,
        "AnalysisReason": cat.outputs[a.output].reason, "AnalysisPurpose": cat.outputs[a.output].purpose}, ns=ARM)
    text(ar, "Description", f"{a.name} ({label.lower()})")
    population = cat.analysis_sets[a.analysis_set]
    pop = population.selection
    unsaid: list[str] = []
    pop_checks = tuple(c for c in pop.checks if parts.has(c.dataset, c.variable))
    if pop_checks:
        parts.where_clauses.setdefault(pop_checks, f"WC.{population.id}")  # named after the population
    holder = el(ar, "AnalysisDatasets", ns=ARM)
    selections = [pop, a.subset] if pop.dataset != ds else [Selection(ds, pop.expressions + a.subset.expressions)]
    grouping_vars = [cat.groupings[g].variable for g in a.groupings if cat.groupings[g].dataset == ds]
    for selection in selections:
        ads = el(holder, "AnalysisDataset", {"ItemGroupOID": f"IG.{selection.dataset}"}, ns=ARM)
        said = tuple(c for c in selection.checks if parts.has(c.dataset, c.variable))
        unsaid += [f"{c.variable} {c.comparator} {', '.join(c.values)}" for c in selection.checks if c not in said]
        unsaid += list(selection.rest)
        if said:
            wc = parts.where_clauses.setdefault(said, f"WC.{a.id[3:]}.{selection.dataset}")
            el(ads, "WhereClauseRef", {"WhereClauseOID": wc}, ns=DEF)
        if selection.dataset == ds:
            for var in dict.fromkeys([*a.variables, *grouping_vars]):
                if var and parts.has(ds, var):
                    el(ads, "AnalysisVariable", {"ItemOID": f"IT.{ds}.{var}"}, ns=ARM)
    if unsaid:
        oid = f"COM.{a.id}"
        parts.comments[oid] = ("Records are also selected by: " + "; ".join(unsaid)
                               + " (not stated by the where clauses)")
        holder.set(f"{{{DEF}}}CommentOID", oid)
    doc = el(ar, "Documentation", ns=ARM)
    groups = "; ".join(f"by {cat.groupings[g].label} ({cat.groupings[g].variable or 'data'})" for g in a.groupings)
    text(doc, "Description", " ".join(p for p in (
        f"{label}: {description}",
        f"Analysis set {population.label}: subjects of {pop.dataset} with {pop.text}.",
        f"Records of {ds}: {a.subset.text}.",
        f"Results {groups}." if groups else "",
        "Statistics: " + ", ".join(f"{k} ({v})" for k, v in operations.items()) + ".",
        f"Defined in report.yaml, {a.where}.") if p))
    code = el(ar, "ProgrammingCode", {"Context": f"cdiscflow {__version__}"}, ns=ARM)
    el(code, "Code", ns=ARM).text = (f"cdiscflow report --adam adam --study spec --out report\n"
                                     f"# report.yaml: {a.where}; the numbers: report/statistics.csv")


def where_clause_defs(parts: ArmParts, el) -> list[etree._Element]:
    """def:WhereClauseDef of every where clause the displays refer to (first use order)."""
    out = []
    for checks, oid in parts.where_clauses.items():  # OIDs are unique: a population's, or an analysis id's
        wc = el(None, "WhereClauseDef", {"OID": oid}, ns=DEF)
        for c in checks:
            rc = el(wc, "RangeCheck", {"Comparator": c.comparator, "SoftHard": "Soft",
                                       "def:ItemOID": f"IT.{c.dataset}.{c.variable}"})
            for value in c.values:
                el(rc, "CheckValue").text = value
        out.append(wc)
    return out


def _imported_displays(parts: ArmParts, displays, el, text) -> None:
    """Displays and results as a spec workbook stated them (a study without report.yaml)."""
    from cdiscflow.specs.tables import parse_where

    titles = {d["display"]: d.get("title") or d["display"] for d in parts.imported[0]}
    by_display: dict[str, list[dict]] = {}
    for r in parts.imported[1]:
        if any(ds in parts.written for ds in _names(r["datasets"])):
            by_display.setdefault(r["display"], []).append(r)
    for display, results in by_display.items():
        rd = el(displays, "ResultDisplay", {"OID": f"RD.{display}", "Name": display}, ns=ARM)
        text(rd, "Description", titles.get(display, display))
        for r in results:
            names = [ds for ds in _names(r["datasets"]) if ds in parts.written]
            param = r.get("parameter", "")
            ar = el(rd, "AnalysisResult", {
                "OID": f"AR.{display}.{r['result']}",
                "ParameterOID": f"IT.{names[0]}.PARAMCD" if param and parts.has(names[0], "PARAMCD") else None,
                "AnalysisReason": r.get("reason") or DEFAULT_REASON,
                "AnalysisPurpose": r.get("purpose") or DEFAULT_PURPOSE}, ns=ARM)
            text(ar, "Description", r.get("description") or r["result"])
            holder = el(ar, "AnalysisDatasets", ns=ARM)
            where = parse_where(r["where"]) if r.get("where") else []
            for ds in names:
                ads = el(holder, "AnalysisDataset", {"ItemGroupOID": f"IG.{ds}"}, ns=ARM)
                said = tuple(Check(ds, v, c, vals) for v, c, vals in where if parts.has(ds, v))
                if said:
                    oid = parts.where_clauses.setdefault(said, f"WC.{display}.{r['result']}.{ds}")
                    el(ads, "WhereClauseRef", {"WhereClauseOID": oid}, ns=DEF)
                for var in _names(r.get("variables", "")):
                    vds, _, name = var.rpartition(".")
                    if (vds or ds) == ds and parts.has(ds, name):
                        el(ads, "AnalysisVariable", {"ItemOID": f"IT.{ds}.{name}"}, ns=ARM)
            if r.get("documentation"):
                doc = el(ar, "Documentation", ns=ARM)
                text(doc, "Description", r["documentation"])
            if r.get("code") or r.get("code_context"):
                code = el(ar, "ProgrammingCode", {"Context": r.get("code_context") or None}, ns=ARM)
                if r.get("code"):
                    el(code, "Code", ns=ARM).text = r["code"]
