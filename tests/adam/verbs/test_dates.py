"""Date imputation per admiral's rules, *DTF/*TMF flags, never an impossible date; study days, durations, age."""

from __future__ import annotations

import pandas as pd
import pytest

from cdiscflow.adam import (
    derive_vars_aage, derive_vars_dt, derive_vars_dtm, derive_vars_duration, derive_vars_dy, parse_dtc,
)
from cdiscflow.core.errors import InputError


def _dates(series: pd.Series) -> list:
    return [None if pd.isna(v) else v.strftime("%Y-%m-%d") for v in series]


def _flags(series: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in series]


@pytest.fixture
def ae() -> pd.DataFrame:
    return pd.DataFrame({
        "USUBJID": ["01", "02", "03", "04", "05", "06", "07"],
        "AESTDTC": ["2020-02", "2019-02", "2020", "2019---15", "2019-07-18T15:25", "", None],
    })


def test_last_day_of_february_in_leap_and_common_years(ae):
    out = derive_vars_dt(ae, new_vars_prefix="AST", dtc="AESTDTC", highest_imputation="M", date_imputation="last")
    assert _dates(out["ASTDT"]) == ["2020-02-29", "2019-02-28", "2020-12-31", "2019-12-31", "2019-07-18", None, None]
    assert _flags(out["ASTDTF"]) == ["D", "D", "M", "M", None, None, None]


def test_first_mid_and_highest_level(ae):
    first = derive_vars_dt(ae, new_vars_prefix="AST", dtc="AESTDTC", highest_imputation="M")
    assert _dates(first["ASTDT"])[:5] == ["2020-02-01", "2019-02-01", "2020-01-01", "2019-01-01", "2019-07-18"]
    mid = derive_vars_dt(ae, new_vars_prefix="AST", dtc="AESTDTC", highest_imputation="M", date_imputation="mid")
    assert _dates(mid["ASTDT"])[:4] == ["2020-02-15", "2019-02-15", "2020-06-30", "2019-06-30"]
    # day only: a date missing its month stays missing; no imputation: only complete dates, and no flag variable
    day = derive_vars_dt(ae, new_vars_prefix="AST", dtc="AESTDTC", highest_imputation="D")
    assert _dates(day["ASTDT"])[:4] == ["2020-02-01", "2019-02-01", None, None]
    none = derive_vars_dt(ae, new_vars_prefix="AST", dtc="AESTDTC")
    assert _dates(none["ASTDT"])[:5] == [None, None, None, None, "2019-07-18"] and "ASTDTF" not in none


def test_preserve_keeps_a_collected_day(ae):
    out = derive_vars_dt(ae, new_vars_prefix="AST", dtc="AESTDTC", highest_imputation="M", date_imputation="mid",
                         preserve=True)
    assert _dates(out["ASTDT"])[3] == "2019-06-15" and out["ASTDTF"].iloc[3] == "M"


def test_month_only_date_with_a_min_date():
    ae = pd.DataFrame({
        "AESTDTC": ["2020-03", "2020-03", "2020-03", "2020"],
        # in the month: used; before the month: ignored (it would change the collected month); missing: ignored
        "TRTSDT": pd.to_datetime(["2020-03-10", "2020-02-20", None, "2020-07-04"]),
    })
    out = derive_vars_dt(ae, new_vars_prefix="AST", dtc="AESTDTC", highest_imputation="M", min_dates=["TRTSDT"])
    assert _dates(out["ASTDT"]) == ["2020-03-10", "2020-03-01", "2020-03-01", "2020-07-04"]
    assert _flags(out["ASTDTF"]) == ["D", "D", "D", "M"]


def test_max_dates_and_year_imputation():
    ds = pd.DataFrame({"DTC": ["2020-10", "", "2021"],
                       "CUTDT": pd.to_datetime(["2020-10-01", "2021-06-30", "2021-03-31"])})
    out = derive_vars_dt(ds, new_vars_prefix="X", dtc="DTC", highest_imputation="Y", date_imputation="last",
                         max_dates=["CUTDT"])
    # last day of October would be after the cut-off, so the cut-off is taken; a missing date becomes the cut-off
    assert _dates(out["XDT"]) == ["2020-10-01", "2021-06-30", "2021-03-31"]
    assert _flags(out["XDTF"]) == ["D", "Y", "M"]
    with pytest.raises(ValueError, match="needs max_dates"):
        derive_vars_dt(ds, new_vars_prefix="X", dtc="DTC", highest_imputation="Y", date_imputation="last")


def test_impossible_dates_are_refused_with_row_and_subject():
    ae = pd.DataFrame({"USUBJID": ["01", "02", "03"], "AESTDTC": ["2020-02-29", "2019-02-29", "2020-13"]})
    with pytest.raises(InputError) as exc:
        derive_vars_dt(ae, new_vars_prefix="AST", dtc="AESTDTC", dataset_name="AE")
    assert str(exc.value) == (
        "AE.AESTDTC: 2 value(s) are not valid ISO 8601 dates/times or name a date or time that does not exist: "
        "row 2 (USUBJID=02, AESTDTC=2019-02-29); row 3 (USUBJID=03, AESTDTC=2020-13)")
    # an imputation rule that would create 2020-02-30 stops too
    with pytest.raises(InputError, match="date_imputation '30' would create impossible dates for row 1"):
        derive_vars_dt(pd.DataFrame({"USUBJID": ["01"], "AESTDTC": ["2020-02"]}), new_vars_prefix="AST",
                       dtc="AESTDTC", highest_imputation="D", date_imputation="30")
    with pytest.raises(InputError, match="not valid ISO 8601"):
        derive_vars_dt(pd.DataFrame({"AESTDTC": ["12/03/2020"]}), new_vars_prefix="AST", dtc="AESTDTC")


