"""ODM-XML 1.3.2 raw input: the writer (XSD-valid), the streaming reader (tables, keys, metadata, transactions,
skipped audit records), bad input as findings on rows, and round trips CSV <-> ODM with the same SDTM bytes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from lxml import etree

import cdiscflow
from cdiscflow.core.errors import InputError
from cdiscflow.sdtm import map_study
from cdiscflow.sdtm.raw.odm import KEY_COLUMNS, read_odm
from cdiscflow.sdtm.raw.forms import read_export
from cdiscflow.studies.dara_atra.simulate.odm import write_odm
from cdiscflow.specs.load import load_study

pytestmark = pytest.mark.slow  # module fixtures run the pipeline end to end

ODM_XSD = Path(cdiscflow.__file__).parent / "export" / "schemas" / "define-xml-2.1" / "cdisc-odm-1.3.2" / "ODM1-3-2.xsd"


@pytest.fixture(scope="module")
def spec():
    return load_study()


@pytest.fixture
def odm_small(spec, raw_small) -> Path:
    out = raw_small.parent / "odm" / "small.xml"
    out.parent.mkdir()
    write_odm(spec, raw_small, out)
    return out


def odm_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(ODM_XSD)))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text in line)


# ---------------------------------------------------------------------------------------------------------------
# writer and reader on the hand-made 3-subject export


@pytest.mark.slow
def test_written_odm_is_valid_against_the_odm_132_schema(odm_small):
    schema = odm_schema()
    assert schema.validate(etree.parse(str(odm_small))), schema.error_log.filter_from_errors()[:3]


@pytest.mark.slow
def test_forms_read_from_odm_hold_the_same_text_as_from_csv(spec, raw_small, odm_small):
    from_csv = read_export(spec, raw_small)
    from_odm = read_export(spec, odm_small)
    assert list(from_odm.forms) == list(from_csv.forms)
    for name, raw in from_csv.forms.items():
        pd.testing.assert_frame_equal(from_odm.forms[name].data.astype(object), raw.data.astype(object),
                                      check_dtype=False, obj=name)
        assert from_odm.forms[name].iso.keys() == raw.iso.keys()
    assert from_odm.forms["enrol"].iso["BRTHDAT"].tolist() == ["1948-03-15", "1950-02-02", "1945"]
    # a folder holding the ODM file (and none of the CSV form files) is the same export
    assert read_export(spec, odm_small.parent).forms["dara"].data.equals(from_odm.forms["dara"].data)


@pytest.mark.slow
def test_item_group_table_has_the_keys_as_columns(odm_small):
    export = read_odm([odm_small])
    dara = export.tables["IG.DARA"]
    assert list(dara.columns[:7]) == list(KEY_COLUMNS)
    first = dara.iloc[0]
    assert (first["SUBJECTKEY"], first["SITEOID"], first["EVENTOID"], first["FORMOID"], first["IGREPEATKEY"]) == \
        ("01-001", "01", "SE.STUDY", "F.DARA", "1")
    assert first["EXDAT"] == "05-JUL-2016" and first["DOSE"] == "16"
    # the repeat key counts the subject's rows of the form: 01-001's third infusion is repeat 3
    assert dara["IGREPEATKEY"].iloc[2] == "3" and dara["SUBJECTKEY"].iloc[2] == "01-001"
    assert export.lines["IG.DARA"][0] == line_of(odm_small, '<ItemGroupData ItemGroupOID="IG.DARA"')


def test_metadata_types_codelists_and_formats_come_from_the_itemdefs(odm_small):
    meta = read_odm([odm_small]).metadata
    assert meta.study_oid == "DARA-ATRA" and meta.mdv_oid == "MDV.1"
    dose = meta.items["IT.DARA.DOSE"]
    assert (dose.name, dose.datatype, dose.label) == ("DOSE", "float", "Dose")
    assert meta.items["IT.DARA.CYCLE"].datatype == "integer"
    icdat = meta.items["IT.ENROL.ICDAT"]
    assert (icdat.datatype, icdat.raw_format) == ("text", "DD-MON-YYYY")
    sex = meta.codelists[meta.items["IT.ENROL.SEX"].codelist]
    assert [t for t, _ in sex.terms] == ["Female", "M", "Man"]  # the values the sender's data hold
    assert meta.item_groups["IG.ENROL"].repeating and meta.forms["F.ENROL"] == ("enrol", ("IG.ENROL",))


# ---------------------------------------------------------------------------------------------------------------
# hand-written ODM: transactions, skipped elements, bad input

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" xmlns:mdsol="http://www.mdsol.com/ns/odm/metadata" FileType="{kind}" FileOID="F{n}" CreationDateTime="2024-01-0{n}T00:00:00" ODMVersion="1.3.2">
"""
META = """<Study OID="S"><GlobalVariables><StudyName>S</StudyName><StudyDescription>d</StudyDescription>
<ProtocolName>P</ProtocolName></GlobalVariables>
<MetaDataVersion OID="M" Name="m">
<ItemGroupDef OID="IG.VS" Name="vs" Repeating="Yes"><ItemRef ItemOID="IT.TEST" Mandatory="Yes"/>
<ItemRef ItemOID="IT.VAL" Mandatory="No"/><ItemRef ItemOID="IT.DAT" Mandatory="No"/></ItemGroupDef>
<ItemDef OID="IT.TEST" Name="VSTEST" DataType="text" Length="8" mdsol:Variable="VSTEST"/>
<ItemDef OID="IT.VAL" Name="VSORRES" DataType="float" Length="8" SignificantDigits="1"/>
<ItemDef OID="IT.DAT" Name="VSDAT" DataType="date"/>
</MetaDataVersion></Study>
"""


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def snapshot(tmp_path: Path) -> Path:
    return write(tmp_path / "a.xml", HEAD.format(kind="Snapshot", n=1) + META + """\
<ClinicalData StudyOID="S" MetaDataVersionOID="M">
<SubjectData SubjectKey="001"><AuditRecord><UserRef UserOID="U"/><LocationRef LocationOID="L"/><DateTimeStamp>2024-01-01T00:00:00</DateTimeStamp></AuditRecord>
<SiteRef LocationOID="S1"/>
<StudyEventData StudyEventOID="SE.V1"><FormData FormOID="F.VS"><Annotation SeqNum="1"><Comment>checked</Comment></Annotation>
<ItemGroupData ItemGroupOID="IG.VS" ItemGroupRepeatKey="1" mdsol:Submission="SpecifiedItemsOnly">
<mdsol:Note>vendor element: not data</mdsol:Note>
<ItemData ItemOID="IT.TEST" Value="SYSBP"/><ItemData ItemOID="IT.VAL" Value="120"/><ItemData ItemOID="IT.DAT" Value="2024-01-01"/>
</ItemGroupData>
<ItemGroupData ItemGroupOID="IG.VS" ItemGroupRepeatKey="2">
<ItemData ItemOID="IT.TEST" Value="DIABP"/><ItemData ItemOID="IT.VAL" Value="80"/>
</ItemGroupData>
</FormData></StudyEventData></SubjectData>
<SubjectData SubjectKey="002"><SiteRef LocationOID="S2"/>
<StudyEventData StudyEventOID="SE.V1"><FormData FormOID="F.VS">
<ItemGroupData ItemGroupOID="IG.VS" ItemGroupRepeatKey="1">
<ItemData ItemOID="IT.TEST" Value="SYSBP"/><ItemData ItemOID="IT.VAL" Value="135"/>
</ItemGroupData>
</FormData></StudyEventData></SubjectData>
</ClinicalData></ODM>
""")


