"""Validation as a reviewer does it: the datasets and their define.xml only, no study spec (issue 16).

Guide-based checks (SDTMIG 3.4 + CDISC CT) must honour what define.xml declares: extended values of an extensible CT
codelist, sponsor codelists attached at value level; a non-extensible CT codelist stays closed except for values
the implementation guide itself prescribes (specs/standards/ig-ct-conflicts.csv); numeric results in --STRESC are
not codelist terms.
"""

from __future__ import annotations

import pandas as pd
import pytest

from cdiscflow.validation import validate_datasets
from cdiscflow.validation.define import read_define

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" xmlns:def="http://www.cdisc.org/ns/def/v2.1" ODMVersion="1.3.2"
     FileType="Snapshot" FileOID="F" CreationDateTime="2021-01-01T00:00:00">
 <Study OID="S"><MetaDataVersion OID="MDV" Name="m" def:DefineVersion="2.1.0">
"""
TAIL = " </MetaDataVersion></Study></ODM>\n"


def _define(tmp_path, body: str):
    p = tmp_path / "define.xml"
    p.write_text(HEAD + body + TAIL)
    return read_define(p)


def _ae(**values) -> pd.DataFrame:
    base = {"STUDYID": ["S"], "DOMAIN": ["AE"], "USUBJID": ["S-1"], "AESEQ": [1.0], "AETERM": ["HEADACHE"],
            "AEDECOD": ["Headache"], "AESEV": ["MILD"], "AEACN": ["DOSE NOT CHANGED"], "EPOCH": ["SCREENING"]}
    base.update({k: [v] for k, v in values.items()})
    return pd.DataFrame(base)


def _hits(findings, rule: str, variable: str) -> list[str]:
    f = findings.frame()
    return sorted(f.loc[(f["rule_id"] == rule) & (f["variable"] == variable), "value"].astype(str))


AE_EPOCH = """
  <ItemGroupDef OID="IG.AE" Name="AE" Repeating="Yes" Purpose="Tabulation">
   <ItemRef ItemOID="IT.AE.EPOCH" Mandatory="No"/><ItemRef ItemOID="IT.AE.AESEV" Mandatory="No"/>
  </ItemGroupDef>
  <ItemDef OID="IT.AE.EPOCH" Name="EPOCH" DataType="text"><CodeListRef CodeListOID="CL.EPOCH"/></ItemDef>
  <ItemDef OID="IT.AE.AESEV" Name="AESEV" DataType="text"><CodeListRef CodeListOID="CL.AESEV"/></ItemDef>
  <CodeList OID="CL.EPOCH" Name="Epoch" DataType="text" def:StandardOID="STD.CT">
   <EnumeratedItem CodedValue="SCREENING" OrderNumber="1"><Alias Context="nci:ExtCodeID" Name="C48262"/></EnumeratedItem>
   <EnumeratedItem CodedValue="PART A TREATMENT" OrderNumber="2" def:ExtendedValue="Yes"/>
   <EnumeratedItem CodedValue="PART B TREATMENT" OrderNumber="3"/>
   <Alias Context="nci:ExtCodeID" Name="C99079"/>
  </CodeList>
  <CodeList OID="CL.AESEV" Name="Severity" DataType="text" def:StandardOID="STD.CT">
   <EnumeratedItem CodedValue="MILD" OrderNumber="1"/>
   <EnumeratedItem CodedValue="VERY MILD" OrderNumber="2" def:ExtendedValue="Yes"/>
   <Alias Context="nci:ExtCodeID" Name="C66769"/>
  </CodeList>
