"""ADBASE (BDS): the baseline characteristics of each subject at each registration, one record per parameter and
time point, so that a baseline table (the paper's Table 1) is a count or a median per PARAMCD and AVISIT.

Why a BDS dataset and not ADSL variables: the characteristics are measured at two registrations (Part A and
Part B), and ~50 of them would double ADSL into 100+ near-duplicate columns; as parameters they carry their source
record (SRCDOM/SRCVAR/SRCSEQ), and a table is one loop over PARAMCD.

``specs/<study>/adam/adbase.yaml``:

    timepoints:                    # AVISIT, AVISITN and the ADSL date of each time point (ADT); subjects without
      - {avisit: PART A REGISTRATION, avisitn: 100, date: ENRLDT}      # that date get no records there
      - {avisit: PART B REGISTRATION, avisitn: 200, date: PARTBDT}
    parameters:                    # PARAMCD: definition, derived in this order (PARAMN)
      WHOPS:                       # a value of one source record per subject and time point
        param: WHO Performance Status
        parcat1: DISEASE CHARACTERISTICS
        from: {dataset: RS, filter: RSTESTCD == 'WHOPS01' and VISITNUM == AVISITN, aval: RSSTRESN, avalc: RSSTRESC}
      LENEXP:                      # Y if any record of the sources qualifies at the time point, else N
        param: Prior Lenalidomide
        exists: [{dataset: CM, filter: CMDECOD == 'LENALIDOMIDE'}]
      LINESGT3:                    # from earlier parameters (by PARAMCD) and ADSL variables
        param: More Than 3 Prior Lines
        cases: {Y: NPRLINES > 3, N: NPRLINES <= 3}
      CACORR: {param: ..., expr: CA + (40 - ALB) * 0.02}

In `from`/`exists` filters and values, the time point is available as AVISIT, AVISITN and ADT (its date), e.g. an
age at registration: ``aval: {expr: completed_years(BRTHDT, ADT)}``.  `aval`/`avalc` name a source variable or
give ``{expr: ...}``.  In `cases`/`expr`, an earlier parameter is referenced by its PARAMCD (its AVAL when it has
one, else its AVALC; it hides an ADSL variable of the same name).  `keep: false` derives a helper parameter that
is not output.  A `from` parameter with two qualifying records for one subject and time point is an error (sharpen
the filter).
"""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from cdiscflow.adam.verbs.checks import SUBJECT_KEYS, describe_rows
from cdiscflow.adam.verbs.categories import VariableRule, variable_rule
from cdiscflow.adam.verbs.merge import inner_join_positions
from cdiscflow.core.expr import Expr, ExpressionError, evaluate_condition, evaluate_value, names, parse
from cdiscflow.adam.verbs.sources import SourceData
from cdiscflow.core.errors import InputError, SpecError
from cdiscflow.core.frames import is_text_category, text_categorical, with_columns
from cdiscflow.specs.model import NAME_RE, StudySpec

SECTION = "adam/adbase"
TIMEPOINT_VARS = ("AVISIT", "AVISITN", "ADT")


@dataclass(frozen=True)
class Timepoint:
    avisit: str
    avisitn: float
    date: str  # ADSL date variable


@dataclass(frozen=True)
class SourceRef:
    dataset: str
    filter: str | None = None
    aval: str | None = None  # variable name or expression
    avalc: str | None = None
    aval_is_expr: bool = False
    avalc_is_expr: bool = False


@dataclass(frozen=True)
class BaseParameter:
    paramcd: str
    param: str
    kind: str  # from | exists | rule
    parcat1: str | None = None
    source: SourceRef | None = None
    exists: tuple[SourceRef, ...] = ()
    rule: VariableRule | None = None
    keep: bool = True


@dataclass(frozen=True)
class AdbaseSpec:
    timepoints: tuple[Timepoint, ...]
    parameters: tuple[BaseParameter, ...] = field(default_factory=tuple)


