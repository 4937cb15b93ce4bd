"""The timing derivations' kernels (issue 18).  EPOCH by binary search over SE: each record's element is its subject's
last one starting on or before its date, the end day belonging to the next element, the last element closed by its
end.  Study days against DM's reference date taken to the records by subject code.  Subjects joined by code (compact
text) or by text alike."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cdiscflow.core.findings import Findings
from cdiscflow.sdtm.mapping.derivations import derive_study_day
from cdiscflow.sdtm.mapping.state import StudyState
from cdiscflow.sdtm.trial_design import epoch_of
from cdiscflow.specs.load import load_study
from cdiscflow.specs.model import Rule

SE = pd.DataFrame({
    "USUBJID": ["B", "A", "A", "A", "C", "C"],
    "SESTDTC": ["2021-05-01", "2020-01-01", "2020-01-10", "2020-02-01", "2019-01-01", "2019-01-01"],
    "SEENDTC": ["2021-05-20", "2020-01-10", "2020-02-01", np.nan, "2019-02-01", "2019-03-01"],
    "EPOCH": ["TREATMENT", "SCREENING", "TREATMENT", "FOLLOW-UP", "SCREENING", "TREATMENT"],
}).astype(str)

RECORDS = [  # (subject, date, expected EPOCH)
    ("A", "2019-12-31", None),  # before the subject's first element
    ("A", "2020-01-01", "SCREENING"),  # an element's start day belongs to it
    ("A", "2020-01-09", "SCREENING"),
    ("A", "2020-01-10", "TREATMENT"),  # the day one ends and the next starts: the next
    ("A", "2020-02-01T10:00", "FOLLOW-UP"),
    ("A", "2031-01-01", "FOLLOW-UP"),  # the last element has no end
    ("B", "2021-05-20", "TREATMENT"),  # the last element's end day is inside it
    ("B", "2021-05-21", None),  # after it
    ("B", "2021-04-30", None),  # before B's only element (A's elements are not B's)
    ("A", "2020-01", None),  # a partial date falls in no element
    ("A", None, None),
    (None, "2020-01-05", None),  # no subject
    ("D", "2020-01-05", None),  # a subject SE does not have
    ("C", "2019-01-15", "TREATMENT"),  # two elements starting the same day: the later one in SE's order
]


@pytest.mark.parametrize("coded", [False, True])
def test_epoch_of_each_record(coded):
    state = StudyState(load_study("dara_atra"), None, {}, Findings(), datasets={"SE": SE})
    usubjid = pd.Series([r[0] for r in RECORDS], dtype=str, index=np.arange(len(RECORDS)) + 100)
    dates = pd.Series([r[1] for r in RECORDS], dtype=str, index=usubjid.index)
    if coded:  # as compact() holds them
        usubjid, dates = usubjid.astype("category"), dates.astype("category")
    got = epoch_of(state, usubjid, dates)
    assert got.dtype == "str" and got.index.equals(usubjid.index)
    assert [None if pd.isna(v) else v for v in got] == [r[2] for r in RECORDS]
    undated = StudyState(state.spec, None, {}, Findings(), datasets={"SE": SE.assign(SESTDTC=np.nan)})
    assert epoch_of(undated, usubjid, dates).isna().all()  # no element starts: no EPOCH
    assert epoch_of(state, usubjid, dates.where(dates.isna())).isna().all()  # no dated record


DM = pd.DataFrame({"USUBJID": ["A", "B", "A", "C", "E"],
                   "RFSTDTC": ["2020-01-10", "2021-05-01T09:30", "2099-01-01", "2020-01", np.nan]}).astype(str)

DAYS = [  # (subject, date, expected study day)
    ("A", "2020-01-10", 1.0),  # the reference day is day 1
    ("A", "2020-01-09", -1.0),  # the day before: -1 (no day 0)
    ("A", "2021-01-10T08:00", 367.0),  # DM's first record of A is the reference
    ("B", "2021-05-03", 3.0),
    ("C", "2020-01-15", None),  # partial reference
    ("E", "2020-01-15", None),  # no reference
    ("D", "2020-01-15", None),  # a subject DM does not have
    (None, "2020-01-15", None),
    ("A", "2020-01", None),  # partial date
    ("B", None, None),
]


@pytest.mark.parametrize("coded", [False, True])
def test_study_day_against_dm_reference_per_subject(coded):
    dm = DM.astype("category") if coded else DM
    state = StudyState(load_study("dara_atra"), None, {}, Findings(), datasets={"DM": dm})
    frame = pd.DataFrame({"USUBJID": [r[0] for r in DAYS], "XXDTC": [r[1] for r in DAYS]},
                         index=np.arange(len(DAYS)) + 7).astype(str)
    if coded:
        frame = frame.astype("category")
    got = derive_study_day(state, "XX", frame, Rule("derive", {"derive": "study_day", "date": "XXDTC"})).values
    assert got.dtype == "float64" and got.index.equals(frame.index)
    assert [None if pd.isna(v) else v for v in got] == [r[2] for r in DAYS]
    no_dm = StudyState(state.spec, None, {}, Findings(), datasets={"DM": dm.iloc[:0]})
    rule = Rule("derive", {"derive": "study_day", "date": "XXDTC"})
    assert derive_study_day(no_dm, "XX", frame, rule).values.isna().all()  # no DM record: no reference


def test_study_day_reads_dm_again_when_its_reference_changes():
    """DM's reference dates are kept between calls (state.cache) only while DM holds the same columns."""
    state = StudyState(load_study("dara_atra"), None, {}, Findings(), datasets={"DM": DM.copy()})
    frame = pd.DataFrame({"USUBJID": ["A", "B"], "XXDTC": ["2020-01-12", "2021-05-01"]}).astype(str)
    rule = Rule("derive", {"derive": "study_day", "date": "XXDTC"})
    assert derive_study_day(state, "XX", frame, rule).values.tolist() == [3.0, 1.0]
    assert derive_study_day(state, "XX", frame, rule).values.tolist() == [3.0, 1.0]  # (kept)
    state.datasets["DM"]["RFSTDTC"] = pd.Series(["2020-01-11", "2021-04-30", np.nan, np.nan, np.nan], dtype=str)
    assert derive_study_day(state, "XX", frame, rule).values.tolist() == [2.0, 2.0]


