"""The row-indexer joins of adam/verbs/merge.py give what pandas' merge gives (values, dtypes, row order), issue 18."""

import numpy as np
import pandas as pd

from cdiscflow.adam.verbs.merge import _left_join, derive_vars_merged, inner_join_positions


def test_inner_join_positions_follow_merge_order_and_match_missing_keys():
    left = pd.DataFrame({"k": pd.Series(["b", "a", "b", "c", None, "a"], dtype="str")})
    right = pd.DataFrame({"k": pd.Series(["a", "b", "a", None, "b", "d"], dtype="str")})
    lpos, rpos = inner_join_positions(left, right, ["k"])
    # by left row, then right row; the missing key of left row 4 meets right row 3; "c" and "d" meet nothing
    assert lpos.tolist() == [0, 0, 1, 1, 2, 2, 4, 5, 5]
    assert rpos.tolist() == [1, 4, 0, 2, 1, 4, 3, 0, 2]
    merged = left.assign(v=range(6)).merge(right.assign(w=range(6)), how="inner", on="k", sort=False)
    assert merged["v"].tolist() == lpos.tolist() and merged["w"].tolist() == rpos.tolist()


def test_inner_join_positions_two_keys_and_mismatched_dtypes():
    left = pd.DataFrame({"s": ["S1", "S1", "S2"], "u": [1, 2, 1]})
    right = pd.DataFrame({"s": ["S1", "S2", "S1"], "u": [2, 1, 2]})
    lpos, rpos = inner_join_positions(left, right, ["s", "u"])
    assert lpos.tolist() == [1, 1, 2] and rpos.tolist() == [0, 2, 1]
    assert inner_join_positions(left, right.astype({"u": "float64"}), ["s", "u"]) is None  # pandas' merge decides


def test_left_join_gives_merge_values_and_dtypes_where_unmatched():
    right = pd.DataFrame({
        "k": pd.Series(["A", "B", "C"], dtype="str"),
        "i": np.array([1, 2, 3]),
        "b": np.array([True, False, True]),
        "s": pd.Series(["x", None, "z"], dtype="str"),
        "d": pd.to_datetime(["2020-01-01", None, "2020-01-03"]),
    })
    dataset = pd.DataFrame({"k": pd.Series(["A", "Z", "C", None], dtype="str")})
    out = _left_join(dataset, right, ["k"], ["i", "b", "s", "d"])
    assert out["__hit__"].tolist() == [True, False, True, False]
    assert out["i"].dtype == "float64" and out["i"].tolist()[0::2] == [1.0, 3.0] and np.isnan(out["i"][1])
    assert out["b"].dtype == object and out["b"].tolist()[0::2] == [True, True] and pd.isna(out["b"][1])
    assert str(out["s"].dtype) == "str" and out["s"].tolist()[0::2] == ["x", "z"]
    assert out["d"].dtype == right["d"].dtype and pd.isna(out["d"][3])
    reference = dataset.merge(right, how="left", on="k", sort=False)
    for col in ("i", "b", "s", "d"):
        pd.testing.assert_series_equal(out[col], reference[col], check_names=False)


def test_derive_vars_merged_all_matched_keeps_integer_dtype():
    adsl = pd.DataFrame({"STUDYID": ["S"] * 2, "USUBJID": ["2", "1"]}, index=[10, 20])
    ex = pd.DataFrame({"STUDYID": ["S"] * 3, "USUBJID": ["1", "2", "2"], "EXSEQ": [1, 1, 2], "DOSE": [5, 7, 9]})
    out = derive_vars_merged(adsl, dataset_add=ex, new_vars={"LASTDOSE": "DOSE"}, order=["EXSEQ"], mode="last",
                             exist_flag="EXFL")
    assert out.index.tolist() == [10, 20]
    assert out["LASTDOSE"].tolist() == [9, 5] and out["LASTDOSE"].dtype == "int64"
    assert out["EXFL"].tolist() == ["Y", "Y"]


