"""What to check in each dataset, read from the study spec or, for third-party data, from the implementation guides.

Both the pandera schemas (schema.py) and the great-expectations suites (datadocs.py) are generated from one
`DatasetPlan`, so the two can never disagree about a variable's core status, type, length, codelist or date format.

Sources, in order of preference:

* the study spec (`specs/<study>/`): `plan_dataset(spec.dataset("AE"), spec.codelists)`;
* SDTMIG 3.4 / ADaMIG 1.3 and CDISC CT from `specs/standards/` when there is no spec (or the spec does not declare the
  dataset): `ig_dataset("AE", columns)` builds the same `Dataset` model from the guide, with CT codelists keyed by
  their C-codes.  Natural keys for guide-based checks come from `specs/standards/ig-keys.csv`.

Two things widen a guide-based codelist check, so that a sponsor's declared terms are not reported as unknown:
`specs/standards/ig-ct-conflicts.csv` lists values the implementation guide itself prescribes although CDISC CT does
not hold them (AEACN = MULTIPLE; see `ig_ct_conflicts`), and `honour_define` adds the terms a define.xml declares
beyond CT (`Define.declared_extensions`) to an *extensible* CT codelist.  A non-extensible codelist stays closed.

`specs/standards/response-criteria.csv` lists the valid overall/target/non-target results per response criterion
(RSCAT) with a `rank` that orders all results best-first across criteria (sCR 1 ... NE 9); the RS and ADRS
conformance rules read it through `response_criteria()`.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from types import MappingProxyType
from typing import Iterable, Mapping

import pandas as pd

from cdiscflow.core.sasformats import format_kind
from cdiscflow.specs.cdisc import cdisc_codelist
from cdiscflow.specs.model import STANDARDS_DIR, Codelist, Dataset, Term, Variable
from cdiscflow.validation import iso8601

XPT_MAX_BYTES = 200  # SAS transport v5 character limit

STUDY, IG = "study", "ig"  # where a plan's metadata came from

_ISO_BY_DATATYPE = {
    "date": iso8601.DATETIME, "datetime": iso8601.DATETIME, "partialDate": iso8601.DATETIME,
    "partialDatetime": iso8601.DATETIME, "incompleteDatetime": iso8601.DATETIME,
    "intervalDatetime": iso8601.INTERVAL, "durationDatetime": iso8601.DURATION,
}
_ISO_BY_IG_DOMAIN = {  # SDTMIG "Described Value Domain(s)"
    "ISO 8601 datetime or interval": "intervalDatetime",
    "ISO 8601 duration": "durationDatetime",
    "ISO 8601 duration or interval": "durationDatetime",
}


@dataclass(frozen=True)
class VariableCheck:
    """Everything the schema checks about one variable."""

    name: str
    label: str
    core: str  # Req | Exp | Perm | Cond ('' counts as Perm)
    char: bool  # SAS type Char (else Num)
    max_bytes: int | None  # spec length, or the XPT v5 limit for character variables without one
    codelist: Codelist | None = None  # terms to check (None: no codelist, or an external dictionary)
    iso: str = ""  # iso8601 value domain for character dates/durations
    integer: bool = False  # whole numbers only
    date_num: bool = False  # numeric date/datetime (datetime64 allowed in memory)
    nullable_req: bool = False  # ADaM: Req means the variable is present (ADaMIG 1.3 3.1), values may be missing

    @property
    def required(self) -> bool:
        return self.core == "Req"

    @property
    def never_null(self) -> bool:
        """SDTM Req variables are never null; ADaM Req variables only when they are keys (an ADSL AGE stays missing
        when DM.AGE is, TRT02P for subjects who never entered period 2)."""
        return self.required and not self.nullable_req

    @property
    def expected(self) -> bool:
        return self.core == "Exp"


@dataclass(frozen=True)
class DatasetPlan:
    name: str
    label: str
    standard: str  # SDTM | ADaM
    source: str  # STUDY | IG
    basis: str  # "study DARA-ATRA", "SDTMIG 3.4 AE" ... (for messages and docs)
    variables: tuple[VariableCheck, ...]
    keys: tuple[str, ...]
    strict: bool  # variables not in the plan are reported
    ordered: bool  # variable order is checked

    def variable(self, name: str) -> VariableCheck:
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(f"{self.name} plan has no variable {name}")


# ----------------------------------------------------------------------------------------------------------------
# plans from the spec model


def plan_dataset(dataset: Dataset, codelists: Mapping[str, Codelist] | None = None, *, source: str = STUDY,
                 basis: str = "") -> DatasetPlan:
    """The checks for one dataset of the spec model.

    `codelists` maps the variables' codelist ids to codelists (a study spec's `codelists`); when it is None the ids
    are read as CDISC CT C-codes (several joined with '|' or ';' mean their union).
    """
    variables = tuple(_variable_check(v, codelists) for v in dataset.variables)
    if dataset.standard == "ADaM":
        variables = tuple(replace(v, nullable_req=v.name not in dataset.keys) for v in variables)
    return DatasetPlan(
        name=dataset.name, label=dataset.label, standard=dataset.standard, source=source,
        basis=basis or (f"study spec ({dataset.name})" if source == STUDY else dataset.name),
        variables=variables, keys=tuple(dataset.keys),
        strict=source == STUDY or dataset.standard == "SDTM",
        ordered=source == STUDY or dataset.standard == "SDTM",
    )


def _variable_check(v: Variable, codelists: Mapping[str, Codelist] | None) -> VariableCheck:
    char = v.sas_type == "Char"
    date_num = not char and bool(format_kind(v.display_format or ""))  # the one SAS format table
    iso = _ISO_BY_DATATYPE.get(v.datatype, "") if char else ""
    if char and not iso and re.search(r"(DTC|DTM)$", v.name):
        iso = iso8601.DATETIME
    cl = None
    if v.codelist:
        cl = codelists.get(v.codelist) if codelists is not None else ct_codelist(v.codelist)
        if cl is not None and (cl.dictionary or not cl.terms):
            cl = None
    return VariableCheck(
        name=v.name, label=v.label, core=v.core or "Perm", char=char,
        max_bytes=v.length if v.length else (XPT_MAX_BYTES if char else None),
        codelist=cl, iso=iso, integer=v.datatype == "integer" and not date_num, date_num=date_num,
    )


def ct_codelist(codes: str) -> Codelist | None:
    """A Codelist from the project's CDISC CT copy; several C-codes ('C66727; C114118') give their union."""
    return _ct_codelist(tuple(sorted({c.strip() for c in re.split(r"[;,|]", codes) if c.strip()})))