def load_adbase_spec(spec: StudySpec, section: str = SECTION) -> AdbaseSpec:
    data = spec.section(section)
    where = f"{section}.yaml"
    if not isinstance(data, Mapping):
        raise SpecError(f"the study spec has no {where}", path=str(spec.path))
    problems = [f"{where}: unknown key '{k}' (expected timepoints, parameters)"
                for k in sorted(set(data) - {"description", "timepoints", "parameters"})]
    timepoints = []
    for i, tp in enumerate(data.get("timepoints") or ()):
        if not isinstance(tp, Mapping) or not isinstance(tp.get("avisit"), str) or not _name(tp.get("date")) \
                or not isinstance(tp.get("avisitn"), (int, float)):
            problems.append(f"{where}: timepoints[{i + 1}]: give avisit, avisitn (a number) and date (ADSL variable)")
            continue
        timepoints.append(Timepoint(tp["avisit"], float(tp["avisitn"]), tp["date"]))
    if not timepoints:
        problems.append(f"{where}: timepoints: list at least one time point")
    parameters = []
    for code, item in (data.get("parameters") or {}).items():
        loc = f"{where}: parameters.{code}"
        try:
            parameters.append(_parameter(str(code), item, loc))
        except (SpecError, ExpressionError, ValueError) as exc:
            problems.extend(exc.problems if isinstance(exc, SpecError) else [f"{loc}: {exc}"])
    if not parameters:
        problems.append(f"{where}: parameters: define at least one parameter")
    if problems:
        raise SpecError(problems, path=str(spec.path))
    return AdbaseSpec(tuple(timepoints), tuple(parameters))


_PARAM_KEYS = {"param", "parcat1", "from", "exists", "cases", "default", "expr", "keep"}


def _parameter(code: str, item: Any, loc: str) -> BaseParameter:
    if not NAME_RE.match(code):
        raise ValueError("PARAMCD must be 1-8 characters: upper-case letters, digits, _ and a leading letter")
    if not isinstance(item, Mapping) or not isinstance(item.get("param"), str):
        raise ValueError("give param (the PARAM text) and one of from, exists, cases, expr")
    unknown = sorted(set(item) - _PARAM_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)} (expected {', '.join(sorted(_PARAM_KEYS))})")
    kinds = [k for k in ("from", "exists", "cases", "expr") if k in item]
    if len(kinds) != 1:
        raise ValueError(f"give exactly one of from, exists, cases, expr (got {kinds or 'none'})")
    common = dict(paramcd=code, param=item["param"], parcat1=item.get("parcat1"), keep=bool(item.get("keep", True)))
    if kinds[0] == "from":
        return BaseParameter(kind="from", source=_source(item["from"], f"{loc}.from", value=True), **common)
    if kinds[0] == "exists":
        refs = item["exists"] if isinstance(item["exists"], (list, tuple)) else [item["exists"]]
        return BaseParameter(kind="exists", exists=tuple(_source(r, f"{loc}.exists", value=False) for r in refs),
                             **common)
    rule_spec = {k: item[k] for k in ("cases", "default", "expr") if k in item}
    return BaseParameter(kind="rule", rule=variable_rule(code, rule_spec, loc), **common)


def _source(item: Any, loc: str, *, value: bool) -> SourceRef:
    if not isinstance(item, Mapping) or not isinstance(item.get("dataset"), str):
        raise ValueError(f"{loc}: give dataset, filter" + (" and aval and/or avalc" if value else ""))
    allowed = {"dataset", "filter", "aval", "avalc"} if value else {"dataset", "filter"}
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise ValueError(f"{loc}: unknown key(s) {', '.join(unknown)} (expected {', '.join(sorted(allowed))})")
    if item.get("filter") is not None:
        parse(str(item["filter"]))
    parts: dict[str, Any] = {}
    for key in ("aval", "avalc"):
        raw = item.get(key)
        if raw is None:
            continue
        if isinstance(raw, Mapping) and set(raw) == {"expr"}:
            parse(str(raw["expr"]))
            parts[key], parts[f"{key}_is_expr"] = str(raw["expr"]), True
        elif _name(raw):
            parts[key] = raw
        else:
            raise ValueError(f"{loc}.{key}: a variable name or {{expr: ...}}, not {raw!r}")
    if value and not parts:
        raise ValueError(f"{loc}: give aval and/or avalc")
    flt = None if item.get("filter") is None else str(item["filter"])
    return SourceRef(dataset=item["dataset"].upper(), filter=flt, **parts)


