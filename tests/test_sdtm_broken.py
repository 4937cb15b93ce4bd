"""Deliberately broken raw rows: strict mode lists every problem and writes nothing; reject mode maps the good
records, logs each rejected raw row with its reasons, and the accounting still balances to zero lost rows."""

from __future__ import annotations

import pandas as pd
import pytest

from cdiscflow.core.errors import FindingsError
from cdiscflow.sdtm import map_study
from cdiscflow.specs.load import load_study


def edit(path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def append(path, line: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


@pytest.fixture
def broken(raw_small):
    raw = raw_small
    # unknown CT value: the enrolment row (row 3, subject 02-003) is rejected, and with it the subject's other rows
    edit(raw / "enrol.csv", "UN-UNK-1945,Man,", "UN-UNK-1945,Femme,")
    # impossible date (ae row 1)
    edit(raw / "ae.csv", "05-JUL-2016,05-JUL-2016,No,2", "31-JUN-2016,05-JUL-2016,No,2")
    # AE end before start (ae row 2)
    edit(raw / "ae.csv", "20-AUG-2016,UN-SEP-2016", "20-AUG-2016,10-AUG-2016")
    # non-ASCII verbatim term (ae row 3)
    edit(raw / "ae.csv", "01,01-002,1,Headache,", "01,01-002,1,Hoofdpijn – ernstig,")
    # subject not enrolled (ae row 5)
    append(raw / "ae.csv", "03,03-777,1,Nausea,Nausea,10028813,Nausea,10028813,Nausea and vomiting symptoms,10028817,"
           "Gastrointestinal signs and symptoms,10018012,Gastrointestinal disorders,10017947,01-MAR-2017,,Yes,2,No"
           ",,,,,,,Not related,,None,,Not recovered")
    # unknown dose unit (dara row 2)
    edit(raw / "dara.csv", "12-JUL-2016,09:00,13:30,16,mg/kg", "12-JUL-2016,09:00,13:30,16,mg/lb")
    # infusion ending before it started, on the same day (dara row 3)
    edit(raw / "dara.csv", "19-JUL-2016,09:00,12:40", "19-JUL-2016,09:00,08:40")
    # duplicate key (dara rows 4 and 10)
    append(raw / "dara.csv", "01,01-001,A,1,22,27-JUL-2016,09:15,12:30,16,mg/kg,1096")
    return raw


@pytest.mark.slow
def test_strict_lists_every_problem(broken):
    with pytest.raises(FindingsError) as exc:
        map_study(load_study(), broken)
    f = exc.value.findings.frame()
    errors = f[f.severity == "error"]
    got = {(r.rule_id, r.source, r.row, r.variable) for r in errors.itertuples()}
    assert ("MAP-CT", "enrol.csv", 3, "SEX") in got
    assert ("RAW-DATE", "ae.csv", 1, "AESTDAT") in got
    assert ("MAP-DATE-ORDER", "ae.csv", 2, "AEENDTC") in got
    assert ("RAW-NONASCII", "ae.csv", 3, "AETERM") in got
    assert ("RAW-NOT-ENROLLED", "ae.csv", 5, "SUBJID") in got
    assert ("MAP-CT", "dara.csv", 2, "EXDOSU") in got
    assert ("MAP-DATE-ORDER", "dara.csv", 3, "EXENDTC") in got
    assert ("RAW-DUPKEY", "dara.csv", 4, "SUBJID, PART, CYCLE, CDAY") in got
    assert ("RAW-DUPKEY", "dara.csv", 10, "SUBJID, PART, CYCLE, CDAY") in got
    sex = errors[errors.rule_id == "MAP-CT"].set_index("variable").loc["SEX"]
    assert (sex.value, sex.dataset, sex.subject) == ("Femme", "DM", "DARA-ATRA-02-003")
    assert "codelist SEX C66731" in sex.message
    order = errors[errors.rule_id == "MAP-DATE-ORDER"].iloc[0]
    assert order.value == "2016-08-10" and "AEENDTC is before AESTDTC 2016-08-20" in order.message
    assert "nothing was written" in str(exc.value)


@pytest.mark.slow
def test_reject_maps_the_good_records_and_logs_the_rest(broken):
    result = map_study(load_study(), broken, on_error="reject")
    rej = result.rejects
    by_row = {(r.form, r.row): (r.rule_id, r.reason) for r in rej.itertuples()}
    assert by_row[("enrol", 3)][0] == "MAP-CT"
    assert by_row[("ae", 1)][0] == "RAW-DATE"
    assert by_row[("ae", 2)][0] == "MAP-DATE-ORDER"
    assert by_row[("ae", 3)][0] == "RAW-NONASCII"
    assert by_row[("ae", 5)][0] == "RAW-NOT-ENROLLED"
    assert by_row[("dara", 2)][0] == "MAP-CT"
    assert by_row[("dara", 4)][0] == by_row[("dara", 10)][0] == "RAW-DUPKEY"
    # the rejected enrolment takes the subject's rows in every other form along, each saying why
    cascade = rej[rej.rule_id == "MAP-SUBJECT-REJECTED"]
    assert set(cascade.subject) == {"DARA-ATRA-02-003"}
    assert set(cascade.form) == {"baseline", "cytogen", "priortx", "dara", "ae", "resp"}
    assert (cascade.reason == "the subject's enrolment row 3 in enrol.csv was rejected").all()
    # zero lost rows: every raw row is mapped or rejected
    acc = result.accounting.set_index("form")
    assert acc["rows_lost"].eq(0).all()
    assert acc.loc["ae", ["rows_in", "rows_mapped", "rows_rejected"]].tolist() == [5, 0, 5]
    assert acc.loc["dara", ["rows_in", "rows_mapped", "rows_rejected"]].tolist() == [10, 5, 5]
    # rejected records are not in the datasets; the good ones are
    dm = result.datasets["DM"]
    assert dm["USUBJID"].tolist() == ["DARA-ATRA-01-001", "DARA-ATRA-01-002"]
    assert result.datasets["AE"].empty
    ex = result.datasets["EX"]
    assert "2016-07-12T09:00" not in set(ex["EXSTDTC"]) and len(ex) == 6
    assert result.provenance["EX"]["row"].tolist() == [1, 5, 6, 7, 8, 1]


@pytest.mark.slow
def test_unplanned_treatment_path(raw_small):
    # registered at 15 mg/m2 in phase 1, but the ATRA courses were given at 45: no planned arm fits exactly one way
    edit(raw_small / "partb.csv", "PD during the first cycle,2,45", "PD during the first cycle,1,15")
    dm = map_study(load_study(), raw_small).datasets["DM"].set_index("USUBJID").loc["DARA-ATRA-01-002"]
    assert dm.ARMCD == "A_B15"
    assert pd.isna(dm.ACTARMCD) and dm.ARMNRS == "UNPLANNED TREATMENT"
    assert dm.ACTARMUD == "Screening; Daratumumab 16 mg/kg IV; Daratumumab 16 mg/kg IV + ATRA 45 mg/m2/day"


@pytest.mark.slow
def test_subject_at_another_site_in_another_form_is_found(raw_small):
    """A subject's SITEID in every form is the enrolment form's (issue 16.9): ae row 3 (subject 01-002) says site
    02; strict names file, row, subject and both sites; reject drops that row."""
    edit(raw_small / "ae.csv", "01,01-002,1,Headache,", "02,01-002,1,Headache,")
    with pytest.raises(FindingsError) as exc:
        map_study(load_study(), raw_small)
    f = exc.value.findings.frame()
    site = f[f.rule_id == "RAW-SITE"]
    assert [(r.severity, r.source, r.row, r.variable, r.subject, r.value) for r in site.itertuples()] == [
        ("error", "ae.csv", 3, "SITEID", "DARA-ATRA-01-002", "02")]
    assert "is at SITEID 01 in enrol.csv, not 02" in site.message.iloc[0]
    result = map_study(load_study(), raw_small, on_error="reject")
    assert [(r.form, r.row, r.rule_id) for r in result.rejects.itertuples()] == [("ae", 3, "RAW-SITE")]


@pytest.mark.slow
def test_impossible_dates_are_findings_on_their_raw_rows(raw_small, study_copy):
    """Year 0000, a date after the data cut and a date after death are errors naming file, row and subject (issue
    16.6; year 0000 used to give AESTDY -736,261).  The floor is study.yaml raw.earliest_date (default 1900-01-01)."""
    edit(raw_small / "ae.csv", "17-FEB-2017,", "17-FEB-0000,")        # ae row 3, subject 01-002
    edit(raw_small / "ae.csv", "UN-MAR-2017,", "UN-MAR-2021,")        # ae row 4, subject 02-003 (cut 2020-10-01)
    edit(raw_small / "ae.csv", "20-AUG-2016,UN-SEP-2016", "20-AUG-2016,UN-MAR-2017")  # row 2: 01-001 died 2017-02-15
    with pytest.raises(FindingsError) as exc:
        map_study(load_study(), raw_small)
    f = exc.value.findings.frame()
    dates = f[f.rule_id.str.startswith("MAP-DATE-") & (f.rule_id != "MAP-DATE-ORDER")]
    assert sorted((r.rule_id, r.source, r.row, r.variable, r.subject, r.value) for r in dates.itertuples()) == [
        ("MAP-DATE-CUT", "ae.csv", 4, "AESTDTC", "DARA-ATRA-02-003", "2021-03"),
        ("MAP-DATE-DEATH", "ae.csv", 2, "AEENDTC", "DARA-ATRA-01-001", "2017-03"),
        ("MAP-DATE-FLOOR", "ae.csv", 3, "AESTDTC", "DARA-ATRA-01-002", "0000-02-17"),
    ]
    assert "after the subject's death on 2017-02-15" in dates[dates.rule_id == "MAP-DATE-DEATH"].message.iloc[0]
    # the floor is the spec's: with raw.earliest_date 0001-01-01 year 0000 is still too early, 1800 no longer is
    edit(raw_small / "ae.csv", "17-FEB-0000,", "17-FEB-1850,")
    study = study_copy / "study.yaml"
    edit(study, "  site: SITEID\n", "  site: SITEID\n  earliest_date: 1800-01-01\n")
    result = map_study(load_study(study_copy), raw_small, on_error="reject")
    assert sorted(result.rejects.rule_id) == ["MAP-DATE-CUT", "MAP-DATE-DEATH"]