@lru_cache(maxsize=None)
def _ct_codelist(codes: tuple[str, ...]) -> Codelist | None:
    found = [(c, cdisc_codelist(c)) for c in codes]
    found = [(c, cl) for c, cl in found if cl is not None]
    if not found:
        return None
    terms: dict[str, Term] = {}
    for _, cl in found:
        for value, t in cl["terms"].items():
            terms.setdefault(value, Term(value, t["code"], t["decode"]))
    return Codelist(
        id="|".join(c for c, _ in found), name=" | ".join(cl["name"] for _, cl in found),
        code="|".join(c for c, _ in found), extensible=any(cl["extensible"] for _, cl in found),
        terms=tuple(terms.values()),
    )


# ----------------------------------------------------------------------------------------------------------------
# the implementation guides as a spec


def ig_dataset(name: str, columns: Iterable[str], *, domain: str | None = None, dtypes: Mapping[str, str] | None = None
               ) -> Dataset:
    """A `Dataset` built from SDTMIG 3.4 or ADaMIG 1.3 for data that come without a study spec.

    SDTM domains list all guide variables in guide order (SUPP-- uses SUPPQUAL; a split or custom dataset uses the
    domain named by `domain`).  ADaM datasets list the guide variables of their structure that the data use, plus the
    structure's required ones (placeholders such as TRTxxP match TRT01P).  Unknown datasets list their own columns.
    Codelist ids are CDISC CT C-codes; read them with `plan_dataset(ds, None, source=IG)`.
    """
    name = name.upper()
    columns = list(columns)
    if name.startswith("AD"):
        return _adam_dataset(name, columns, dtypes or {})
    ig_name = "SUPPQUAL" if name.startswith("SUPP") else name
    sdtm = _sdtmig()
    if ig_name not in sdtm and domain and domain.upper() in sdtm:
        ig_name = domain.upper()
    if ig_name not in sdtm:
        return _columns_dataset(name, "SDTM", columns, dtypes or {})
    label, rows = sdtm[ig_name]
    variables = tuple(
        Variable(dataset=name, name=r["variable"], label=r["label"],
                 datatype=_ig_datatype(r["type"], r["value_domain"]), order=i + 1, codelist=r["codelist_codes"],
                 core=r["core"], role=r["role"])
        for i, r in enumerate(rows)
    )
    return Dataset(name=name, label=label, standard="SDTM", cls=rows[0]["class"].upper() if rows else "",
                   structure="", keys=_ig_keys("SDTM", ig_name, {v.name for v in variables}), variables=variables)


