"""pandera schemas generated from the spec, and their failures turned into findings (`SCH-...` rule IDs).

`build_schema(dataset)` turns one dataset of the spec (or of the implementation guide, see metadata.py) into a
`pandera.DataFrameSchema`: variables in spec order, Req variables present and never missing, Exp variables present,
Perm variables optional, type (Char/Num), byte length, codelist membership, ISO 8601 format and real calendar dates
for character dates, whole numbers for integers, and unique keys.  No schema is written by hand.

`validate_frame(frame, schema)` runs it lazily (every failure at once) and returns findings rows with the subject
(USUBJID of the failing record), the 1-based record number and the offending value.

Checks work on whole columns; text checks evaluate each distinct value once (see columns.per_unique).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as arrow
import pyarrow.compute as pc

from cdiscflow.core.findings import COLUMNS
from cdiscflow.specs.model import Codelist, Dataset
from cdiscflow.validation import iso8601
from cdiscflow.core.frames import per_unique
from cdiscflow.core.text import isin, text_set
from cdiscflow.validation.metadata import IG, STUDY, DatasetPlan, VariableCheck, plan_dataset, visible


@dataclass(frozen=True)
class SchemaCheck:
    id: str
    severity: str
    title: str
    severity_ig: str = ""  # severity when the metadata come from the implementation guide, if different

    def severity_for(self, source: str) -> str:
        return self.severity_ig if (source == IG and self.severity_ig) else self.severity


SCHEMA_CHECKS: Mapping[str, SchemaCheck] = {c.id: c for c in (
    SchemaCheck("SCH-DATASET-001", "warning", "Dataset not declared in the study spec (checked against the IG)"),
    SchemaCheck("SCH-COL-001", "error", "Required variable missing"),
    SchemaCheck("SCH-COL-002", "warning", "Expected variable missing"),
    SchemaCheck("SCH-COL-003", "error", "Variable not declared for the dataset", severity_ig="note"),
    SchemaCheck("SCH-COL-004", "warning", "Variables not in the declared order", severity_ig="note"),
    SchemaCheck("SCH-TYPE-001", "error", "Variable has the wrong type (Char/Num)"),
    SchemaCheck("SCH-NULL-001", "error", "Required variable has missing values"),
    SchemaCheck("SCH-CT-001", "error", "Value not in a non-extensible codelist"),
    SchemaCheck("SCH-CT-002", "warning", "Value not in an extensible codelist (new term)"),
    SchemaCheck("SCH-LEN-001", "error", "Value longer than the declared length in bytes"),
    SchemaCheck("SCH-DTC-001", "error", "Date/time is not ISO 8601"),
    SchemaCheck("SCH-DTC-002", "error", "Date/time does not exist in the calendar"),
    SchemaCheck("SCH-DUR-001", "error", "Duration is not ISO 8601"),
    SchemaCheck("SCH-INT-001", "error", "Integer variable has a fractional value"),
    SchemaCheck("SCH-KEY-001", "error", "Key variables do not identify records uniquely"),
    SchemaCheck("SCH-ERR-001", "error", "A schema check could not be evaluated"),
)}


# ----------------------------------------------------------------------------------------------------------------
# building


def build_schema(dataset_spec: Dataset | DatasetPlan, codelists: Mapping[str, Codelist] | None = None, *,
                 source: str = STUDY) -> pa.DataFrameSchema:
    """A pandera DataFrameSchema for one dataset of the spec.

    `codelists` are the study's codelists (`spec.codelists`); None reads the variables' codelist ids as CDISC CT
    C-codes, which is how guide-based datasets (`metadata.ig_dataset`) name them.  `source` (study or ig) decides
    how strictly undeclared and out-of-order variables are reported.
    """
    plan = dataset_spec if isinstance(dataset_spec, DatasetPlan) else plan_dataset(dataset_spec, codelists,
                                                                                     source=source)
    columns = {v.name: _column(v, plan) for v in plan.variables}
    return pa.DataFrameSchema(
        columns,
        strict=plan.strict, ordered=plan.ordered,
        unique=list(plan.keys) or None, report_duplicates="all",
        name=plan.name, title=plan.label, description=plan.basis,
        metadata={"cdiscflow": {"plan": plan}},
    )


def _column(v: VariableCheck, plan: DatasetPlan) -> pa.Column:
    checks = [_check("SCH-TYPE-001", _type_ok(v), scalar=True)]
    if v.char and v.max_bytes:
        checks.append(_check("SCH-LEN-001", _bytes_ok(v)))
    if v.codelist is not None:
        checks.append(_check("SCH-CT-002" if v.codelist.extensible else "SCH-CT-001", _codelist_ok(v)))
    if v.iso in (iso8601.DATETIME, iso8601.INTERVAL):
        checks.append(_check("SCH-DTC-001", _iso_ok(v, iso8601.BAD_FORMAT)))
        checks.append(_check("SCH-DTC-002", _iso_ok(v, iso8601.BAD_CALENDAR)))
    elif v.iso:
        checks.append(_check("SCH-DUR-001", _iso_ok(v, iso8601.BAD_FORMAT)))
    if v.integer:
        checks.append(_check("SCH-INT-001", _integer_ok(v)))
    return pa.Column(
        checks=checks, nullable=not v.never_null, required=v.required or v.expected, title=v.label,
        description=_describe(v), metadata={"core": v.core, "max_bytes": v.max_bytes,
                                            "codelist": v.codelist.code if v.codelist else ""},
    )


def _check(rule_id: str, fn: Callable[[pd.Series], object], scalar: bool = False) -> pa.Check:
    # no `error` text: pandera then reports the check by its name, which is the rule ID
    return pa.Check(fn, name=rule_id, ignore_na=not scalar)


def _describe(v: VariableCheck) -> str:
    bits = [f"{v.core or 'Perm'}", "Char" if v.char else "Num"]
    if v.max_bytes:
        bits.append(f"<= {v.max_bytes} bytes")
    if v.codelist is not None:
        bits.append(f"codelist {v.codelist.code or v.codelist.id}")
    if v.iso:
        bits.append(f"ISO 8601 {v.iso}")
    return ", ".join(bits)


# ----------------------------------------------------------------------------------------------------------------
# the checks (each takes the whole column; rows that a failed type check makes meaningless pass)


def _is_char_column(s: pd.Series) -> bool:
    if isinstance(s.dtype, pd.CategoricalDtype):  # text stored compactly (core.frames.compact)
        return _is_char_column(pd.Series(s.dtype.categories)) if len(s.dtype.categories) else True
    if pd.api.types.is_string_dtype(s.dtype) and s.dtype != object:
        return True
    if s.dtype == object:
        return pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty")
    return bool(s.isna().all())


def _is_num_column(s: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(s.dtype):
        return False
    if pd.api.types.is_numeric_dtype(s.dtype):
        return True
    if pd.api.types.is_datetime64_any_dtype(s.dtype) or isinstance(s.dtype, pd.PeriodDtype):
        return True  # ADaM dates/datetimes are datetime64 in memory (numeric SAS dates on export)
    return bool(s.isna().all())


def _type_ok(v: VariableCheck) -> Callable[[pd.Series], bool]:
    if v.char:
        return _is_char_column
    return _is_num_column


def _bytes_ok(v: VariableCheck) -> Callable[[pd.Series], pd.Series]:
    limit = v.max_bytes

    def fits(u: np.ndarray) -> np.ndarray:
        return pc.binary_length(arrow.array(u.astype(str), arrow.string())).to_numpy(zero_copy_only=False) <= limit

    def fn(s: pd.Series) -> pd.Series:
        if not _is_char_column(s):
            return pd.Series(True, index=s.index)
        # the limit is compared per distinct value; a missing value (no bytes) always fits
        return pd.Series(per_unique(s, fits, True), index=s.index)

    return _text_check(fn, fits)


def _text_check(fn: Callable[[pd.Series], pd.Series], per_value: Callable[[np.ndarray], np.ndarray]):
    """Mark a text check whose answer for a row depends on the row's value alone (missing rows pass, columns that
    are not text pass): `per_value` answers for distinct values, which is all `_passes` needs to know."""
    fn.per_value = per_value
    return fn


def _codelist_ok(v: VariableCheck) -> Callable[[pd.Series], pd.Series]:
    values = list(v.codelist.values)

    def fn(s: pd.Series) -> pd.Series:
        if not v.char:  # numeric variable: compare with the terms as numbers
            if not _is_num_column(s) or pd.api.types.is_datetime64_any_dtype(s.dtype):
                return pd.Series(True, index=s.index)
            return s.isin(pd.to_numeric(pd.Series(values), errors="coerce").dropna().tolist())
        if not _is_char_column(s):
            return pd.Series(True, index=s.index)
        ok = isin(s, values) | s.isna().to_numpy()
        if v.name.endswith("STRESC"):
            ok |= per_unique(s, _is_number_text, False)
        return pd.Series(ok, index=s.index)

    known: list = []  # the codelist's terms as isin compares them, built on first use

    def terms(u: np.ndarray) -> np.ndarray:
        if not known:
            known.append(text_set(values))
        try:
            text = arrow.array(u, type=arrow.large_string(), from_pandas=True)
        except (arrow.ArrowInvalid, arrow.ArrowTypeError):  # not all text: isin decides as for the rows
            ok = isin(pd.Series(u, dtype=object), values).to_numpy()
        else:
            ok = (np.zeros(len(u), dtype=bool) if known[0] is None
                  else pc.fill_null(pc.is_in(text, value_set=known[0]), False).to_numpy(zero_copy_only=False))
        return (ok | _is_number_text(u)) if v.name.endswith("STRESC") else ok

    return _text_check(fn, terms) if v.char else fn


def _is_number_text(values: np.ndarray) -> np.ndarray:
    """Text that is a number: a numeric result in a --STRESC (SDTMIG 3.4 section 4.5.1 copies it from --STRESN in
    standard format); the result codelist is for character results only."""
    return pd.to_numeric(pd.Series(values, dtype=object).astype(str), errors="coerce").notna().to_numpy()


def _iso_ok(v: VariableCheck, failing: int) -> Callable[[pd.Series], pd.Series]:
    def fn(s: pd.Series) -> pd.Series:
        if not _is_char_column(s):
            return pd.Series(True, index=s.index)
        return pd.Series(iso8601.status(s, v.iso) != failing, index=s.index)

    return _text_check(fn, lambda u: iso8601.value_status(u, v.iso) != failing)


def _integer_ok(v: VariableCheck) -> Callable[[pd.Series], pd.Series]:
    def fn(s: pd.Series) -> pd.Series:
        if not pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
            return pd.Series(True, index=s.index)
        x = s.to_numpy(dtype=float, na_value=np.nan)
        return pd.Series(np.isnan(x) | (x == np.floor(x)), index=s.index)

    return fn


# ----------------------------------------------------------------------------------------------------------------
# running


def validate_frame(frame: pd.DataFrame, schema: pa.DataFrameSchema, dataset: str | None = None) -> pd.DataFrame:
    """Run a schema lazily on one dataset and return its failures as findings rows (core.findings COLUMNS)."""
    plan: DatasetPlan = schema.metadata["cdiscflow"]["plan"]
    dataset = dataset or plan.name
    frame = frame.reset_index(drop=True)  # row number = position + 1
    if schema.unique and not set(schema.unique) <= set(frame.columns):
        # a missing key variable is reported as missing (SCH-COL-001); uniqueness of the rest would mislead
        schema = copy.copy(schema)
        schema.unique = None
    if _passes(frame, schema):  # the usual case: nothing for pandera to report, so pandera need not run
        return pd.DataFrame(columns=list(COLUMNS))
    try:
        schema.validate(frame, lazy=True, inplace=True)
        return pd.DataFrame(columns=list(COLUMNS))
    except pa.errors.SchemaErrors as exc:
        failures = exc.failure_cases
    return _findings(failures, frame, plan, dataset)


def _passes(frame: pd.DataFrame, schema: pa.DataFrameSchema) -> bool:
    """True when pandera would find nothing: every schema-level property holds and every check passes, evaluated as
    pandera evaluates them (the same check functions; NA dropped first for checks that ignore NA) but without its
    per-check machinery (about 3 ms per check, 1,265 checks on the embedded study).  False whenever in doubt (any
    failure, an exception, a layout this does not judge): pandera then runs and reports as before."""
    try:
        columns = list(frame.columns)
        if frame.columns.has_duplicates or any(not isinstance(c, str) for c in columns):
            return False
        declared = schema.columns
        if schema.checks or schema.index is not None or any(
                spec.regex or spec.unique or spec.dtype is not None for spec in declared.values()):
            return False
        if any(spec.required and name not in frame for name, spec in declared.items()):
            return False
        if schema.strict and any(c not in declared for c in columns):
            return False
        if schema.ordered and [c for c in columns if c in declared] != [c for c in declared if c in frame]:
            return False
        if schema.unique and repeats_a_key(frame, list(schema.unique)):
            return False
        for name, spec in declared.items():  # over the dataset's variables
            if name not in frame:
                continue
            series = frame[name]
            if not spec.nullable and series.isna().any():
                return False
            distinct = None
            for check in spec.checks:  # over the variable's checks
                if check.element_wise or check.groupby is not None:
                    return False
                per_value = getattr(check._check_fn, "per_value", None)
                if per_value is not None and check.ignore_na:  # a text check: judged on the distinct values
                    if not _is_char_column(series):
                        continue  # the check passes every row of a column that is not text
                    if distinct is None:
                        distinct = _distinct_values(series)
                    if not bool(np.asarray(per_value(distinct)).all()):
                        return False
                    continue
                data = series.dropna() if check.ignore_na and series.hasnans else series
                passed = check._check_fn(data)
                if not (bool(passed) if isinstance(passed, (bool, np.bool_)) else bool(np.asarray(passed).all())):
                    return False
    except Exception:  # pandera reports a check that cannot be evaluated (SCH-ERR-001)
        return False
    return True


def repeats_a_key(frame: pd.DataFrame, keys: list[str]) -> bool:
    """`frame.duplicated(subset=keys).any()` from each key column's codes (a categorical's own, other columns
    factorized as pandas does; missing equals missing), combined into one integer per row."""
    ids = np.zeros(len(frame), dtype=np.int64)
    size = 1
    for key in keys:  # over the key columns
        col = frame[key]
        if isinstance(col.dtype, pd.CategoricalDtype):
            codes, n = col.cat.codes.to_numpy(), len(col.dtype.categories)
        else:
            codes, distinct = pd.factorize(col, use_na_sentinel=True)
            n = len(distinct)
        if size * (n + 1) >= 2 ** 62:  # (Python integers): renumber the combinations so far densely first
            ids, seen = pd.factorize(ids)
            ids, size = ids.astype(np.int64), len(seen)
        ids = ids * (n + 1) + (codes.astype(np.int64) + 1)  # missing (-1) is 0
        size *= n + 1
    return not pd.Index(ids).is_unique


def _distinct_values(series: pd.Series) -> np.ndarray:
    """The distinct non-missing values of a column (a categorical's categories, used or not: an unused one that
    fails only sends the frame to pandera), as an object array."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return np.asarray(series.dtype.categories, dtype=object)
    return np.asarray(pd.factorize(series, use_na_sentinel=True)[1], dtype=object)


