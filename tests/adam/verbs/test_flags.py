"""Extreme, relative and treatment-emergent flags."""

from __future__ import annotations

import pandas as pd
import pytest

from cdiscflow.adam import derive_var_extreme_flag, derive_var_relative_flag, derive_var_trtemfl


@pytest.fixture
def adrs() -> pd.DataFrame:
    return pd.DataFrame({
        "USUBJID": ["01", "01", "01", "01", "02", "02"],
        "ADT": pd.to_datetime(["2020-02-01", "2020-01-01", "2020-03-01", None, "2020-01-05", "2020-01-05"]),
        "AVALC": ["PR", "SD", "PD", "CR", "SD", "PD"],
        "AVAL": [4.0, 2.0, 1.0, 6.0, 2.0, 1.0],
        "RSSEQ": [2, 1, 3, 4, 1, 2],
    })


def test_extreme_flag_first_last_and_filter(adrs):
    first = derive_var_extreme_flag(adrs, by_vars=["USUBJID"], order=["ADT", "RSSEQ"], new_var="FIRSTFL")
    assert first["FIRSTFL"].fillna("-").tolist() == ["-", "Y", "-", "-", "Y", "-"]
    # the record without a date never counts as the last; ties (02) go to the later row
    last = derive_var_extreme_flag(adrs, by_vars=["USUBJID"], order=["ADT"], new_var="LASTFL", mode="last")
    assert last["LASTFL"].fillna("-").tolist() == ["-", "-", "Y", "-", "-", "Y"]
    worst = derive_var_extreme_flag(adrs, by_vars=["USUBJID"], order=["AVAL"], new_var="WFL",
                                    filter="AVALC != 'PD'", false_value="N")
    assert worst["WFL"].tolist() == ["N", "Y", "N", "N", "Y", "N"]
    assert "FIRSTFL" not in adrs


def test_relative_flag_up_to_first_pd(adrs):
    out = derive_var_relative_flag(adrs, by_vars=["USUBJID"], order=["ADT", "RSSEQ"], new_var="ANL02FL",
                                   condition="AVALC == 'PD'", mode="first", selection="before", inclusive=True)
    # 01: SD (Jan), PR (Feb), PD (Mar) flagged; the undated CR sorts after the PD
    assert out["ANL02FL"].fillna("-").tolist() == ["Y", "Y", "Y", "-", "Y", "Y"]
    after = derive_var_relative_flag(adrs, by_vars=["USUBJID"], order=["ADT", "RSSEQ"], new_var="POSTFL",
                                     condition="AVALC == 'CR' and notna(ADT)", selection="after", inclusive=False,
                                     flag_no_ref_groups=False)
    assert after["POSTFL"].isna().all()


def test_treatment_emergent_cases():
    adae = pd.DataFrame({
        "ASTDT": pd.to_datetime(["2021-12-13", "2021-12-30", "2022-01-02", "2022-05-20", None, None, "2022-01-01",
                                 "2021-12-30"]),
        "AENDT": pd.to_datetime(["2021-12-15", "2022-01-14", "2022-01-03", "2022-05-21", "2021-12-24", None, None,
                                 "2022-01-10"]),
        "AEITOXGR": [1, 1, 3, 2, 3, 3, 1, 3],
        "AETOXGR": [3, 3, 4, 2, 4, 4, 2, 3],
        "TRTSDT": pd.to_datetime(["2022-01-01"] * 7 + [None]),
        "TRTEDT": pd.to_datetime(["2022-04-30"] * 7 + [None]),
    })
    plain = derive_var_trtemfl(adae, start_date="ASTDT", end_date="AENDT", trt_start_date="TRTSDT")
    # ended before treatment | started before | during | after (no window) | no start, ended before | no dates |
    # start on day 1 | untreated
    assert plain["TRTEMFL"].fillna("-").tolist() == ["-", "-", "Y", "Y", "-", "Y", "Y", "-"]
    full = derive_var_trtemfl(adae, start_date="ASTDT", end_date="AENDT", trt_start_date="TRTSDT",
                              trt_end_date="TRTEDT", end_window=10, initial_intensity="AEITOXGR", intensity="AETOXGR")
    # started before treatment and worsened (1 -> 3) is emergent; 20 days after the end is outside a 10-day window
    assert full["TRTEMFL"].fillna("-").tolist() == ["-", "Y", "Y", "-", "-", "Y", "Y", "-"]