def _name(value: Any) -> bool:
    return isinstance(value, str) and bool(NAME_RE.match(value))


# ----------------------------------------------------------------------------------------------------------------
# the recipe


def derive_adbase(spec: StudySpec, sources: SourceData, adsl: pd.DataFrame,
                  settings: AdbaseSpec | None = None) -> pd.DataFrame:
    """ADBASE (working frame, ASEQ assigned) from the study's parameter definitions; see the module text."""
    cfg = settings or load_adbase_spec(spec)
    grid = timepoint_grid(adsl, cfg.timepoints)
    dup = grid.duplicated([*SUBJECT_KEYS, "AVISITN"], keep=False).to_numpy()
    if dup.any():  # each grid row is one subject and time point: the parameters' values are put on it by row
        raise InputError(f"adbase.yaml: more than one time point row for a subject and AVISITN (ADSL not unique by "
                         f"subject, or two time points with one avisitn): "
                         f"{describe_rows(grid, dup, [*SUBJECT_KEYS, 'AVISITN'])}")
    wide = _Wide(grid)  # the ADSL variables, the time point and every parameter derived so far (by PARAMCD)
    # the subject keys held by code: each parameter's join with the grid then matches the distinct subjects only
    keyed = grid.assign(**{k: grid[k].astype("category") for k in SUBJECT_KEYS if grid[k].dtype == "str"})
    refs = [ref for par in cfg.parameters for ref in ((par.source,) if par.kind == "from" else par.exists)]
    inputs = _Inputs(sources, adsl, keyed, refs)
    parts: list[tuple[np.ndarray, Values]] = []
    for number, par in enumerate(cfg.parameters, start=1):
        if par.paramcd in (*SUBJECT_KEYS, *TIMEPOINT_VARS):
            raise SpecError(f"adbase.yaml: parameter {par.paramcd} has the name of a key or time point variable")
        if par.kind == "from":
            at, values = _from_source(par, inputs)
        elif par.kind == "exists":
            at, values = _exists(par, inputs)
        else:
            at, values = _from_rule(par, wide.frame())
        wide.add(par.paramcd, _wide_value(values, len(at)), at)
        if par.keep:
            parts.append((at, {**values, "PARAMCD": par.paramcd, "PARAM": par.param, "PARAMN": float(number),
                               "PARCAT1": None if par.parcat1 is None else str(par.parcat1)}))
    out = _assemble(grid, parts)
    parts.clear()  # the parameters' values are in `out` now: not held while it is sorted (a copy of it)
    out = out.sort_values([*SUBJECT_KEYS, "AVISITN", "PARAMN"], kind="stable", ignore_index=True)
    out["ASEQ"] = (out.groupby(list(SUBJECT_KEYS), sort=False).cumcount() + 1).astype("float64")
    return out


Values = dict[str, Any]  # a parameter's values per record (Series or arrays, by position) or one for all (scalars)
RECORD_COLUMNS = (*SUBJECT_KEYS, *TIMEPOINT_VARS, "AVAL", "AVALC", "SRCDOM", "SRCVAR", "SRCSEQ", "PARAMCD", "PARAM",
                  "PARAMN", "PARCAT1")
_TEXT_VALUES = ("AVALC", "SRCDOM", "SRCVAR", "PARAMCD", "PARAM", "PARCAT1")


