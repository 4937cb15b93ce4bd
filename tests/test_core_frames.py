"""Compact text (core/frames.py): categoricals in memory, the same values and the same bytes out."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from cdiscflow.core.frames import as_text, compact, expand, is_text_category
from cdiscflow.export.xpt import XptVariable, write_xpt
from cdiscflow.core.text import sort_order


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "USUBJID": pd.Series(["S-2", "S-1", "S-2", None, "S-1", "S-10"], dtype="str"),
        "AETERM": pd.Series(["Rash", "Nausea", "Fatigue", "Cough", "Fever", "Pain"], dtype="str"),  # all distinct
        "AESEQ": [1.0, 1.0, 2.0, 1.0, 2.0, 1.0],
    })


def test_compact_makes_repeated_text_categorical_and_keeps_the_values():
    plain = _frame()
    small = compact(_frame())
    assert is_text_category(small["USUBJID"])  # 3 distinct values in 6 records: at most one per two records
    assert small["AETERM"].dtype == "str"  # 6 distinct in 6: stays text
    assert small["AESEQ"].dtype == "float64"
    assert list(small["USUBJID"].cat.categories) == ["S-1", "S-10", "S-2"]  # sorted: codes sort like the text
    assert small["USUBJID"].isna().tolist() == [False, False, False, True, False, False]
    pd.testing.assert_frame_equal(expand(small), plain)


def test_as_text_allows_filling_where_a_categorical_refuses():
    col = compact(_frame())["USUBJID"]
    with pytest.raises(TypeError):
        col.fillna("NEW")
    assert as_text(col).fillna("NEW").tolist() == ["S-2", "S-1", "S-2", "NEW", "S-1", "S-10"]


def test_sort_order_of_a_categorical_is_the_sort_order_of_its_text():
    plain = _frame()
    order = sort_order(plain, ["USUBJID", "AESEQ"])
    assert order.tolist() == [3, 1, 4, 5, 0, 2]  # missing first, then S-1, S-10, S-2 (text order), then AESEQ
    assert sort_order(compact(_frame()), ["USUBJID", "AESEQ"]).tolist() == order.tolist()


def test_xpt_of_a_compacted_frame_is_byte_identical(tmp_path):
    rng = np.random.default_rng(3)
    n = 5000
    plain = pd.DataFrame({
        "USUBJID": pd.Series(np.char.add("S-", rng.integers(1, 40, n).astype(str)), dtype="str"),
        "EPOCH": pd.Series(rng.choice(["SCREENING", "TREATMENT", None], n), dtype="str"),
        "EXSEQ": np.arange(1, n + 1, dtype=float),
    })
    small = compact(plain.copy())
    small["EPOCH"] = small["EPOCH"].cat.add_categories(["A VALUE LONGER THAN THE LENGTH"])  # unused: not measured
    variables = [XptVariable("USUBJID", "Unique Subject Identifier", "Char", 8),
                 XptVariable("EPOCH", "Epoch", "Char", 9), XptVariable("EXSEQ", "Sequence Number", "Num", 8)]
    sizes = [write_xpt(tmp_path / f"{k}.xpt", f, variables, dataset="EX", label="Exposure", created=date(2020, 1, 1))
             for k, f in (("plain", plain), ("small", small))]
    assert sizes[0] == sizes[1]
    assert (tmp_path / "plain.xpt").read_bytes() == (tmp_path / "small.xpt").read_bytes()


@pytest.mark.slow
def test_sdtm_mapped_compact_equals_mapped_plain():
    from pathlib import Path

    from cdiscflow.sdtm import map_study
    from cdiscflow.specs.load import load_study

    spec = load_study("dara_atra")
    raw = Path(__file__).parent / "data" / "raw_small"
    plain = map_study(spec, raw).datasets
    small = map_study(spec, raw, compact_text=True).datasets
    assert list(plain) == list(small)
    assert any(is_text_category(f[c]) for f in small.values() for c in f.columns)
    assert not any(is_text_category(f[c]) for f in plain.values() for c in f.columns)
    for name in plain:
        pd.testing.assert_frame_equal(expand(small[name]), plain[name], obj=name)


def test_as_text_of_a_categorical_is_its_text_by_code_with_index_and_name():
    col = compact(_frame())["USUBJID"].set_axis([10, 11, 12, 13, 14, 15]).rename("USUBJID")
    text = as_text(col)
    assert text.dtype == "str" and text.name == "USUBJID" and text.index.tolist() == [10, 11, 12, 13, 14, 15]
    assert text.tolist()[:3] == ["S-2", "S-1", "S-2"] and pd.isna(text.iloc[3])
    pd.testing.assert_series_equal(text, col.astype(str).where(col.notna()))  # what astype gave, record by record


def test_text_per_distinct_calls_fn_once_per_distinct_value_and_keeps_missing():
    from cdiscflow.core.frames import text_per_distinct

    seen = []

    def upper(u: pd.Series) -> pd.Series:
        seen.append(u.tolist())
        return u.str.upper()

    values = pd.Series(["b", "a", None, "b", "a"], dtype="str", index=[5, 6, 7, 8, 9])
    out = text_per_distinct(values, upper)
    assert seen == [["b", "a"]]  # each distinct value once, missing left out
    assert out.index.tolist() == [5, 6, 7, 8, 9] and out.dtype == "str"
    assert out.tolist()[:2] == ["B", "A"] and pd.isna(out.iloc[2]) and out.tolist()[3:] == ["B", "A"]
    seen.clear()
    coded = text_per_distinct(values.astype("category"), upper)  # a categorical: on its (sorted) categories
    assert seen == [["a", "b"]]
    pd.testing.assert_series_equal(coded, out)
    lengths = text_per_distinct(values, lambda u: u.str.len())  # other result types: missing records give NaN
    assert lengths.tolist()[:2] == [1.0, 1.0] and np.isnan(lengths.iloc[2])


def test_compact_codes_text_exactly_as_astype_category():
    rng = np.random.default_rng(7)
    words = ["b", "a", "é", "Z", "", "a b", "ä", "ß", "ss", "10", "9", "\U0001F600", "Ω"]
    text = pd.Series(rng.choice(words, 500), dtype="str", index=rng.permutation(500), name="X")
    text[rng.random(500) < 0.2] = np.nan
    got = compact(pd.DataFrame({"X": text}))["X"]
    want = text.astype("category")
    pd.testing.assert_series_equal(got, want)
    assert got.cat.codes.tolist() == want.cat.codes.tolist() and got.cat.codes.dtype == want.cat.codes.dtype
    assert got.cat.categories.dtype == "str" and list(got.cat.categories) == sorted(set(text.dropna()))


def test_compact_codes_as_astype_category_missing_chunked_and_wide_columns():
    rng = np.random.default_rng(18)
    many = pd.Series([f"T{i:03d}" for i in rng.integers(0, 300, 2000)], dtype="str", name="T")  # > 127: int16 codes
    chunked = pd.concat([pd.Series(["b", None, "a"] * 5, dtype="str"), pd.Series(["c", "a"] * 5, dtype="str")],
                        ignore_index=True)  # an Arrow column of two chunks
    frame = pd.DataFrame({"MISSING": pd.Series([np.nan] * 6 + [np.nan] * 19, dtype="str"), "CHUNKED": chunked,
                          "UNIQUE": pd.Series([f"U{i}" for i in range(25)], dtype="str")})
    got = compact(frame.copy())
    for name in ("MISSING", "CHUNKED"):
        want = frame[name].astype("category")
        pd.testing.assert_series_equal(got[name], want)
        assert got[name].cat.codes.dtype == want.cat.codes.dtype
    assert got["MISSING"].cat.categories.dtype == "str" and len(got["MISSING"].cat.categories) == 0
    assert list(got["CHUNKED"].cat.categories) == ["a", "b", "c"]
    assert got["UNIQUE"].dtype == "str"  # one distinct value per record: stays text
    wide = compact(pd.DataFrame({"T": many}))["T"]
    pd.testing.assert_series_equal(wide, many.astype("category"))
    assert wide.cat.codes.dtype == np.int16


def test_compact_codes_as_astype_category_at_the_code_type_boundaries():
    from cdiscflow.core.frames import compact

    for distinct, kind in ((1, "int8"), (126, "int8"), (127, "int16"), (32767, "int32")):
        values = [f"v{i:05d}" for i in range(distinct)]
        col = pd.Series([None, *values[::-1], *values], dtype="str")  # every value twice, missing first
        got = compact(pd.DataFrame({"X": col}))["X"]
        want = col.astype("category")
        assert str(got.cat.codes.dtype) == kind == str(want.cat.codes.dtype)
        assert got.cat.codes.tolist() == want.cat.codes.tolist() and got.cat.categories.equals(want.cat.categories)
        assert got.cat.codes.iloc[0] == -1 and got.cat.codes.iloc[-1] == distinct - 1


def test_with_columns_adds_the_new_columns_after_the_frame_s_on_its_index():
    from cdiscflow.core.frames import with_columns

    frame = compact(_frame()).set_axis([7, 3, 5, 1, 9, 2])
    new = {"AVAL": np.array([1.5, 2.0, np.nan, 4.0, 5.0, 6.0]),
           "FLAG": pd.Series(["Y", None, "Y", "Y", None, "Y"], dtype="str")._values,
           "N": np.arange(6, dtype=np.int64)}
    out = with_columns(frame, new)
    assert out.columns.tolist() == ["USUBJID", "AETERM", "AESEQ", "AVAL", "FLAG", "N"]
    assert out.index.tolist() == [7, 3, 5, 1, 9, 2]
    assert [str(t) for t in out.dtypes] == ["category", "str", "float64", "float64", "str", "int64"]
    assert out["FLAG"].isna().tolist() == [False, True, False, False, True, False]
    assert out["N"].tolist() == [0, 1, 2, 3, 4, 5] and out["AESEQ"].tolist() == frame["AESEQ"].tolist()
    assert "AVAL" not in frame.columns  # a new frame; the caller's is left as it was
    assert with_columns(frame, {}) is frame
    empty = with_columns(frame.iloc[:0], {"AVAL": np.zeros(0)})
    assert empty.columns.tolist()[-1] == "AVAL" and len(empty) == 0 and empty["AVAL"].dtype == "float64"


def test_text_categorical_of_several_arrays_is_astype_category_of_their_text_one_after_the_other():
    import pyarrow as pa

    from cdiscflow.core.frames import text_categorical

    plain = pd.Series(["b", None, "é", "a"], dtype="str")
    coded = pd.Series(["Z", "b", None, "10", "Z"], dtype="str").astype("category")  # dictionary-encoded in Arrow
    chunked = pd.concat([pd.Series(["9", "a"], dtype="str"), pd.Series(["ß"], dtype="str")], ignore_index=True)
    arrays = [pa.array(plain.array), pa.array(coded.array), pa.nulls(2, pa.large_string()), pa.array(chunked.array)]
    got = text_categorical(arrays)
    text = pd.Series(["b", None, "é", "a", "Z", "b", None, "10", "Z", None, None, "9", "a", "ß"], dtype="str")
    want = text.astype("category")
    assert list(got.categories) == ["10", "9", "Z", "a", "b", "ß", "é"] == list(want.cat.categories)
    assert got.codes.tolist() == [4, -1, 6, 3, 2, 4, -1, 0, 2, -1, -1, 1, 3, 5] == want.cat.codes.tolist()
    assert got.categories.dtype == "str" and got.codes.dtype == want.cat.codes.dtype == np.int8
    assert text_categorical(arrays, most=6) is None and text_categorical(arrays, most=7) is not None
    none = text_categorical([pa.nulls(3, pa.large_string())])
    assert len(none.categories) == 0 and none.codes.tolist() == [-1, -1, -1] and none.categories.dtype == "str"
    assert len(text_categorical([]).codes) == 0


def test_text_categorical_code_type_at_the_boundaries_one_array_or_split():
    import pyarrow as pa

    from cdiscflow.core.frames import text_categorical

    for distinct, kind in ((126, np.int8), (127, np.int16), (32766, np.int16), (32767, np.int32)):
        values = [f"v{i:05d}" for i in range(distinct)]
        col = pd.Series([*values[::-1], None, *values], dtype="str")
        want = col.astype("category")
        halves = [pa.array(col.iloc[:distinct].array), pa.array(col.iloc[distinct:].astype("category").array)]
        for got in (text_categorical([pa.array(col.array)]), text_categorical(halves)):
            assert got.codes.dtype == kind == want.cat.codes.dtype
            assert got.codes.tolist() == want.cat.codes.tolist() and got.categories.equals(want.cat.categories)
            assert got.codes[distinct] == -1 and got.codes[-1] == distinct - 1
