"""The condition language: vectorised, missing values never satisfy a comparison, unsafe syntax is refused."""

from __future__ import annotations

import pandas as pd
import pytest

from cdiscflow.core.expr import Expr, ExpressionError, evaluate_condition, evaluate_value, names, parse
from cdiscflow.core.errors import InputError


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "AVALC": ["CR", "PR", None, "SD"],
        "ADT": pd.to_datetime(["2020-01-20", "2020-02-01", "2020-03-01", None]),
        "RANDDT": pd.to_datetime(["2020-01-01"] * 4),
        "AVAL": [1.0, 2.0, None, 3.0],
    })


def test_in_and_dates(frame):
    mask = evaluate_condition("AVALC in ('CR', 'PR') and ADT >= RANDDT + days(28)", frame)
    assert mask.tolist() == [False, True, False, False]


def test_missing_never_satisfies_a_comparison(frame):
    # R/SQL semantics: NA != 'CR' is unknown, so the record with missing AVALC is not selected
    assert evaluate_condition("AVALC != 'CR'", frame).tolist() == [False, True, False, True]
    assert evaluate_condition("not AVALC == 'CR'", frame).tolist() == [False, True, False, True]
    assert evaluate_condition("AVALC != 'CR' or isna(AVALC)", frame).tolist() == [False, True, True, True]
    assert evaluate_condition("AVAL > 1", frame).tolist() == [False, True, False, True]
    assert evaluate_condition("AVALC not in ('SD',)", frame).tolist() == [True, True, False, False]


def test_none_selects_everything_and_callables(frame):
    assert evaluate_condition(None, frame).all()
    assert evaluate_condition(lambda f: f["AVAL"] == 2, frame).tolist() == [False, True, False, False]


def test_values(frame):
    assert evaluate_value("constant", frame) == "constant"
    shifted = evaluate_value(Expr("ADT - days(1)"), frame)
    assert shifted.iloc[0] == pd.Timestamp("2020-01-19")
    assert names("AVALC in ('CR',) and ADT >= RANDDT + days(28)") == ("AVALC", "ADT", "RANDDT")


@pytest.mark.parametrize("source", ["__import__('os')", "AVALC.str.upper() == 'CR'", "AVALC[0] == 'CR'",
                                    "AVALC in VALUES", "lambda: 1", "AVALC =="])
def test_unsafe_or_invalid_expressions_are_refused(source):
    with pytest.raises(ExpressionError):
        parse(source)


def test_unknown_variable_names_the_dataset(frame):
    with pytest.raises(InputError, match="ovr lacks variable\\(s\\) PARAMCD used in \"PARAMCD == 'PD'\""):
        evaluate_condition("PARAMCD == 'PD'", frame, dataset="ovr")
