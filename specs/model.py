"""The study spec: typed, read-only metadata loaded from a folder and checked on load.

A study is a folder of plain files people edit in a spreadsheet or text editor:

    study.yaml        identity, data cut, standards and CT versions, raw-export settings, options for later layers
    datasets.csv      one row per dataset: standard, name, label, class, structure, keys ...
    variables.csv     one row per variable: dataset, order, name, label, datatype, length, codelist, origin, core ...
                      (optional: mandatory Yes/No for define.xml, pages in the annotated CRF)
    valuelevel.csv    value-level metadata (RS by RSTESTCD, SUPP-- by QNAM, ADaM by PARAMCD ...); blank label, length,
                      display format, significant digits and origin are the variable's
    codelists.csv     one row per term: codelist, C-codes, submission value, decode, collected synonyms
    methods.csv       derivation methods referenced from variables.csv (for define.xml and for people)
    comments.csv      optional: comments a `comment` cell may name by id (else the cell is the comment's text)
    documents.csv     optional: documents (annotated CRF, reviewer's guides) that pages and comments point into
    forms.yaml        the raw form dictionary: files (CSV, Parquet, XPT), fields, types, date formats, keys;
                      a field may accept alternative formats tried in order: `format: [MM/DD/YYYY, YYYY]`
    sdtm/*.yaml       mapping of raw forms to SDTM datasets (one file per dataset; rules: see `Rule`)
    comparison.yaml   optional: a reference SDTM of the same study and every known difference (sdtm.compare)
    other *.yaml      further sections (trial design, ADaM parameters ...) read by the layer that owns them

Blank label/core/role cells of standard variables are filled from the implementation guide (the project's copy in
`specs/standards/`), so a study spec only states what it decides.  Every problem found on load is reported at once
in a `SpecError` naming the file, line and item.

This module is the model (the frozen dataclasses a spec loads into); reading a folder into it is specs/load.py
(`load_study`), the SDTM mapping files and raw forms specs/load_mappings.py, the project's copies of the CDISC
standards specs/cdisc.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping, TypeVar

from cdiscflow.core.text import normalise  # noqa: F401 (read from here by the loaders and the engines)
from cdiscflow.core.errors import SpecError

SPECS_DIR = Path(__file__).resolve().parent
STANDARDS_DIR = SPECS_DIR / "standards"
DEFAULT_STUDY = "dara_atra"
T = TypeVar("T")  # what StudySpec.built keeps

NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,7}$")
DATATYPES = {  # define.xml 2.1 data types -> SAS type
    "text": "Char", "integer": "Num", "float": "Num", "date": "Char", "datetime": "Char", "time": "Char",
    "partialDate": "Char", "partialTime": "Char", "partialDatetime": "Char", "incompleteDatetime": "Char",
    "durationDatetime": "Char", "intervalDatetime": "Char",
}
ORIGINS = {"Collected", "Derived", "Assigned", "Protocol", "Predecessor", "Not Available", "Other"}
CORES = {"Req", "Exp", "Perm", "Cond"}
METHOD_TYPES = ("Computation", "Imputation", "Transpose", "Other")  # define.xml MethodDef Type
STANDARDS = {"SDTM", "ADaM"}
FIELD_TYPES = {"text", "integer", "float", "date", "time", "datetime"}
RULE_KINDS = {"assign", "ct", "hardcode", "dtc", "derive"}
# sdtm.oak's algorithm names, accepted in a mapping rule as aliases of our keys (an oak user finds them); the loader
# renames them on load, so the engines only ever see our keys.  hardcode_ct is a hardcode that must have a codelist
# (as ct must); condition_add, oak's conditioning of the raw rows an algorithm applies to, is the rule's `when`.
OAK_ALIASES: Mapping[str, str] = MappingProxyType({
    "assign_no_ct": "assign", "assign_ct": "ct", "hardcode_no_ct": "hardcode", "hardcode_ct": "hardcode",
    "assign_datetime": "dtc", "condition_add": "when",
})
# ----------------------------------------------------------------------------------------------------------------
# Model


@dataclass(frozen=True)
class Term:
    value: str  # submission value
    code: str = ""  # NCI C-code; blank for sponsor-defined terms
    decode: str = ""
    synonyms: tuple[str, ...] = ()  # collected values that mean this term
    order: int | None = None


@dataclass(frozen=True)
class Codelist:
    id: str  # short name used in the spec (e.g. SEX, NY, AEACN)
    name: str
    code: str = ""  # NCI codelist C-code
    extensible: bool = False
    datatype: str = "text"
    terms: tuple[Term, ...] = ()
    dictionary: str = ""  # external dictionary (MedDRA, CTCAE ...) instead of terms
    version: str = ""

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(t.value for t in self.terms)

    def lookup(self) -> Mapping[str, str]:
        """Normalised collected value (submission value, decode or synonym) -> submission value."""
        return _lookup(self)


@lru_cache(maxsize=None)
def _lookup(cl: Codelist) -> Mapping[str, str]:
    table: dict[str, str] = {}
    for t in cl.terms:  # a submission value is its own term, even where it is another term's decode or synonym
        table.setdefault(normalise(t.value), t.value)
    for t in cl.terms:
        for v in (t.decode, *t.synonyms):
            if v:
                table.setdefault(normalise(v), t.value)
    return MappingProxyType(table)


def _condition_fields(condition: Any) -> tuple[str, ...]:
    from cdiscflow.specs.conditions import condition_fields

    return condition_fields(condition)




@dataclass(frozen=True)
class Variable:
    dataset: str
    name: str
    label: str
    datatype: str
    order: int
    length: int | None = None  # None: set from the longest value on export (character) or 8 (numeric)
    codelist: str = ""
    origin: str = ""
    source: str = ""  # CRF page, predecessor (DM.AGE) or other origin detail
    core: str = ""
    role: str = ""
    display_format: str = ""  # DATE9., DATETIME20. ...
    method: str = ""  # id in methods.csv
    significant_digits: int | None = None
    comment: str = ""  # the comment's text, or the id of a comments.csv row
    mandatory: str = ""  # define.xml ItemRef Mandatory (Yes/No); blank: Yes for core Req, else No
    pages: str = ""  # page references in the annotated CRF ("12 13", "12-14"); "DOC: refs" for another document

    @property
    def sas_type(self) -> str:
        return DATATYPES[self.datatype]

    @property
    def is_numeric(self) -> bool:
        return self.sas_type == "Num"


@dataclass(frozen=True)
class Dataset:
    name: str
    label: str
    standard: str  # SDTM | ADaM
    cls: str  # define.xml class: SPECIAL PURPOSE, EVENTS, ..., SUBJECT LEVEL ANALYSIS DATASET, BASIC DATA STRUCTURE
    structure: str
    keys: tuple[str, ...]
    variables: tuple[Variable, ...]
    subclass: str = ""
    repeating: bool = True
    reference_data: bool = False
    comment: str = ""

    @property
    def domain(self) -> str:
        return self.name

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables)

    def variable(self, name: str) -> Variable:
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(f"{self.name} has no variable {name}")

    def __contains__(self, name: str) -> bool:
        return any(v.name == name for v in self.variables)


@dataclass(frozen=True)
class WhereClause:
    variable: str
    comparator: str  # EQ, NE, IN, NOTIN
    values: tuple[str, ...]


@dataclass(frozen=True)
class ValueLevel:
    dataset: str
    variable: str
    where: tuple[WhereClause, ...]
    datatype: str
    length: int | None = None
    codelist: str = ""
    origin: str = ""
    label: str = ""
    method: str = ""
    display_format: str = ""
    comment: str = ""
    significant_digits: int | None = None
    mandatory: str = ""
    source: str = ""
    pages: str = ""


@dataclass(frozen=True)
class Method:
    id: str
    name: str
    type: str  # Computation | Imputation | Transpose | Other
    description: str
    expression_context: str = ""  # define.xml FormalExpression Context (e.g. SAS 9.4) and code
    expression_code: str = ""
    document: str = ""  # id in documents.csv, with page references
    pages: str = ""


@dataclass(frozen=True)
class Comment:
    id: str
    description: str
    document: str = ""
    pages: str = ""


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    href: str
    kind: str = ""  # acrf (the annotated CRF variable pages point into) | supplemental | blank


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    datatype: str  # text | integer | float | date | time | datetime
    format: str = ""  # raw date/time format, e.g. DD-MON-YYYY, HH:MM; alternatives tried in order: "MM/DD/YYYY|YYYY"
    codelist: str = ""
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Form:
    name: str
    file: str
    label: str
    keys: tuple[str, ...]
    fields: tuple[FormField, ...]
    description: str = ""

    def field(self, name: str) -> FormField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"form {self.name} has no field {name}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


@dataclass(frozen=True)
class Rule:
    """One mapping rule for one target variable: `kind` is the algorithm, `args` its settings (read-only).

    `when` (optional) limits the rule to raw rows meeting a condition (see `Block.where`).

    Block rules (sdtm/<dataset>.yaml `map:`; a bare field name is short for `{assign: FIELD}`):
        {assign: FIELD}                              the value as collected
        {assign: [A, B], format: "PART {A} {B}"}     several fields through a template
        {assign: FIELD, pattern: "^\\d+-(?P<value>\\d+)$"}   the part in group `value` (other groups (?:...));
                                                     a value that does not match is a MAP-PATTERN problem
        {assign: FIELD, case: upper|lower}           the value (or part) in upper/lower case
        {ct: FIELD, codelist: CL}                    the submission value of the collected value or synonym
        {hardcode: VALUE}                            a constant (checked against the variable's codelist)
        {dtc: DATEFIELD, time: TIMEFIELD}            ISO 8601 from the raw date (+ time)
        {derive: number, field: F, add: A, multiply: M, divide: D, digits: N}
                                                     the number in F, optionally (F + A) * M / D rounded half away
                                                     from zero to N decimals: a unit conversion for --STRESC/N
        {derive: NAME, ...}                          another record derivation (sdtm.mapping.algorithms)
    sdtm.oak's algorithm names are accepted for ours (OAK_ALIASES): assign_no_ct = assign, assign_ct = ct,
    hardcode_no_ct = hardcode, hardcode_ct = hardcode with a codelist, assign_datetime = dtc, condition_add = when.

    Dataset-level rules (`derive:`) name a derivation of sdtm.mapping.derivations and its arguments, e.g.
        {derive: numeric, variable: VSSTRESC}        --STRESN from --STRESC
        {derive: visitnum, visit: VISIT, number_from: "^UNSCHEDULED (?P<value>[\\d.]+)$"}
        {derive: visitdy, visitnum: VISITNUM}        planned study day from TV
        {derive: last_date, sources: [{dataset: DS, date: DSSTDTC}, {form: ds, date: DEATHDT}]}
    with `when:` (conditions on the dataset's own variables: derive only for those records) and `fill: true`
    (derive only where the blocks left the variable missing).
    """

    kind: str  # assign | ct | hardcode | dtc | derive
    args: Mapping[str, Any]

    def get(self, key: str, default: Any = None) -> Any:
        return self.args.get(key, default)

    @property
    def source(self) -> Any:
        """The rule's main argument: the raw field(s), the hard-coded value or the derivation name."""
        return self.args[self.kind]

    @property
    def when(self) -> Mapping[str, Any]:
        return self.args.get("when") or MappingProxyType({})


@dataclass(frozen=True)
class Block:
    """Rows of one raw form (optionally filtered by `where`) become rows of the target dataset.

    `rules` maps each target variable to its rules in spec order: for every row the first rule whose `when`
    condition holds writes the value (a rule without `when` is the otherwise-branch); a row no rule writes stays
    missing.  `supp` does the same for supplemental qualifiers (QNAM -> rules) that go to SUPP--.  `ignore` names
    raw fields the block reads on purpose not at all, each with the reason.

    Conditions (`where` on the block, `when` on a rule) are expressions of the one condition language
    (cdiscflow.core.expr: "normalise(AESER) == 'Y' and number(AGE) >= 18"), or the mapping form raw field -> test,
    shorthand that compiles to one (cdiscflow.specs.conditions gives the exact meaning); all tests must hold:
        FIELD: value          equal (text compared case- and blank-insensitively)
        FIELD: [a, b]         one of
        FIELD: {not: a|[a,b]} none of (a blank passes)
        FIELD: {present: true|false}   filled in / blank
        FIELD: {ge|gt|le|lt: number}   numeric comparison
        FIELD: {codelist: CL, in|not: value(s)}   the collected value mapped through codelist CL (synonyms) first
    """

    form: str
    rules: Mapping[str, tuple[Rule, ...]]
    where: Mapping[str, Any] | str = field(default_factory=lambda: MappingProxyType({}))
    supp: Mapping[str, tuple[Rule, ...]] = field(default_factory=lambda: MappingProxyType({}))
    ignore: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    description: str = ""


@dataclass(frozen=True)
class Mapping_:
    dataset: str
    blocks: tuple[Block, ...]
    derive: Mapping[str, Rule] = field(default_factory=lambda: MappingProxyType({}))  # dataset-level derivations
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    path: str = ""


@dataclass(frozen=True)
class StudySpec:
    path: Path
    study: Mapping[str, Any]  # study.yaml (read-only)
    datasets: Mapping[str, Dataset]
    codelists: Mapping[str, Codelist]
    forms: Mapping[str, Form]
    mappings: Mapping[str, Mapping_]
    methods: Mapping[str, Method]
    valuelevel: tuple[ValueLevel, ...]
    sections: Mapping[str, Any]  # further YAML sections keyed by relative path without suffix, e.g. "trial_design"
    comments: Mapping[str, Comment] = field(default_factory=lambda: MappingProxyType({}))
    documents: Mapping[str, Document] = field(default_factory=lambda: MappingProxyType({}))
    # what loaders built from this spec (`built`); not an init field, so `dataclasses.replace` starts without it
    _built: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def built(self, what: str, build: Callable[[], T]) -> T:
        """`build()` once per spec: what a loader makes of this (read-only) spec, kept for the next caller, so that
        the spec check hands it to the run instead of the run building it again.  A build that raises keeps
        nothing.  Only for results nobody changes (frozen dataclasses, read-only mappings)."""
        if what not in self._built:
            self._built[what] = build()
        return self._built[what]

    # -- convenience ------------------------------------------------------------------------------------------
    @property
    def studyid(self) -> str:
        return str(self.study["studyid"])

    @property
    def datacut(self) -> date:
        if "datacut" not in self.study:
            raise SpecError("study.yaml has no datacut: add 'datacut: YYYY-MM-DD' (the data cut-off date)",
                            path=str(self.path))
        return _as_date(self.study["datacut"])

    def comment_text(self, comment: str) -> str:
        """The text of a `comment` cell: the comments.csv description it names, or the cell itself."""
        c = self.comments.get(comment) if comment else None
        return c.description if c is not None else comment

    @property
    def raw_dir(self) -> Path | None:
        raw = self.study.get("raw", {}).get("dir")
        return (self.path / raw) if raw else None

    def dataset(self, name: str) -> Dataset:
        try:
            return self.datasets[name.upper()]
        except KeyError:
            raise KeyError(f"study {self.studyid} declares no dataset {name.upper()}") from None

    def codelist(self, cid: str) -> Codelist:
        return self.codelists[cid]

    def standard(self, standard: str) -> tuple[Dataset, ...]:
        return tuple(d for d in self.datasets.values() if d.standard == standard)

    def section(self, name: str, default: Any = None) -> Any:
        return self.sections.get(name, default)


# ----------------------------------------------------------------------------------------------------------------
# helpers


def _int(text: str) -> int | None:
    text = (text or "").strip()
    try:
        return int(text)
    except ValueError:
        return None


def _as_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _freeze(obj: Any) -> Any:
    """Read-only view of parsed YAML: dicts become MappingProxyType, lists tuples."""
    if isinstance(obj, dict):
        return MappingProxyType({k: _freeze(v) for k, v in obj.items()})
    if isinstance(obj, list):
        return tuple(_freeze(v) for v in obj)
    return obj