"""


def test_extended_value_declared_in_define_is_accepted(tmp_path):
    data = {"AE": _ae(EPOCH="PART A TREATMENT")}
    assert _hits(validate_datasets(data), "SCH-CT-002", "EPOCH") == ["PART A TREATMENT"]
    define = _define(tmp_path, AE_EPOCH)
    assert define.codelists["CL.EPOCH"].extended == frozenset({"PART A TREATMENT"})
    assert define.codelists["CL.EPOCH"].standard
    assert _hits(validate_datasets(data, define=define), "SCH-CT-002", "EPOCH") == []


def test_term_of_a_ct_codelist_not_flagged_extended_is_still_reported(tmp_path):
    # PART B TREATMENT is in the define's C99079 codelist but not flagged ExtendedValue: not declared as an extension
    define = _define(tmp_path, AE_EPOCH)
    found = validate_datasets({"AE": _ae(EPOCH="PART B TREATMENT")}, define=define)
    assert _hits(found, "SCH-CT-002", "EPOCH") == ["PART B TREATMENT"]


def test_non_extensible_codelist_stays_closed_whatever_define_says(tmp_path):
    define = _define(tmp_path, AE_EPOCH)
    found = validate_datasets({"AE": _ae(AESEV="VERY MILD")}, define=define)
    assert _hits(found, "SCH-CT-001", "AESEV") == ["VERY MILD"]


def test_aeacn_multiple_follows_the_implementation_guide():
    # SDTMIG 3.4 prescribes AEACN = MULTIPLE; CT C66767 is not extensible and lacks it (ig-ct-conflicts.csv)
    found = validate_datasets({"AE": _ae(AEACN="MULTIPLE")})
    assert _hits(found, "SCH-CT-001", "AEACN") == []
    found = validate_datasets({"AE": _ae(AEACN="SEVERAL")})
    assert _hits(found, "SCH-CT-001", "AEACN") == ["SEVERAL"]


RS_VLM = """
  <def:ValueListDef OID="VL.RS.RSSTRESC">
   <ItemRef ItemOID="IT.RS.RSSTRESC.ISS" Mandatory="No"><def:WhereClauseRef WhereClauseOID="WC.ISS"/></ItemRef>
  </def:ValueListDef>
  <def:WhereClauseDef OID="WC.ISS"><RangeCheck Comparator="EQ" SoftHard="Soft" def:ItemOID="IT.RS.RSTESTCD">
   <CheckValue>ISS01</CheckValue></RangeCheck></def:WhereClauseDef>
  <ItemGroupDef OID="IG.RS" Name="RS" Repeating="Yes" Purpose="Tabulation">
   <ItemRef ItemOID="IT.RS.RSSTRESC" Mandatory="No"/>
  </ItemGroupDef>
  <ItemDef OID="IT.RS.RSSTRESC" Name="RSSTRESC" DataType="text"><def:ValueListRef ValueListOID="VL.RS.RSSTRESC"/></ItemDef>
  <ItemDef OID="IT.RS.RSSTRESC.ISS" Name="RSSTRESC" DataType="text"><CodeListRef CodeListOID="CL.ISS"/></ItemDef>
  <CodeList OID="CL.ISS" Name="ISS stage" DataType="text" def:IsNonStandard="Yes">
   <EnumeratedItem CodedValue="I" OrderNumber="1"/><EnumeratedItem CodedValue="II" OrderNumber="2"/>
  </CodeList>
