"""great-expectations suites derived from the spec, run on the datasets and rendered as Data Docs HTML.

The suites come from the same `DatasetPlan` as the pandera schemas (metadata.py), so the Data Docs show the spec's
rules as expectations: Req/Exp variables exist, Req variables are never missing, codelist terms, lengths, ISO 8601
formats, unique keys and the declared variable order.  Each expectation's notes name the cdiscflow check (SCH-...)
that covers the same rule on every record.

Layout of `out_dir` (self-contained, readable offline, deterministic for the same input):

    index.html                 datasets, expectation results, findings per rule, links
    validations/<DS>.html      GE validation-results page per dataset
    expectations/<DS>.html     GE expectation-suite page per dataset

Offline: the GE page templates pull Bootstrap, jQuery, Font Awesome and a logo from CDNs; cdiscflow renders them
with a few overriding templates (datadocs_assets/templates) and inlines its own small stylesheet and script.  No GE
context folder or temporary directory is created: the context is ephemeral (in memory) and pages are rendered
directly by GE's page renderers.  Bounded time: datasets larger than `max_rows` are validated by GE on a
deterministic random sample (seed 0) of `max_rows` records, which every page says; the pandera schemas and
conformance rules still check every record.

great-expectations takes seconds to import, so it is imported inside `write_data_docs` only.
"""

from __future__ import annotations

import html
import itertools
import logging
import re
from pathlib import Path
from typing import Mapping

import pandas as pd

from cdiscflow.core.atomic import write_text
from cdiscflow.core.findings import Findings
from cdiscflow.specs.model import StudySpec
from cdiscflow.validation import iso8601
from cdiscflow.validation.metadata import STUDY, DatasetPlan
from cdiscflow.validation.rules import RULES
from cdiscflow.validation.schema import SCHEMA_CHECKS

ASSETS = Path(__file__).resolve().parent / "datadocs_assets"
MAX_ROWS = 100_000


def write_data_docs(datasets: Mapping[str, pd.DataFrame], spec: StudySpec | None, out_dir: str | Path, *,
                    findings: Findings | None = None, plans: Mapping[str, DatasetPlan] | None = None,
                    max_rows: int = MAX_ROWS) -> Path:
    """Build expectation suites from the spec (or the IGs when `spec` is None), validate every dataset with
    great-expectations and write the Data Docs into `out_dir`; returns the path of index.html."""
    from cdiscflow.validation.api import dataset_plans

    out_dir = Path(out_dir)
    datasets = {k.upper(): v for k, v in datasets.items()}
    if plans is None:
        plans, _ = dataset_plans(datasets, spec)
    synthetic = bool(spec is not None and spec.study.get("synthetic"))
    gx, view = _great_expectations()
    context = gx.get_context(mode="ephemeral")
    _quiet(context)
    source = context.data_sources.add_pandas("cdiscflow")
    css = (ASSETS / "datadocs.css").read_text(encoding="utf-8")
    js = (ASSETS / "datadocs.js").read_text(encoding="utf-8")
    summary = []
    for name in sorted(datasets):
        frame, plan = datasets[name], plans[name]
        sample, notice = _sample(frame, max_rows)
        suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=_expectations(gx, plan, frame),
                                                       notes=_suite_notes(plan, notice)))
        batch = source.add_dataframe_asset(name=name).add_batch_definition_whole_dataframe(name)
        definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
        result = definition.run(batch_parameters={"dataframe": sample})
        _deterministic(result)
        extra = dict(cdiscflow_css=css, cdiscflow_js=js, cdiscflow_synthetic=synthetic,
                     cdiscflow_notice=f"{name}: {notice} Metadata: {plan.basis}. cdiscflow checks behind the "
                                      f"expectations: {legend()}.")
        write_text(out_dir / "validations" / f"{name}.html",
                   _fix_links(view.render_validation(result, cdiscflow_title=f"{name} validation", page_title=f"{name}: validation results", **extra)))
        write_text(out_dir / "expectations" / f"{name}.html",
                   _fix_links(view.render_suite(suite, cdiscflow_title=f"{name} expectations", page_title=f"{name}: expectation suite", **extra)))
        stats = result.statistics
        summary.append(dict(name=name, basis=plan.basis, rows=len(frame), checked=len(sample),
                            evaluated=int(stats["evaluated_expectations"]),
                            failed=int(stats["unsuccessful_expectations"]), success=bool(result.success)))
    index = out_dir / "index.html"
    write_text(index, _index_page(summary, findings, spec, css, synthetic, max_rows))
    return index


