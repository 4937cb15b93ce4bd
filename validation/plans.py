"""The plan of every dataset to validate: the study spec's metadata when it declares the dataset, else SDTMIG 3.4 /
ADaMIG 1.3 and CDISC CT (widened by what define.xml declares).  Read by the checks and by the Data Docs."""

from __future__ import annotations

from typing import Mapping

import pandas as pd

from cdiscflow.core.findings import Findings
from cdiscflow.specs.model import StudySpec
from cdiscflow.validation.define import Define
from cdiscflow.validation.metadata import STUDY, DatasetPlan, honour_define, ig_plan, plan_dataset
from cdiscflow.validation.schema import SCHEMA_CHECKS


def dataset_plans(datasets: Mapping[str, pd.DataFrame], spec: StudySpec | None = None, define: Define | None = None
                  ) -> tuple[dict[str, DatasetPlan], Findings]:
    """The plan of every dataset: from the study spec when it declares the dataset, else from the guides (widened
    by the terms `define` declares beyond an extensible CT codelist, see metadata.honour_define)."""
    plans: dict[str, DatasetPlan] = {}
    notes = Findings()
    for name, frame in datasets.items():
        name = name.upper()
        if spec is not None and name in spec.datasets:
            plans[name] = plan_dataset(spec.dataset(name), spec.codelists, source=STUDY,
                                       basis=f"study spec {spec.studyid}")
            continue
        plans[name] = honour_define(ig_plan(name, frame), define)
        if spec is not None:
            notes.add(severity=SCHEMA_CHECKS["SCH-DATASET-001"].severity, rule_id="SCH-DATASET-001", dataset=name,
                      value=name, expected=f"a dataset of study {spec.studyid}",
                      message=f"{name} is not declared in the study spec of {spec.studyid}; it was checked against "
                              f"{plans[name].basis}", source="schema")
    return plans, notes
