"""The ordered-event engine: event priority, first/last within an event, fallbacks, variables from events."""

from __future__ import annotations

import pandas as pd
import pytest

from cdiscflow.adam import Event, Expr, derive_extreme_event, derive_vars_extreme_event
from cdiscflow.core.errors import InputError

ADSL = pd.DataFrame({"STUDYID": "S", "USUBJID": ["01", "02", "03"],
                     "TRTEDT": pd.to_datetime(["2020-03-01", "2020-02-01", None])})
OVR = pd.DataFrame({
    "STUDYID": "S",
    "USUBJID": ["01", "01", "01", "02", "02"],
    "ADT": pd.to_datetime(["2020-01-10", "2020-02-10", "2020-03-10", "2020-01-10", "2020-02-10"]),
    "AVALC": ["PR", "CR", "CR", "SD", "NE"],
})
BEST = [
    Event("complete response", "AVALC == 'CR'", {"AVALC": "CR"}, "ovr"),
    Event("partial response", "AVALC == 'PR'", {"AVALC": "PR"}, "ovr"),
    Event("stable disease", "AVALC == 'SD'", {"AVALC": "SD"}, "ovr"),
    Event("not evaluable", "AVALC in ('CR', 'PR', 'SD', 'NE')", {"AVALC": "NE"}, "ovr"),
    Event("no assessment", None, {"AVALC": "MISSING"}, "adsl", keep_source_vars=()),
]


def test_best_response_is_the_first_event_at_its_first_date():
    out = derive_extreme_event(None, events=BEST, source_datasets={"ovr": OVR, "adsl": ADSL}, order=("ADT",),
                               set_values_to={"PARAMCD": "BOR"}, description_var="EVENT")
    got = {r.USUBJID: (r.AVALC, None if pd.isna(r.ADT) else str(r.ADT.date()), r.EVENT) for r in out.itertuples()}
    assert got == {"01": ("CR", "2020-02-10", "complete response"),
                   "02": ("SD", "2020-01-10", "stable disease"),
                   "03": ("MISSING", None, "no assessment")}
    assert set(out["PARAMCD"]) == {"BOR"} and "TRTEDT" not in out  # the fallback keeps only the keys


def test_mode_last_keeps_event_priority():
    # the last CR of 01, not the ADSL fallback listed after it
    out = derive_extreme_event(None, events=BEST, source_datasets={"ovr": OVR, "adsl": ADSL}, order=("ADT",),
                               mode="last")
    assert out.set_index("USUBJID").loc["01", "ADT"] == pd.Timestamp("2020-03-10")
    assert out.set_index("USUBJID").loc["02", "AVALC"] == "SD"


def test_appends_to_the_dataset():
    adrs = OVR.assign(PARAMCD="OVR")
    out = derive_extreme_event(adrs, events=BEST, source_datasets={"ovr": OVR, "adsl": ADSL}, order=("ADT",),
                               set_values_to={"PARAMCD": "BOR"})
    assert len(out) == len(adrs) + 3 and out["PARAMCD"].value_counts().to_dict() == {"OVR": 5, "BOR": 3}


def test_latest_date_over_sources_ignoring_event_order():
    events = [Event("assessment", None, {"LSTALVDT": Expr("ADT")}, "ovr"),
              Event("last dose", "notna(TRTEDT)", {"LSTALVDT": Expr("TRTEDT")}, "adsl")]
    out = derive_vars_extreme_event(ADSL, events=events, source_datasets={"ovr": OVR, "adsl": ADSL},
                                    order=("LSTALVDT",), mode="last", ignore_event_order=True, new_vars=("LSTALVDT",))
    assert out["LSTALVDT"].tolist()[:2] == [pd.Timestamp("2020-03-10"), pd.Timestamp("2020-02-10")]
    assert pd.isna(out["LSTALVDT"].iloc[2]) and out["USUBJID"].tolist() == ["01", "02", "03"]


def test_unknown_source_dataset():
    with pytest.raises(InputError, match="event 'x' reads dataset 'rs', which is not among source_datasets \\(ovr\\)"):
        derive_extreme_event(None, events=[Event("x", None, {}, "rs")], source_datasets={"ovr": OVR})


def test_an_empty_source_keeps_its_variables_and_types():
    out = derive_extreme_event(None, events=BEST, source_datasets={"ovr": OVR.iloc[:0], "adsl": ADSL},
                               order=("ADT",))
    assert out["AVALC"].tolist() == ["MISSING"] * 3
    assert pd.api.types.is_datetime64_any_dtype(out["ADT"]) and out["ADT"].isna().all()