def _wide_value(values: Values, rows: int) -> np.ndarray:
    """What a parameter is referenced by in later rules: its AVAL when it has one, else its AVALC."""
    aval = values["AVAL"]
    if isinstance(aval, pd.Series) and aval.notna().any():
        return aval.to_numpy()
    avalc = values["AVALC"]
    return (avalc if isinstance(avalc, pd.Series) else _missing_text(pd.RangeIndex(rows))).to_numpy()


def _assemble(grid: pd.DataFrame, parts: list[tuple[np.ndarray, Values]]) -> pd.DataFrame:
    """The records of every parameter as one frame, made once: the subject and time point of each from the grid
    rows it belongs to (one take per grid column over all records), the values concatenated, and every text column
    held by code (a categorical of its sorted values; the same values, order and missingness as concatenating the
    parameters' records): ADBASE has one record per subject, time point and parameter (9.7 million at 100,000
    subjects), and its text repeats a few values (PARAMCD, PARAM, AVISIT, SRCDOM ...), so the text itself is never
    concatenated on every record.  A value given once for a parameter (PARAMCD, SRCDOM ...) is coded once."""
    at = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, dtype=np.intp)
    lengths = [len(p[0]) for p in parts]
    columns: dict[str, Any] = {}
    for name in (*SUBJECT_KEYS, *TIMEPOINT_VARS):  # a loop over the grid's columns
        col = grid[name]
        if col.dtype == "str" or is_text_category(col):
            coded = text_categorical([pa.array(col.array)])  # the grid's few rows coded, then taken by code
            columns[name] = _used_only(coded.codes[at], coded.categories)
        else:
            columns[name] = col._values.take(at)
    for name in RECORD_COLUMNS[len(SUBJECT_KEYS) + len(TIMEPOINT_VARS):]:  # a loop over the value columns
        given = [p[1][name] for p in parts]
        if name in _TEXT_VALUES:
            columns[name] = _text_values(given, lengths)
        else:
            columns[name] = np.concatenate([np.full(n, v, dtype="float64") if np.ndim(v) == 0 else
                                            np.asarray(v, dtype="float64") for v, n in zip(given, lengths)]) \
                if parts else np.zeros(0)
    return pd.DataFrame(columns, index=pd.RangeIndex(len(at)))


def _text_values(given: list, lengths: list[int]) -> pd.Categorical:
    """One text column of the parameters' records as a categorical on the sorted values in use: each part's values
    are one text (or None) for all its records, or (AVALC) a text Series or None."""
    if all(isinstance(v, str) or v is None for v in given):  # one value per parameter: coded without Arrow
        words = sorted({v for v, n in zip(given, lengths) if v is not None and n})  # a part of no records: unused
        code = {w: i for i, w in enumerate(words)}
        codes = np.repeat(np.array([code.get(v, -1) for v in given], dtype=np.int64), lengths)
        return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(pd.Index(words, dtype="str")))
    # a loop over parameters: Arrow codes each part where it is (C), a missing part is nulls
    chunks = [pa.nulls(n, pa.large_string()) if v is None else pa.array(v.array) for v, n in zip(given, lengths)]
    coded = text_categorical(chunks)
    return _used_only(np.asarray(coded.codes), coded.categories)


def _used_only(codes: np.ndarray, categories: pd.Index) -> pd.Categorical:
    """A categorical of `codes` (-1: missing) keeping only the categories in use, in their order."""
    used = np.bincount(codes[codes >= 0], minlength=len(categories)) > 0
    if used.all():
        return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(categories, ordered=False))
    renumber = np.append(np.cumsum(used) - 1, -1)  # code -1 (missing) reads the appended -1
    return pd.Categorical.from_codes(renumber[codes], dtype=pd.CategoricalDtype(categories[used], ordered=False))


