"""Problems found on mapped records traced back to the raw rows they came from: the error findings and the rows
for the reject log (the engine, the value checks and the reject accounting all report through these)."""

from __future__ import annotations

import pandas as pd

from cdiscflow.sdtm.mapping.state import StudyState
from cdiscflow.sdtm.raw.forms import RawForm, form_usubjid


def report_raw_rows(state: StudyState, dataset: str, raw: RawForm, problems: pd.DataFrame) -> pd.DataFrame:
    """Record-level problems on raw rows -> error findings + rows for the reject log."""
    rows = problems.index.to_numpy()
    subject = form_usubjid(state.spec, raw).reindex(problems.index).fillna("").astype(str).to_numpy()
    state.findings.extend(pd.DataFrame({
        "severity": "error", "rule_id": problems["rule_id"].to_numpy(), "dataset": dataset,
        "variable": problems["variable"].to_numpy(), "subject": subject, "row": rows,
        "value": problems["value"].to_numpy(), "expected": problems["expected"].to_numpy(),
        "message": problems["message"].to_numpy(), "source": raw.file}))
    return pd.DataFrame({"form": raw.name, "row": rows, "rule_id": problems["rule_id"].to_numpy(),
                         "message": (dataset + "." + problems["variable"] + ": " + problems["message"]).to_numpy()})


def trace_to_raw_rows(state: StudyState, dataset: str, problems: pd.DataFrame, variable: str) -> pd.DataFrame:
    """Problems found on SDTM records -> the raw rows they came from."""
    prov = state.provenance[dataset].loc[problems.index]
    frames = []
    for form, rows in prov.groupby("source"):  # over source forms
        raw = state.raw.get(form)
        if raw is None:
            continue
        p = problems.loc[rows.index].set_index(rows["row"].astype(int).to_numpy())
        frames.append(report_raw_rows(state, dataset, raw, p.assign(variable=variable)))
    return pd.concat(frames, ignore_index=True) if frames else empty_errors()



def empty_errors() -> pd.DataFrame:
    return pd.DataFrame({"form": pd.Series(dtype=str), "row": pd.Series(dtype="Int64"),
                         "rule_id": pd.Series(dtype=str), "message": pd.Series(dtype=str)})
