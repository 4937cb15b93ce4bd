"""The generic pieces the ADaM recipes are built from, on small hand-made tables: rules and merges as data, date
rules, periods, disposition status, the protocol's treatment-emergent window, baseline parameters, and the final
conformance to the spec."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from cdiscflow.adam.recipes.adae import AdaeSpec, derive_var_treatment_emergent
from cdiscflow.adam.recipes.adbase import derive_adbase, load_adbase_spec
from cdiscflow.adam.recipes.adsl import Status, derive_var_disposition_status
from cdiscflow.adam.verbs.categories import apply_variable_rules, derive_vars_cat, load_variable_rules
from cdiscflow.adam.verbs.merge import load_merge_rules
from cdiscflow.adam.verbs.periods import Period, derive_vars_period_by_date
from cdiscflow.adam.verbs.sources import SourceData, apply_date_rules, load_date_rules
from cdiscflow.adam.study import conform_to_spec
from cdiscflow.core.errors import InputError, SpecError
from cdiscflow.specs.load import load_study

D = pd.Timestamp


def _fake_spec(section: str, data: dict):
    return SimpleNamespace(section=lambda name, default=None: data if name == section else default, path="fake")


# ----------------------------------------------------------------------------------------------------------------
# rules, merges, dates as data


def test_cases_first_true_condition_wins_and_missing_never_matches():
    frame = pd.DataFrame({"AGE": [64, 65, 75, np.nan]}, index=[4, 2, 9, 1])
    out = derive_vars_cat(frame, definition=[("AGE < 65", {"G": "<65", "N": 1}), ("AGE < 75", {"G": "65-<75", "N": 2}),
                                             ("AGE >= 0", {"G": ">=75", "N": 3})])
    assert out["G"].tolist()[:3] == ["<65", "65-<75", ">=75"] and pd.isna(out["G"].iloc[3])
    assert out["N"].tolist()[:3] == [1.0, 2.0, 3.0] and out.index.tolist() == [4, 2, 9, 1]
    rules = load_variable_rules({"FL": {"cases": {"Y": "AGE >= 65"}, "default": "N"}, "DBL": {"expr": "AGE * 2"},
                                 "U": "YEARS"}, where="adsl.yaml: derive")
    out = apply_variable_rules(frame, rules)
    assert out["FL"].tolist() == ["N", "Y", "Y", "N"] and out["DBL"].tolist()[:3] == [128.0, 130.0, 150.0]
    assert out["U"].tolist() == ["YEARS"] * 4
    with pytest.raises(SpecError) as err:
        load_variable_rules({"bad name": 1, "X": {"cases": {"Y": "AGE >"}}, "Z": {"when": 1}}, where="w")
    assert len(err.value.problems) == 3 and "w.X" in str(err.value)


def test_merge_rules_and_their_errors():
    (rule,) = load_merge_rules([{"dataset": "ds", "filter": "DSDECOD == 'RANDOMIZED'", "new_vars": {"RANDDT": "DSSTDT"},
                                 "exist_flag": "RANDFL", "false_value": "N"}], where="m")
    adsl = pd.DataFrame({"STUDYID": "S", "USUBJID": ["1", "2"]})
    ds = pd.DataFrame({"STUDYID": "S", "USUBJID": ["2", "2"], "DSDECOD": ["RANDOMIZED", "DEATH"],
                       "DSSTDT": [D("2020-01-02"), D("2020-05-01")]})
    out = rule.apply(adsl, ds)
    assert rule.dataset == "DS" and out["RANDFL"].tolist() == ["N", "Y"]
    assert pd.isna(out["RANDDT"].iloc[0]) and out["RANDDT"].iloc[1] == D("2020-01-02")
    # a filter may use variables of the dataset merged into (joined onto the source records first)
    (after,) = load_merge_rules([{"dataset": "DS", "filter": "DSSTDT > RANDDT", "new_vars": {"LATERDT": "DSSTDT"}}],
                                where="m")
    assert out.pipe(after.apply, ds)["LATERDT"].tolist()[1] == D("2020-05-01")
    with pytest.raises(SpecError) as err:
        load_merge_rules([{"new_vars": {"X": "Y"}}, {"dataset": "DS", "new_vars": {"X": "Y"}, "mode": "middle"}],
                         where="m")
    assert [p.split(":")[0] for p in err.value.problems] == ["m[1]", "m[2]"]


def test_date_rules_impute_within_the_allowed_range():
    rules = load_date_rules({"ASTDT": {"dtc": "AESTDTC", "highest_imputation": "M", "min_dates": ["TRTSDT"]},
                             "AENDT": {"dtc": "AEENDTC", "highest_imputation": "M", "date_imputation": "last",
                                       "max_dates": ["DTHDT"]}}, where="adae.yaml: dates")
    ae = pd.DataFrame({
        "AESTDTC": ["2020-03", "2020-02", "2020", "2020-03-05"],
        "AEENDTC": ["2020-03", "2020-03", None, "2020-04"],
        "TRTSDT": [D("2020-03-10"), D("2020-03-10"), D("2020-03-10"), D("2020-03-10")],
        "DTHDT": [D("2020-03-20"), pd.NaT, pd.NaT, D("2020-05-02")],
    })
    out = apply_date_rules(ae, rules)
    # March starts on the first dose day; February cannot; a year alone starts on the first dose day
    assert [str(d.date()) for d in out["ASTDT"]] == ["2020-03-10", "2020-02-01", "2020-03-10", "2020-03-05"]
    assert out["ASTDTF"].fillna("-").tolist() == ["D", "D", "M", "-"]
    # an end month is its last day unless the subject died earlier in it
    assert [None if pd.isna(d) else str(d.date()) for d in out["AENDT"]] == ["2020-03-20", "2020-03-31", None,
                                                                           "2020-04-30"]
    with pytest.raises(SpecError, match="ends in DT"):
        load_date_rules({"ASTART": {"dtc": "AESTDTC"}}, where="d")


def test_source_data_joins_qualifiers_and_adds_dates():
    ds = pd.DataFrame({"STUDYID": "S", "USUBJID": ["1", "1"], "DSSEQ": [1.0, 2.0],
                       "DSSTDTC": ["2020-01-02", "2020-02"]})
    supp = pd.DataFrame({"STUDYID": "S", "RDOMAIN": "DS", "USUBJID": ["1"], "IDVAR": ["DSSEQ"], "IDVARVAL": ["2"],
                         "QNAM": ["BPHASE"], "QLABEL": ["Phase"], "QVAL": ["2"]})
    sources = SourceData({"ds": ds, "SUPPDS": supp})
    got = sources["DS"]
    assert got["BPHASE"].tolist()[1] == "2" and pd.isna(got["BPHASE"].iloc[0])
    assert got["DSSTDT"].iloc[0] == D("2020-01-02") and pd.isna(got["DSSTDT"].iloc[1])  # partial: no date
    assert sources["DS"] is got and "DSSTDT" not in ds.columns
    with pytest.raises(InputError, match="need SDTM dataset EX"):
        sources["EX"]


# ----------------------------------------------------------------------------------------------------------------
# periods, disposition, treatment-emergent window


ADSL = pd.DataFrame({
    "STUDYID": "S", "USUBJID": ["1", "2"],
    "ENRLDT": [D("2020-01-01"), D("2020-01-01")],
    "AP01SDT": [D("2020-01-10"), D("2020-01-10")], "AP01EDT": [D("2020-03-01"), D("2020-06-01")],
    "AP02SDT": [D("2020-03-15"), pd.NaT], "AP02EDT": [D("2020-05-01"), pd.NaT],
    "TRT01A": ["DARA", "DARA"], "TRT02A": ["DARA+ATRA", None],
})
PERIODS = (Period(1, "PART A", "PART A TREATMENT"), Period(2, "PART B", "PART B TREATMENT"))


def test_period_by_date_with_the_first_period_opened_at_enrolment():
    events = pd.DataFrame({"STUDYID": "S", "USUBJID": ["1", "1", "1", "1", "2", "2"],
                           "ASTDT": [D("2019-12-31"), D("2020-01-05"), D("2020-03-14"), D("2020-03-15"),
                                     D("2020-12-01"), pd.NaT]})
    out = derive_vars_period_by_date(events, dataset_adsl=ADSL, periods=PERIODS, date="ASTDT", first_from="ENRLDT")
    assert out["APERIOD"].fillna(0).tolist() == [0, 1, 1, 2, 1, 0]
    assert out["APERIODC"].fillna("-").tolist() == ["-", "PART A", "PART A", "PART B", "PART A", "-"]
    assert out["TRTA"].fillna("-").tolist() == ["-", "DARA", "DARA", "DARA+ATRA", "DARA", "-"]
    assert out["APEREDT"].iloc[3] == D("2020-05-01")
    without = derive_vars_period_by_date(events, dataset_adsl=ADSL, periods=PERIODS, date="ASTDT")
    assert without["APERIOD"].fillna(0).tolist() == [0, 0, 1, 2, 1, 0]  # before the first dose: no period


def test_treatment_emergent_window_edges():
    # subject 1, Part A: enrolled 2020-01-01, last Part A dose 2020-03-01 (window ends 2020-03-31)
    ae = pd.DataFrame({
        "STUDYID": "S", "USUBJID": "1",
        "ASTDT": [D("2019-12-31"), D("2020-01-01"), D("2020-03-31"), D("2020-04-01"), D("2020-02-01"),
                  D("2020-02-01"), pd.NaT],
        "AENDT": pd.NaT, "ENRLDT": D("2020-01-01"), "APEREDT": D("2020-03-01"),
        "ATOXGRN": [2, 2, 3, 2, 1, 1, 2], "AEDECOD": ["X", "X", "X", "X", "X", "Infusion related reaction", "X"],
    })
    cfg = AdaeSpec(te_start="ENRLDT", te_end="APEREDT", te_window=30,
                   te_filter="ATOXGRN >= 2 or AEDECOD == 'Infusion related reaction'")
    out = derive_var_treatment_emergent(ae, cfg)
    # before inclusion no; on inclusion yes; last dose + 30 yes; + 31 no; grade 1 no unless an infusion reaction;
    # an unknown start counts (the conservative choice)
    assert out["TRTEMFL"].fillna("-").tolist() == ["-", "Y", "Y", "-", "-", "Y", "Y"]


def test_disposition_status():
    adsl = pd.DataFrame({"STUDYID": "S", "USUBJID": ["1", "2", "3"],
                         "AP02SDT": [D("2020-01-01"), D("2020-01-01"), pd.NaT]})
    ds = pd.DataFrame({"STUDYID": "S", "USUBJID": ["1", "2"], "DSSEQ": [1.0, 1.0],
                       "DSSCAT": ["PART B TREATMENT"] * 2, "DSDECOD": ["PROGRESSIVE DISEASE", "COMPLETED"],
                       "DSSTDT": [D("2020-03-01"), D("2020-06-01")]})
    status = Status("EOT02STT", "DSSCAT == 'PART B TREATMENT'", reason="DCT02RS", date="EOT02DT",
                    population="notna(AP02SDT)")
    out = derive_var_disposition_status(adsl, dataset_ds=ds, status=status)
    assert out["EOT02STT"].fillna("-").tolist() == ["DISCONTINUED", "COMPLETED", "-"]
    assert out["DCT02RS"].fillna("-").tolist() == ["PROGRESSIVE DISEASE", "-", "-"]
    assert out["EOT02DT"].iloc[0] == D("2020-03-01")
    no_ds = derive_var_disposition_status(adsl, dataset_ds=ds.iloc[:0], status=status)
    assert no_ds["EOT02STT"].fillna("-").tolist() == ["ONGOING", "ONGOING", "-"]


def test_duration_rules_add_one_day_only_to_a_duration_that_is_not_negative():
    """admiral's derive_vars_duration: TRTDURD/DTHADY count the first day (add_one), LDDTHELD does not; a negative
    duration (death before the first dose) gets no extra day."""
    adsl = pd.DataFrame({"TRTSDT": [D("2020-01-01"), D("2020-01-10"), D("2020-01-01")],
                         "TRTEDT": [D("2020-01-01"), D("2020-03-01"), pd.NaT],
                         "DTHDT": [D("2020-01-03"), D("2020-01-05"), D("2021-01-01")]})
    rules = load_variable_rules({
        "TRTDURD": {"duration": {"start": "TRTSDT", "end": "TRTEDT"}},
        "DTHADY": {"duration": {"start": "TRTSDT", "end": "DTHDT"}},
        "LDDTHELD": {"duration": {"start": "TRTEDT", "end": "DTHDT", "add_one": False}},
        "DTHADW": {"duration": {"start": "TRTSDT", "end": "DTHDT", "unit": "weeks", "add_one": False}},
    }, where="adsl.yaml: derive")
    out = apply_variable_rules(adsl, rules)
    assert out["TRTDURD"].fillna(-99).tolist() == [1.0, 52.0, -99]
    assert out["DTHADY"].tolist() == [3.0, -5.0, 367.0]
    assert out["LDDTHELD"].fillna(-99).tolist() == [2.0, -56.0, -99]
    assert out["DTHADW"].round(4).tolist() == [round(2 / 7, 4), round(-5 / 7, 4), round(366 / 7, 4)]
    with pytest.raises(SpecError) as err:
        load_variable_rules({"A": {"duration": {"start": "TRTSDT"}}, "B": {"duration": {"start": "X", "end": "y y"}},
                             "C": {"duration": {"start": "X", "end": "Y", "unit": "fortnights"}},
                             "E": {"duration": {"start": "X", "end": "Y", "add_one": "yes"}}}, where="d")
    assert [p.split(":")[0] for p in err.value.problems] == ["d.A", "d.B", "d.C", "d.E"]
    assert "unit must be one of days, weeks, months, years" in err.value.problems[2]


def test_extreme_event_rules_take_the_first_event_with_a_record():
    """admiral's cause of death as data: a fatal AE, else a DS death; the subject without either gets nothing."""
    from cdiscflow.adam.verbs.extreme import load_extreme_event_rules

    (rule,) = load_extreme_event_rules([{
        "new_vars": ["DTHCAUS", "DTHDOM"], "order": ["SEQ"],
        "events": [
            {"dataset": "ae", "condition": "AEOUT == 'FATAL'", "set_values_to": {"DTHCAUS": {"expr": "AEDECOD"},
                                                                                 "DTHDOM": "AE"}},
            {"dataset": "DS", "condition": "DSDECOD == 'DEATH'", "set_values_to": {"DTHCAUS": {"expr": "DSTERM"},
                                                                                   "DTHDOM": "DS"}}]}],
        where="adsl.yaml: extreme_events")
    adsl = pd.DataFrame({"STUDYID": "S", "USUBJID": ["1", "2", "3"]})
    ae = pd.DataFrame({"STUDYID": "S", "USUBJID": ["1", "1", "2"], "SEQ": [2.0, 1.0, 1.0],
                       "AEOUT": ["FATAL", "FATAL", "RECOVERED"], "AEDECOD": ["SEPSIS", "PNEUMONIA", "RASH"]})
    ds = pd.DataFrame({"STUDYID": "S", "USUBJID": ["1", "2"], "SEQ": [1.0, 1.0], "DSDECOD": ["DEATH", "DEATH"],
                       "DSTERM": ["DEATH DUE TO SEPSIS", "DEATH DUE TO FALL"]})
    out = rule.apply(adsl, {"AE": ae, "DS": ds}.__getitem__, dataset_name="ADSL")
    assert out["DTHCAUS"].fillna("-").tolist() == ["PNEUMONIA", "DEATH DUE TO FALL", "-"]  # AE wins; lowest SEQ
    assert out["DTHDOM"].fillna("-").tolist() == ["AE", "DS", "-"]
    with pytest.raises(SpecError) as err:
        load_extreme_event_rules([{"new_vars": [], "events": [{"dataset": "AE", "condition": "AEOUT =="}]},
                                  {"new_vars": ["X"], "mode": "middle", "events": [{"condition": "A == 1"}]},
                                  {"new_vars": ["X"], "events": [{"dataset": "AE", "set_values_to": {"X": [1]}}],
                                   "sort": ["A"]}], where="e")
    assert [p.split(":")[0] for p in err.value.problems] == [
        "e[1]", "e[1].events[1].condition", "e[2]", "e[2].events[1]", "e[3]", "e[3].events[1].set_values_to.X"]


