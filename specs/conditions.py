"""One condition language: SDTM `where`/`when` in the mapping form compile to the expression language.

ADaM, the report and SDTM all select records with the expression language of `cdiscflow.core.expr`
(``AESER == 'Y' and AGE >= 18``).  An SDTM condition (block `where`, rule `when`, a source's `where`) may be written
as such an expression, or in the mapping form, which is shorthand that `compile_condition` turns into one:

    mapping form                             expression it compiles to
    FIELD: a                                 normalise(FIELD) in ('A',)
    FIELD: [a, b]                            normalise(FIELD) in ('A', 'B')
    FIELD: {not: a}  /  {not: [a, b]}        isna(FIELD) or normalise(FIELD) not in ('A', 'B')
    FIELD: {present: true}  /  false         notna(FIELD)  /  isna(FIELD)
    FIELD: {ge: 5}   (gt, le, lt)            number(FIELD) >= 5
    FIELD: {codelist: CL, in: [a, b]}        normalise(codelist(FIELD, 'CL')) in ('A', 'B')
    FIELD: {codelist: CL, not: a}            isna(codelist(FIELD, 'CL')) or normalise(codelist(FIELD, 'CL')) not in ('A',)
    several fields                           the tests joined by `and`; no test at all selects every row

So the mapping form's meaning, exactly:
* text compares ignoring case, surrounding blanks and repeated inner blanks (`normalise`, as codelists compare);
  a value written as a YAML number compares as its text (`DOSELVL: 45` is the text '45', `4.50` is '4.5');
* a blank (missing) value is in no list: `FIELD: a` and `{in: ...}` do not select it, `{not: ...}` does;
* `{ge|gt|le|lt: n}` compares the number: on a raw form a field declared integer/float as the form reads it,
  otherwise the text read as a number; text that is no number is missing and never selected;
* `{codelist: CL, ...}` first maps the collected value (submission value, decode or synonym) to its submission value
  of CL; a value CL does not know is missing (so `not` selects it).

Written directly, an expression follows the language's own rules: exact text (``AESER == 'Y'``), three-valued
logic (a comparison with a blank is unknown and never selects), ``normalise()``/``codelist()`` when wanted.
The language: comparisons ``== != < <= > >=``, ``in``/``not in`` a literal list, ``and``/``or``/``not``, ``+ - * /``
and the functions isna, notna, number, upper, round, days, completed_years, normalise (text as codelists compare
it), codelist(x, 'CL') (the submission value the text stands for) and field('IT.AESER') (a field whose name is no
plain name); nothing else can be called.  check-spec reports a field, variable or codelist a condition names that
the form, dataset or study lacks, with file, line and key.
"""

from __future__ import annotations

import keyword
import re
from typing import Any, Mapping

from cdiscflow.core.text import normalise

CONDITION_OPS = {"not", "present", "ge", "gt", "le", "lt"}
CODED_OPS = {"in", "not"}  # tests on the submission value a collected value maps to: {codelist: X, in: [...]}

_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_NUMERIC_OPS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def compile_condition(condition: Any) -> str | None:
    """The expression a condition stands for: expression text as written, the mapping form compiled (None when
    the condition selects every row).  Raises ExpressionError for a mapping form no expression can say."""
    from cdiscflow.core.expr import ExpressionError, parse

    if condition is None:
        return None
    if isinstance(condition, str):
        parse(condition)
        return condition.strip()
    if not isinstance(condition, Mapping):
        raise ExpressionError(f"a condition is expression text or a mapping field -> test, got {condition!r}")
    parts = [_compile_test(str(name), test) for name, test in condition.items()]
    if not parts:
        return None
    text = " and ".join(f"({p})" if " or " in p and len(parts) > 1 else p for p in parts)
    parse(text)
    return text


def condition_fields(condition: Any) -> tuple[str, ...]:
    """The fields (or variables) a condition reads, in either form; () for a condition that cannot be read."""
    from cdiscflow.core.expr import ExpressionError, names

    if isinstance(condition, Mapping):
        return tuple(str(k) for k in condition)
    if isinstance(condition, str):
        try:
            return names(condition)
        except ExpressionError:
            return ()
    return ()


def condition_codelists(condition: Any) -> tuple[str, ...]:
    """The codelists a condition looks values up in, in either form; () for a condition that cannot be read."""
    from cdiscflow.core.expr import ExpressionError, codelists_named

    try:
        text = compile_condition(condition)
        return codelists_named(text) if text else ()
    except ExpressionError:
        return ()


def reference(name: str) -> str:
    """How an expression names a field: plainly, or as field('NAME') when the name is no plain name."""
    from cdiscflow.core.expr import _FUNCTIONS

    plain = _PLAIN_NAME.match(name) and not keyword.iskeyword(name) and name not in _FUNCTIONS
    return name if plain and name not in ("True", "False", "None") else f"field({name!r})"


def _compile_test(name: str, test: Any) -> str:
    from cdiscflow.core.expr import ExpressionError

    ref = reference(name)
    if isinstance(test, Mapping) and "codelist" in test:
        ops = set(test) - {"codelist"}
        if len(ops) != 1 or not ops <= CODED_OPS:
            raise ExpressionError(f"{name}: a codelist test is {{codelist: CL, in: [...]}} or {{codelist: CL, not: ...}}")
        (op,) = ops
        return _one_of(f"codelist({ref}, {str(test['codelist'])!r})", test[op], negate=op == "not")
    if isinstance(test, Mapping):
        if len(test) != 1 or not set(test) <= CONDITION_OPS:
            raise ExpressionError(f"{name}: a test is one of {', '.join(sorted(CONDITION_OPS))}, got {dict(test)}")
        ((op, arg),) = test.items()
        if op == "present":
            return f"notna({ref})" if arg else f"isna({ref})"
        if op == "not":
            return _one_of(ref, arg, negate=True)
        return f"number({ref}) {_NUMERIC_OPS[op]} {arg!r}"
    return _one_of(ref, test, negate=False)


def _one_of(ref: str, values: Any, *, negate: bool) -> str:
    """`ref` (normalised) one of / none of `values`; a missing value is in no list."""
    values = values if isinstance(values, (list, tuple)) else [values]
    wanted = tuple(dict.fromkeys(normalise(str(v)) for v in values))
    listed = "(" + ", ".join(repr(w) for w in wanted) + ("," if len(wanted) == 1 else "") + ")"
    if negate:
        return f"isna({ref}) or normalise({ref}) not in {listed}"
    return f"normalise({ref}) in {listed}"
