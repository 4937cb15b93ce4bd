"""The report's numbers as a CDISC Analysis Results Standard (ARS 1.0) reporting event and Analysis Results Dataset.

    reporting_event(spec, statistics) -> dict      ARS 1.0 JSON: analysis sets, data subsets, analysis groupings,
                                                   methods with their operations, analyses with their results,
                                                   outputs (displays) and the list of contents
    ard_frame(spec, statistics) -> DataFrame       the same results flat, one row per number (the ARD)

`statistics` is the report's `statistics.csv` (table, row, category, column, stat, value ...), read as text so that
every raw value is the number the report wrote.  What each number is comes from the one catalogue of the report's
analyses (`specs.report.analyses`, read from report.yaml): the analysis of a number is its table, row and column, its
operation the method's statistic, its result groups the category (or term) and, for log-rank tests and numbers at
risk, the column.  Conditions are written as ARS where clauses (a condition, or an AND of conditions) when they
are simple comparisons; any other condition is kept, in the report's condition language, in the description.
The document is validated against the vendored ARS 1.0 JSON Schema (`export/schemas/ars-1.0`).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from cdiscflow import __version__
from cdiscflow.core.errors import InputError
from cdiscflow.specs.model import StudySpec
from cdiscflow.specs.report import ANALYSIS_PURPOSES, ANALYSIS_REASONS
from cdiscflow.specs.report.analyses import (METHODS, Analysis, Catalogue, Group, Grouping, Selection, analysis_key,
                                              report_catalogue)

SCHEMA = Path(__file__).resolve().parents[1] / "export" / "schemas" / "ars-1.0" / "ars_ldm.schema.json"
ARD_COLUMNS = ("analysis_id", "output_id", "method_id", "operation_id", "analysis_set_id", "data_subset_id",
               "grouping_1", "group_1", "grouping_2", "group_2", "raw_value", "table", "row", "category", "column",
               "stat")


def read_statistics(path: str | Path) -> pd.DataFrame:
    """statistics.csv as text (raw values exactly as written)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def required_catalogue(spec: StudySpec) -> Catalogue:
    """The analysis catalogue of the study's report; InputError when the study has no report.yaml."""
    cat = report_catalogue(spec)
    if cat is None:
        raise InputError(f"{spec.path}: the study has no report.yaml, so its report has no analyses to describe")
    return cat


# ----------------------------------------------------------------------------------------------------------------
# where clauses


def where_clause(selection: Selection, level: int = 1, order: int = 1) -> dict[str, Any]:
    """An ARS WhereClause (condition or AND compound) for the simple checks of a selection."""
    conditions = [{"dataset": c.dataset, "variable": c.variable, "comparator": c.comparator, "value": list(c.values)}
                  for c in selection.checks]
    out: dict[str, Any] = {"level": level, "order": order}
    if len(conditions) == 1:
        out["condition"] = conditions[0]
    elif conditions:
        out["compoundExpression"] = {"logicalOperator": "AND", "whereClauses": [
            {"level": level + 1, "order": i, "condition": c} for i, c in enumerate(conditions, start=1)]}
    return out


def _described(selection: Selection) -> str:
    rest = selection.rest
    text = f"Records of {selection.dataset} with {selection.text}"
    if rest:
        text += f" (not in the where clause: {'; '.join(rest)})"
    return text


# ----------------------------------------------------------------------------------------------------------------
# the reporting event


