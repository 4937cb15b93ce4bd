"""What the report reads of ADaM, so that a caller can hand it only that (`cdiscflow run` sends it to a forked
worker: at 100,000 subjects ADBASE alone is 9.7 million records of ~40 variables, of which the report reads 5).

    report_inputs(spec) -> {dataset: variables} | None     the datasets and variables the study's report reads
    report_frames(adam, inputs) -> {dataset: frame}        ADaM cut down to them (same records, same index)
"""

from __future__ import annotations

from typing import Mapping

import pandas as pd

from cdiscflow.specs.model import StudySpec
from cdiscflow.specs.report import load_report_spec
from cdiscflow.specs.report.model import SUBJECT


def report_inputs(spec: StudySpec) -> dict[str, tuple[str, ...]] | None:
    """The ADaM datasets the study's report.yaml reads and, for each, the variables it reads (the subject key
    included): every variable its loader checks the conditions, rows, grades, groups and endpoints against.  None
    when the study has no report.yaml (the inventory page reads each dataset's records and subjects)."""
    report = load_report_spec(spec)
    return None if report is None else dict(report.reads)


def report_frames(adam: Mapping[str, pd.DataFrame], inputs: Mapping[str, tuple[str, ...]] | None
                  ) -> dict[str, pd.DataFrame]:
    """The ADaM datasets as the report needs them (`build_report` gives the same files with these as with `adam`):
    each dataset it reads with only the variables it reads (in the dataset's order, same records and index), every
    other one as its record count only (no variables: "About this report" lists every dataset's records).  With
    `inputs` None (no report.yaml) every dataset keeps its subject key, which the inventory page counts."""
    out = {}
    for name, frame in adam.items():  # a loop over datasets
        wanted = inputs.get(str(name).upper()) if inputs is not None else (SUBJECT,)
        if wanted is None:
            out[name] = pd.DataFrame(index=pd.RangeIndex(len(frame)))
        else:
            out[name] = frame[[c for c in frame.columns if c in set(wanted)]]
    return out


__all__ = ["report_frames", "report_inputs"]
