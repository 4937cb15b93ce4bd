"""ISO 8601 text dates: format, calendar, partial comparison and study-day dates, checked value by value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cdiscflow.validation import iso8601 as iso
from cdiscflow.core.frames import per_unique

OK, FMT, CAL = iso.OK, iso.BAD_FORMAT, iso.BAD_CALENDAR


@pytest.mark.parametrize("value, expected", [
    ("2020-03-15", OK), ("2020-03", OK), ("2020", OK), ("2020-03-15T10:30", OK), ("2020-03-15T10:30:05.25", OK),
    ("2020---15", OK), ("--03-15", OK), ("2020-03-15T-:30", OK), ("-----T07:15", OK), ("2020-03-15T10:30Z", OK),
    ("2020-02-29", OK), ("--02-29", OK),  # leap day; an unknown year may be a leap year
    ("2021-02-29", CAL), ("2020-04-31", CAL), ("2020-13-01", CAL), ("2020-00", CAL), ("2020-01-01T24:00", CAL),
    ("2020-01-01T10:60", CAL),
    ("2020-03-", FMT), ("-", FMT), ("2020/03/15", FMT), ("15MAR2020", FMT), ("2020-3-15", FMT), ("P2D", FMT),
    ("2020-01-01/2020-02-01", FMT),  # an interval is not a single date/time
])
def test_datetime_status(value, expected):
    assert iso.status(pd.Series([value]), iso.DATETIME)[0] == expected


@pytest.mark.parametrize("kind, value, expected", [
    (iso.INTERVAL, "2020-01-01/2020-02-01", OK), (iso.INTERVAL, "2020-01-01/P2D", OK),
    (iso.INTERVAL, "2020-01-01/2020-02-30", CAL), (iso.INTERVAL, "P1D/P2D", FMT), (iso.INTERVAL, "2020-01-01", OK),
    (iso.DURATION, "P28D", OK), (iso.DURATION, "-P2M", OK), (iso.DURATION, "PT2H30M", OK), (iso.DURATION, "P2W", OK),
    (iso.DURATION, "P", FMT), (iso.DURATION, "PT", FMT), (iso.DURATION, "28 days", FMT),
    (iso.DURATION, "2020-01-01/P2D", FMT), (iso.DURATION_OR_INTERVAL, "2020-01-01/P2D", OK),
])
def test_interval_and_duration_status(kind, value, expected):
    assert iso.status(pd.Series([value]), kind)[0] == expected


def test_missing_values_pass_and_results_follow_rows():
    s = pd.Series(["2020-02-30", None, "2020-02-30", "2020-02-28"])
    assert iso.status(s).tolist() == [CAL, OK, CAL, OK]


def test_regex_matches_the_format_rules():
    import re

    rx = re.compile(iso.regex_for(iso.DATETIME))
    assert [bool(rx.match(v)) for v in ("2020---15", "2020-03-", "P2D", "2020-02-30")] == [True, False, False, True]


def test_compare_to_the_common_precision():
    a = iso.parts(pd.Series(["2020-03", "2020-03-05", "2020-04-01", "2020---05", None, "2020-03-05T10:00"]))
    b = iso.parts(pd.Series(["2020-02-28", "2020-03", "2020-03-31", "2020-01-01", "2020", "2020-03-05T09:59"]))
    assert iso.compare(a, b).tolist() == [1, 0, 1, 0, 0, 1]


def test_to_date_needs_a_complete_date():
    d = iso.to_date(pd.Series(["2020-03-05T10:00", "2020-03", "2020-02-30", None, "--03-05"]))
    assert d.iloc[0] == pd.Timestamp("2020-03-05")
    assert d.iloc[1:].isna().all()


def test_per_unique_evaluates_each_distinct_value_once():
    calls = []

    def fn(u):
        calls.append(len(u))
        return np.array([len(x) for x in u])

    out = per_unique(pd.Series(["ab", "abc", "ab", None, "ab"]), fn, -1)
    assert out.tolist() == [2, 3, 2, -1, 2] and calls == [2]