class _Builder:
    def __init__(self, spec: StudySpec, cat: Catalogue, statistics: pd.DataFrame):
        self.spec, self.cat, self.stats = spec, cat, statistics
        self.subsets: dict[tuple[str, tuple[str, ...]], str] = {}
        self.extra_groups: dict[str, dict[str, str]] = {}  # grouping -> group id -> label (missing, other ...)
        self.rows: list[dict[str, str]] = []
        self.sponsor_terms: dict[str, dict[str, str]] = {}  # enumeration -> value -> sponsor term id

    def term(self, value: str, enumeration: str, terms: tuple[str, ...]) -> dict[str, str]:
        """An ARS reason/purpose: the controlled term, or a sponsor term (listed in terminologyExtensions)."""
        if value in terms:
            return {"controlledTerm": value}
        found = self.sponsor_terms.setdefault(enumeration, {})
        found.setdefault(value, f"ST.{enumeration}.{len(found) + 1}")
        return {"sponsorTermId": found[value]}

    def group_ref(self, grouping: Grouping, value: str, label: str) -> dict[str, str]:
        if grouping.data_driven:
            return {"groupingId": grouping.id, "groupValue": value}
        if value not in {g.id for g in grouping.groups}:
            self.extra_groups.setdefault(grouping.id, {})[value] = label or value
        return {"groupingId": grouping.id, "groupId": f"{grouping.id}.{value}"}

    def subset_id(self, selection: Selection) -> str | None:
        if not selection.expressions:
            return None
        key = (selection.dataset, selection.expressions)
        if key not in self.subsets:
            self.subsets[key] = f"DS.{len(self.subsets) + 1:04d}"
        return self.subsets[key]

    def results(self) -> dict[str, list[dict]]:
        """Results per analysis, from statistics.csv, in its order."""
        out: dict[str, list[dict]] = {}
        outputs = self.cat.outputs
        frame = self.stats
        for r in frame.itertuples(index=False):  # one per number: a few thousand
            aid = analysis_key(r.table, r.row, r.column, outputs)
            a = self.cat.analyses.get(aid)
            if a is None:
                raise InputError(f"statistics.csv: table {r.table}, row {r.row!r}, column {r.column!r} has no "
                                 "analysis in report.yaml (is statistics.csv from another report?)")
            kind = outputs[a.output].kind
            dims = [(r.row, r.row_label), (r.category, r.category_label)] if kind == "by_term" else \
                [(r.category, r.category_label), (r.column, r.column_label)]
            groups = [self.group_ref(self.cat.groupings[g], value, label)
                      for g, (value, label) in zip(a.groupings, dims) if value]
            operation = f"{a.method}.{r.stat}"
            result: dict[str, Any] = {"operationId": operation}
            if groups:
                result["resultGroups"] = groups
            if r.value != "":
                result["rawValue"] = r.value
            out.setdefault(aid, []).append(result)
            self.rows.append({
                "analysis_id": aid, "output_id": a.output, "method_id": a.method, "operation_id": operation,
                "analysis_set_id": self.cat.analysis_sets[a.analysis_set].id,
                "data_subset_id": self.subset_id(a.subset) or "",
                "grouping_1": groups[0]["groupingId"] if groups else "",
                "group_1": (groups[0].get("groupId") or groups[0].get("groupValue")) if groups else "",
                "grouping_2": groups[1]["groupingId"] if len(groups) > 1 else "",
                "group_2": (groups[1].get("groupId") or groups[1].get("groupValue")) if len(groups) > 1 else "",
                "raw_value": r.value, "table": r.table, "row": r.row, "category": r.category, "column": r.column,
                "stat": r.stat})
        return out

    def analysis(self, a: Analysis, results: list[dict]) -> dict[str, Any]:
        output = self.cat.outputs[a.output]
        out: dict[str, Any] = {
            "id": a.id, "name": a.name, "version": 1,
            "description": f"{METHODS[a.method][0]}; {_described(a.subset)}. report.yaml: {a.where}.",
            "reason": self.term(output.reason, "AnalysisReasonEnum", ANALYSIS_REASONS),
            "purpose": self.term(output.purpose, "AnalysisPurposeEnum", ANALYSIS_PURPOSES),
            "methodId": a.method, "analysisSetId": self.cat.analysis_sets[a.analysis_set].id,
            "dataset": a.subset.dataset,
        }
        subset = self.subset_id(a.subset)
        if subset:
            out["dataSubsetId"] = subset
        if a.variables:
            out["variable"] = a.variables[0]
        if a.groupings:
            out["orderedGroupings"] = [{"order": i, "groupingId": g, "resultsByGroup": True}
                                       for i, g in enumerate(a.groupings, start=1)]
        out["programmingCode"] = {"context": f"cdiscflow {__version__}",
                                  "code": f"cdiscflow report --adam adam --study spec --out report  # {a.where}"}
        if results:
            out["results"] = results
        return out

    def grouping(self, g: Grouping) -> dict[str, Any]:
        out: dict[str, Any] = {"id": g.id, "name": g.label, "dataDriven": g.data_driven}
        if g.dataset:
            out["groupingDataset"] = g.dataset
        if g.variable:
            out["groupingVariable"] = g.variable
        groups = [self.group(g, x, i) for i, x in enumerate(g.groups, start=1)]
        for i, (gid, label) in enumerate(self.extra_groups.get(g.id, {}).items(), start=len(groups) + 1):
            groups.append({"id": f"{g.id}.{gid}", "name": label, "level": 1, "order": i,
                           "description": "Defined by the method: records without a value, values in no category, "
                                          "or subjects without a record (see the report)"})
        if groups and not g.data_driven:
            out["groups"] = groups
        return out

    def group(self, g: Grouping, x: Group, order: int) -> dict[str, Any]:
        out: dict[str, Any] = {"id": f"{g.id}.{x.id}", "name": x.label, "level": 1, "order": order}
        if x.selection is not None and x.selection.expressions:
            out.update({k: v for k, v in where_clause(x.selection).items() if k not in ("level", "order")})
            out["description"] = _described(x.selection)
        return out

    def build(self) -> dict[str, Any]:
        cat, spec = self.cat, self.spec
        results = self.results()
        analyses = [self.analysis(a, results.get(a.id, [])) for a in cat.analyses.values()]
        used_methods = list(dict.fromkeys(a.method for a in cat.analyses.values()))
        contents = []
        for i, output in enumerate(cat.outputs.values(), start=1):
            items = [{"name": a.name, "level": 2, "order": j, "analysisId": a.id}
                     for j, a in enumerate((a for a in cat.analyses.values() if a.output == output.id), start=1)]
            entry: dict[str, Any] = {"name": output.title, "level": 1, "order": i, "outputId": output.id}
            if items:
                entry["sublist"] = {"listItems": items}
            contents.append(entry)
        return {
            "id": f"RE.{spec.studyid}", "name": cat.title, "version": 1,
            "description": f"The analyses of the cdiscflow report of study {spec.studyid} (data cut "
                           f"{spec.datacut.isoformat()}), with their results, from report.yaml and statistics.csv.",
            "mainListOfContents": {"name": "Report", "contentsList": {"listItems": contents}},
            "analysisSets": [{"id": s.id, "name": s.label, "label": s.label, "level": 1, "order": i,
                              **{k: v for k, v in where_clause(s.selection).items() if k not in ("level", "order")},
                              "description": f"Subjects: {_described(s.selection)}"}
                             for i, s in enumerate(cat.analysis_sets.values(), start=1)],
            "dataSubsets": [{"id": sid, "name": sid, "level": 1, "order": i,
                             **{k: v for k, v in where_clause(Selection(ds, exprs)).items()
                                if k not in ("level", "order")},
                             "description": _described(Selection(ds, exprs))}
                            for i, ((ds, exprs), sid) in enumerate(self.subsets.items(), start=1)],
            "analysisGroupings": [self.grouping(g) for g in cat.groupings.values()],
            "methods": [{"id": m, "name": METHODS[m][0], "description": METHODS[m][1], "operations": [
                {"id": f"{m}.{stat}", "name": stat, "label": label, "order": k}
                for k, (stat, label) in enumerate(METHODS[m][2].items(), start=1)]} for m in used_methods],
            "analyses": analyses,
            "outputs": [{"id": o.id, "name": o.id, "version": 1, "displays": [
                {"order": 1, "display": {"id": f"DSP.{o.id}", "name": o.id, "displayTitle": o.title}}]}
                for o in cat.outputs.values()],
            **({"terminologyExtensions": [
                {"id": f"TE.{enum}", "enumeration": enum,
                 "sponsorTerms": [{"id": tid, "submissionValue": value} for value, tid in found.items()]}
                for enum, found in self.sponsor_terms.items()]} if self.sponsor_terms else {}),
        }