def _findings(fc: pd.DataFrame, frame: pd.DataFrame, plan: DatasetPlan, dataset: str) -> pd.DataFrame:
    fc = fc.reset_index(drop=True)
    check = fc["check"].astype(str)
    position = pd.to_numeric(fc["index"], errors="coerce")
    subjects = frame["USUBJID"] if "USUBJID" in frame.columns else None
    source = f"schema ({plan.basis})"
    parts = []

    named = check.str.startswith("SCH-")
    if named.any():
        part = fc[named]
        pos = position[named]
        rule = check[named]
        value = part["failure_case"]
        is_type = rule.eq("SCH-TYPE-001")
        if is_type.any():
            value = value.astype(object).where(~is_type, part["column"].map(lambda c: _dtype_text(frame, c)))
        parts.append(_rows(rule, part["column"], pos, value, subjects, plan, dataset, source))

    for pandera_check, rule_for in (("column_in_dataframe", _missing_rule), ("column_in_schema", lambda v: "SCH-COL-003"),
                                    ("column_ordered", lambda v: "SCH-COL-004")):
        sel = check.eq(pandera_check)
        if sel.any():
            names = fc.loc[sel, "failure_case"].astype(str)
            rule = names.map(lambda n: rule_for(plan_variable(plan, n)))
            parts.append(_rows(rule, names, pd.Series(np.nan, index=names.index), pd.Series("", index=names.index),
                               None, plan, dataset, source))

    sel = check.eq("not_nullable")
    if sel.any():
        parts.append(_rows(pd.Series("SCH-NULL-001", index=fc.index[sel]), fc.loc[sel, "column"], position[sel],
                           pd.Series("", index=fc.index[sel]), subjects, plan, dataset, source))

    sel = check.eq("multiple_fields_uniqueness")
    if sel.any():
        rows = pd.Index(position[sel].dropna().astype(int).unique()).sort_values()
        keys = [k for k in plan.keys if k in frame.columns]
        key_text = _joined(frame.loc[rows, keys])
        parts.append(_rows(pd.Series("SCH-KEY-001", index=rows), pd.Series(", ".join(keys), index=rows),
                           pd.Series(rows, index=rows, dtype=float), key_text, subjects, plan, dataset, source))

    known = named | check.isin(["column_in_dataframe", "column_in_schema", "column_ordered", "not_nullable",
                                "multiple_fields_uniqueness"])
    if (~known).any():
        other = fc[~known]
        msg = other["check"].astype(str) + ": " + other["failure_case"].astype(str)
        out = _rows(pd.Series("SCH-ERR-001", index=other.index), other["column"].fillna(""), position[~known],
                    pd.Series("", index=other.index), subjects, plan, dataset, source)
        out["message"] = f"{dataset}: schema check failed to run: " + msg.to_numpy()
        parts.append(out)

    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(COLUMNS))


