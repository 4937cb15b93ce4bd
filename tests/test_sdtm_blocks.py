"""Blocks to records.  A rule with `when` runs on the block's records and writes (and reports problems for) only
those its condition selects: the embedded RS block of WHO performance status maps WHOPS through codelist WHOPS where
it is not "Unknown" and records NOT DONE where it is.  The blocks' records are stacked with every variable of the
dataset."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdiscflow.sdtm.mapping.engine import check_sdtm_spec, map_block
from cdiscflow.sdtm.mapping.state import StudyState
from cdiscflow.sdtm.raw.forms import read_export
from cdiscflow.specs.load import load_study


def test_when_rules_write_and_report_only_the_records_they_select():
    spec = load_study("dara_atra")
    export = read_export(spec, spec.raw_dir)
    baseline = export.forms["baseline"]
    rows = baseline.data.index[:4]
    baseline.data.loc[rows, "WHOPS"] = ["Unknown", "9", "1", "unknown"]  # "9" is no WHO performance status
    state = StudyState(spec, check_sdtm_spec(spec), dict(export.forms), export.findings)
    mapping = spec.mappings["RS"]
    block = next(b for b in mapping.blocks if b.form == "baseline" and "WHOPS" in str(b.where))
    out, _, problems = map_block(state, mapping, block)
    first = out.loc[rows]
    assert first["RSSTRESC"].tolist()[2] == "1" and first["RSSTRESC"].isna().tolist() == [True, True, False, True]
    assert first["RSSTAT"].tolist()[0] == "NOT DONE" and first["RSSTAT"].tolist()[3] == "NOT DONE"
    assert first["RSSTAT"].isna().tolist()[1:3] == [True, True]
    # the bad value is a problem of the rules that select its record (not of RSSTAT's), "Unknown" of none
    assert sorted(problems["variable"]) == ["RSSTRESC", "RSSTRESN"]
    assert set(problems.index) == {rows[1]} and set(problems["rule_id"]) == {"MAP-CT"}
    assert (problems["value"] == "9").all()


def test_blocks_stacked_with_every_variable_in_spec_order_and_type():
    from cdiscflow.sdtm.mapping.columns import stack

    ds = load_study("dara_atra").dataset("AE")
    two_chunks = pd.concat([pd.Series(["a", None], dtype="str"), pd.Series(["b"], dtype="str")], ignore_index=True)
    first = pd.DataFrame({"AETERM": two_chunks, "AESEQ": [1.0, np.nan, 3.0]})
    second = pd.DataFrame({"AEDECOD": pd.Series(["X", "Y"], dtype="str"), "AETERM": pd.Series([None, "c"],
                                                                                               dtype="str")})
    empty = pd.DataFrame({"AETERM": pd.Series([], dtype="str")})
    out = stack(ds, [first, empty, second])
    assert list(out.columns) == list(ds.names) and out.index.equals(pd.RangeIndex(5))
    assert all(out[v.name].dtype == ("float64" if v.is_numeric else "str") for v in ds.variables)
    assert [None if pd.isna(v) else v for v in out["AETERM"]] == ["a", None, "b", None, "c"]
    assert [None if pd.isna(v) else v for v in out["AEDECOD"]] == [None, None, None, "X", "Y"]
    assert [None if pd.isna(v) else v for v in out["AESEQ"]] == [1.0, None, 3.0, None, None]
    assert out["AESTDTC"].isna().all()  # mapped by no block
    one = stack(ds, [first])
    assert one["AETERM"].tolist()[::2] == ["a", "b"] and one["AEDECOD"].isna().all() and len(one) == 3