def test_datetimes_and_time_flags():
    ex = pd.DataFrame({"DTC": ["2019-07-18T15:25:40", "2019-07-18T15:25", "2019-07-18T15", "2019-07-18", "2019-07"]})
    out = derive_vars_dtm(ex, new_vars_prefix="AST", dtc="DTC", highest_imputation="M", time_imputation="last")
    assert [str(v) for v in out["ASTDTM"]] == ["2019-07-18 15:25:40", "2019-07-18 15:25:59", "2019-07-18 15:59:59",
                                               "2019-07-18 23:59:59", "2019-07-01 23:59:59"]
    assert _flags(out["ASTTMF"]) == [None, "S", "M", "H", "H"]
    assert _flags(out["ASTDTF"]) == [None, None, None, None, "D"]
    default = derive_vars_dtm(ex, new_vars_prefix="AST", dtc="DTC")  # highest "h": the partial date stays missing
    assert str(default["ASTDTM"].iloc[3]) == "2019-07-18 00:00:00" and pd.isna(default["ASTDTM"].iloc[4])
    assert "ASTDTF" not in default


def test_study_days_and_durations():
    adae = pd.DataFrame({
        "TRTSDT": pd.to_datetime(["2020-01-10"] * 3),
        "ASTDT": pd.to_datetime(["2020-01-09", "2020-01-10", "2020-03-01"]),
        "AENDT": pd.to_datetime(["2020-01-09", "2020-01-20", None]),
    })
    out = derive_vars_dy(adae, reference_date="TRTSDT", source_vars=["ASTDT", "AENDT"])
    assert out["ASTDY"].tolist() == [-1.0, 1.0, 52.0]  # no day 0; 2020 is a leap year: Jan 22 days + Feb 29 + 1
    dur = derive_vars_duration(out, new_var="ADURN", new_var_unit="ADURU", start_date="ASTDT", end_date="AENDT")
    assert dur["ADURN"].tolist()[:2] == [1.0, 11.0] and pd.isna(dur["ADURN"].iloc[2])
    assert dur["ADURU"].tolist()[:2] == ["DAYS", "DAYS"]
    weeks = derive_vars_duration(adae, new_var="W", start_date="TRTSDT", end_date="ASTDT", out_unit="weeks",
                                 add_one=False)
    assert weeks["W"].tolist()[2] == pytest.approx(51 / 7)


def test_age_in_completed_years_around_a_leap_birthday():
    adsl = pd.DataFrame({"BRTHDT": pd.to_datetime(["2000-02-29", "2000-02-29", "1950-06-15"]),
                         "RANDDT": pd.to_datetime(["2001-02-28", "2001-03-01", "2020-06-14"])})
    out = derive_vars_aage(adsl)
    assert out["AAGE"].tolist() == [0.0, 1.0, 69.0] and out["AAGEU"].tolist() == ["YEARS"] * 3


def test_parse_dtc_of_compacted_text_is_that_of_the_text():
    """A text categorical (core.frames.compact) is parsed from its categories (blank, padded and unused ones
    included) and spread by its codes: the components of the plain text, and its errors."""
    plain = pd.Series(["2020-01-05", " 2020-02", None, "", "2020-01-05", "2021-03-04T10:20"], dtype="str")
    coded = plain.astype(pd.CategoricalDtype(pd.Index(["", " 2020-02", "2020-01-05", "2021-03-04T10:20", "1999-13"],
                                                      dtype="str")))
    pd.testing.assert_frame_equal(parse_dtc(coded), parse_dtc(plain))
    assert parse_dtc(coded)["M"].tolist()[:2] == [1.0, 2.0] and parse_dtc(coded)["h"].iloc[5] == 10.0
    with pytest.raises(InputError, match="1 value"):
        parse_dtc(pd.Series(["2020-01-05", "2020-13"], dtype="str").astype("category"))


def test_add_dates_is_derive_vars_dt_of_each_dtc_at_once():
    """SourceData's <x>DT for every <x>DTC: what derive_vars_dt without imputation adds, one after the other (a
    partial date gives no date; a variable of the date's name is kept), and its message for invalid text."""
    from cdiscflow.adam.verbs.sources import add_dates

    cm = pd.DataFrame({"USUBJID": ["1", "2", "3"], "CMSTDTC": ["2020-01-05", "2020-02", None],
                       "CMENDTC": pd.Series(["2020-03-01T10:00", "", "2021-01-01"], dtype="str").astype("category"),
                       "CMDTC": ["2020-01-01", None, None], "CMDT": ["kept", None, None]}, index=[4, 5, 6])
    expected = derive_vars_dt(derive_vars_dt(cm, new_vars_prefix="CMST", dtc="CMSTDTC"),
                              new_vars_prefix="CMEN", dtc="CMENDTC")
    pd.testing.assert_frame_equal(add_dates(cm, dataset_name="CM"), expected)
    with pytest.raises(InputError, match=r"CM\.CMSTDTC: 1 value.*USUBJID=2"):
        add_dates(cm.assign(CMSTDTC=["2020-01-05", "2020-02-30", None]), dataset_name="CM")
