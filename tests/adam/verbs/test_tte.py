"""Time-to-event engine and its YAML declaration: an event and a censored subject per parameter, tie rules."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from cdiscflow.adam import CensorSource, EventSource, Expr, derive_param_tte, load_tte_parameters
from cdiscflow.core.errors import InputError, SpecError

ADSL = pd.DataFrame({
    "STUDYID": "S",
    "USUBJID": ["01", "02", "03", "04"],
    "RANDDT": pd.to_datetime(["2020-01-01", "2020-02-01", None, "2020-03-01"]),
    "DTHDT": pd.to_datetime(["2020-06-01", None, None, None]),
    "LSTALVDT": pd.to_datetime(["2020-06-01", "2020-08-01", "2019-12-01", "2020-03-01"]),
})
ADRS = pd.DataFrame({
    "STUDYID": "S",
    "USUBJID": ["01", "01", "02", "02", "04"],
    "PARAMCD": ["PD", "LSTA", "PD", "LSTA", "LSTA"],
    "AVALC": ["Y", "PD", "N", "SD", None],
    "ADT": pd.to_datetime(["2020-04-15", "2020-04-15", None, "2020-07-01", None]),
    "ASEQ": [1.0, 2.0, 1.0, 2.0, 1.0],
})
DEATH = EventSource("ADSL", date="DTHDT", filter="notna(DTHDT)",
                    set_values_to={"EVNTDESC": "Death", "SRCDOM": "ADSL", "SRCVAR": "DTHDT"})
PD = EventSource("ADRS", date="ADT", filter="PARAMCD == 'PD' and AVALC == 'Y'",
                 set_values_to={"EVNTDESC": "Disease Progression", "SRCDOM": "ADRS", "SRCVAR": "ADT",
                                "SRCSEQ": Expr("ASEQ")})
ALIVE = CensorSource("ADSL", date="LSTALVDT", set_values_to={"EVNTDESC": "Alive", "CNSDTDSC": "Alive During Study"})
LASTA = CensorSource("ADRS", date="ADT", filter="PARAMCD == 'LSTA'",
                     set_values_to={"EVNTDESC": "Last Assessment", "SRCSEQ": Expr("ASEQ")})
RAND = CensorSource("ADSL", date="RANDDT", censor=2, set_values_to={"EVNTDESC": "Randomization"})
SOURCES = {"ADSL": ADSL, "ADRS": ADRS}


def _by_subject(frame: pd.DataFrame) -> dict:
    return {r.USUBJID: (str(r.ADT.date()), r.CNSR, r.AVAL, r.EVNTDESC) for r in frame.itertuples()}


def test_overall_survival_event_and_censoring():
    os_ = derive_param_tte(ADSL, start_date="RANDDT", event_conditions=[DEATH], censor_conditions=[ALIVE, RAND],
                           source_datasets=SOURCES, set_values_to={"PARAMCD": "OS", "PARAM": "Overall Survival"})
    # 03 has no randomisation date: no record.  01: 2020-01-01 -> 2020-06-01 is 152 days later (leap year), +1.
    # 04: last alive on the randomisation date; equal censor dates take the source listed last (RAND, CNSR 2).
    assert _by_subject(os_) == {"01": ("2020-06-01", 0, 153.0, "Death"),
                                "02": ("2020-08-01", 1, 183.0, "Alive"),
                                "04": ("2020-03-01", 2, 1.0, "Randomization")}
    assert os_.columns[:4].tolist() == ["STUDYID", "USUBJID", "PARAMCD", "PARAM"]
    assert os_["CNSDTDSC"].fillna("-").tolist() == ["-", "Alive During Study", "-"]


def test_pfs_earliest_event_latest_censoring_and_appending():
    os_ = derive_param_tte(ADSL, start_date="RANDDT", event_conditions=[DEATH], censor_conditions=[ALIVE, RAND],
                           source_datasets=SOURCES, set_values_to={"PARAMCD": "OS"})
    both = derive_param_tte(ADSL, start_date="RANDDT", event_conditions=[PD, DEATH], censor_conditions=[LASTA, RAND],
                            source_datasets=SOURCES, set_values_to={"PARAMCD": "PFS"}, dataset=os_)
    pfs = both[both["PARAMCD"] == "PFS"]
    # 01: PD (2020-04-15) before death; 02: censored at the last assessment; 04: no assessment -> randomisation
    assert _by_subject(pfs) == {"01": ("2020-04-15", 0, 106.0, "Disease Progression"),
                                "02": ("2020-07-01", 1, 152.0, "Last Assessment"),
                                "04": ("2020-03-01", 2, 1.0, "Randomization")}
    assert pfs["SRCSEQ"].tolist()[:2] == [1.0, 2.0] and len(both) == 6
    with pytest.raises(InputError, match="dataset already has records of PARAMCD PFS"):
        derive_param_tte(ADSL, start_date="RANDDT", event_conditions=[PD], censor_conditions=[RAND],
                         source_datasets=SOURCES, set_values_to={"PARAMCD": "PFS"}, dataset=both)


def test_dates_before_origin_and_startdt_in_filters():
    adsl = ADSL.assign(REGBDT=pd.to_datetime(["2020-05-01", "2020-02-01", None, "2020-03-01"]))
    pd_any = EventSource("ADRS", date="ADT", filter="PARAMCD == 'PD' and AVALC == 'Y'")
    moved = derive_param_tte(adsl, start_date="REGBDT", event_conditions=[pd_any], censor_conditions=[RAND],
                             source_datasets={"ADRS": ADRS, "ADSL": adsl}, set_values_to={"PARAMCD": "PFSB"})
    # admiral's rule: an event before the origin is moved to the origin (day 1)
    assert moved.set_index("USUBJID").loc["01", ["CNSR", "AVAL"]].tolist() == [0, 1.0]
    pd_after = EventSource("ADRS", date="ADT", filter="PARAMCD == 'PD' and AVALC == 'Y' and ADT >= STARTDT")
    alive = CensorSource("ADSL", date="LSTALVDT")
    kept = derive_param_tte(adsl, start_date="REGBDT", event_conditions=[pd_after, DEATH], censor_conditions=[alive],
                            source_datasets={"ADRS": ADRS, "ADSL": adsl}, set_values_to={"PARAMCD": "PFSB"})
    # a progression before the origin is not an event: 01's next event is death on 2020-06-01, day 32
    assert kept.set_index("USUBJID").loc["01", ["CNSR", "AVAL"]].tolist() == [0, 32.0]


def test_subject_without_event_or_censoring_is_an_error():
    with pytest.raises(InputError, match=r"1 subject\(s\) with a RANDDT have neither an event nor a censoring "
                                         r"\(USUBJID 04\)\. Add a CensorSource at the origin date"):
        derive_param_tte(ADSL, start_date="RANDDT", event_conditions=[DEATH], censor_conditions=[LASTA],
                         source_datasets=SOURCES, set_values_to={"PARAMCD": "PFS"})


def test_sources_are_checked():
    with pytest.raises(ValueError, match="positive integer censor code"):
        CensorSource("ADSL", date="LSTALVDT", censor=0)
    with pytest.raises(InputError, match="not among source_datasets"):
        derive_param_tte(ADSL, start_date="RANDDT", event_conditions=[EventSource("ADAE", date="ASTDT")],
                         censor_conditions=[RAND], source_datasets=SOURCES, set_values_to={"PARAMCD": "X"})


SPEC = """
sources:
  death:   {type: event, dataset: ADSL, date: DTHDT, filter: notna(DTHDT), set_values_to: {EVNTDESC: Death}}
  pd:      {type: event, dataset: ADRS, date: ADT, filter: "PARAMCD == 'PD' and AVALC == 'Y'",
            set_values_to: {EVNTDESC: Disease Progression, SRCSEQ: {expr: ASEQ}}}
  lasta:   {type: censor, dataset: ADRS, date: ADT, filter: "PARAMCD == 'LSTA'", set_values_to: {EVNTDESC: Last}}
  alive:   {type: censor, dataset: ADSL, date: LSTALVDT}
  rand:    {type: censor, censor: 2, dataset: ADSL, date: RANDDT, set_values_to: {EVNTDESC: Randomization}}
