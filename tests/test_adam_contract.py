"""The contract every derivation keeps: the input is not changed, the caller's rows keep their order and index,
and imputation flags are terms of the ADaM CT codelists (DATEFL, TIMEFL)."""

from __future__ import annotations

import pandas as pd
import pytest

from cdiscflow.adam import (
    derive_var_extreme_flag, derive_var_relative_flag, derive_var_trtemfl, derive_var_worst_flag, derive_vars_aage,
    derive_vars_dt, derive_vars_dtm, derive_vars_duration, derive_vars_dy, derive_vars_merged, load_response_criteria,
)
from cdiscflow.specs.cdisc import cdisc_codelist


def _frame() -> pd.DataFrame:
    """Deliberately unsorted, with a non-default index."""
    return pd.DataFrame({
        "STUDYID": "S",
        "USUBJID": ["02", "01", "02", "01"],
        "DTC": ["2020-02", "2019-07-18T10", "", "2021"],
        "ADT": pd.to_datetime(["2020-03-01", "2020-01-05", "2020-02-01", "2020-01-01"]),
        "TRTSDT": pd.to_datetime(["2020-01-01"] * 4),
        "ASTDT": pd.to_datetime(["2020-03-01", "2019-12-05", None, "2020-01-01"]),
        "AENDT": pd.to_datetime(["2020-03-02", None, None, "2020-01-03"]),
        "AVALC": ["PR", "PD", "NE", "SD"],
        "AVAL": [4.0, 1.0, 8.0, 2.0],
    }, index=[7, 3, 9, 1])


ADD = pd.DataFrame({"STUDYID": "S", "USUBJID": ["01", "02"], "BRTHDT": pd.to_datetime(["1950-05-05", "1960-01-01"])})
IMWG = load_response_criteria("IMWG2016")
DERIVATIONS = {
    "derive_vars_merged": lambda f: derive_vars_merged(f, dataset_add=ADD, new_vars=("BRTHDT",)),
    "derive_vars_dt": lambda f: derive_vars_dt(f, new_vars_prefix="X", dtc="DTC", highest_imputation="M"),
    "derive_vars_dtm": lambda f: derive_vars_dtm(f, new_vars_prefix="A", dtc="DTC", highest_imputation="M"),
    "derive_vars_dy": lambda f: derive_vars_dy(f, reference_date="TRTSDT", source_vars=["ADT"]),
    "derive_vars_duration": lambda f: derive_vars_duration(f, new_var="ADURN", start_date="ASTDT", end_date="AENDT"),
    "derive_vars_aage": lambda f: derive_vars_aage(f.assign(BRTHDT=pd.Timestamp("1950-02-28")), end_date="TRTSDT"),
    "derive_var_extreme_flag": lambda f: derive_var_extreme_flag(f, by_vars=["USUBJID"], order=["ADT"],
                                                                 new_var="FL"),
    "derive_var_relative_flag": lambda f: derive_var_relative_flag(f, by_vars=["USUBJID"], order=["ADT"],
                                                                   new_var="FL", condition="AVALC == 'PD'"),
    "derive_var_trtemfl": lambda f: derive_var_trtemfl(f, start_date="ASTDT", end_date="AENDT",
                                                       trt_start_date="TRTSDT"),
    "derive_var_worst_flag": lambda f: derive_var_worst_flag(f, criteria=IMWG),
}


@pytest.mark.parametrize("name", sorted(DERIVATIONS))
def test_input_unchanged_rows_in_caller_order(name):
    frame = _frame()
    before = frame.copy(deep=True)
    out = DERIVATIONS[name](frame)
    pd.testing.assert_frame_equal(frame, before)
    assert out.index.tolist() == [7, 3, 9, 1]
    assert out["USUBJID"].tolist() == ["02", "01", "02", "01"]
    assert len(out.columns) > len(frame.columns)


def test_imputation_flags_are_adam_ct_terms():
    frame = pd.DataFrame({"DTC": ["2020", "2020-02", "2020-02-03T10", "2020-02-03T10:10", "2020-02-03T10:10:10"]})
    out = derive_vars_dtm(frame, new_vars_prefix="A", dtc="DTC", highest_imputation="M")
    datefl, timefl = cdisc_codelist("C81223"), cdisc_codelist("C81226")
    assert set(out["ADTF"].dropna()) == {"M", "D"} <= set(datefl["terms"])
    assert set(out["ATMF"].dropna()) == {"H", "M", "S"} <= set(timefl["terms"])
    assert (datefl["name"], timefl["name"]) == ("Date Imputation Flag", "Time Imputation Flag")
