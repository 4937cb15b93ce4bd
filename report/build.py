"""The analysis report from ADaM, as the study's report.yaml declares it: the recipe behind `cdiscflow report`.

    build_report(spec, adam, out_dir) -> list[Path]      what `cdiscflow run` calls (files written)
    make_report(spec, adam, out_dir) -> ReportResult     the same, with the numbers and the reproduction check

Reads the ADaM datasets only.  Writes `index.html` (self-contained; SYNTHETIC banner for simulated studies), one
CSV per table (as printed), `statistics.csv` (every number of the report, tidy: table, row, category, column,
stat, value, labels), `reproduction.csv` and the Kaplan-Meier PNGs.  Same input, same bytes: no clock, no
machine-dependent paths in the output.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import pandas as pd

from cdiscflow import __version__
from cdiscflow.core.atomic import write_text
from cdiscflow.core.spreadsheet import csv_text
from cdiscflow.report.data import ReportData
from cdiscflow.report.html import Figure, Section, Table, Text, write_html_report
from cdiscflow.report.reproduce import FAIL, check, known_mismatch_table, summary
from cdiscflow.report.stats import Stats
from cdiscflow.report.tables import ReportTable, adverse_event_tables, summary_table
from cdiscflow.report.tte import time_to_event
from cdiscflow.specs.model import StudySpec
from cdiscflow.specs.report import (ReportSpec, ReproductionSpec, TableSpec, TextItem, TimeToEventSpec,
                                    load_report_spec)
from cdiscflow.specs.report.targets import expand_links

STATISTICS = "statistics.csv"


@dataclass
class ReportResult:
    """What `make_report` produced: files, every number, the report's tables and the reproduction check."""

    written: list[Path] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)
    tables: dict[str, ReportTable] = field(default_factory=dict)
    checks: pd.DataFrame = field(default_factory=lambda: pd.DataFrame())
    seconds: float = 0.0

    @property
    def index(self) -> Path | None:
        return self.written[0] if self.written else None

    def counts(self) -> dict[str, int]:
        """Reproduction checks: total, PASS, FAIL, documented (known mismatches) and unexpected failures."""
        if self.checks.empty:
            return {"checks": 0, "PASS": 0, "FAIL": 0, "documented": 0, "unexpected": 0}
        failed = self.checks["result"] == FAIL
        documented = failed & self.checks["note"].str.startswith("documented mismatch")
        return {"checks": len(self.checks), "PASS": int((~failed).sum()), "FAIL": int(failed.sum()),
                "documented": int(documented.sum()), "unexpected": int((failed & ~documented).sum())}


def build_report(spec: StudySpec, adam: Mapping[str, pd.DataFrame], out_dir: str | Path) -> list[Path]:
    """Write the study's analysis report from its ADaM datasets into `out_dir`; return the files written."""
    return make_report(spec, adam, out_dir).written


def make_report(spec: StudySpec, adam: Mapping[str, pd.DataFrame], out_dir: str | Path) -> ReportResult:
    """Compute and write the report (see the module docstring); raises SpecError / InputError on unusable input."""
    t0 = time.perf_counter()
    out = Path(out_dir)
    report = load_report_spec(spec)
    result = ReportResult()
    if report is None:
        result.written = _inventory_only(spec, adam, out)
        result.seconds = time.perf_counter() - t0
        return result
    targets = expand_links(report)  # a fact link that does not fit stops here, before anything is computed
    data = ReportData(adam, report.populations)
    stats = result.stats
    figures: list[Path] = []
    rendered: list[tuple[str, list]] = []
    pending: list[tuple[list, int, ReproductionSpec]] = []
    for section in report.sections:
        items: list = []
        for item in section.items:
            if isinstance(item, TextItem):
                items.append(Text(item.text))
            elif isinstance(item, TableSpec):
                made = (summary_table(item, data, stats) if item.kind == "summary"
                        else adverse_event_tables(item, data, stats))
                for table in made if isinstance(made, list) else [made]:
                    result.tables[table.name] = table
                    items.append(_html_table(table))
            elif isinstance(item, TimeToEventSpec):
                published = {(t.select.get("row", ""), t.select.get("category", "")): (t.paper, t.extra.get("ci"))
                             for t in targets if t.table == item.name and t.stat == "median"}
                tte = time_to_event(item, data, stats, out, published=published,
                                    population_label=report.populations[item.population].label)
                figures += tte.written
                items += [Text(t) for t in tte.texts]
                for table in tte.tables:
                    result.tables[table.name] = table
                    items.append(_html_table(table))
                items += [Figure(f.src, caption=f.caption) for f in tte.figures]
                for table in tte.risk_tables:  # numbers at risk: after the figures
                    result.tables[table.name] = table
                    items.append(_html_table(table))
            elif isinstance(item, ReproductionSpec):
                pending.append((items, len(items), item))
        rendered.append((section.title, items))

    result.checks = check(targets, stats, report.known_mismatches)
    for items, position, item in reversed(pending):
        items[position:position] = _reproduction_items(item, result, report)
    sections = [Section("About this report", _about(spec, report, data, result, adam))]
    sections += [Section(title, items) for title, items in rendered]

    out.mkdir(parents=True, exist_ok=True)
    stats_path = out / STATISTICS
    write_text(stats_path, csv_text(stats.frame(), float_format="%.10g"))
    pages = write_html_report(out, report.title, sections, synthetic=bool(spec.study.get("synthetic", False)),
                              subtitle=_subtitle(spec))
    result.written = [*pages, stats_path, *figures]
    result.seconds = time.perf_counter() - t0
    return result