EX = pd.DataFrame({
    "USUBJID": ["B", "A", "A", "B", "C", "A", "D"],
    "EXTRT": ["X", "X", "Y", "X", "X", "X", "X"],
    "EXSTDTC": ["2020-03-01", "2020-01-10T10:00", "2020-01-05", "2020-02-01", "2020-05", "2020-01-20", np.nan],
    "EXENDTC": ["2020-03-02", np.nan, "2020-02-28", "2020-02-01", np.nan, "2020-01-21T08:00", "2021"],
}).astype(str)


@pytest.mark.parametrize("coded", [False, True])
def test_source_dates_first_and_last_complete_date_per_subject(coded):
    from cdiscflow.sdtm.mapping.state import source_dates

    ex = EX.astype("category") if coded else EX
    state = StudyState(load_study("dara_atra"), None, {}, Findings(), datasets={"EX": ex})
    both = {"dataset": "EX", "date": ["EXENDTC", "EXSTDTC"]}
    first = source_dates(state, both, pick="first")
    last = source_dates(state, both, pick="last")
    assert first.dtype == "str" and first.index.name == "USUBJID" and first.name == "date"
    # C has a partial date only, D a year: neither takes part; ISO 8601 text order (the time after the day)
    assert dict(first) == {"A": "2020-01-05", "B": "2020-02-01"}
    assert dict(last) == {"A": "2020-02-28", "B": "2020-03-02"}
    x_only = source_dates(state, {"dataset": "EX", "where": {"EXTRT": "X"}, "date": "EXSTDTC"}, pick="first")
    assert dict(x_only) == {"A": "2020-01-10T10:00", "B": "2020-02-01"}
    assert list(x_only.index) == ["A", "B"]  # by subject


@pytest.mark.parametrize("coded", [False, True])
def test_sources_dates_first_and_last_over_several_sources(coded):
    from cdiscflow.sdtm.mapping.state import sources_dates

    ds = pd.DataFrame({"USUBJID": ["E", "B", "A", "C"],
                       "DSSTDTC": ["2019-07-01", "2020-01-31", "2020-04-01", "2020-06"]})
    ex, ds = (EX.astype("category"), ds.astype("category")) if coded else (EX, ds.astype(str))
    state = StudyState(load_study("dara_atra"), None, {}, Findings(), datasets={"EX": ex, "DS": ds})
    sources = [{"dataset": "EX", "where": {"EXTRT": "X"}, "date": ["EXSTDTC", "EXENDTC"]},
               {"dataset": "DS", "date": "DSSTDTC"}]
    first = sources_dates(state, sources, pick="first")
    last = sources_dates(state, sources, pick="last")
    assert first.dtype == "str" and first.index.name == "USUBJID" and first.name == "date"
    # E only in DS, C's dates partial in both, D's EX dates partial or missing: neither C nor D has one
    assert list(first.items()) == [("A", "2020-01-10T10:00"), ("B", "2020-01-31"), ("E", "2019-07-01")]
    assert list(last.items()) == [("A", "2020-04-01"), ("B", "2020-03-02"), ("E", "2019-07-01")]
    assert sources_dates(state, [], pick="last").empty


