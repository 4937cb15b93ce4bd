"""Validating a set of datasets in memory: schemas, conformance rules, findings, Data Docs.

    findings = validate_datasets({"DM": dm, "AE": ae}, spec)           # in the pipeline, before writing

A folder is read and validated by `usecases.validate_folder` (`cdiscflow validate`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import pandas as pd

from cdiscflow.core.atomic import write_text
from cdiscflow.core.errors import exit_code_for
from cdiscflow.core.findings import Findings
from cdiscflow.core.spreadsheet import csv_text
from cdiscflow.core.workbook import write_findings_workbook
from cdiscflow.specs.model import StudySpec
from cdiscflow.validation.define import Define, read_define
from cdiscflow.validation.plans import dataset_plans
from cdiscflow.validation.metadata import DatasetPlan
from cdiscflow.validation.rulebook import RuleContext
from cdiscflow.validation.rules import RuleRun, run_rules
from cdiscflow.validation.schema import SCHEMA_CHECKS, build_schema, validate_frame


@dataclass
class ValidationResult:
    findings: Findings
    plans: dict[str, DatasetPlan]
    rule_runs: list[RuleRun]
    rows: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase


def run_validation(datasets: Mapping[str, pd.DataFrame], spec: StudySpec | None = None, *,
                   define: Define | str | Path | None = None) -> ValidationResult:
    """Schemas and conformance rules over a set of datasets; everything `validate_datasets` does, plus what ran."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if define is not None and not isinstance(define, Define):
        define = read_define(define)
    datasets = {k.upper(): v for k, v in datasets.items()}
    plans, findings = dataset_plans(datasets, spec, define)
    for name, frame in datasets.items():
        t = time.perf_counter()
        findings.extend(validate_frame(frame, build_schema(plans[name]), name))
        timings[f"schema {name}"] = time.perf_counter() - t
    t = time.perf_counter()
    ctx = RuleContext(datasets, {n: p.standard for n, p in plans.items()}, spec, define)
    found, runs = run_rules(ctx)
    findings.extend(found)
    timings["rules"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    return ValidationResult(findings, plans, runs, {n: len(f) for n, f in datasets.items()}, timings)


def validate_datasets(datasets: Mapping[str, pd.DataFrame], spec: StudySpec | None = None, *,
                      define: Define | str | Path | None = None) -> Findings:
    """Validate SDTM/ADaM datasets (a dict keyed by dataset name) against the study spec, or against SDTMIG 3.4 /
    ADaMIG 1.3 and CDISC CT when `spec` is None; `define` (a path or a parsed define.xml) adds the define checks."""
    return run_validation(datasets, spec, define=define).findings


# ----------------------------------------------------------------------------------------------------------------
# folders (the `cdiscflow validate` command)


@dataclass
class FolderReport:
    directory: Path
    out_dir: Path
    result: ValidationResult
    fail_on: str
    written: list[Path]
    defines: list[Path]
    study: str = ""

    @property
    def failing(self) -> int:
        return self.result.findings.count_at_or_above(self.fail_on)

    @property
    def exit_code(self) -> int:
        return exit_code_for(self.result.findings, self.fail_on)


def default_out_dir(directory: str | Path) -> Path:
    """Where `validate DIR` writes without --out: beside the folder it checks, `<DIR>-validation` (out/sdtm ->
    out/sdtm-validation), never in the current folder (from the repository root that was the package's own
    validation/ folder)."""
    folder = Path(directory).absolute()
    return folder.parent / f"{folder.name or 'datasets'}-validation"


def write_outputs(result: ValidationResult, datasets: Mapping[str, pd.DataFrame] | None, spec: StudySpec | None,
                  out_dir: str | Path, *, data_docs: bool = True, max_rows: int | None = None,
                  data_docs_engine: str = "cdiscflow") -> list[Path]:
    """Write a validation run into `out_dir`: findings.csv, findings.json, rules.csv and datadocs/ (the layout of
    `out/validation/` in a pipeline run).  Returns the paths written.  `data_docs_engine`: see `write_data_docs`.
    The datasets are read by the Data Docs only: a partitioned run (validation/partitioned.py) passes None with
    data_docs=False and renders the Data Docs itself."""
    if data_docs and datasets is None:
        raise ValueError("write_outputs: the Data Docs need the datasets (pass data_docs=False without them)")
    out_dir = Path(out_dir)
    written = list(result.findings.write(out_dir))
    written.append(write_findings_workbook(result.findings, out_dir / "findings.xlsx"))
    written.append(write_rule_runs(result.rule_runs, out_dir / "rules.csv"))
    if data_docs:
        from cdiscflow.validation.datadocs import write_data_docs

        t = time.perf_counter()
        kwargs = {"max_rows": max_rows} if max_rows else {}
        written.append(write_data_docs(datasets, spec, out_dir / "datadocs", findings=result.findings,
                                       plans=result.plans, engine=data_docs_engine, **kwargs))
        result.timings["data docs"] = time.perf_counter() - t
    return written


def write_rule_runs(runs: list[RuleRun], path: Path) -> Path:
    """rules.csv: every catalogue rule with what happened to it in this run."""
    frame = pd.DataFrame([{"rule_id": r.rule.id, "severity": r.rule.severity, "status": r.status,
                           "findings": r.findings, "reason": r.reason, "reads": r.rule.reads,
                           "message": r.rule.message, "references": r.rule.references} for r in runs])
    write_text(path, csv_text(frame))
    return path


def report_text(report: FolderReport) -> str:
    """What `cdiscflow validate` prints: what was read, what ran, the findings summary and where files went."""
    res = report.result
    n_rows = sum(res.rows.values())
    basis = f"study spec {report.study}" if report.study else "SDTMIG 3.4 / ADaMIG 1.3 and CDISC CT"
    ran = sum(r.status == "ran" for r in res.rule_runs)
    skipped = [r for r in res.rule_runs if r.status == "skipped"]
    failed = [r for r in res.rule_runs if r.status == "failed"]
    lines = [
        f"Validated {len(res.rows)} datasets ({n_rows:,} records) in {report.directory} against {basis}"
        + (f"; define.xml: {', '.join(str(p) for p in report.defines)}" if report.defines else "; no define.xml"),
        f"{ran} conformance rules ran, {len(skipped)} skipped (datasets absent)"
        + (f", {len(failed)} failed to run" if failed else "")
        + f"; {res.timings.get('total', 0):.1f} s"
        + (f" + {res.timings['data docs']:.1f} s Data Docs" if "data docs" in res.timings else ""),
        res.findings.summary(limit=15),
        "Wrote " + ", ".join(str(p) for p in report.written),
    ]
    return "\n".join(lines)


def catalogue_text() -> str:
    """Every schema check and conformance rule, one line each (`cdiscflow validate --list-rules`)."""
    from cdiscflow.validation.rules import RULES

    lines = ["Schema checks (every dataset, from the study spec or SDTMIG 3.4 / ADaMIG 1.3 + CDISC CT):"]
    for c in SCHEMA_CHECKS.values():
        sev = c.severity + (f" ({c.severity_ig} against the IG)" if c.severity_ig else "")
        lines.append(f"  {c.id:<16} {sev:<28} {c.title}")
    lines.append("Conformance rules:")
    for r in RULES.values():
        lines.append(f"  {r.id:<16} {r.severity:<28} {r.message}  [reads: {r.reads}]"
                     + (f"  [{r.references}]" if r.references else ""))
    return "\n".join(lines)
