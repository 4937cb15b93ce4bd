"""Analysis Displays / Analysis Results sheets of a spec workbook: imported into the spec, written back into the
ADaM define.xml as Analysis Results Metadata (ARM 1.0), and named precisely when they refer to nothing."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from cdiscflow.core.errors import InputError
from cdiscflow.export.arm import ARM
from cdiscflow.export.define import DEF, ODM, build_spec_define, validate_define
from cdiscflow.specs.load import load_study
from cdiscflow.specs.spec_io import import_spec
from cdiscflow.specs.workbook import read_workbook_tables
from cdiscflow.specs.workbook_writer import workbook_sheets

NS = {"odm": ODM, "def": DEF, "arm": ARM}
SHEETS = {
    "Define": [["Attribute", "Value"], ["StudyName", "ARMTEST"], ["StudyDescription", "ARM import test"],
               ["ProtocolName", "ARMTEST"], ["StudyID", "ARMTEST"], ["MetadataDate", "2024-05-01"]],
    "Standards": [["Name", "Type", "Publishing Set", "Version"], ["ADaMIG", "IG", "", "1.3"]],
    "Datasets": [["Dataset", "Label", "Class", "Structure", "Key Variables", "Standard"],
                 ["ADSL", "Subject-Level Analysis Dataset", "SUBJECT LEVEL ANALYSIS DATASET",
                  "One record per subject", "USUBJID", "ADaM"],
                 ["ADAE", "Adverse Events Analysis Dataset", "OCCURRENCE DATA STRUCTURE",
                  "One record per adverse event", "USUBJID, AESEQ", "ADaM"]],
    "Variables": [["Order", "Dataset", "Variable", "Label", "Data Type", "Length", "Origin"],
                  [1, "ADSL", "USUBJID", "Unique Subject Identifier", "text", 20, "Predecessor"],
                  [2, "ADSL", "SAFFL", "Safety Population Flag", "text", 1, "Derived"],
                  [1, "ADAE", "USUBJID", "Unique Subject Identifier", "text", 20, "Predecessor"],
                  [2, "ADAE", "AESEQ", "Sequence Number", "integer", 8, "Predecessor"],
                  [3, "ADAE", "AEDECOD", "Dictionary-Derived Term", "text", 100, "Predecessor"],
                  [4, "ADAE", "TRTEMFL", "Treatment Emergent Analysis Flag", "text", 1, "Derived"]],
    "Analysis Displays": [["ID", "Title", "Document", "Pages"],
                          ["T14.3.1", "Treatment-emergent adverse events by preferred term", "", ""]],
    "Analysis Results": [["Display", "ID", "Description", "Reason", "Purpose", "Datasets", "Variables",
                          "Where Clause", "Documentation", "Programming Context", "Programming Code"],
                         ["T14.3.1", "R1", "Subjects with a TEAE by preferred term", "SPECIFIED IN SAP",
                          "PRIMARY OUTCOME MEASURE", "ADSL, ADAE", "ADAE.AEDECOD",
                          "SAFFL EQ Y AND TRTEMFL EQ Y", "Counts of subjects by AEDECOD.", "SAS 9.4",
                          "proc freq data=adae; tables aedecod; run;"]],
}


def _book(tmp_path: Path, sheets=SHEETS) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for r in rows:
            ws.append(r)
    path = tmp_path / "spec.xlsx"
    wb.save(path)
    return path


def test_analysis_sheets_are_read_into_the_spec_tables(tmp_path):
    t = read_workbook_tables(_book(tmp_path))
    assert t.analysis_displays == [{"display": "T14.3.1", "title": "Treatment-emergent adverse events by preferred "
                                    "term", "document": "", "pages": ""}]
    (r,) = t.analysis_results
    assert (r["display"], r["result"], r["datasets"], r["variables"], r["where"], r["code_context"]) == (
        "T14.3.1", "R1", "ADSL, ADAE", "ADAE.AEDECOD", "SAFFL EQ Y AND TRTEMFL EQ Y", "SAS 9.4")
    # and they go back out into a workbook the same way
    sheets = workbook_sheets(t)
    assert sheets["Analysis Results"][1][:3] == ["T14.3.1", "R1", "Subjects with a TEAE by preferred term"]


def test_imported_results_become_arm_in_the_adam_define(tmp_path):
    folder = tmp_path / "spec"
    import_spec([_book(tmp_path)], folder)
    assert (folder / "analysis_results.csv").is_file()
    tree = build_spec_define(load_study(folder), "ADaM", analysis_metadata=True)
    assert validate_define(tree) == []
    root = tree.getroot()
    (result,) = root.findall(".//arm:ResultDisplay[@OID='RD.T14.3.1']/arm:AnalysisResult", NS)
    assert result.get("OID") == "AR.T14.3.1.R1" and result.get("AnalysisPurpose") == "PRIMARY OUTCOME MEASURE"
    adsl, adae = result.findall(".//arm:AnalysisDataset", NS)
    assert [v.get("ItemOID") for v in adae.iterfind("arm:AnalysisVariable", NS)] == ["IT.ADAE.AEDECOD"]
    where = {w.get("OID"): w for w in root.iterfind(".//def:WhereClauseDef", NS)}

    def clause(ads):
        wc = where[ads.find("def:WhereClauseRef", NS).get("WhereClauseOID")]
        return [(rc.get(f"{{{DEF}}}ItemOID"), rc.get("Comparator"), [v.text for v in rc]) for rc in wc]

    assert clause(adsl) == [("IT.ADSL.SAFFL", "EQ", ["Y"])]  # each check on the dataset that has the variable
    assert clause(adae) == [("IT.ADAE.TRTEMFL", "EQ", ["Y"])]
    assert result.find("arm:ProgrammingCode", NS).get("Context") == "SAS 9.4"


def test_a_result_naming_an_unknown_display_or_variable_names_sheet_row_and_column(tmp_path):
    bad = {**SHEETS, "Analysis Results": [SHEETS["Analysis Results"][0],
                                          ["T9", "R1", "x", "", "", "ADAE", "ADAE.AETERM", "", "", "", ""]]}
    with pytest.raises(InputError) as err:
        read_workbook_tables(_book(tmp_path, bad))
    text = str(err.value)
    assert "sheet Analysis Results row 2 column Display: display 'T9' is not in sheet Analysis Displays" in text
    assert ("sheet Analysis Results row 2 column Variables: variable 'ADAE.AETERM' is in none of the datasets "
            "ADAE") in text