def test_snapshot_rows_keys_and_skipped_elements(tmp_path):
    """Vendor extensions (mdsol: attributes and an element) are read past without a problem."""
    export = read_odm([snapshot(tmp_path)])
    vs = export.tables["IG.VS"]
    assert vs[["SUBJECTKEY", "SITEOID", "EVENTOID", "IGREPEATKEY", "VSTEST", "VSORRES", "VSDAT"]].values.tolist() == [
        ["001", "S1", "SE.V1", "1", "SYSBP", "120", "2024-01-01"],
        ["001", "S1", "SE.V1", "2", "DIABP", "80", None],
        ["002", "S2", "SE.V1", "1", "SYSBP", "135", None]]
    assert dict(export.ignored) == {"AuditRecord": 1, "Annotation": 1}
    assert export.problems == []


def test_transactional_file_updates_removes_and_adds_rows_in_order(tmp_path):
    first = snapshot(tmp_path)
    second = write(tmp_path / "b.xml", HEAD.format(kind="Transactional", n=2) + """\
<ClinicalData StudyOID="S" MetaDataVersionOID="M">
<SubjectData SubjectKey="001" TransactionType="Update"><SiteRef LocationOID="S1"/>
<StudyEventData StudyEventOID="SE.V1"><FormData FormOID="F.VS">
<ItemGroupData ItemGroupOID="IG.VS" ItemGroupRepeatKey="1" TransactionType="Update">
<ItemData ItemOID="IT.VAL" Value="118" TransactionType="Update"><AuditRecord><UserRef UserOID="U"/><LocationRef LocationOID="L"/><DateTimeStamp>2024-01-02T00:00:00</DateTimeStamp><ReasonForChange>typo</ReasonForChange></AuditRecord></ItemData>
<ItemData ItemOID="IT.DAT" IsNull="Yes"/>
</ItemGroupData>
<ItemGroupData ItemGroupOID="IG.VS" ItemGroupRepeatKey="2" TransactionType="Remove"/>
<ItemGroupData ItemGroupOID="IG.VS" ItemGroupRepeatKey="3" TransactionType="Insert">
<ItemData ItemOID="IT.TEST" Value="PULSE"/><ItemData ItemOID="IT.VAL" Value="64"/>
</ItemGroupData>
</FormData></StudyEventData></SubjectData>
</ClinicalData></ODM>
""")
    # given in the wrong order: the files are merged in CreationDateTime order
    export = read_odm([second, first])
    vs = export.tables["IG.VS"]
    assert vs[["SUBJECTKEY", "IGREPEATKEY", "VSTEST", "VSORRES", "VSDAT"]].values.tolist() == [
        ["001", "1", "SYSBP", "118", None],
        ["002", "1", "SYSBP", "135", None],
        ["001", "3", "PULSE", "64", None]]
    assert export.removed == {"IG.VS": 1}
    assert dict(export.ignored) == {"AuditRecord": 2, "Annotation": 1}


