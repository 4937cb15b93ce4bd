"""Verbs added for the third study: summaries over another dataset's records (derive_vars_merged_summary), customised
queries from term lists (derive_vars_query), computed defaults of cases, a missing year imputed for datetimes, the
ADSL subject filter and the exposure section's merges and dates.  Expected values are worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cdiscflow.adam.verbs.categories import apply_variable_rules, load_variable_rules
from cdiscflow.adam.verbs.dates import derive_vars_dtm
from cdiscflow.adam.verbs.merge import SummaryRule, derive_vars_merged_summary, load_summary_rules
from cdiscflow.adam.verbs.query import Query, TermGroup, derive_vars_query, load_queries
from cdiscflow.core.errors import InputError, SpecError

S = "ST"


def subjects(*ids: str) -> pd.DataFrame:
    return pd.DataFrame({"STUDYID": S, "USUBJID": list(ids)})


def doses() -> pd.DataFrame:
    return pd.DataFrame({
        "STUDYID": S, "USUBJID": ["1", "1", "1", "2", "2"],
        "EXTRT": ["A", "A", "B", "A", "A"],
        "EXDOSE": [54.0, 81.0, np.nan, 0.0, 0.0],
        "EXSTDT": pd.to_datetime(["2020-01-01", "2020-01-11", "2020-02-01", "2020-03-01", "2020-03-05"]),
        "EXENDT": pd.to_datetime(["2020-01-10", "2020-01-20", "2020-02-01", "2020-03-04", pd.NaT]),
    })


# ----------------------------------------------------------------------------------------------------------------
# derive_vars_merged_summary


def test_summary_functions_by_hand():
    out = derive_vars_merged_summary(
        subjects("1", "2", "3"), dataset_add=doses(),
        new_vars={"CUMDOSE": ("sum", "EXDOSE * ((EXENDT - EXSTDT) / days(1) + 1)"),
                  "MEANDOSE": ("mean", "EXDOSE"), "MAXDOSE": ("max", "EXDOSE"), "FIRSTDT": ("min", "EXSTDT"),
                  "NDOSE": ("count", "EXDOSE"), "NTRT": ("n_distinct", "EXTRT")})
    one, two, three = out.iloc[0], out.iloc[1], out.iloc[2]
    # subject 1: 54 mg x 10 days + 81 mg x 10 days; the dose of B is missing and does not count
    assert one["CUMDOSE"] == 1350 and one["MEANDOSE"] == 67.5 and one["MAXDOSE"] == 81
    assert one["FIRSTDT"] == pd.Timestamp("2020-01-01") and one["NDOSE"] == 2 and one["NTRT"] == 2
    # subject 2: 0 x 4 days; the open record gives no value, the sum keeps the known one
    assert two["CUMDOSE"] == 0 and two["NDOSE"] == 2 and two["NTRT"] == 1
    # subject 3 has no record: missing everywhere
    assert three[["CUMDOSE", "MEANDOSE", "NDOSE", "NTRT"]].isna().all()
    assert list(out["USUBJID"]) == ["1", "2", "3"]


def test_summary_filter_missing_values_and_all_missing_group():
    out = derive_vars_merged_summary(subjects("1", "2", "3"), dataset_add=doses(), filter_add="EXTRT == 'B'",
                                     new_vars={"BDOSE": ("sum", "EXDOSE"), "NB": ("count", "EXTRT")},
                                     missing_values={"NB": 0})
    assert np.isnan(out.loc[0, "BDOSE"])  # the only B record has no dose: a sum of nothing is missing
    assert list(out["NB"]) == [1, 0, 0]


def test_summary_checks_its_arguments():
    with pytest.raises(InputError, match="already has CUMDOSE"):
        derive_vars_merged_summary(subjects("1").assign(CUMDOSE=1.0), dataset_add=doses(),
                                   new_vars={"CUMDOSE": ("sum", "EXDOSE")})
    with pytest.raises(ValueError, match="function one of"):
        derive_vars_merged_summary(subjects("1"), dataset_add=doses(), new_vars={"X": ("median", "EXDOSE")})
    with pytest.raises(InputError, match="NOPE"):
        derive_vars_merged_summary(subjects("1"), dataset_add=doses(), new_vars={"X": ("sum", "NOPE")})


def test_summary_rule_borrows_variables_of_the_target():
    rule = load_summary_rules([{"dataset": "EX", "filter": "EXSTDT >= CUTDT", "new_vars": {"NLATE": {"count": "EXSTDT"}},
                                "missing_values": {"NLATE": 0}}], where="adsl.yaml: summaries")[0]
    assert isinstance(rule, SummaryRule) and rule.new_vars["NLATE"] == ("count", "EXSTDT")
    adsl = subjects("1", "2").assign(CUTDT=pd.to_datetime(["2020-01-11", "2020-03-02"]))
    out = rule.apply(adsl, doses(), dataset_name="ADSL")
    assert list(out["NLATE"]) == [2, 1]  # 1: Jan 11 and Feb 1; 2: Mar 5
    assert "CUTDT" not in doses().columns  # the source is not changed


def test_summary_rules_report_every_problem():
    with pytest.raises(SpecError) as err:
        load_summary_rules([{"dataset": "QS", "new_vars": {"TOT": {"median": "X"}, "N": {"count": "X +"}}},
                            {"new_vars": {"A": {"sum": "B"}}, "color": 1}], where="adsl.yaml: summaries")
    text = str(err.value)
    assert "summaries[1].TOT" in text and "summaries[1].N" in text
    assert "summaries[2]: unknown key(s) color" in text and "summaries[2]: dataset is missing" in text


# ----------------------------------------------------------------------------------------------------------------
# derive_vars_query


def events() -> pd.DataFrame:
    return pd.DataFrame({
        "USUBJID": ["1"] * 6,
        "AEDECOD": ["APPLICATION SITE ERYTHEMA", "PRURITUS", "ALOPECIA", "HEADACHE", None, "CONTACT DERMATITIS"],
        "AEBODSYS": ["GENERAL", "SKIN", "SKIN", "NERVOUS", "SKIN", "SKIN"],
    })


def test_query_contains_in_and_unless():
    query = Query("CQ01", "DERMATOLOGIC EVENTS", (
        TermGroup("AEDECOD", ("APPLICATION", "DERMATITIS"), match="contains"),
        TermGroup("AEBODSYS", ("SKIN",), unless="AEDECOD in ('ALOPECIA',)"),
    ))
    out = derive_vars_query(events(), queries=[query])
    # erythema by its text; pruritus by its SOC; alopecia excluded; headache not skin; a missing term still has its
    # SOC (and no term to exclude); dermatitis both ways
    assert list(out["CQ01NAM"].fillna("")) == ["DERMATOLOGIC EVENTS", "DERMATOLOGIC EVENTS", "", "",
                                               "DERMATOLOGIC EVENTS", "DERMATOLOGIC EVENTS"]


def test_query_exact_terms_and_two_queries():
    queries = [Query("CQ01", "SKIN", (TermGroup("AEBODSYS", ("SKIN",)),)),
               Query("SMQ02", "HAIR", (TermGroup("AEDECOD", ("ALOPECIA",)),))]
    out = derive_vars_query(events(), queries=queries)
    assert list(out["CQ01NAM"].notna()) == [False, True, True, False, True, True]
    assert list(out["SMQ02NAM"].fillna("")) == ["", "", "HAIR", "", "", ""]
    with pytest.raises(InputError, match="already exist"):
        derive_vars_query(out, queries=queries[:1])
    with pytest.raises(InputError, match="AETERM"):
        derive_vars_query(events(), queries=[Query("CQ03", "X", (TermGroup("AETERM", ("X",)),))])


def test_load_queries_from_yaml_shape():
    queries = load_queries({"CQ01": {"name": "DERMATOLOGIC EVENTS", "terms": [
        {"variable": "AEDECOD", "contains": ["APPLICATION"]},
        {"variable": "AEBODSYS", "in": "SKIN", "unless": "AEDECOD == 'ALOPECIA'"}]}}, where="adae.yaml: queries")
    assert queries[0].variable == "CQ01NAM"
    assert queries[0].terms[1] == TermGroup("AEBODSYS", ("SKIN",), "in", "AEDECOD == 'ALOPECIA'")
    with pytest.raises(SpecError) as err:
        load_queries({"CQ01": {"name": "X", "terms": [{"variable": "AEDECOD", "in": ["A"], "contains": ["B"]},
                                                        {"variable": "AEDECOD", "in": ["A"], "unless": "A ="}]},
                      "CQ0000001": {"name": "Y", "terms": [{"variable": "AEDECOD", "in": ["A"]}]}},
                     where="adae.yaml: queries")
    text = str(err.value)
    assert "queries.CQ01.terms[1]: give variable and exactly one of in / contains" in text
    assert "queries.CQ01.terms[2]" in text and "queries.CQ0000001: query prefix" in text


# ----------------------------------------------------------------------------------------------------------------
# cases with a computed default; a datetime whose year comes from a maximum date


def test_cases_default_expression():
    rules = load_variable_rules({"SITEGR1": {"cases": {"900": "SITEID in ('702', '706')"}, "default": {"expr": "SITEID"}}},
                                where="adsl.yaml: derive")
    out = apply_variable_rules(pd.DataFrame({"SITEID": ["701", "702", "706", None]}), rules)
    assert list(out["SITEGR1"].fillna("")) == ["701", "900", "900", ""]
    with pytest.raises(SpecError, match="computed default"):
        load_variable_rules({"X": {"cases": {"1": "A == 1"}, "default": {"value": 2}}}, where="d")


def test_datetime_missing_year_from_max_date():
    ex = pd.DataFrame({"USUBJID": ["1", "2", "3"], "EXENDTC": ["2014-01-15", None, None],
                       "EOSDT": pd.to_datetime(["2014-03-01", "2014-02-20", pd.NaT])})
    out = derive_vars_dtm(ex, new_vars_prefix="EXEN", dtc="EXENDTC", highest_imputation="Y", date_imputation="last",
                          time_imputation="last", max_dates=["EOSDT"])
    # a collected date keeps its day (23:59:59 imputed); an open record ends at the maximum date (its time capped
    # at that date's 00:00:00); without a maximum nothing is imputed
    assert out.loc[0, "EXENDTM"] == pd.Timestamp("2014-01-15 23:59:59") and out.loc[0, "EXENTMF"] == "H"
    assert out.loc[1, "EXENDTM"].floor("D") == pd.Timestamp("2014-02-20") and out.loc[1, "EXENDTF"] == "Y"
    assert pd.isna(out.loc[2, "EXENDTM"]) and pd.isna(out.loc[2, "EXENDTF"])
