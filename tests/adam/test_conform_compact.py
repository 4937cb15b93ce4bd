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


def test_adbase_records_are_assembled_by_code():
    """ADBASE's parameters' records made as one frame: the subject and time point from the grid rows, the values
    concatenated, every text column held by code on the sorted values in use (the same values, order and
    missingness as concatenating the parameters' records as plain frames)."""
    from cdiscflow.adam.recipes.adbase import RECORD_COLUMNS, _assemble

    grid = pd.DataFrame({"STUDYID": "S", "USUBJID": pd.Series(["S2", "S1", "S3", "S2"], dtype="str"),
                         "AVISIT": pd.Series(["A", "A", "A", "B"], dtype="str"), "AVISITN": [1.0, 1.0, 1.0, 2.0],
                         "ADT": pd.to_datetime(["2020-01-02", "2020-01-01", "2020-01-03", "2021-01-01"])})
    parts = [
        (np.array([1, 3]), {"AVAL": pd.Series([64.0, 70.0]), "AVALC": None, "SRCDOM": "DM", "SRCVAR": None,
                            "SRCSEQ": pd.Series([1.0, np.nan]), "PARAMCD": "AGE", "PARAM": "Age", "PARAMN": 1.0,
                            "PARCAT1": "DEMO"}),
        (np.array([0, 1, 2]), {"AVAL": np.nan, "AVALC": pd.Series(["Y", None, "N"], dtype="str"), "SRCDOM": None,
                               "SRCVAR": None, "SRCSEQ": np.nan, "PARAMCD": "LENEXP", "PARAM": "Len",
                               "PARAMN": 2.0, "PARCAT1": None}),
        (np.array([2]), {"AVAL": np.nan, "AVALC": pd.Series(["é"], dtype="str").astype("category"),
                         "SRCDOM": "MH", "SRCVAR": "X", "SRCSEQ": np.nan, "PARAMCD": "Z", "PARAM": "z",
                         "PARAMN": 3.0, "PARCAT1": "DEMO"}),
        (np.array([], dtype=np.intp), {"AVAL": np.nan, "AVALC": None, "SRCDOM": "RS", "SRCVAR": "RSSTRESN",
                                       "SRCSEQ": np.nan, "PARAMCD": "NONE", "PARAM": "No records", "PARAMN": 4.0,
                                       "PARCAT1": "RESP"}),  # a filter that matched nothing: none of its text
    ]
    ours = _assemble(grid, parts)
    plain = pd.concat([pd.DataFrame({**{c: grid[c].to_numpy()[at] for c in grid.columns},
                                     **{c: (v.to_numpy(dtype=object) if isinstance(v, pd.Series) else v)
                                        for c, v in values.items()}}, index=range(len(at)))
                       for at, values in parts], ignore_index=True)
    assert list(ours.columns) == list(RECORD_COLUMNS)
    for name in ("STUDYID", "USUBJID", "AVISIT", "AVALC", "SRCDOM", "SRCVAR", "PARAMCD", "PARAM", "PARCAT1"):
        assert isinstance(ours[name].dtype, pd.CategoricalDtype)
        assert list(ours[name].cat.categories) == sorted(set(ours[name].dropna()))  # sorted, only those in use
        assert ours[name].astype(object).where(ours[name].notna(), None).tolist() == \
            plain[name].astype(object).where(plain[name].notna(), None).tolist()
    assert ours["USUBJID"].tolist() == ["S1", "S2", "S2", "S1", "S3", "S3"]
    assert ours["AVALC"].astype(object).where(ours["AVALC"].notna(), None).tolist() == \
        [None, None, "Y", None, "N", "é"]
    for name in ("AVISITN", "AVAL", "SRCSEQ", "PARAMN", "ADT"):
        assert ours[name].equals(plain[name].astype(ours[name].dtype)), name
    assert ours["ADT"].dtype == grid["ADT"].dtype and ours["AVAL"].dtype == "float64"
