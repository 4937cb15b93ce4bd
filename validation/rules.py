"""The conformance rule catalogue: checks across records and datasets that a per-dataset schema cannot express.

Every rule is data (ID, severity, message, the datasets it needs, references to the published CDISC rules it
follows) plus one small function, registered with `@rule` (validation/rulebook.py) in its family's module
(rules_sdtm.py, rules_adam.py, rules_define.py); `RULES` here is the read-only catalogue, in the order of those
families.
A rule function receives a `RuleContext` and the names of the datasets it applies to, and yields findings frames
built with `ctx.hits(dataset, mask, ...)` from boolean masks over whole columns.  A rule whose datasets are absent
is skipped (and listed as skipped), never an error.  References name CDISC CORE rule IDs (and the SDTMIG
conformance rule / FDA business rule IDs they implement) from the published CORE rule set; cdiscflow's code is
its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Iterable, Mapping

import pandas as pd

from cdiscflow.core.findings import COLUMNS
from cdiscflow.validation import rules_adam, rules_define, rules_sdtm
from cdiscflow.validation.rulebook import _REGISTRY, Rule, RuleContext, SOURCE

FAMILIES = (rules_sdtm, rules_adam, rules_define)  # the catalogue's order: SDTM, ADaM, define.xml
_FAMILY_ORDER = {family.__name__: i for i, family in enumerate(FAMILIES)}
# by family, then in the order each family registers its rules (sorted is stable), whatever the import order
RULES: Mapping[str, Rule] = MappingProxyType(dict(sorted(_REGISTRY.items(),
                                                         key=lambda item: _FAMILY_ORDER[item[1].check.__module__])))


# ----------------------------------------------------------------------------------------------------------------
# running the catalogue


@dataclass
class RuleRun:
    """What happened to each rule: findings counted, or why it was skipped."""

    rule: Rule
    status: str  # ran | skipped | failed
    reason: str = ""
    findings: int = 0


def run_rules(ctx: RuleContext, rules: Iterable[Rule] | None = None) -> tuple[pd.DataFrame, list[RuleRun]]:
    """Run catalogue rules; a rule that raises is reported as a CF-ERR-001 finding and the others still run."""
    frames, runs = [], []
    for r in (rules if rules is not None else RULES.values()):
        try:
            found, skipped = r.run(ctx)
        except Exception as exc:  # reported, not swallowed: the finding names the rule and the error
            frames.append(failure_finding(r, exc))
            runs.append(RuleRun(r, "failed", f"{type(exc).__name__}: {exc}"))
            continue
        if skipped:
            runs.append(RuleRun(r, "skipped", skipped))
            continue
        frames.append(found)
        runs.append(RuleRun(r, "ran", findings=len(found)))
    frames = [f for f in frames if len(f)]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(COLUMNS))
    return out, runs


def failure_finding(r: Rule, exc: Exception) -> pd.DataFrame:
    """CF-ERR-001: rule `r` raised `exc` (its other findings are lost; the other rules still run)."""
    return pd.DataFrame([{
        "severity": "error", "rule_id": "CF-ERR-001", "dataset": "", "variable": "", "subject": "",
        "row": None, "value": r.id, "expected": "",
        "message": f"rule {r.id} could not run: {type(exc).__name__}: {exc}", "source": SOURCE}])


def catalogue() -> pd.DataFrame:
    """The rule catalogue as a table (ID, severity, standard, reads, message, references)."""
    return pd.DataFrame([{"rule_id": r.id, "severity": r.severity, "standard": r.standard, "reads": r.reads,
                          "message": r.message, "references": r.references} for r in RULES.values()])
