"""SUPP--: the supplemental qualifiers a block computed (`supp:` QNAM -> rules), one record per non-missing value.

QLABEL and QORIG come from the value-level metadata (valuelevel.csv: SUPPxx, QVAL, where "QNAM EQ name"), so the
label lives in one place for define.xml and the dataset alike; QEVAL from the rule's `qeval` when the value is an
evaluation.  IDVAR is the parent's --SEQ (none for DM), IDVARVAL its value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdiscflow.sdtm.mapping.state import StudyState
from cdiscflow.core.frames import as_text
from cdiscflow.core.text import lookup


def build_supp(state: StudyState, parent: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    spec = state.spec
    frame, supp, prov = state.datasets[parent], state.supp[parent], state.provenance[parent]
    name = f"SUPP{parent}"
    meta = {w.values[0]: vl for vl in spec.valuelevel if vl.dataset == name and vl.variable == "QVAL"
            for w in vl.where if w.variable == "QNAM"}
    qeval = {}
    for b in spec.mappings[parent].blocks:
        for qnam, rules in b.supp.items():
            for r in rules:
                if r.get("qeval") and qnam not in qeval:
                    qeval[qnam] = str(r.get("qeval"))
    parts = []
    for qnam in supp.columns:  # over QNAMs: the records that have a value
        values = supp[qnam]
        has = values.notna().to_numpy()
        parts.append(pd.DataFrame({"_i": np.flatnonzero(has), "QNAM": qnam,
                                   "QVAL": as_text(values)[has].astype(str).reset_index(drop=True)}))
    long = pd.concat(parts, ignore_index=True)
    # by record, then QNAM (each QNAM once per record): numbers sorted, not text
    rank = {q: k for k, q in enumerate(sorted(str(q) for q in supp.columns))}
    qnam_rank = np.repeat([rank[str(q)] for q in supp.columns], [len(p) for p in parts])
    long = long.take(np.lexsort((qnam_rank, long["_i"].to_numpy())))
    idx = long["_i"].to_numpy()
    seq_var = f"{parent}SEQ"
    qnam = long["QNAM"].astype(str).reset_index(drop=True)
    out = pd.DataFrame({
        "STUDYID": spec.studyid,
        "RDOMAIN": parent,
        "USUBJID": frame["USUBJID"].take(idx).reset_index(drop=True),
        "IDVAR": seq_var if seq_var in frame else None,
        "IDVARVAL": (frame[seq_var].take(idx).astype("Int64").astype(str).reset_index(drop=True)
                     if seq_var in frame else None),
        "QNAM": qnam,
        "QLABEL": lookup(qnam, pd.Series({k: v.label for k, v in meta.items()}, dtype=str)),
        "QVAL": long["QVAL"].astype(str).reset_index(drop=True),
        "QORIG": lookup(qnam, pd.Series({k: v.origin for k, v in meta.items()}, dtype=str)),
        "QEVAL": lookup(qnam, pd.Series(qeval, dtype=str)),
    })
    provenance = prov.iloc[idx].reset_index(drop=True)
    return out, provenance
