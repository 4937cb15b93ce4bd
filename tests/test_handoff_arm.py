"""Analysis Results Metadata in the ADaM define.xml: schema-valid, one display per report table, linked to real
ADaM variables; conditions as where clauses."""

from __future__ import annotations

import pandas as pd
import pytest
from lxml import etree

from cdiscflow.core.errors import SpecError
from cdiscflow.export.arm import ARM
from cdiscflow.export.define import DEF, ODM, build_spec_define, render_define_html, validate_define
from cdiscflow.specs.report import load_report_spec
from cdiscflow.specs.report.analyses import Check, catalogue, checks
from cdiscflow.specs.load import load_study

NS = {"odm": ODM, "def": DEF, "arm": ARM}


@pytest.fixture(scope="module")
def spec():
    return load_study("dara_atra")


@pytest.fixture(scope="module")
def adam_define(spec):
    return build_spec_define(spec, "ADaM", analysis_metadata=True)


def test_simple_conditions_become_where_clause_checks():
    assert checks("PARAMCD == 'CBOR' and APERIOD == 1", "ADRS") == (
        Check("ADRS", "PARAMCD", "EQ", ("CBOR",)), Check("ADRS", "APERIOD", "EQ", ("1",)))
    assert checks("AVALC in ('sCR', 'CR', 'VGPR')", "ADRS") == (Check("ADRS", "AVALC", "IN", ("sCR", "CR", "VGPR")),)
    assert checks("15 < AVAL", "ADTTE") == (Check("ADTTE", "AVAL", "GT", ("15",)),)
    assert checks("AEDECOD not in ('Pneumonia', 'Headache')", "ADAE") == (
        Check("ADAE", "AEDECOD", "NOTIN", ("Pneumonia", "Headache")),)
    for text in ("notna(NACTDT)", "A == 'x' or B == 'y'", "ADT >= RANDDT + days(28)", "A == B", "isna(A) and B == 1"):
        assert checks(text, "ADSL") is None, text


def test_arm_define_validates_and_has_a_display_per_report_table(spec, adam_define):
    assert validate_define(adam_define) == []
    root = adam_define.getroot()
    displays = [d.get("Name") for d in root.iterfind(".//arm:ResultDisplay", NS)]
    tables = list(catalogue(load_report_spec(spec)).outputs)
    assert displays == tables
    assert {"table1", "table2", "ae_terms", "best_response", "response_rates", "tte", "tte_logrank"} <= set(displays)
    assert len(root.findall(".//arm:AnalysisResult", NS)) == 242  # the analyses of the 2,129 numbers of statistics.csv
    # a plain SDTM define is unchanged: no ARM, no arm namespace
    sdtm = build_spec_define(spec, "SDTM", analysis_metadata=True)
    assert ARM.encode() not in etree.tostring(sdtm)


def test_every_arm_reference_is_a_real_adam_variable(spec, adam_define):
    root = adam_define.getroot()
    items = {i.get("OID"): i.get("Name") for i in root.iterfind(".//odm:ItemDef", NS)}
    groups = {g.get("OID") for g in root.iterfind(".//odm:ItemGroupDef", NS)}
    where = {w.get("OID"): w for w in root.iterfind(".//def:WhereClauseDef", NS)}
    refs = [v.get("ItemOID") for v in root.iterfind(".//arm:AnalysisVariable", NS)]
    refs += [r.get("ParameterOID") for r in root.iterfind(".//arm:AnalysisResult", NS) if r.get("ParameterOID")]
    for ads in root.iterfind(".//arm:AnalysisDataset", NS):
        assert ads.get("ItemGroupOID") in groups
        for ref in ads.iterfind("def:WhereClauseRef", NS):
            checks = where[ref.get("WhereClauseOID")].iterfind("odm:RangeCheck", NS)
            refs += [rc.get(f"{{{DEF}}}ItemOID") for rc in checks]
    assert len(refs) > 500
    for oid in refs:
        assert oid in items, oid
        _, dataset, variable = oid.split(".")
        assert variable in spec.dataset(dataset).names and items[oid] == variable