def test_last_assessment_conventions_are_checked():
    from cdiscflow.adam.recipes.adrs import load_adrs_spec

    base = {"response_criteria": {"id": "IMWG2016"}, "source": {"dataset": "RS", "value": "RSSTRESC"},
            "parameters": {"OVR": "Overall", "LSTA": "Last"}}
    assert (load_adrs_spec(_fake_spec("adam/adrs", base)).lsta_parameter,
            load_adrs_spec(_fake_spec("adam/adrs", base)).lsta_not_evaluable) == ("OVR", "skip")  # the defaults
    with pytest.raises(SpecError) as err:
        load_adrs_spec(_fake_spec("adam/adrs", {**base, "last_assessment": {"parameter": "COVR",
                                                                            "not_evaluable": "keep", "ne": 1}}))
    assert err.value.problems == [
        "adam/adrs.yaml: last_assessment: unknown key 'ne' (expected parameter, not_evaluable)",
        "adam/adrs.yaml: last_assessment.not_evaluable: must be one of skip, include, not 'keep'",
        "adam/adrs.yaml: last_assessment.parameter COVR takes LSTA from the confirmed responses; add COVR to "
        "parameters",
    ]


# ----------------------------------------------------------------------------------------------------------------
# baseline parameters


def test_baseline_parameters_per_time_point():
    adsl = pd.DataFrame({"STUDYID": "S", "USUBJID": ["1", "2"], "ENRLDT": [D("2020-01-10"), D("2020-02-01")],
                         "PARTBDT": [D("2021-01-10"), pd.NaT], "ENTRREAS": ["PD", None]})
    dm = pd.DataFrame({"STUDYID": "S", "USUBJID": ["1", "2"], "BRTHDTC": ["1950-01-10", "1960-06-30"]})
    rs = pd.DataFrame({"STUDYID": "S", "USUBJID": ["1", "1", "2"], "RSSEQ": [1.0, 2.0, 1.0],
                       "RSTESTCD": "WHOPS01", "VISITNUM": [100.0, 200.0, 100.0], "RSSTRESC": ["1", "0", None],
                       "RSSTRESN": [1.0, 0.0, np.nan]})
    cm = pd.DataFrame({"STUDYID": "S", "USUBJID": ["1"], "CMDECOD": ["LENALIDOMIDE"], "REFRACT": ["Y"]})
    section = {
        "timepoints": [{"avisit": "A", "avisitn": 100, "date": "ENRLDT"},
                       {"avisit": "B", "avisitn": 200, "date": "PARTBDT"}],
        "parameters": {
            "AGE": {"param": "Age", "from": {"dataset": "DM", "aval": {"expr": "completed_years(BRTHDT, ADT)"}}},
            "OLD": {"param": "Age >= 60", "cases": {"Y": "AGE >= 60", "N": "AGE < 60"}},
            "WHOPS": {"param": "WHO", "from": {"dataset": "RS", "aval": "RSSTRESN", "avalc": "RSSTRESC",
                                               "filter": "RSTESTCD == 'WHOPS01' and VISITNUM == AVISITN"}},
            "LENREF": {"param": "Len refractory", "keep": False,
                       "exists": {"dataset": "CM", "filter": "CMDECOD == 'LENALIDOMIDE' and REFRACT == 'Y'"}},
            "REFR": {"param": "Refractory", "cases": {"Y": "LENREF == 'Y' or (AVISITN == 200 and notna(ENTRREAS))"},
                     "default": "N"},
        },
    }
    cfg = load_adbase_spec(_fake_spec("adam/adbase", section))
    out = derive_adbase(None, SourceData({"DM": dm, "RS": rs, "CM": cm}), adsl, settings=cfg)
    got = {(r.USUBJID, r.AVISIT, r.PARAMCD): (r.AVAL if pd.notna(r.AVAL) else r.AVALC if pd.notna(r.AVALC) else "-")
           for r in out.itertuples(index=False)}
    assert got == {
        ("1", "A", "AGE"): 70.0, ("1", "A", "OLD"): "Y", ("1", "A", "WHOPS"): 1.0, ("1", "A", "REFR"): "Y",
        ("1", "B", "AGE"): 71.0, ("1", "B", "OLD"): "Y", ("1", "B", "WHOPS"): 0.0, ("1", "B", "REFR"): "Y",
        ("2", "A", "AGE"): 59.0, ("2", "A", "OLD"): "N", ("2", "A", "WHOPS"): "-", ("2", "A", "REFR"): "N",
    }
    who = out[(out["PARAMCD"] == "WHOPS") & (out["USUBJID"] == "1") & (out["AVISIT"] == "B")].iloc[0]
    assert (who["SRCDOM"], who["SRCVAR"], who["SRCSEQ"], who["ADT"]) == ("RS", "RSSTRESC", 2.0, D("2021-01-10"))
    assert out.groupby("USUBJID")["ASEQ"].max().to_dict() == {"1": 8.0, "2": 4.0}
    # two qualifying records for one subject and time point are an error, not a silent pick
    twice = pd.concat([rs, rs.iloc[:1]], ignore_index=True)
    with pytest.raises(InputError, match="more than one record"):
        derive_adbase(None, SourceData({"DM": dm, "RS": twice, "CM": cm}), adsl, settings=cfg)
    # a subject twice in ADSL would put two rows of the grid on one subject and time point
    with pytest.raises(InputError, match="more than one time point row for a subject and AVISITN"):
        derive_adbase(None, SourceData({"DM": dm, "RS": rs, "CM": cm}), pd.concat([adsl, adsl.iloc[:1]]),
                      settings=cfg)
    with pytest.raises(SpecError, match="exactly one of from, exists, cases, expr"):
        load_adbase_spec(_fake_spec("adam/adbase", {**section, "parameters": {"X": {"param": "x"}}}))


