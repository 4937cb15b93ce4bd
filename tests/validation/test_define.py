"""define.xml reading: 2.1 and 1.0 files, and clear errors for files that cannot be used."""

from __future__ import annotations

import pytest

from cdiscflow.core.errors import InputError
from cdiscflow.validation.define import merge_defines, read_define

DEFINE_21 = """<?xml version="1.0" encoding="UTF-8"?>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" xmlns:def="http://www.cdisc.org/ns/def/v2.1" ODMVersion="1.3.2"
     FileType="Snapshot" FileOID="F" CreationDateTime="2021-01-01T00:00:00">
 <Study OID="S"><MetaDataVersion OID="MDV" Name="m" def:DefineVersion="2.1.0">
  <ItemGroupDef OID="IG.DM" Name="DM" Repeating="No" Purpose="Tabulation">
   <ItemRef ItemOID="IT.DM.USUBJID" Mandatory="Yes"/><ItemRef ItemOID="IT.DM.SEX" Mandatory="Yes"/>
  </ItemGroupDef>
  <ItemDef OID="IT.DM.USUBJID" Name="USUBJID" DataType="text"/>
  <ItemDef OID="IT.DM.SEX" Name="SEX" DataType="text"><CodeListRef CodeListOID="CL.SEX"/></ItemDef>
  <CodeList OID="CL.SEX" Name="Sex" DataType="text">
   <CodeListItem CodedValue="F"/><EnumeratedItem CodedValue="M"/>
  </CodeList>
  <CodeList OID="CL.MEDDRA" Name="MedDRA" DataType="text"><ExternalCodeList Dictionary="MedDRA" Version="23.0"/></CodeList>
 </MetaDataVersion></Study></ODM>
"""


def test_reads_datasets_variables_and_codelists(tmp_path):
    p = tmp_path / "define.xml"
    p.write_text(DEFINE_21)
    d = read_define(p)
    assert d.version == "2.1.0"
    assert list(d.datasets["DM"].variables) == ["USUBJID", "SEX"]
    assert d.codelist_of("DM", "SEX").values == frozenset({"F", "M"})
    assert d.codelists["CL.MEDDRA"].values is None and d.codelists["CL.MEDDRA"].dictionary == "MedDRA"
    assert d.codelist_of("DM", "USUBJID") is None


def test_malformed_define_names_file_and_line(tmp_path):
    p = tmp_path / "define.xml"
    p.write_text(DEFINE_21.replace("</ItemGroupDef>", "", 1))
    with pytest.raises(InputError, match=r"define.xml: not well-formed XML at line \d+"):
        read_define(p)


def test_not_a_define(tmp_path):
    p = tmp_path / "define.xml"
    p.write_text("<html/>")
    with pytest.raises(InputError, match="root element is html"):
        read_define(p)


def test_pilot_define_1_0_and_msg_define_2_1(shared):
    pilot = read_define(shared / "reference-data/cdiscpilot01/sdtm/define.xml")
    assert pilot.version == "1.0.0" and len(pilot.datasets) == 22
    assert "DTHFL" in pilot.datasets["DM"].variables
    msg = read_define(shared / "reference-data/formats/define-xml/sdtm-msg-v2.0_define-2-1.xml")
    assert msg.version == "2.1.0" and msg.codelist_of("AE", "AESEV").values == frozenset(
        {"MILD", "MODERATE", "SEVERE"})
    both = merge_defines([pilot, read_define(shared / "reference-data/cdiscpilot01/adam/define.xml")])
    assert {"DM", "ADSL"} <= set(both.datasets)


def test_column_metadata_for_the_export(tmp_path):
    # the one define reader also keeps what `export.read.apply_define` carries into a converted dataset
    p = tmp_path / "define.xml"
    p.write_text(DEFINE_21
                 .replace('<ItemGroupDef OID="IG.DM" Name="DM" Repeating="No" Purpose="Tabulation">',
                          '<ItemGroupDef OID="IG.DM" Name="DM" Repeating="No" Purpose="Tabulation">'
                          '<Description><TranslatedText>Demo  graphics</TranslatedText></Description>')
                 .replace('<ItemRef ItemOID="IT.DM.USUBJID" Mandatory="Yes"/>',
                          '<ItemRef ItemOID="IT.DM.USUBJID" Mandatory="Yes" KeySequence="2"/>')
                 .replace('<ItemDef OID="IT.DM.USUBJID" Name="USUBJID" DataType="text"/>',
                          '<ItemDef OID="IT.DM.USUBJID" Name="USUBJID" DataType="text" Length="11" '
                          'def:DisplayFormat="$11." def:Label="Unique Subject Identifier"/>'))
    dm = read_define(p).datasets["DM"]
    assert (dm.label, dm.oid, list(dm.columns)) == ("Demo graphics", "IG.DM", ["USUBJID", "SEX"])
    u, s = dm.columns["USUBJID"], dm.columns["SEX"]
    assert (u.label, u.datatype, u.length, u.display_format, u.key_sequence, u.item_oid) == (
        "Unique Subject Identifier", "text", 11, "$11.", 2, "IT.DM.USUBJID")
    assert (s.label, s.length, s.display_format, s.key_sequence) == ("", None, "", None)