# ----------------------------------------------------------------------------------------------------------------
# suites from the plan


def _expectations(gx, plan: DatasetPlan, frame: pd.DataFrame) -> list:
    E = gx.expectations
    present = set(frame.columns)
    out = []

    def add(expectation_cls, rule_id: str, why: str, **kwargs) -> None:
        severity = SCHEMA_CHECKS[rule_id].severity_for(plan.source)
        out.append(expectation_cls(**kwargs, meta={"attributes": {"check": rule_id, "severity": severity,
                                                                  "why": why}}))

    if plan.ordered and plan.strict and plan.source == STUDY:  # against the IG these are notes only
        declared = [v.name for v in plan.variables if v.name in present]
        add(E.ExpectTableColumnsToMatchOrderedList, "SCH-COL-004",
            f"variables in the order of {plan.basis}, nothing undeclared", column_list=declared)
    for v in plan.variables:
        if v.required or v.expected:
            add(E.ExpectColumnToExist, "SCH-COL-001" if v.required else "SCH-COL-002",
                f"{v.core} variable ({plan.basis})", column=v.name)
        if v.name not in present:
            continue
        if v.never_null:
            add(E.ExpectColumnValuesToNotBeNull, "SCH-NULL-001", "Req: never missing", column=v.name)
        if v.codelist is not None:
            rule_id = "SCH-CT-002" if v.codelist.extensible else "SCH-CT-001"
            values = list(v.codelist.values)
            if not v.char:
                values = pd.to_numeric(pd.Series(values), errors="coerce").dropna().tolist()
            add(E.ExpectColumnValuesToBeInSet, rule_id,
                f"codelist {v.codelist.code or v.codelist.id} ({v.codelist.name})"
                + (", extensible" if v.codelist.extensible else ""), column=v.name, value_set=values)
        if v.char and v.max_bytes:
            add(E.ExpectColumnValueLengthsToBeBetween, "SCH-LEN-001",
                f"at most {v.max_bytes} characters here; cdiscflow counts UTF-8 bytes", column=v.name,
                max_value=v.max_bytes)
        if v.iso:
            rule_id = "SCH-DUR-001" if v.iso == iso8601.DURATION else "SCH-DTC-001"
            add(E.ExpectColumnValuesToMatchRegex, rule_id,
                f"ISO 8601 {v.iso} format (cdiscflow SCH-DTC-002 also checks that dates exist)", column=v.name,
                regex=iso8601.regex_for(v.iso))
    keys = [k for k in plan.keys if k in present]
    if keys and len(keys) == len(plan.keys):
        if len(keys) == 1:
            add(E.ExpectColumnValuesToBeUnique, "SCH-KEY-001", "the key identifies each record", column=keys[0])
        else:
            add(E.ExpectCompoundColumnsToBeUnique, "SCH-KEY-001", f"keys {', '.join(keys)} identify each record",
                column_list=keys)
    return out


# which cdiscflow check covers each kind of expectation on every record (the legend on every page)
CHECK_OF_EXPECTATION = {
    "column exists": "SCH-COL-001 (Req) / SCH-COL-002 (Exp)",
    "columns in this order": "SCH-COL-003 / SCH-COL-004",
    "never null": "SCH-NULL-001",
    "belong to this set": "SCH-CT-001 (non-extensible) / SCH-CT-002 (extensible)",
    "length": "SCH-LEN-001 (in UTF-8 bytes)",
    "match this regular expression": "SCH-DTC-001 / SCH-DUR-001 (and SCH-DTC-002: the date exists)",
    "unique": "SCH-KEY-001",
}


