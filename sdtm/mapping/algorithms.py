"""The mapping algorithms: one raw form's rows -> values of one target variable, over whole columns.

Every algorithm has the same signature (sdtm.oak's idea, executed from the spec instead of copied into code):

    algorithm(raw: RawForm, rule: Rule, target: Target) -> Written

`raw` holds only the rows the block (and the rule's `when`) selected; `Written.values` is aligned on its index (the
raw data row numbers); `Written.problems` lists the rows the algorithm could not map (unknown controlled term,
text where a number belongs) with the reason.  Nothing is passed through unmapped and nothing is dropped: the
caller reports every problem and decides (strict / reject).

    assign    the raw field as collected (several fields through a `format` such as "PART {PART} {VISIT}");
              `pattern: "^\\d+-(?P<value>\\d+)$"` keeps the part of the text in the group `value` (a value that
              does not match is a problem), `case: upper|lower` changes the case of the result
    ct        the collected value mapped to its submission value through the codelist's synonyms
              (`via: LBTESTCD` looks up in the paired codelist and takes the term with the same C-code)
    hardcode  a constant
    dtc       ISO 8601 date/time from a raw date field (+ `time:` field); partial dates keep their known parts
    derive    a named record-level derivation (see RECORD_DERIVATIONS)
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cdiscflow.core.expr import evaluate_condition
from cdiscflow.sdtm.raw.dates import combine_date_time
from cdiscflow.sdtm.raw.forms import RawForm, form_usubjid
from cdiscflow.core.text import constant, extract, join_text
from cdiscflow.core.text import lookup as lookup_text
from cdiscflow.core.text import arrow, squash_upper_arrow, text_series
from cdiscflow.specs.conditions import compile_condition
from cdiscflow.specs.model import Codelist, Rule, StudySpec, Variable


@dataclass(frozen=True)
class Target:
    """What a rule writes: a dataset variable (or a supplemental qualifier when `variable` is None)."""

    dataset: str
    name: str
    variable: Variable | None
    codelist: Codelist | None
    spec: StudySpec

    @property
    def numeric(self) -> bool:
        return self.variable is not None and self.variable.is_numeric


@dataclass
class Written:
    values: pd.Series
    problems: pd.DataFrame | None = None  # index = raw rows; columns rule_id, message, value, expected


def problems(mask: pd.Series, rule_id: str, message, value: pd.Series, expected: str) -> pd.DataFrame | None:
    if not mask.any():
        return None
    idx = mask[mask].index
    msg = message.reindex(idx) if isinstance(message, pd.Series) else message
    return pd.DataFrame({"rule_id": rule_id, "message": msg, "value": value.reindex(idx).astype(str),
                         "expected": expected}, index=idx)


# ---------------------------------------------------------------------------------------------------------------
# conditions


def condition_mask(data: pd.DataFrame, cond: Any, numbers: Mapping[str, pd.Series] | None = None,
                   codelists: Mapping[str, Codelist] | None = None) -> pd.Series:
    """Rows meeting a `where`/`when` condition: expression text, or the mapping form (see specs.model.Block) compiled
    to it; `numbers` are a raw form's typed number fields, `codelists` the study's (for ``codelist()``)."""
    mask = evaluate_condition(compile_condition(cond), data, numbers=numbers, codelists=codelists)
    return pd.Series(mask, index=data.index)


# ---------------------------------------------------------------------------------------------------------------
# the algorithms


def _typed(values: pd.Series, target: Target, raw: RawForm, fieldname: str | None) -> Written:
    if not target.numeric:
        return Written(values if values.dtype == "str" else values.astype(str))
    if fieldname is not None and fieldname in raw.numbers:
        return Written(raw.numbers[fieldname].reindex(values.index))
    num = pd.to_numeric(values, errors="coerce")
    bad = values.notna() & num.isna()
    return Written(num.astype("float64"), problems(bad, "MAP-TYPE", f"{target.name} needs a number", values, "number"))


def assign(raw: RawForm, rule: Rule, target: Target) -> Written:
    src = rule.source
    fields = list(src) if isinstance(src, (list, tuple)) else [src]
    values = _format(raw, rule.get("format"), fields) if rule.get("format") else raw.data[fields[0]]
    probs = None
    if rule.get("pattern"):
        values, probs = _extract(values, str(rule.get("pattern")), target)
    if rule.get("case"):
        values = values.str.upper() if rule.get("case") == "upper" else values.str.lower()
    as_collected = not (rule.get("format") or rule.get("pattern"))
    w = _typed(values, target, raw, fields[0] if as_collected else None)
    return Written(w.values, _concat([probs, w.problems]))


def _extract(values: pd.Series, pattern: str, target: Target) -> tuple[pd.Series, pd.DataFrame | None]:
    """The text in the group `value` of `pattern`; a filled value the pattern does not match is a problem."""
    part = extract(values, pattern)["value"]
    bad = values.notna() & part.isna()
    return part, problems(bad, "MAP-PATTERN", f"{target.name}: the collected value does not match {pattern}",
                          values, pattern)


def _format(raw: RawForm, template: str, fields) -> pd.Series:
    """Fill a template such as "PART {PART} {VISIT}" from raw fields; missing if any field is missing."""
    parts: list = []
    for literal, name, _, _ in string.Formatter().parse(template):
        parts += [literal] if literal else []
        parts += [raw.data[name]] if name else []
    return join_text(parts, raw.data.index)


def ct(raw: RawForm, rule: Rule, target: Target) -> Written:
    codelist = target.spec.codelist(rule.get("codelist") or target.codelist.id)
    via = rule.get("via")
    col = raw.data[rule.source]
    mapped = through_codelist(col, synonym_table(codelist, target.spec.codelist(via) if via else None))
    bad = col.notna() & mapped.isna()
    source = f"codelist {codelist.id}" + (f" {codelist.code}" if codelist.code else "") + (f" via {via}" if via else "")
    message = f"{target.name}: collected value is not a term or synonym of {source}"
    expected = "|".join((target.spec.codelist(via) if via else codelist).values[:12])
    w = _typed(mapped, target, raw, None)
    return Written(w.values, problems(bad, "MAP-CT", message, col, expected))


@lru_cache(maxsize=None)
def synonym_table(codelist: Codelist, paired: Codelist | None = None) -> tuple[pa.Array, pa.Array]:
    """(normalised collected values, their submission values) of a codelist as Arrow text, made once per codelist;
    with `paired` (a rule's `via`) the paired codelist's values and synonyms, each to the term of `codelist` with
    the same C-code."""
    lookup = dict(codelist.lookup())
    if paired is not None:
        by_code = {t.code: t.value for t in codelist.terms if t.code}
        lookup = {k: by_code.get(_code(paired, v)) for k, v in paired.lookup().items()}
        lookup = {k: v for k, v in lookup.items() if v is not None}
    return pa.array(list(lookup), type=pa.large_string()), pa.array(list(lookup.values()), type=pa.large_string())


def through_codelist(col: pd.Series, table: tuple[pa.Array, pa.Array]) -> pd.Series:
    """Collected text as submission values (`synonym_table`), missing where it is no term or synonym: each distinct
    value normalised as codelists compare text (core.text.squash_upper) and looked up once, in Arrow."""
    values = arrow(col)
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    encoded = pc.dictionary_encode(values)  # the distinct values; missing stays missing
    keys, terms = table
    found = pc.take(terms, pc.index_in(squash_upper_arrow(encoded.dictionary), value_set=keys))
    return text_series(pc.take(found, encoded.indices), col.index, col.name)


def _code(cl: Codelist, value: str) -> str | None:
    for t in cl.terms:
        if t.value == value:
            return t.code or None
    return None


def hardcode(raw: RawForm, rule: Rule, target: Target) -> Written:
    value = rule.source
    if target.numeric:
        return Written(pd.Series(float(value), index=raw.data.index))
    return Written(constant(str(value), raw.data.index))


def dtc(raw: RawForm, rule: Rule, target: Target) -> Written:
    date = raw.iso[rule.source]
    time = raw.iso.get(rule.get("time")) if rule.get("time") else None
    return Written(combine_date_time(date, time).astype(str))


# ---------------------------------------------------------------------------------------------------------------
# record-level derivations (a block rule `{derive: NAME, ...}`)


def _fields_through_codelist(raw: RawForm, rule: Rule, target: Target):
    """Each of the rule's `fields` mapped to submission values of the codelist, and the values that did not map."""
    codelist = target.spec.codelist(rule.get("codelist") or target.codelist.id)
    table = synonym_table(codelist)
    mapped, probs = [], []
    for f in rule.get("fields"):  # over fields
        col = raw.data[f]
        mapped.append(through_codelist(col, table))
        probs.append(problems(col.notna() & mapped[-1].isna(), "MAP-CT",
                              f"{target.name}: {f} is not a term or synonym of codelist {codelist.id}",
                              col, "|".join(codelist.values)))
    return codelist, mapped, _concat(probs)


def derive_most_severe(raw: RawForm, rule: Rule, target: Target) -> Written:
    """The term ranked first (codelist `order`) among several fields, e.g. the strongest causality over drugs."""
    codelist, mapped_cols, probs = _fields_through_codelist(raw, rule, target)
    rank = pd.Series({t.value: (t.order if t.order is not None else i) for i, t in enumerate(codelist.terms)},
                     dtype="float64")
    best = pd.Series(np.nan, index=raw.data.index)
    out = pd.Series(np.nan, index=raw.data.index, dtype=str)
    for mapped in mapped_cols:  # over fields
        r = lookup_text(mapped, rank)
        better = r.notna() & (best.isna() | (r < best))
        out = out.mask(better, mapped)
        best = best.mask(better, r)
    return Written(out, probs)


def derive_common_or(raw: RawForm, rule: Rule, target: Target) -> Written:
    """The common value of several fields (after CT); `otherwise` (e.g. MULTIPLE) when they differ.

    Blank fields do not count: one drug's action alone is the action.  Used for AEACN over per-drug actions.
    """
    _, mapped_cols, probs = _fields_through_codelist(raw, rule, target)
    first = mapped_cols[0]
    for col in mapped_cols[1:]:  # over fields: the first filled value
        first = first.fillna(col)
    differ = pd.Series(False, index=raw.data.index)
    for col in mapped_cols:  # over fields: a filled value other than the first one
        differ |= (col.notna() & (col != first)).fillna(False).astype(bool)
    out = first.mask(differ, str(rule.get("otherwise", "MULTIPLE")))
    return Written(out.astype(str), probs)


def derive_number(raw: RawForm, rule: Rule, target: Target) -> Written:
    """The numeric value of a text field where it is a number (e.g. LBSTRESN from "<0.5" stays missing).

    Optionally converted to another unit, `(value + add) * multiply / divide`, rounded half away from zero to `digits`
    decimals: `{derive: number, field: TEMP, add: -32, multiply: 5, divide: 9, digits: 2}` is degrees F in C.
    A text target (--STRESC) gets the number written plainly: 36.5, 37, 147.32 (no padding zeros, no "37.0").
    """
    value = pd.to_numeric(raw.data[rule.get("field")], errors="coerce").astype("float64")
    value = (value + float(rule.get("add", 0))) * float(rule.get("multiply", 1)) / float(rule.get("divide", 1))
    if rule.get("digits") is not None:
        value = round_half_away(value, int(rule.get("digits")))
    return Written(value if target.numeric else plain_number_text(value))


def round_half_away(values: pd.Series, digits: int) -> pd.Series:
    """Round half away from zero (as SAS ROUND and most protocols do; numpy rounds half to even).  A relative fuzz
    of 1e-12 keeps binary noise from deciding: 2.675 (stored as 2.67499999...) rounds to 2.68."""
    scale = 10.0 ** digits
    x = values.to_numpy(dtype="float64") * scale
    out = np.sign(x) * np.floor(np.abs(x) * (1 + 1e-12) + 0.5) / scale
    return pd.Series(out, index=values.index)


def plain_number_text(values: pd.Series) -> pd.Series:
    """Numbers as the shortest text that reads back the same value: 37.0 -> "37", 36.50 -> "36.5" (Arrow's cast)."""
    arr = pa.array(values.to_numpy(dtype="float64"), from_pandas=True)
    return text_series(pc.cast(arr, pa.string()), values.index)


def derive_study(raw: RawForm, rule: Rule, target: Target) -> Written:
    """A value from study.yaml (`key`, dotted for nested keys), e.g. COUNTRY from `country`."""
    value = study_value(target.spec, str(rule.get("key")))
    return Written(constant(str(value), raw.data.index))


def study_value(spec: StudySpec, key: str):
    value = spec.study
    for part in key.split("."):
        value = value[part]
    return value


def derive_usubjid(raw: RawForm, rule: Rule, target: Target) -> Written:
    return Written(form_usubjid(target.spec, raw))  # formatted once per form (sdtm.raw.forms.form_usubjid)


def _concat(parts) -> pd.DataFrame | None:
    parts = [p for p in parts if p is not None]
    return pd.concat(parts) if parts else None


Algorithm = Callable[[RawForm, Rule, Target], Written]
ALGORITHMS: dict[str, Algorithm] = {"assign": assign, "ct": ct, "hardcode": hardcode, "dtc": dtc}
RECORD_DERIVATIONS: dict[str, Algorithm] = {
    "most_severe": derive_most_severe,
    "common_or": derive_common_or,
    "usubjid": derive_usubjid,
    "number": derive_number,
    "study": derive_study,
}


def run_rule(raw: RawForm, rule: Rule, target: Target) -> Written:
    if rule.kind == "derive":
        return RECORD_DERIVATIONS[rule.source](raw, rule, target)
    return ALGORITHMS[rule.kind](raw, rule, target)