def test_a_result_says_population_records_variables_and_code(adam_define):
    root = adam_define.getroot()
    result = root.find(".//arm:AnalysisResult[@OID='AR.table1.SEX.A']", NS)
    assert result.get("ParameterOID") == "IT.ADBASE.PARAMCD"
    where = {w.get("OID"): w for w in root.iterfind(".//def:WhereClauseDef", NS)}

    def clause(oid):
        return [(rc.get(f"{{{DEF}}}ItemOID"), rc.get("Comparator"), [v.text for v in rc]) for rc in where[oid]]

    adsl, adbase = result.findall(".//arm:AnalysisDataset", NS)
    assert adsl.get("ItemGroupOID") == "IG.ADSL" and adbase.get("ItemGroupOID") == "IG.ADBASE"
    assert clause(adsl.find("def:WhereClauseRef", NS).get("WhereClauseOID")) == [("IT.ADSL.ENRLFL", "EQ", ["Y"])]
    assert clause(adbase.find("def:WhereClauseRef", NS).get("WhereClauseOID")) == [
        ("IT.ADBASE.AVISITN", "EQ", ["100"]), ("IT.ADBASE.PARAMCD", "EQ", ["SEX"])]
    assert [v.get("ItemOID") for v in adbase.iterfind("arm:AnalysisVariable", NS)] == ["IT.ADBASE.AVALC"]
    doc = result.find("arm:Documentation/odm:Description/odm:TranslatedText", NS).text
    assert "table table1, row SEX, column A" in doc and "ENRLFL == 'Y'" in doc
    assert "cdiscflow report" in result.find("arm:ProgrammingCode/arm:Code", NS).text
    # a condition no where clause can state is said in words
    sub = root.find(".//arm:AnalysisResult[@OID='AR.part_b_status.subsequent.rp2d']/arm:AnalysisDatasets", NS)
    comment = root.find(f".//def:CommentDef[@OID='{sub.get(f'{{{DEF}}}CommentOID')}']", NS)
    assert "notna(NACTDT)" in etree.tostring(comment, encoding="unicode")


@pytest.mark.slow
def test_arm_renders_with_the_stylesheet(adam_define, tmp_path):
    path = tmp_path / "define.xml"
    adam_define.write(str(path), xml_declaration=True, encoding="UTF-8")
    html = render_define_html(path)
    assert "Analysis Results Metadata" in html and "Table 1. Baseline characteristics" in html


@pytest.mark.slow
def test_reason_and_purpose_come_from_report_yaml(study_copy):
    from cdiscflow.report.ars import reporting_event, validate_reporting_event

    path = study_copy / "report.yaml"
    text = path.read_text()
    text = text.replace("name: response_rates\n", "name: response_rates\n          reason: SPECIFIED IN PROTOCOL\n"
                        "          purpose: PRIMARY OUTCOME MEASURE\n", 1)
    text = text.replace("name: best_response\n", "name: best_response\n          purpose: SAFETY SIGNAL\n", 1)
    path.write_text(text)
    spec = load_study(study_copy)
    root = build_spec_define(spec, "ADaM", analysis_metadata=True).getroot()
    rates = root.find(".//arm:AnalysisResult[@OID='AR.response_rates.ORR.B']", NS)
    assert (rates.get("AnalysisReason"), rates.get("AnalysisPurpose")) == ("SPECIFIED IN PROTOCOL",
                                                                           "PRIMARY OUTCOME MEASURE")
    other = root.find(".//arm:AnalysisResult[@OID='AR.table1.SEX.A']", NS)
    assert (other.get("AnalysisReason"), other.get("AnalysisPurpose")) == ("SPECIFIED IN SAP",
                                                                           "EXPLORATORY OUTCOME MEASURE")
    assert root.find(".//arm:AnalysisResult[@OID='AR.best_response.BOR.A']", NS).get("AnalysisPurpose") == \
        "SAFETY SIGNAL"
    stats = pd.DataFrame(columns=["table", "row", "category", "column", "stat", "value", "row_label",
                                  "category_label", "column_label"])
    event = reporting_event(spec, stats)
    assert validate_reporting_event(event) == []
    by_id = {a["id"]: a for a in event["analyses"]}
    assert by_id["AN.response_rates.ORR.B"]["purpose"] == {"controlledTerm": "PRIMARY OUTCOME MEASURE"}
    assert by_id["AN.best_response.BOR.A"]["purpose"] == {"sponsorTermId": "ST.AnalysisPurposeEnum.1"}
    assert event["terminologyExtensions"] == [{"id": "TE.AnalysisPurposeEnum", "enumeration": "AnalysisPurposeEnum",
                                               "sponsorTerms": [{"id": "ST.AnalysisPurposeEnum.1",
                                                                 "submissionValue": "SAFETY SIGNAL"}]}]
    path.write_text(text.replace("reason: SPECIFIED IN PROTOCOL", "reason: [1, 2]", 1))
    with pytest.raises(SpecError, match="reason must be text"):
        load_report_spec(load_study(study_copy))
