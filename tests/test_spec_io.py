"""Study metadata in and out (issue 15): define.xml 1.0/2.0/2.1 and spec workbooks -> spec folder -> define.xml 2.1
and workbook, round trips, bad input.

The hand-written fixtures in tests/data/spec_io describe one made-up study (MINI01) four ways: define21.xml,
define20.xml, define10.xml and mini_spec.xlsx (a Pinnacle 21 style workbook, made by make_workbook.py).
"""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from lxml import etree

from cdiscflow.cli import main
from cdiscflow.core.errors import InputError, SpecError
from cdiscflow.export.define import validate_define
from cdiscflow.specs.define_xml import read_define_tables
from cdiscflow.specs.metadata_diff import define_differences, define_facts, fact_differences
from cdiscflow.specs.load import load_study
from cdiscflow.specs.spec_io import export_workbook, import_spec
from cdiscflow.usecases import export_spec_define
from cdiscflow.specs.tables import metadata_tables, table_differences, with_comment_text
from cdiscflow.specs.workbook import read_workbook_tables

DATA = Path(__file__).parent / "data" / "spec_io"
DEFINE21, DEFINE20, DEFINE10, WORKBOOK = (DATA / "define21.xml", DATA / "define20.xml", DATA / "define10.xml",
                                          DATA / "mini_spec.xlsx")


def rows(tables, name, **match):
    return [r for r in tables.table(name) if all(r[k] == v for k, v in match.items())]


def one(tables, name, **match):
    found = rows(tables, name, **match)
    assert len(found) == 1, (name, match, found)
    return found[0]


def variables_by_dataset(path: Path) -> dict[str, list[str]]:
    """Dataset -> variable names in ItemRef order, read with plain XPath (independent of the reader under test)."""
    root = etree.parse(str(path)).getroot()
    items = {el.get("OID"): el.get("Name") for el in root.iter("{*}ItemDef")}
    out = {}
    for group in root.iter("{*}ItemGroupDef"):
        refs = [r for r in group if etree.QName(r).localname == "ItemRef"]
        refs.sort(key=lambda r: int(r.get("OrderNumber") or 0))
        out[group.get("Name")] = [items[r.get("ItemOID")] for r in refs]
    return out


# ----------------------------------------------------------------------------------------------------------------
# reading the three Define-XML versions and the workbook