def test_baseline_exists_parameters_with_and_without_a_time_point_filter():
    """`exists` is Y at a subject's time point when any source has a qualifying record there: a filter that does
    not read the time point qualifies the subject at every time point, one on ADT only at the time points after the
    record; two sources are or-ed (checked by hand from the records below)."""
    adsl = pd.DataFrame({"STUDYID": "S", "USUBJID": ["1", "2"], "ENRLDT": [D("2020-01-10"), D("2020-02-01")],
                         "PARTBDT": [D("2021-01-10"), pd.NaT]})
    cm = pd.DataFrame({"STUDYID": "S", "USUBJID": ["1", "2"], "CMSEQ": [1.0, 1.0],
                       "CMDECOD": ["LENALIDOMIDE", "DEXAMETHASONE"]})
    ae = pd.DataFrame({"STUDYID": "S", "USUBJID": ["1", "2"], "AESEQ": [1.0, 1.0],
                       "AESTDTC": ["2020-06-01", "2020-01-15"]})
    section = {
        "timepoints": [{"avisit": "A", "avisitn": 100, "date": "ENRLDT"},
                       {"avisit": "B", "avisitn": 200, "date": "PARTBDT"}],
        "parameters": {
            "LEN": {"param": "Lenalidomide", "exists": {"dataset": "CM", "filter": "CMDECOD == 'LENALIDOMIDE'"}},
            "AEBEF": {"param": "AE before", "exists": {"dataset": "AE", "filter": "AESTDT < ADT"}},
            "EITHER": {"param": "Either", "exists": [{"dataset": "CM", "filter": "CMDECOD == 'LENALIDOMIDE'"},
                                                     {"dataset": "AE", "filter": "AESTDT < ADT"}]},
        },
    }
    cfg = load_adbase_spec(_fake_spec("adam/adbase", section))
    out = derive_adbase(None, SourceData({"CM": cm, "AE": ae}), adsl, settings=cfg)
    got = {(r.USUBJID, r.AVISIT, r.PARAMCD): r.AVALC for r in out.itertuples(index=False)}
    assert got == {
        ("1", "A", "LEN"): "Y", ("1", "A", "AEBEF"): "N", ("1", "A", "EITHER"): "Y",
        ("1", "B", "LEN"): "Y", ("1", "B", "AEBEF"): "Y", ("1", "B", "EITHER"): "Y",
        ("2", "A", "LEN"): "N", ("2", "A", "AEBEF"): "Y", ("2", "A", "EITHER"): "Y",
    }



