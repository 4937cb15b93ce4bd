"""Writes mini_spec.xlsx: the MINI01 study of define21.xml as a spec workbook in the Pinnacle 21 (Define-XML 2.0
era) layout, with the variations real templates have (a "Define" sheet instead of "Study", header case, text
where clauses beside WhereClauses IDs, Predecessor column, a Developer Notes column).  Run it to regenerate:

    python tests/data/spec_io/make_workbook.py
"""

from pathlib import Path

import openpyxl

SHEETS = {
    "Define": [
        ["Attribute", "Value"], ["StudyName", "MINI01"], ["StudyDescription", "A tiny made-up study"],
        ["ProtocolName", "MINI-01"], ["Language", "en"],
    ],
    "Standards": [
        ["name", "TYPE", "Publishing Set", "version"], ["SDTMIG", "IG", "", "3.4"],
        ["CDISC/NCI", "CT", "SDTM", "2025-03-28"],
    ],
    "Datasets": [
        ["Dataset", "Label", "Class", "Structure", "Key Variables", "Repeating", "Reference Data", "Comment",
         "Developer Notes"],
        ["DM", "Demographics", "SPECIAL PURPOSE", "One record per subject", "STUDYID, USUBJID", "No", "No", "COM.DM",
         ""],
        ["VS", "Vital Signs", "FINDINGS", "One record per vital sign measurement per visit per subject",
         "STUDYID, USUBJID, VSTESTCD, VISITNUM", "Yes", "No", "", "check keys with the SAP"],
        ["AE", "Adverse Events", "EVENTS", "One record per adverse event per subject",
         "STUDYID, USUBJID, AEDECOD, AESTDTC", "Yes", "No", "", ""],
    ],
    "Variables": [
        ["Order", "Dataset", "Variable", "Label", "DATA TYPE", "Length", "Significant Digits", "Format", "Mandatory",
         "Codelist", "Origin", "Pages", "Method", "Predecessor", "Role", "Comment"],
        [1, "DM", "STUDYID", "Study Identifier", "text", 6, None, None, "Yes", None, "Protocol", None, None, None,
         "Identifier", None],
        [2, "DM", "USUBJID", "Unique Subject Identifier", "text", 11, None, None, "Yes", None, "Derived", None,
         "MT.USUBJID", None, "Identifier", None],
        [3, "DM", "AGE", "Age", "integer", 3, None, None, "No", None, "CRF", "3", None, None, "Record Qualifier",
         None],
        [4, "DM", "SEX", "Sex", "text", 1, None, None, "Yes", "SEX", "CRF", "3", None, None, "Record Qualifier", None],
        [5, "DM", "ARM", "Description of Planned Arm", "text", 20, None, None, "No", None, "Assigned", None, None,
         None, "Synonym Qualifier", "COM.DM.ARM"],
        [1, "VS", "STUDYID", "Study Identifier", "text", 6, None, None, "Yes", None, "Protocol", None, None, None,
         "Identifier", None],
        [2, "VS", "USUBJID", "Unique Subject Identifier", "text", 11, None, None, "Yes", None, "Predecessor", None,
         None, "DM.USUBJID", "Identifier", None],
        [3, "VS", "VSSEQ", "Sequence Number", "integer", 8, None, None, "Yes", None, "Derived", None, "MT.SEQ", None,
         "Identifier", None],
        [4, "VS", "VSTESTCD", "Vital Signs Test Short Name", "text", 8, None, None, "Yes", "VSTESTCD", "Assigned",
         None, None, None, "Topic", None],
        [5, "VS", "VSORRES", "Result or Finding in Original Units", "text", 20, None, None, "No", None, "CRF", "5 6",
         None, None, "Result Qualifier", None],
        [6, "VS", "VSORRESU", "Original Units", "text", 4, None, None, "No", "VSRESU", "CRF", "5 6", None, None,
         "Variable Qualifier", None],
        [7, "VS", "VSSTRESN", "Numeric Result/Finding in Standard Units", "float", 8, 1, None, "No", None, "Derived",
         None, "MT.VSSTRESN", None, "Result Qualifier", None],
        [8, "VS", "VISITNUM", "Visit Number", "integer", 8, None, None, "No", None, "Assigned", None, None, None,
         "Timing", None],
        [9, "VS", "VSDTC", "Date/Time of Measurements", "datetime", None, None, None, "No", None, "eDT", None, None,
         None, "Timing", None],
        [1, "AE", "STUDYID", "Study Identifier", "text", 6, None, None, "Yes", None, "Protocol", None, None, None,
         "Identifier", None],
        [2, "AE", "USUBJID", "Unique Subject Identifier", "text", 11, None, None, "Yes", None, "Predecessor", None,
         None, "DM.USUBJID", "Identifier", None],
        [3, "AE", "AETERM", "Reported Term for the Adverse Event", "text", 200, None, None, "Yes", None, "CRF",
         "7-8", None, None, "Topic", None],
        [4, "AE", "AEDECOD", "Dictionary-Derived Term", "text", 100, None, None, "Yes", "MEDDRA", "Assigned", None,
         None, None, "Synonym Qualifier", None],
        [5, "AE", "AESEV", "Severity/Intensity", "text", 8, None, None, "No", "AESEV", "CRF", "7", None, None,
         "Record Qualifier", None],
        [6, "AE", "AESER", "Serious Event", "text", 1, None, None, "No", "NY", "CRF", "7", None, None,
         "Record Qualifier", None],
        [7, "AE", "AESTDTC", "Start Date/Time of Adverse Event", "date", None, None, None, "No", None, "CRF", "7",
         None, None, "Timing", None],
    ],
    "ValueLevel": [
        ["Order", "Dataset", "Variable", "Where Clause", "Label", "Data Type", "Length", "Significant Digits",
         "Format", "Mandatory", "Codelist", "Origin", "Pages", "Method", "Predecessor", "Comment"],
        [1, "VS", "VSORRES", "VSTESTCD EQ SYSBP", "Systolic Blood Pressure", "integer", 3, None, None, "No", None,
         "CRF", "5", None, None, None],
        [2, "VS", "VSORRES", "VSTESTCD IN HEIGHT, WEIGHT", "Height or Weight", "float", 5, 1, "5.1", "No", None,
         "CRF", "6", "MT.VSSTRESN", None, None],
        [3, "VS", "VSORRES", "WC.VS.FRAILTY", "Frailty Category", "text", 9, None, None, "Yes", "FRAILTY", "CRF",
         "6", None, None, None],
    ],
    "WhereClauses": [
        ["ID", "Dataset", "Variable", "Comparator", "Value"], ["WC.VS.FRAILTY", "VS", "VSTESTCD", "EQ", "FRAILTY"],
    ],
    "Codelists": [
        ["ID", "Name", "NCI Codelist Code", "Data Type", "Order", "Term", "NCI Term Code", "Decoded Value"],
        ["SEX", "Sex", "C66731", "text", 1, "F", "C16576", "Female"],
        ["SEX", "Sex", "C66731", "text", 2, "M", "C20197", "Male"],
        ["NY", "No Yes Response", "C66742", "text", 1, "N", "C49487", "No"],
        ["NY", "No Yes Response", "C66742", "text", 2, "Y", "C49488", "Yes"],
        ["AESEV", "Severity/Intensity Scale for Adverse Events", "C66769", "text", 1, "MILD", "C41338", None],
        ["AESEV", "Severity/Intensity Scale for Adverse Events", "C66769", "text", 2, "MODERATE", "C41339", None],
        ["AESEV", "Severity/Intensity Scale for Adverse Events", "C66769", "text", 3, "SEVERE", "C41340", None],
        ["VSTESTCD", "Vital Signs Test Code", "C66741", "text", 1, "SYSBP", "C25298", "Systolic Blood Pressure"],
        ["VSTESTCD", "Vital Signs Test Code", "C66741", "text", 2, "HEIGHT", "C25347", "Height"],
        ["VSTESTCD", "Vital Signs Test Code", "C66741", "text", 3, "WEIGHT", "C25208", "Weight"],
        ["VSTESTCD", "Vital Signs Test Code", "C66741", "text", 4, "FRAILTY", None, "Frailty Category"],
        ["VSRESU", "Units for Vital Signs Results", "C66770", "text", 1, "mmHg", "C49670", None],
        ["VSRESU", "Units for Vital Signs Results", "C66770", "text", 2, "cm", "C49668", None],
        ["VSRESU", "Units for Vital Signs Results", "C66770", "text", 3, "kg", "C28252", None],
        ["FRAILTY", "Frailty Category", None, "text", 1, "ROBUST", None, "Robust"],
        ["FRAILTY", "Frailty Category", None, "text", 2, "PRE-FRAIL", None, "Pre-frail"],
        ["FRAILTY", "Frailty Category", None, "text", 3, "FRAIL", None, "Frail"],
    ],
    "Dictionaries": [
        ["ID", "Name", "Data Type", "Dictionary", "Version"],
        ["MEDDRA", "Adverse Event Dictionary", "text", "MedDRA", "26.0"],
    ],
    "Methods": [
        ["ID", "Name", "Type", "Description", "Expression Context", "Expression Code", "Document", "Pages"],
        ["MT.USUBJID", "Unique subject identifier", "Computation", "STUDYID, a hyphen and SUBJID.", "SAS 9.4",
         "USUBJID = catx('-', STUDYID, SUBJID);", None, None],
        ["MT.SEQ", "Sequence number", "Computation",
         "1, 2, ... within USUBJID in the order of VSTESTCD and VISITNUM.", None, None, None, None],
        ["MT.VSSTRESN", "Standard numeric result", "Computation",
         "VSORRES as a number, converted to the standard unit\n(see the conversion table).", None, None, "csdrg",
         "12"],
    ],
    "Comments": [
        ["ID", "Description", "Document", "Pages"], ["COM.DM", "One record per randomised subject.", None, None],
        ["COM.DM.ARM", "Arms as named in the protocol.", "csdrg", "Arms"],
    ],
    "Documents": [
        ["ID", "Title", "Href"], ["acrf", "Annotated CRF", "acrf.pdf"],
        ["csdrg", "Clinical Study Data Reviewer's Guide", "csdrg.pdf"],
    ],
}


def main() -> None:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in SHEETS.items():
        ws = wb.create_sheet(title)
        for r in rows:
            ws.append(r)
    wb.save(Path(__file__).with_name("mini_spec.xlsx"))


if __name__ == "__main__":
    main()
