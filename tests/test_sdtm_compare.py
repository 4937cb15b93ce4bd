"""Comparing mapped SDTM with a reference programming: pairing by keys, value equality, and the explained list."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cdiscflow.core.errors import SpecError
from cdiscflow.sdtm.compare import Expected, compare_dataset, equal_values, load_comparison, unexplained
from cdiscflow.specs.load import load_study
from cdiscflow.specs.model import SPECS_DIR


def test_values_equal_as_numbers_text_or_both_missing():
    ours = pd.Series([1.0, "A ", np.nan, "", "7", "x", 2.0], dtype=object)
    ref = pd.Series([1, "A", None, np.nan, 7.0, "X", np.nan], dtype=object)
    assert equal_values(ours, ref).tolist() == [True, True, True, True, True, False, False]


def _ae():
    ours = pd.DataFrame({"USUBJID": ["S1", "S1", "S1", "S2"], "AETERM": ["HEADACHE", "HEADACHE", "NAUSEA", "RASH"],
                         "AESEQ": [1.0, 2.0, 3.0, 1.0], "AESEV": ["MILD", "SEVERE", "MILD", "MILD"],
                         "AEOUT": ["FATAL", np.nan, np.nan, np.nan]})
    ref = pd.DataFrame({"USUBJID": ["S1", "S1", "S1", "S3"], "AETERM": ["NAUSEA", "HEADACHE", "HEADACHE", "COUGH"],
                        "AESEQ": [3, 2, 1, 1], "AESEV": ["MILD", "SEVERE", "MODERATE", "MILD"],
                        "AESPID": ["E1", "E2", "E3", "E4"]})
    return ours, ref


def test_records_pair_by_keys_with_repeats_numbered_in_order():
    ours, ref = _ae()
    c = compare_dataset("AE", ours, ref, ["USUBJID", "AETERM"], order_by=["AESEQ"])
    assert (c.rows_ours, c.rows_reference, c.paired) == (4, 4, 3)
    assert c.only_ours.values.tolist() == [["S2", "RASH"]] and c.only_reference.values.tolist() == [["S3", "COUGH"]]
    agree = c.agreement.set_index("variable")
    # the two headaches pair by AESEQ: 1 with 1 (MILD vs MODERATE), 2 with 2
    assert agree.loc["AESEV", ["n_equal", "n_different"]].tolist() == [2, 1]
    assert agree.loc["USUBJID", "n_equal"] == 3 and agree.loc["AESEQ", "pct_agreement"] == 100.0
    assert c.differences[["USUBJID", "AETERM", "variable", "ours", "reference"]].values.tolist() == [
        ["S1", "HEADACHE", "AESEV", "MILD", "MODERATE"]]
    assert c.only_in_ours == ("AEOUT",) and c.only_in_reference == ("AESPID",)


def test_unexplained_lists_every_departure_from_the_spec():
    ours, ref = _ae()
    c = compare_dataset("AE", ours, ref, ["USUBJID", "AETERM"], order_by=["AESEQ"])
    listed = Expected("AE", "ae.parquet", ("USUBJID", "AETERM"), ("AESEQ",), {"AESPID": "not collected"},
                      {"AESEV": (1, "severity re-graded"), "AESEQ": (2, "went away")},
                      ({"key": {"USUBJID": "S2", "AETERM": "RASH"}, "reason": "only we have it"},), ())
    assert unexplained({"AE": c}, {"AE": listed}) == [
        "AE.AESEQ: 0 value(s) differ, comparison.yaml lists 2",
        "AE: missing_records found [('S3', 'COUGH')], comparison.yaml lists []"]


def test_comparison_spec_is_checked(tmp_path):
    import shutil

    study = tmp_path / "pilot"
    shutil.copytree(SPECS_DIR / "pharmaverse_pilot", study)
    text = (study / "comparison.yaml").read_text(encoding="utf-8")
    text = text.replace("    keys: [USUBJID, EXSTDTC]", "    keys: [USUBJID, EXSTART]\n"
                        "    differences: {EXDOSE: {count: 0, reason: none}, EXLOT: {count: 2, reason: typo}}")
    (study / "comparison.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as exc:
        load_comparison(load_study(study))
    msg = str(exc.value)
    assert "comparison.yaml EX: key/order_by EXSTART is not a variable of EX" in msg
    assert "comparison.yaml EX EXDOSE: a difference needs count (a positive whole number) and reason" in msg
    assert "comparison.yaml EX: difference in EXLOT, which is not a variable of EX" in msg


def test_the_pilot_comparison_spec_explains_every_listed_item():
    expected = load_comparison(load_study(SPECS_DIR / "pharmaverse_pilot"))
    assert set(expected) == {"DM", "AE", "DS", "EX", "VS"}
    assert expected["DM"].differences["ARMCD"][0] == 52 and "SDTMIG 3.4" in expected["DM"].differences["ARMCD"][1]
    assert set(expected["DM"].not_mapped) == {"BRTHDTC", "ACTARMUD"}
    assert expected["VS"].extra_records[0]["key"]["VSTESTCD"] == "DIABP"
