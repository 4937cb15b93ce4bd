"""ISO 8601 from raw dates: partial dates keep their known parts, impossible dates are problems, no day 0."""

from __future__ import annotations

import pandas as pd
import pytest

from cdiscflow.sdtm.raw.dates import age_in_years, combine_date_time, date_part, parse_date, parse_time, study_day


def _iso(values, fmt):
    c = parse_date(pd.Series(values, dtype=object), fmt)
    return c.iso.tolist(), c.problem.tolist()


def test_dd_mon_yyyy_with_unknown_parts():
    iso, problem = _iso(["05-JUL-2016", "UN-MAR-2017", "UN-UNK-2009", "15-UNK-2017", "05-jul-2016", None, ""],
                        "DD-MON-YYYY")
    assert iso[:5] == ["2016-07-05", "2017-03", "2009", "2017---15", "2016-07-05"]
    assert pd.isna(iso[5]) and pd.isna(iso[6])
    assert all(pd.isna(p) for p in problem)


def test_impossible_and_malformed_dates_are_problems_not_values():
    iso, problem = _iso(["30-FEB-2017", "29-FEB-2016", "32-JAN-2017", "01-XYZ-2017", "2017-02-01"], "DD-MON-YYYY")
    assert pd.isna(iso[0]) and problem[0] == "is not a calendar date"
    assert iso[1] == "2016-02-29" and pd.isna(problem[1])  # leap year
    assert problem[2] == "is not a calendar date"
    assert problem[3] == "has an unknown month"
    assert problem[4] == "does not follow the date format DD-MON-YYYY"


@pytest.mark.parametrize("fmt, raw, expected", [
    ("MM/DD/YYYY", "07/05/2016", "2016-07-05"),
    ("MM/DD/YYYY", "UN/05/2016", "2016---05"),
    ("DD-Mon-YYYY", "05-Jul-2016", "2016-07-05"),
    ("YYYY-MM-DD", "2016-07", "2016-07"),
    ("YYYY-MM-DD", "2016", "2016"),
])
def test_other_raw_formats(fmt, raw, expected):
    assert _iso([raw], fmt)[0] == [expected]


def test_us_format_catches_impossible_dates():
    iso, problem = _iso(["02/30/2016", "13/01/2016"], "MM/DD/YYYY")
    assert problem == ["is not a calendar date", "has an unknown month"]


def test_times_and_date_time_combination():
    t = parse_time(pd.Series(["09:30", "24:00", "9:05", "ab"]), "HH:MM")
    assert t.iso.tolist()[0] == "09:30" and t.iso.tolist()[2] == "09:05"
    assert t.problem.tolist()[1] == "is not a clock time"
    assert t.problem.tolist()[3] == "does not follow the time format HH:MM"
    dates = pd.Series(["2016-07-05", "2016-07", "2016-07-06"])
    times = pd.Series(["09:30", "10:00", None])
    # a time only goes with a complete date
    assert combine_date_time(dates, times).tolist() == ["2016-07-05T09:30", "2016-07", "2016-07-06"]


def test_study_day_has_no_day_zero_and_needs_complete_dates():
    ref = pd.Series(["2017-01-01T10:00"] * 5)
    days = study_day(pd.Series(["2017-01-01", "2016-12-31", "2017-01-02T08:00", "2017-01", None]), ref)
    assert days.tolist()[:3] == [1.0, -1.0, 2.0]
    assert pd.isna(days.iloc[3]) and pd.isna(days.iloc[4])


def test_age_in_completed_years():
    ages = age_in_years(pd.Series(["1948-03-15", "1948-07-02", "1948"]), pd.Series(["2016-07-01"] * 3))
    assert ages.tolist()[:2] == [68.0, 67.0]
    assert pd.isna(ages.iloc[2])


def test_date_part_takes_complete_real_dates_only():
    got = date_part(pd.Series(["2017-01-01T10:00", "2017-01", "2017-02-30", None, "2017-1-5", "2016-02-29"]))
    assert [None if pd.isna(x) else str(x.date()) for x in got] == ["2017-01-01", None, None, None, None, "2016-02-29"]


def test_study_day_matches_dates_and_references_by_row_label_not_position():
    """Day 5 and day 4 (2020-01-05 against 2020-01-01; 2020-01-06 against 2020-01-03), whatever the row order."""
    dates = pd.Series(["2020-01-05", "2020-01-06"], index=[5, 6])
    reference = pd.Series(["2020-01-03", "2020-01-01"], index=[6, 5])
    assert study_day(dates, reference).tolist() == [5.0, 4.0]