class _Wide:
    """The time point grid with one column per parameter derived so far: what merging each parameter's values onto
    the grid (left join on subject and AVISITN) gives, without copying the growing frame once per parameter.

    A parameter's column replaces an ADSL variable or an earlier parameter of its name and goes last; the frame
    is assembled only when a rule reads it."""

    def __init__(self, grid: pd.DataFrame):
        self.grid = grid
        self.hidden: list[str] = []  # grid columns a parameter of the same name replaces
        self.columns: dict[str, pd.Series] = {}
        self._frame: pd.DataFrame | None = None

    def add(self, name: str, values: np.ndarray, at: np.ndarray) -> None:
        """Put `values` on the grid as column `name`, each on grid row `at` (missing on the other rows)."""
        self._frame = None
        if name in self.grid.columns and name not in self.hidden:
            self.hidden.append(name)
        self.columns.pop(name, None)
        indexer = np.full(len(self.grid), -1, dtype=np.intp)  # -1 where the parameter has no value
        indexer[at] = np.arange(len(at), dtype=np.intp)
        taken = pd.api.extensions.take(pd.Series(values)._values, indexer, allow_fill=True)  # (as a frame holds it)
        self.columns[name] = pd.Series(taken, dtype=taken.dtype)

    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            base = self.grid.drop(columns=self.hidden) if self.hidden else self.grid
            self._frame = with_columns(base, self.columns) if self.columns else base.copy()
        return self._frame


def timepoint_grid(adsl: pd.DataFrame, timepoints: tuple[Timepoint, ...]) -> pd.DataFrame:
    """ADSL repeated per time point the subject reached (its date present), with AVISIT, AVISITN and ADT."""
    parts = []
    for tp in timepoints:
        if tp.date not in adsl.columns:
            raise InputError(f"adbase.yaml: time point {tp.avisit} uses ADSL.{tp.date}, which ADSL does not have")
        rows = adsl[adsl[tp.date].notna()]
        clash = [c for c in TIMEPOINT_VARS if c in rows.columns]
        part = rows.drop(columns=clash).assign(AVISIT=tp.avisit, AVISITN=tp.avisitn, ADT=rows[tp.date].dt.floor("D"))
        part["AVISIT"] = part["AVISIT"].astype("str")
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _split(condition: str | None, late: set[str]) -> tuple[list[str], str | None]:
    """Split an 'and' condition into the conditions that do not use the time point (applied before the join with
    the time points, each on its own) and the part that does."""
    if condition is None:
        return [], None
    body = parse(condition).body
    parts = body.values if isinstance(body, ast.BoolOp) and isinstance(body.op, ast.And) else [body]
    early = [ast.unparse(p) for p in parts if not (set(_names(p)) & late)]
    rest = [ast.unparse(p) for p in parts if set(_names(p)) & late]
    return early, (" and ".join(f"({p})" for p in rest) or None)


def _names(node: ast.AST) -> list[str]:
    return [n.id for n in ast.walk(node) if isinstance(n, ast.Name)]


_GRID_ROW = "__GRID_ROW__"  # in joined records: the grid row (subject and time point) each was joined with


class _Inputs:
    """What the parameters read: the SDTM sources and ADSL, the time point grid, and which records of a source
    meet each condition of a filter that does not read the time point.  A condition several filters share
    (CMCAT == 'PRIOR ANTI-MYELOMA THERAPY' is in 21 CM filters) is evaluated once and its records kept until its
    last use; the others are evaluated where they are used, as before (a mask a source record: at 100,000 subjects
    LB has 10 million records and nine parameters, each with its own LBTESTCD)."""

    def __init__(self, sources: SourceData, adsl: pd.DataFrame, grid: pd.DataFrame, refs: list[SourceRef]):
        self.sources, self.adsl, self.grid = sources, adsl, grid
        self._uses = Counter((ref.dataset, c) for ref in refs for c in _split(ref.filter, set(TIMEPOINT_VARS))[0])
        self._met: dict[tuple[str, str], np.ndarray] = {}

    def data(self, dataset: str) -> pd.DataFrame:
        return self.adsl if dataset == "ADSL" else self.sources[dataset]

    def meeting(self, dataset: str, conditions: list[str]) -> np.ndarray:
        """The records of `dataset` meeting every one of `conditions` (a missing value meets none)."""
        data = self.data(dataset)
        mask = np.ones(len(data), dtype=bool)
        for condition in conditions:  # over the 'and'-ed conditions of one filter
            key = (dataset, condition)
            met = self._met.pop(key, None)
            if met is None:
                met = evaluate_condition(condition, data, dataset=dataset)
            self._uses[key] -= 1
            if self._uses[key] > 0:  # used again later
                self._met[key] = met
            mask = mask & met
        return mask


