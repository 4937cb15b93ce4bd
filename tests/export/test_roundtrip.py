"""Spec-driven export: golden XPT and Dataset-JSON round trips, identical bytes on re-runs, define.xml checked."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from lxml import etree

from cdiscflow.export import read_dataset, read_datasets, write_datasets, write_define
from cdiscflow.export.datasetjson import validate_dataset_json
from cdiscflow.export.define import render_define_html, validate_define
from cdiscflow.specs.load import load_study

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1",
      "xlink": "http://www.w3.org/1999/xlink"}


@pytest.fixture
def exported(frames, xspec, tmp_path):
    result = write_datasets(frames, xspec, tmp_path / "out")
    assert result.ok, result.findings.summary()
    return tmp_path / "out", result


def _same(read: pd.DataFrame, original: pd.DataFrame) -> None:
    """Values equal column by column (text: missing = NaN; numbers and dates compared as values)."""
    assert list(read.columns) == list(original.columns)
    for name in original.columns:
        a, b = read[name], original[name]
        if b.dtype.kind == "M":
            assert a.dtype.kind == "M", name
            assert a.astype("datetime64[s]").tolist() == b.astype("datetime64[s]").tolist(), name
        elif b.dtype.kind == "f":
            assert np.array_equal(a.to_numpy(dtype=float), b.to_numpy(dtype=float), equal_nan=True), name
        else:
            assert a.isna().tolist() == b.isna().tolist(), name
            assert a.dropna().tolist() == b.dropna().tolist(), name


@pytest.mark.parametrize("suffix", ["xpt", "json"])
def test_golden_round_trip(exported, frames, xspec, suffix):
    out, result = exported
    for name, frame in frames.items():
        standard = xspec.dataset(name).standard.lower()
        back, meta = read_dataset(out / standard / f"{name.lower()}.{suffix}")
        assert meta.name == name and meta.label == result.written[name].label
        _same(back, frame)
        assert [c.label for c in meta.columns] == [c.label for c in result.written[name].columns]


def test_read_back_types_follow_the_conventions(exported):
    out, _ = exported
    adsl, meta = read_dataset(out / "adam" / "adsl.xpt")
    assert str(adsl["TRTSDT"].dtype) == "datetime64[us]" and str(adsl["TRTSDTM"].dtype) == "datetime64[us]"
    assert adsl["TRTSDTM"][1] == pd.Timestamp("2016-07-12 14:05:59")
    assert adsl["SEX"].dtype == "str" and adsl["AGE"].dtype == "float64"
    assert meta.column("TRTSDT").display_format == "DATE9." and meta.column("TRTSDT").kind == "date"
    dm, _ = read_dataset(out / "sdtm" / "dm.json")
    assert dm["RACE"].isna().tolist() == [False, True, False]


def test_two_runs_write_identical_bytes(frames, xspec, tmp_path):
    a = write_datasets(frames, xspec, tmp_path / "a")
    b = write_datasets(frames, xspec, tmp_path / "b")
    rel_a = sorted(p.relative_to(tmp_path / "a") for p in a.files)
    assert rel_a == sorted(p.relative_to(tmp_path / "b") for p in b.files)
    assert len(rel_a) == 2 * 7 + 2 * 2  # xpt + json per dataset; define.xml + stylesheet per standard
    for rel in rel_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_reexport_of_written_files_is_idempotent(exported, xspec, tmp_path):
    out, _ = exported
    frames, _ = read_datasets(out / "adam")
    again = write_datasets(frames, xspec, tmp_path / "again")
    assert again.ok
    for name in ("adsl.xpt", "adsl.json", "adtte.xpt", "adtte.json", "define.xml"):
        assert (tmp_path / "again" / "adam" / name).read_bytes() == (out / "adam" / name).read_bytes(), name


def test_dataset_json_content(exported):
    out, _ = exported
    doc = json.loads((out / "adam" / "adsl.json").read_text())
    assert validate_dataset_json(doc) == []
    assert doc["datasetJSONCreationDateTime"] == "2020-10-01T00:00:00" and doc["datasetJSONVersion"] == "1.1.0"
    assert doc["metaDataVersionOID"] == "MDV.XPTTEST.ADaMIG.1.3" and doc["metaDataRef"] == "define.xml"
    cols = {c["name"]: c for c in doc["columns"]}
    assert cols["TRTSDT"] == {"itemOID": "IT.ADSL.TRTSDT", "name": "TRTSDT",
                              "label": "Date of First Exposure to Treatment", "dataType": "date",
                              "targetDataType": "integer", "displayFormat": "DATE9."}
    assert cols["USUBJID"]["keySequence"] == 2 and cols["USUBJID"]["length"] == 11
    assert cols["AGE"]["dataType"] == "integer" and cols["HEIGHTBL"]["dataType"] == "float"
    assert doc["rows"][0] == ["XPTTEST", "XPTTEST-001", 63, "F", "2016-07-05", "2016-07-05T09:30:00", "Y", 162.5]
    assert doc["rows"][2][2] is None and doc["rows"][2][4] is None  # missing numbers and dates are null
    ae = json.loads((out / "sdtm" / "ae.json").read_text())
    assert {c["name"]: c["dataType"] for c in ae["columns"]}["AESTDTC"] == "date"
    assert [r[6] for r in ae["rows"]] == ["MILD", "MODERATE", None, "SEVERE"]


def _define(out, standard):
    path = out / standard / "define.xml"
    return path, etree.parse(str(path))


def test_define_validates_and_renders(exported):
    out, _ = exported
    for standard in ("sdtm", "adam"):
        path, tree = _define(out, standard)
        assert validate_define(path) == []
        assert (out / standard / "define2-1.xsl").is_file()
        assert path.read_text().splitlines()[1] == '<?xml-stylesheet type="text/xsl" href="define2-1.xsl"?>'
        html = render_define_html(path)
        assert "<html" in html
    html = render_define_html(out / "adam" / "define.xml")
    assert "Time-to-Event Analysis Dataset" in html and "Overall survival (days)" in html


def test_define_sdtm_content(exported):
    out, result = exported
    _, tree = _define(out, "sdtm")
    x = lambda q: tree.xpath(q, namespaces=NS)  # noqa: E731
    assert x("string(//def:Standard[@Type='IG']/@Name)") == "SDTMIG"
    assert x("string(//def:Standard[@Type='IG']/@Version)") == "3.4"
    assert x("string(//def:Standard[@Type='CT']/@Version)") == "2025-03-28"
    ae = x("//odm:ItemGroupDef[@OID='IG.AE']")[0]
    assert [r.get("KeySequence") for r in ae.findall("odm:ItemRef", NS) if r.get("KeySequence")] == ["1", "2", "3", "4"]
    assert ae.find("def:leaf", NS).get(f"{{{NS['xlink']}}}href") == "ae.xpt"
    assert ae.find("def:Class", NS).get("Name") == "EVENTS"
    # length = what was written, not the spec's plan
    assert x("string(//odm:ItemDef[@OID='IT.AE.AETERM']/@Length)") == "25"
    assert x("string(//odm:ItemDef[@OID='IT.DM.SEX']/@Length)") == "1"
    assert x("string(//odm:ItemDef[@OID='IT.DM.SUBJID']/def:Origin/@Type)") == "Collected"
    assert x("string(//odm:ItemDef[@OID='IT.DM.SUBJID']/def:Origin/odm:Description/odm:TranslatedText)") == \
        "CRF Enrollment"
    assert x("string(//odm:ItemDef[@OID='IT.DM.SEX']/def:Origin/@Source)") == "Investigator"
    # CDISC codelists with NCI C-codes; dictionaries as external code lists
    assert x("string(//odm:CodeList[@OID='CL.ONCRSR']/odm:Alias/@Name)") == "C96785"
    assert x("string(//odm:CodeList[@OID='CL.ONCRSR']/odm:CodeListItem[@CodedValue='sCR']/odm:Alias/@Name)") == \
        "C123614"
    assert x("string(//odm:CodeList[@OID='CL.MEDDRA']/odm:ExternalCodeList/@Version)") == "23.0"
    assert x("string(//odm:CodeList[@OID='CL.CTCAE']/odm:ExternalCodeList/@Dictionary)") == "CTCAE"
    # value-level metadata: RS by RSTESTCD, TS by TSPARMCD, SUPPDM by QNAM
    assert x("string(//def:WhereClauseDef[@OID='WC.RS.RSTESTCD.EQ.OVRLRESP']/odm:RangeCheck/odm:CheckValue)") == \
        "OVRLRESP"
    assert x("string(//odm:ItemDef[@OID='IT.RS.RSSTRESC.RSTESTCD.EQ.OVRLRESP']/odm:CodeListRef/@CodeListOID)") == \
        "CL.ONCRSR"
    assert x("string(//odm:ItemDef[@OID='IT.TS.TSVAL.TSPARMCD.EQ.TITLE']/@Length)") == "35"
    assert x("string(//odm:ItemDef[@OID='IT.SUPPDM.QVAL.QNAM.EQ.COMPLT']/@Length)") == "1"
    assert x("string(//odm:ItemDef[@OID='IT.SUPPDM.QVAL']/def:ValueListRef/@ValueListOID)") == "VL.SUPPDM.QVAL"
    assert x("string(//odm:ItemGroupDef[@OID='IG.SUPPDM']/odm:Alias[@Context='DomainDescription']/@Name)") == \
        "Demographics"
    assert x("string(//odm:ItemGroupDef[@OID='IG.TS']/@IsReferenceData)") == "Yes"
    assert x("string(//odm:MethodDef[@OID='MT.DY']/@Type)") == "Computation"
    # every written dataset, nothing else
    assert x("//odm:ItemGroupDef/@Name") == ["DM", "AE", "RS", "TS", "SUPPDM"]


def test_define_adam_content(exported):
    out, _ = exported
    _, tree = _define(out, "adam")
    x = lambda q: tree.xpath(q, namespaces=NS)  # noqa: E731
    assert x("string(//def:Standard[@Type='IG']/@Name)") == "ADaMIG"
    assert x("string(//odm:ItemDef[@OID='IT.ADSL.TRTSDT']/@def:DisplayFormat)") == "DATE9."
    assert x("string(//odm:ItemDef[@OID='IT.ADSL.TRTSDT']/@DataType)") == "integer"
    assert x("string(//odm:ItemDef[@OID='IT.ADSL.AGE']/def:Origin/@Type)") == "Predecessor"
    assert x("string(//odm:ItemGroupDef[@OID='IG.ADTTE']/def:Class/def:SubClass/@Name)") == "TIME-TO-EVENT"
    assert x("//def:ValueListDef[@OID='VL.ADTTE.AVAL']/odm:ItemRef/@MethodOID") == ["MT.AVAL.OS"]
    assert x("string(//def:CommentDef[@OID='COM.ADSL']/odm:Description/odm:TranslatedText)") == \
        "Screen failures are not included."
    assert x("string(//odm:CodeList[@OID='CL.PARAMCD']/@def:IsNonStandard)") == "Yes"
    assert x("//odm:CodeList[@OID='CL.PARAMCD']/odm:CodeListItem/@CodedValue") == ["OS", "PFS"]


def test_define_schema_breach_is_reported(frames, xspec, tmp_path):
    broken = tmp_path / "study"
    shutil.copytree(xspec.path, broken)
    text = (broken / "datasets.csv").read_text().replace("SPECIAL PURPOSE", "SPECIAL PURPOSES")
    (broken / "datasets.csv").write_text(text)
    result = write_datasets(frames, load_study(broken), tmp_path / "out")
    bad = result.findings.frame()
    bad = bad[bad.rule_id == "DEFINE-XSD"]
    assert len(bad) == 1 and "SPECIAL PURPOSES" in bad.message.iloc[0]
    assert (tmp_path / "out" / "sdtm" / "define.xml").exists()  # written for inspection


def test_write_define_alone(frames, xspec, tmp_path):
    path = write_define(frames, xspec, "ADaM", tmp_path)
    assert path == tmp_path / "define.xml" and validate_define(path) == []
    assert etree.parse(str(path)).xpath("//odm:ItemGroupDef/@Name", namespaces=NS) == ["ADSL", "ADTTE"]


@pytest.mark.slow
def test_embedded_study_dm_exports(tmp_path):
    spec = load_study()  # the embedded DARA-ATRA spec
    dm = pd.DataFrame({
        "STUDYID": pd.Series(["DARA-ATRA"] * 2, dtype="str"), "DOMAIN": pd.Series(["DM"] * 2, dtype="str"),
        "USUBJID": pd.Series(["DARA-ATRA-01-001", "DARA-ATRA-02-001"], dtype="str"),
        "SUBJID": pd.Series(["01-001", "02-001"], dtype="str"), "SITEID": pd.Series(["01", "02"], dtype="str"),
        "SEX": pd.Series(["F", "M"], dtype="str"),
    })
    for var in spec.dataset("DM").variables:  # the other DM variables missing, typed as the spec says
        if var.name not in dm:
            dm[var.name] = pd.Series(float("nan"), index=dm.index, dtype="float64" if var.is_numeric else "str")
    dm = dm[list(spec.dataset("DM").names)]
    result = write_datasets({"DM": dm}, spec, tmp_path)
    assert result.ok, result.findings.summary()
    raw = (tmp_path / "sdtm" / "dm.xpt").read_bytes()
    assert raw[80 + 64:160] == b"01OCT20:00:00:00"  # study.yaml datacut 2020-10-01
    assert validate_define(tmp_path / "sdtm" / "define.xml") == []
    back, meta = read_dataset(tmp_path / "sdtm" / "dm.xpt")
    assert meta.column("USUBJID").length == 16 and back["SUBJID"].tolist() == ["01-001", "02-001"]


def test_missing_supp_value_level_metadata_is_flagged(frames, xspec, tmp_path):
    study = tmp_path / "study"
    shutil.copytree(xspec.path, study)
    vlm = study / "valuelevel.csv"
    vlm.write_text("".join(line for line in vlm.read_text().splitlines(True) if not line.startswith("SUPPDM")))
    result = write_datasets(frames, load_study(study), tmp_path / "out")
    found = result.findings.frame()
    assert found[["severity", "rule_id", "dataset", "variable"]].values.tolist() == [
        ["warning", "DEFINE-VLM", "SUPPDM", "QVAL"]]


def test_convert_refuses_fractions_in_an_integer_column(frames, xspec, tmp_path):
    from cdiscflow.core.errors import InputError
    from cdiscflow.export import convert_dataset_file

    frames["ADTTE"].loc[0, "AVAL"] = 1554.5
    write_datasets(frames, xspec, tmp_path)
    define = tmp_path / "adam" / "define.xml"
    define.write_text(define.read_text().replace('OID="IT.ADTTE.AVAL" Name="AVAL" DataType="float"',
                                                 'OID="IT.ADTTE.AVAL" Name="AVAL" DataType="integer"'))
    with pytest.raises(InputError, match="1554.5 is not a whole number but the column is integer"):
        convert_dataset_file(tmp_path / "adam" / "adtte.xpt", tmp_path / "adtte.json")
    assert not (tmp_path / "adtte.json").exists()