def legend() -> str:
    return "; ".join(f"{k} → {v}" for k, v in CHECK_OF_EXPECTATION.items())


def _suite_notes(plan: DatasetPlan, notice: str) -> list[str]:
    lines = [f"Generated by cdiscflow from **{plan.basis}**. {notice}",
             "Each expectation mirrors a cdiscflow schema check that runs on every record (findings.csv):"]
    lines += [f"* {k}: **{v}**" for k, v in CHECK_OF_EXPECTATION.items()]
    lines.append("cdiscflow also counts lengths in UTF-8 bytes (GE counts characters) and rejects dates that do not "
                 "exist (2020-02-30), which a regular expression cannot.")
    coded = [v for v in plan.variables if v.codelist is not None]
    if coded:
        lines.append("Codelists:")
        lines += [f"* {v.name}: {v.codelist.code or v.codelist.id} {v.codelist.name} "
                  f"({'extensible' if v.codelist.extensible else 'non-extensible'})" for v in coded]
    return lines


def _sample(frame: pd.DataFrame, max_rows: int) -> tuple[pd.DataFrame, str]:
    n = len(frame)
    if n <= max_rows:
        return frame, f"all {n:,} records were checked."
    sample = frame.sample(n=max_rows, random_state=0).sort_index()
    return sample, (f"great-expectations checked a deterministic random sample of {max_rows:,} of {n:,} records "
                    f"(seed 0); cdiscflow's schema checks and conformance rules (findings.csv) cover all records.")


# ----------------------------------------------------------------------------------------------------------------
# great-expectations plumbing


def _great_expectations():
    import great_expectations as gx  # lazy: 2-5 s
    from great_expectations.render.renderer import ExpectationSuitePageRenderer, ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView
    from jinja2 import ChoiceLoader, FileSystemLoader

    class PageView(DefaultJinjaPageView):
        """GE's page view with cdiscflow's offline templates first and element ids that do not change per run."""

        def __init__(self) -> None:
            super().__init__()
            self.env.loader = ChoiceLoader([FileSystemLoader(str(ASSETS / "templates")), self.env.loader])
            self._ids = itertools.count(1)

        def generate_html_element_uuid(self, prefix=None):
            return f"{prefix or ''}cdiscflow-{next(self._ids)}"

        def render_validation(self, result, **kwargs) -> str:
            self._ids = itertools.count(1)
            return self.render(ValidationResultsPageRenderer().render(result), **kwargs)

        def render_suite(self, suite, **kwargs) -> str:
            self._ids = itertools.count(1)
            return self.render(ExpectationSuitePageRenderer().render(suite), **kwargs)

    return gx, PageView()


def _quiet(context) -> None:
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    logging.getLogger("great_expectations").setLevel(logging.ERROR)


def _deterministic(result) -> None:
    """Drop the run time and load time GE stamps on a result, so the same data give the same pages."""
    result.meta["run_id"] = {"run_name": "cdiscflow validate", "run_time": None}
    markers = result.meta.get("batch_markers")
    if isinstance(markers, dict):
        markers.pop("ge_load_time", None)
    result.meta.pop("validation_time", None)


_LINK = re.compile(r'href="(?:\.\./)+(index\.html|expectations/|validations/)')


def _fix_links(page: str) -> str:
    """GE's renderers link as if pages lived in its own deep store layout; point them at ours."""
    return _LINK.sub(lambda m: f'href="../{m.group(1)}', page)


# ----------------------------------------------------------------------------------------------------------------
# index page (our own, in the same style)


