"""ADTTE: one record per subject and time-to-event parameter of the study's tte.yaml (the parameters are data,
see `cdiscflow.adam.verbs.tte.load_tte_parameters`), then the section's `adsl_vars` joined from ADSL and its `derive`
rules applied.  Sources are the ADaM datasets derived before it (ADSL, ADRS, ADAE ...).
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from cdiscflow.adam.verbs.categories import apply_variable_rules, load_variable_rules
from cdiscflow.adam.verbs.checks import SUBJECT_KEYS
from cdiscflow.adam.verbs.merge import derive_vars_merged
from cdiscflow.adam.verbs.tte import tte_parameters_from_spec
from cdiscflow.core.errors import SpecError
from cdiscflow.specs.model import NAME_RE, StudySpec


def derive_adtte(spec: StudySpec, work: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every parameter of the study's tte.yaml, in its order; sources are the ADaM datasets derived so far.  Then
    the section's `adsl_vars` are joined and its `derive` rules applied (see `load_tte_parameters`)."""
    adtte = None
    selections: dict = {}  # a source shared by parameters (e.g. death: OS, PFS) selects its records once
    for parameter in tte_parameters_from_spec(spec).values():
        adtte = parameter.derive(work["ADSL"], work, dataset=adtte, selections=selections)
    if adtte is None:
        raise SpecError("tte.yaml defines no parameters")
    adsl_vars, rules = load_tte_dataset_rules(spec.section("adam/tte"))
    if adsl_vars:
        adtte = derive_vars_merged(adtte, dataset_add=work["ADSL"], new_vars=list(adsl_vars), dataset_name="ADTTE",
                                   dataset_add_name="ADSL")
    adtte = apply_variable_rules(adtte, rules, dataset_name="ADTTE")
    order = [*SUBJECT_KEYS, "PARAMN"] if "PARAMN" in adtte.columns else [*SUBJECT_KEYS]
    return adtte.sort_values(order, kind="stable", ignore_index=True)


def load_tte_dataset_rules(section: Mapping[str, Any] | None, *, where: str = "adam/tte.yaml"
                           ) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """The `adsl_vars` (ADSL variables every record gets) and `derive` rules (categories.VariableRule, applied after
    the parameters' records are made) of a tte.yaml section; SpecError lists every problem."""
    if not isinstance(section, Mapping):
        return (), ()
    adsl_vars = section.get("adsl_vars") or ()
    if isinstance(adsl_vars, str):
        adsl_vars = (adsl_vars,)
    bad = [v for v in adsl_vars if not (isinstance(v, str) and NAME_RE.match(v))]
    if bad:
        raise SpecError(f"{where}: adsl_vars: {bad} are not variable names")
    return tuple(adsl_vars), load_variable_rules(section.get("derive"), where=f"{where}: derive")


__all__ = ["derive_adtte", "load_tte_dataset_rules"]
