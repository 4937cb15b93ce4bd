"""core/text.py isin, lookup and same_as_previous: the membership, key-lookup and neighbour helpers of the mapping and the checks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdiscflow.core.text import isin, lookup, same_as_previous


def test_isin_on_text_plain_and_compacted():
    col = pd.Series(["S-1", "S-2", None, "S-10"], index=[5, 6, 7, 8], dtype="str")
    assert isin(col, {"S-1", "S-10"}).tolist() == [True, False, False, True]  # a set works, missing is never in
    assert isin(col, frozenset({"S-2"})).index.tolist() == [5, 6, 7, 8]
    assert isin(col.astype("category"), ["S-2"]).tolist() == [False, True, False, False]
    assert isin(col, []).tolist() == [False] * 4


def test_isin_takes_lookup_values_as_text_for_a_text_column():
    # a spec's `where: {SITEID: [101]}` (a YAML number) finds the collected text "101"
    assert isin(pd.Series(["101", "102"], dtype="str"), [101]).tolist() == [True, False]


def test_isin_on_numbers_compares_numbers():
    assert isin(pd.Series([1.0, 2.0, np.nan]), [1, "2"]).tolist() == [True, False, False]


def test_lookup_keeps_the_table_type():
    keys = pd.Series(["B", "A", None, "Z"], index=[10, 11, 12, 13], dtype="str")
    text = lookup(keys, pd.Series({"A": "alpha", "B": "beta"}, dtype="str"))
    assert text.index.tolist() == [10, 11, 12, 13] and text.iloc[:2].tolist() == ["beta", "alpha"]
    assert text.iloc[2:].isna().tolist() == [True, True] and text.dtype == "str"
    numbers = lookup(keys.astype("category"), pd.Series({"A": 1, "B": 2}))
    assert numbers.iloc[:2].tolist() == [2.0, 1.0] and numbers.iloc[2:].isna().all()
    dates = lookup(keys, pd.Series(pd.to_datetime(["2024-01-02", "2024-03-04"]), index=["A", "B"]))
    assert dates.iloc[0] == pd.Timestamp("2024-03-04") and pd.isna(dates.iloc[3])


def test_lookup_on_non_text_keys_is_a_map():
    assert lookup(pd.Series([1, 2]), pd.Series({1: "one"})).tolist() == ["one", np.nan]
    assert lookup(pd.Series(["A"], dtype="str"), pd.Series(dtype="str")).isna().tolist() == [True]


def test_isin_on_a_categorical_by_codes_equals_isin_on_its_text():
    # the categorical path answers per category and takes the answer to the rows by code (issue 18): unused
    # categories, missing rows, lookups with numbers, missing values, a text Index or a generator give what the
    # plain text gives
    text = pd.Series(["S-1", "S-2", None, "S-10", "101", "S-2", None, "é"], index=range(10, 18), dtype="str")
    compacted = text.astype(pd.CategoricalDtype(["101", "S-1", "S-10", "S-2", "S-9", "é"]))  # S-9 unused
    lookups = [["S-2"], {"S-1", "S-9"}, [101, np.nan], pd.Index(["S-10", None, "é"], dtype="str"),
               pd.Series(["S-2", "S-1"], dtype="str"), pd.Index(["S-2"], dtype=object), [], [None], ("x",)]
    for lk in lookups:  # over the lookups
        want = isin(text, lk)
        got = isin(compacted, lk)
        assert got.tolist() == want.tolist() and got.index.equals(text.index) and got.dtype == bool, lk
        assert got.tolist() == text.isin(pd.Series(list(lk), dtype=str).dropna()).tolist(), lk
    assert isin(compacted, (v for v in ["S-1"])).tolist() == [True] + [False] * 7
    empty = pd.Series([None, None], dtype="str").astype("category")
    assert isin(empty, ["S-1"]).tolist() == [False, False]


def test_per_unique_on_a_categorical_equals_per_unique_on_its_text():
    from cdiscflow.core.frames import per_unique

    text = pd.Series(["2020-01-01", None, "2021-02", "2020-01-01", "x"], dtype="str")
    compacted = text.astype(pd.CategoricalDtype(["2019", "2020-01-01", "2021-02", "x"]))  # 2019 unused
    seen = []

    def length(u: np.ndarray) -> np.ndarray:
        seen.append(list(u))
        return np.array([len(v) for v in u])

    want = per_unique(text, length, -1)
    got = per_unique(compacted, length, -1)
    assert got.tolist() == want.tolist() == [10, -1, 7, 10, 1]
    assert seen[1] == ["2019", "2020-01-01", "2021-02", "x"]  # the categories, each once, no pass over the rows
    all_missing = pd.Series([None, None], dtype="str").astype(pd.CategoricalDtype(["a"]))
    assert per_unique(all_missing, length, -1).tolist() == [-1, -1]


def test_lookup_on_a_categorical_by_codes_equals_lookup_on_its_text():
    keys = pd.Series(["B", "A", None, "Z", "A"], index=[10, 11, 12, 13, 14], dtype="str")
    compacted = keys.astype(pd.CategoricalDtype(["A", "B", "C", "Z"]))  # C unused
    tables = [pd.Series({"A": "alpha", "B": "beta"}, dtype="str"), pd.Series({"A": 1.0, "Z": 2.5}),
              pd.Series([7.0, 8.0], index=pd.Index(["A", None], dtype=object)),  # a NaN key in the table
              pd.Series(pd.to_datetime(["2020-01-02"]), index=["B"]), pd.Series([], dtype="str")]
    for table in tables:  # over the tables
        want, got = lookup(keys, table), lookup(compacted, table)
        pd.testing.assert_series_equal(got, want)
    assert np.allclose(lookup(compacted, tables[1]).to_numpy(), [np.nan, 1.0, np.nan, 2.5, 1.0], equal_nan=True)


def test_same_as_previous_per_dtype_equals_the_text_comparison():
    # keys as finalize leaves them: a compacted text column, float --SEQ with missing, plain text, integers
    frame = pd.DataFrame({
        "USUBJID": pd.Series(["S-1", "S-1", None, None, "S-2", "S-2", "S-2"], dtype="str").astype("category"),
        "SEQ": [1.0, 1.0, np.nan, np.nan, 2.0, 3.0, 3.0],
        "TEST": pd.Series(["A", "A", "B", "B", None, "C", "C"], dtype="str"),
        "N": np.array([1, 1, 1, 1, 1, 2, 2], dtype=np.int64),
    })
    assert same_as_previous(frame, ["USUBJID"]).tolist() == [False, True, False, True, False, True, True]
    assert same_as_previous(frame, ["SEQ"]).tolist() == [False, True, False, True, False, False, True]
    assert same_as_previous(frame, ["N"]).tolist() == [False, True, True, True, True, False, True]
    assert same_as_previous(frame, ["USUBJID", "SEQ", "TEST", "N"]).tolist() == \
        [False, True, False, True, False, False, True]
    text = frame.assign(USUBJID=frame["USUBJID"].astype("str"), SEQ=frame["SEQ"].astype(object),
                        N=frame["N"].astype(object))  # the general path: the same answers
    for keys in (["USUBJID"], ["SEQ"], ["N"], ["USUBJID", "SEQ", "TEST", "N"]):
        assert same_as_previous(text, keys).tolist() == same_as_previous(frame, keys).tolist()


def test_constant_text_column_is_pandas_broadcast_of_the_scalar():
    from cdiscflow.core.text import constant

    for index in (pd.RangeIndex(5), pd.Index([7, 3, 9], name="row"), pd.RangeIndex(0)):
        for value in ("DARA-ATRA", "caf\u00e9", "", None):
            got = constant(value, index)
            want = pd.Series(np.nan if value is None else value, index=index, dtype=str)
            pd.testing.assert_series_equal(got, want, check_exact=True)
            assert got.dtype == "str" and got.index is index
    assert constant("Y", pd.RangeIndex(3)).tolist() == ["Y", "Y", "Y"]
    assert constant(None, pd.RangeIndex(2)).isna().all()


def test_join_text_fills_a_template_missing_where_a_column_is():
    from cdiscflow.core.text import join_text

    index = pd.Index([4, 5, 6, 7], name="row")
    part = pd.concat([pd.Series(["A", None], dtype=str), pd.Series(["B", "C"], dtype=str)], ignore_index=True)
    visit = pd.Series(["CYCLE 1", "CYCLE 2", None, "\u00e9t\u00e9"], dtype=str)
    part.index = visit.index = index
    got = join_text(["PART ", part, " ", visit], index)
    assert got.dtype == "str" and got.index is index
    assert [None if pd.isna(v) else v for v in got] == ["PART A CYCLE 1", None, None, "PART C \u00e9t\u00e9"]
    assert join_text(["STUDY-", "1"], index).tolist() == ["STUDY-1"] * 4  # no column: the same text on every row
    assert join_text([part], index).tolist()[::2] == ["A", "B"]


def test_squash_upper_is_computed_per_distinct_value_with_the_same_answer_on_every_record():
    from cdiscflow.core.text import squash_upper

    answers = [" not  done", None, "Yes", "yes\t", " not  done", "", "Yes"] * 3  # repeats: coded, done per value
    expected = ["NOT DONE", None, "YES", "YES", "NOT DONE", "", "YES"] * 3
    for values in (pd.Series(answers, dtype="str", index=range(100, 121)),
                   pd.Series(answers, dtype="str").astype("category"),  # a compacted column: by its categories
                   pd.Series(answers[:4], dtype="str")):  # few repeats
        got = squash_upper(values)
        assert got.dtype == "str" and got.index.equals(values.index)
        assert [None if pd.isna(v) else v for v in got] == expected[:len(values)]
    # not text: each value as its own text, as before (True and 1 are equal keys to a factorization)
    assert squash_upper(pd.Series([True, 1, 1.0, None], dtype=object)).tolist()[:3] == ["TRUE", "1", "1.0"]


def test_join_per_group_joins_each_keys_values_in_record_order():
    from cdiscflow.core.text import join_per_group

    keys = pd.Series(["S2", "S1", "S2", None, "S1", "S2"], dtype="str")
    values = pd.Series(["SCRN", "SCRN", "DARA", "X", "FU", "DATRA45"], dtype="str")
    got = join_per_group(keys, values, " ")
    assert got.index.tolist() == ["S2", "S1"] and got.tolist() == ["SCRN DARA DATRA45", "SCRN FU"]  # S2 came first
    coded = join_per_group(keys.astype("category"), values.astype("category"), "; ")
    assert dict(zip(coded.index, coded)) == {"S2": "SCRN; DARA; DATRA45", "S1": "SCRN; FU"}
    assert len(join_per_group(keys[:0], values[:0], " ")) == 0
