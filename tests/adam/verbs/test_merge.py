"""derive_vars_merged and combine_supp: first/last by order, filters, renames, flags, collisions, SUPP--."""

from __future__ import annotations

import pandas as pd
import pytest

from cdiscflow.adam import combine_supp, derive_vars_merged
from cdiscflow.core.errors import InputError


@pytest.fixture
def adsl() -> pd.DataFrame:
    return pd.DataFrame({"STUDYID": "S", "USUBJID": ["03", "01", "02"], "AGE": [70, 50, 60]}, index=[10, 11, 12])


@pytest.fixture
def ex() -> pd.DataFrame:
    return pd.DataFrame({
        "STUDYID": "S",
        "USUBJID": ["01", "01", "01", "02"],
        "EXSEQ": [1, 2, 3, 1],
        "EXDOSE": [0.0, 16.0, 16.0, 0.0],
        "EXSTDT": pd.to_datetime(["2020-01-01", "2020-01-08", "2020-02-05", "2020-03-01"]),
    })


def test_first_and_last_dose_with_filter(adsl, ex):
    out = derive_vars_merged(adsl, dataset_add=ex, filter_add="EXDOSE > 0", order=("EXSTDT", "EXSEQ"),
                             mode="first", new_vars={"TRTSDT": "EXSTDT"})
    out = derive_vars_merged(out, dataset_add=ex, filter_add="EXDOSE > 0", order=("EXSTDT", "EXSEQ"),
                             mode="last", new_vars={"TRTEDT": "EXSTDT"}, exist_flag="SAFFL", false_value="N")
    # caller's row order and index are kept; the zero dose of 01 and the only (zero) dose of 02 do not count
    assert out.index.tolist() == [10, 11, 12]
    assert out["USUBJID"].tolist() == ["03", "01", "02"]
    assert out["TRTSDT"].tolist()[1] == pd.Timestamp("2020-01-08")
    assert out["TRTEDT"].tolist()[1] == pd.Timestamp("2020-02-05")
    assert out["TRTSDT"].isna().tolist() == [True, False, True]
    assert out["SAFFL"].tolist() == ["N", "Y", "N"]
    assert "TRTSDT" not in adsl.columns  # the input is not changed


def test_missing_values_only_for_unmatched_rows(adsl, ex):
    out = derive_vars_merged(adsl, dataset_add=ex, order=("EXSEQ",), mode="last", new_vars=("EXDOSE",),
                             missing_values={"EXDOSE": -1.0})
    assert out["EXDOSE"].tolist() == [-1.0, 16.0, 0.0]


def test_colliding_columns_stop_with_a_fix(adsl, ex):
    with pytest.raises(InputError) as exc:
        derive_vars_merged(adsl, dataset_add=ex.assign(AGE=1), order=("EXSEQ",), new_vars=("AGE", "EXDOSE"))
    assert str(exc.value) == ("derive_vars_merged: dataset already has AGE; drop them first or give new names "
                              "(new_vars={'NEWNAME': 'AGE'})")


def test_duplicates_without_order_are_an_error(adsl, ex):
    with pytest.raises(InputError, match=r"dataset_add has 3 records that are not unique by STUDYID, USUBJID "
                                         r"\(e.g. STUDYID=S, USUBJID=01\). Give order= and mode="):
        derive_vars_merged(adsl, dataset_add=ex, new_vars=("EXDOSE",))


def test_by_vars_with_different_names(adsl):
    add = pd.DataFrame({"STUDYID": "S", "SUBJ": ["01"], "WEIGHT": [80.0]})
    out = derive_vars_merged(adsl, dataset_add=add, by_vars={"STUDYID": "STUDYID", "USUBJID": "SUBJ"})
    assert out["WEIGHT"].isna().tolist() == [True, False, True]