def _joined(frame: pd.DataFrame) -> pd.Series:
    """Values of several columns as one text per row ("VALTEST / VALTEST-001 / 2020-01-10"), column by column."""
    out = pd.Series("", index=frame.index, dtype=object)
    for i, col in enumerate(frame.columns):
        text = frame[col].astype(object).where(frame[col].notna(), "").map(str)
        out = text if i == 0 else out + " / " + text
    return out


def plan_variable(plan: DatasetPlan, name: str) -> VariableCheck | None:
    try:
        return plan.variable(name)
    except KeyError:
        return None


def _missing_rule(v: VariableCheck | None) -> str:
    return "SCH-COL-001" if (v is not None and v.required) else "SCH-COL-002"


def _dtype_text(frame: pd.DataFrame, column: str) -> str:
    if column not in frame.columns:
        return ""
    dtype = frame[column].dtype
    if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype):
        return f"Num ({dtype})"
    return f"Char ({dtype})"


def _rows(rule: pd.Series, variable: pd.Series, position: pd.Series, value: pd.Series, subjects: pd.Series | None,
          plan: DatasetPlan, dataset: str, source: str) -> pd.DataFrame:
    rule = rule.astype(str)
    variable = variable.fillna("").astype(str)
    pos = pd.to_numeric(position, errors="coerce")
    has_pos = pos.notna()
    subject = pd.Series("", index=rule.index, dtype=object)
    if subjects is not None and has_pos.any():
        subject[has_pos] = subjects.to_numpy(dtype=object)[pos[has_pos].astype(int).to_numpy()]
    # message and expected depend on (rule, variable) only: build them once per pair
    pairs = pd.DataFrame({"rule": rule, "variable": variable}).drop_duplicates()
    text = {(r, v): _explain(r, v, plan, dataset) for r, v in pairs.itertuples(index=False)}
    keys = list(zip(rule, variable))
    return pd.DataFrame({
        "severity": rule.map({r: SCHEMA_CHECKS[r].severity_for(plan.source) for r in pairs["rule"].unique()})
                        .to_numpy(),
        "rule_id": rule.to_numpy(),
        "dataset": dataset,
        "variable": variable.to_numpy(),
        "subject": subject.fillna("").to_numpy(),
        "row": (pos + 1).astype("Int64").array,
        "value": value.astype(object).to_numpy(),
        "expected": [text[k][0] for k in keys],
        "message": [text[k][1] for k in keys],
        "source": source,
    })