parameters:
  OS:  {start_date: RANDDT, events: [death], censors: [alive, rand], set_values_to: {PARAM: Overall Survival}}
  PFS: {start_date: RANDDT, events: [pd, death], censors: [lasta, rand]}
"""


def test_parameters_declared_in_yaml_give_the_same_records():
    params = load_tte_parameters(yaml.safe_load(SPEC))
    assert list(params) == ["OS", "PFS"]
    adtte = None
    for p in params.values():
        adtte = p.derive(ADSL, SOURCES, dataset=adtte)
    pfs = adtte[adtte["PARAMCD"] == "PFS"]
    assert _by_subject(pfs) == {"01": ("2020-04-15", 0, 106.0, "Disease Progression"),
                                "02": ("2020-07-01", 1, 152.0, "Last"),
                                "04": ("2020-03-01", 2, 1.0, "Randomization")}
    assert adtte.loc[adtte["PARAMCD"] == "OS", "PARAM"].unique().tolist() == ["Overall Survival"]


def test_shared_selections_give_the_same_records():
    """Parameters derived with one `selections` dict select a shared source's records once (death in OS and PFS,
    rand in both; not a source reading STARTDT, whose selection depends on the parameter's origin)."""
    params = load_tte_parameters(yaml.safe_load(SPEC))
    plain, shared, selections = None, None, {}
    for p in params.values():
        plain = p.derive(ADSL, SOURCES, dataset=plain)
        shared = p.derive(ADSL, SOURCES, dataset=shared, selections=selections)
    pd.testing.assert_frame_equal(shared, plain)
    memoised = [key for key in selections if key != "__held__"]
    # OS: death (first), alive and rand (last); PFS adds pd and lasta, reuses death and rand
    assert len(memoised) == 5
    startdt = EventSource("ADRS", date="ADT", filter="PARAMCD == 'PD' and ADT >= STARTDT")
    for start in ("RANDDT", "LSTALVDT"):
        derive_param_tte(ADSL, start_date=start, event_conditions=[startdt], censor_conditions=[ALIVE],
                         source_datasets=SOURCES, set_values_to={"PARAMCD": f"P{start}"}, selections=selections)
    assert not any(key[0] == id(startdt) for key in selections if key != "__held__")