def test_sv_first_and_last_complete_date_of_each_visit_over_datasets():
    from cdiscflow.sdtm.mapping.visits import build_sv

    lb = pd.DataFrame({"USUBJID": ["A", "A", "A", "A", "A", "B"], "VISITNUM": [1.0, 1.0, 1.0, 1.0, 2.0, 1.0],
                       "VISIT": ["V1", "V1", "V1", "V1", "V2", "V1"],
                       "LBDTC": ["2020-01-03", "2020-01-01T10:00", np.nan, "2020-01", np.nan, "2020-02-01"]})
    vs = pd.DataFrame({"USUBJID": ["A", "B"], "VISITNUM": [1.0, 1.0], "VISIT": ["V1", "V1"],
                       "VSDTC": ["2020-01-05", "2020-01-30"]})
    lb = lb.astype({c: str for c in ("USUBJID", "VISIT", "LBDTC")}).astype({"USUBJID": "category"})
    state = StudyState(load_study("dara_atra"), None, {}, Findings(), datasets={"LB": lb, "VS": vs.astype(
        {c: str for c in ("USUBJID", "VISIT", "VSDTC")})})
    sv = build_sv(state)
    got = {(r.USUBJID, r.VISITNUM): (r.SVSTDTC, r.SVENDTC) for r in sv.itertuples()}
    na = got["A", 2.0]
    assert got["A", 1.0] == ("2020-01-01", "2020-01-05") and got["B", 1.0] == ("2020-01-30", "2020-02-01")
    assert pd.isna(na[0]) and pd.isna(na[1])  # a visit without a complete date


@pytest.mark.parametrize("coded", [False, True])
def test_seq_within_subject_by_keys_missing_last_then_raw_origin(coded):
    from cdiscflow.sdtm.mapping.derivations import derive_seq

    frame = pd.DataFrame({
        "USUBJID": ["A", "B", "A", "A", None, "B", "A", "A"],
        "XXSTDTC": ["2020-02-01", "2020-01-01", np.nan, "2020-01-15", "2020-01-01", "2020-01-01", "2020-01-15",
                    "2020-01-15"],
        "XXTERM": ["X", "Y", "Z", "W", "V", "Y", "W", "A"],
    }, index=np.arange(8) + 10).astype(str)
    prov = pd.DataFrame({"source": pd.Categorical(["f2", "f1", "f1", "f2", "f1", "f1", "f1", "f2"]),
                         "row": pd.array([1, 2, 3, 4, 5, 1, 6, 7], dtype="Int64")}, index=frame.index)
    if coded:
        frame = frame.astype("category")
    state = StudyState(load_study("dara_atra"), None, {}, Findings(), provenance={"XX": prov})
    got = derive_seq(state, "XX", frame, Rule("derive", {"derive": "seq", "by": ["XXSTDTC", "XXTERM"]})).values
    assert got.index.equals(frame.index) and got.dtype == "float64"
    # A: 01-15 A (f2), 01-15 W (f1 row 6 before f2 row 4), 01-15 W, 02-01, missing date last; B: same keys, f1 row 1
    # before f1 row 2; no subject: none
    want = [4.0, 2.0, 5.0, 3.0, None, 1.0, 2.0, 1.0]
    assert [None if pd.isna(v) else v for v in got] == want


@pytest.mark.parametrize("coded", [False, True])
def test_unplanned_visits_numbered_after_the_latest_planned_visit_of_their_part(coded):
    from types import SimpleNamespace

    from cdiscflow.sdtm.mapping.derivations import derive_visitnum

    visits = [{"VISIT": "PART A DAY 1", "VISITNUM": 1.0}, {"VISIT": "PART A DAY 8", "VISITNUM": 2.0},
              {"VISIT": "PART B DAY 1", "VISITNUM": 10.0}]
    rows = [  # (subject, visit, date, expected VISITNUM)
        ("A", "PART A DAY 1", "2020-01-01", 1.0),
        ("A", "PART A DAY 8", "2020-01-08", 2.0),
        ("A", "PART B DAY 1", "2020-01-05", 10.0),
        ("A", "PART A UNSCHEDULED", "2020-01-03", 1.01),  # after PART A DAY 1 (PART B's visit does not count)
        ("A", "PART A UNSCHEDULED", "2020-01-04T10:00", 1.02),  # a later date after the same visit: the next
        ("A", "PART A UNSCHEDULED", "2020-01-03", 1.01),  # the same date: the same visit
        ("A", "PART A UNSCHEDULED", "2020-01-08", 2.01),  # on the day of a planned visit: after it
        ("A", "PART B UNSCHEDULED", "2020-01-06", 10.01),
        ("A", "PART B UNSCHEDULED", "2020-01-04", None),  # before any PART B visit
        ("B", "PART A UNSCHEDULED", "2020-01-03", None),  # B has no planned visit
        ("A", "PART A UNSCHEDULED", None, None),  # no date
    ]
    frame = pd.DataFrame({"USUBJID": [r[0] for r in rows], "VISIT": [r[1] for r in rows],
                          "XXDTC": [r[2] for r in rows]}, index=np.arange(len(rows)) + 3).astype(str)
    if coded:
        frame = frame.astype("category")
    state = StudyState(load_study("dara_atra"), SimpleNamespace(visits=visits), {}, Findings())
    rule = Rule("derive", {"derive": "visitnum", "visit": "VISIT", "unplanned": "UNSCHEDULED", "date": "XXDTC"})
    got = derive_visitnum(state, "XX", frame, rule)
    assert [None if pd.isna(v) else v for v in got.values] == [r[3] for r in rows]
    assert got.values.index.equals(frame.index)
