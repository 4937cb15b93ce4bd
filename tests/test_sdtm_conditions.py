"""One condition language: the SDTM mapping form of `where`/`when` compiles to an expression of the language ADaM
and the report use (cdiscflow.specs.conditions), and both forms select the same rows (issue 15)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cdiscflow.core.expr import ExpressionError, evaluate_condition, names
from cdiscflow.sdtm.mapping.algorithms import condition_mask
from cdiscflow.specs.conditions import compile_condition, condition_fields
from cdiscflow.specs.model import Codelist, Term

# tricky collected text: case, surrounding and inner blanks, blanks, numbers written several ways
DATA = pd.DataFrame({
    "ANS": pd.Series(["Yes", " yes ", "no", None, "NO  ", "Not  Done", "not done", ""], dtype=str),
    "DOSE": pd.Series(["45", "45.0", " 45", "abc", None, "4.5", "30", "1e2"], dtype=str),
    "IT.DS": pd.Series(["Randomized", "randomized ", None, "x", "x", "x", "x", "x"], dtype=str),
})
# DOSE as a form declaring it an integer reads it: only plain whole numbers ("45.0", " 45", "1e2" are no such numbers)
NUMBERS = {"DOSE": pd.Series([45.0, np.nan, np.nan, np.nan, np.nan, np.nan, 30.0, np.nan], index=DATA.index)}
NY = Codelist("NY", "No Yes Response", terms=(Term("Y", decode="Yes", synonyms=("Ja",)), Term("N", decode="No")))
CODELISTS = {"NY": NY}

# (condition in the mapping form, the expression it compiles to, rows selected - worked out by hand)
CASES = [
    ({"ANS": "yes"}, "normalise(ANS) in ('YES',)", [0, 1]),
    ({"ANS": ["Not done", "NO"]}, "normalise(ANS) in ('NOT DONE', 'NO')", [2, 4, 5, 6]),
    # a blank passes a `not` test ("" is text, not missing: it passes too)
    ({"ANS": {"not": ["yes", "not done"]}}, "isna(ANS) or normalise(ANS) not in ('YES', 'NOT DONE')", [2, 3, 4, 7]),
    ({"ANS": {"present": False}}, "isna(ANS)", [3]),
    ({"ANS": {"present": True}}, "notna(ANS)", [0, 1, 2, 4, 5, 6, 7]),
    # a YAML number compares as its text: 45 is '45' (" 45" trimmed), never "45.0"
    ({"DOSE": 45}, "normalise(DOSE) in ('45',)", [0, 2]),
    ({"DOSE": 4.50}, "normalise(DOSE) in ('4.5',)", [5]),
    # numeric tests read the text as a number ("1e2" is 100; "abc" and blanks are never selected)
    ({"DOSE": {"ge": 30}}, "number(DOSE) >= 30", [0, 1, 2, 6, 7]),
    ({"DOSE": {"lt": 30}}, "number(DOSE) < 30", [5]),
    # through a codelist: decode "Yes"/"No" and the synonym map to Y/N; "Not done" is no term: missing
    ({"ANS": {"codelist": "NY", "in": "Y"}}, "normalise(codelist(ANS, 'NY')) in ('Y',)", [0, 1]),
    ({"ANS": {"codelist": "NY", "not": "Y"}},
     "isna(codelist(ANS, 'NY')) or normalise(codelist(ANS, 'NY')) not in ('Y',)", [2, 3, 4, 5, 6, 7]),
    # a field name that is no plain name, and several tests joined by `and` (an `or` kept in parentheses)
    ({"IT.DS": "RANDOMIZED"}, "normalise(field('IT.DS')) in ('RANDOMIZED',)", [0, 1]),
    ({"ANS": {"not": "no"}, "DOSE": {"gt": 40}}, "(isna(ANS) or normalise(ANS) not in ('NO',)) and number(DOSE) > 40",
     [0, 1, 7]),
    ({}, None, [0, 1, 2, 3, 4, 5, 6, 7]),
]


def _rows(mask) -> list[int]:
    return np.flatnonzero(np.asarray(mask)).tolist()


@pytest.mark.parametrize("condition,expression,rows", CASES, ids=[str(c[0]) for c in CASES])
def test_the_mapping_form_compiles_to_an_expression_selecting_the_same_rows(condition, expression, rows):
    assert compile_condition(condition) == expression
    assert _rows(condition_mask(DATA, condition, None, CODELISTS)) == rows
    compiled = evaluate_condition(expression, DATA, codelists=CODELISTS)
    assert _rows(compiled) == rows
    assert condition_mask(DATA, expression, None, CODELISTS).tolist() == compiled.tolist()  # text as written


def test_a_raw_forms_typed_numbers_are_what_number_reads():
    # DOSE declared integer: "45.0", " 45" and "1e2" are no integers for the form, so they are not >= 30
    assert _rows(condition_mask(DATA, {"DOSE": {"ge": 30}}, NUMBERS, CODELISTS)) == [0, 6]
    assert _rows(evaluate_condition("number(DOSE) >= 30", DATA, numbers=NUMBERS)) == [0, 6]
    # without the typed numbers the text is read as a number
    assert _rows(evaluate_condition("number(DOSE) >= 30", DATA)) == [0, 1, 2, 6, 7]


def test_expression_text_keeps_the_languages_own_rules():
    # exact text, and a comparison with a blank is unknown: the blank is not selected by !=
    assert _rows(condition_mask(DATA, "ANS == 'Yes'")) == [0]
    assert _rows(condition_mask(DATA, "ANS != 'Yes'")) == [1, 2, 4, 5, 6, 7]
    assert _rows(condition_mask(DATA, "normalise(ANS) == 'YES' or isna(ANS)")) == [0, 1, 3]


def test_names_and_checks_of_the_new_functions():
    assert names("normalise(field('IT.DS')) == 'X' and codelist(ANS, 'NY') == 'Y'") == ("IT.DS", "ANS")
    assert condition_fields({"IT.DS": "x", "ANS": {"not": "y"}}) == ("IT.DS", "ANS")
    assert condition_fields("isna(ANS) or number(DOSE) > 1") == ("ANS", "DOSE")
    # a raw field named like a Python word or a function of the language is read through field()
    assert compile_condition({"in": "x", "number": {"present": True}}) == \
        "normalise(field('in')) in ('X',) and notna(field('number'))"
    frame = pd.DataFrame({"in": pd.Series([" x", "y"], dtype=str), "number": pd.Series(["1", None], dtype=str)})
    assert _rows(condition_mask(frame, {"in": "x", "number": {"present": True}})) == [0]
    for bad in ("codelist(ANS, NY) == 'Y'", "field(ANS) == 'x'", "codelist(ANS) == 'Y'", "__import__('os')"):
        with pytest.raises(ExpressionError):
            compile_condition(bad)
    with pytest.raises(ExpressionError, match="needs the study's codelists"):
        evaluate_condition("codelist(ANS, 'NY') == 'Y'", DATA)
    with pytest.raises(ExpressionError, match="unknown codelist 'XX'"):
        evaluate_condition("codelist(ANS, 'XX') == 'Y'", DATA, codelists=CODELISTS)
    with pytest.raises(ExpressionError, match="a test is one of"):
        compile_condition({"ANS": {"eq": "x"}})


# -- a whole mapping with expression text ------------------------------------------------------------------------

# the embedded spec's conditions rewritten as expression text: block where, rule when (not, equal, present),
# a codelist test, a number of a raw form (trial design) and a where on a mapped dataset (DTHFL)
REWRITES = [
    ("sdtm/rs.yaml", "where: {WHOPS: {present: true}}", "where: \"notna(WHOPS)\""),
    ("sdtm/rs.yaml", "when: {WHOPS: {not: Unknown}}", "when: \"isna(WHOPS) or normalise(WHOPS) != 'UNKNOWN'\""),
    ("sdtm/rs.yaml", "when: {WHOPS: Unknown}", "when: \"normalise(WHOPS) == 'UNKNOWN'\""),
    ("sdtm/cm.yaml", "where: {SCTYPE: {codelist: SUPPCARE, in: G-CSF}}",
     "where: \"codelist(SCTYPE, 'SUPPCARE') == 'G-CSF'\""),
    ("sdtm/dm.yaml", "where: {DSDECOD: DEATH, DSSCAT: STUDY PARTICIPATION}}",
     "where: \"DSDECOD == 'DEATH' and DSSCAT == 'STUDY PARTICIPATION'\"}"),
    ("trial_design.yaml", "where: {DOSELVL: 45}", "where: \"number(DOSELVL) == 45\""),
]


def _rewrite(folder: Path, file: str, old: str, new: str) -> None:
    path = folder / file
    text = path.read_text(encoding="utf-8")
    assert old in text, (file, old)
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.mark.slow
def test_a_mapping_written_with_expression_text_gives_the_same_datasets(study_copy):
    from cdiscflow.sdtm import map_study
    from cdiscflow.usecases import check_spec
    from cdiscflow.specs.load import load_study

    raw = Path(__file__).parent / "data" / "raw_small"
    before = map_study(load_study(), raw)
    for file, old, new in REWRITES:
        _rewrite(study_copy, file, old, new)
    assert [str(p) for p in check_spec(study_copy)] == []
    spec = load_study(study_copy)
    assert isinstance(spec.mappings["RS"].blocks[1].where, str)
    after = map_study(spec, raw)
    assert sorted(after.datasets) == sorted(before.datasets)
    for name, frame in before.datasets.items():
        pd.testing.assert_frame_equal(after.datasets[name], frame, obj=name)
    assert (before.datasets["RS"]["RSSTAT"] == "NOT DONE").sum() > 0  # the rewritten rules did select rows
    assert before.datasets["DM"]["DTHFL"].eq("Y").sum() > 0


def test_check_spec_names_an_unknown_field_in_an_expression_condition(study_copy):
    from cdiscflow.usecases import check_spec

    _rewrite(study_copy, "sdtm/rs.yaml", "where: {WHOPS: {present: true}}", "where: \"notna(WHOPSS)\"")
    _rewrite(study_copy, "sdtm/cm.yaml", "where: {SCTYPE: {codelist: SUPPCARE, in: G-CSF}}",
             "where: \"codelist(SCTYPE, 'SUPPCAR') == 'G-CSF'\"")
    _rewrite(study_copy, "sdtm/dm.yaml", "where: {DSDECOD: DEATH, DSSCAT: STUDY PARTICIPATION}}",
             "where: \"DSDECOD == 'DEATH' and DSCATX == 'X'\"}")
    problems = check_spec(study_copy)
    found = {(p.file, p.key, p.message) for p in problems}
    assert len(problems) == 3, [str(p) for p in problems]
    assert any(f == "sdtm/rs.yaml" and "where names unknown field baseline.WHOPSS" in m for f, _, m in found), found
    assert any(f == "sdtm/cm.yaml" and "unknown codelist 'SUPPCAR'" in m for f, _, m in found), found
    assert any(f == "sdtm/dm.yaml" and "DSCATX is not a variable/field of DS" in m for f, _, m in found), found
    assert all(p.line for p in problems), [str(p) for p in problems]


@pytest.mark.slow
def test_check_spec_refuses_codelist_in_an_adam_expression(study_copy):
    # ADaM evaluates without the study's codelists: codelist() there is a spec problem, not a failure mid-run
    from cdiscflow.usecases import check_spec

    _rewrite(study_copy, "adam/adsl.yaml", "  filter: EXDOSE > 0", "  filter: codelist(EXTRT, 'NY') == 'Y'")
    problems = check_spec(study_copy)
    assert [(p.file, p.line, p.key) for p in problems] == [("adam/adsl.yaml", 7, "exposure.filter")], \
        [str(p) for p in problems]
    assert "only SDTM where/when offer" in problems[0].message