def test_bad_items_are_problems_with_file_line_subject_and_oid(tmp_path):
    path = snapshot(tmp_path)
    edit(path, 'Value="80"', 'Value="eighty"')
    edit(path, '<ItemData ItemOID="IT.VAL" Value="135"/>',
         '<ItemData ItemOID="IT.VAL" Value="135"/><ItemData ItemOID="IT.POS" Value="SITTING"/>')
    edit(path, '<SiteRef LocationOID="S2"/>', '<SiteRef LocationOID="S2"/>')
    export = read_odm([path])
    got = {(p.rule_id, p.line, p.subject, p.group, p.row, p.oid, p.value) for p in export.problems}
    assert got == {
        ("ODM-DATATYPE", line_of(path, 'Value="eighty"'), "001", "IG.VS", 2, "IT.VAL", "eighty"),
        ("ODM-UNKNOWN-ITEM", line_of(path, "IT.POS"), "002", "IG.VS", 3, "IT.POS", "SITTING"),
    }
    vs = export.tables["IG.VS"]  # nothing lost: both values stay in the table
    assert vs["VSORRES"].tolist() == ["120", "eighty", "135"] and vs["IT.POS"].tolist() == [None, None, "SITTING"]


def test_subject_at_two_sites_is_a_problem(tmp_path):
    path = snapshot(tmp_path)
    text = path.read_text(encoding="utf-8")
    again = ('<SubjectData SubjectKey="001"><SiteRef LocationOID="S9"/><StudyEventData StudyEventOID="SE.V2">'
             '<FormData FormOID="F.VS"><ItemGroupData ItemGroupOID="IG.VS" ItemGroupRepeatKey="1">'
             '<ItemData ItemOID="IT.TEST" Value="SYSBP"/></ItemGroupData></FormData></StudyEventData></SubjectData>\n')
    path.write_text(text.replace("</ClinicalData>", again + "</ClinicalData>"), encoding="utf-8")
    problems = read_odm([path]).problems
    assert [(p.rule_id, p.subject, p.row, p.value, p.line) for p in problems] == [
        ("ODM-SUBJECT-SITE", "001", 4, "S9", line_of(path, 'LocationOID="S9"'))]
    assert "at site S9 here but at site S1" in problems[0].message


def test_malformed_xml_names_file_and_line(tmp_path):
    path = snapshot(tmp_path)
    edit(path, '<ItemData ItemOID="IT.VAL" Value="135"/>', '<ItemData ItemOID="IT.VAL" Value="135">')
    with pytest.raises(InputError, match=r"a\.xml: not well-formed XML at line \d+"):
        read_odm([path])


@pytest.mark.slow
def test_bad_odm_items_reject_their_rows_and_nothing_is_lost(spec, odm_small):
    dose_line = line_of(odm_small, 'ItemOID="IT.DARA.DOSE" Value="16"')
    edit(odm_small, '<ItemData ItemOID="IT.DARA.DOSE" Value="16"/>', '<ItemData ItemOID="IT.DARA.DOSE" Value="16 mg"/>')
    edit(odm_small, '<ItemData ItemOID="IT.ENROL.SEX" Value="M"/>',
         '<ItemData ItemOID="IT.ENROL.SEX" Value="M"/>\n<ItemData ItemOID="IT.ENROL.NICKNAME" Value="Bob"/>')
    export = read_export(spec, odm_small)
    f = export.findings.frame().set_index("rule_id")
    dtype = f.loc["ODM-DATATYPE"]
    assert (dtype["dataset"], dtype["variable"], dtype["subject"], dtype["row"], dtype["value"]) == \
        ("dara", "IT.DARA.DOSE", "01-001", 1, "16 mg")
    assert dtype["message"].startswith(f"line {dose_line}:") and dtype["source"] == "small.xml"
    unknown = f.loc["ODM-UNKNOWN-ITEM"]
    assert (unknown["dataset"], unknown["subject"], unknown["row"], unknown["value"]) == ("enrol", "01-002", 2, "Bob")
    result = map_study(spec, odm_small, on_error="reject")
    rejected = result.rejects.set_index(["form", "row"])
    assert "ODM-DATATYPE" in rejected.loc[("dara", 1), "rule_id"]
    assert "ODM-UNKNOWN-ITEM" in rejected.loc[("enrol", 2), "rule_id"]
    assert result.lost_rows == 0 and (result.accounting["file"] == "small.xml").all()


