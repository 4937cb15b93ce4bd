"""SUPP--: the supplemental qualifiers a block computed (`supp:` QNAM -> rules), one record per non-missing value.

QLABEL and QORIG come from the value-level metadata (valuelevel.csv: SUPPxx, QVAL, where "QNAM EQ name"), so the
label lives in one place for define.xml and the dataset alike; QEVAL from the rule's `qeval` when the value is an
evaluation.  IDVAR is the parent's --SEQ (none for DM), IDVARVAL its value.
"""

from __future__ import annotations

import pandas as pd

from cdiscflow.sdtm.context import StudyState
from cdiscflow.sdtm.text import lookup


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
    long = supp.assign(_i=range(len(supp))).melt(id_vars="_i", var_name="QNAM", value_name="QVAL")
    long = long.dropna(subset=["QVAL"])
    long = long[long["QVAL"].astype(str).str.strip() != ""]
    idx = long["_i"].to_numpy()
    seq_var = f"{parent}SEQ"
    out = pd.DataFrame({
        "STUDYID": spec.studyid,
        "RDOMAIN": parent,
        "USUBJID": frame["USUBJID"].to_numpy()[idx],
        "IDVAR": seq_var if seq_var in frame else None,
        "IDVARVAL": (frame[seq_var].to_numpy()[idx] if seq_var in frame else None),
        "QNAM": long["QNAM"].to_numpy(),
        "QLABEL": lookup(long["QNAM"], pd.Series({k: v.label for k, v in meta.items()}, dtype=str)).to_numpy(),
        "QVAL": long["QVAL"].astype(str).to_numpy(),
        "QORIG": lookup(long["QNAM"], pd.Series({k: v.origin for k, v in meta.items()}, dtype=str)).to_numpy(),
        "QEVAL": lookup(long["QNAM"], pd.Series(qeval, dtype=str)).to_numpy(),
    })
    if seq_var in frame:
        out["IDVARVAL"] = pd.Series(out["IDVARVAL"]).astype("Int64").astype(str)
    provenance = prov.iloc[idx].reset_index(drop=True)
    return out, provenance
