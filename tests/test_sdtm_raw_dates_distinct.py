"""Raw dates and times converted once per distinct value (issue 18): every row gets what reading it alone gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cdiscflow.sdtm.raw.dates import (
    DATE_FORMATS,
    parse_date,
    parse_date_rows,
    parse_time,
    parse_time_rows,
    per_distinct,
)

NA = float("nan")


def _same(a, b) -> None:
    pd.testing.assert_series_equal(a.iso, b.iso)
    pd.testing.assert_series_equal(a.problem, b.problem)


def _listed(s: pd.Series) -> list:
    return [NA if pd.isna(v) else v for v in s]


def _eq(got: list, expected: list) -> bool:
    return len(got) == len(expected) and all(
        (pd.isna(g) and pd.isna(e)) if (isinstance(e, float) and np.isnan(e)) else g == e
        for g, e in zip(got, expected))


def test_repeated_partial_invalid_and_missing_values_on_a_shuffled_index():
    raw = ["05-JUL-2016", "UN-MAR-2017", "30-FEB-2016", None, "05-jul-2016", "UN-UNK-2009", "  ", "05-XYZ-2016",
           "15-UNK-2017", "2016/07/05", "05-JUL-2016", "30-FEB-2016", np.nan, "UN-MAR-2017"]
    values = pd.Series(raw, index=[40, 3, 7, 11, 2, 9, 100, 5, 6, 8, 1, 0, 12, 13], dtype=object)
    c = parse_date(values, "DD-MON-YYYY")
    assert _eq(_listed(c.iso), ["2016-07-05", "2017-03", NA, NA, "2016-07-05", "2009", NA, NA, "2017---15", NA,
                                "2016-07-05", NA, NA, "2017-03"])
    assert _eq(_listed(c.problem), [NA, NA, "is not a calendar date", NA, NA, NA, NA, "has an unknown month", NA,
                                    "does not follow the date format DD-MON-YYYY", NA, "is not a calendar date", NA,
                                    NA])
    assert list(c.iso.index) == list(values.index) and list(c.problem.index) == list(values.index)
    assert c.iso.dtype == "str" and c.problem.dtype == "str"
    assert c.invalid.tolist() == [False, False, True, False, False, False, False, True, False, True, False, True,
                                  False, False]
    _same(c, parse_date_rows(values, "DD-MON-YYYY"))


def test_alternatives_take_the_first_format_a_value_follows():
    values = pd.Series(["07/05/2016", "2009", "13/05/2016", "1999-01", None, "2009", "02/29/2016", "02/29/2017",
                        "07/05/2016"], dtype="str")
    c = parse_date(values, "MM/DD/YYYY|YYYY")
    assert _eq(_listed(c.iso), ["2016-07-05", "2009", NA, NA, NA, "2009", "2016-02-29", NA, "2016-07-05"])
    assert _eq(_listed(c.problem), [NA, NA, "has an unknown month",
                                    "does not follow any of the date formats MM/DD/YYYY, YYYY", NA, NA, NA,
                                    "is not a calendar date", NA])
    assert c.iso.dtype == "str" and c.problem.dtype == "str"
    _same(c, parse_date_rows(values, "MM/DD/YYYY|YYYY"))


def test_times_repeated_invalid_and_missing():
    values = pd.Series(["09:30", "24:00", "9:05", "ab", None, "09:30", "9:05"], index=list("abcdefg"))
    c = parse_time(values, "HH:MM")
    assert _eq(_listed(c.iso), ["09:30", NA, "09:05", NA, NA, "09:30", "09:05"])
    assert _eq(_listed(c.problem), [NA, "is not a clock time", NA, "does not follow the time format HH:MM", NA, NA,
                                    NA])
    assert list(c.iso.index) == list("abcdefg")
    _same(c, parse_time_rows(values, "HH:MM"))


def test_each_distinct_value_is_converted_once_missing_counting_as_one():
    seen: list[list] = []

    def spy(distinct: pd.Series):
        seen.append(list(distinct))
        return parse_date_rows(distinct, "YYYY")

    values = pd.Series(["2016", "2017", None, "2016", np.nan, "2017", "2016"], dtype=object)
    c = per_distinct(values, spy)
    assert len(seen) == 1 and len(seen[0]) == 3  # "2016", "2017" and missing
    assert _eq(_listed(c.iso), ["2016", "2017", NA, "2016", NA, "2017", "2016"])


def test_empty_and_all_missing_columns():
    for values in (pd.Series([], dtype=object), pd.Series([None, np.nan, None], dtype=object)):
        c = parse_date(values, "DD-MON-YYYY")
        assert len(c.iso) == len(values) and c.iso.isna().all() and c.problem.isna().all()
        _same(c, parse_date_rows(values, "DD-MON-YYYY"))


def test_unknown_format_is_still_an_error():
    with pytest.raises(ValueError, match="unknown date format 'DD/MM/YY'"):
        parse_date(pd.Series(["01/02/03"]), "DD/MM/YY")
    with pytest.raises(ValueError, match="unknown time format 'HHMM'"):
        parse_time(pd.Series(["0930"]), "HHMM")


_POOL = [
    "05-JUL-2016", "5-jul-2016", "UN-MAR-2017", "UN-UNK-2009", "15-UNK-2017", "XX-XXX-2010", "30-FEB-2016",
    "29-FEB-2016", "29-FEB-2017", "00-JAN-2017", "32-JAN-2017", "05-XYZ-2016", "05JUL2016", "UNUNK2009",
    "07/05/2016", "7/5/2016", "UN/05/2016", "UNK/UN/2016", "02/30/2016", "13/01/2016", "07-05-2016", "2016-07-05",
    "2016-07", "2016", "2016-13-01", "2016-02-30", "16-07-05", " 2016 ", "", "  ", "abc", None, np.nan,
]


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [object, "str", "category"])
def test_distinct_path_equals_row_by_row_on_a_varied_sample(dtype):
    rng = np.random.default_rng(18)
    values = pd.Series(np.array(_POOL, dtype=object)[rng.integers(0, len(_POOL), 600)],
                       index=rng.permutation(600) + 1000).astype(dtype)
    for fmt in (*DATE_FORMATS, "MM/DD/YYYY|YYYY", "DD-MON-YYYY|YYYY-MM-DD|YYYY"):
        _same(parse_date(values, fmt), parse_date_rows(values, fmt))
    times = pd.Series(np.array(["09:30", "9:05", "24:00", "23:59:59", "12:60", "", None, "x"], dtype=object)
                      [rng.integers(0, 8, 300)]).astype(dtype)
    for fmt in ("HH:MM", "HH:MM:SS"):
        _same(parse_time(times, fmt), parse_time_rows(times, fmt))
