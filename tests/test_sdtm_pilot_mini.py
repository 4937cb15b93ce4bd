"""The pharmaverse pilot spec on a hand-made export in the same layout (Parquet, dotted field names, three date
conventions, wide vital signs): runs without ../shared.  Every expected value below was worked out by hand from
the rows written here.

Subjects: 701-1001 treated (placebo), died; 701-1002 screen failure; 701-1003 treated (high dose), open last patch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cdiscflow.core.errors import FindingsError
from cdiscflow.sdtm import map_study
from cdiscflow.specs.load import load_study
from cdiscflow.specs.model import SPECS_DIR

pytestmark = pytest.mark.slow  # module fixtures run the pipeline end to end

NA = np.nan
S1, S2, S3 = "01-701-1001", "01-701-1002", "01-701-1003"


def _frame(columns: str, rows: list[list]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns.split())


def write_mini_export(folder) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    study = "CDISCPILOT01"
    dm = _frame("STUDY PATNUM IT.AGE IT.SEX IT.ETHNIC IT.RACE COUNTRY PLANNED_ARM PLANNED_ARMCD ACTUAL_ARM "
                "ACTUAL_ARMCD COL_DT IC_DT", [
                    [study, "701-1001", 63.0, "Female", "Hispanic or Latino", "White", "USA", "Placebo", "Pbo",
                     "Placebo", "Pbo", "12/26/2013", "12/26/2013"],
                    [study, "701-1002", 80.0, "Male", "Not Hispanic or Latino", "Asian", "USA", "Screen Failure",
                     "Scrnfail", "Screen Failure", "Scrnfail", "01/10/2014", NA],
                    [study, "701-1003", 71.0, "Male", "Not Hispanic or Latino", "White", "USA", "Xan High",
                     "Xan_Hi", "Xan High", "Xan_Hi", "07/11/2013", "07/12/2013"]])
    dm["IT.AGE"] = dm["IT.AGE"].astype("float64")  # as in pharmaverseraw: ages stored as floats
    ae_cols = ("STUDY PATNUM FOLDER FOLDERL IT.AETERM AEOUTCOME AELLT AELLTCD AEDECOD AEPTCD AEHLT AEHLTCD AEHLGT "
               "AEHLGTCD AEBODSYS AEBDSYCD AESOC AESOCCD IT.AESEV IT.AESER IT.AEREL IT.AEACN AESCAN AESCNO AEDIS "
               "IT.AESDTH IT.AESHOSP IT.AESLIFE AESOD AEDTCOL IT.AESTDAT IT.AEENDAT")
    no = ["No"] * 7
    ae = _frame(ae_cols, [
        [study, "701-1001", "AE", "Adverse Events", "Application site erythema", "Recovered/Resolved",
         "APPLICATION SITE REDNESS", 10003058.0, "APPLICATION SITE ERYTHEMA", NA, NA, NA, NA, NA,
         "GENERAL DISORDERS", NA, "GENERAL DISORDERS", 10018065.0, "Mild Adverse Event", "No", "Probably Related",
         NA, *no, "01/16/2014", "01/03/2014", "01/11/2014"],
        [study, "701-1001", "AE", "Adverse Events", "Headache", "Not Recovered/not Resolved", "HEADACHE",
         10019211.0, "HEADACHE", NA, NA, NA, NA, NA, "NERVOUS SYSTEM DISORDERS", NA, "NERVOUS SYSTEM DISORDERS",
         10029205.0, "Moderate Adverse Event", "No", "Remote", NA, *no, "01/16/2014", "2003", NA]])
    ds = _frame("STUDY PATNUM SITENM INSTANCE FORM FORML IT.DSTERM IT.DSDECOD OTHERSP DSDTCOL DSTMCOL IT.DSSTDAT "
                "DEATHDT", [
                    [study, "701-1001", "CDISCPILOT", "Baseline", "DISC1", "Subject Disposition", "Randomized",
                     "Randomized", NA, "01-02-2014", NA, "01-02-2014", "02/03/2014"],
                    [study, "701-1001", "CDISCPILOT", "Unscheduled 6.1", "DISC1", "Subject Disposition", NA, NA,
                     "Final Lab Visit", "01-20-2014", "11:45", "01-20-2014", "02/03/2014"],
                    [study, "701-1001", "CDISCPILOT", "Week 4", "DISC1", "Subject Disposition", "Death", "Death",
                     NA, "02-04-2014", NA, "02-03-2014", "02/03/2014"],
                    [study, "701-1002", "CDISCPILOT", "Screening 1", "DISC1", "Subject Disposition",
                     "Screen Failure", "Screen Failure", NA, "01-12-2014", NA, "01-12-2014", NA],
                    [study, "701-1003", "CDISCPILOT", "Baseline", "DISC1", "Subject Disposition", "Randomized",
                     "Randomized", NA, "07-19-2013", NA, "07-19-2013", NA],
                    [study, "701-1003", "CDISCPILOT", "Week 2", "DISC1", "Subject Disposition",
                     "Protocol Completed", "Completed", NA, "08-05-2013", NA, "08-05-2013", NA]])
    ec = _frame("STUDY PATNUM VISITNAME FOLDER FOLDERL IT.ECREFID DRUGAD IT.ECSTDAT IT.ECENDAT IT.ECDSTXT "
                "IT.ECDOSU DOSFM DOSFRQ IT.ECROUTE", [
                    [study, "701-1001", "Baseline", "EC", "Exposure", "123", "PLACEBO", "02-Jan-2014", "16-Jan-2014",
                     0.0, "Milligram", "patch", "Daily", "Transdermal"],
                    [study, "701-1001", "Week 2", "EC", "Exposure", "123", "PLACEBO", "17-Jan-2014", "02-Feb-2014",
                     0.0, "Milligram", "patch", "Daily", "Transdermal"],
                    [study, "701-1003", "Baseline", "EC", "Exposure", "123", "XANOMELINE", "19-Jul-2013",
                     "01-Aug-2013", 54.0, "Milligram", "patch", "Daily", "Transdermal"],
                    [study, "701-1003", "Week 2", "EC", "Exposure", "123", "XANOMELINE", "02-Aug-2013", NA, 81.0,
                     "Milligram", "patch", "Daily", "Transdermal"]])
    vs_cols = ("STUDY PATNUM INSTANCE FORM FORML VTLD IT.HEIGHT_VSORRES IT.WEIGHT IT.TEMP IT.TEMP_LOC TMPTC SYS_BP "
               "DIA_BP PULSE SUBPOS")
    lying, standing = "after Lying Down for 5 Minutes", "after Standing for 1 Minute"
    vs = _frame(vs_cols, [
        [study, "701-1001", "Baseline", "VS", "Vital Signs", "02-Jan-2014", NA, NA, NA, NA, lying, "131", "070",
         "57", "SUPINE"],
        [study, "701-1001", "Baseline", "VS", "Vital Signs", "02-Jan-2014", NA, NA, NA, NA, standing, NA, NA, NA,
         "STANDING"],
        [study, "701-1001", "Baseline", "VS", "Vital Signs", "02-Jan-2014", "062.5", "119.0", NA, NA, NA, NA, NA,
         NA, NA],
        [study, "701-1001", "Week 2", "VS", "Vital Signs", "16-Jan-2014", NA, NA, "096.9", "ORAL CAVITY", NA, NA,
         NA, NA, NA],
        [study, "701-1003", "Screening 1", "VS", "Vital Signs", "11-Jul-2013", NA, NA, NA, NA, lying, "140", "80",
         NA, "SUPINE"]])
    for name, frame in {"dm": dm, "ae": ae, "ds": ds, "ec": ec, "vs": vs}.items():  # over forms
        frame.to_parquet(folder / f"{name}_raw.parquet", index=False)


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    raw = tmp_path_factory.mktemp("pilot") / "raw"
    write_mini_export(raw)
    return map_study(load_study(SPECS_DIR / "pharmaverse_pilot"), raw)


def test_every_row_mapped_no_findings(mini):
    assert mini.findings.frame().empty
    assert mini.accounting.set_index("form")["rows_mapped"].to_dict() == {"dm": 3, "ae": 2, "ds": 6, "ec": 4,
                                                                          "vs": 5}


def test_dm_identifiers_arms_and_reference_dates(mini):
    dm = mini.datasets["DM"].set_index("USUBJID")
    # "701-1001" split by the spec's patterns; the float age 63.0 read as the integer it is
    assert dm.loc[S1, ["SUBJID", "SITEID", "AGE", "AGEU", "SEX", "ETHNIC"]].tolist() == [
        "1001", "701", 63.0, "YEARS", "F", "HISPANIC OR LATINO"]
    # dataset-level `when`: RFENDTC (last disposition event) only where there is a reference start
    assert dm.loc[S1, ["RFSTDTC", "RFENDTC", "RFXENDTC"]].tolist() == ["2014-01-02", "2014-02-03", "2014-02-02"]
    assert pd.isna(dm.loc[S2, "RFSTDTC"]) and pd.isna(dm.loc[S2, "RFENDTC"])
    # death date read from the raw disposition form after mapping (a derivation source that is a raw form)
    assert dm.loc[S1, ["DTHDTC", "DTHFL"]].tolist() == ["2014-02-03", "Y"]
    assert pd.isna(dm.loc[S3, "DTHFL"])
    # the last patch has no end: the last exposure is its start
    assert dm.loc[S3, "RFXENDTC"] == "2013-08-02"
    # end of participation: the final lab visit collected with a time is not the last contact; death collection is
    assert dm.loc[S1, "RFPENDTC"] == "2014-02-04"
    assert dm.loc[S3, ["ARMCD", "ARM"]].tolist() == ["Xan_Hi", "Xanomeline High Dose"]  # synonym Xan High
    assert dm.loc[S2, ["ARMCD", "ARM", "ACTARMCD", "ACTARM"]].isna().all()
    assert dm.loc[S2, "ARMNRS"] == "SCREEN FAILURE"
    assert dm.loc[S1, ["DMDTC", "DMDY"]].tolist() == ["2013-12-26", -7.0]


def test_ae_year_only_onset_and_codes(mini):
    ae = mini.datasets["AE"].set_index("AETERM")
    assert ae.loc["HEADACHE", "AESTDTC"] == "2003" and pd.isna(ae.loc["HEADACHE", "AESTDY"])  # MM/DD/YYYY|YYYY
    assert ae.loc["APPLICATION SITE ERYTHEMA", ["AESTDY", "AEENDY", "AELLTCD", "AEREL", "AESEV"]].tolist() == [
        2.0, 10.0, 10003058.0, "PROBABLE", "MILD"]
    # sequence by collection date, then start date: the 2003 onset sorts first
    assert ae.loc["HEADACHE", "AESEQ"] == 1.0 and ae.loc["APPLICATION SITE ERYTHEMA", "AESEQ"] == 2.0


def test_ds_categories_and_unscheduled_visit_number(mini):
    ds = mini.datasets["DS"]
    s1 = ds[ds.USUBJID == S1].set_index("DSDECOD")
    assert s1.loc["RANDOMIZED", ["DSCAT", "VISIT", "VISITNUM", "DSSTDY"]].tolist() == [
        "PROTOCOL MILESTONE", "BASELINE", 3.0, 1.0]
    # number_from: an unscheduled visit numbered by its name; MM-DD-YYYY date + HH:MM time
    assert s1.loc["FINAL LAB VISIT", ["DSTERM", "DSCAT", "VISIT", "VISITNUM", "DSDTC"]].tolist() == [
        "FINAL LAB VISIT", "OTHER EVENT", "UNSCHEDULED 6.1", 6.1, "2014-01-20T11:45"]
    assert s1.loc["DEATH", ["DSCAT", "DSDTC", "DSSTDTC", "DSSEQ"]].tolist() == [
        "DISPOSITION EVENT", "2014-02-04", "2014-02-03", 3.0]
    done = ds[ds.USUBJID == S3].set_index("DSDECOD").loc["COMPLETED"]
    assert (done.DSTERM, done.VISITNUM) == ("PROTOCOL COMPLETED", 4.0)


def test_ex_visit_day_from_the_trial_visits(mini):
    ex = mini.datasets["EX"]
    s3 = ex[ex.USUBJID == S3]
    assert s3[["EXSEQ", "VISIT", "VISITNUM", "VISITDY", "EXDOSE", "EXDOSU", "EXDOSFRQ", "EXSTDY"]].values.tolist() == [
        [1.0, "BASELINE", 3.0, 1.0, 54.0, "mg", "QD", 1.0], [2.0, "WEEK 2", 4.0, 14.0, 81.0, "mg", "QD", 15.0]]


def test_vs_wide_to_long_conversions_and_not_done(mini):
    vs = mini.datasets["VS"]
    s1 = vs[vs.USUBJID == S1]
    lying = s1[s1.VSTPTNUM == 815].set_index("VSTESTCD")
    assert lying.loc["DIABP", ["VSORRES", "VSSTRESC", "VSSTRESN", "VSPOS", "VSELTM", "VSTPTREF", "VSBLFL"]].tolist() \
        == ["070", "70", 70.0, "SUPINE", "PT5M", "PATIENT SUPINE", "Y"]
    # the standing time point had no measurement at all: NOT DONE for each of the three tests
    standing = s1[s1.VSTPTNUM == 816]
    assert sorted(standing.VSTESTCD) == ["DIABP", "PULSE", "SYSBP"]
    assert (standing.VSSTAT == "NOT DONE").all() and standing.VSORRES.isna().all() and standing.VSBLFL.isna().all()
    one = s1.drop_duplicates("VSTESTCD").set_index("VSTESTCD")
    assert one.loc["HEIGHT", ["VSORRES", "VSORRESU", "VSSTRESC", "VSSTRESU"]].tolist() == ["062.5", "in", "158.75",
                                                                                         "cm"]  # 62.5 * 2.54
    assert one.loc["WEIGHT", ["VSSTRESC", "VSSTRESN"]].tolist() == ["53.98", 53.98]  # 119 * 0.4536 = 53.978
    assert one.loc["TEMP", ["VSSTRESC", "VSLOC", "VISITDY", "VSDY"]].tolist() == ["36.06", "ORAL CAVITY", 14.0, 15.0]
    # 701-1003: pulse missing but blood pressure measured: no pulse record at all (not NOT DONE)
    s3 = vs[vs.USUBJID == S3]
    assert sorted(s3.VSTESTCD) == ["DIABP", "SYSBP"]
    assert s3.VSSEQ.tolist() == [1.0, 2.0]


@pytest.mark.slow
def test_malformed_patient_number_is_a_mapping_problem(tmp_path):
    raw = tmp_path / "raw"
    write_mini_export(raw)
    for name in ("dm", "ae", "ds", "ec", "vs"):  # over forms: the same malformed number everywhere
        f = pd.read_parquet(raw / f"{name}_raw.parquet")
        f["PATNUM"] = f["PATNUM"].replace("701-1003", "7011003")
        f.to_parquet(raw / f"{name}_raw.parquet", index=False)
    spec = load_study(SPECS_DIR / "pharmaverse_pilot")
    with pytest.raises(FindingsError) as exc:
        map_study(spec, raw)
    bad = exc.value.findings.frame()
    bad = bad[bad.rule_id == "MAP-PATTERN"]
    assert sorted(bad.variable) == ["SITEID", "SUBJID"] and set(bad.value) == {"7011003"}
    assert (bad.row == 3).all() and (bad.dataset == "DM").all() and (bad.source == "dm_raw.parquet").all()
    rejected = map_study(spec, raw, on_error="reject")
    assert rejected.rejects.set_index("form").loc["dm", "rule_id"] == "MAP-PATTERN"
    assert "01-7011003" not in set(rejected.datasets["DM"].USUBJID)
    assert "01-7011003" not in set(rejected.datasets["VS"].USUBJID)  # the subject's other rows go with it


def test_the_same_export_as_csv_maps_to_the_same_datasets(mini, tmp_path):
    """forms.yaml names dm_raw.parquet; a CSV export of the same forms (dm_raw.csv ...) is found and read alike."""
    from cdiscflow.sdtm.raw.files import as_csv_text

    parquet, csv = tmp_path / "parquet", tmp_path / "csv"
    write_mini_export(parquet)
    csv.mkdir()
    for name in ("dm", "ae", "ds", "ec", "vs"):  # over forms
        as_csv_text(pd.read_parquet(parquet / f"{name}_raw.parquet")).to_csv(csv / f"{name}_raw.csv", index=False)
    again = map_study(load_study(SPECS_DIR / "pharmaverse_pilot"), csv)
    assert again.accounting["file"].tolist() == ["dm_raw.csv", "ae_raw.csv", "ds_raw.csv", "ec_raw.csv", "vs_raw.csv"]
    for name, frame in mini.datasets.items():  # over datasets
        pd.testing.assert_frame_equal(again.datasets[name], frame)
