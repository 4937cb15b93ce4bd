"""SDTM value checks and derivations evaluated once per distinct value or pair of values (issue 18): the answers
are those of the record-by-record rules."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdiscflow.sdtm.mapping.state import StudyState, dates_of
from cdiscflow.sdtm.mapping.value_checks import _compare_known, _ends_before, _known_coded, _known_date, per_pair
from cdiscflow.sdtm.raw.dates import date_part


def test_per_pair_answers_each_distinct_pair_once_for_every_record():
    a = pd.Series(["2020-01-05", "2020-01", None, "2020-01-05", "2019"], dtype="str")
    b = pd.Series(["2020-01-04", "2020-01-04", "2020-01-04", "2020-01-04", None], dtype="str").astype("category")
    calls = []

    def fn(x, y):
        calls.append(list(zip(x, y)))
        return np.array([f"{p}|{q}" for p, q in zip(x, y)], dtype=object)

    out = per_pair(a, b, fn)
    assert len(calls) == 1 and len(calls[0]) == 4  # (2020-01-05, 2020-01-04) occurs twice, computed once
    assert out.tolist() == ["2020-01-05|2020-01-04", "2020-01|2020-01-04", "|2020-01-04", "2020-01-05|2020-01-04",
                            "2019|"]
    assert per_pair(a, "2020-01-01", fn).tolist() == ["2020-01-05|2020-01-01", "2020-01|2020-01-01", "|2020-01-01",
                                                      "2020-01-05|2020-01-01", "2019|2020-01-01"]


def test_known_dates_compare_at_the_precision_both_have():
    dates = pd.Series(["2021-03-04T10:00", "2021-03", "2021", None, "-----T10:00", "2021-02-28"], dtype="str")
    assert _known_date(dates).fillna("").tolist() == ["2021-03-04", "2021-03", "2021", "", "", "2021-02-28"]
    known = _known_coded(dates)
    assert known[1][known[0]].tolist() == ["2021-03-04", "2021-03", "2021", "", "", "2021-02-28"]
    assert _compare_known(known, "2021-03-01").tolist() == [1, 0, 0, 0, 0, -1]
    death = pd.Series(["2021-03-04", "2021-02", None, "2021-03-01", "2021-03-01", "2021-03-01"], dtype="str")
    assert _compare_known(known, death).tolist() == [0, 1, 0, 0, 0, -1]


def test_end_before_start_at_minute_day_month_or_year():
    starts = np.array(["2021-03-04T10:00", "2021-03-04T10:00", "2021-03", "2021", "", "2021-03-04"], dtype=object)
    ends = np.array(["2021-03-04T09:59", "2021-03-04", "2021-02-28", "2021-05", "2020", "2021-03-04T00:00"],
                    dtype=object)
    assert _ends_before(starts, ends).tolist() == [True, False, True, False, False, False]


def test_dates_of_is_date_part_and_parses_each_text_once_per_run():
    state = StudyState(spec=None, design=None, raw={}, findings=None)
    values = pd.Series(["2021-03-04", "2021-03", None, "2021-03-04", "2021-02-30"], dtype="str", index=[3, 1, 4, 1, 5])
    got = dates_of(state, values)
    pd.testing.assert_series_equal(got, date_part(values))
    assert set(state.cache["date_part"]) == {"2021-03-04", "2021-03", "2021-02-30"}
    state.cache["date_part"]["2021-03-04"] = np.datetime64("1999-01-01")  # a later call reads the parsed value
    assert dates_of(state, values.astype("category")).iloc[0] == pd.Timestamp("1999-01-01")


def test_end_before_start_in_numpy_equals_the_rule_pair_by_pair():
    pool = ["", "2021", "2020", "2021-03", "2021-02", "2021-03-04", "2021-03-03", "2021-03-04T10:00",
            "2021-03-04T09:59", "2021-03-04T10", "2021-03-04T10:00:30", "2022-01-01T00:00", "2021-3", "\u00e92021"]
    starts = np.array([a for a in pool for _ in pool], dtype=object)
    ends = np.array([b for _ in pool for b in pool], dtype=object)
    want = [any(len(s) >= w and len(e) >= w and e[:w] < s[:w] for w in (16, 10, 7, 4))  # the rule, pair by pair
            for s, e in zip(starts, ends)]
    assert _ends_before(starts, ends).tolist() == want and sum(want) == 47
    assert len(_ends_before(np.array([], dtype=object), np.array([], dtype=object))) == 0


def test_compare_pairs_at_each_precision_equals_comparing_the_cut_texts():
    from cdiscflow.sdtm.mapping.value_checks import _compare_pairs

    pool = ["", "2021", "2020", "2021-03", "2021-02", "2021-12", "2021-03-04", "2021-03-01", "2021-03-31", "2022-01-01",
            "1900-01-01", "0000"]
    first = np.array([a for a in pool for _ in pool], dtype=object)
    second = np.array([b for _ in pool for b in pool], dtype=object)
    want = []
    for a, b in zip(first, second):  # the rule, pair by pair
        w = min(len(a), len(b))
        want.append((a[:w] > b[:w]) - (a[:w] < b[:w]) if w in (10, 7, 4) else 0)
    got = _compare_pairs(first, second)
    assert got.tolist() == want and got.dtype == np.int64
    assert _compare_pairs(np.array(["2021-03-04", "2021-03"], dtype=object),
                          np.array(["2021-03-01", "2021-04-01"], dtype=object)).tolist() == [1, -1]
    assert len(_compare_pairs(np.array([], dtype=object), np.array([], dtype=object))) == 0


def test_known_prefix_by_arrow_equals_pythons_regex_and_keeps_other_digits():
    from cdiscflow.sdtm.mapping.value_checks import _KNOWN_PREFIX, _known_prefix

    texts = pd.Series(["2021-03-04T10:00", "2021-03", "2021", "21-03", "-----T10:00", "2021-3-04", "2021-03-04-05",
                       "x2021", "2021\n", "20210304", ""], dtype=str)
    want = texts.str.extract(_KNOWN_PREFIX, expand=False).astype(str)  # pandas: Python's re
    pd.testing.assert_series_equal(_known_prefix(texts), want, check_exact=True)
    assert _known_prefix(texts).tolist()[:3] == ["2021-03-04", "2021-03", "2021"]
    other = pd.Series(["\u0662\u0660\u0662\u0661-03", "2021-03"], dtype=str)  # Arabic-Indic digits: Python's \d
    assert _known_prefix(other).tolist() == ["\u0662\u0660\u0662\u0661-03", "2021-03"]
