"""Record ordering (adam/verbs/ordering.py): `sort_rows` / `extreme_rows` sort by one stable argsort of the keys
combined into one integer (np.lexsort of the keys when they do not fit in 63 bits); both give np.lexsort's order."""

from __future__ import annotations

import numpy as np
import pandas as pd
from cdiscflow.adam.verbs import ordering
from cdiscflow.adam.verbs.ordering import extreme_rows, sort_rows


def _lexsort_reference(frame, keys, order, *, reverse_order=False, priority=()):
    """The order as np.lexsort gives it: per key its missing flag, then its rank; then the row (later first when
    reversed)."""
    spec = [(k, True) for k in (*keys, *priority)]
    spec += [(name, ascending != reverse_order) for name, ascending in ordering.parse_order(order)]
    position = np.arange(len(frame))
    sort_keys = [-position if reverse_order else position]
    for name, ascending in reversed(spec):
        codes, _ = pd.factorize(frame[name], sort=True, use_na_sentinel=True)
        sort_keys.append(codes if ascending else -codes)
        sort_keys.append(frame[name].isna().to_numpy().astype(np.int8))
    return np.lexsort(sort_keys)


def _frame(rng, n):
    return pd.DataFrame({
        "STUDYID": pd.Series(rng.choice(np.array(["S1", "S2", None], dtype=object), n), dtype="str"),
        "USUBJID": pd.Series(rng.choice(np.array(["01-1", "01-10", "01-2", "é", None], dtype=object), n),
                             dtype="str"),
        "ADT": pd.to_datetime(pd.Series(rng.choice(np.array(["2020-01-01", "2020-02-01", None], dtype=object), n))),
        "AVAL": np.where(rng.random(n) < 0.2, np.nan, rng.integers(-2, 3, n).astype(float)),
        "CONST": pd.Series(["k"] * n, dtype="str"),
    })


def test_sort_rows_is_lexsorts_order():
    rng = np.random.default_rng(0)
    for _ in range(40):
        frame = _frame(rng, int(rng.integers(0, 30)))
        keys = list(rng.choice(["STUDYID", "USUBJID", "CONST"], size=int(rng.integers(0, 3)), replace=False))
        order = [("-" if rng.random() < 0.5 else "") + c
                 for c in rng.choice(["ADT", "AVAL", "USUBJID"], size=int(rng.integers(0, 3)), replace=False)]
        priority = list(rng.choice(["AVAL", "CONST"], size=int(rng.integers(0, 2)), replace=False))
        reverse = bool(rng.random() < 0.5)
        expected = _lexsort_reference(frame, keys, order, reverse_order=reverse, priority=priority)
        got = sort_rows(frame, keys, order, reverse_order=reverse, priority=priority)
        assert got.tolist() == expected.tolist(), (keys, order, priority, reverse)


def test_keys_too_wide_for_one_integer_fall_back_to_lexsort():
    rng = np.random.default_rng(7)
    n = 50
    digits = [(rng.integers(0, 3, n), 3), (rng.integers(0, 2, n), 2), (rng.integers(0, 4, n), 4)]
    wide = [(values, radix * 2 ** 30) for values, radix in digits]  # 2**90 combinations: np.lexsort
    for ties_last_first in (False, True):
        position = np.arange(n)
        expected = np.lexsort([-position if ties_last_first else position]
                              + [values for values, _ in reversed(digits)])
        assert ordering._stable_order(digits, n, ties_last_first=ties_last_first).tolist() == expected.tolist()
        assert ordering._stable_order(wide, n, ties_last_first=ties_last_first).tolist() == expected.tolist()


def test_extreme_rows_first_and_last_with_ties_and_missing():
    frame = pd.DataFrame({"USUBJID": pd.Series(["B", "A", "A", "B", "A", "B"], dtype="str"),
                          "ADT": pd.to_datetime(["2020-01-02", "2020-01-05", None, "2020-01-02", "2020-01-05",
                                                 None]),
                          "ROW": [0, 1, 2, 3, 4, 5]})
    first = extreme_rows(frame, ["USUBJID"], ("ADT",), "first")
    last = extreme_rows(frame, ["USUBJID"], ("ADT",), "last")
    # groups in sorted order; a missing date never wins over a date; ties: first takes the earlier row, last the later
    assert first["ROW"].tolist() == [1, 0]
    assert last["ROW"].tolist() == [4, 3]


def test_a_compacted_text_column_orders_as_its_text():
    """A text categorical with sorted categories (core.frames.compact) is ranked by its codes, an unused category
    leaving a gap: the order of the plain text.  Other categoricals keep pandas' order, that of their categories."""
    frame = pd.DataFrame({"k": pd.Series(["b", "a", None, "b", "d", "a"], dtype="str"),
                          "o": [3.0, 1.0, 2.0, 1.0, np.nan, 5.0]})
    coded = frame.assign(k=frame["k"].astype(pd.CategoricalDtype(pd.Index(["a", "b", "c", "d"], dtype="str"))))
    assert sort_rows(coded, ["k"], ["-o"]).tolist() == sort_rows(frame, ["k"], ["-o"]).tolist() == [5, 1, 0, 3, 4, 2]
    assert extreme_rows(coded, ["k"], ["o"], "last").index.tolist() == \
        extreme_rows(frame, ["k"], ["o"], "last").index.tolist() == [5, 0, 4, 2]
    unsorted = frame.assign(k=frame["k"].astype(pd.CategoricalDtype(pd.Index(["d", "b", "a"], dtype="str"))))
    assert sort_rows(unsorted, ["k"], ["-o"]).tolist() == [4, 0, 3, 5, 1, 2]
