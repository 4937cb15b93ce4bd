"""Fixtures for the validation tests: the VALTEST spec (tests/validation/study) and a clean set of its datasets.

The clean datasets satisfy every schema check and every conformance rule; each test plants one defect and asserts
the finding.  Study days were counted by hand (2020 is a leap year):
    VALTEST-001  RFSTDTC 2020-01-10: 01-15 -> day 6, 02-10 -> 32, 03-05 -> 56, 03-09 -> 60, 06-20 -> 163, 06-30 -> 173
    VALTEST-002  RFSTDTC 2020-02-03: 03-02 -> day 29, 04-20 -> 78, 04-27 -> 85, 09-15 -> 226
    VALTEST-003  screen failure: no reference dates, no arm, no exposure
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import pytest

from cdiscflow.specs.load import load_study
from cdiscflow.specs.model import StudySpec
from cdiscflow.validation.define import Define, DefineCodelist, DefineDataset

STUDY_DIR = Path(__file__).resolve().parent / "study"
S1, S2, S3 = "VALTEST-001", "VALTEST-002", "VALTEST-003"
NA = np.nan


@pytest.fixture(scope="session")
def spec() -> StudySpec:
    return load_study(STUDY_DIR)


def _frame(columns: str, rows: list[tuple], **fixed) -> pd.DataFrame:
    names = columns.split()
    frame = pd.DataFrame(rows, columns=names)
    for k, v in fixed.items():
        frame.insert(0 if k == "STUDYID" else 1, k, v)
    return frame


def clean_datasets() -> dict[str, pd.DataFrame]:
    ta = _frame("ARMCD ARM TAETORD ETCD ELEMENT EPOCH", [
        ("A", "Daratumumab", 1, "SCRN", "Screening", "SCREENING"),
        ("A", "Daratumumab", 2, "DARA", "Daratumumab", "TREATMENT"),
        ("A", "Daratumumab", 3, "FU", "Follow-up", "FOLLOW-UP"),
    ], STUDYID="VALTEST", DOMAIN="TA")
    te = _frame("ETCD ELEMENT TESTRL", [
        ("SCRN", "Screening", "Informed consent"),
        ("DARA", "Daratumumab", "First dose of daratumumab"),
        ("FU", "Follow-up", "End of treatment"),
    ], STUDYID="VALTEST", DOMAIN="TE")
    dm = _frame(
        "USUBJID SUBJID RFSTDTC RFENDTC RFXSTDTC RFXENDTC DTHDTC DTHFL SITEID AGE AGEU SEX ARMCD ARM ACTARMCD ACTARM "
        "COUNTRY", [
            (S1, "001", "2020-01-10", "2020-06-30", "2020-01-10", "2020-03-05", "2020-06-30", "Y", "101", 64.0,
             "YEARS", "M", "A", "Daratumumab", "A", "Daratumumab", "NLD"),
            (S2, "002", "2020-02-03", "2020-09-15", "2020-02-03", "2020-04-20T10:30", NA, NA, "101", 71.0,
             "YEARS", "F", "A", "Daratumumab", "A", "Daratumumab", "NLD"),
            (S3, "003", NA, NA, NA, NA, NA, NA, "102", 58.0, "YEARS", "F", NA, NA, NA, NA, "NLD"),
        ], STUDYID="VALTEST", DOMAIN="DM")
    ae = _frame(
        "USUBJID AESEQ AETERM AEDECOD AESEV AESER AESDTH AESHOSP AEOUT EPOCH AESTDTC AEENDTC AESTDY AEENDY AEDUR", [
            (S1, 1.0, "HEADACHE", "Headache", "MILD", "N", "N", "N", "RECOVERED/RESOLVED", "TREATMENT",
             "2020-01-15", "2020-01-20", 6.0, 11.0, "P6D"),
            (S1, 2.0, "SEPSIS", "Sepsis", "SEVERE", "Y", "Y", "Y", "FATAL", "FOLLOW-UP",
             "2020-06-20", "2020-06-30", 163.0, 173.0, NA),
            (S2, 1.0, "NAUSEA", "Nausea", "MODERATE", "N", "N", "N", "NOT RECOVERED/NOT RESOLVED", "TREATMENT",
             "2020-02", NA, NA, NA, NA),
        ], STUDYID="VALTEST", DOMAIN="AE")
    ex = _frame("USUBJID EXSEQ EXTRT EXDOSE EXDOSU EPOCH EXSTDTC EXENDTC EXSTDY EXENDY", [
        (S1, 1.0, "DARATUMUMAB", 16.0, "mg/kg", "TREATMENT", "2020-01-10", "2020-01-10", 1.0, 1.0),
        (S1, 2.0, "DARATUMUMAB", 16.0, "mg/kg", "TREATMENT", "2020-03-05", "2020-03-05", 56.0, 56.0),
        (S2, 1.0, "DARATUMUMAB", 16.0, "mg/kg", "TREATMENT", "2020-02-03", "2020-02-03", 1.0, 1.0),
        (S2, 2.0, "DARATUMUMAB", 16.0, "mg/kg", "TREATMENT", "2020-04-20T10:30", "2020-04-20T10:30", 78.0, 78.0),
    ], STUDYID="VALTEST", DOMAIN="EX")
    ds = _frame("USUBJID DSSEQ DSTERM DSDECOD DSCAT EPOCH DSSTDTC DSSTDY", [
        (S1, 1.0, "DIED", "DEATH", "DISPOSITION EVENT", "FOLLOW-UP", "2020-06-30", 173.0),
        (S2, 1.0, "COMPLETED", "COMPLETED", "DISPOSITION EVENT", "FOLLOW-UP", "2020-09-15", 226.0),
        (S3, 1.0, "SCREEN FAILURE", "SCREEN FAILURE", "DISPOSITION EVENT", "SCREENING", "2020-01-20", NA),
    ], STUDYID="VALTEST", DOMAIN="DS")
    rs = _frame("USUBJID RSSEQ RSTESTCD RSTEST RSCAT RSORRES RSSTRESC EPOCH RSDTC RSDY", [
        (S1, 1.0, "OVRLRESP", "Overall Response", "KUMAR IMWG 2016", "PR", "PR", "TREATMENT", "2020-02-10", 32.0),
        (S1, 2.0, "OVRLRESP", "Overall Response", "KUMAR IMWG 2016", "PD", "PD", "TREATMENT", "2020-03-09", 60.0),
        (S2, 1.0, "OVRLRESP", "Overall Response", "KUMAR IMWG 2016", "VGPR", "VGPR", "TREATMENT", "2020-03-02",
         29.0),
        (S2, 2.0, "OVRLRESP", "Overall Response", "KUMAR IMWG 2016", "CR", "CR", "TREATMENT", "2020-04-27", 85.0),
    ], STUDYID="VALTEST", DOMAIN="RS")
    day = pd.Timestamp
    adsl = _frame("USUBJID SUBJID SITEID AGE AGEU SEX ARM TRT01P TRTSDT SAFFL DTHFL", [
        (S1, "001", "101", 64.0, "YEARS", "M", "Daratumumab", "Daratumumab", day("2020-01-10"), "Y", "Y"),
        (S2, "002", "101", 71.0, "YEARS", "F", "Daratumumab", "Daratumumab", day("2020-02-03"), "Y", NA),
    ], STUDYID="VALTEST")
    adrs = _frame("USUBJID PARAMCD PARAM AVALC ADT ANL01FL", [
        (S1, "OVR", "Overall Response by Investigator", "PR", day("2020-02-10"), "Y"),
        (S1, "OVR", "Overall Response by Investigator", "PD", day("2020-03-09"), "Y"),
        (S1, "BOR", "Best Overall Response by Investigator", "PR", day("2020-02-10"), "Y"),
        (S2, "OVR", "Overall Response by Investigator", "VGPR", day("2020-03-02"), "Y"),
        (S2, "OVR", "Overall Response by Investigator", "CR", day("2020-04-27"), "Y"),
        (S2, "BOR", "Best Overall Response by Investigator", "CR", day("2020-04-27"), "Y"),
    ], STUDYID="VALTEST")
    adtte = _frame("USUBJID PARAMCD PARAM AVAL STARTDT ADT CNSR EVNTDESC CNSDTDSC", [
        (S1, "OS", "Overall Survival", 173.0, day("2020-01-10"), day("2020-06-30"), 0.0, "DEATH", NA),
        (S2, "OS", "Overall Survival", 226.0, day("2020-02-03"), day("2020-09-15"), 1.0, "ALIVE",
         "LAST KNOWN ALIVE DATE"),
        (S1, "PFS", "Progression-Free Survival", 60.0, day("2020-01-10"), day("2020-03-09"), 0.0,
         "PROGRESSIVE DISEASE", NA),
        (S2, "PFS", "Progression-Free Survival", 85.0, day("2020-02-03"), day("2020-04-27"), 1.0,
         "LAST ADEQUATE ASSESSMENT", "LAST ADEQUATE ASSESSMENT"),
    ], STUDYID="VALTEST")
    for f in (adsl, adrs, adtte):
        for c in f.columns:
            if pd.api.types.is_datetime64_any_dtype(f[c].dtype):
                f[c] = f[c].astype("datetime64[s]")
    return {"TA": ta, "TE": te, "DM": dm, "AE": ae, "EX": ex, "DS": ds, "RS": rs, "ADSL": adsl, "ADRS": adrs,
            "ADTTE": adtte}


@pytest.fixture
def clean() -> dict[str, pd.DataFrame]:
    return clean_datasets()


@pytest.fixture(scope="session")
def make_clean():
    """The builder of the clean datasets, for module-scoped fixtures that need several fresh copies."""
    return clean_datasets


def define_from_spec(spec: StudySpec) -> Define:
    """What a define.xml written from the spec would declare (datasets, variables, codelists)."""
    datasets = {
        d.name: DefineDataset(d.name, MappingProxyType({v.name: (f"CL.{v.codelist}" if v.codelist else "")
                                                        for v in d.variables}))
        for d in spec.datasets.values()
    }
    codelists = {f"CL.{c.id}": DefineCodelist(f"CL.{c.id}", c.name, c.datatype, frozenset(c.values))
                 for c in spec.codelists.values()}
    return Define(("define.xml",), "2.1.0", MappingProxyType(datasets), MappingProxyType(codelists))


@pytest.fixture
def define(spec) -> Define:
    return define_from_spec(spec)
