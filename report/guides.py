"""Draft reviewer's guides of a run: the Study Data Reviewer's Guide (SDRG, SDTM) and the Analysis Data Reviewer's
Guide (ADRG, ADaM), as HTML.

    sdrg, adrg = reviewers_guides(run_dir, run_log, spec)      # what `cdiscflow package` puts beside the datasets

Everything comes from the spec, the run log (run.json) and the run's findings, never typed by hand:

* the study (study.yaml: title, protocol, sponsor, data cut, standards and dictionary versions);
* the datasets with their label, class, structure, keys and record counts (as written by the run);
* the data flow: raw forms (with the rows read) -> SDTM datasets (from the mapping files), SDTM -> ADaM datasets
  (the datasets the ADaM variables' sources and the ADaM recipes name), and in the ADRG the report's displays with
  the datasets they read (`specs.report.analyses`);
* the conformance issues left (findings.csv of the run, by severity, rule and dataset), each with its explanation
  from `specs/<study>/conformance.yaml` (`validation.reviewers_guide.load_explanations`) or marked as not
  yet explained;
* the software: cdiscflow, Python and library versions, and the command that reruns the job.

A draft: sections a sponsor writes by hand (protocol details, deviations from the SDTMIG/ADaMIG) say so.  All data
are HTML-escaped (jinja2 autoescape; the page is templates/reviewers_guide.html.j2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from cdiscflow.specs.model import StudySpec

SDTM_FORM_FREE = {"TA", "TE", "TV", "TI", "TS", "SE"}  # trial design (and SE, derived from the exposure records)


@dataclass(frozen=True)
class Issue:
    severity: str
    rule_id: str
    dataset: str
    count: int
    subjects: int
    message: str
    explanation: str


def remaining_issues(findings: pd.DataFrame, spec: StudySpec) -> list[Issue]:
    """The run's findings by severity, rule and dataset, with the study's explanation of each rule (if any)."""
    if findings.empty:
        return []
    from cdiscflow.validation.reviewers_guide import load_explanations

    notes = load_explanations(spec.path)
    frame = findings.fillna("").astype(str)
    subjects = frame["subject"].where(frame["subject"] != "")
    grouped = frame.assign(_s=subjects).groupby(["severity", "rule_id", "dataset"], sort=False)
    out = []
    for (severity, rule, dataset), group in grouped:
        note = notes.get(rule)
        text = note.text if note is not None and note.covers(dataset) else ""
        out.append(Issue(severity, rule, dataset, len(group), int(group["_s"].nunique()),
                         group["message"].iloc[0], text))
    return out


def _records(log: Mapping[str, Any]) -> dict[str, int]:
    stages = {s["stage"]: s for s in log.get("stages", [])}
    written = stages.get("export", {}).get("rows_out", {})
    made = {**stages.get("sdtm", {}).get("rows_out", {}), **stages.get("adam", {}).get("rows_out", {})}
    return {**made, **written}


def _dataset_rows(spec: StudySpec, standard: str, records: Mapping[str, int]) -> list[dict[str, Any]]:
    return [{"name": ds.name, "label": ds.label, "cls": ds.cls, "structure": ds.structure,
             "key_vars": ", ".join(ds.keys), "records": records.get(ds.name), "file": f"{ds.name.lower()}.xpt"}
            for ds in spec.standard(standard) if ds.name in records]


def sdtm_flow(spec: StudySpec, log: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Raw form -> SDTM datasets, from the mapping files (SUPP-- with its parent)."""
    rows_in = next((s.get("rows_in", {}) for s in log.get("stages", []) if s["stage"] == "sdtm"), {})
    targets: dict[str, list[str]] = {}
    for name, mapping in spec.mappings.items():
        for block in mapping.blocks:
            found = targets.setdefault(block.form, [])
            for ds in (name, *( [f"SUPP{name}"] if block.supp else [])):
                if ds not in found:
                    found.append(ds)
    out = []
    for form in spec.forms.values():
        out.append({"form": form.name, "file": form.file, "label": form.label, "rows": rows_in.get(form.name),
                    "datasets": ", ".join(targets.get(form.name, [])) or "(not mapped)"})
    return out


