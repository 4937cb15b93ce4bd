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
    """USUBJID + `columns` (ISO text for raw date fields) of the rows of a source that meet its `where` (every row
    when it has none: no mask is made or applied)."""
    where = src.get("where") or {}
    if "dataset" in src:
        frame = state.dataset(str(src["dataset"]))
        names = ["USUBJID", *[c for c in columns if c != "USUBJID"]]
        out = frame.loc[condition_mask(frame, where, None, state.spec.codelists), names] if where else frame[names]
        return out.reset_index(drop=True)
    raw = state.raw[str(src["form"])]
    out = pd.DataFrame({"USUBJID": form_usubjid(state.spec, raw),
                        **{c: raw.iso[c] if c in raw.iso else raw.data[c] for c in columns}})
    if where:
        out = out.loc[condition_mask(raw.data, where, raw.numbers, state.spec.codelists)]
    return out.reset_index(drop=True)


def source_dates(state: StudyState, src: Mapping[str, Any], *, pick: str = "first",
                 complete: bool = True) -> pd.Series:
    """Per subject the first or last date (ISO text as recorded) of a source; `date` may list several columns.

    Only values with a complete date take part when `complete` (a partial date cannot be ordered against others).
    ISO 8601 sorts as text: the distinct dates of all the columns are ranked once in text order and each subject's
    lowest or highest rank kept, by code (no text per record, no sort of the records).  Indexed by USUBJID, in
    its order.
    """
    return sources_dates(state, [src], pick=pick, complete=complete)


def sources_dates(state: StudyState, sources: list[Mapping[str, Any]], *, pick: str = "first",
                  complete: bool = True) -> pd.Series:
    """`source_dates` over several sources at once (e.g. RFPENDTC: the last contact in any of seven): the distinct
    dates and subjects of all of them coded together, one reduction (not a series per source, concatenated,
    sorted and grouped)."""
    parts = []  # per source and date column: (date code per record, dates as text, subject codes, subjects)
    for src in sources:  # over sources
        cols = list(dict.fromkeys(src["date"] if isinstance(src["date"], (list, tuple)) else [src["date"]]))
        frame = source_frame(state, src, cols)
        who = _codes_and_text(frame["USUBJID"])
        parts.extend((*_codes_and_text(frame[c]), *who) for c in cols)  # over the date columns
    if not parts:
        return pd.Series(dtype=str, name="date", index=pd.Index([], dtype=str, name="USUBJID"))
    dates = pd.Index(np.concatenate([p[1] for p in parts]), dtype=str).unique()
    if complete:
        dates = dates[dates.str.len() >= 10]
    dates = dates.sort_values()
    subjects = pd.Index(np.concatenate([p[3] for p in parts]), dtype=str).unique()
    # each record's date rank and subject code over all the sources (-1: none, or not a complete date)
    ranks = np.concatenate([np.append(dates.get_indexer(text), -1)[codes] for codes, text, _, _ in parts])
    who = np.concatenate([np.append(subjects.get_indexer(names), -1)[codes] for _, _, codes, names in parts])
    subjects = np.asarray(subjects, dtype=object)
    kept = (ranks >= 0) & (who >= 0)
    best = np.full(len(subjects), len(dates) if pick == "first" else -1)
    (np.minimum if pick == "first" else np.maximum).at(best, who[kept], ranks[kept])
    found = (best >= 0) & (best < len(dates))
    order = np.argsort(subjects[found], kind="stable")  # by subject text
    picked = best[found][order]
    return pd.Series(dates[picked].to_numpy(), index=pd.Index(subjects[found][order], dtype=str, name="USUBJID"),
                     name="date", dtype=str)


def _codes_and_text(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(code per record, -1 for missing; the distinct values as text): a compacted column's codes and categories,
    any other column factorized."""
    if is_text_category(col):
        return col.cat.codes.to_numpy(), np.asarray(col.cat.categories, dtype=object)
    codes, distinct = pd.factorize(as_text(col), use_na_sentinel=True)
    return codes, np.asarray(distinct, dtype=object)