def test_baseline_exists_by_pandas_merge_evaluates_a_shared_condition_once(monkeypatch):
    """When the keys need pandas' merge (dtypes it cannot index), an `exists` source's records come from the joined
    records: the same Y/N, and a condition two parameters share is evaluated once for both (it was evaluated
    again for the join, and then again for the second parameter)."""
    from cdiscflow.adam.recipes import adbase

    adsl = pd.DataFrame({"STUDYID": "S", "USUBJID": ["1", "2"], "ENRLDT": [D("2020-01-10"), D("2020-02-01")],
                         "PARTBDT": [D("2021-01-10"), pd.NaT]})
    cm = pd.DataFrame({"STUDYID": "S", "USUBJID": ["1", "2", "2"], "CMSEQ": [1.0, 1.0, 2.0],
                       "CMDECOD": ["LENALIDOMIDE", "DEXAMETHASONE", None]})
    ae = pd.DataFrame({"STUDYID": "S", "USUBJID": ["1", "2"], "AESEQ": [1.0, 1.0],
                       "AESTDTC": ["2020-06-01", "2020-01-15"]})
    lenalidomide = {"dataset": "CM", "filter": "CMDECOD == 'LENALIDOMIDE'"}
    section = {
        "timepoints": [{"avisit": "A", "avisitn": 100, "date": "ENRLDT"},
                       {"avisit": "B", "avisitn": 200, "date": "PARTBDT"}],
        "parameters": {"LEN": {"param": "Lenalidomide", "exists": lenalidomide},
                       "EITHER": {"param": "Either", "exists": [lenalidomide,
                                                                {"dataset": "AE", "filter": "AESTDT < ADT"}]}},
    }
    cfg = load_adbase_spec(_fake_spec("adam/adbase", section))
    indexed = derive_adbase(None, SourceData({"CM": cm, "AE": ae}), adsl, settings=cfg)
    evaluated = []

    def counted(condition, data, **kwargs):
        evaluated.append(str(condition))
        return evaluate(condition, data, **kwargs)

    evaluate = adbase.evaluate_condition
    monkeypatch.setattr(adbase, "evaluate_condition", counted)
    monkeypatch.setattr(adbase, "inner_join_positions", lambda *args: None)
    merged = derive_adbase(None, SourceData({"CM": cm, "AE": ae}), adsl, settings=cfg)
    pd.testing.assert_frame_equal(merged, indexed)
    assert merged["AVALC"].tolist() == ["Y", "Y", "Y", "Y", "N", "Y"]  # subject 1 at A and B, subject 2 at A
    assert evaluated.count("CMDECOD == 'LENALIDOMIDE'") == 1


