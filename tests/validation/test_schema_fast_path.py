"""validate_frame skips pandera when nothing can fail (issue 18): the same check functions, evaluated directly; any
failure or doubt hands the frame to pandera, which reports as before (tests/validation/test_schema.py plants one
defect per check and asserts pandera's findings)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from cdiscflow.validation import build_schema
from cdiscflow.validation.schema import _passes, validate_frame


def _pandera_finds_something(frame, schema) -> bool:
    try:
        schema.validate(frame.reset_index(drop=True), lazy=True)
    except pa.errors.SchemaErrors:
        return True
    return False


def test_clean_datasets_are_judged_without_pandera(clean, spec, monkeypatch):
    def no_pandera(*args, **kwargs):
        raise AssertionError("pandera ran on a clean dataset")

    for name, frame in clean.items():
        schema = build_schema(spec.dataset(name), spec.codelists)
        assert _passes(frame, schema), name
        monkeypatch.setattr(schema, "validate", no_pandera)
        assert validate_frame(frame, schema, name).empty


DEFECTS = {
    "Req variable missing": lambda f: f.drop(columns=["AETERM"]),
    "undeclared variable": lambda f: f.assign(AEXTRA="x"),
    "variables out of order": lambda f: f[[*f.columns[1:], f.columns[0]]],
    "duplicate key": lambda f: pd.concat([f, f.iloc[:1]]),
    "Req variable null": lambda f: f.assign(AETERM=[np.nan] + list(f["AETERM"][1:])),
    "term outside the codelist": lambda f: f.assign(AESEV=["FATAL"] * len(f)),
    "too long for its length": lambda f: f.assign(AETERM=["x" * 300] * len(f)),
    "not ISO 8601": lambda f: f.assign(AESTDTC=["31/01/2020"] * len(f)),
    "not a calendar date": lambda f: f.assign(AESTDTC=["2020-02-30"] * len(f)),
    "text in a numeric variable": lambda f: f.assign(AESEQ=["one"] * len(f)),
    "fraction in an integer": lambda f: f.assign(AESEQ=[1.5] * len(f)),
}


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_every_kind_of_defect_goes_to_pandera(defect, clean, spec):
    schema = build_schema(spec.dataset("AE"), spec.codelists)
    frame = DEFECTS[defect](clean["AE"].copy())
    assert _pandera_finds_something(frame, schema), "the planted defect is not one"
    assert not _passes(frame, schema)
    assert not validate_frame(frame, schema, "AE").empty


def test_a_check_that_raises_goes_to_pandera(clean, spec):
    schema = build_schema(spec.dataset("AE"), spec.codelists)
    column = schema.columns["AETERM"]
    broken = pa.Check(lambda s: 1 / 0, name="SCH-TYPE-001", ignore_na=True)
    schema = schema.update_column("AETERM", checks=[*column.checks, broken])
    assert not _passes(clean["AE"], schema)
    found = validate_frame(clean["AE"], schema, "AE")
    assert list(found["rule_id"].unique()) == ["SCH-TYPE-001"]  # pandera reports the check that raised, by name


# ---------------------------------------------------------------------------------------------------------------
# text checks judged on the distinct values (codelist, length, ISO 8601): compacted columns as the pipeline holds them


def _compacted(frame: pd.DataFrame) -> pd.DataFrame:
    from cdiscflow.core.frames import compact

    return compact(frame.copy(), share=1.0)  # every text column a categorical


def test_clean_compacted_datasets_are_judged_without_pandera(clean, spec):
    for name, frame in clean.items():
        schema = build_schema(spec.dataset(name), spec.codelists)
        assert _passes(_compacted(frame), schema), name


TEXT_DEFECTS = {
    "term outside the codelist": ("AESEV", "FATAL"),
    "too long for its length": ("AETERM", "x" * 300),
    "not ISO 8601": ("AESTDTC", "31/01/2020"),
    "not a calendar date": ("AESTDTC", "2020-02-30"),
}


@pytest.mark.parametrize("defect", sorted(TEXT_DEFECTS))
@pytest.mark.parametrize("compacted", [False, True])
def test_one_bad_value_among_good_ones_goes_to_pandera(defect, compacted, clean, spec):
    # one row only, the others clean: the distinct values hold the bad one, and pandera names that row
    column, bad = TEXT_DEFECTS[defect]
    schema = build_schema(spec.dataset("AE"), spec.codelists)
    frame = clean["AE"].copy()
    frame[column] = frame[column].astype(object)
    frame.loc[frame.index[-1], column] = bad
    frame = _compacted(frame) if compacted else frame
    assert not _passes(frame, schema)
    found = validate_frame(frame, schema, "AE")
    assert found["variable"].tolist() == [column] * len(found) and len(found) >= 1
    assert found["row"].tolist()[0] == len(frame) and found["value"].tolist()[0] == bad


def test_an_unused_bad_category_costs_time_not_findings(clean, spec):
    # a category no row uses is judged too (the distinct values are the categories): that is a doubt, so pandera
    # runs, and pandera (which sees the rows) finds nothing
    schema = build_schema(spec.dataset("AE"), spec.codelists)
    frame = clean["AE"].copy()
    values = frame["AESEV"].dropna().unique().tolist()
    frame["AESEV"] = frame["AESEV"].astype(pd.CategoricalDtype(sorted(values) + ["FATAL"]))
    assert not _passes(frame, schema)
    assert validate_frame(frame, schema, "AE").empty


def test_stresc_numbers_pass_on_distinct_values(clean, spec):
    # a --STRESC holding numbers (copied from --STRESN) is not a codelist miss, judged per distinct value too
    from cdiscflow.validation.schema import _codelist_ok
    from cdiscflow.validation.metadata import plan_dataset

    plan = plan_dataset(spec.dataset("RS"), spec.codelists)
    checks = [v for v in plan.variables if v.name.endswith("STRESC") and v.codelist is not None]
    if not checks:
        pytest.skip("the VALTEST spec has no --STRESC with a codelist")
    fn = _codelist_ok(checks[0])
    terms = list(checks[0].codelist.values)
    values = np.array([terms[0], "12.5", "-3", "NOT A TERM"], dtype=object)
    assert fn.per_value(values).tolist() == [True, True, True, False]
    assert fn(pd.Series(values, dtype="str")).tolist() == [True, True, True, False]


def test_repeated_keys_found_from_codes_as_pandas_finds_them():
    from cdiscflow.validation.schema import repeats_a_key

    rng = np.random.default_rng(18)
    for trial in range(200):  # over random frames: few distinct values, so repeats are common but not certain
        n = int(rng.integers(0, 40))
        text = pd.Series(rng.choice(["A", "B", "C", None], n), dtype="str")
        frame = pd.DataFrame({
            "T": text, "C": text.astype("category") if trial % 2 else text,
            "F": pd.Series(rng.choice([1.0, 2.0, np.nan, -0.0, 0.0], n)),
            "D": pd.to_datetime(pd.Series(rng.choice(["2020-01-01", "2020-01-02", None], n))),
            "U": pd.Series(np.arange(n), dtype=float) if trial % 3 == 0 else pd.Series(rng.integers(0, 3, n)),
        })
        for keys in (["T"], ["C", "F"], ["T", "C", "F", "D"], ["F", "U"], ["D", "U", "C"]):  # over key sets
            assert repeats_a_key(frame, keys) == bool(frame.duplicated(subset=keys).any()), (trial, keys)
    wide = pd.DataFrame({f"K{i}": pd.Series(np.arange(1000) % 997, dtype=float) for i in range(8)})  # > 2**62
    assert repeats_a_key(wide, list(wide.columns)) and not repeats_a_key(wide.iloc[:997], list(wide.columns))


def test_codelist_per_value_equals_isin_on_the_values(spec):
    # the terms are turned into text once per check; distinct values that are not all text go through isin
    from cdiscflow.core.text import isin
    from cdiscflow.validation.metadata import plan_dataset
    from cdiscflow.validation.schema import _codelist_ok

    plan = plan_dataset(spec.dataset("AE"), spec.codelists)
    v = next(x for x in plan.variables if x.codelist is not None and x.char and not x.name.endswith("STRESC"))
    fn = _codelist_ok(v)
    terms = list(v.codelist.values)
    for values in (np.array([terms[0], "nope", terms[-1], "", " " + terms[0]], dtype=object),
                   np.array([terms[0], 101, None], dtype=object), np.array([], dtype=object)):
        want = isin(pd.Series(values, dtype=object), terms).to_numpy()
        assert fn.per_value(values).tolist() == want.tolist(), values
    assert fn.per_value(np.array([terms[0], "nope"], dtype=object)).tolist() == [True, False]
