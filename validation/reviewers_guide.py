"""The reviewer's guide section "Conformance issues" (`out/reviewers_guide.html`), as a Study Data Reviewer's Guide
has it: every rule that reports issues on the submitted datasets, per dataset, with the count and the sponsor's
explanation.

Issues come from cdiscflow's own validation of the run (the findings table) and, when given, from a CDISC CORE
report (the JSON of `../shared/tools/core/core.sh`: `rules` -> rule id -> `by_dataset` issue counts).  Explanations
are the study's, in `specs/<study>/conformance.yaml`:

    explanations:
      CORE-001078:
        text: Deaths from disease progression are not adverse events in this protocol ...
        datasets: [AE]            # the datasets the explanation covers (empty or absent: every dataset)

An issue without an explanation says so.  The page escapes every value (jinja2 autoescape) and is deterministic:
rows sorted by source, rule and dataset, no clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import jinja2
import pandas as pd

from cdiscflow.core.atomic import write_text
from cdiscflow.core.errors import InputError, SpecError
from cdiscflow.core.findings import Findings
from cdiscflow.specs.safe_yaml import YamlProblem, load_yaml

CONFORMANCE_FILE = "conformance.yaml"
NOT_EXPLAINED = "not explained"
_ENTRY_KEYS = {"text", "datasets"}


@dataclass(frozen=True)
class Explanation:
    rule: str
    text: str
    datasets: tuple[str, ...] = ()  # empty: every dataset

    def covers(self, dataset: str) -> bool:
        return not self.datasets or dataset in self.datasets


def load_explanations(spec_dir: str | Path) -> dict[str, Explanation]:
    """rule id -> Explanation from `<spec_dir>/conformance.yaml` (none when the file is absent); a malformed file
    is a SpecError naming the file and key."""
    path = Path(spec_dir) / CONFORMANCE_FILE
    if not path.is_file():
        return {}
    try:
        doc = load_yaml(path)[0] or {}  # as every spec file: size and alias limits, libyaml when installed
    except YamlProblem as exc:
        raise SpecError(f"{CONFORMANCE_FILE}{f' line {exc.line}' if exc.line else ''}: {exc}",
                        path=str(path)) from None
    if not isinstance(doc, dict) or set(doc) - {"explanations"}:
        extra = sorted(set(doc) - {"explanations"}) if isinstance(doc, dict) else []
        raise SpecError(f"{CONFORMANCE_FILE}: expected one top-level key 'explanations'"
                        + (f", found {', '.join(map(str, extra))}" if extra else ""), path=str(path))
    out: dict[str, Explanation] = {}
    for rule, entry in (doc.get("explanations") or {}).items():
        where = f"{CONFORMANCE_FILE}: explanations.{rule}"
        if not isinstance(entry, dict) or not isinstance(entry.get("text"), str) or not entry["text"].strip():
            raise SpecError(f"{where}: needs 'text' (the explanation, a string)", path=str(path))
        unknown = set(entry) - _ENTRY_KEYS
        if unknown:
            raise SpecError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))} "
                            f"(allowed: {', '.join(sorted(_ENTRY_KEYS))})", path=str(path))
        datasets = entry.get("datasets") or []
        if not isinstance(datasets, list) or not all(isinstance(d, str) for d in datasets):
            raise SpecError(f"{where}.datasets: a list of dataset names", path=str(path))
        out[str(rule)] = Explanation(str(rule), " ".join(entry["text"].split()), tuple(d.upper() for d in datasets))
    return out


def core_issues(path: str | Path) -> pd.DataFrame:
    """source, rule, dataset, severity, count for every CORE rule with issues in a CORE report JSON."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        rules = doc["rules"]
        rows = [{"source": "CDISC CORE", "rule": str(rule), "dataset": str(ds), "severity": "issue",
                 "count": int(n)}
                for rule, result in rules.items() for ds, n in (result.get("by_dataset") or {}).items() if int(n)]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{path}: not a CORE report (JSON with rules -> rule id -> by_dataset counts): {exc}") \
            from None
    return pd.DataFrame(rows, columns=["source", "rule", "dataset", "severity", "count"])


def validation_issues(findings: Findings) -> pd.DataFrame:
    """source, rule, dataset, severity, count: cdiscflow's findings counted per rule, dataset and severity."""
    f = findings.frame()
    if f.empty:
        return pd.DataFrame(columns=["source", "rule", "dataset", "severity", "count"])
    counts = f.groupby(["rule_id", "dataset", "severity"], sort=True).size().reset_index(name="count")
    return pd.DataFrame({"source": "cdiscflow", "rule": counts["rule_id"], "dataset": counts["dataset"],
                         "severity": counts["severity"], "count": counts["count"].astype(int)})


def conformance_issues(findings: Findings, explanations: Mapping[str, Explanation],
                       core_report: str | Path | None = None) -> pd.DataFrame:
    """Every issue with its explanation (or NOT_EXPLAINED), sorted by source, rule and dataset."""
    parts = [validation_issues(findings)] + ([core_issues(core_report)] if core_report is not None else [])
    table = pd.concat([p for p in parts if len(p)] or [parts[0]], ignore_index=True)

    def explain(rule: str, dataset: str) -> str:
        e = explanations.get(rule)
        return e.text if e is not None and e.covers(dataset) else NOT_EXPLAINED

    table["explanation"] = [explain(r, d) for r, d in zip(table["rule"], table["dataset"])]  # over issue groups
    return table.sort_values(["source", "rule", "dataset", "severity"], kind="stable").reset_index(drop=True)


_PAGE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ study }}: Study Data Reviewer's Guide, conformance issues</title>
<style>body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}
td,th{border:1px solid #999;padding:.3em .6em;vertical-align:top;text-align:left}td.n{text-align:right}</style>
</head><body>
<h1>{{ study }}: Study Data Reviewer's Guide</h1>
<h2 id="conformance-issues">Conformance issues</h2>
<p>Sources: {{ sources }}.  Explanations: {{ explanations_file }}.</p>
{% if rows %}<table>
<tr><th>Source</th><th>Rule</th><th>Dataset</th><th>Severity</th><th>Count</th><th>Explanation</th></tr>
{% for r in rows %}<tr><td>{{ r.source }}</td><td>{{ r.rule }}</td><td>{{ r.dataset }}</td><td>{{ r.severity }}</td>
<td class="n">{{ r.count }}</td><td>{{ r.explanation }}</td></tr>
{% endfor %}</table>
{% else %}<p>No conformance issues.</p>
{% endif %}</body></html>
""")


def render_reviewers_guide(study: str, table: pd.DataFrame, sources: list[str], explanations_file: str) -> str:
    return _PAGE.render(study=study, rows=table.to_dict("records"), sources=", ".join(sources),
                        explanations_file=explanations_file)


def write_reviewers_guide(spec, findings: Findings, out_dir: str | Path,
                          core_report: str | Path | None = None) -> Path:
    """Write `out_dir/reviewers_guide.html` for a run's validation findings (and a CORE report, if given)."""
    explanations = load_explanations(spec.path)
    table = conformance_issues(findings, explanations, core_report)
    sources = ["cdiscflow validation of this run"] + ([f"CDISC CORE report {Path(core_report).name}"]
                                                      if core_report is not None else [])
    html = render_reviewers_guide(spec.studyid, table, sources,
                                  f"specs/{Path(spec.path).name}/{CONFORMANCE_FILE}")
    path = Path(out_dir) / "reviewers_guide.html"
    write_text(path, html)
    return path