def test_text_key_as_categorical_on_one_side_joins_as_text_like_merge():
    # the pipeline compacts SDTM text into categoricals while derived frames hold plain text: such a key pair is
    # joined by the row indexer as text, with what pandas' merge gives (missing keys meet each other)
    right = pd.DataFrame({"k": pd.Series(["A", "B", None, "D"], dtype="str").astype("category"),
                          "v": np.array([1.5, 2.5, 3.5, 4.5])})
    dataset = pd.DataFrame({"k": pd.Series(["B", "Z", None, "A", "B"], dtype="str")})
    out = _left_join(dataset, right, ["k"], ["v"])
    assert out["__hit__"].tolist() == [True, False, True, True, True]
    assert out["v"].tolist()[0] == 2.5 and np.isnan(out["v"][1]) and out["v"].tolist()[2:] == [3.5, 1.5, 2.5]
    reference = dataset.merge(right, how="left", on="k", sort=False)
    pd.testing.assert_series_equal(out["v"], reference["v"], check_names=False)
    lpos, rpos = inner_join_positions(dataset, right, ["k"])
    assert lpos.tolist() == [0, 2, 3, 4] and rpos.tolist() == [1, 2, 0, 1]


def test_inner_join_positions_on_categoricals_with_categories_in_another_order():
    # equal unordered dtypes whose categories are listed in another order: the values are joined, not the codes
    left = pd.DataFrame({"k": pd.Categorical(["b", "a", None, "c"], categories=["a", "b", "c"]),
                         "d": [1.0, np.nan, 2.0, 3.0]})
    right = pd.DataFrame({"k": pd.Categorical(["a", "c", None, "b"], categories=["c", "b", "a"]),
                          "d": [np.nan, 3.0, 2.0, 1.0]})
    assert left["k"].dtype == right["k"].dtype
    lpos, rpos = inner_join_positions(left, right, ["k", "d"])
    merged = left.assign(v=range(4)).merge(right.assign(w=range(4)), how="inner", on=["k", "d"], sort=False)
    assert lpos.tolist() == merged["v"].tolist() == [0, 1, 2, 3]
    assert rpos.tolist() == merged["w"].tolist() == [3, 0, 2, 1]


def test_text_keys_as_categoricals_of_different_categories_join_as_text():
    # two compacted frames: each side's categories hold only its own values (one unused), matched as text
    left = pd.DataFrame({"k": pd.Series(["b", None, "z", "a"], dtype="str").astype("category"),
                         "j": ["x", "y", "x", "x"]})
    right = pd.DataFrame({"k": pd.Series(["a", "b", None], dtype="str").astype(
        pd.CategoricalDtype(pd.Index(["q", "b", "a"], dtype="str"))), "j": ["x", "x", "y"], "v": [1.0, 2.0, 3.0]})
    out = _left_join(left, right, ["k", "j"], ["v"])
    reference = left.astype({"k": "str"}).merge(right.astype({"k": "str"}), how="left", on=["k", "j"], sort=False)
    pd.testing.assert_series_equal(out["v"], reference["v"], check_names=False)
    assert out["v"].tolist()[:2] == [2.0, 3.0] and np.isnan(out["v"][2]) and out["v"][3] == 1.0


def test_new_variables_join_a_frame_with_a_repeated_index_by_position():
    # the new columns are joined on at once by position: a repeated index label is kept, not aligned on
    adsl = pd.DataFrame({"STUDYID": "S", "USUBJID": ["1", "2", "1"], "X": [1, 2, 3]}, index=[5, 5, 7])
    add = pd.DataFrame({"STUDYID": "S", "USUBJID": ["1", "2"], "V": ["a", "b"]})
    out = derive_vars_merged(adsl, dataset_add=add, new_vars=["V"], exist_flag="F", missing_values={"V": "none"})
    assert out.index.tolist() == [5, 5, 7] and list(out.columns) == ["STUDYID", "USUBJID", "X", "V", "F"]
    assert out["V"].tolist() == ["a", "b", "a"] and out["F"].tolist() == ["Y", "Y", "Y"]
    assert derive_vars_merged(adsl, dataset_add=add.iloc[:1], new_vars=["V"],
                              missing_values={"V": "none"})["V"].tolist() == ["a", "none", "a"]