def reporting_event(spec: StudySpec, statistics: pd.DataFrame) -> dict[str, Any]:
    """The ARS 1.0 reporting event of the study's report, with the results of `statistics` (statistics.csv)."""
    return _Builder(spec, required_catalogue(spec), statistics).build()


def ard_frame(spec: StudySpec, statistics: pd.DataFrame) -> pd.DataFrame:
    """The Analysis Results Dataset: one row per number, with its analysis, operation and groups."""
    builder = _Builder(spec, required_catalogue(spec), statistics)
    builder.build()
    return pd.DataFrame(builder.rows, columns=list(ARD_COLUMNS))


def reporting_event_json(spec: StudySpec, statistics: pd.DataFrame) -> bytes:
    doc = reporting_event(spec, statistics)
    problems = validate_reporting_event(doc)
    if problems:
        raise InputError("the ARS reporting event does not validate against the ARS 1.0 schema:\n  "
                         + "\n  ".join(problems[:10]))
    return (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def ard_csv(spec: StudySpec, statistics: pd.DataFrame) -> bytes:
    from cdiscflow.core.spreadsheet import csv_text

    return csv_text(ard_frame(spec, statistics)).encode("utf-8")


@lru_cache(maxsize=1)
def _validator():
    import jsonschema

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema)


def validate_reporting_event(doc: dict) -> list[str]:
    """Every breach of the ARS 1.0 JSON Schema as 'path: message' (empty when valid)."""
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors]