def test_events_of_one_kind_taken_at_once_give_each_record_its_own_event_s_values():
    # CR, PR, "never" (no record) and SD read one source and set constants of the same types: their records are
    # taken at once, each with its event's values; an expression (NE) and a number of another type (TOO: a float
    # after ints) start another take; the result is what the events' records one after the other give
    from cdiscflow.adam.verbs.extreme import select_extreme_event

    ovr = OVR.assign(ADY=[10.0, 41.0, 70.0, 10.0, 41.0], USUBJID=["01", "01", "01", "02", "04"])
    ovr = ovr.set_axis([7, 3, 5, 1, 9])
    events = [Event("complete response", "AVALC == 'CR'", {"AVALC": "cr", "N": 1, "W": None}, "ovr"),
              Event("partial response", "AVALC == 'PR'", {"AVALC": "pr", "N": 2, "W": None}, "ovr"),
              Event("never", "AVALC == 'XX'", {"AVALC": "xx", "N": 3, "W": None}, "ovr"),
              Event("stable disease", "AVALC == 'SD'", {"AVALC": "sd", "N": 4, "W": None}, "ovr"),
              Event("too", "AVALC == 'SD'", {"AVALC": "too", "N": 4.5, "W": None}, "ovr"),
              Event("not evaluable", "AVALC == 'NE'", {"AVALC": Expr("AVALC"), "N": 5, "W": None}, "ovr"),
              Event("no assessment", None, {"AVALC": "MISSING"}, "adsl", keep_source_vars=())]
    out = select_extreme_event(events=events, source_datasets={"ovr": ovr, "adsl": ADSL}, order=("ADT",),
                               description_var="EVENT")
    assert out["USUBJID"].tolist() == ["01", "02", "03", "04"]
    assert out["AVALC"].tolist() == ["cr", "sd", "MISSING", "NE"]
    assert out["N"].tolist()[:2] == [1.0, 4.0] and pd.isna(out["N"].iloc[2]) and out["N"].iloc[3] == 5.0
    assert out["EVENT"].tolist() == ["complete response", "stable disease", "no assessment", "not evaluable"]
    assert out["ADT"].tolist()[:2] == [pd.Timestamp("2020-02-10"), pd.Timestamp("2020-01-10")]
    assert out["ADY"].tolist()[:2] == [41.0, 10.0] and out["W"].isna().all()
    assert out["N"].dtype == "float64" and out["AVALC"].dtype == "str" and out["EVENT"].dtype == "str"
    overlapping = Event("any", "AVALC in ('CR', 'PR', 'SD')", {"AVALC": "any", "N": 9, "W": None}, "ovr")
    ints = select_extreme_event(events=[*events[:4], overlapping], source_datasets={"ovr": ovr}, order=("ADT",),
                                mode="last")  # the same record in two events of one take (index labels repeat)
    assert ints["USUBJID"].tolist() == ["01", "02"] and ints["AVALC"].tolist() == ["cr", "sd"]
    assert ints["N"].tolist() == [1, 4] and ints["N"].dtype == "int64" and ints["W"].dtype == "float64"
    assert ints["ADT"].tolist() == [pd.Timestamp("2020-03-10"), pd.Timestamp("2020-01-10")]
    assert ints.columns.tolist() == ["STUDYID", "USUBJID", "ADT", "AVALC", "ADY", "N", "W"]


@pytest.mark.parametrize("first, second, dtype", [
    (pd.NA, pd.NA, "object"),  # pd.NA == pd.NA is neither true nor false: each event sets its own
    (pd.NaT, pd.NaT, "datetime64[ns]"),  # NaT's column keeps pandas' type, numpy's array would not
    (pd.Timestamp("2021-01-01"), pd.Timestamp("2021-02-01"), "datetime64[us]"),
])
def test_events_setting_values_other_than_text_numbers_or_none_are_taken_one_by_one(first, second, dtype):
    from cdiscflow.adam.verbs.extreme import select_extreme_event

    events = [Event("complete response", "AVALC == 'CR'", {"X": first}, "ovr"),
              Event("partial response", "AVALC == 'PR'", {"X": second}, "ovr")]
    out = select_extreme_event(events=events, source_datasets={"ovr": OVR}, order=("ADT",), description_var="D")
    assert out["USUBJID"].tolist() == ["01"] and out["D"].tolist() == ["complete response"]
    assert str(out["X"].dtype) == dtype
    assert (pd.isna(out["X"].iloc[0]) and pd.isna(first)) or out["X"].iloc[0] == first
