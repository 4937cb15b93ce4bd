"""The conformance rule catalogue: one planted defect per rule, asserted as findings (rule ID, subject, row, value).

Every registered rule has a case here (a rule that cannot fire is a bug); the clean VALTEST datasets give none.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import numpy as np
import pandas as pd
import pytest

from cdiscflow.validation import RULES, run_validation, validate_datasets
from cdiscflow.validation.define import DefineCodelist
from cdiscflow.validation.rulebook import Rule, RuleContext
from cdiscflow.validation.rules import catalogue, run_rules

S1, S2, S3 = "VALTEST-001", "VALTEST-002", "VALTEST-003"
NA = np.nan


def _set(frame: pd.DataFrame, row: int, **values) -> None:
    for k, v in values.items():
        frame.loc[row, k] = v


def _drop_define_dataset(define, name):
    return replace(define, datasets=MappingProxyType({k: v for k, v in define.datasets.items() if k != name}))


def _narrow_define_codelist(define, oid, values):
    cl = define.codelists[oid]
    codelists = dict(define.codelists)
    codelists[oid] = DefineCodelist(cl.oid, cl.name, cl.datatype, frozenset(values))
    return replace(define, codelists=MappingProxyType(codelists))


def _dup_adsl(d):
    d["ADSL"] = pd.concat([d["ADSL"], d["ADSL"].iloc[[0]]], ignore_index=True)


# rule -> (plant the defect in datasets d / define x, returning the define to use, expected (dataset, subject, row, value))
CASES = {
    "CF-SUBJ-001": (lambda d, x: _set(d["AE"], 2, USUBJID="VALTEST-999"), [("AE", "VALTEST-999", 3, "VALTEST-999")]),
    "CF-SEQ-001": (lambda d, x: _set(d["EX"], 1, EXSEQ=1.0), [("EX", S1, 1, "1.0"), ("EX", S1, 2, "1.0")]),
    "CF-DTC-001": (lambda d, x: _set(d["AE"], 0, AEENDTC="2020-01-14", AEENDY=5.0),
                   [("AE", S1, 1, "2020-01-15 > 2020-01-14")]),
    "CF-DY-001": (lambda d, x: _set(d["AE"], 0, AESTDY=7.0), [("AE", S1, 1, "7.0")]),
    "CF-DY-002": (lambda d, x: _set(d["AE"], 2, AESTDY=1.0), [("AE", S2, 3, "1.0")]),
    "CF-EPOCH-001": (lambda d, x: _set(d["AE"], 0, EPOCH="WASHOUT"), [("AE", S1, 1, "WASHOUT")]),
    "CF-ARM-001": (lambda d, x: _set(d["DM"], 1, ARM="Placebo"), [("DM", S2, 2, "A / Placebo")]),
    "CF-ARM-002": (lambda d, x: _set(d["DM"], 1, ACTARMCD="B"), [("DM", S2, 2, "B / Daratumumab")]),
    "CF-TE-001": (lambda d, x: _set(d["TA"], 1, ETCD="DARA2"), [("TA", "", 2, "DARA2")]),
    "CF-DTH-001": (lambda d, x: _set(d["DM"], 1, DTHDTC="2020-09-15"), [("DM", S2, 2, "")]),
    "CF-DTH-002": (lambda d, x: _set(d["DM"], 1, DTHFL="N"), [("DM", S2, 2, "N")]),
    "CF-DTH-003": (lambda d, x: _set(d["DS"], 1, DSDECOD="DEATH", DSTERM="DIED"), [("DM", S2, 2, "")]),
    "CF-DTH-004": (lambda d, x: _set(d["DS"], 0, DSDECOD="COMPLETED", DSTERM="COMPLETED"), [("DM", S1, 1, "Y")]),
    "CF-DTH-005": (lambda d, x: _set(d["DM"], 0, DTHDTC=NA), [("DM", S1, 1, "")]),
    "CF-DTH-006": (lambda d, x: _set(d["AE"], 2, AEOUT="FATAL"), [("DM", S2, 2, "")]),
    "CF-DTH-007": (lambda d, x: _set(d["DS"], 0, DSSTDTC="2020-06-29", DSSTDY=172.0), [("DS", S1, 1, "2020-06-29")]),
    "CF-AE-001": (lambda d, x: _set(d["AE"], 1, AESDTH="N", AESHOSP="N"), [("AE", S1, 2, "Y")]),
    "CF-AE-002": (lambda d, x: _set(d["AE"], 0, AESHOSP="Y"), [("AE", S1, 1, "N")]),
    "CF-RS-001": (lambda d, x: _set(d["RS"], 2, RSORRES="NON-CR/NON-PD", RSSTRESC="NON-CR/NON-PD"),
                  [("RS", S2, 3, "NON-CR/NON-PD")]),
    "CF-RS-002": (lambda d, x: d["RS"].__setitem__("RSCAT", "IMWG"), [("RS", "", 1, "RSCAT=IMWG RSTESTCD=OVRLRESP")]),
    "CF-EX-001": (lambda d, x: _set(d["EX"], 3, EXENDTC="2020-04-21", EXENDY=79.0),
                  [("EX", S2, 4, "2020-04-20T10:30..2020-04-21")]),
    "CF-EX-002": (lambda d, x: _set(d["DM"], 0, RFXSTDTC="2020-01-09"), [("DM", S1, 1, "2020-01-09")]),
    "CF-ADSL-001": (lambda d, x: _dup_adsl(d), [("ADSL", S1, 1, S1), ("ADSL", S1, 3, S1)]),
    "CF-ADSL-002": (lambda d, x: _set(d["ADSL"], 1, USUBJID="VALTEST-009"), [("ADSL", "VALTEST-009", 2, "VALTEST-009")]),
    "CF-SUBJ-002": (lambda d, x: _set(d["ADTTE"], 0, USUBJID=S3), [("ADTTE", S3, 1, S3)]),
    "CF-ADTTE-001": (lambda d, x: _set(d["ADTTE"], 1, ADT=pd.Timestamp("2020-01-01"), AVAL=-32.0),
                     [("ADTTE", S2, 2, "2020-01-01")]),
    "CF-ADTTE-002": (lambda d, x: _set(d["ADTTE"], 1, CNSR=-1.0), [("ADTTE", S2, 2, "-1.0")]),
    "CF-ADTTE-003": (lambda d, x: _set(d["ADTTE"], 1, EVNTDESC="DEATH"), [("ADTTE", S1, 1, "DEATH"),
                                                                           ("ADTTE", S2, 2, "DEATH")]),
    "CF-ADTTE-004": (lambda d, x: _set(d["ADTTE"], 0, CNSDTDSC="DATE OF DEATH"), [("ADTTE", S1, 1, "DATE OF DEATH")]),
    "CF-ADTTE-005": (lambda d, x: _set(d["ADTTE"], 2, AVAL=59.0), [("ADTTE", S1, 3, "59.0")]),
    "CF-ADRS-001": (lambda d, x: _set(d["ADRS"], 2, AVALC="CR"), [("ADRS", S1, 3, "CR")]),
    "CF-DEF-001": (lambda d, x: _drop_define_dataset(x, "TE"), [("TE", "", None, "TE")]),
    "CF-DEF-002": (lambda d, x: d["AE"].__setitem__("AEXTRA", "x"), [("AE", "", None, "AEXTRA")]),
    "CF-DEF-003": (lambda d, x: d.__setitem__("AE", d["AE"].drop(columns="AEDUR")), [("AE", "", None, "")]),
    "CF-DEF-004": (lambda d, x: _narrow_define_codelist(x, "CL.SEX", {"F"}), [("ADSL", S1, 1, "M"), ("DM", S1, 1, "M")]),
}


def _plant(rule_id, clean, define):
    plant, expected = CASES[rule_id]
    got = plant(clean, define)
    return (got if got is not None and hasattr(got, "datasets") else define), expected


@pytest.mark.slow
@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_planted_defect_fires_its_rule(rule_id, clean, spec, define):
    define, expected = _plant(rule_id, clean, define)
    frame = validate_datasets(clean, spec, define=define).frame()
    hits = frame[frame["rule_id"] == rule_id]
    got = [(r.dataset, r.subject, None if pd.isna(r.row) else int(r.row), r.value) for r in hits.itertuples()]
    assert got == expected, hits.to_string()
    assert set(hits["severity"]) == {RULES[rule_id].severity}
    assert hits["message"].str.len().gt(10).all()


def test_every_rule_has_a_planted_defect():
    assert set(RULES) == set(CASES)


def test_clean_datasets_give_no_rule_findings_and_every_rule_runs(clean, spec, define):
    result = run_validation(clean, spec, define=define)
    assert result.findings.frame().empty
    assert {r.rule.id: r.status for r in result.rule_runs} == {rid: "ran" for rid in RULES}


@pytest.mark.slow
def test_expected_values_in_findings(clean, spec, define):
    _set(clean["AE"], 0, AESTDY=7.0)
    _set(clean["EX"], 0, EXSTDY=0.0, EXENDY=1.0)  # day 0 does not exist
    frame = validate_datasets(clean, spec).frame()
    dy = frame[frame["rule_id"] == "CF-DY-001"]
    assert dy[["dataset", "variable", "value", "expected"]].values.tolist() == [
        ["AE", "AESTDY", "7.0", "6"], ["EX", "EXSTDY", "0.0", "1"]]
    _set(clean["ADRS"], 2, AVALC="CR")
    adrs = validate_datasets(clean, spec).frame().query("rule_id == 'CF-ADRS-001'")
    assert adrs["expected"].tolist() == ["no better than PR (best OVR)"]


def test_start_after_end_with_partial_dates(clean, spec):
    _set(clean["AE"], 2, AESTDTC="2020-03", AEENDTC="2020-02-28")  # March is after any day of February
    _set(clean["AE"], 0, AEENDTC="2020-01")  # same month as the start: cannot be ordered, no finding
    _set(clean["AE"], 0, AEENDY=NA)
    frame = validate_datasets(clean, spec).frame()
    hits = frame[frame["rule_id"] == "CF-DTC-001"]
    assert hits[["subject", "row", "value"]].values.tolist() == [[S2, 3, "2020-03 > 2020-02-28"]]


def test_response_criteria_from_the_standards_table_without_a_spec(clean):
    rs = clean["RS"]
    _set(rs, 0, RSCAT="RECIST 1.1", RSSTRESC="VGPR", RSORRES="VGPR")  # VGPR is not a RECIST 1.1 result
    frame = validate_datasets({"RS": rs}).frame()
    hits = frame[frame["rule_id"] == "CF-RS-001"]
    assert hits[["subject", "row", "value", "expected"]].values.tolist() == [
        [S1, 1, "VGPR", "CR | NE | NON-CR/NON-PD | PD | PR | SD"]]
    assert "response-criteria.csv" in hits["message"].iloc[0]


def test_rules_skip_cleanly_when_their_datasets_are_absent(clean):
    result = run_validation({"AE": clean["AE"]})
    runs = {r.rule.id: r for r in result.rule_runs}
    assert runs["CF-SUBJ-001"].status == "skipped" and runs["CF-SUBJ-001"].reason == "needs DM.USUBJID"
    assert runs["CF-ADTTE-001"].reason == "no ADaM time-to-event datasets (with CNSR)"
    assert runs["CF-DEF-001"].reason == "needs define.xml"
    assert runs["CF-AE-001"].status == "ran" and runs["CF-SEQ-001"].status == "ran"
    assert not any(r.status == "failed" for r in result.rule_runs)


def test_a_rule_that_raises_is_reported_not_swallowed(clean):
    def broken(ctx, targets):
        raise KeyError("XYZ")
        yield  # pragma: no cover

    rule = Rule("CF-TEST-999", "error", "test rule", ("AE",), broken)
    found, runs = run_rules(RuleContext({"AE": clean["AE"]}), [rule])
    assert found[["rule_id", "value"]].values.tolist() == [["CF-ERR-001", "CF-TEST-999"]]
    assert "KeyError" in found["message"].iloc[0]
    assert runs[0].status == "failed"


def test_catalogue_lists_every_rule_with_what_it_reads():
    table = catalogue()
    assert len(table) == len(RULES)
    row = table.set_index("rule_id").loc["CF-EPOCH-001"]
    assert row["reads"] == "TA; SDTM datasets with EPOCH"
    assert "CORE-000271" in row["references"]


@pytest.mark.slow
def test_rules_do_not_fail_on_missing_values_or_absent_optional_variables(clean, spec):
    ids = {"STUDYID", "DOMAIN", "USUBJID"}
    empty = {name: df.assign(**{c: np.nan for c in df.columns if c not in ids}) for name, df in clean.items()}
    bare = {name: df[[c for c in df.columns if c in ids]] for name, df in clean.items()}
    for datasets in (empty, bare):
        result = run_validation(datasets, spec)
        failed = [(r.rule.id, r.reason) for r in result.rule_runs if r.status == "failed"]
        assert failed == []
        assert not (result.findings.frame()["rule_id"].isin(["CF-ERR-001", "SCH-ERR-001"])).any()


def test_a_dataset_without_its_key_variables(clean, spec):
    clean["DM"] = clean["DM"].drop(columns="USUBJID")
    result = run_validation(clean, spec)
    frame = result.findings.frame()
    # reported once, as missing; no false duplicates on the remaining key, no rule tripping over it
    assert frame[["rule_id", "dataset", "variable"]].values.tolist() == [["SCH-COL-001", "DM", "USUBJID"]]
    runs = {r.rule.id: r for r in result.rule_runs}
    assert runs["CF-DY-001"].reason == "needs DM.USUBJID" and runs["CF-SUBJ-001"].status == "skipped"