# ----------------------------------------------------------------------------------------------------------------
# the spec's variables


def test_conform_to_spec_types_order_and_missing_variables():
    spec = load_study("dara_atra")
    adtte_spec = spec.dataset("ADTTE")
    adsl = pd.DataFrame({"STUDYID": "S", "USUBJID": ["1"], "SUBJID": ["1"], "PARTBFL": ["Y"], "RP2DFL": ["Y"],
                         "BPHASE": ["2"], "TRT02A": ["T"], "BORAGR1": [">=PR"], "BORAGR1N": [1.0]})
    work = pd.DataFrame({"USUBJID": ["1"], "STUDYID": "S", "PARAMCD": ["OSB"], "PARAM": ["OS"], "PARAMN": [2],
                         "STARTDT": [D("2020-01-01 10:00")], "ADT": [D("2020-02-01")], "ADTF": [None],
                         "AVAL": [32], "CNSR": [0], "EVNTDESC": ["Death"], "CNSDTDSC": [None],
                         "SRCDOM": ["ADSL"], "SRCVAR": ["DTHDT"], "SRCSEQ": [np.nan], "EXTRA": [1]})
    out = conform_to_spec(work, adtte_spec, adsl=adsl)
    assert list(out.columns) == list(adtte_spec.names)
    assert out["BPHASE"].dtype == "float64" and out["BPHASE"].iloc[0] == 2.0  # text qualifier -> number
    assert out["STARTDT"].iloc[0] == D("2020-01-01")  # DATE9.: the day
    assert out["CNSR"].dtype == "float64" and pd.isna(out["ADTF"].iloc[0])
    with pytest.raises(SpecError, match="ADTTE: variables.csv declares .*EVNTDESC"):
        conform_to_spec(work.drop(columns="EVNTDESC"), adtte_spec, adsl=adsl)
    with pytest.raises(InputError, match="BPHASE: 1 value"):
        conform_to_spec(work, adtte_spec, adsl=adsl.assign(BPHASE=["two"]))