def adam_flow(spec: StudySpec) -> list[dict[str, Any]]:
    """ADaM dataset <- the datasets its variables' sources and its recipe (adam/*.yaml) name."""
    names = set(spec.datasets)
    out = []
    for ds in spec.standard("ADaM"):
        found = {m for v in ds.variables for m in re.findall(r"\b([A-Z][A-Z0-9]{1,7})\.", v.source)}
        for section in (f"adam/{ds.name.lower()}", "adam/tte" if ds.name == "ADTTE" else ""):
            found |= _named_datasets(spec.section(section) if section else None)
        used = sorted(t for t in found if t in names and t != ds.name)
        sdtm = [t for t in used if spec.dataset(t).standard == "SDTM"]
        adam = [t for t in used if spec.dataset(t).standard == "ADaM"]
        out.append({"name": ds.name, "label": ds.label, "sdtm": ", ".join(sdtm) or "-", "adam": ", ".join(adam) or "-"})
    return out


def _named_datasets(node: Any) -> set[str]:
    """Values of every `dataset:` key in a recipe (merges, sources, exposure ...)."""
    if isinstance(node, Mapping):
        found = {str(node["dataset"]).upper()} if isinstance(node.get("dataset"), str) else set()
        return found.union(*(_named_datasets(v) for v in node.values()))
    if isinstance(node, (list, tuple)):
        return set().union(*(_named_datasets(v) for v in node))
    return set()


def _displays(spec: StudySpec) -> list[dict[str, Any]]:
    from cdiscflow.specs.report.analyses import report_catalogue

    cat = report_catalogue(spec)
    if cat is None:
        return []
    out = []
    for output in cat.outputs.values():
        analyses = [a for a in cat.analyses.values() if a.output == output.id]
        datasets = sorted({a.subset.dataset for a in analyses} | {cat.analysis_sets[a.analysis_set].selection.dataset
                                                                 for a in analyses})
        out.append({"id": output.id, "title": output.title, "results": len(analyses), "datasets": ", ".join(datasets)})
    return out


def _context(run_dir: Path, log: Mapping[str, Any], spec: StudySpec, standard: str) -> dict[str, Any]:

    findings_path = run_dir / "findings.csv"
    findings = pd.read_csv(findings_path, dtype=str, keep_default_na=False) if findings_path.is_file() \
        else pd.DataFrame(columns=["severity", "rule_id", "dataset", "subject", "message"])
    names = {ds.name for ds in spec.standard(standard)}
    mine = findings[findings["dataset"].isin(names) | ~findings["dataset"].isin(set(spec.datasets))]  # + no dataset
    study = spec.study
    standards = dict(log.get("standards") or study.get("standards") or {})
    return {
        "standard": standard, "study": study, "studyid": spec.studyid, "log": log,
        "datacut": log.get("study", {}).get("datacut", ""), "synthetic": bool(study.get("synthetic")),
        "standards": {k: v for k, v in standards.items() if not isinstance(v, Mapping)},
        "ct": dict(standards.get("ct") or {}), "dictionaries": dict(standards.get("dictionaries") or {}),
        "datasets": _dataset_rows(spec, standard, _records(log)),
        "issues": remaining_issues(mine, spec), "command": rerun_command(log),
        "libraries": sorted((log.get("libraries") or {}).items()),
        "forms": sdtm_flow(spec, log) if standard == "SDTM" else [],
        "adam_flow": adam_flow(spec) if standard == "ADaM" else [],
        "displays": _displays(spec) if standard == "ADaM" else [],
    }


TEMPLATES = Path(__file__).resolve().parent / "templates"  # reviewers_guide.html.j2 (package data)


def render_guide(run_dir: Path, log: Mapping[str, Any], spec: StudySpec, standard: str) -> str:
    from jinja2 import Environment, FileSystemLoader

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, keep_trailing_newline=True)
    kind = "Study Data Reviewer's Guide" if standard == "SDTM" else "Analysis Data Reviewer's Guide"
    context = _context(Path(run_dir), log, spec, standard)
    return env.get_template("reviewers_guide.html.j2").render(kind=kind, title=f"{kind}: {spec.studyid}", **context)


def reviewers_guides(run_dir: str | Path, log: Mapping[str, Any], spec: StudySpec) -> tuple[str, str]:
    """(SDRG, ADRG) as HTML text."""
    return render_guide(Path(run_dir), log, spec, "SDTM"), render_guide(Path(run_dir), log, spec, "ADaM")


def rerun_command(log: dict) -> str:
    """The `cdiscflow run` command that made the run, with the packaged spec folder."""
    options = log.get("options", {})
    parts = ["cdiscflow run --raw RAW_EXPORT --study spec --out out",
             f"--on-error {options.get('on_error', 'strict')}", f"--fail-on {options.get('fail_on', 'error')}"]
    if options.get("data_docs") is False:
        parts.append("--no-data-docs")
    return " ".join(parts)