def test_define21_reads_every_kind_of_metadata():
    t = read_define_tables(DEFINE21)
    assert t.study["studyid"] == "MINI01" and t.study["protocol"] == "MINI-01"
    assert t.study["metadata_date"] == "2024-03-01" and t.study["sponsor"] == "Mini Pharma"
    assert t.study["standards"] == {"SDTMIG": "3.4", "define": "2.1.0", "ct": {"SDTM": "2025-03-28"}}
    assert [d["dataset"] for d in t.datasets] == ["DM", "VS", "AE"]
    dm = one(t, "datasets", dataset="DM")
    assert (dm["class"], dm["keys"], dm["repeating"], dm["comment"]) == ("SPECIAL PURPOSE", "STUDYID, USUBJID", "No",
                                                                         "COM.DM")
    assert one(t, "datasets", dataset="VS")["keys"] == "STUDYID, USUBJID, VSTESTCD, VISITNUM"
    age = one(t, "variables", dataset="DM", variable="AGE")
    assert (age["datatype"], age["length"], age["origin"], age["pages"], age["mandatory"]) == (
        "integer", "3", "Collected", "3", "No")
    usubjid = one(t, "variables", dataset="VS", variable="USUBJID")
    assert (usubjid["origin"], usubjid["source"]) == ("Predecessor", "DM.USUBJID")
    vsdtc = one(t, "variables", dataset="VS", variable="VSDTC")
    assert (vsdtc["datatype"], vsdtc["length"], vsdtc["origin"], vsdtc["source"]) == ("datetime", "", "Collected",
                                                                                        "Vendor")
    assert one(t, "variables", dataset="AE", variable="AETERM")["pages"] == "7-8"
    assert one(t, "variables", dataset="DM", variable="USUBJID")["method"] == "MT.USUBJID"
    assert one(t, "variables", dataset="VS", variable="VSSTRESN")["significant_digits"] == "1"
    assert one(t, "variables", dataset="AE", variable="AESEV")["role"] == "Record Qualifier"
    assert [r["where"] for r in t.valuelevel] == ["VSTESTCD EQ SYSBP", "VSTESTCD IN HEIGHT|WEIGHT",
                                                  "VSTESTCD EQ FRAILTY"]
    htwt = one(t, "valuelevel", where="VSTESTCD IN HEIGHT|WEIGHT")
    assert (htwt["variable"], htwt["datatype"], htwt["length"], htwt["display_format"], htwt["method"]) == (
        "VSORRES", "float", "5", "5.1", "MT.VSSTRESN")
    assert one(t, "valuelevel", where="VSTESTCD EQ FRAILTY")["mandatory"] == "Yes"
    frailty = one(t, "codelists", codelist="VSTESTCD", term="FRAILTY")
    assert (frailty["term_code"], frailty["decode"], frailty["codelist_code"]) == ("", "Frailty Category", "C66741")
    assert one(t, "codelists", codelist="AESEV", term="MILD")["decode"] == ""  # an EnumeratedItem
    meddra = one(t, "codelists", codelist="MEDDRA")
    assert (meddra["dictionary"], meddra["version"], meddra["term"]) == ("MedDRA", "26.0", "")
    m = one(t, "methods", method="MT.USUBJID")
    assert (m["expression_context"], m["expression_code"]) == ("SAS 9.4", "USUBJID = catx('-', STUDYID, SUBJID);")
    assert one(t, "methods", method="MT.VSSTRESN")["description"].endswith("unit\n(see the conversion table).")
    assert (one(t, "methods", method="MT.VSSTRESN")["document"], one(t, "methods", method="MT.VSSTRESN")["pages"]) == (
        "csdrg", "12")
    arm = one(t, "comments", comment="COM.DM.ARM")
    assert (arm["description"], arm["document"], arm["pages"]) == ("Arms as named in the protocol.", "csdrg", "Arms")
    assert {(d["document"], d["kind"]) for d in t.documents} == {("acrf", "acrf"), ("csdrg", "supplemental")}
    assert t.notes == []


def test_define20_says_what_define21_says():
    diffs = fact_differences(define_facts(read_define_tables(DEFINE20)), define_facts(read_define_tables(DEFINE21)),
                             ("2.0", "2.1"))
    assert diffs == ["only in 2.1: study standards ct SDTM = '2025-03-28'"]  # 2.0 cannot name CT versions
    t = read_define_tables(DEFINE20)
    assert one(t, "variables", dataset="VS", variable="VSDTC")["origin"] == "Collected"  # 2.0's eDT
    assert one(t, "variables", dataset="VS", variable="VSDTC")["source"] == "Vendor"
    assert one(t, "variables", dataset="DM", variable="SEX")["origin"] == "Collected"  # 2.0's CRF
    assert t.study["standards"]["SDTMIG"] == "3.4"


