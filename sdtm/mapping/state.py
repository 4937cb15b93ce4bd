"""The mapping run's working state, and how derivations read other datasets and raw forms.

Derivations and trial-design rules name their inputs as *sources*:

    {dataset: EX, where: {EXTRT: DARATUMUMAB}, date: EXSTDTC}     an SDTM dataset already mapped
    {form: atra, where: {DOSELVL: 45}, date: STDAT}                a raw form (accepted rows only)

`source_frame` turns a source into a frame of USUBJID + the named columns, filtered by `where`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from cdiscflow.core.findings import Findings
from cdiscflow.core.frames import as_text, is_text_category
from cdiscflow.sdtm.mapping.algorithms import condition_mask
from cdiscflow.sdtm.raw.dates import date_part
from cdiscflow.sdtm.raw.forms import RawForm, form_usubjid
from cdiscflow.specs.model import StudySpec


@dataclass
class StudyState:
    spec: StudySpec
    design: Any  # trial_design.TrialDesign
    raw: dict[str, RawForm]
    findings: Findings
    datasets: dict[str, pd.DataFrame] = field(default_factory=dict)
    provenance: dict[str, pd.DataFrame] = field(default_factory=dict)  # columns source, row; aligned on the index
    supp: dict[str, pd.DataFrame] = field(default_factory=dict)  # QNAM columns aligned on the dataset's index
    cache: dict[str, Any] = field(default_factory=dict)

    def dataset(self, name: str) -> pd.DataFrame:
        try:
            return self.datasets[name]
        except KeyError:
            raise KeyError(f"dataset {name} is needed but was not mapped") from None


def dates_of(state: StudyState, values: pd.Series) -> pd.Series:
    """`sdtm.raw.dates.date_part` of a column (complete dates as datetime64, NaT otherwise), each distinct text parsed
    once per run: the derivations read the same dates again and again (EPOCH, study days, visits, SE)."""
    memo = state.cache.setdefault("date_part", {})
    if is_text_category(values):
        codes, uniques = values.cat.codes.to_numpy(), np.asarray(values.cat.categories, dtype=object)
    else:
        codes, found = pd.factorize(values, use_na_sentinel=True)
        uniques = np.asarray(found, dtype=object)
    new = [u for u in uniques if u not in memo]  # over distinct values
    if new:
        memo.update(zip(new, date_part(pd.Series(new, dtype=object)).to_numpy()))
    table = np.array([memo[u] for u in uniques], dtype="datetime64[s]")
    out = np.full(len(codes), np.datetime64("NaT"), dtype="datetime64[s]")
    present = codes >= 0
    out[present] = table[codes[present]]
    return pd.Series(out, index=values.index)


def source_frame(state: StudyState, src: Mapping[str, Any], columns: list[str]) -> pd.DataFrame:
    """USUBJID + `columns` (ISO text for raw date fields) of the rows of a source that meet its `where`."""
    where = src.get("where") or {}
    if "dataset" in src:
        frame = state.dataset(str(src["dataset"]))
        mask = condition_mask(frame, where, None, state.spec.codelists)
        out = frame.loc[mask, ["USUBJID", *[c for c in columns if c != "USUBJID"]]]
        return out.reset_index(drop=True)
    raw = state.raw[str(src["form"])]
    mask = condition_mask(raw.data, where, raw.numbers, state.spec.codelists)
    out = pd.DataFrame({"USUBJID": form_usubjid(state.spec, raw)})
    for c in columns:
        out[c] = raw.iso[c] if c in raw.iso else raw.data[c]
    return out.loc[mask].reset_index(drop=True)


def source_dates(state: StudyState, src: Mapping[str, Any], *, pick: str = "first",
                 complete: bool = True) -> pd.Series:
    """Per subject the first or last date (ISO text as recorded) of a source; `date` may list several columns.

    Only values with a complete date take part when `complete` (a partial date cannot be ordered against others).
    """
    cols = src["date"] if isinstance(src["date"], (list, tuple)) else [src["date"]]
    frame = source_frame(state, src, list(cols))
    if len(set(cols)) == len(cols) and "USUBJID" not in cols:  # the date columns one after the other, as text
        long = pd.concat([pd.DataFrame({"USUBJID": frame["USUBJID"], "date": as_text(frame[c])}) for c in cols],
                         ignore_index=True)  # (melting compacted columns would make Python objects of them)
    else:
        long = frame.melt(id_vars="USUBJID", value_vars=list(cols), value_name="date")["USUBJID date".split()]
    long = long.dropna(subset=["date"])
    if complete:
        long = long[long["date"].str.len() >= 10]
    if long.empty:
        return pd.Series(dtype=str)
    # the earliest / latest date as text (ISO 8601 sorts as text): no sort of the records; the dates coded in their
    # text order, the codes reduced per subject (an Arrow text column's groupby min runs an Acero plan per call)
    rank, distinct = pd.factorize(as_text(long["date"]), sort=True)
    agg = pd.Series(rank, index=long.index).groupby(long["USUBJID"], sort=True)
    picked = agg.min() if pick == "first" else agg.max()
    return pd.Series(distinct.take(picked.to_numpy()), index=picked.index, name="date").astype(str)
