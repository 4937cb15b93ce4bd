"""Spec-generated pandera schemas: one planted defect per schema check, asserted as a finding (rule, subject, value)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from cdiscflow.validation import SCHEMA_CHECKS, build_schema, validate_datasets
from cdiscflow.validation.metadata import IG, ig_dataset, plan_dataset
from cdiscflow.validation.schema import validate_frame

S1, S2 = "VALTEST-001", "VALTEST-002"


def _run(datasets, spec=None) -> pd.DataFrame:
    return validate_datasets(datasets, spec).frame()


def _only(frame: pd.DataFrame, rule_id: str) -> pd.DataFrame:
    return frame[frame["rule_id"] == rule_id].reset_index(drop=True)


def test_clean_study_datasets_give_no_findings(clean, spec, define):
    frame = validate_datasets(clean, spec, define=define).frame()
    assert frame.empty, frame.to_string()


def test_schema_is_generated_from_the_spec(spec):
    schema = build_schema(spec.dataset("AE"), spec.codelists)
    assert isinstance(schema, pa.DataFrameSchema)
    assert list(schema.columns)[:5] == ["STUDYID", "DOMAIN", "USUBJID", "AESEQ", "AETERM"]
    assert schema.ordered and schema.strict
    assert schema.unique == ["STUDYID", "USUBJID", "AEDECOD", "AESTDTC"]
    aeterm, aeser, aesev = schema.columns["AETERM"], schema.columns["AESER"], schema.columns["AESEV"]
    assert (aeterm.required, aeterm.nullable) == (True, False)  # Req
    assert (aeser.required, aeser.nullable) == (True, True)  # Exp
    assert (schema.columns["AESEV"].required, aesev.nullable) == (False, True)  # Perm
    assert aeterm.title == "Reported Term for the Adverse Event"  # label filled from SDTMIG 3.4
    assert [c.name for c in aesev.checks] == ["SCH-TYPE-001", "SCH-LEN-001", "SCH-CT-001"]
    assert [c.name for c in schema.columns["AESTDTC"].checks][-2:] == ["SCH-DTC-001", "SCH-DTC-002"]
    assert [c.name for c in schema.columns["AEDUR"].checks][-1] == "SCH-DUR-001"
    assert [c.name for c in schema.columns["AESEQ"].checks][-1] == "SCH-INT-001"


def test_required_variable_missing(clean, spec):
    clean["AE"] = clean["AE"].drop(columns="AETERM")
    f = _only(_run(clean, spec), "SCH-COL-001")
    assert f[["severity", "dataset", "variable"]].values.tolist() == [["error", "AE", "AETERM"]]


def test_expected_variable_missing(clean, spec):
    clean["DM"] = clean["DM"].drop(columns="RFSTDTC")
    f = _only(_run(clean, spec), "SCH-COL-002")
    assert f[["severity", "dataset", "variable"]].values.tolist() == [["warning", "DM", "RFSTDTC"]]


def test_undeclared_variable_is_an_error_with_a_spec_and_a_note_against_the_ig(clean, spec):
    clean["AE"]["AEXTRA"] = "x"
    f = _only(_run(clean, spec), "SCH-COL-003")
    assert f[["severity", "variable"]].values.tolist() == [["error", "AEXTRA"]]
    g = _only(_run({"AE": clean["AE"]}), "SCH-COL-003")
    assert g[["severity", "variable"]].values.tolist() == [["note", "AEXTRA"]]
    assert "supplemental qualifier" in g.loc[0, "message"]


def test_variables_out_of_order(clean, spec):
    dm = clean["DM"]
    clean["DM"] = dm[["STUDYID", "DOMAIN", "USUBJID", "SUBJID", "SEX"] + [c for c in dm.columns if c not in
                                                                            ("STUDYID", "DOMAIN", "USUBJID", "SUBJID",
                                                                             "SEX")]]
    f = _only(_run(clean, spec), "SCH-COL-004")
    assert f["severity"].unique().tolist() == ["warning"]
    assert "SEX" in f["variable"].tolist()


def test_wrong_type(clean, spec):
    clean["DM"]["AGE"] = clean["DM"]["AGE"].astype(str)
    f = _only(_run(clean, spec), "SCH-TYPE-001")
    assert f[["dataset", "variable", "expected"]].values.tolist() == [["DM", "AGE", "Num"]]
    assert f.loc[0, "value"].startswith("Char")


def test_required_value_missing(clean, spec):
    clean["AE"].loc[1, "AEDECOD"] = np.nan
    f = _only(_run(clean, spec), "SCH-NULL-001")
    assert f[["dataset", "variable", "subject", "row"]].values.tolist() == [["AE", "AEDECOD", S1, 2]]


def test_value_not_in_non_extensible_codelist_is_an_error(clean, spec):
    clean["AE"].loc[2, "AESEV"] = "mild"
    f = _only(_run(clean, spec), "SCH-CT-001")
    assert f[["severity", "variable", "subject", "row", "value"]].values.tolist() == [
        ["error", "AESEV", S2, 3, "mild"]]
    assert f.loc[0, "expected"] == "MILD | MODERATE | SEVERE"
    assert "C66769" in f.loc[0, "message"]


def test_new_term_in_extensible_codelist_is_a_warning(clean, spec):
    clean["EX"].loc[0, "EPOCH"] = "INDUCTION"
    f = _only(_run(clean, spec), "SCH-CT-002")
    assert f[["severity", "dataset", "variable", "subject", "row", "value"]].values.tolist() == [
        ["warning", "EX", "EPOCH", S1, 1, "INDUCTION"]]


def test_byte_length_counts_utf8_bytes(clean, spec):
    clean["DM"].loc[0, "SITEID"] = "1é1"  # 3 characters, 4 bytes; SITEID length 3
    clean["DM"].loc[1, "SITEID"] = "111"
    f = _only(_run(clean, spec), "SCH-LEN-001")
    assert f[["variable", "subject", "value", "expected"]].values.tolist() == [["SITEID", S1, "1é1", "<= 3 bytes"]]


def test_text_over_200_bytes_without_a_spec_length(clean):
    clean["AE"].loc[0, "AETERM"] = "X" * 201
    f = _only(_run({"AE": clean["AE"]}), "SCH-LEN-001")
    assert f[["variable", "row", "expected"]].values.tolist() == [["AETERM", 1, "<= 200 bytes"]]


@pytest.mark.slow
@pytest.mark.parametrize("bad", ["2020/01/15", "15-01-2020", "2020-1-15", "2020-01-", "2020-01-15T10"])
def test_date_not_iso8601(clean, spec, bad):
    if bad == "2020-01-15T10":  # hours alone are valid ISO 8601
        clean["AE"].loc[0, "AESTDTC"] = bad
        assert _only(_run(clean, spec), "SCH-DTC-001").empty
        return
    clean["AE"].loc[0, "AESTDTC"] = bad
    f = _only(_run(clean, spec), "SCH-DTC-001")
    assert f[["variable", "subject", "row", "value"]].values.tolist() == [["AESTDTC", S1, 1, bad]]


@pytest.mark.slow
@pytest.mark.parametrize("bad", ["2020-02-30", "2021-02-29", "2020-13", "2020-04-31T10:00", "2020-01-01T24:00"])
def test_date_that_does_not_exist(clean, spec, bad):
    clean["AE"].loc[2, "AESTDTC"] = bad
    f = _only(_run(clean, spec), "SCH-DTC-002")
    assert f[["variable", "subject", "row", "value"]].values.tolist() == [["AESTDTC", S2, 3, bad]]
    assert _only(_run(clean, spec), "SCH-DTC-001").empty


def test_partial_dates_with_unknown_parts_are_valid(clean, spec):
    clean["AE"].loc[2, "AESTDTC"] = "2020---15"
    clean["AE"].loc[2, "AEENDTC"] = "2020-02-29T-:30"
    assert _run(clean, spec).empty


def test_duration_not_iso8601(clean, spec):
    clean["AE"].loc[0, "AEDUR"] = "6 days"
    f = _only(_run(clean, spec), "SCH-DUR-001")
    assert f[["variable", "subject", "value"]].values.tolist() == [["AEDUR", S1, "6 days"]]


def test_integer_with_fraction(clean, spec):
    clean["EX"].loc[3, "EXSEQ"] = 2.5
    f = _only(_run(clean, spec), "SCH-INT-001")
    assert f[["variable", "subject", "row", "value"]].values.tolist() == [["EXSEQ", S2, 4, "2.5"]]


def test_duplicate_keys(clean, spec):
    clean["EX"].loc[1, "EXSTDTC"] = "2020-01-10"  # same STUDYID/USUBJID/EXTRT/EXSTDTC as row 1
    clean["EX"].loc[1, "EXENDTC"] = "2020-01-10"
    clean["EX"].loc[1, "EXSTDY"] = clean["EX"].loc[1, "EXENDY"] = 1.0
    frame = _run(clean, spec)
    f = _only(frame, "SCH-KEY-001")
    assert f[["dataset", "variable", "subject", "row"]].values.tolist() == [
        ["EX", "STUDYID, USUBJID, EXTRT, EXSTDTC", S1, 1], ["EX", "STUDYID, USUBJID, EXTRT, EXSTDTC", S1, 2]]
    assert f.loc[0, "value"] == f"VALTEST / {S1} / DARATUMUMAB / 2020-01-10"


def test_dataset_not_in_spec_is_checked_against_the_ig(clean, spec):
    vs = pd.DataFrame({"STUDYID": ["VALTEST"], "DOMAIN": ["VS"], "USUBJID": [S1], "VSSEQ": [1.0],
                       "VSTESTCD": ["WEIGHT"], "VSTEST": ["Weight"], "VSDTC": ["2020-01-32"]})
    clean["VS"] = vs
    frame = _run(clean, spec)
    assert _only(frame, "SCH-DATASET-001")[["severity", "dataset"]].values.tolist() == [["warning", "VS"]]
    dtc = _only(frame, "SCH-DTC-002")
    assert dtc[["dataset", "variable", "value"]].values.tolist() == [["VS", "VSDTC", "2020-01-32"]]
    assert "SDTMIG 3.4 VS" in dtc.loc[0, "source"]


def test_ig_metadata_for_third_party_data():
    ds = ig_dataset("AE", ["STUDYID", "USUBJID"])
    aesev = ds.variable("AESEV")
    assert (aesev.core, aesev.codelist) == ("Perm", "C66769")
    assert ds.variable("AESTDTC").datatype == "intervalDatetime"  # "ISO 8601 datetime or interval"
    plan = plan_dataset(ds, None, source=IG)
    assert plan.variable("AESEV").codelist.values == ("MILD", "MODERATE", "SEVERE")
    assert not plan.variable("AESEV").codelist.extensible
    # ADaM: the structure's required variables, placeholders matched against the data
    adsl = ig_dataset("ADSL", ["STUDYID", "USUBJID", "TRT01P", "TRTSDT"])
    names = [v.name for v in adsl.variables]
    assert {"SUBJID", "SITEID", "AGE", "SEX", "RACE", "ARM", "TRT01P"} <= set(names)
    assert adsl.variable("TRT01P").core == "Req" and adsl.keys == ("STUDYID", "USUBJID")
    assert ig_dataset("ADSL", ["STUDYID", "USUBJID"]).variable("TRT01P").core == "Req"  # reported as missing
    # SUPP-- datasets use SUPPQUAL and its natural key
    supp = ig_dataset("SUPPAE", ["STUDYID"])
    assert supp.keys == ("STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM")


def test_multiple_codelists_mean_their_union(clean):
    # SDTMIG lists three codelists for DSDECOD (C66727 NCOMPLT; C114118 PROTMLST; C150811 OTHEVENT)
    plan = plan_dataset(ig_dataset("DS", clean["DS"].columns), None, source=IG)
    values = set(plan.variable("DSDECOD").codelist.values)
    assert {"DEATH", "INFORMED CONSENT OBTAINED", "SITE TRANSFER"} <= values


def test_findings_carry_the_failing_subject_and_row_after_index_changes(clean, spec):
    ae = clean["AE"].copy()
    ae.index = [10, 20, 30]
    ae.loc[30, "AESEV"] = "BAD"
    f = validate_frame(ae, build_schema(spec.dataset("AE"), spec.codelists))
    assert f[["rule_id", "subject", "row"]].values.tolist() == [["SCH-CT-001", S2, 3]]


def test_every_schema_check_is_listed_by_validate_list_rules():
    from cdiscflow.validation.api import catalogue_text

    listed = catalogue_text().splitlines()
    for check in SCHEMA_CHECKS.values():
        line = next((ln for ln in listed if ln.split()[:1] == [check.id]), None)
        assert line is not None, f"{check.id} missing from `validate --list-rules`"
        assert check.title in line and check.severity in line
    # an undeclared variable is an error against a study spec, a note against the IG alone
    assert (SCHEMA_CHECKS["SCH-COL-003"].severity, SCHEMA_CHECKS["SCH-COL-003"].severity_for(IG)) == ("error", "note")


def test_every_dataset_of_the_embedded_study_gets_a_schema():
    from cdiscflow.specs.load import load_study

    spec = load_study()
    schemas = {name: build_schema(ds, spec.codelists) for name, ds in spec.datasets.items()}
    assert set(schemas) >= {"DM", "AE", "EX", "RS", "DS", "TS", "ADSL", "ADRS", "ADTTE", "ADAE"}
    # keys as SDTMIG 3.4 / ADaMIG 1.3 and the study's define.xml state them (checked by hand)
    assert schemas["DM"].unique == ["STUDYID", "USUBJID"]
    assert schemas["ADSL"].unique == ["STUDYID", "USUBJID"]
    assert schemas["ADTTE"].unique == ["STUDYID", "USUBJID", "PARAMCD"]  # one record per subject and parameter
    assert list(schemas["DM"].columns)[:4] == ["STUDYID", "DOMAIN", "USUBJID", "SUBJID"]
    assert list(schemas["ADSL"].columns)[:3] == ["STUDYID", "USUBJID", "SUBJID"]