def test_define10_is_read_in_define21_terms():
    t = read_define_tables(DEFINE10)
    assert t.study["standards"] == {"SDTMIG": "3.1.2", "define": "2.1.0"}
    assert [d["class"] for d in t.datasets] == ["SPECIAL PURPOSE", "FINDINGS", "EVENTS"]
    assert one(t, "datasets", dataset="DM")["label"] == "Demographics"
    assert one(t, "datasets", dataset="AE")["keys"] == "STUDYID, USUBJID, AEDECOD, AESTDTC"
    assert one(t, "datasets", dataset="DM")["comment"] == "One record per randomised subject."  # text, not an id
    sex = one(t, "variables", dataset="DM", variable="SEX")
    assert (sex["label"], sex["origin"], sex["pages"], sex["role"], sex["codelist"]) == (
        "Sex", "Collected", "3", "Record Qualifier", "SEX")
    assert one(t, "variables", dataset="VS", variable="VSORRES")["pages"] == "5 6"
    assert (one(t, "variables", dataset="VS", variable="VSDTC")["origin"],
            one(t, "variables", dataset="VS", variable="VSDTC")["source"]) == ("Collected", "Vendor")
    assert one(t, "variables", dataset="DM", variable="USUBJID")["method"] == "COMPMETHOD.USUBJID"
    assert one(t, "methods", method="COMPMETHOD.USUBJID")["type"] == "Computation"
    # the value list on the key VSTESTCD describes the result VSORRES per test code
    assert [(r["variable"], r["where"], r["datatype"], r["length"], r["label"]) for r in t.valuelevel] == [
        ("VSORRES", "VSTESTCD EQ SYSBP", "integer", "3", "Systolic Blood Pressure"),
        ("VSORRES", "VSTESTCD EQ HEIGHT", "float", "5", "Height"),
        ("VSORRES", "VSTESTCD EQ WEIGHT", "float", "5", "Weight"),
        ("VSORRES", "VSTESTCD EQ FRAILTY", "text", "9", "Frailty Category"),
    ]
    assert one(t, "valuelevel", where="VSTESTCD EQ FRAILTY")["codelist"] == "FRAILTY"
    assert one(t, "codelists", codelist="SEX", term="M")["order"] == "2"  # def:Rank
    assert {(d["document"], d["kind"]) for d in t.documents} == {("blankcrf", "acrf"), ("csdrg", "supplemental")}


def test_workbook_reads_like_the_define():
    w = read_workbook_tables(WORKBOOK)
    assert fact_differences(define_facts(w), define_facts(read_define_tables(DEFINE21)), ("xlsx", "define")) == []
    assert w.study["studyid"] == "MINI01"  # from the "Define" sheet
    assert one(w, "valuelevel", where="VSTESTCD IN HEIGHT|WEIGHT")["length"] == "5"  # "IN HEIGHT, WEIGHT"
    assert one(w, "variables", dataset="VS", variable="USUBJID")["source"] == "DM.USUBJID"  # Predecessor column
    assert one(w, "variables", dataset="VS", variable="VSDTC")["source"] == "Vendor"  # eDT
    assert w.notes == ["sheet Datasets: column Developer Notes (1 filled cell(s)) has no place in the spec; "
                       "not imported"]


# ----------------------------------------------------------------------------------------------------------------
# import -> spec folder -> export