def _index_page(summary: list[dict], findings: Findings | None, spec: StudySpec | None, css: str, synthetic: bool,
                max_rows: int) -> str:
    e = html.escape
    frame = findings.frame() if findings is not None else None
    per_ds: dict[str, dict[str, int]] = {}
    if frame is not None and len(frame):
        counts = frame.groupby(["dataset", "severity"]).size()
        for (ds, sev), n in counts.items():
            per_ds.setdefault(ds, {})[sev] = int(n)
    rows = []
    for s in summary:
        f = per_ds.get(s["name"], {})
        status = ('<span class="badge badge-success">passed</span>' if s["success"]
                  else f'<span class="badge badge-danger">{s["failed"]} failed</span>')
        checked = f'{s["checked"]:,}' + ("" if s["checked"] == s["rows"] else " (sample)")
        rows.append(
            f'<tr><td><strong>{e(s["name"])}</strong></td><td>{e(s["basis"])}</td>'
            f'<td class="num">{s["rows"]:,}</td><td class="num">{checked}</td>'
            f'<td class="num">{s["evaluated"]}</td><td>{status}</td>'
            f'<td class="num">{f.get("error", 0)}</td><td class="num">{f.get("warning", 0)}</td>'
            f'<td class="num">{f.get("note", 0)}</td>'
            f'<td><a href="validations/{e(s["name"])}.html">results</a> · '
            f'<a href="expectations/{e(s["name"])}.html">expectations</a></td></tr>')
    title = f"Study {e(spec.studyid)}" if spec is not None else "Datasets checked against SDTMIG 3.4 / ADaMIG 1.3"
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="UTF-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1.0">',
        f"<title>cdiscflow Data Docs</title><style>{css}</style></head><body>",
        '<nav class="navbar border-bottom"><div class="navbar-brand">cdiscflow Data Docs</div>'
        + ('<span class="synthetic">SYNTHETIC DATA</span>' if synthetic else "") + "</nav>",
        '<div class="container-fluid pt-4 pb-4 pl-5 pr-5">',
        f"<h1>{title}</h1>",
    ]
    if frame is not None:
        c = findings.counts()
        parts.append(
            '<div class="alert alert-secondary">Findings over all records (findings.csv): '
            f'<span class="badge badge-danger">{c["error"]} errors</span> '
            f'<span class="badge badge-warning">{c["warning"]} warnings</span> '
            f'<span class="badge badge-info">{c["note"]} notes</span></div>')
    parts.append(
        f'<p class="lead">great-expectations validates each dataset against expectations generated from the '
        f'{"study spec" if spec is not None else "implementation guides"}; datasets above {max_rows:,} records are '
        f'validated on a deterministic sample. Every record is checked by cdiscflow\'s schemas and conformance '
        f'rules, summarised below.</p>')
    parts.append('<h2>Datasets</h2><div class="table-responsive"><table class="table table-sm"><thead><tr>'
                 '<th>Dataset</th><th>Metadata</th><th class="num">Records</th><th class="num">Checked by GE</th>'
                 '<th class="num">Expectations</th><th>GE result</th><th class="num">Errors</th>'
                 '<th class="num">Warnings</th><th class="num">Notes</th><th>Pages</th></tr></thead><tbody>'
                 + "".join(rows) + "</tbody></table></div>")
    if frame is not None and len(frame):
        by_rule = frame.groupby(["rule_id", "severity"], sort=True).agg(
            findings=("rule_id", "size"), datasets=("dataset", lambda d: ", ".join(sorted(set(d) - {""})))
        ).reset_index()
        lines = []
        for r in by_rule.itertuples(index=False):
            desc = (RULES[r.rule_id].message if r.rule_id in RULES
                    else SCHEMA_CHECKS[r.rule_id].title if r.rule_id in SCHEMA_CHECKS else "")
            lines.append(f"<tr><td><code>{e(r.rule_id)}</code></td><td>{e(r.severity)}</td>"
                         f'<td class="num">{r.findings:,}</td><td>{e(r.datasets)}</td><td>{e(desc)}</td></tr>')
        parts.append('<h2>Findings by rule</h2><table class="table table-sm"><thead><tr><th>Rule</th>'
                     '<th>Severity</th><th class="num">Findings</th><th>Datasets</th><th>What it checks</th></tr></thead>'
                     "<tbody>" + "".join(lines) + "</tbody></table>")
    parts.append("</div></body></html>")
    return "\n".join(parts) + "\n"
