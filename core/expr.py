"""Conditions and values written as text, so that events, time-to-event sources and criteria can live in YAML.

The language is a small, safe subset of Python expressions evaluated column-wise (vectorised) on a dataset:

    AVALC in ('CR', 'PR') and ADT >= RANDDT + days(28)
    PARAMCD == 'PD' and AVALC == 'Y' and ANL01FL == 'Y'
    notna(DTHDT) or DTHFL == 'Y'

* names are variables of the dataset; literals are strings, numbers, True/False/None and tuples/lists of literals;
* comparisons ``== != < <= > >=`` (chains allowed), ``in`` / ``not in``, ``and`` / ``or`` / ``not``;
* arithmetic ``+ - * /`` on numbers, and dates plus/minus ``days(n)``;
* functions ``isna(x)``, ``notna(x)``, ``days(n)``, ``upper(x)``, ``number(x)`` (text to number, NaN when not a
  number), ``round(x, n)`` (half away from zero, as SAS ROUND), ``completed_years(from, to)`` (whole calendar years
  between two dates: an age).  ``(ADT - FTRTDT) / days(365.25)`` is a duration in years;
* text as codelists compare it: ``normalise(x)`` is the text with surrounding blanks removed, inner runs of blanks
  made one space, in upper case (``normalise(AEONGO) == 'YES'`` holds for "yes", " Yes  ");
  ``codelist(x, 'CL')`` is the submission value of codelist CL that the text (a submission value, decode or
  synonym, compared normalised) stands for, missing when it stands for none (needs the study's codelists);
* ``field('IT.AESER')`` reads a raw field whose name is no plain name (dots, a Python word such as ``in``).

On a raw form (SDTM `where`/`when`), ``number(F)`` of a field the form declares integer or float is the number as
the form reads it (a value that is no such number is missing).  The SDTM mapping form of conditions
(`{FIELD: value, FIELD: {not: ...}}`) is shorthand for an expression of this language: see
`cdiscflow.specs.conditions`.

Sizes are bounded, so that a spec cannot make an expression eat the machine (issue 16.9): an expression is at most
MAX_SOURCE characters, a text literal and any text it computes at most MAX_TEXT characters, a number literal at most
MAX_NUMBER in magnitude, round() at most MAX_DECIMALS decimals, and text cannot be repeated with ``*``
(``'Y' * 1000000000``).  Breaking a bound is an ExpressionError naming the expression and the bound.

Missing values follow the rules of R's `dplyr::filter` and SQL: a comparison with a missing operand is *unknown*,
``and``/``or``/``not`` use three-valued (Kleene) logic, and a record is selected only if its condition is *true*.
So ``AVALC != 'NE'`` does not select records with a missing AVALC; ask for them with ``isna(AVALC)``.

`Expr("ASEQ")` marks a value of `set_values_to` that is computed from the record (here: copied from ASEQ); plain
strings and numbers in `set_values_to` are constants.  Conditions and `Expr` values may also be Python callables
taking the dataset and returning a Series/array, for the rare derivation the language cannot express.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Mapping, Union

import numpy as np
import pandas as pd

from cdiscflow.core.calendar import compute_completed_years
from cdiscflow.core.errors import CdiscflowError, InputError
from cdiscflow.core.text import lookup as lookup_text
from cdiscflow.core.text import normalise, squash_upper

Condition = Union[str, Callable[[pd.DataFrame], Any], None]


class ExpressionError(ValueError, CdiscflowError):
    """An expression that is not valid in the condition language (raised when it is parsed), or that breaks a size
    bound when it is evaluated.  A problem of the spec: exit 2 when it reaches the command line."""


MAX_SOURCE = 10_000  # characters of one expression
MAX_TEXT = 1_000  # characters of a text literal or of a text value computed (XPT v5 holds 200 bytes)
MAX_NUMBER = 1e15  # magnitude of a number literal (float64 is exact for whole numbers up to 2**53 ~ 9e15)
MAX_DECIMALS = 15  # round(x, n): |n| at most this (10 ** n must stay a finite, exact scale)


@dataclass(frozen=True)
class Expr:
    """A value computed from each record (``Expr("ASEQ")``, ``Expr("ADT - days(1)")``) or a callable."""

    source: str | Callable[[pd.DataFrame], Any]

    def __post_init__(self) -> None:
        if isinstance(self.source, str):
            parse(self.source)


_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
            ast.Gt: operator.gt, ast.GtE: operator.ge}
_ARITH = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_FUNCTIONS = {"isna": 1, "notna": 1, "days": 1, "upper": 1, "number": 1, "round": 2, "completed_years": 2,
              "normalise": 1, "codelist": 2, "field": 1}
_TEXT_ARGUMENT = {"field": 0, "codelist": 1}  # function -> position of its argument that must be quoted text


@lru_cache(maxsize=1024)
def parse(source: str) -> ast.Expression:
    """Parse and check an expression; raise ExpressionError saying what is not allowed."""
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("an expression must be non-empty text")
    if len(source) > MAX_SOURCE:
        raise ExpressionError(f"{source[:40]!r}...: an expression may have at most {MAX_SOURCE:,} characters, this "
                              f"one has {len(source):,}")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"{_short(source)} is not a valid expression ({exc.msg})") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # e.g. an integer literal of 5,000 digits
        raise ExpressionError(f"{_short(source)}: not a usable expression ({exc})") from None
    for node in ast.walk(tree):
        _check_node(node, source)
    return tree


def names(source: str) -> tuple[str, ...]:
    """The variables an expression reads, in order of first use."""
    out: dict[str, None] = {}
    for node in ast.walk(parse(source)):
        if isinstance(node, ast.Name) and node.id not in _FUNCTIONS and node.id not in ("True", "False", "None"):
            out.setdefault(node.id, None)
        elif isinstance(node, ast.Call) and node.func.id == "field":  # type: ignore[attr-defined]
            out.setdefault(node.args[0].value, None)  # type: ignore[attr-defined]
    return tuple(out)


def codelists_named(source: str) -> tuple[str, ...]:
    """The codelists an expression looks values up in (``codelist(x, 'CL')``), in order of first use."""
    return tuple(dict.fromkeys(node.args[1].value for node in ast.walk(parse(source))  # type: ignore[attr-defined]
                               if isinstance(node, ast.Call) and node.func.id == "codelist"))  # type: ignore[attr-defined]


def _check_node(node: ast.AST, source: str) -> None:
    allowed = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd, ast.Compare,
               ast.In, ast.NotIn, ast.BinOp, ast.Name, ast.Load, ast.Constant, ast.Tuple, ast.List, ast.Call,
               *_COMPARE, *_ARITH)
    if not isinstance(node, allowed):
        raise ExpressionError(f"{source!r}: {type(node).__name__} is not allowed in conditions")
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            raise ExpressionError(f"{source!r}: only the functions {', '.join(_FUNCTIONS)} can be called")
        if node.keywords or len(node.args) != _FUNCTIONS[node.func.id]:
            n = _FUNCTIONS[node.func.id]
            raise ExpressionError(f"{source!r}: {node.func.id}() takes exactly {n} argument{'s' if n > 1 else ''}")
        if node.func.id == "round" and not (isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, int)):
            raise ExpressionError(f"{source!r}: round(x, n) needs a whole number of decimals n")
        if node.func.id in _TEXT_ARGUMENT:
            arg = node.args[_TEXT_ARGUMENT[node.func.id]]
            if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value):
                what = "field('NAME')" if node.func.id == "field" else "codelist(x, 'CODELIST')"
                raise ExpressionError(f"{source!r}: {what} needs the name in quotes")
        if node.func.id == "round" and abs(node.args[1].value) > MAX_DECIMALS:
            raise ExpressionError(f"{_short(source)}: round(x, n) takes at most {MAX_DECIMALS} decimals")
    if isinstance(node, ast.Constant):
        _check_literal(node.value, source)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult) and any(
            isinstance(side, ast.Constant) and isinstance(side.value, str) for side in (node.left, node.right)):
        raise ExpressionError(f"{_short(source)}: text cannot be multiplied (repeated); '*' is for numbers")
    if isinstance(node, (ast.Tuple, ast.List)) and not all(isinstance(e, ast.Constant) for e in node.elts):
        raise ExpressionError(f"{source!r}: lists may only hold literal values")
    if isinstance(node, ast.Compare):
        for op, right in zip(node.ops, node.comparators):
            if isinstance(op, (ast.In, ast.NotIn)) and not isinstance(right, (ast.Tuple, ast.List)):
                raise ExpressionError(f"{source!r}: 'in' needs a literal list such as ('CR', 'PR')")


def _check_literal(value: Any, source: str) -> None:
    if isinstance(value, str) and len(value) > MAX_TEXT:
        raise ExpressionError(f"{_short(source)}: a text literal may have at most {MAX_TEXT:,} characters, this one "
                              f"has {len(value):,}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not (abs(value) <= MAX_NUMBER):  # also NaN/inf (1e999 is inf)
            raise ExpressionError(f"{_short(source)}: a number literal may be at most {MAX_NUMBER:g} in magnitude")


def _short(source: str) -> str:
    return repr(source) if len(source) <= 80 else repr(source[:60]) + f"... ({len(source):,} characters)"


def _bounded(value: Any, source: str) -> Any:
    """An arithmetic result, checked: text at most MAX_TEXT characters (numbers may overflow to inf, as in SAS)."""
    if isinstance(value, str):
        too_long = len(value) > MAX_TEXT
    elif isinstance(value, pd.Series) and (pd.api.types.is_object_dtype(value.dtype)
                                           or pd.api.types.is_string_dtype(value.dtype)):
        try:
            lengths = value.str.len()
        except AttributeError:
            return value
        too_long = bool((lengths > MAX_TEXT).any())
    else:
        return value
    if too_long:
        raise ExpressionError(f"{_short(source)}: computes text longer than {MAX_TEXT:,} characters")
    return value


# ----------------------------------------------------------------------------------------------------------------
# evaluation


def evaluate_condition(condition: Condition, frame: pd.DataFrame, *, dataset: str = "dataset",
                       numbers: Mapping[str, pd.Series] | None = None,
                       codelists: Mapping[str, Any] | None = None) -> np.ndarray:
    """A boolean mask (numpy) of the records for which `condition` is true (None selects every record).

    `numbers` (a raw form's typed numbers, field -> float Series on `frame`'s index) is what ``number(F)`` reads
    for those fields; `codelists` (id -> specs.model.Codelist) is what ``codelist(x, 'CL')`` looks up."""
    if condition is None:
        return np.ones(len(frame), dtype=bool)
    if callable(condition):
        result = condition(frame)
    else:
        _require_names(condition, frame, dataset)
        result = _Evaluator(frame, condition, numbers, codelists).visit(parse(condition).body)
    return _as_mask(result, len(frame), condition)


def evaluate_value(value: Any, frame: pd.DataFrame, *, dataset: str = "dataset") -> Any:
    """A `set_values_to` value: a constant stays a scalar; an Expr becomes a Series aligned with `frame`."""
    if not isinstance(value, Expr):
        return value
    if callable(value.source):
        result = value.source(frame)
    else:
        _require_names(value.source, frame, dataset)
        result = _Evaluator(frame, value.source).visit(parse(value.source).body)
    if isinstance(result, pd.Series):
        return result.set_axis(frame.index)
    if np.ndim(result) == 0:
        return pd.Series([result] * len(frame), index=frame.index)
    return pd.Series(result, index=frame.index)


def set_values(frame: pd.DataFrame, values: Mapping[str, Any] | None, *, dataset: str = "dataset") -> pd.DataFrame:
    """Return `frame` with the `set_values_to` variables assigned (constants or Expr), evaluated on `frame`."""
    if not values:
        return frame
    new = {name: evaluate_value(v, frame, dataset=dataset) for name, v in values.items()}
    out = frame.copy(deep=False)
    for name, v in new.items():
        if isinstance(v, pd.Series):
            out[name] = v
        elif isinstance(v, str):
            out[name] = pd.Series(v, index=frame.index, dtype="str")
        elif v is None:
            out[name] = np.nan
        else:
            out[name] = v
    return out


def _require_names(source: str, frame: pd.DataFrame, dataset: str) -> None:
    missing = [n for n in names(source) if n not in frame.columns]
    if missing:
        raise InputError(f"{dataset} lacks variable(s) {', '.join(missing)} used in {source!r}")


def _as_mask(result: Any, n: int, condition: Condition) -> np.ndarray:
    if isinstance(result, pd.Series):
        if result.dtype == "boolean":
            return result.fillna(False).to_numpy(dtype=bool)
        if not pd.api.types.is_bool_dtype(result):
            raise ExpressionError(f"condition {condition!r} does not give true/false values")
        return result.to_numpy(dtype=bool)
    arr = np.asarray(result)
    if arr.ndim == 0:
        if not isinstance(arr.item(), (bool, np.bool_)):
            raise ExpressionError(f"condition {condition!r} does not give true/false values")
        return np.full(n, bool(arr.item()))
    if arr.dtype != bool:
        raise ExpressionError(f"condition {condition!r} does not give true/false values")
    return arr


def _field_named(node: ast.AST) -> str | None:
    """The variable a plain reference names (``F`` or ``field('F')``), else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call) and node.func.id == "field":  # type: ignore[attr-defined]
        return node.args[0].value  # type: ignore[attr-defined]
    return None


