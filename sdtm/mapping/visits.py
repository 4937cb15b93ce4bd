"""SV: the visits each subject actually had, from every dataset that records VISITNUM with a date.

SVSTDTC / SVENDTC are the first and last complete date recorded at the visit (--DTC, else --STDTC); SVPRESP is "Y"
for visits the trial design plans (TV), SVOCCUR "Y" for those (they occurred: there are data).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdiscflow.core.frames import as_text, text_per_distinct
from cdiscflow.sdtm.mapping.state import StudyState


def _complete_date(values: pd.Series) -> pd.Series:
    """The date part YYYY-MM-DD of complete dates; missing for partial ones."""
    day = values.astype(str).str.slice(0, 10)
    return day.where(day.str.len() == 10)


def build_sv(state: StudyState) -> pd.DataFrame:
    parts = []
    for name, frame in state.datasets.items():  # over datasets
        if "VISITNUM" not in frame or name in ("SV", "TV"):
            continue
        date = next((c for c in (f"{name}DTC", f"{name}STDTC") if c in frame), None)
        if date is None:
            continue
        # as text (datasets' categoricals differ: stacked they would be Python objects), complete dates once per
        # distinct value
        part = pd.DataFrame({"USUBJID": as_text(frame["USUBJID"]), "VISITNUM": frame["VISITNUM"],
                             "DTC": text_per_distinct(frame[date], _complete_date),
                             "VISIT": as_text(frame["VISIT"]) if "VISIT" in frame else np.nan})
        # a visit's many records (tests, ...) repeat the same values: one of each is enough for first/min/max
        parts.append(part.dropna(subset=["VISITNUM"]).drop_duplicates())
    ds = state.spec.dataset("SV")
    if not parts:
        return pd.DataFrame(columns=list(ds.names))
    visits = pd.concat(parts, ignore_index=True)
    g = visits.sort_values(["USUBJID", "VISITNUM", "DTC"], kind="stable").groupby(["USUBJID", "VISITNUM"], sort=True)
    # in date order (missing last) the first and last date are the earliest and latest (a text min/max would run an
    # Arrow Acero plan)
    out = g.agg(VISIT=("VISIT", "first"), SVSTDTC=("DTC", "first"), SVENDTC=("DTC", "last")).reset_index()
    planned = {float(v["VISITNUM"]) for v in state.design.visits} if state.design is not None else set()
    out["SVPRESP"] = out["VISITNUM"].isin(planned).map({True: "Y", False: None})
    out["SVOCCUR"] = out["SVPRESP"]
    out["STUDYID"], out["DOMAIN"] = state.spec.studyid, "SV"
    return out.reindex(columns=list(ds.names))