# ----------------------------------------------------------------------------------------------------------------
# pieces of the page


def _html_table(table: ReportTable) -> Table:
    return Table(table.name, table.display, caption=table.caption, notes=table.notes, headings=table.headings)


def _subtitle(spec: StudySpec) -> str:
    return (f"Study {spec.studyid} (spec {Path(spec.path).name}), data cut {spec.datacut.isoformat()}, "
            f"cdiscflow {__version__}")


def _about(spec: StudySpec, report: ReportSpec, data: ReportData, result: ReportResult,
           adam: Mapping[str, pd.DataFrame]) -> list:
    synthetic = bool(spec.study.get("synthetic", False))
    items: list = [Text(
        f"Every number below is computed by cdiscflow {__version__} from the ADaM datasets alone "
        f"({', '.join(f'{n} {len(f)} records' for n, f in sorted(adam.items()))}), as the study's report "
        f"specification ({Path(report.path).name} in the spec folder {Path(spec.path).name}) declares. "
        f"Data cut: {spec.datacut.isoformat()}."
        + (" The data are SYNTHETIC: simulated records calibrated to the published aggregates of the paper, not "
           "patient data; the report tests the pipeline and is not a clinical result." if synthetic else ""))]
    counts = result.counts()
    if counts["checks"]:
        items.append(Text(
            f"Reproduction of the published results: {counts['checks']} comparisons, {counts['PASS']} PASS, "
            f"{counts['FAIL']} FAIL ({counts['documented']} documented known mismatches, {counts['unexpected']} "
            f"unexpected). See the last section."))
    pops = pd.DataFrame([[p.id, p.label, f"{p.dataset}: {p.where}", data.size(p.id)]
                         for p in report.populations.values()],
                        columns=["population", "label", "definition", "n"])
    items.append(Table("populations", pops, caption="Populations"))
    items.append(Text(f"Every number of the report, with its table, row, column and statistic: {STATISTICS}."))
    return items


def _reproduction_items(item: ReproductionSpec, result: ReportResult, report: ReportSpec) -> list:
    checks = result.checks
    items: list = []
    if checks.empty:
        return [Text("No published figures are linked (report.yaml names no facts).")]
    counts = result.counts()
    items.append(Text(
        f"{counts['checks']} published figures compared with the number this report computes from ADaM: "
        f"{counts['PASS']} PASS, {counts['FAIL']} FAIL, of which {counts['documented']} are documented known "
        f"mismatches and {counts['unexpected']} unexpected. Counts must match exactly, percentages and continuous "
        f"values at the printed precision; Kaplan-Meier medians, log-rank p-values and the follow-up must fall "
        f"within the tolerance of facts.yaml."))
    marks = {"PASS": "pass", "FAIL": "fail"}
    items.append(Table(f"{item.name}_summary", summary(checks), caption="Reproduction check by area", marks=marks))
    failed = checks[checks["result"] == FAIL].reset_index(drop=True)
    if not failed.empty:
        items.append(Table(f"{item.name}_fail", failed, caption="Every comparison that fails", marks=marks))
    known = known_mismatch_table(checks, report.known_mismatches, item.known_notes)
    if not known.empty:
        items.append(Table(f"{item.name}_known", known, caption="Known, documented mismatches (facts.yaml)"))
    if item.not_covered:
        frame = pd.DataFrame([[n.item, n.reason] for n in item.not_covered], columns=["not covered", "why"])
        items.append(Table(f"{item.name}_not_covered", frame, caption="What this report does not cover"))
    items.append(Table(item.name, checks, caption="Every comparison: paper vs cdiscflow", marks=marks))
    return items


def _inventory_only(spec: StudySpec, adam: Mapping[str, pd.DataFrame], out: Path) -> list[Path]:
    """A study without report.yaml: a page that says so and lists the ADaM datasets it was given."""
    inventory = pd.DataFrame([[name, len(frame), int(frame["USUBJID"].nunique()) if "USUBJID" in frame else 0]
                              for name, frame in sorted(adam.items())], columns=["dataset", "records", "subjects"])
    sections = [Section("About this report", [
        Text(f"The study spec {Path(spec.path).name} has no report.yaml, so there is no analysis to show: only the "
             f"ADaM datasets it was given. Write specs/<study>/report.yaml to declare tables and figures."),
        Table("datasets", inventory, caption="ADaM datasets")])]
    return write_html_report(out, f"{spec.studyid}: ADaM datasets", sections,
                             synthetic=bool(spec.study.get("synthetic", False)), subtitle=_subtitle(spec))
