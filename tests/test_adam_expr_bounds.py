"""The expression language bounds sizes (issue 16.9): `'Y' * N`, huge number literals and exponents, huge text
literals and computed text stop with a clear ExpressionError (a spec problem: exit 2), never hang or exhaust memory."""

from __future__ import annotations

import pandas as pd
import pytest

from cdiscflow.adam.expr import (MAX_TEXT, Expr, ExpressionError, evaluate_condition, evaluate_value, parse)
from cdiscflow.core.errors import EXIT_UNUSABLE, CdiscflowError

FRAME = pd.DataFrame({"AVALC": ["Y", "N", None], "AVAL": [1.0, -2.0, None],
                      "ADT": pd.to_datetime(["2020-01-01", "2020-02-01", None])})


@pytest.mark.parametrize("source,message", [
    ("'Y' * 1000000000", "text cannot be multiplied"),
    ("AVAL * 'Y' == 'YY'", "text cannot be multiplied"),
    ("AVAL < 1e16", "a number literal may be at most 1e+15 in magnitude"),
    ("AVAL < 1e999", "a number literal may be at most 1e+15"),  # inf
    ("AVAL > -10000000000000000", "a number literal may be at most 1e+15"),
    ("round(AVAL, 400) > 1", "round(x, n) takes at most 15 decimals"),  # 10.0 ** 400 overflowed: a crash before
    ("AVAL == " + "9" * 5000, "is not a valid expression (Exceeds the limit"),  # Python's int digit limit
    ("AVALC == '" + "Y" * (MAX_TEXT + 1) + "'", "a text literal may have at most 1,000 characters, this one has 1,001"),
    ("AVAL" + " + 1" * 3000 + " > 0", "an expression may have at most 10,000 characters, this one has 12,008"),
])
def test_oversized_literals_are_refused_when_parsed(source, message):
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        parse(source)
    assert len(str(pytest.raises(ExpressionError, parse, source).value)) < 500  # quotes a short excerpt


def test_within_the_bounds_everything_works_as_before():
    assert parse("AVAL < 1e15 and AVALC == '" + "Y" * MAX_TEXT + "'")
    assert evaluate_value(Expr("round(AVAL * 3, 15)"), FRAME).tolist()[:2] == [3.0, -6.0]
    assert evaluate_value(Expr("AVALC + '-' + AVALC"), FRAME).tolist()[:2] == ["Y-Y", "N-N"]
    assert evaluate_condition("AVAL * -1 > 0", FRAME).tolist() == [False, True, False]


def test_computed_text_and_repetition_are_bounded_when_evaluated():
    long = pd.DataFrame({"AVALC": ["Y" * 600, "N"]})
    with pytest.raises(ExpressionError, match="computes text longer than 1,000 characters"):
        evaluate_value(Expr("AVALC + AVALC"), long)
    with pytest.raises(ExpressionError, match="text cannot be multiplied"):
        evaluate_value(Expr("AVALC * 1000000000"), FRAME)  # a text column repeated: refused before any work
    with pytest.raises(ExpressionError, match=r"days\(\) out of range"):
        evaluate_value(Expr("ADT + days(1e15)"), FRAME)  # was pandas' OutOfBoundsTimedelta: exit 3


def test_an_expression_error_is_a_spec_problem_exit_2():
    error = pytest.raises(ExpressionError, parse, "'Y' * 10").value
    assert isinstance(error, CdiscflowError) and isinstance(error, ValueError)
    assert error.exit_code == EXIT_UNUSABLE
