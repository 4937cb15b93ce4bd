"""conform_to_spec's compacted text from a categorical (ADSL variables carried by code, compacted working frames):
what coercing the column to plain text and compacting it gives, without the plain text."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cdiscflow.adam.study import _coerce_plain_text, _compact_text
from cdiscflow.core.frames import compact


def _categorical(values, categories) -> pd.Series:
    return pd.Series(pd.Categorical(values, categories=pd.Index(categories, dtype="str")),
                     index=range(10, 10 + len(values)))


@pytest.mark.parametrize("values, categories", [
    (["Y", "N", None, "Y", "N", "Y"], ["N", "Y"]),                       # as compact makes them
    (["b", " ", "a", None, "b", "a", "b", "a"], ["b", " ", "a", "zz"]),  # unsorted, a blank and an unused category
    (["", "", "x", "x"], ["", "x", "é", "Z"]),                           # code point order: 'Z' < 'x' < 'é'
])
def test_the_same_as_coercing_to_text_and_compacting(values, categories):
    col = _categorical(values, categories)
    ours = _compact_text(col, len(col))
    expected = compact(pd.DataFrame({"V": _coerce_plain_text(col)}))["V"]
    assert isinstance(ours.dtype, pd.CategoricalDtype)
    assert ours.dtype == expected.dtype and list(ours.cat.categories) == list(expected.cat.categories)
    assert np.array_equal(ours.cat.codes.to_numpy(), expected.cat.codes.to_numpy())
    assert ours.index.equals(col.index)


def test_mostly_distinct_text_stays_plain_text():
    col = _categorical(["a", "b", "c", "d"], ["a", "b", "c", "d"])
    assert _compact_text(col, len(col)) is None  # coerced to plain text by the caller, as compact leaves it
    assert not isinstance(compact(pd.DataFrame({"V": _coerce_plain_text(col)}))["V"].dtype, pd.CategoricalDtype)


def test_adbase_records_are_concatenated_by_code():
    """ADBASE's parameters' records joined with their text held by code: the same values, order and missingness
    as pd.concat, on sorted categories shared by all; a column that is not text everywhere is left as it is."""
    from cdiscflow.adam.recipes.adbase import _concat_by_code

    def records():
        first = pd.DataFrame({"USUBJID": pd.Series(["S2", "S1"], dtype="category"),
                              "PARAMCD": pd.Series(["AGE", "AGE"], dtype="str"),
                              "AVALC": pd.Series([None, None], dtype="str"), "AVAL": [70.0, 64.0],
                              "SRCSEQ": [1.0, np.nan]})
        second = pd.DataFrame({"USUBJID": pd.Series(["S1", "S3"], dtype="str"),
                               "PARAMCD": pd.Series(["LENEXP", "LENEXP"], dtype="str"),
                               "AVALC": pd.Series(["Y", "N"], dtype="str"), "AVAL": [np.nan, np.nan],
                               "SRCSEQ": pd.Series(["x", None], dtype="object")})
        return [first, second]

    ours = _concat_by_code(records())
    plain = pd.concat(records(), ignore_index=True)
    assert list(ours.columns) == list(plain.columns)
    for name in ("USUBJID", "PARAMCD", "AVALC"):
        assert isinstance(ours[name].dtype, pd.CategoricalDtype)
        assert list(ours[name].cat.categories) == sorted(ours[name].cat.categories)
        assert ours[name].astype(object).where(ours[name].notna(), None).tolist() == \
            plain[name].astype(object).where(plain[name].notna(), None).tolist()
    assert list(ours["USUBJID"].cat.categories) == ["S1", "S2", "S3"]
    assert ours["AVAL"].equals(plain["AVAL"]) and ours["SRCSEQ"].equals(plain["SRCSEQ"])  # not text everywhere
    order = ours.sort_values(["USUBJID", "PARAMCD"], kind="stable").index.tolist()
    assert order == plain.sort_values(["USUBJID", "PARAMCD"], kind="stable").index.tolist() == [1, 2, 0, 3]