def _ig_datatype(sas_type: str, value_domain: str) -> str:
    if sas_type == "Num":
        return "float"
    return _ISO_BY_IG_DOMAIN.get(value_domain, "text")


def _adam_dataset(name: str, columns: list[str], dtypes: Mapping[str, str]) -> Dataset:
    structure = "Subject-Level Analysis Dataset" if name == "ADSL" else (
        "Basic Data Structure" if "PARAMCD" in columns else "")
    exact, patterns = _adamig(structure) if structure else _adamig("*")
    chosen: dict[str, Variable] = {}

    def add(var: str, r: Mapping[str, str], core: str) -> None:
        if var in chosen:
            return
        dtype = "float" if r["type"] == "Num" else "text"
        if dtype == "float" and _DATE_NAME.search(var):
            dtype = "integer"
        fmt = ("DATE9." if var.endswith("DT") else "DATETIME20.") if dtype == "integer" else ""
        chosen[var] = Variable(dataset=name, name=var, label=r["label"], datatype=dtype, order=len(chosen) + 1,
                               codelist=r["codelist_codes"], core=core, display_format=fmt)

    for col in columns:
        r = exact.get(col)
        if r is None:
            r = next((pr for rx, pr in patterns if rx.match(col)), None)
        if r is not None:
            add(col, r, r["core"] if structure else "Perm")
        else:
            chosen[col] = _column_variable(name, col, len(chosen) + 1, dtypes.get(col, ""))
    if structure:
        for var, r in exact.items():
            if r["core"] == "Req" and var not in chosen:
                add(var, r, "Req")
        for rx, r in patterns:
            if r["core"] == "Req" and not any(rx.match(c) for c in columns):
                add(_placeholder_example(r["variable"]), r, "Req")
    keys = _ig_keys("ADaM", name, set(chosen))
    return Dataset(name=name, label=structure or name, standard="ADaM", cls=structure.upper(), structure=structure,
                   keys=keys, variables=tuple(chosen.values()))


_DATE_NAME = re.compile(r"(DT|DTM)$")


def _columns_dataset(name: str, standard: str, columns: list[str], dtypes: Mapping[str, str]) -> Dataset:
    return Dataset(name=name, label=name, standard=standard, cls="", structure="", keys=(),
                   variables=tuple(_column_variable(name, c, i + 1, dtypes.get(c, "")) for i, c in enumerate(columns)))


def _column_variable(dataset: str, col: str, order: int, dtype: str) -> Variable:
    """A variable the guide does not know: typed by its data, checked only for what its name promises."""
    numeric = dtype.startswith(("float", "int", "uint", "datetime"))
    return Variable(dataset=dataset, name=col, label=col, datatype="float" if numeric else "text", order=order,
                    core="Perm", display_format="DATE9." if dtype.startswith("datetime") else "")


def _ig_keys(standard: str, dataset: str, names: set[str]) -> tuple[str, ...]:
    keys = _keys().get((standard, dataset), ())
    return keys if all(k in names for k in keys) else ()


@lru_cache(maxsize=None)
def _keys() -> Mapping[tuple[str, str], tuple[str, ...]]:
    with open(STANDARDS_DIR / "ig-keys.csv", encoding="utf-8") as fh:
        return {(r["standard"], r["dataset"]): tuple(k.strip() for k in r["keys"].split(","))
                for r in csv.DictReader(fh)}


