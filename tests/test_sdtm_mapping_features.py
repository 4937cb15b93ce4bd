"""General mapping features, each on its own: typed raw tables read as text, date formats and alternatives, value
extraction and case in assign rules, unit conversion, and the spec checks that guard them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cdiscflow.core.errors import SpecError
from cdiscflow.sdtm.mapping.algorithms import Target, assign, derive_number, plain_number_text, round_half_away
from cdiscflow.sdtm.raw.dates import parse_date
from cdiscflow.sdtm.mapping.engine import check_sdtm_spec
from cdiscflow.sdtm.raw.files import as_csv_text
from cdiscflow.sdtm.raw.forms import RawForm
from cdiscflow.specs.load import load_study
from cdiscflow.specs.model import Form, FormField, Rule, Variable


def _raw(**columns) -> RawForm:
    data = pd.DataFrame({k: pd.Series(v, dtype=str) for k, v in columns.items()})
    data.index = pd.RangeIndex(1, len(data) + 1)
    form = Form("f", "f.csv", "F", (), tuple(FormField(k, k, "text") for k in columns))
    return RawForm(form, None, data)


def _target(datatype="text", name="X") -> Target:
    return Target("XX", name, Variable("XX", name, name, datatype, 1), None, None)


# -- raw tables -------------------------------------------------------------------------------------------------


def test_typed_columns_read_as_the_text_a_csv_holds():
    frame = pd.DataFrame({"AGE": [63.0, np.nan, 70.5], "CODE": pd.array([10003058, None, 7], dtype="Int64"),
                          "FLAG": [True, False, True], "TEXT": ["a", None, "b"]})
    text = as_csv_text(frame)
    assert text["AGE"].tolist()[0::2] == ["63", "70.5"] and pd.isna(text["AGE"].iloc[1])
    assert text["CODE"].tolist()[0::2] == ["10003058", "7"] and pd.isna(text["CODE"].iloc[1])
    assert text["FLAG"].tolist() == ["true", "false", "true"]
    assert all(str(t) == "str" for t in text.dtypes)


# -- dates ------------------------------------------------------------------------------------------------------


def test_us_dates_with_hyphens_and_year_only():
    c = parse_date(pd.Series(["07-05-2016", "UN-05-2016", "2016-07-05", "02-30-2016"]), "MM-DD-YYYY")
    assert c.iso.tolist()[:2] == ["2016-07-05", "2016---05"]
    assert c.problem.tolist()[2:] == ["does not follow the date format MM-DD-YYYY", "is not a calendar date"]
    c = parse_date(pd.Series(["2003", "03"]), "YYYY")
    assert c.iso.tolist()[0] == "2003" and c.problem.tolist()[1] == "does not follow the date format YYYY"


def test_alternative_formats_take_the_first_that_fits():
    c = parse_date(pd.Series(["01/03/2014", "2003", None, "2003-01", "02/30/2016"]), "MM/DD/YYYY|YYYY")
    assert c.iso.tolist()[:2] == ["2014-01-03", "2003"]
    assert pd.isna(c.iso.iloc[2]) and pd.isna(c.problem.iloc[2])  # blank: missing, no problem
    # a value of neither shape is reported against both; one of the right shape but impossible, as such
    assert c.problem.tolist()[3:] == ["does not follow any of the date formats MM/DD/YYYY, YYYY",
                                      "is not a calendar date"]


@pytest.mark.slow
def test_unknown_raw_formats_stop_before_any_file_is_read(study_copy):
    forms = study_copy / "forms.yaml"
    text = forms.read_text(encoding="utf-8")
    old = "type: date, format: DD-MON-YYYY, required: true}"
    line = next(x for x in text.splitlines() if "name: ICDAT" in x)
    text = text.replace(line, line.replace(old, "type: date, format: [DD-MON-YYYY, DD.MM.YY], required: true}"))
    forms.write_text(text, encoding="utf-8")
    assert load_study(study_copy).forms["enrol"].field("ICDAT").format == "DD-MON-YYYY|DD.MM.YY"
    with pytest.raises(SpecError) as exc:
        check_sdtm_spec(load_study(study_copy))
    assert "forms.yaml form enrol field ICDAT: unknown date format(s) DD.MM.YY" in str(exc.value)


# -- assign: pattern and case -----------------------------------------------------------------------------------


def test_assign_keeps_the_part_a_pattern_names_and_changes_case():
    raw = _raw(PATNUM=["701-1015", "7011016", None], TERM=["Headache", "Nausea", None])
    w = assign(raw, Rule("assign", {"assign": "PATNUM", "pattern": r"^(?P<value>\d+)-\d+$"}), _target(name="SITEID"))
    assert w.values.tolist()[0] == "701" and pd.isna(w.values.iloc[1]) and pd.isna(w.values.iloc[2])
    # the value that does not match is a problem on its raw row, a blank one is not
    assert w.problems.index.tolist() == [2] and w.problems["rule_id"].tolist() == ["MAP-PATTERN"]
    assert w.problems["value"].tolist() == ["7011016"]
    up = assign(raw, Rule("assign", {"assign": "TERM", "case": "upper"}), _target(name="AETERM"))
    assert up.values.tolist()[:2] == ["HEADACHE", "NAUSEA"] and up.problems is None
    num = assign(raw, Rule("assign", {"assign": "PATNUM", "pattern": r"^\d+-(?P<value>\d+)$"}),
                 _target("integer", "SUBJN"))
    assert num.values.tolist()[0] == 1015.0  # a numeric target gets the number


@pytest.mark.parametrize("rule, message", [
    ('{assign: SUBJID, pattern: "(\\\\d+)"}', "needs a named group (?P<value>...)"),
    ('{assign: SUBJID, pattern: "(?P<value>\\\\d+)-(\\\\d+)"}', "write groups you do not keep as (?:...)"),
    ('{assign: SUBJID, pattern: "(?P<value>[0-9"}', "is not a regular expression"),
    ("{assign: SUBJID, case: title}", "case must be upper or lower"),
    ("{ct: SEX, case: upper}", "'case' belongs to an assign rule"),
])
@pytest.mark.slow
def test_spec_checks_patterns_and_case(study_copy, rule, message):
    dm = study_copy / "sdtm" / "dm.yaml"
    var = "SEX" if rule.startswith("{ct") else "SUBJID"
    text = dm.read_text(encoding="utf-8")
    old = "      SEX: {ct: SEX}\n" if var == "SEX" else "      SUBJID: SUBJID\n"
    assert old in text
    dm.write_text(text.replace(old, f"      {var}: {rule}\n"), encoding="utf-8")
    with pytest.raises(SpecError) as exc:
        load_study(study_copy)
    assert f"sdtm/dm.yaml block 1 DM.{var}" in str(exc.value) and message in str(exc.value)


def test_dataset_level_when_names_variables_of_the_dataset(study_copy):
    dm = study_copy / "sdtm" / "dm.yaml"
    text = dm.read_text(encoding="utf-8")
    old = "  AGE: {derive: age, birth: BRTHDTC, reference: RFICDTC}\n"
    assert old in text
    dm.write_text(text.replace(old, "  AGE: {derive: age, birth: BRTHDTC, reference: RFICDTC, "
                                    "when: {BIRTHDAT: {present: true}}}\n"), encoding="utf-8")
    with pytest.raises(SpecError) as exc:
        load_study(study_copy)
    assert "derive DM.AGE: when names BIRTHDAT, which is not a variable of DM" in str(exc.value)


# -- numbers and unit conversion --------------------------------------------------------------------------------


def test_rounding_is_half_away_from_zero_despite_binary_noise():
    got = round_half_away(pd.Series([2.675, -2.675, 0.125, 1.005, np.nan]), 2)
    assert got.tolist()[:4] == [2.68, -2.68, 0.13, 1.01] and np.isnan(got.iloc[4])
    assert np.round(0.125, 2) == 0.12 and round(2.675, 2) == 2.67  # numpy (half to even) and Python would not


def test_numbers_written_plainly():
    assert plain_number_text(pd.Series([37.0, 36.5, 147.32, 70.0, np.nan])).tolist()[:4] == ["37", "36.5", "147.32",
                                                                                            "70"]


def test_number_converts_units_for_text_and_numeric_targets():
    raw = _raw(TEMP=["096.9", "98.6", "abc", None], WT=["119.0", "146", None, None])
    celsius = Rule("derive", {"derive": "number", "field": "TEMP", "add": -32, "multiply": 5, "divide": 9,
                              "digits": 2})
    text = derive_number(raw, celsius, _target("text", "VSSTRESC")).values
    assert text.tolist()[:2] == ["36.06", "37"] and text.iloc[2:].isna().all()  # (96.9-32)*5/9 = 36.0555..
    kg = derive_number(raw, Rule("derive", {"derive": "number", "field": "WT", "multiply": 0.4536, "digits": 2}),
                       _target("float", "VSSTRESN")).values
    assert kg.tolist()[:2] == [53.98, 66.23]  # 119 * 0.4536 = 53.9784; 146 * 0.4536 = 66.2256
    plain = derive_number(raw, Rule("derive", {"derive": "number", "field": "WT"}), _target("text", "X")).values
    assert plain.tolist()[:2] == ["119", "146"]


# -- controlled terms -------------------------------------------------------------------------------------------


def test_collected_values_through_a_codelist_by_term_decode_and_synonym():
    from cdiscflow.sdtm.mapping.algorithms import synonym_table, through_codelist

    spec = load_study("dara_atra")
    sex = synonym_table(spec.codelist("SEX"))
    assert synonym_table(spec.codelist("SEX")) is sex  # made once per codelist
    values = ["F", " female ", "MAN", "vrouw", "Woman  ", "X", None, "", "m", "Male\tperson"]
    first = pd.Series(values[:5], dtype=str)
    col = pd.concat([first, pd.Series(values[5:], dtype=str)], ignore_index=True)  # two Arrow chunks
    col.index = pd.RangeIndex(3, 3 + len(col))
    got = through_codelist(col.rename("SEX"), sex)
    assert got.dtype == "str" and got.index.equals(col.index) and got.name == "SEX"
    assert [None if pd.isna(v) else v for v in got] == ["F", "F", "M", "F", "F", None, None, None, "M", None]
    lbtest = spec.codelist("LBTEST")
    via = through_codelist(pd.Series(list(spec.codelist("LBTESTCD").values[:3]) + ["NOPE"], dtype=str),
                           synonym_table(lbtest, spec.codelist("LBTESTCD")))  # the test code's name
    by_code = {t.code: t.value for t in lbtest.terms}
    assert via.tolist()[:3] == [by_code[t.code] for t in spec.codelist("LBTESTCD").terms[:3]]
    assert pd.isna(via.iloc[3])