def test_yaml_errors_name_file_and_item():
    bad = yaml.safe_load(SPEC.replace("filter: notna(DTHDT)", "filter: notna(DTHDT) and")
                         .replace("censors: [lasta, rand]", "censors: [lasta, random]")
                         .replace("censor: 2,", "censor: 0,")
                         .replace("PFS: {", "PFS_LONGNAME: {"))
    with pytest.raises(SpecError) as exc:
        load_tte_parameters(bad, where="adam/tte.yaml")
    problems = exc.value.problems
    assert any(p.startswith("adam/tte.yaml: sources.death.filter: 'notna(DTHDT) and' is not a valid expression")
               for p in problems)
    assert "adam/tte.yaml: sources.rand: censor must be a positive integer, not 0" in problems
    assert any(p.startswith("adam/tte.yaml: parameters.PFS_LONGNAME: PARAMCD must be 1-8 characters") for p in problems)
    assert any(p.startswith("adam/tte.yaml: parameters.PFS_LONGNAME.censors: unknown source 'random'")
               for p in problems)


def test_events_only_when_every_subject_has_one():
    dead = ADSL.iloc[:1]
    out = derive_param_tte(dead, start_date="RANDDT", event_conditions=[DEATH], censor_conditions=[],
                           source_datasets=SOURCES, set_values_to={"PARAMCD": "OS"})
    assert out[["CNSR", "AVAL"]].values.tolist() == [[0, 153.0]]


@pytest.mark.slow
def test_a_study_folder_declares_its_parameters(study_copy):
    from cdiscflow.adam import tte_parameters_from_spec
    from cdiscflow.specs.load import load_study

    (study_copy / "adam").mkdir(exist_ok=True)  # the embedded study has adam/ since the ADaM layer
    (study_copy / "adam" / "tte.yaml").write_text(SPEC)
    params = tte_parameters_from_spec(load_study(study_copy))
    assert [(p.paramcd, p.start_date, len(p.events), len(p.censors)) for p in params.values()] == [
        ("OS", "RANDDT", 1, 2), ("PFS", "RANDDT", 2, 2)]
    (study_copy / "adam" / "tte.yaml").write_text(SPEC.replace("events: [pd, death]", "events: [progression]"))
    with pytest.raises(SpecError, match=r"adam/tte.yaml: parameters.PFS.events: unknown source 'progression'"):
        tte_parameters_from_spec(load_study(study_copy))
