"""What spans partitions and is combined in the client: findings, records joined by categorical code, accounting and
the reject log."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from cdiscflow.core.findings import COLUMNS, Findings
from cdiscflow.core.frames import as_text, is_text_category


def combine_findings(frames: list[pd.DataFrame]) -> Findings:
    """The partitions' findings as one table: a finding about a file or the spec (no subject, no row), which
    every partition makes, is kept once."""
    out = Findings()
    seen: set[tuple] = set()
    for frame in frames:  # over partitions, in order
        if frame is None or not len(frame):
            continue
        general = (frame["subject"] == "") & frame["row"].isna()
        keys = [tuple(r) for r in frame.loc[general, list(COLUMNS)].astype(str).itertuples(index=False)]
        repeat = np.zeros(len(frame), dtype=bool)
        repeat[np.flatnonzero(general.to_numpy())] = [k in seen for k in keys]
        seen.update(keys)
        out.extend(frame[~repeat])
    return out


def concat_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The records of `frames` (same columns) one after the other; a text column compacted in any of them
    (`core.frames.compact`) is compacted again over all of them, column by column, so that the combined study stays
    as small in memory as a plain run's."""
    if len(frames) == 1:
        return frames[0].reset_index(drop=True)
    columns = {}
    for name in frames[0].columns:  # over columns
        parts = [f[name] for f in frames]
        if all(is_text_category(c) for c in parts):  # codes joined, no text rebuilt: the categories as compact's
            joined = union_categoricals(parts, sort_categories=True, ignore_order=True).remove_unused_categories()
            columns[name] = pd.Series(joined, name=name)
        elif any(is_text_category(c) for c in parts):
            columns[name] = pd.concat([as_text(c) for c in parts], ignore_index=True).astype("category")
        else:
            columns[name] = pd.concat(parts, ignore_index=True)
    return pd.DataFrame(columns)


def _sum_accounting(frames: list[pd.DataFrame]) -> pd.DataFrame:
    from cdiscflow.sdtm.mapping.engine import ACCOUNTING_COLUMNS

    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=ACCOUNTING_COLUMNS)
    whole = pd.concat(frames, ignore_index=True)
    forms = list(dict.fromkeys(whole["form"]))  # the forms in the study's order
    counts = whole.groupby("form", sort=False)[["rows_in", "rows_mapped", "rows_rejected", "rows_lost"]].sum()
    datasets = whole.groupby("form", sort=False)["datasets"].agg(
        lambda s: " ".join(sorted({d for v in s for d in str(v).split()})))
    files = whole.groupby("form", sort=False)["file"].first()
    out = counts.reindex(forms).assign(file=files.reindex(forms), datasets=datasets.reindex(forms))
    return out.reset_index()[ACCOUNTING_COLUMNS].astype({c: "int64" for c in
                                                         ("rows_in", "rows_mapped", "rows_rejected", "rows_lost")})


def _all_rejects(frames: list[pd.DataFrame]) -> pd.DataFrame:
    from cdiscflow.sdtm.mapping.engine import REJECT_COLUMNS

    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=REJECT_COLUMNS)
    whole = pd.concat(frames, ignore_index=True).sort_values(["form", "row"], kind="stable")
    whole["row"] = whole["row"].astype("Int64")
    return whole[REJECT_COLUMNS].reset_index(drop=True)
