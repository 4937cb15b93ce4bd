"""core/text.py isin and lookup: the one membership and key-lookup helper of the mapping and the checks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdiscflow.core.text import isin, lookup


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
