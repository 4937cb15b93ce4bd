"""Variables from ordered conditions ("case when") and from expressions, in code and as YAML data.

`derive_vars_cat` is admiral's `derive_vars_cat`: an ordered definition of conditions and the values they give;
the first condition that is true for a record decides, records no condition selects get the default (missing):

    adsl = derive_vars_cat(adsl, definition=[("AGE < 65", {"AGEGR1": "<65", "AGEGR1N": 1}),
                                             ("AGE >= 65", {"AGEGR1": ">=65", "AGEGR1N": 2})])

A study spec writes the same as data (`derive:` sections of `specs/<study>/adam/*.yaml`, read by
`load_variable_rules`), one entry per new variable, applied in the order written:

    derive:
      AGEGR1: {cases: {"<65": AGE < 65, "65-<75": AGE >= 65 and AGE < 75, ">=75": AGE >= 75}}
      RP2DFL: {cases: {Y: PARTBFL == 'Y' and DOSE02P == 45}, default: N}
      TSFTY:  {expr: (ENRLDT - FTRTDT) / days(365.25)}
      DOSE02U: mg/m2/day                               # a constant
      SITEGR1: {cases: {"900": "SITEID in ('702', '706')"}, default: {expr: SITEID}}  # default computed
      DTHADY: {duration: {start: TRTSDT, end: DTHDT}}  # admiral's derive_vars_duration (see DURATION_KEYS)
      LDDTHELD: {duration: {start: TRTEDT, end: DTHDT, add_one: false}}

Conditions and expressions are the language of `cdiscflow.core.expr` (a missing value never satisfies a
comparison, so a record with missing AGE gets no AGEGR1).  A `duration` is `adam.verbs.dates.derive_vars_duration`:
end - start in `unit` (days, weeks, months, years; default days), plus one day when `add_one` (default true) and
the duration is not negative, as admiral counts a same-day interval as 1 day (TRTDURD, DTHADY); missing when
either date is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from cdiscflow.adam.verbs.checks import check_frame
from cdiscflow.adam.verbs.dates import derive_vars_duration
from cdiscflow.core.expr import Condition, Expr, ExpressionError, evaluate_condition, evaluate_value, parse
from cdiscflow.core.errors import InputError, SpecError
from cdiscflow.specs.model import NAME_RE


def derive_vars_cat(
    dataset: pd.DataFrame,
    *,
    definition: Sequence[tuple[Condition, Mapping[str, Any]]],
    default: Mapping[str, Any] | None = None,
    dataset_name: str = "dataset",
) -> pd.DataFrame:
    """Add the variables named in `definition`: per record the values of the first condition that is true.

    Every entry must set the same variables.  Values are constants or `Expr` (computed from the record).  Records
    that no condition selects get `default` (missing when not given).  Stops if a new variable already exists."""
    check_frame(dataset, name=dataset_name)
    if not definition:
        raise ValueError("definition must list at least one (condition, values) entry")
    names = list(definition[0][1])
    for i, (_, values) in enumerate(definition):
        if list(values) != names:
            raise ValueError(f"definition entry {i + 1} sets {list(values)}, the first sets {names}: set the same "
                             "variables in every entry")
    unknown_default = sorted(set(default or {}) - set(names))
    if unknown_default:
        raise ValueError(f"default names {unknown_default}, which the definition does not set")
    clash = [n for n in names if n in dataset.columns]
    if clash:
        raise InputError(f"{dataset_name} already has {', '.join(clash)}; drop it first or choose another name")
    taken = np.zeros(len(dataset), dtype=bool)
    choice = np.full(len(dataset), -1, dtype=np.int64)
    for number, (condition, _) in enumerate(definition):
        hit = evaluate_condition(condition, dataset, dataset=dataset_name) & ~taken
        choice[hit] = number
        taken |= hit
    out = dataset.copy(deep=False)
    for name in names:
        options = [evaluate_value(values[name], dataset, dataset=dataset_name) for _, values in definition]
        fallback = evaluate_value((default or {}).get(name), dataset, dataset=dataset_name)
        out[name] = _pick(options, fallback, choice, dataset.index)
    return out


def _pick(options: list[Any], fallback: Any, choice: np.ndarray, index: pd.Index) -> pd.Series:
    """Per record the option `choice` selects (-1: the fallback): text stays text, dates dates, else numbers."""
    candidates = [*options, fallback]
    selected = np.where(choice < 0, len(options), choice)
    picked = np.full(len(index), None, dtype=object)
    for number, candidate in enumerate(candidates):
        rows = selected == number
        if not rows.any():
            continue
        picked[rows] = candidate.to_numpy(dtype=object)[rows] if isinstance(candidate, pd.Series) else candidate
    values = pd.Series(picked, index=index, dtype=object)
    kinds = {_kind(c) for c in candidates} - {None}
    if "text" in kinds:
        return values.where(values.notna(), None).astype("str")
    if kinds == {"date"}:
        return pd.to_datetime(values)
    return pd.to_numeric(values, errors="raise").astype("float64")


def _kind(value: Any) -> str | None:
    if isinstance(value, pd.Series):
        if pd.api.types.is_datetime64_any_dtype(value):
            return "date"
        return "number" if pd.api.types.is_numeric_dtype(value) or value.isna().all() else "text"
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return "date"
    return "text" if isinstance(value, str) else "number"


# ----------------------------------------------------------------------------------------------------------------
# rules as data


@dataclass(frozen=True)
class VariableRule:
    """One new variable of a `derive:` section: a constant, an expression, or ordered cases (value: condition)."""

    name: str
    kind: str  # constant | expr | cases | duration
    value: Any = None  # constant
    expr: str = ""
    cases: tuple[tuple[Any, str], ...] = ()  # (value, condition), first true wins
    default: Any = None
    duration: Mapping[str, Any] | None = None  # start, end, add_one, unit

    def apply(self, dataset: pd.DataFrame, *, dataset_name: str = "dataset") -> pd.DataFrame:
        if self.name in dataset.columns:
            raise InputError(f"{dataset_name} already has {self.name}; the derive rule for it would overwrite it")
        if self.kind == "duration":
            d = self.duration or {}
            return derive_vars_duration(dataset, new_var=self.name, start_date=d["start"], end_date=d["end"],
                                        add_one=d.get("add_one", True), out_unit=d.get("unit", "days"),
                                        dataset_name=dataset_name)
        if self.kind == "cases":
            return derive_vars_cat(dataset, definition=[(c, {self.name: v}) for v, c in self.cases],
                                   default={self.name: self.default}, dataset_name=dataset_name)
        value = Expr(self.expr) if self.kind == "expr" else self.value
        out = dataset.copy(deep=False)
        result = evaluate_value(value, dataset, dataset=dataset_name)
        if isinstance(result, pd.Series):
            out[self.name] = result
        elif isinstance(result, str):
            out[self.name] = pd.Series(result, index=dataset.index, dtype="str")
        else:
            out[self.name] = pd.Series(np.nan if result is None else result, index=dataset.index)
        return out


def load_variable_rules(section: Any, *, where: str) -> tuple[VariableRule, ...]:
    """Parse a `derive:` section ({VAR: rule}); raise SpecError listing every problem with its place."""
    if section is None:
        return ()
    if not isinstance(section, Mapping):
        raise SpecError(f"{where}: must map each new variable to {{cases: ...}}, {{expr: ...}} or a constant")
    problems, rules = [], []
    for name, spec in section.items():
        item = f"{where}.{name}"
        if not isinstance(name, str) or not NAME_RE.match(name):
            problems.append(f"{item}: {name!r} is not a variable name (1-8 of A-Z, 0-9, _)")
            continue
        try:
            rules.append(variable_rule(name, spec, item))
        except (ExpressionError, ValueError) as exc:
            problems.append(f"{item}: {exc}")
    if problems:
        raise SpecError(problems)
    return tuple(rules)


def variable_rule(name: str, spec: Any, item: str = "") -> VariableRule:
    """One rule of a `derive:` section (see the module text); ValueError/ExpressionError when malformed."""
    if isinstance(spec, Mapping):
        keys = set(spec)
        if keys == {"expr"}:
            parse(str(spec["expr"]))
            return VariableRule(name, "expr", expr=str(spec["expr"]))
        if keys == {"duration"}:
            return VariableRule(name, "duration", duration=_duration(spec["duration"]))
        if "cases" in keys and keys <= {"cases", "default"}:
            cases = spec["cases"]
            if not isinstance(cases, Mapping) or not cases:
                raise ValueError("cases must map each value to its condition, e.g. {Y: \"AGE >= 65\"}")
            pairs = []
            for value, condition in cases.items():
                parse(str(condition))
                pairs.append((value, str(condition)))
            default = spec.get("default")
            if isinstance(default, Mapping):
                if set(default) != {"expr"}:
                    raise ValueError("a computed default is written {expr: <expression>}")
                default = Expr(str(default["expr"]))
            return VariableRule(name, "cases", cases=tuple(pairs), default=default)
        raise ValueError(f"a rule is {{expr: ...}}, {{cases: {{value: condition}}, default: ...}}, "
                         f"{{duration: {{start: ..., end: ...}}}} or a constant, not keys {sorted(map(str, keys))}")
    if spec is None or isinstance(spec, (str, int, float)) and not isinstance(spec, bool):
        return VariableRule(name, "constant", value=spec)
    raise ValueError(f"{spec!r} is neither a constant nor a rule mapping")


DURATION_KEYS = {"start", "end", "add_one", "unit"}
_UNITS = ("days", "weeks", "months", "years")


def _duration(spec: Any) -> dict[str, Any]:
    """``{start: <date>, end: <date>, add_one: true|false, unit: days|weeks|months|years}``, checked."""
    if not isinstance(spec, Mapping) or not {"start", "end"} <= set(spec) or set(spec) - DURATION_KEYS:
        raise ValueError(f"duration must be {{start: <date variable>, end: <date variable>}} with optional add_one "
                         f"(true/false) and unit ({', '.join(_UNITS)})")
    for key in ("start", "end"):
        if not isinstance(spec[key], str) or not NAME_RE.match(spec[key]):
            raise ValueError(f"duration {key} {spec[key]!r} is not a variable name")
    if not isinstance(spec.get("add_one", True), bool):
        raise ValueError(f"duration add_one must be true or false, not {spec['add_one']!r}")
    if spec.get("unit", "days") not in _UNITS:
        raise ValueError(f"duration unit must be one of {', '.join(_UNITS)}, not {spec['unit']!r}")
    return dict(spec)


def apply_variable_rules(dataset: pd.DataFrame, rules: Sequence[VariableRule], *,
                         dataset_name: str = "dataset") -> pd.DataFrame:
    """Apply rules in order (a later rule may use the variables of earlier ones)."""
    for rule in rules:
        dataset = rule.apply(dataset, dataset_name=dataset_name)
    return dataset