def test_conform_to_spec_compact_text_is_compact_of_the_plain_result():
    """compact_text builds the categoricals from each text column's distinct values (blank ones become missing):
    the same frame, categories, codes and dtypes as core.frames.compact of the plain result."""
    from cdiscflow.core.frames import compact

    spec = load_study("dara_atra")
    adtte_spec = spec.dataset("ADTTE")
    n = 8
    adsl = pd.DataFrame({"STUDYID": "S", "USUBJID": [str(i) for i in range(n)], "SUBJID": [str(i) for i in range(n)],
                         "PARTBFL": "Y", "RP2DFL": ["Y", " ", "N", "Y", "", "Y", "N", "Y"], "BPHASE": "2",
                         "TRT02A": "T", "BORAGR1": ">=PR", "BORAGR1N": 1.0}).astype({"RP2DFL": "str"})
    work = pd.DataFrame({"USUBJID": [str(i) for i in range(n)], "STUDYID": "S",
                         "PARAMCD": ["OSB", "PFSB"] * 4, "PARAM": ["OS", "PFS"] * 4, "PARAMN": 2,
                         "STARTDT": D("2020-01-01"), "ADT": D("2020-02-01"), "ADTF": [None, "D"] * 4, "AVAL": 32,
                         "CNSR": 0, "EVNTDESC": ["Death", "\u3000", "Zeta", "alpha", "Death", None, "é", "Death"],
                         "CNSDTDSC": None, "SRCDOM": "ADSL", "SRCVAR": "DTHDT", "SRCSEQ": np.nan})
    work = work.astype({c: "str" for c in ("USUBJID", "STUDYID", "PARAMCD", "PARAM", "ADTF", "EVNTDESC", "SRCDOM",
                                             "SRCVAR")})
    plain = conform_to_spec(work, adtte_spec, adsl=adsl)
    compacted = conform_to_spec(work, adtte_spec, adsl=adsl, compact_text=True)
    pd.testing.assert_frame_equal(compacted, compact(plain.copy()))
    assert isinstance(compacted["EVNTDESC"].dtype, pd.CategoricalDtype)
    assert list(compacted["EVNTDESC"].cat.categories) == ["Death", "Zeta", "alpha", "é"]  # blank: missing
    assert compacted["EVNTDESC"].isna().tolist() == [False, True, False, False, False, True, False, False]
    assert compacted["USUBJID"].dtype == "str"  # one value per record: stays plain text