"""


def _rs(*results: str) -> pd.DataFrame:
    n = len(results)
    return pd.DataFrame({"STUDYID": ["S"] * n, "DOMAIN": ["RS"] * n, "USUBJID": ["S-1"] * n,
                         "RSSEQ": [float(i + 1) for i in range(n)], "RSTESTCD": ["ISS01"] * n,
                         "RSTEST": ["ISS Stage"] * n, "RSORRES": list(results), "RSSTRESC": list(results)})


def test_sponsor_codelist_at_value_level_is_honoured(tmp_path):
    data = {"RS": _rs("II", "IV")}
    assert _hits(validate_datasets(data), "SCH-CT-002", "RSSTRESC") == ["II", "IV"]
    define = _define(tmp_path, RS_VLM)
    assert define.datasets["RS"].value_codelists["RSSTRESC"] == ("CL.ISS",)
    assert define.declared_extensions("RS", "RSSTRESC") == frozenset({"I", "II"})
    assert _hits(validate_datasets(data, define=define), "SCH-CT-002", "RSSTRESC") == ["IV"]


def test_numeric_standard_results_are_not_codelist_terms():
    lb = pd.DataFrame({"STUDYID": ["S"] * 3, "DOMAIN": ["LB"] * 3, "USUBJID": ["S-1"] * 3, "LBSEQ": [1.0, 2.0, 3.0],
                       "LBTESTCD": ["HGB"] * 3, "LBTEST": ["Hemoglobin"] * 3,
                       "LBSTRESC": ["10.5", "0", "TRACE-ISH"], "LBSTRESN": [10.5, 0.0, None]})
    assert _hits(validate_datasets({"LB": lb}), "SCH-CT-002", "LBSTRESC") == ["TRACE-ISH"]


@pytest.mark.slow
def test_our_own_output_is_clean_without_the_study(tmp_path):
    """`cdiscflow run`, then `validate out/sdtm` and `out/adam` with no --study: no errors, no warnings
    (was 23 errors and 13,335 warnings)."""
    import json

    from cdiscflow.pipeline import run
    from cdiscflow.validation.api import validate_folder

    core = tmp_path / "core.json"
    core.write_text(json.dumps({"rules": {"CORE-001078": {"issues": 48, "by_dataset": {"AE": 48, "DM": 0}}}}))
    run(out_dir=tmp_path / "out", data_docs=False, core_report=core)
    guide = (tmp_path / "out" / "reviewers_guide.html").read_text()
    assert "<td>CDISC CORE</td><td>CORE-001078</td><td>AE</td><td>issue</td>" in guide
    assert "Of the 49 deaths, 42 are from progressive disease" in guide and "not explained" not in guide
    for layer in ("sdtm", "adam"):
        report = validate_folder(tmp_path / "out" / layer, out_dir=tmp_path / f"val-{layer}", data_docs=False)
        f = report.result.findings.frame()
        bad = f[f["severity"].isin(["error", "warning"])]
        assert report.defines, f"{layer}: define.xml not found"
        assert bad.empty, bad.groupby(["rule_id", "dataset", "variable"]).size().to_string()


def test_unplanned_element_in_se_is_allowed_but_not_in_ta(clean):
    """SDTMIG 3.4 SE: an unplanned element has ETCD = UNPLAN (no TE record); TA may only use TE's elements."""
    from cdiscflow.validation.rulebook import RuleContext
    from cdiscflow.validation.rules import run_rules

    te = clean["TE"]
    se = pd.DataFrame({"STUDYID": ["VALTEST"] * 2, "DOMAIN": ["SE"] * 2, "USUBJID": ["VALTEST-001"] * 2,
                       "SESEQ": [1.0, 2.0], "ETCD": ["SCRN", "UNPLAN"], "ELEMENT": ["Screening", None],
                       "SEUPDES": [None, "Extra infusion"], "SESTDTC": ["2020-01-01", "2020-02-01"]})
    ta = clean["TA"].copy()
    ta.loc[1, "ETCD"] = "UNPLAN"
    datasets = {"TE": te, "TA": ta, "SE": se}
    f, _ = run_rules(RuleContext(datasets, {n: "SDTM" for n in datasets}))
    hits = f[f["rule_id"] == "CF-TE-001"]
    assert list(zip(hits["dataset"], hits["row"], hits["value"])) == [("TA", 2, "UNPLAN")]


def test_unusable_core_report_stops_the_run_before_any_work(tmp_path):
    from cdiscflow.core.errors import InputError
    from cdiscflow.pipeline import run

    bad = tmp_path / "core.json"
    bad.write_text("[1, 2]")
    with pytest.raises(InputError, match="core.json: not a CORE report"):
        run(out_dir=tmp_path / "out", core_report=bad)
    assert not (tmp_path / "out" / "sdtm").exists()