# ---------------------------------------------------------------------------------------------------------------
# end to end


@pytest.mark.slow
def test_simulated_odm_export_gives_the_same_sdtm_bytes_as_the_csv_export(tmp_path):
    from cdiscflow.usecases import map_raw_to_sdtm_folder
    from cdiscflow.studies.dara_atra.simulate import simulate

    simulate(tmp_path / "odm", format="odm")
    xml = tmp_path / "odm" / "dara_atra.xml"
    schema = odm_schema()
    assert schema.validate(etree.parse(str(xml))), schema.error_log.filter_from_errors()[:3]
    map_raw_to_sdtm_folder(None, None, tmp_path / "from_csv")
    map_raw_to_sdtm_folder(None, tmp_path / "odm", tmp_path / "from_odm")
    outputs = sorted(p.name for p in (tmp_path / "from_csv").iterdir()
                     if p.suffix in (".xpt", ".json", ".xml") and not p.name.startswith("_"))
    assert len(outputs) == 53  # 26 datasets as XPT and Dataset-JSON, and define.xml
    for name in outputs:
        assert (tmp_path / "from_odm" / name).read_bytes() == (tmp_path / "from_csv" / name).read_bytes(), name


# Peak resident memory of the reading alone: the high-water mark is reset first (a forked child inherits the
# parent's, and getrusage's ru_maxrss survives exec), then VmHWM - VmRSS before reading.
MEMORY_PROBE = """
import sys
from pathlib import Path
from cdiscflow.sdtm.raw.odm import read_odm
def status_kb(key):
    return int(next(l for l in open("/proc/self/status") if l.startswith(key)).split()[1])
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
before = status_kb("VmRSS")
export = read_odm([Path(sys.argv[1])])
print(status_kb("VmHWM") - before, sum(len(t) for t in export.tables.values()))
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="reads the peak memory from /proc (Linux)")
def test_reading_a_large_odm_file_needs_far_less_memory_than_the_file(tmp_path):
    from cdiscflow.studies.dara_atra.simulate import simulate

    result = simulate(tmp_path, subjects=1500, format="odm")
    xml = tmp_path / "dara_atra.xml"
    size_kb = xml.stat().st_size / 1024
    assert size_kb > 60_000  # about 85 MB
    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(xml)], capture_output=True, text=True, check=True)
    grown_kb, rows = map(int, out.stdout.split())
    assert rows == sum(result.rows.values())
    # measured 39 MB for 85 MB (a whole lxml tree of the same file: 1.16 GB)
    assert grown_kb < 0.55 * size_kb, (grown_kb, size_kb)


@pytest.mark.slow
def test_pharmaverse_raw_written_as_odm_gives_the_same_sdtm_bytes(shared, tmp_path):
    from cdiscflow.usecases import map_raw_to_sdtm_folder

    raw = shared / "reference-data" / "pharmaverse" / "raw"
    spec = load_study("pharmaverse_pilot")
    rows = write_odm(spec, raw, tmp_path / "pilot.xml")
    assert rows == {"dm": 306, "ae": 1191, "ds": 850, "ec": 591, "vs": 12978}
    schema = odm_schema()
    assert schema.validate(etree.parse(str(tmp_path / "pilot.xml"))), schema.error_log.filter_from_errors()[:3]
    map_raw_to_sdtm_folder("pharmaverse_pilot", raw, tmp_path / "from_parquet")
    map_raw_to_sdtm_folder("pharmaverse_pilot", tmp_path / "pilot.xml", tmp_path / "from_odm")
    outputs = sorted(p.name for p in (tmp_path / "from_parquet").iterdir()
                     if p.suffix in (".xpt", ".json", ".xml") and not p.name.startswith("_"))
    assert len(outputs) == 13  # DM AE DS EX TV VS as XPT and Dataset-JSON, and define.xml
    for name in outputs:
        assert (tmp_path / "from_odm" / name).read_bytes() == (tmp_path / "from_parquet" / name).read_bytes(), name