@lru_cache(maxsize=None)
def _sdtmig() -> Mapping[str, tuple[str, list[dict[str, str]]]]:
    with open(STANDARDS_DIR / "sdtmig-3.4.datasets.csv", encoding="utf-8") as fh:
        labels = {r["dataset"]: r["label"] for r in csv.DictReader(fh)}
    out: dict[str, tuple[str, list[dict[str, str]]]] = {}
    with open(STANDARDS_DIR / "sdtmig-3.4.variables.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            out.setdefault(r["dataset"], (labels.get(r["dataset"], r["dataset"]), []))[1].append(r)
    for _, rows in out.values():
        rows.sort(key=lambda r: int(r["order"] or 0))
    return out


@lru_cache(maxsize=None)
def _adamig(structure: str) -> tuple[Mapping[str, dict[str, str]], tuple[tuple[re.Pattern, dict[str, str]], ...]]:
    """Exact-name and placeholder variables of an ADaMIG structure ('*': all structures)."""
    exact: dict[str, dict[str, str]] = {}
    patterns: list[tuple[re.Pattern, dict[str, str]]] = []
    with open(STANDARDS_DIR / "adamig-1.3.variables.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if structure != "*" and r["structure"] != structure:
                continue
            var = r["variable"]
            if var == var.upper() and "*" not in var:
                exact.setdefault(var, r)
            else:
                patterns.append((_placeholder_regex(var), r))
    return exact, tuple(patterns)


def _placeholder_regex(var: str) -> re.Pattern:
    rx = re.escape(var).replace("xx", r"\d\d").replace("zz", r"\d\d").replace("y", r"\d").replace("w", r"\d")
    return re.compile("^" + rx.replace(r"\*", "[A-Z][A-Z0-9]*") + "$")


def _placeholder_example(var: str) -> str:
    return var.replace("xx", "01").replace("zz", "01").replace("y", "1").replace("w", "1").replace("*", "")


# ----------------------------------------------------------------------------------------------------------------
# response criteria


@lru_cache(maxsize=None)
def response_criteria() -> pd.DataFrame:
    """rscat, rstestcd, result, rank (best first across criteria) from specs/standards/response-criteria.csv."""
    frame = pd.read_csv(STANDARDS_DIR / "response-criteria.csv", dtype=str, keep_default_na=False)
    frame["rank"] = frame["rank"].astype(int)
    return frame[["rscat", "rstestcd", "result", "rank"]]


@lru_cache(maxsize=None)
def ig_ct_conflicts() -> Mapping[tuple[str, str], tuple[str, ...]]:
    """(dataset, variable) -> values the implementation guide prescribes that CDISC CT does not list
    (specs/standards/ig-ct-conflicts.csv, with the guide's reference and the choice made)."""
    with open(STANDARDS_DIR / "ig-ct-conflicts.csv", encoding="utf-8") as fh:
        out: dict[tuple[str, str], tuple[str, ...]] = {}
        for r in csv.DictReader(fh):
            out[(r["dataset"], r["variable"])] = out.get((r["dataset"], r["variable"]), ()) + (r["value"],)
    return MappingProxyType(out)


def _with_terms(v: VariableCheck, values: Iterable[str], why: str) -> VariableCheck:
    """The variable's codelist check widened by `values` (kept in order, each once)."""
    known = set(v.codelist.values)
    extra = tuple(Term(x, "", why) for x in sorted(set(values) - known))
    if not extra:
        return v
    return replace(v, codelist=replace(v.codelist, terms=v.codelist.terms + extra))


def honour_define(plan: DatasetPlan, define) -> DatasetPlan:
    """A guide-based plan that accepts what `define` (a validation.define.Define) declares beyond CDISC CT for each
    variable whose CT codelist is extensible: its extended values (def:ExtendedValue="Yes") and the terms of its
    sponsor codelists.  Study-spec plans and non-extensible codelists are returned unchanged."""
    if plan.source != IG or define is None:
        return plan
    variables = tuple(
        _with_terms(v, define.declared_extensions(plan.name, v.name), "declared in define.xml")
        if v.codelist is not None and v.codelist.extensible else v
        for v in plan.variables
    )
    return replace(plan, variables=variables)


def ig_plan(name: str, frame: pd.DataFrame) -> DatasetPlan:
    """The guide-based plan for a dataset that comes without a study spec (see `ig_dataset`)."""
    domain = None
    for col in ("RDOMAIN", "DOMAIN"):
        if col in frame.columns and frame[col].notna().any():
            domain = str(frame[col].dropna().iloc[0])
    ds = ig_dataset(name, frame.columns, domain=domain, dtypes={c: str(t) for c, t in frame.dtypes.items()})
    if ds.standard == "ADaM":
        basis = f"ADaMIG 1.3 {ds.structure}" if ds.structure else f"ADaMIG 1.3 (no structure known for {name})"
    elif ds.cls:
        ig_name = "SUPPQUAL" if name.upper().startswith("SUPP") else (
            name.upper() if name.upper() in _sdtmig() else (domain or name).upper())
        basis = f"SDTMIG 3.4 {ig_name}"
    else:
        basis = f"SDTMIG 3.4 (no domain {name})"
    plan = plan_dataset(ds, None, source=IG, basis=basis)
    conflicts = ig_ct_conflicts()
    return replace(plan, variables=tuple(
        _with_terms(v, conflicts.get((name.upper(), v.name), ()), "prescribed by the implementation guide")
        if v.codelist is not None else v for v in plan.variables))


def visible(value: object) -> str:
    """A value as text a person can read in a findings table: invisible characters (a trailing non-breaking space,
    a tab) are shown escaped and quoted, e.g. 'F\\xa0'; ordinary values are left as they are."""
    text = str(value)
    if text.isprintable() and text == text.strip():
        return text
    return repr(text)