@pytest.mark.parametrize("source", [DEFINE21, DEFINE20, DEFINE10, WORKBOOK], ids=lambda p: p.name)
def test_import_gives_a_spec_check_spec_accepts(source, tmp_path):
    out = tmp_path / "mini"
    runner = CliRunner()
    result = runner.invoke(main, ["spec", "import", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "3 datasets, 21 variables" in result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["study.yaml", "datasets.csv", "variables.csv", "valuelevel.csv", "codelists.csv", "methods.csv",
         "documents.csv"] + (["comments.csv"] if source != DEFINE10 else []) + (
            ["import_notes.txt"] if source == WORKBOOK else []))
    check = runner.invoke(main, ["check-spec", str(out)])
    assert check.exit_code == 0, check.output
    assert "MINI01: 3 datasets, 21 variables, 7 codelists, 0 raw forms, 0 SDTM mappings: OK" in check.output
    spec = load_study(out)
    assert "datacut" not in spec.study and spec.dataset("VS").keys[2] == "VSTESTCD"
    assert spec.dataset("DM").variable("AGE").length == 3


@pytest.mark.parametrize("source", [DEFINE21, DEFINE20, DEFINE10], ids=lambda p: p.name)
def test_define_round_trip_keeps_everything(source, tmp_path):
    """define.xml -> spec -> define.xml 2.1: the same datasets, variables, labels, types, lengths, codelist terms,
    value-level rows, methods and origins (compared as sets of facts; any difference is listed)."""
    import_spec([source], tmp_path / "spec")
    exported = export_spec_define(load_study(tmp_path / "spec"), tmp_path / "out" / "define.xml")
    assert validate_define(exported.path) == []
    assert (tmp_path / "out" / "define2-1.xsl").is_file()
    assert define_differences(source, exported.path) == []
    assert variables_by_dataset(exported.path) == variables_by_dataset(source)
    assert exported.without_length == []  # every text variable has a length (dates have none in Define-XML)


def test_define21_round_trip_is_stable_byte_for_byte(tmp_path):
    """A define.xml written by cdiscflow, imported and exported again, is the same file."""
    import_spec([DEFINE21], tmp_path / "a")
    first = export_spec_define(load_study(tmp_path / "a"), tmp_path / "a.xml").path
    import_spec([first], tmp_path / "b")
    second = export_spec_define(load_study(tmp_path / "b"), tmp_path / "b.xml").path
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.slow
def test_dara_atra_round_trips_through_the_workbook(tmp_path):
    spec = load_study("dara_atra")
    book = export_workbook(spec, tmp_path / "dara.xlsx")
    assert book.read_bytes() == export_workbook(spec, tmp_path / "again.xlsx").read_bytes()  # deterministic
    wb = openpyxl.load_workbook(book, read_only=True)
    assert wb.sheetnames == ["Study", "Standards", "Datasets", "Variables", "ValueLevel", "WhereClauses", "Codelists",
                             "Dictionaries", "Methods", "Comments", "Documents"]
    wb.close()
    result = import_spec([book], tmp_path / "dara")
    assert result.problems == []
    before = with_comment_text(metadata_tables(spec))
    after = with_comment_text(metadata_tables(load_study(tmp_path / "dara")))
    assert table_differences(before, after, ("dara_atra", "via xlsx")) == []
    assert len(after.variables) == 547 and len(after.valuelevel) == 33


@pytest.mark.slow
def test_dara_atra_round_trips_through_define_xml(tmp_path):
    spec = load_study("dara_atra")
    sdtm = export_spec_define(spec, tmp_path / "sdtm" / "define.xml", "SDTM")
    adam = export_spec_define(spec, tmp_path / "adam" / "define.xml", "ADaM")
    assert (sdtm.variables, adam.variables) == (367, 180)
    assert validate_define(sdtm.path) == [] and validate_define(adam.path) == []
    result = import_spec([sdtm.path, adam.path], tmp_path / "dara")
    assert result.problems == []
    again = load_study(tmp_path / "dara")
    before, after = metadata_tables(spec), metadata_tables(again)
    # everything define.xml carries is the same; the spec's unused Define-XML CT package is not written
    assert fact_differences(define_facts(before), define_facts(after), ("dara_atra", "via define")) == [
        "only in dara_atra: study standards ct Define-XML = '2025-09-26'"]
    # cell by cell, apart from what Define-XML has no place for or states explicitly
    not_in_define = ("core", "synonyms", "extensible", "mandatory", "variables.length", "valuelevel.length",
                     "valuelevel.label")
    assert table_differences(with_comment_text(before), with_comment_text(after), ("dara_atra", "via define"),
                             ignore=not_in_define) == []
    # core: only the variables the implementation guide does not know lose it (define.xml has Mandatory only)
    lost = {(v["dataset"], v["variable"], v["core"]) for v in before.variables} - {
        (v["dataset"], v["variable"], v["core"]) for v in after.variables}
    assert lost == {("ADSL", "TRT01P", "Req"), ("ADSL", "TRT01A", "Cond"), ("ADSL", "TRT02P", "Perm"),
                    ("ADSL", "TRT02A", "Perm")}
    assert again.dataset("ADSL").variable("TRT01P").mandatory == "Yes"  # Req as Mandatory


# ----------------------------------------------------------------------------------------------------------------
# bad input


def _workbook(tmp_path: Path, drop_sheet: str = "", rename: tuple[str, str, str] | None = None,
              cell: tuple[str, str, int, str] | None = None) -> Path:
    wb = openpyxl.load_workbook(WORKBOOK)
    if drop_sheet:
        del wb[drop_sheet]
    if rename:
        sheet, old, new = rename
        for c in wb[sheet][1]:
            if c.value == old:
                c.value = new
    if cell:
        sheet, header, row, value = cell
        col = next(c.column for c in wb[sheet][1] if c.value == header)
        wb[sheet].cell(row, col, value)
    path = tmp_path / "broken.xlsx"
    wb.save(path)
    return path


def test_workbook_without_a_sheet_names_it(tmp_path):
    with pytest.raises(InputError, match="sheet Variables is missing"):
        read_workbook_tables(_workbook(tmp_path, drop_sheet="Variables"))


def test_workbook_without_a_column_names_sheet_and_column(tmp_path):
    with pytest.raises(InputError) as err:
        read_workbook_tables(_workbook(tmp_path, rename=("Variables", "DATA TYPE", "Kind of data")))
    assert "sheet Variables: column Data Type is missing" in str(err.value)


def test_workbook_with_an_unknown_codelist_names_sheet_row_and_column(tmp_path):
    with pytest.raises(InputError) as err:
        read_workbook_tables(_workbook(tmp_path, cell=("Variables", "Codelist", 5, "GENDER")))
    assert "sheet Variables row 5 column Codelist: codelist 'GENDER' is in no sheet Codelists or Dictionaries" in str(
        err.value)


def test_workbook_with_a_bad_where_clause_names_the_cell(tmp_path):
    with pytest.raises(InputError) as err:
        read_workbook_tables(_workbook(tmp_path, cell=("ValueLevel", "Where Clause", 2, "VSTESTCD = SYSBP")))
    assert "sheet ValueLevel row 2 column Where Clause: where clause 'VSTESTCD = SYSBP'" in str(err.value)


def test_define_with_a_dangling_oid_names_the_oid_and_its_xpath(tmp_path):
    text = DEFINE21.read_text(encoding="utf-8")
    start = text.index('<CodeList OID="CL.NY"')
    broken = text[:start] + text[text.index("</CodeList>", start) + len("</CodeList>"):]
    path = tmp_path / "define.xml"
    path.write_text(broken.replace('MethodOID="MT.SEQ"', 'MethodOID="MT.SEQUENCE"'), encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_define_tables(path)
    msg = str(err.value)
    assert "2 reference(s) to nothing" in msg
    assert ("dangling OID 'CL.NY': CodeListOID names no CodeList (at /ODM/Study[@OID='MINI01']/"
            "MetaDataVersion[@OID='MDV.MINI01']/ItemDef[@OID='IT.AE.AESER']/CodeListRef[@CodeListOID='CL.NY'], "
            "line") in msg
    assert ("dangling OID 'MT.SEQUENCE': MethodOID names no MethodDef (at /ODM/Study[@OID='MINI01']/"
            "MetaDataVersion[@OID='MDV.MINI01']/ItemGroupDef[@OID='IG.VS']/ItemRef[@ItemOID='IT.VS.VSSEQ'], line") in msg


def test_malformed_define_names_the_line(tmp_path):
    path = tmp_path / "define.xml"
    path.write_text(DEFINE21.read_text(encoding="utf-8").replace("</ItemGroupDef>", "</ItemGroup>", 1),
                    encoding="utf-8")
    with pytest.raises(InputError, match=r"not well-formed XML at line \d+"):
        read_define_tables(path)


def test_import_refuses_a_non_empty_folder_and_replaces_it_whole_with_force(tmp_path):
    out = tmp_path / "spec"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    runner = CliRunner()
    result = runner.invoke(main, ["spec", "import", str(DEFINE21), "--out", str(out)])
    assert result.exit_code == 2 and "not empty" in result.output
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    result = runner.invoke(main, ["spec", "import", str(DEFINE21), "--out", str(out), "--force"])
    assert result.exit_code == 0, result.output
    assert not (out / "mine.txt").exists() and (out / "variables.csv").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["spec"]  # no temporary folders left beside it


def test_a_failed_import_writes_nothing(tmp_path, monkeypatch):
    out = tmp_path / "spec"
    with pytest.raises(InputError):
        import_spec([_workbook(tmp_path, drop_sheet="Datasets")], out)
    assert not out.exists()

    import cdiscflow.core.atomic as atomic

    written = []

    def boom(path, data):  # the third file fails: the folder never appears, its temporary is removed
        written.append(path)
        if len(written) == 3:
            raise OSError("disk full")
        real(path, data)

    real = atomic.write_bytes
    monkeypatch.setattr(atomic, "write_bytes", boom)
    with pytest.raises(OSError):
        import_spec([DEFINE21], out)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.xlsx"]


def test_import_reports_problems_check_spec_would_find(tmp_path):
    broken = tmp_path / "define.xml"
    broken.write_text(DEFINE21.read_text(encoding="utf-8").replace(
        "<TranslatedText xml:lang=\"en\">Age</TranslatedText>",
        "<TranslatedText xml:lang=\"en\">Age of the subject at informed consent in whole years</TranslatedText>"),
        encoding="utf-8")
    result = CliRunner().invoke(main, ["spec", "import", str(broken), "--out", str(tmp_path / "spec")])
    assert result.exit_code == 1
    assert "DM.AGE: label is 53 characters (max 40)" in result.output
    assert (tmp_path / "spec" / "variables.csv").is_file()  # written, for the user to fix


def test_export_define_needs_the_standard_when_the_spec_has_two(tmp_path):
    with pytest.raises(SpecError, match="--standard SDTM or --standard ADaM"):
        export_spec_define(load_study("dara_atra"), tmp_path / "define.xml")
    assert not (tmp_path / "define.xml").exists()


def test_export_define_refuses_a_define_the_schema_rejects(tmp_path):
    src = tmp_path / "spec"
    import_spec([DEFINE21], src)
    datasets = (src / "datasets.csv").read_text(encoding="utf-8")
    (src / "datasets.csv").write_text(datasets.replace("SPECIAL PURPOSE", "DEMOGRAPHY"), encoding="utf-8")
    with pytest.raises(SpecError, match="would not validate against the Define-XML 2.1 schema"):
        export_spec_define(load_study(src), tmp_path / "define.xml")
    assert not (tmp_path / "define.xml").exists()


def test_cli_export_both_formats(tmp_path):
    runner = CliRunner()
    assert runner.invoke(main, ["spec", "import", str(DEFINE21), "--out", str(tmp_path / "s")]).exit_code == 0
    result = runner.invoke(main, ["spec", "export", str(tmp_path / "s"), "--format", "define", "--out",
                                  str(tmp_path / "define.xml")])
    assert result.exit_code == 0, result.output
    assert "define.xml 2.1 (SDTM), 21 variables, valid against the Define-XML 2.1 schema" in result.output
    assert "have no length" not in result.output  # date types are not character lengths
    result = runner.invoke(main, ["spec", "export", str(tmp_path / "s"), "--format", "xlsx", "--out",
                                  str(tmp_path / "s.xlsx")])
    assert result.exit_code == 0, result.output
    assert fact_differences(define_facts(read_workbook_tables(tmp_path / "s.xlsx")),
                            define_facts(read_define_tables(DEFINE21))) == []


# ----------------------------------------------------------------------------------------------------------------
# the CDISC pilot (reference data; skipped without ../shared)


PILOT = "reference-data/cdiscpilot01"


@pytest.mark.slow
@pytest.mark.parametrize("rel, datasets, variables, valuelevel", [
    ("sdtm/define.xml", 22, 313, 221),            # Define-XML 1.0
    ("adam/define.xml", 10, 415, 903),            # Define-XML 1.0 (value lists on the results, by PARAMCD)
    ("adam_tdf_v1.0/define.xml", 5, 216, 15),     # Define-XML 2.0 (Pinnacle 21)
])
def test_pilot_define_imports_checks_and_exports(shared, tmp_path, rel, datasets, variables, valuelevel):
    source = shared / PILOT / rel
    runner = CliRunner()
    result = runner.invoke(main, ["spec", "import", str(source), "--out", str(tmp_path / "spec")])
    assert result.exit_code == 0, result.output
    assert f"{datasets} datasets, {variables} variables, {valuelevel} value-level rows" in result.output
    assert runner.invoke(main, ["check-spec", str(tmp_path / "spec")]).exit_code == 0
    result = runner.invoke(main, ["spec", "export", str(tmp_path / "spec"), "--format", "define", "--out",
                                  str(tmp_path / "out" / "define.xml")])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out" / "define.xml"
    assert validate_define(out) == []
    assert variables_by_dataset(out) == {k: v for k, v in variables_by_dataset(source).items()}
    assert define_differences(source, out) == []


@pytest.mark.slow
def test_pilot3_workbook_imports_faithfully(shared, tmp_path):
    """The R Consortium pilot 3 ADaM spec workbook: every variable, label, type, length, codelist, method text;
    its define.xml 2.1 says what the TDF define.xml 2.0 (made from the same metadata by Pinnacle 21) says."""
    book = shared / PILOT / "adam_rconsortium_pilot3" / "adam-pilot-3_spec.xlsx"
    runner = CliRunner()
    result = runner.invoke(main, ["spec", "import", str(book), "--out", str(tmp_path / "spec"), "--ig-version", "1.1"])
    assert result.exit_code == 0, result.output
    assert "5 datasets, 216 variables, 15 value-level rows, 36 codelists, 157 methods, 8 comments" in result.output
    assert runner.invoke(main, ["check-spec", str(tmp_path / "spec")]).exit_code == 0
    spec = load_study(tmp_path / "spec")
    assert [(d.name, len(d.variables)) for d in spec.datasets.values()] == [
        ("ADADAS", 40), ("ADAE", 55), ("ADLBC", 46), ("ADSL", 49), ("ADTTE", 26)]
    aval = spec.dataset("ADADAS").variable("AVAL")
    assert (aval.label, aval.datatype, aval.length, aval.significant_digits, aval.method) == (
        "Analysis Value", "float", 16, 13, "ADADAS.AVAL")
    assert spec.methods["ADADAS.ADY"].description == ("ADY = ADT - TRTSDT + 1, if ADT>=TRTSDT. ADY = \n"
                                                      "ADT - TRTSDT, if ADT<TRTSDT.")
    assert spec.comment_text(spec.dataset("ADADAS").variable("PARAM").comment) == "Decoded value for PARAMCD"
    age = spec.dataset("ADSL").variable("AGE")
    assert (age.datatype, age.length, age.origin, age.method) == ("integer", 8, "Derived", "ADSL.AGE")
    trt = spec.dataset("ADSL").variable("TRT01P")
    assert (trt.label, trt.length, trt.codelist, trt.mandatory) == ("Planned Treatment for Period 01", 20, "ARM", "No")
    assert [t.value for t in spec.codelists["ARM"].terms] == ["Placebo", "Xanomeline Low Dose", "Xanomeline High Dose"]
    assert spec.dataset("ADADAS").variable("STUDYID").source == "ADSL.STUDYID"  # the Predecessor column
    # every cell of the sheets, as openpyxl reads them, is in the spec
    wb = openpyxl.load_workbook(book, read_only=True)
    sheets = {ws.title: [r for r in ws.iter_rows(values_only=True) if any(r)] for ws in wb.worksheets}
    wb.close()

    def records(name):
        header, *body = sheets[name]
        return [{h: (str(v).strip() if v is not None else "") for h, v in zip(header, [*r, *[None] * len(header)])}
                for r in body]

    variables = records("Variables")
    assert len(variables) == 216
    for r in variables:
        v = spec.dataset(r["Dataset"]).variable(r["Variable"])
        assert (v.label, v.datatype, str(v.length), v.codelist, v.origin, v.method, v.display_format) == (
            r["Label"], r["Data Type"], r["Length"], r["Codelist"], r["Origin"], r["Method"], r["Format"]), r
        assert v.source == r["Predecessor"] and spec.comment_text(v.comment) == next(
            (c["Description"] for c in records("Comments") if c["ID"] == r["Comment"]), ""), r
    for r in records("Methods"):
        m = spec.methods[r["ID"]]
        assert (m.name, m.type, m.description) == (r["Name"], r["Type"], r["Description"])
    terms = {(cid, t.value): t for cid, cl in spec.codelists.items() for t in cl.terms}
    for r in records("Codelists"):
        t = terms[(r["ID"], r["Term"])]
        assert (t.code, str(t.order)) == (r["NCI Term Code"], r["Order"])
        assert t.decode == r["Decoded Value"] or (not r["Decoded Value"] and t.code)  # blank: CDISC CT's decode
    assert len(records("Codelists")) == sum(len(cl.terms) for cl in spec.codelists.values()) == 339
    out = export_spec_define(spec, tmp_path / "define.xml")
    assert validate_define(out.path) == []
    assert define_differences(shared / PILOT / "adam_tdf_v1.0" / "define.xml", out.path) == []


# ----------------------------------------------------------------------------------------------------------------
# what the loader accepts from imported specs (small additions to specs/model.py)


def _imported(tmp_path: Path) -> Path:
    out = tmp_path / "spec"
    import_spec([DEFINE21], out)
    return out


def test_only_a_metadata_only_spec_may_leave_out_the_datacut(tmp_path):
    spec = load_study(_imported(tmp_path))
    with pytest.raises(SpecError, match="study.yaml has no datacut"):
        spec.datacut
    (tmp_path / "spec" / "forms.yaml").write_text("forms: {}\n", encoding="utf-8")
    with pytest.raises(SpecError, match="study.yaml: missing 'datacut'"):
        load_study(tmp_path / "spec")


def test_loader_checks_comments_documents_pages_and_mandatory(tmp_path):
    src = _imported(tmp_path)
    (src / "comments.csv").write_text("comment,description,document,pages\nCOM.DM,One record per subject,sap,3\n"
                                      "COM.DM.ARM,Arms,,\n", encoding="utf-8")
    (src / "documents.csv").write_text("document,title,href,kind\ncsdrg,Guide,csdrg.pdf,supplemental\n",
                                       encoding="utf-8")
    variables = (src / "variables.csv").read_text(encoding="utf-8")
    (src / "variables.csv").write_text(variables.replace(",Yes,", ",yes,", 1), encoding="utf-8")
    with pytest.raises(SpecError) as err:
        load_study(src)
    problems = err.value.problems
    assert "comments.csv line 2: comment COM.DM: unknown document 'sap' (not in documents.csv)" in problems
    assert "variables.csv line 2: DM.STUDYID: mandatory 'yes' must be Yes, No or blank" in problems
    assert "variables.csv DM.AGE: pages '3' need the annotated CRF in documents.csv (a row of kind acrf)" in problems


def test_a_submission_value_wins_over_another_terms_decode(tmp_path):
    """Pilot 3's LBNRIND decodes ABNORMAL as 'HIGH', another term's value: not ambiguous, HIGH is HIGH."""
    src = _imported(tmp_path)
    with open(src / "codelists.csv", "a", encoding="utf-8") as fh:
        fh.write("LBNRIND,,LBNRIND,,text,HIGH,,HIGH,,,,1\nLBNRIND,,LBNRIND,,text,ABNORMAL,,HIGH,,,,2\n")
    spec = load_study(src)
    assert dict(spec.codelists["LBNRIND"].lookup()) == {"HIGH": "HIGH", "ABNORMAL": "ABNORMAL"}


def test_value_level_labels_longer_than_40_only_for_supp_qualifiers(tmp_path):
    src = _imported(tmp_path)
    vl = (src / "valuelevel.csv").read_text(encoding="utf-8")
    (src / "valuelevel.csv").write_text(vl.replace("Systolic Blood Pressure", "Systolic Blood Pressure while sitting "
                                                   "after five minutes of rest"), encoding="utf-8")
    assert len(load_study(src).valuelevel[0].label) == 64  # becomes the define.xml description, not a SAS label