def _joined(ref: SourceRef, inputs: _Inputs, values: tuple[str, ...] = (),
            mask: np.ndarray | None = None) -> pd.DataFrame:
    """The source records meeting the filter, one row per record and time point of its subject (`mask`: the
    records meeting the filter's conditions that do not read the time point, when the caller has them)."""
    data = inputs.data(ref.dataset)
    early, late = _split(ref.filter, set(TIMEPOINT_VARS))
    if mask is None:
        mask = inputs.meeting(ref.dataset, early)
    used = set(names(late)) if late else set()
    for v in values:
        used |= set(names(v))
    seq = f"{ref.dataset}SEQ" if f"{ref.dataset}SEQ" in data.columns else None
    missing = sorted(used - set(data.columns) - set(TIMEPOINT_VARS))
    if missing:
        raise InputError(f"adbase.yaml: {ref.dataset} lacks variable(s) {', '.join(missing)}")
    cols = [c for c in data.columns if (c in used or c in SUBJECT_KEYS or c == seq) and c not in TIMEPOINT_VARS]
    joined = _with_timepoints(data, mask, cols, inputs.grid)
    if late is not None:
        joined = joined.loc[evaluate_condition(late, joined, dataset=ref.dataset)]
    if seq:  # renamed in place: `joined` is a new frame here
        joined.columns = ["__SEQ__" if c == seq else c for c in joined.columns]
    return joined


def _with_timepoints(data: pd.DataFrame, mask: np.ndarray, cols: list[str], grid: pd.DataFrame) -> pd.DataFrame:
    """The `cols` of the `mask` rows of `data`, one row per time point of the record's subject: an inner join on
    the subject keys in pandas' merge order (record, then time point), each column taken once by row position,
    with the grid row of each (`_GRID_ROW`: the parameter's values go back onto the grid by it)."""
    selected = np.flatnonzero(mask)
    pairs = inner_join_positions(data[list(SUBJECT_KEYS)].iloc[selected], grid, list(SUBJECT_KEYS))
    if pairs is None:  # key dtypes differ: pandas' merge and its casting rules
        numbered = grid[[*SUBJECT_KEYS, *TIMEPOINT_VARS]].assign(**{_GRID_ROW: np.arange(len(grid))})
        return data.loc[mask, cols].merge(numbered, how="inner", on=list(SUBJECT_KEYS), sort=False)
    left, right = pairs
    records = selected[left]
    columns = {c: data[c]._values.take(records) for c in cols}
    columns.update({c: grid[c]._values.take(right) for c in TIMEPOINT_VARS})
    columns[_GRID_ROW] = right
    return pd.DataFrame(columns, index=pd.RangeIndex(len(right)))


