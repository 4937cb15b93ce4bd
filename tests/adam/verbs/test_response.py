"""Confirmed and best response, response rates and ANL01FL, with IMWG 2016 and RECIST 1.1 criteria as data.

Every expected value below was worked out by hand from the rules in cdiscflow/adam/verbs/response.py."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from cdiscflow.adam import (
    YN_AVAL, best_response_events, derive_extreme_event, derive_param_confirmed_response, derive_var_worst_flag,
    last_assessment_events, load_response_criteria, progression_events, rate_events,
)
from cdiscflow.core.errors import InputError, SpecError
from cdiscflow.core.findings import Findings

IMWG = load_response_criteria("IMWG2016")
RECIST = load_response_criteria("RECIST11")


def _ovr(rows: list[tuple]) -> pd.DataFrame:
    """(subject, date, response[, PDIFL[, NACTDT]]) -> OVR records."""
    frame = pd.DataFrame([(*r, *([None] * (5 - len(r)))) for r in rows],
                         columns=["USUBJID", "ADT", "AVALC", "PDIFL", "NACTDT"])
    frame["ADT"] = pd.to_datetime(frame["ADT"])
    frame["NACTDT"] = pd.to_datetime(frame["NACTDT"])
    frame.insert(0, "STUDYID", "S")
    frame["PARAMCD"] = "OVR"
    frame["RSSEQ"] = frame.groupby("USUBJID").cumcount() + 1
    frame["RANDDT"] = pd.Timestamp("2020-01-01")
    return frame


IMWG_OVR = _ovr([
    ("A", "2020-02-01", "PR"), ("A", "2020-03-01", "PR"),                                # confirmed PR
    ("B", "2020-02-01", "PR"), ("B", "2020-03-01", "PD"), ("B", "2020-04-01", "PD"),     # unconfirmed PR, PD confirmed
    ("C", "2020-02-01", "VGPR"), ("C", "2020-03-01", "PR"), ("C", "2020-04-01", "PR"),   # VGPR downgraded to PR
    ("D", "2020-02-01", "PD"), ("D", "2020-03-01", "SD"),                                # PD not confirmed
    ("E", "2020-02-01", "CR"), ("E", "2020-03-01", "NE"), ("E", "2020-04-01", "CR"),     # NE skipped
    ("F", "2020-02-01", "PD", "Y"),                                                      # PD by imaging stands
    ("G", "2020-02-01", "PR", None, "2020-02-15"), ("G", "2020-03-01", "PR", None, "2020-02-15"),  # new therapy
    ("I", "2020-02-01", "MR"), ("I", "2020-03-01", "MR"),                                # minimal response
])
ADSL = pd.DataFrame({"STUDYID": "S", "USUBJID": list("ABCDEFGHI")})  # H has no assessment


def _covr(frame: pd.DataFrame, criteria=IMWG, **kwargs) -> pd.DataFrame:
    out = derive_param_confirmed_response(frame, criteria=criteria, set_values_to={"PARAMCD": "COVR"},
                                          order=("RSSEQ",), **kwargs)
    return out[out["PARAMCD"] == "COVR"]


def _per_subject(frame: pd.DataFrame) -> dict[str, list[str]]:
    return frame.groupby("USUBJID", sort=True)["AVALC"].agg(list).to_dict()


def test_imwg_confirmed_response_at_each_assessment():
    covr = _covr(IMWG_OVR, new_therapy_date="NACTDT", pd_confirmed_vars=("PDIFL",))
    assert _per_subject(covr) == {
        "A": ["PR", "PR"],          # PR confirmed by PR; the last PR alone would be SD, the running best stays PR
        "B": ["SD", "PD", "PD"],    # PR followed by PD -> SD; PD confirmed by the next PD; PD dominates afterwards
        "C": ["PR", "PR", "PR"],    # VGPR then PR -> PR
        "D": ["NE", "SD"],          # PD followed by SD -> NE; then SD
        "E": ["CR", "CR", "CR"],    # the NE visit is skipped (CR confirmed by the CR after it) and carries the CR
        "F": ["PD"],                # PD by imaging needs no confirmation
        "G": ["SD", "SD"],          # the confirming PR came after new anti-cancer therapy
        "I": ["MR", "MR"],
    }
    assert covr["AVAL"].tolist()[:2] == [4.0, 4.0]  # IMWG coding: PR = 4
    # without running best, the per-visit values of the rules show
    single = load_response_criteria("IMWG2016", overrides={"confirmation": {"running_best": False}})
    plain = _covr(IMWG_OVR, criteria=single, new_therapy_date="NACTDT", pd_confirmed_vars=("PDIFL",))
    assert _per_subject(plain)["A"] == ["PR", "SD"] and _per_subject(plain)["B"] == ["SD", "PD", "NE"]
    assert _per_subject(plain)["E"] == ["CR", "NE", "SD"]


def test_imwg_best_confirmed_response_and_rates():
    covr = _covr(IMWG_OVR, new_therapy_date="NACTDT", pd_confirmed_vars=("PDIFL",))
    src = {"ovr": covr, "adsl": ADSL}
    adrs = derive_extreme_event(covr, events=best_response_events(IMWG), source_datasets=src, order=("ADT",),
                                set_values_to={"PARAMCD": "CBOR", "AVAL": IMWG.aval_expr()})
    for rate in ("RSP", "CBR", "DCR"):
        adrs = derive_extreme_event(adrs, events=rate_events(IMWG, rate), source_datasets=src, order=("ADT",),
                                    set_values_to={"PARAMCD": rate, "AVAL": YN_AVAL})
    adrs = derive_extreme_event(adrs, events=progression_events(IMWG), source_datasets=src, order=("ADT",),
                                set_values_to={"PARAMCD": "PD", "AVAL": YN_AVAL})
    table = adrs[adrs["PARAMCD"] != "COVR"].pivot(index="USUBJID", columns="PARAMCD", values="AVALC")
    assert table.to_dict("index") == {
        "A": {"CBOR": "PR", "RSP": "Y", "CBR": "Y", "DCR": "Y", "PD": "N"},
        "B": {"CBOR": "SD", "RSP": "N", "CBR": "N", "DCR": "Y", "PD": "Y"},
        "C": {"CBOR": "PR", "RSP": "Y", "CBR": "Y", "DCR": "Y", "PD": "N"},
        "D": {"CBOR": "SD", "RSP": "N", "CBR": "N", "DCR": "Y", "PD": "N"},
        "E": {"CBOR": "CR", "RSP": "Y", "CBR": "Y", "DCR": "Y", "PD": "N"},
        "F": {"CBOR": "PD", "RSP": "N", "CBR": "N", "DCR": "N", "PD": "Y"},
        "G": {"CBOR": "SD", "RSP": "N", "CBR": "N", "DCR": "Y", "PD": "N"},
        "H": {"CBOR": "MISSING", "RSP": "N", "CBR": "N", "DCR": "N", "PD": "N"},
        "I": {"CBOR": "MR", "RSP": "N", "CBR": "Y", "DCR": "Y", "PD": "N"},
    }
    cbor = adrs[adrs["PARAMCD"] == "CBOR"].set_index("USUBJID")
    assert str(cbor.loc["B", "ADT"].date()) == "2020-02-01" and str(cbor.loc["D", "ADT"].date()) == "2020-03-01"
    assert cbor.loc["E", "AVAL"] == 6.0 and pd.isna(cbor.loc["H", "AVAL"])
    pd_date = adrs[(adrs["PARAMCD"] == "PD") & (adrs["USUBJID"] == "B")]["ADT"].iloc[0]
    assert str(pd_date.date()) == "2020-03-01"


def test_long_confirmation_gaps_are_reported():
    late = _ovr([("A", "2020-01-10", "PR"), ("A", "2020-06-01", "PR")])
    findings = Findings()
    _covr(late, findings=findings)
    rows = findings.frame()
    assert rows["rule_id"].tolist() == ["ADAM-RSP-GAP"] and rows["subject"].tolist() == ["A"]
    assert rows["message"].iloc[0] == "A: the PR assessment of 2020-01-10 was confirmed by one 143 days later (more than 84)"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _covr(late)
    assert "143 days later" in str(caught[0].message)


def test_worst_assessment_per_date_for_anl01fl():
    two = _ovr([("A", "2020-02-01", "PR"), ("A", "2020-02-01", "NE"), ("A", "2020-02-01", "SD"),
                ("A", "2019-12-01", "PD"), ("A", "2020-03-01", "NE")])
    out = derive_var_worst_flag(two, criteria=IMWG, filter="ADT >= RANDDT", order=("RSSEQ",))
    # SD is worse than PR and an evaluated value beats NE; the assessment before randomisation is not flagged
    assert out["ANL01FL"].fillna("-").tolist() == ["-", "-", "Y", "-", "Y"]


def test_recist_interval_confirmation_and_minimum_time_for_sd():
    ovr = _ovr([
        ("S1", "2020-01-22", "PR"), ("S1", "2020-02-20", "PR"),                          # 29 days: confirmed
        ("S2", "2020-02-01", "CR"), ("S2", "2020-02-15", "NE"), ("S2", "2020-03-01", "CR"),   # one NE allowed
        ("S3", "2020-02-01", "CR"), ("S3", "2020-02-10", "NE"), ("S3", "2020-02-20", "NE"),
        ("S3", "2020-03-05", "CR"),                                                      # two NE: not confirmed
        ("S4", "2020-01-10", "PR"), ("S4", "2020-01-20", "PR"),                          # too early for SD either
        ("S5", "2020-02-01", "PR"), ("S5", "2020-02-15", "CR"), ("S5", "2020-03-05", "PR"),   # PR after CR
    ])
    covr = _covr(ovr, criteria=RECIST, origin_date="RANDDT")
    assert _per_subject(covr) == {
        "S1": ["PR", "SD"],
        "S2": ["CR", "NE", "SD"],
        "S3": ["SD", "NE", "NE", "SD"],
        "S4": ["NE", "NE"],
        "S5": ["SD", "SD", "SD"],
    }
    adsl = pd.DataFrame({"STUDYID": "S", "USUBJID": ["S1", "S2", "S3", "S4", "S5"]})
    cbor = derive_extreme_event(None, events=best_response_events(RECIST), source_datasets={"ovr": covr, "adsl": adsl},
                                order=("ADT",), set_values_to={"AVAL": RECIST.aval_expr()})
    assert dict(zip(cbor["USUBJID"], cbor["AVALC"])) == {"S1": "PR", "S2": "CR", "S3": "SD", "S4": "NE", "S5": "SD"}
    assert cbor["AVAL"].tolist() == [2.0, 1.0, 3.0, 6.0, 3.0]
    # best response without confirmation: the CR of S5 counts, the early PRs of S4 still do
    bor = derive_extreme_event(None, events=best_response_events(RECIST, origin_date="RANDDT"),
                               source_datasets={"ovr": ovr, "adsl": adsl}, order=("ADT",))
    assert dict(zip(bor["USUBJID"], bor["AVALC"])) == {"S1": "PR", "S2": "CR", "S3": "CR", "S4": "PR", "S5": "CR"}


def test_subjects_with_only_not_evaluable_assessments_and_no_assessments():
    only_ne = _ovr([("A", "2020-02-01", "NE"), ("A", "2020-03-01", "NE")])
    assert _per_subject(_covr(only_ne)) == {"A": ["NE", "NE"]}
    assert _per_subject(_covr(only_ne, criteria=RECIST, origin_date="RANDDT")) == {"A": ["NE", "NE"]}
    assert len(_covr(only_ne.iloc[:0])) == 0


def test_bad_input_and_bad_criteria():
    with pytest.raises(InputError, match=r"1 assessment\(s\) with AVALC missing or not a IMWG2016 response"):
        _covr(_ovr([("A", "2020-02-01", "PR"), ("A", "2020-03-01", "iCR")]))
    with pytest.raises(ValueError, match="give origin_date"):
        _covr(_ovr([("A", "2020-02-01", "PR")]), criteria=RECIST)
    with pytest.raises(SpecError) as exc:
        load_response_criteria("IMWG2016", overrides={"rates": {"ORR": {"at_or_above": "NE"}},
                                                      "confirmation": {"method": "twice"}}, where="adam/adrs.yaml")
    assert exc.value.problems == [
        "imwg2016.yaml (with overrides from adam/adrs.yaml): rates.ORR: threshold 'NE' is not an evaluable "
        "response level",
        "imwg2016.yaml (with overrides from adam/adrs.yaml): confirmation.method: must be one of next_assessment, "
        "interval, not 'twice'",
    ]
    with pytest.raises(SpecError, match="unknown criteria 'LUGANO' \\(available: IMWG2016, RECIST11\\)"):
        load_response_criteria("LUGANO")


def test_a_criteria_file_that_is_not_yaml_is_a_spec_error_naming_its_line(tmp_path):
    path = tmp_path / "lugano.yaml"
    path.write_text("id: LUGANO\nlevels: [CR, PR\n")
    with pytest.raises(SpecError, match=r"lugano.yaml line 3: not valid YAML"):
        load_response_criteria(path)


def test_a_study_folder_selects_its_criteria(study_copy):
    from cdiscflow.adam import response_criteria_from_spec
    from cdiscflow.specs.load import load_study

    (study_copy / "adam").mkdir(exist_ok=True)  # the embedded study has adam/ since the ADaM layer
    (study_copy / "adam" / "adrs.yaml").write_text(
        "response_criteria:\n  id: IMWG2016\n  overrides: {rates: {CBR: {at_or_above: PR}}, sd_like: [SD]}\n")
    with pytest.raises(SpecError, match="sd_min_days: sd_like values need sd_min_days"):
        response_criteria_from_spec(load_study(study_copy))
    (study_copy / "adam" / "adrs.yaml").write_text(
        "response_criteria:\n  id: IMWG2016\n  overrides: {rates: {CBR: {at_or_above: PR}}}\n")
    criteria = response_criteria_from_spec(load_study(study_copy))
    assert criteria.rates["CBR"].values == ("sCR", "CR", "VGPR", "PR")  # the study's override
    assert criteria.rates["DCR"].values == IMWG.rates["DCR"].values  # the rest as the standard file says


# ----------------------------------------------------------------------------------------------------------------
# admiralonco's conventions as options: sustained rate levels (CB), CR/VGPR-or-better rates, the last assessment

CB_IMWG = load_response_criteria("IMWG2016", overrides={"rates": {"CB": {
    "at_or_above": "SD", "sustained": {"values": ["MR", "SD"], "min_days": 42}}}})


def _rate_table(covr: pd.DataFrame, criteria, rates, **kwargs) -> dict:
    adrs = None
    for rate in rates:
        adrs = derive_extreme_event(adrs, events=rate_events(criteria, rate, **kwargs),
                                    source_datasets={"ovr": covr, "adsl": ADSL_CB}, order=("ADT",),
                                    set_values_to={"PARAMCD": rate})
    return {(r.USUBJID, r.PARAMCD): (r.AVALC, None if pd.isna(r.ADT) else str(r.ADT.date()))
            for r in adrs.itertuples()}


ADSL_CB = pd.DataFrame({"STUDYID": "S", "USUBJID": list("JKLMN")})
CB_OVR = _ovr([  # randomised 2020-01-01: day 42 after it is 2020-02-12
    ("J", "2020-02-11", "MR"), ("J", "2020-02-12", "MR"), ("J", "2020-03-10", "MR"),  # MR on day 41, then day 42
    ("K", "2020-01-20", "PR"), ("K", "2020-02-20", "PR"),                             # a response counts at once
    ("L", "2020-01-30", "SD"),                                                        # SD only before day 42
    ("M", "2020-01-15", "sCR"), ("M", "2020-02-01", "CR"), ("M", "2020-03-01", "CR"),  # sCR then CR: CR confirmed
    ("N", "2020-01-15", "VGPR"), ("N", "2020-02-01", "VGPR"),
])


def test_sustained_rate_levels_count_from_the_origin_plus_min_days():
    """CB (admiralonco's IMWG vignette): PR or better at any time, MR or SD only on/after RANDDT + 42 days; CRRSP and
    VGPRRSP (standard IMWG rates) are sCR/CR and sCR/CR/VGPR.  Worked by hand on the confirmed responses."""
    covr = _covr(CB_OVR)
    # each last assessment is unconfirmed (SD), but the best confirmed response so far stays (running best)
    assert _per_subject(covr) == {"J": ["MR", "MR", "MR"], "K": ["PR", "PR"], "L": ["SD"], "M": ["CR", "CR", "CR"],
                                  "N": ["VGPR", "VGPR"]}
    assert CB_IMWG.rates["CB"].values == ("sCR", "CR", "VGPR", "PR", "MR", "SD")
    assert IMWG.rates["CRRSP"].values == ("sCR", "CR") and IMWG.rates["VGPRRSP"].values == ("sCR", "CR", "VGPR")
    table = _rate_table(covr, CB_IMWG, ("CB", "CRRSP", "VGPRRSP", "DCR"), origin_date="RANDDT")
    assert table == {
        ("J", "CB"): ("Y", "2020-02-12"), ("J", "CRRSP"): ("N", None), ("J", "VGPRRSP"): ("N", None),
        ("J", "DCR"): ("Y", "2020-02-11"),                               # DCR has no minimum time: day 41 counts
        ("K", "CB"): ("Y", "2020-01-20"), ("K", "CRRSP"): ("N", None), ("K", "VGPRRSP"): ("N", None),
        ("K", "DCR"): ("Y", "2020-01-20"),
        ("L", "CB"): ("N", None), ("L", "CRRSP"): ("N", None), ("L", "VGPRRSP"): ("N", None),
        ("L", "DCR"): ("Y", "2020-01-30"),
        ("M", "CB"): ("Y", "2020-01-15"), ("M", "CRRSP"): ("Y", "2020-01-15"), ("M", "VGPRRSP"): ("Y", "2020-01-15"),
        ("M", "DCR"): ("Y", "2020-01-15"),
        ("N", "CB"): ("Y", "2020-01-15"), ("N", "CRRSP"): ("N", None), ("N", "VGPRRSP"): ("Y", "2020-01-15"),
        ("N", "DCR"): ("Y", "2020-01-15"),
    }
    with pytest.raises(ValueError, match="rate CB counts MR, SD only 42 days after the origin: give origin_date"):
        rate_events(CB_IMWG, "CB")


def test_sustained_rate_settings_are_checked():
    with pytest.raises(SpecError) as exc:
        load_response_criteria("IMWG2016", where="adam/adrs.yaml", overrides={"rates": {
            "CB": {"at_or_above": "PR", "sustained": {"values": ["SD"], "min_days": 42}},
            "CB2": {"at_or_above": "SD", "sustained": {"values": ["MR"], "min_days": -1}},
            "CB3": {"at_or_above": "SD", "sustained": [42]},
            "CB4": {"at_or_above": "SD", "min_days": 42}}})
    label = "imwg2016.yaml (with overrides from adam/adrs.yaml)"
    assert exc.value.problems == [
        f"{label}: rates.CB.sustained: values must be levels the rate counts (sCR, CR, VGPR, PR), not ['SD']",
        f"{label}: rates.CB2.sustained: min_days must be a whole number of days >= 0, not -1",
        f"{label}: rates.CB3.sustained: must be {{values: [levels of the rate], min_days: <whole number of days>}}",
        f"{label}: rates.CB4: unknown setting 'min_days' (expected at_or_above, description, sustained, values)",
    ]


def test_last_assessment_skips_or_includes_a_trailing_not_evaluable():
    """LSTA: the last evaluable assessment (default) or the last one whatever its value (admiralonco), from the
    collected (OVR) or confirmed (COVR) responses: A ends PR then NE."""
    ovr = _ovr([("A", "2020-02-01", "PR"), ("A", "2020-03-01", "PR"), ("A", "2020-04-01", "NE"),
                ("B", "2020-02-01", "NE")])
    ovr["RSSTRESC"] = ovr["AVALC"]  # the collected response, kept on the confirmed-response records
    covr = _covr(ovr).assign(PARAMCD="COVR")
    adsl = pd.DataFrame({"STUDYID": "S", "USUBJID": ["A", "B", "C"]})
    got = {}
    for name, source in (("OVR", ovr), ("COVR", covr)):
        for include in (False, True):
            events = last_assessment_events(IMWG, include_not_evaluable=include, response_var="RSSTRESC")
            out = derive_extreme_event(None, events=events, source_datasets={"ovr": source, "adsl": adsl},
                                       order=("ADT",), mode="last")
            got[name, include] = {r.USUBJID: (r.AVALC if isinstance(r.AVALC, str) else None,
                                              None if pd.isna(r.ADT) else str(r.ADT.date())) for r in out.itertuples()}
    assert got[("OVR", False)] == {"A": ("PR", "2020-03-01"), "B": (None, None), "C": (None, None)}
    assert got[("OVR", True)] == {"A": ("NE", "2020-04-01"), "B": ("NE", "2020-02-01"), "C": (None, None)}
    # the confirmed response carries the best so far over an NE assessment (running best): PR on 2020-04-01, an
    # assessment skipped by its collected response (NE), not by the confirmed one
    assert got[("COVR", False)] == got[("OVR", False)]
    assert got[("COVR", True)] == {"A": ("PR", "2020-04-01"), "B": ("NE", "2020-02-01"), "C": (None, None)}


def test_last_assessment_without_one_keeps_avalc_text():
    """A subject with no assessment gets a missing AVALC that is still text: appended to text records the column
    stays a string column (an object column made every later condition on ADRS.AVALC compare in Python)."""
    ovr = _ovr([("A", "2020-02-01", "PR"), ("A", "2020-03-01", "NE")]).astype({"AVALC": "str"})
    adsl = pd.DataFrame({"STUDYID": "S", "USUBJID": ["A", "C"]}, dtype="str")
    out = derive_extreme_event(ovr, events=last_assessment_events(IMWG, dataset_name="ovr", adsl_name="adsl"),
                               source_datasets={"ovr": ovr, "adsl": adsl}, order=("ADT",), mode="last",
                               set_values_to={"PARAMCD": "LSTA"})
    assert pd.api.types.is_string_dtype(out["AVALC"]) and out["AVALC"].dtype != object
    lsta = out[out["PARAMCD"] == "LSTA"].set_index("USUBJID")["AVALC"]
    assert lsta["A"] == "PR" and pd.isna(lsta["C"])