def test_combine_supp_by_seq_and_subject():
    rs = pd.DataFrame({"STUDYID": "S", "USUBJID": ["01", "01", "02"], "RSSEQ": [1, 2, 1],
                       "RSSTRESC": ["PR", "PD", "SD"]})
    supp = pd.DataFrame({
        "STUDYID": "S", "RDOMAIN": "RS", "USUBJID": ["01", "01", "02"],
        "IDVAR": ["RSSEQ", "RSSEQ", None], "IDVARVAL": ["2", "2", None],
        "QNAM": ["PDIFL", "DTHPDFL", "NACTDT"], "QVAL": ["Y", "Y", "2020-05-01"],
    })
    out = combine_supp(rs, supp)
    assert out["PDIFL"].tolist()[1] == "Y" and out["PDIFL"].isna().tolist() == [True, False, True]
    assert out["NACTDT"].tolist()[2] == "2020-05-01" and out["NACTDT"].isna().tolist()[:2] == [True, True]
    with pytest.raises(InputError, match="match no rs record"):
        combine_supp(rs, supp.assign(IDVARVAL=["9", "9", None]), dataset_name="rs")
    # the pipeline's compacted frames (text categoricals) against plain-text SUPP--: the same qualifiers, the same
    # orphan error (joined by row indexer, compared as text)
    compacted = rs.astype({"STUDYID": "category", "USUBJID": "category"})
    pd.testing.assert_frame_equal(combine_supp(compacted, supp).astype({"STUDYID": "str", "USUBJID": "str"}),
                                  out.astype({"STUDYID": "str", "USUBJID": "str"}))
    with pytest.raises(InputError, match=r"1 qualifier record group\(s\) with IDVAR 'RSSEQ' match no rs record"):
        combine_supp(compacted, supp.assign(IDVARVAL=["9", "9", None]), dataset_name="rs")


def test_combine_supp_stops_when_a_record_gets_two_values_of_one_qualifier():
    # a blank IDVAR qualifies the whole subject: two such records of one QNAM (other IDVARVALs, so not duplicates
    # by SUPP--'s keys) would give subject 01 two NACTDT values; the first version kept the last one silently
    rs = pd.DataFrame({"STUDYID": "S", "USUBJID": ["01", "02"], "RSSEQ": [1, 1]})
    supp = pd.DataFrame({"STUDYID": "S", "RDOMAIN": "RS", "USUBJID": ["01", "01", "02"], "IDVAR": None,
                         "IDVARVAL": ["1", "2", None], "QNAM": "NACTDT",
                         "QVAL": ["2020-05-01", "2020-06-01", "2020-07-01"]})
    with pytest.raises(InputError, match=r"supp: QNAM NACTDT has 2 values for the same rs record\(s\) "
                                         r"\(IDVAR '\(blank\)': matched on STUDYID, USUBJID\)"):
        combine_supp(rs, supp, dataset_name="rs")
    assert combine_supp(rs, supp.iloc[1:])["NACTDT"].tolist() == ["2020-06-01", "2020-07-01"]


def test_combine_supp_by_pandas_merge_when_keys_cannot_be_indexed(monkeypatch):
    # keys of differing non-text dtypes go through pandas' merge: the same qualifiers and the same orphan error as
    # the row indexer
    from cdiscflow.adam.verbs import merge

    rs = pd.DataFrame({"STUDYID": "S", "USUBJID": ["01", "01", "02"], "RSSEQ": [1, 2, 1]})
    supp = pd.DataFrame({"STUDYID": "S", "RDOMAIN": "RS", "USUBJID": ["01", "02"], "IDVAR": ["RSSEQ", None],
                         "IDVARVAL": ["2", None], "QNAM": ["PDIFL", "NACTDT"], "QVAL": ["Y", "2020-05-01"]})
    by_indexer = combine_supp(rs, supp)
    orphan = supp.assign(IDVARVAL=["9", None])
    with pytest.raises(InputError) as indexed_error:
        combine_supp(rs, orphan, dataset_name="rs")
    monkeypatch.setattr(merge, "_key_ids", lambda *args: None)
    pd.testing.assert_frame_equal(combine_supp(rs, supp), by_indexer)
    assert by_indexer["PDIFL"].tolist()[1] == "Y" and by_indexer["NACTDT"].tolist()[2] == "2020-05-01"
    with pytest.raises(InputError) as merged_error:
        combine_supp(rs, orphan, dataset_name="rs")
    assert str(merged_error.value) == str(indexed_error.value)