def _from_source(par: BaseParameter, inputs: _Inputs) -> tuple[np.ndarray, Values]:
    """The grid row of each of the parameter's records and its values."""
    ref = par.source
    exprs = tuple(v for v in (ref.aval, ref.avalc) if v)
    rows = _joined(ref, inputs, exprs)
    at = rows[_GRID_ROW].to_numpy()
    dup = np.bincount(at, minlength=len(inputs.grid))[at] > 1  # a grid row is one subject and time point
    if dup.any():
        key = [*SUBJECT_KEYS, "AVISITN"]
        raise InputError(f"adbase.yaml: parameter {par.paramcd}: {ref.dataset} has more than one record meeting "
                         f"{ref.filter!r} for a subject and time point: {describe_rows(rows, dup, key)}")
    plain = ref.avalc if (ref.avalc and not ref.avalc_is_expr) else ref.aval if not ref.aval_is_expr else None
    return at, {
        "AVAL": _value(ref.aval, ref.aval_is_expr, rows, ref.dataset, numeric=True),
        "AVALC": _value(ref.avalc, ref.avalc_is_expr, rows, ref.dataset, numeric=False),
        "SRCDOM": ref.dataset, "SRCVAR": plain,
        "SRCSEQ": rows["__SEQ__"].astype("float64") if "__SEQ__" in rows.columns else np.nan}


def _value(source: str | None, is_expr: bool, rows: pd.DataFrame, dataset: str, *, numeric: bool) -> Any:
    if source is None:
        return np.nan if numeric else None
    value = evaluate_value(Expr(source), rows, dataset=dataset) if is_expr else rows[source]
    if numeric:
        return pd.to_numeric(value, errors="raise").astype("float64")
    if pd.api.types.is_numeric_dtype(value):
        raise InputError(f"adbase.yaml: avalc {source!r} of {dataset} is numeric; use aval")
    return value.astype("str")


def _exists(par: BaseParameter, inputs: _Inputs) -> tuple[np.ndarray, Values]:
    """Y/N per subject and time point of the grid: whether any of the sources has a record there."""
    hit = np.zeros(len(inputs.grid), dtype=bool)
    for ref in par.exists:  # over the parameter's sources (one or two)
        hit[_grid_rows(ref, inputs)] = True
    return np.arange(len(inputs.grid)), {"AVALC": pd.Series(np.where(hit, "Y", "N"), dtype="str"), "AVAL": np.nan,
                                  "SRCDOM": None, "SRCVAR": None, "SRCSEQ": np.nan}


def _grid_rows(ref: SourceRef, inputs: _Inputs) -> np.ndarray:
    """The grid rows (subject and time point) with a record of `ref` meeting its filter: from the join of those
    records' keys with the grid, or, when the filter reads the time point or the keys need pandas' merge, from the
    joined records (`_joined`, given the records already selected)."""
    early, late = _split(ref.filter, set(TIMEPOINT_VARS))
    mask = inputs.meeting(ref.dataset, early)  # each condition evaluated (or taken from the shared ones) once
    if late is None:
        rows = inputs.data(ref.dataset).loc[mask, list(SUBJECT_KEYS)]
        pairs = inner_join_positions(rows, inputs.grid, list(SUBJECT_KEYS))  # the selected records only
        if pairs is not None:
            return pairs[1]
    return _joined(ref, inputs, mask=mask)[_GRID_ROW].to_numpy()


def _missing_text(index: pd.Index) -> pd.Series:
    return pd.Series(np.nan, index=index, dtype="str")


def _from_rule(par: BaseParameter, wide: pd.DataFrame) -> tuple[np.ndarray, Values]:
    """The rule's value per subject and time point (grid row), where it has one."""
    result = par.rule.apply(wide.drop(columns=[par.paramcd], errors="ignore"), dataset_name="ADBASE")[par.paramcd]
    numeric = pd.api.types.is_numeric_dtype(result)
    kept = result.notna().to_numpy()
    result = result[kept]
    return np.flatnonzero(kept), {"AVAL": result.astype("float64") if numeric else np.nan,
                                  "AVALC": None if numeric else result.astype("str"),
                                  "SRCDOM": None, "SRCVAR": None, "SRCSEQ": np.nan}


__all__ = ["AdbaseSpec", "BaseParameter", "Timepoint", "derive_adbase", "load_adbase_spec", "timepoint_grid"]
