"""The xportr-style step chain: every breach of the spec or the FDA limits reported at once, both sides shown."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdiscflow.core.findings import Findings
from cdiscflow.export import write_datasets
from cdiscflow.export.prepare import prepare_dataset


def _prepare(frame, xspec, name):
    findings = Findings()
    prep = prepare_dataset(frame, xspec.dataset(name), findings)
    return prep, findings.frame()


def test_clean_dataset_passes_and_lengths_are_the_longest_value(frames, xspec):
    prep, found = _prepare(frames["AE"], xspec, "AE")
    assert not prep.blocked and found.empty
    lengths = {c.name: c.length for c in prep.meta.columns}
    # "Infusion related reaction" is the longest AETERM: 25 bytes; spec declares no length
    assert lengths["AETERM"] == 25 and lengths["AESEV"] == len("MODERATE") and lengths["USUBJID"] == 11
    assert lengths["AESEQ"] == 8
    assert [c.key_sequence for c in prep.meta.columns if c.key_sequence] == [1, 2, 3, 4]


def test_a_text_column_in_several_arrow_chunks_is_measured_like_one(frames, xspec):
    # a frame concatenated from several (a batch or a partitioned run) holds its text in several Arrow chunks
    ae = frames["AE"]
    ae["AETERM"] = pd.concat([ae["AETERM"].iloc[:1], ae["AETERM"].iloc[1:]], ignore_index=True)
    assert ae["AETERM"].array._pa_array.num_chunks == 2
    prep, found = _prepare(ae, xspec, "AE")
    assert not prep.blocked and found.empty
    assert {c.name: c.length for c in prep.meta.columns}["AETERM"] == 25  # "Infusion related reaction"


def test_non_ascii_value_names_subject_variable_and_value(frames, xspec):
    ae = frames["AE"]
    ae.loc[2, "AETERM"] = "Anémie"
    prep, found = _prepare(ae, xspec, "AE")
    assert prep.blocked
    hit = found[found.rule_id == "XPT-ASCII"]
    assert len(hit) == 1
    row = hit.iloc[0]
    assert (row.severity, row.dataset, row.variable, row.subject, row.row, row.value) == \
        ("error", "AE", "AETERM", "XPTTEST-002", 3, "Anémie")
    assert row.message == "AETERM: non-ASCII character 'é' U+00E9; XPT v5 values must be ASCII"


def test_value_over_200_bytes_is_an_error_naming_the_subject(frames, xspec):
    ae = frames["AE"]
    long_term = "Grade 3 infusion related reaction with bronchospasm, " * 4  # 212 characters
    ae.loc[0, "AETERM"] = long_term
    ae.loc[3, "AETERM"] = "é" * 101  # 101 characters but 202 bytes in UTF-8
    prep, found = _prepare(ae, xspec, "AE")
    hit = found[found.rule_id == "XPT-VALUE-200"].sort_values("row")
    assert hit.subject.tolist() == ["XPTTEST-001", "XPTTEST-003"]
    assert hit.row.tolist() == [1, 4]
    assert hit.message.tolist() == [
        "AETERM: value is 212 bytes; XPT character values hold at most 200",
        "AETERM: value is 202 bytes; XPT character values hold at most 200",
    ]
    assert hit.value.iloc[0] == long_term[:60] + "..."
    assert prep.blocked


def test_type_breach_shows_both_sides(frames, xspec):
    ae = frames["AE"]
    ae["AESEV"] = [1.0, 2.0, np.nan, 3.0]
    ae["AESTDY"] = pd.Series(["1", "x", None, "3"], dtype="str")
    prep, found = _prepare(ae, xspec, "AE")
    messages = found[found.rule_id == "XPT-TYPE"].message.tolist()
    assert "AESEV: type in data numeric, type in spec text" in messages
    assert "AESTDY: type in data text, type in spec integer" in messages
    assert prep.blocked


def test_spec_length_and_integer_breaches(frames, xspec):
    dm = frames["DM"]
    dm.loc[1, "SEX"] = "MALE"  # spec length 1
    dm.loc[0, "AGE"] = 63.5  # spec datatype integer
    prep, found = _prepare(dm, xspec, "DM")
    length = found[found.rule_id == "XPT-LENGTH"].iloc[0]
    assert (length.subject, length.variable, length.value, length.message) == \
        ("XPTTEST-002", "SEX", "MALE", "SEX: value is 4 bytes, length in spec 1")
    integer = found[found.rule_id == "XPT-INTEGER"].iloc[0]
    assert (integer.subject, integer.value) == ("XPTTEST-001", "63.5")


def test_all_breaches_reported_at_once(frames, xspec):
    dm = frames["DM"]
    dm["EXTRA"] = 1.0
    dm = dm.drop(columns=["SITEID", "RACE"])  # SITEID is Req, RACE Exp
    dm.loc[2, "SUBJID"] = "003\tB"
    prep, found = _prepare(dm, xspec, "DM")
    got = sorted(zip(found.severity, found.rule_id, found.variable))
    assert got == [
        ("error", "XPT-VAR-MISSING", "RACE"),
        ("error", "XPT-VAR-MISSING", "SITEID"),
        ("error", "XPT-VAR-NOT-IN-SPEC", "EXTRA"),
        ("warning", "XPT-CONTROL", "SUBJID"),
    ]
    assert prep.blocked


def test_permissible_variable_may_be_left_out_and_order_follows_spec(frames, xspec):
    ae = frames["AE"].drop(columns=["AESTDY"])  # Perm
    ae = ae[list(reversed(ae.columns))]
    prep, found = _prepare(ae, xspec, "AE")
    assert not prep.blocked
    assert list(prep.frame.columns) == [v.name for v in xspec.dataset("AE").variables if v.name != "AESTDY"]
    assert set(zip(found.severity, found.rule_id)) == {("note", "XPT-VAR-OMITTED"), ("note", "XPT-ORDER")}


def test_dates_need_a_date_format_and_keep_the_date_only(frames, xspec):
    adsl = frames["ADSL"]
    adsl["HEIGHTBL"] = pd.to_datetime(["2016-01-01"] * 3)  # float in spec, no date format
    adsl.loc[0, "TRTSDT"] = pd.Timestamp("2016-07-05 10:00")
    prep, found = _prepare(adsl, xspec, "ADSL")
    types = found[found.rule_id == "XPT-TYPE"]
    assert types.message.tolist() == ["HEIGHTBL: type in data date/datetime, type in spec float (give a date "
                                      "format such as DATE9. or DATETIME20. in variables.csv)"]
    warn = found[found.rule_id == "XPT-DATE-TIME"].iloc[0]
    assert (warn.severity, warn.subject, warn.variable) == ("warning", "XPTTEST-001", "TRTSDT")


def test_numbers_outside_the_xpt_range(frames, xspec):
    adtte = frames["ADTTE"]
    adtte.loc[1, "AVAL"] = np.inf
    adtte.loc[2, "AVAL"] = 1e-300
    _, found = _prepare(adtte, xspec, "ADTTE")
    got = found[found.rule_id == "XPT-NUMBER"].sort_values("row")
    assert got.severity.tolist() == ["error", "warning"] and got.row.tolist() == [2, 3]


def test_blocked_dataset_is_not_written_and_others_are(frames, xspec, tmp_path):
    frames["AE"].loc[0, "AETERM"] = "Ünwohlsein"
    result = write_datasets(frames, xspec, tmp_path)
    assert result.blocked == ["AE"]
    assert not (tmp_path / "sdtm" / "ae.xpt").exists() and not (tmp_path / "sdtm" / "ae.json").exists()
    assert (tmp_path / "sdtm" / "dm.xpt").exists()
    assert "IG.AE" not in (tmp_path / "sdtm" / "define.xml").read_text()
    found = result.findings.frame()
    assert set(found.rule_id) == {"XPT-ASCII", "XPT-NOT-WRITTEN"}
    assert not result.ok


def test_dataset_not_in_spec_is_reported(frames, xspec, tmp_path):
    result = write_datasets({"LB": frames["DM"]}, xspec, tmp_path)
    assert result.blocked == ["LB"]
    assert result.findings.frame().message.tolist() == [
        "LB is not declared in datasets.csv of study XPTTEST; not written"]


def test_categorical_text_is_accepted(frames, xspec):
    ae = frames["AE"]
    ae["AESEV"] = ae["AESEV"].astype("category")
    prep, found = _prepare(ae, xspec, "AE")
    assert not prep.blocked and found.empty
    assert prep.frame["AESEV"].tolist()[:2] == ["MILD", "MODERATE"]


def test_duplicate_columns_are_reported_not_crashed_on(frames, xspec):
    dm = frames["DM"]
    dm = pd.concat([dm, dm[["SEX"]]], axis=1)
    prep, found = _prepare(dm, xspec, "DM")
    assert prep.blocked
    assert found[["rule_id", "variable", "message"]].values.tolist() == [
        ["XPT-VAR-DUPLICATE", "SEX", "SEX: column appears more than once in the data"]]


def test_compacted_text_is_judged_by_the_values_in_the_data(frames, xspec):
    """A categorical's unused categories (left by filtering) break nothing; a used one that breaks a limit is
    reported on each of its rows, and the length written is the longest value in the data."""
    ae = frames["AE"]
    term = ae["AETERM"].astype("category")
    ae["AETERM"] = term.cat.add_categories(["é" * 150, "tab\there"])  # unused: 300 bytes, non-ASCII, control
    ae["AESEV"] = ae["AESEV"].astype("category").cat.add_categories(["VERY VERY SEVERE INDEED"])
    prep, found = _prepare(ae, xspec, "AE")
    assert not prep.blocked and found.empty
    assert {c.name: c.length for c in prep.meta.columns}["AETERM"] == 25
    assert {c.name: c.length for c in prep.meta.columns}["AESEV"] == len("MODERATE")
    ae.loc[[1, 3], "AETERM"] = "tab\there"
    prep, found = _prepare(ae, xspec, "AE")
    hit = found[found.rule_id == "XPT-CONTROL"]
    assert hit.row.tolist() == [2, 4] and set(hit.value) == {"tab\there"} and not prep.blocked