def test_combine_supp_of_a_compacted_supp_with_blank_idvars_and_unused_categories(monkeypatch):
    # the pipeline's SUPP-- frames are compacted (text categoricals, sorted categories): IDVAR, QNAM and QVAL are
    # read by code; a missing IDVAR (blank: by subject) is its own group, an unused QNAM category makes no variable,
    # a missing QVAL leaves the record's value missing; the same variables as from plain text, by pandas' merge too
    from cdiscflow.adam.verbs import merge
    from cdiscflow.core.frames import compact

    rs = pd.DataFrame({"STUDYID": "S", "USUBJID": ["01", "01", "02", "03"], "RSSEQ": [1.0, 2.0, 1.0, 1.0]},
                      index=[4, 5, 6, 7])
    supp = pd.DataFrame({
        "STUDYID": "S", "RDOMAIN": "RS", "USUBJID": ["01", "01", "02", "01", "03", "02", "01", "03"],
        "IDVAR": ["RSSEQ", "RSSEQ", None, "RSSEQ", None, None, "RSSEQ", "RSSEQ"],
        "IDVARVAL": ["2", "1", None, "2", None, None, "1", "1"],
        "QNAM": ["PDIFL", "PDIFL", "NACTDT", "DTHPDFL", "NACTDT", "CAUSE", "DTHPDFL", "PDIFL"],
        "QVAL": ["Y", "N", "2020-05-01", "Y", "2020-06-02", None, "Y", "Y"]}).astype("str")
    plain = combine_supp(rs, supp)
    assert plain.columns.tolist() == ["STUDYID", "USUBJID", "RSSEQ", "CAUSE", "DTHPDFL", "NACTDT", "PDIFL"]
    assert plain.index.tolist() == [4, 5, 6, 7]
    assert plain["PDIFL"].isna().tolist() == [False, False, True, False]
    assert plain["PDIFL"].dropna().tolist() == ["N", "Y", "Y"]
    assert plain["NACTDT"].isna().tolist() == [True, True, False, False]
    assert plain["NACTDT"].dropna().tolist() == ["2020-05-01", "2020-06-02"]
    assert plain["DTHPDFL"].tolist()[:2] == ["Y", "Y"] and plain["CAUSE"].isna().all()
    assert all(plain[q].dtype == "str" for q in ("CAUSE", "DTHPDFL", "NACTDT", "PDIFL"))
    compacted = compact(supp.copy(), share=1.0)
    assert all(isinstance(t, pd.CategoricalDtype) for t in compacted.dtypes)
    compacted["QNAM"] = compacted["QNAM"].cat.add_categories(["UNUSED"])
    pd.testing.assert_frame_equal(combine_supp(rs, compacted), plain)
    monkeypatch.setattr(merge, "_key_ids", lambda *args: None)  # pandas' merge: the same variables
    pd.testing.assert_frame_equal(combine_supp(rs, supp), plain)
    pd.testing.assert_frame_equal(combine_supp(rs, compacted), plain)


@pytest.mark.parametrize("qnam", [["X", None, "Y"], pd.Categorical(["X", None, "Y"])])
def test_combine_supp_by_pandas_merge_leaves_a_record_without_qnam_out_as_the_indexed_path_does(qnam):
    # a numeric USUBJID against a float one: pandas' merge; the record without QNAM qualifies nothing (it made a
    # column named NaN there, and raised KeyError with the first version of the coded join)
    ae = pd.DataFrame({"STUDYID": ["S"] * 3, "USUBJID": [1, 1, 2], "AESEQ": [1.0, 2.0, 1.0]})
    supp = pd.DataFrame({"STUDYID": ["S"] * 3, "USUBJID": [1.0, 1.0, 2.0], "IDVAR": ["AESEQ"] * 3,
                         "IDVARVAL": ["1", "2", "1"], "QNAM": qnam, "QVAL": ["a", "b", "c"]})
    out = combine_supp(ae, supp, dataset_name="AE", supp_name="SUPPAE")
    assert out.columns.tolist() == ["STUDYID", "USUBJID", "AESEQ", "X", "Y"]
    assert out["X"].tolist()[0] == "a" and out["X"].isna().tolist() == [False, True, True]
    assert out["Y"].isna().tolist() == [True, True, False] and out["Y"].iloc[2] == "c"
    with pytest.raises(InputError, match="SUPPAE"):  # its keys must still match a parent record
        combine_supp(ae, supp.assign(USUBJID=[1.0, 3.0, 2.0]), dataset_name="AE", supp_name="SUPPAE")