class _Evaluator:
    """Evaluates a checked expression tree on a frame.  Truth values are nullable booleans (Kleene logic)."""

    def __init__(self, frame: pd.DataFrame, source: str, numbers: Mapping[str, pd.Series] | None = None,
                 codelists: Mapping[str, Any] | None = None):
        self.frame = frame
        self.source = source
        self.numbers = numbers or {}
        self.codelists = codelists

    def visit(self, node: ast.AST) -> Any:
        return getattr(self, f"visit_{type(node).__name__}")(node)

    def visit_Constant(self, node: ast.Constant) -> Any:
        return node.value

    def visit_Name(self, node: ast.Name) -> Any:
        return self.frame[node.id]

    def visit_Tuple(self, node: ast.Tuple) -> list:
        return [e.value for e in node.elts]

    visit_List = visit_Tuple

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        operand = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            return ~self._truth(operand)
        return -operand if isinstance(node.op, ast.USub) else operand

    def visit_BoolOp(self, node: ast.BoolOp) -> pd.Series:
        values = [self._truth(self.visit(v)) for v in node.values]
        out = values[0]
        for v in values[1:]:
            out = (out & v) if isinstance(node.op, ast.And) else (out | v)
        return out

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        left, right = self.visit(node.left), self.visit(node.right)
        if isinstance(node.op, ast.Mult) and (_is_text(left) or _is_text(right)):
            raise ExpressionError(f"{_short(self.source)}: text cannot be multiplied (repeated); '*' is for numbers")
        return _bounded(_ARITH[type(node.op)](left, right), self.source)

    def visit_Call(self, node: ast.Call) -> Any:
        fn = node.func.id  # type: ignore[attr-defined]
        if fn == "field":
            return self.frame[node.args[0].value]  # type: ignore[attr-defined]
        arg = self.visit(node.args[0])
        if fn == "number":
            typed = self.numbers.get(_field_named(node.args[0]))
            if typed is not None:  # a number field of a raw form: as the form reads it
                return typed.reindex(self.frame.index)
            return pd.to_numeric(self._series(arg), errors="coerce").astype("float64")
        if fn == "normalise":
            return squash_upper(arg) if isinstance(arg, pd.Series) else (None if arg is None else normalise(str(arg)))
        if fn == "codelist":
            return self._coded(self._series(arg), node.args[1].value)  # type: ignore[attr-defined]
        if fn == "round":
            scale = 10.0 ** node.args[1].value  # type: ignore[attr-defined]
            x = pd.to_numeric(self._series(arg), errors="coerce").astype("float64")
            return np.sign(x) * np.floor(np.abs(x) * scale + 0.5) / scale
        if fn == "completed_years":
            return compute_completed_years(self._series(arg), self._series(self.visit(node.args[1])))
        if fn == "days":
            try:
                return pd.to_timedelta(arg, unit="D")
            except (OverflowError, ValueError) as exc:  # pandas' OutOfBoundsTimedelta is a ValueError
                raise ExpressionError(f"{_short(self.source)}: days() out of range ({exc})") from None
        if fn == "upper":
            return arg.str.upper() if isinstance(arg, pd.Series) else str(arg).upper()
        missing = arg.isna() if isinstance(arg, pd.Series) else pd.Series(pd.isna(arg), index=self.frame.index)
        result = missing if fn == "isna" else ~missing
        return result.astype("boolean")

    def visit_Compare(self, node: ast.Compare) -> pd.Series:
        left = self.visit(node.left)
        out = None
        for op, right_node in zip(node.ops, node.comparators):
            right = self.visit(right_node)
            if isinstance(op, (ast.In, ast.NotIn)):
                part = self._isin(left, right)
                if isinstance(op, ast.NotIn):
                    part = ~part
            else:
                part = self._compare(_COMPARE[type(op)], left, right)
            out = part if out is None else (out & part)
            left = right
        return out

    # -- helpers ----------------------------------------------------------------------------------------------
    def _coded(self, text: pd.Series, codelist_id: str) -> pd.Series:
        if self.codelists is None:
            raise ExpressionError(f"{self.source!r}: codelist() needs the study's codelists, which this place lacks")
        if codelist_id not in self.codelists:
            raise ExpressionError(f"{self.source!r}: unknown codelist {codelist_id!r}")
        table = pd.Series(dict(self.codelists[codelist_id].lookup()), dtype=str)
        return lookup_text(squash_upper(text), table)

    def _series(self, value: Any) -> pd.Series:
        if isinstance(value, pd.Series):
            return value
        return pd.Series([value] * len(self.frame), index=self.frame.index)

    def _compare(self, op: Callable, left: Any, right: Any) -> pd.Series:
        lmiss, rmiss = self._missing(left), self._missing(right)
        try:
            result = op(left, right)
        except TypeError as exc:
            raise InputError(f"cannot evaluate {self.source!r}: {exc}") from None
        result = self._series(result)
        missing = lmiss | rmiss | result.isna().to_numpy()
        return _nullable(result.to_numpy(dtype=bool, na_value=False), missing, result.index)

    def _isin(self, left: Any, values: list) -> pd.Series:
        left = self._series(left)
        return _nullable(left.isin(values).to_numpy(dtype=bool), left.isna().to_numpy(), left.index)

    def _missing(self, value: Any) -> np.ndarray:
        if isinstance(value, pd.Series):
            return value.isna().to_numpy()
        return np.full(len(self.frame), value is None or (isinstance(value, float) and np.isnan(value)))

    def _truth(self, value: Any) -> pd.Series:
        if isinstance(value, pd.Series):
            if value.dtype == "boolean":
                return value
            if pd.api.types.is_bool_dtype(value):
                return value.astype("boolean")
            raise ExpressionError(f"{self.source!r}: 'and'/'or'/'not' need true/false operands")
        if isinstance(value, bool):
            return pd.Series([value] * len(self.frame), index=self.frame.index, dtype="boolean")
        raise ExpressionError(f"{self.source!r}: 'and'/'or'/'not' need true/false operands")



def _nullable(values: np.ndarray, missing: np.ndarray, index: pd.Index) -> pd.Series:
    """A nullable boolean Series made at once from its values and where it is missing (NA): converting the values
    and then assigning NA by mask cost three times as much."""
    return pd.Series(pd.arrays.BooleanArray(values, missing), index=index)


def _is_text(value: Any) -> bool:
    """A text operand: a str, or a Series holding text (object/string/categorical of text)."""
    if isinstance(value, str):
        return True
    if not isinstance(value, pd.Series):
        return False
    dtype = value.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        dtype = dtype.categories.dtype
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return True
    if pd.api.types.is_object_dtype(dtype):
        first = value.dropna()
        return len(first) > 0 and isinstance(first.iloc[0], str)
    return False