@pytest.mark.slow
def test_study_spec_problems_are_reported_with_their_place(study_copy):
    from cdiscflow.adam.recipes.adrs import load_adrs_spec
    from cdiscflow.adam.recipes.adsl import load_adsl_spec
    from cdiscflow.adam.study import derive_study

    adrs = study_copy / "adam" / "adrs.yaml"
    adrs.write_text(adrs.read_text().replace("  COVR: Confirmed Overall Response by Investigator\n", "")
                    .replace("  OVR:", "  BESTRESP: Best\n  OVR:"))
    with pytest.raises(SpecError) as err:
        load_adrs_spec(load_study(study_copy))
    assert any("BESTRESP is neither one of OVR" in p for p in err.value.problems)
    assert any("CBOR, RSP, CBR, DCR, PD are derived from the confirmed responses; add COVR" in p
               for p in err.value.problems)
    adsl = study_copy / "adam" / "adsl.yaml"
    adsl.write_text(adsl.read_text().replace("last_alive:", "lastalive:").replace("AGE < 65,", "AGE << 65,", 1))
    with pytest.raises(SpecError) as err:
        load_adsl_spec(load_study(study_copy))
    assert any("unknown section 'lastalive'" in p for p in err.value.problems)
    assert any("derive.AGEGR1" in p for p in err.value.problems)
    datasets = study_copy / "datasets.csv"
    datasets.write_text("\n".join(l for l in datasets.read_text().splitlines() if not l.startswith("ADaM,")) + "\n")
    variables = study_copy / "variables.csv"
    variables.write_text("\n".join(l for l in variables.read_text().splitlines() if not l.startswith("AD")) + "\n")
    valuelevel = study_copy / "valuelevel.csv"
    valuelevel.write_text("\n".join(l for l in valuelevel.read_text().splitlines() if not l.startswith("AD")) + "\n")
    assert derive_study(load_study(study_copy), {}).datasets == {}  # an SDTM-only study: nothing to derive
    from cdiscflow.usecases import derive_adam_folder
    with pytest.raises(SpecError, match="unknown key 'lastalive'"):  # derive_adam_folder checks the whole spec first
        derive_adam_folder(study_copy, study_copy, study_copy / "out")
    adsl.write_text(adsl.read_text().replace("lastalive:", "last_alive:").replace("AGE << 65,", "AGE < 65,", 1))
    (study_copy / "report.yaml").unlink()  # its tables read ADaM datasets the study no longer declares
    with pytest.raises(SpecError, match="declares no ADaM dataset"):
        derive_adam_folder(study_copy, study_copy, study_copy / "out")


def test_adrs_paramn_follows_the_spec_parameter_order():
    from cdiscflow.adam.recipes.adrs import derive_var_paramn

    adrs = pd.DataFrame({"PARAMCD": ["OVR", "BOR", "OVR", "CBOR"]})
    params = {"BOR": "Best overall response", "CBOR": "Confirmed best overall response", "OVR": "Overall response"}
    assert list(derive_var_paramn(adrs, params)["PARAMN"]) == [3.0, 1.0, 3.0, 2.0]
    with pytest.raises(InputError, match=r"ADRS has records of parameters the spec does not list: \['XYZ'\]"):
        derive_var_paramn(pd.DataFrame({"PARAMCD": ["BOR", "XYZ"]}), params)