def _explain(rule: str, var: str, plan: DatasetPlan, dataset: str) -> tuple[str, str]:
    """(expected, message) for a rule on a variable, in the user's words."""
    v = plan_variable(plan, var)
    where = f"{dataset}.{var}"
    basis = plan.basis
    if rule == "SCH-COL-001":
        return "present", f"{where} is Required ({basis}) but the dataset does not have it"
    if rule == "SCH-COL-002":
        return "present", f"{where} is Expected ({basis}): it must be present, even when all values are missing"
    if rule == "SCH-COL-003":
        if plan.source == IG:
            return "not present", (f"{where} is not a {basis} variable: keep it only if the SDTM model allows it for "
                                   f"the class, otherwise move it to a supplemental qualifier")
        return "not present", f"{where} is not declared for {dataset} in the study spec"
    if rule == "SCH-COL-004":
        order = ", ".join(x.name for x in plan.variables)
        return order, f"{where} is out of order: variables must follow the order of {basis}"
    if rule == "SCH-KEY-001":
        return "unique", f"{dataset}: records share the key ({var}); each key value must identify one record"
    if rule == "SCH-NULL-001":
        return "a value", f"{where} is Required ({basis}) and may not be missing"
    if v is None:
        return "", f"{where}: {SCHEMA_CHECKS[rule].title}"
    if rule == "SCH-TYPE-001":
        want = "Char" if v.char else "Num"
        return want, f"{where} must be {want} ({basis})"
    if rule in ("SCH-CT-001", "SCH-CT-002"):
        cl = v.codelist
        ref = f"codelist {cl.code or cl.id} ({cl.name})" if cl else "its codelist"
        values = [visible(x) for x in cl.values] if cl else []
        expected = " | ".join(values) if len(values) <= 12 else f"one of {len(values)} terms of {cl.code or cl.id}"
        if rule == "SCH-CT-001":
            return expected, f"{where}: value is not a term of {ref}, which is not extensible"
        return expected, (f"{where}: value is not a term of {ref}; the codelist is extensible, so declare the new "
                          f"term in the study's codelist and define.xml if it is intended")
    if rule == "SCH-LEN-001":
        return f"<= {v.max_bytes} bytes", f"{where}: value is longer than {v.max_bytes} bytes (UTF-8)"
    if rule == "SCH-DTC-001":
        return ("ISO 8601, e.g. 2020-03-15T10:30, 2020-03 or 2020---15",
                f"{where}: not an ISO 8601 date/time as SDTM writes it (unknown trailing parts are dropped, unknown "
                f"middle parts written as '-')")
    if rule == "SCH-DTC-002":
        return "a real date/time", f"{where}: the date/time does not exist (month 1-12, day within the month, hh <= 23)"
    if rule == "SCH-DUR-001":
        return "ISO 8601 duration, e.g. P28D or PT2H", f"{where}: not an ISO 8601 duration"
    if rule == "SCH-INT-001":
        return "a whole number", f"{where} is an integer variable but the value has a fraction"
    return "", f"{where}: {SCHEMA_CHECKS[rule].title}"
