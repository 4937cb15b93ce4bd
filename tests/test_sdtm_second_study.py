"""A second study is a new spec folder, not new code: other subject fields, delimiter and date formats."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cdiscflow.sdtm import map_study
from cdiscflow.specs.load import load_study

STUDY = Path(__file__).parent / "data" / "second_study"


def test_second_study_maps_from_its_own_spec():
    spec = load_study(STUDY)
    result = map_study(spec)  # the study's raw/ folder
    dm = result.datasets["DM"].set_index("USUBJID")
    assert list(dm.index) == ["XYZ-101-701-1001", "XYZ-101-702-1002"]  # "{STUDYID}-{SITENUM}-{PATNUM}"
    assert dm.loc["XYZ-101-701-1001", ["RFICDTC", "SEX", "AGE"]].tolist() == ["2021-03-15", "F", 60.0]  # MM/DD/YYYY
    assert dm.loc["XYZ-101-701-1001", "RFSTDTC"] == "2021-03-20"
    ae = result.datasets["AE"]
    assert ae["AESEV"].tolist() == ["MILD", "MODERATE", "SEVERE"]  # synonyms "Mild Adverse Event", "2"
    assert ae["AESTDTC"].tolist() == ["2021-03-20", "2021-04", "2021-04-01"]  # DD-Mon-YYYY, UN-Apr-2021
    assert ae["AESTDY"].tolist()[0] == 6.0 and pd.isna(ae["AESTDY"].iloc[1])
    assert set(result.datasets) == {"DM", "AE"}  # no trial design: no SE, TS ...
    notes = result.findings.frame()
    assert notes[["severity", "rule_id", "dataset", "variable"]].values.tolist() == [
        ["note", "MAP-FIELD-UNUSED", "adverse", "AENUM"]]
    assert result.accounting["rows_lost"].sum() == 0
