"""Fixtures of the export tests: a small synthetic spec (tests/export/study) and datasets that follow it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

STUDY = Path(__file__).resolve().parent / "study"


@pytest.fixture(scope="session")
def xspec():
    from cdiscflow.specs.load import load_study

    return load_study(STUDY)


def _text(values) -> pd.Series:
    return pd.Series(values, dtype="str")


def make_frames() -> dict[str, pd.DataFrame]:
    """SDTM and ADaM frames in cdiscflow's in-memory conventions (missing text = NaN, ADaM dates datetime64)."""
    subj = ["XPTTEST-001", "XPTTEST-002", "XPTTEST-003"]
    dm = pd.DataFrame({
        "STUDYID": _text(["XPTTEST"] * 3), "DOMAIN": _text(["DM"] * 3), "USUBJID": _text(subj),
        "SUBJID": _text(["001", "002", "003"]), "SITEID": _text(["01", "01", "02"]),
        "AGE": [63.0, 71.0, np.nan], "SEX": _text(["F", "M", "F"]),
        "RACE": _text(["WHITE", np.nan, "BLACK OR AFRICAN AMERICAN"]),
    })
    ae = pd.DataFrame({
        "STUDYID": _text(["XPTTEST"] * 4), "DOMAIN": _text(["AE"] * 4),
        "USUBJID": _text([subj[0], subj[0], subj[1], subj[2]]), "AESEQ": [1.0, 2.0, 1.0, 1.0],
        "AETERM": _text(["Infusion related reaction", "Fatigue", "Anaemia", "Neutropenia"]),
        "AEDECOD": _text(["Infusion related reaction", "Fatigue", "Anaemia", "Neutropenia"]),
        "AESEV": _text(["MILD", "MODERATE", np.nan, "SEVERE"]), "AESER": _text(["N", "N", "Y", "N"]),
        "AETOXGR": _text(["1", "2", "3", "4"]),
        "AESTDTC": _text(["2016-07-05", "2016-08", "2017-01-15", "2017-02-01"]), "AESTDY": [1.0, np.nan, 20.0, 3.0],
    })
    rs = pd.DataFrame({
        "STUDYID": _text(["XPTTEST"] * 3), "DOMAIN": _text(["RS"] * 3), "USUBJID": _text([subj[0], subj[0], subj[1]]),
        "RSSEQ": [1.0, 2.0, 1.0], "RSTESTCD": _text(["OVRLRESP", "OVRLRESP", "OVRLRESP"]),
        "RSTEST": _text(["Overall Response"] * 3), "RSORRES": _text(["VGPR", "sCR", "PD"]),
        "RSSTRESC": _text(["VGPR", "sCR", "PD"]), "VISITNUM": [2.0, 3.5, 2.0],
        "RSDTC": _text(["2016-08-02", "2016-09-01", "2016-08-03"]),
    })
    ts = pd.DataFrame({
        "STUDYID": _text(["XPTTEST"] * 3), "DOMAIN": _text(["TS"] * 3), "TSSEQ": [1.0, 1.0, 1.0],
        "TSPARMCD": _text(["AGEMIN", "TITLE", "SEXPOP"]),
        "TSPARM": _text(["Planned Minimum Age of Subjects", "Trial Title", "Sex of Participants"]),
        "TSVAL": _text(["P18Y", "Export layer test study (synthetic)", "BOTH"]),
    })
    suppdm = pd.DataFrame({
        "STUDYID": _text(["XPTTEST"] * 2), "RDOMAIN": _text(["DM"] * 2), "USUBJID": _text(subj[:2]),
        "IDVAR": pd.Series([np.nan, np.nan], dtype="str"), "IDVARVAL": pd.Series([np.nan, np.nan], dtype="str"),
        "QNAM": _text(["RANDDTC", "COMPLT"]), "QLABEL": _text(["Date of Randomisation", "Completers Flag"]),
        "QVAL": _text(["2016-07-01T10:30", "Y"]), "QORIG": _text(["CRF", "Derived"]),
    })
    adsl = pd.DataFrame({
        "STUDYID": _text(["XPTTEST"] * 3), "USUBJID": _text(subj), "AGE": [63.0, 71.0, np.nan],
        "SEX": _text(["F", "M", "F"]),
        "TRTSDT": pd.to_datetime(["2016-07-05", "2016-07-12", None]),
        "TRTSDTM": pd.to_datetime(["2016-07-05 09:30:00", "2016-07-12 14:05:59", None]),
        "SAFFL": _text(["Y", "Y", "N"]), "HEIGHTBL": [162.5, 180.1, np.nan],
    })
    adtte = pd.DataFrame({
        "STUDYID": _text(["XPTTEST"] * 4), "USUBJID": _text([subj[0], subj[0], subj[1], subj[1]]),
        "PARAMCD": _text(["OS", "PFS", "OS", "PFS"]),
        "PARAM": _text(["Overall Survival (days)", "Progression-Free Survival (days)"] * 2),
        "STARTDT": pd.to_datetime(["2016-07-01", "2016-07-01", "2016-07-10", "2016-07-10"]),
        "ADT": pd.to_datetime(["2020-10-01", "2017-03-01", "2018-01-31", "2017-06-30"]),
        "AVAL": [1554.0, 244.0, 571.0, 356.0], "CNSR": [1.0, 0.0, 0.0, 0.0],
    })
    return {"DM": dm, "AE": ae, "RS": rs, "TS": ts, "SUPPDM": suppdm, "ADSL": adsl, "ADTTE": adtte}


@pytest.fixture
def frames() -> dict[str, pd.DataFrame]:
    return make_frames()
