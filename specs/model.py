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
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from cdiscflow.specs.conditions import CODED_OPS, CONDITION_OPS
from cdiscflow.core.text import normalise  # noqa: F401 (read from here by the loaders and the engines)
from cdiscflow.core.errors import SpecError
from cdiscflow.specs.safe_yaml import YamlProblem, load_yaml

SPECS_DIR = Path(__file__).resolve().parent
STANDARDS_DIR = SPECS_DIR / "standards"
DEFAULT_STUDY = "dara_atra"

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
        {derive: NAME, ...}                          another record derivation (sdtm.algorithms)

    Dataset-level rules (`derive:`) name a derivation of sdtm.derivations and its arguments, e.g.
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
# Loading


def resolve_study(study: str | Path | None) -> Path:
    """A study argument is a folder path or the name of an embedded study (`dara_atra`); None is the default."""
    if study is None:
        return SPECS_DIR / DEFAULT_STUDY
    p = Path(study)
    if p.is_dir():
        return p
    embedded = SPECS_DIR / str(study)
    if embedded.is_dir() and (embedded / "study.yaml").exists():
        return embedded
    raise SpecError(f"no study folder {study!s} (give a folder with study.yaml or one of: {', '.join(embedded_studies())})")


def embedded_studies() -> list[str]:
    return sorted(p.name for p in SPECS_DIR.iterdir() if (p / "study.yaml").is_file())


def load_study(study: str | Path | None = None) -> StudySpec:
    """Load and check a study spec folder.  Raises SpecError listing every problem."""
    return _Loader(resolve_study(study)).load()


def load_study_with_problems(study: str | Path | None = None) -> tuple[StudySpec, list[str]]:
    """The spec as far as it loads, and every problem found (for `check-spec`, which goes on to check the other
    layers' sections of a spec with problems).  SpecError only when there is no study.yaml."""
    return _Loader(resolve_study(study)).load(strict=False)


class _Loader:
    def __init__(self, path: Path):
        self.path = path
        self.problems: list[str] = []

    def problem(self, where: str, msg: str) -> None:
        self.problems.append(f"{where}: {msg}")

    # -- files --------------------------------------------------------------------------------------------------
    def yaml(self, rel: str, required: bool = True) -> Any:
        p = self.path / rel
        if not p.exists():
            if required:
                self.problem(rel, "file is missing")
            return None
        try:
            return load_yaml(p, rel)[0]
        except YamlProblem as exc:
            line = f" line {exc.line}" if exc.line else ""
            self.problem(f"{rel}{line}", str(exc))
            return None

    def csv(self, rel: str, required: bool = True, columns: Iterable[str] = ()) -> list[tuple[str, dict[str, str]]]:
        """Rows as (location 'file line N', dict) with stripped values."""
        p = self.path / rel
        if not p.exists():
            if required:
                self.problem(rel, "file is missing")
            return []
        text = p.read_text(encoding="utf-8-sig")
        reader = csv.DictReader(io.StringIO(text))
        header = reader.fieldnames or []
        missing = [c for c in columns if c not in header]
        if missing:
            self.problem(rel, f"missing column(s) {', '.join(missing)}")
            return []
        rows = []
        for i, row in enumerate(reader, start=2):
            clean = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
            if not any(clean.values()):
                continue
            rows.append((f"{rel} line {i}", clean))
        return rows

    # -- whole study --------------------------------------------------------------------------------------------
    def load(self, strict: bool = True):
        if not (self.path / "study.yaml").exists():
            raise SpecError("no study.yaml in the study folder", path=str(self.path))
        study = self.yaml("study.yaml") or {}
        self.check_study(study)
        codelists = self.load_codelists()
        documents = self.load_documents()
        comments = self.load_comments(documents)
        methods = self.load_methods(documents)
        datasets = self.load_datasets(codelists, methods)
        valuelevel = self.load_valuelevel(datasets, codelists, methods)
        forms = self.load_forms(codelists)
        mappings = self.load_mappings(datasets, forms, codelists, valuelevel)
        sections = self.load_sections()
        parameter_codelists(datasets, codelists, sections)
        self.check_pages(datasets, valuelevel, documents)
        if self.problems and strict:
            raise SpecError(self.problems, path=str(self.path))
        spec = StudySpec(
            path=self.path,
            study=_freeze(study),
            datasets=MappingProxyType(datasets),
            codelists=MappingProxyType(codelists),
            forms=MappingProxyType(forms),
            mappings=MappingProxyType(mappings),
            methods=MappingProxyType(methods),
            valuelevel=tuple(valuelevel),
            sections=MappingProxyType(sections),
            comments=MappingProxyType(comments),
            documents=MappingProxyType(documents),
        )
        return spec if strict else (spec, list(self.problems))

    def check_study(self, study: dict) -> None:
        if not isinstance(study, dict):
            self.problem("study.yaml", "must be a mapping of settings")
            return
        metadata_only = not any((self.path / p).exists() for p in ("forms.yaml", "sdtm", "adam"))
        for key in ("studyid", "datacut", "standards"):
            if key not in study and not (key == "datacut" and metadata_only):  # a metadata-only spec has no cut
                self.problem("study.yaml", f"missing '{key}'")
        if "datacut" in study:
            try:
                _as_date(study["datacut"])
            except ValueError:
                self.problem("study.yaml", f"datacut {study['datacut']!r} is not a date (YYYY-MM-DD)")

    # -- codelists ----------------------------------------------------------------------------------------------
    def load_codelists(self) -> dict[str, Codelist]:
        rows = self.csv("codelists.csv", columns=("codelist", "term"))
        ct = _cdisc_ct()
        heads: dict[str, dict[str, str]] = {}
        terms: dict[str, list[Term]] = {}
        where_first: dict[str, str] = {}
        for loc, r in rows:
            cid = r["codelist"]
            if not cid:
                self.problem(loc, "codelist id is blank")
                continue
            head = {k: r.get(k, "") for k in ("codelist_code", "codelist_name", "extensible", "datatype", "dictionary", "version")}
            if cid not in heads:
                heads[cid], terms[cid], where_first[cid] = head, [], loc
            else:
                for k, v in head.items():
                    if v and heads[cid][k] and v != heads[cid][k]:
                        self.problem(loc, f"codelist {cid}: {k} {v!r} contradicts {heads[cid][k]!r} ({where_first[cid]})")
                    elif v and not heads[cid][k]:
                        heads[cid][k] = v
            if r["term"]:
                syn = tuple(s.strip() for s in r.get("synonyms", "").split("|") if s.strip())
                order = r.get("order", "")
                terms[cid].append(Term(r["term"], r.get("term_code", ""), r.get("decode", ""), syn,
                                       int(order) if order.isdigit() else None))
        out: dict[str, Codelist] = {}
        for cid, head in heads.items():
            loc = where_first[cid]
            code = head["codelist_code"]
            cdisc = ct.get(code) if code else None
            if code and cdisc is None and code.startswith("C") and not head["dictionary"]:
                # Not in the project's CT copy: accept, but the code cannot be cross-checked.
                pass
            tlist = []
            seen: dict[str, str] = {}
            values = {normalise(t.value): t.value for t in terms[cid]}  # a value wins over decodes and synonyms
            for t in terms[cid]:
                if t.value in {x.value for x in tlist}:
                    self.problem(loc, f"codelist {cid}: term {t.value!r} listed twice")
                    continue
                if cdisc is not None:
                    known = cdisc["terms"].get(t.value)
                    if known is None and cdisc["extensible"] is False:
                        self.problem(loc, f"codelist {cid} ({code}) is not extensible and has no term {t.value!r}")
                    if known is not None:
                        if t.code and t.code != known["code"]:
                            self.problem(loc, f"codelist {cid}: term {t.value!r} has C-code {known['code']} in CDISC CT, spec says {t.code}")
                        t = replace(t, code=t.code or known["code"], decode=t.decode or known["decode"])
                for i, s in enumerate((t.value, t.decode, *t.synonyms)):
                    n = normalise(s) if s else ""
                    if i and values.get(n, t.value) != t.value:
                        continue  # another term's submission value: that term, not this one
                    if n and n in seen and seen[n] != t.value:
                        self.problem(loc, f"codelist {cid}: collected value {s!r} maps to both {seen[n]!r} and {t.value!r}")
                    elif n:
                        seen[n] = t.value
                tlist.append(t)
            ext = head["extensible"].lower()
            extensible = ext in ("yes", "y", "true") if ext else bool(cdisc and cdisc["extensible"])
            name = head["codelist_name"] or (cdisc["name"] if cdisc else cid)
            if not tlist and not head["dictionary"]:
                self.problem(loc, f"codelist {cid} has no terms and names no dictionary")
            dtype = head["datatype"] or "text"
            if dtype not in ("text", "integer", "float"):
                self.problem(loc, f"codelist {cid}: datatype {dtype!r} is not text, integer or float")
            out[cid] = Codelist(cid, name, code, extensible, dtype, tuple(tlist), head["dictionary"], head["version"])
        return out

    # -- methods ------------------------------------------------------------------------------------------------
    def load_methods(self, documents: Mapping[str, Document] | None = None) -> dict[str, Method]:
        out: dict[str, Method] = {}
        for loc, r in self.csv("methods.csv", required=False, columns=("method", "type", "description")):
            mid = r["method"]
            if mid in out:
                self.problem(loc, f"method {mid} defined twice")
            if r["type"] not in METHOD_TYPES:
                self.problem(loc, f"method {mid}: type {r['type']!r} must be one of {', '.join(METHOD_TYPES)}")
            if not r["description"]:
                self.problem(loc, f"method {mid} has no description")
            doc = r.get("document", "")
            if doc and documents is not None and doc not in documents:
                self.problem(loc, f"method {mid}: unknown document {doc!r} (not in documents.csv)")
            out[mid] = Method(mid, r.get("name", "") or mid, r["type"], r["description"],
                              r.get("expression_context", ""), r.get("expression_code", ""), doc, r.get("pages", ""))
        return out

    # -- comments and documents (optional tables) ---------------------------------------------------------------
    def load_documents(self) -> dict[str, Document]:
        out: dict[str, Document] = {}
        for loc, r in self.csv("documents.csv", required=False, columns=("document", "title", "href")):
            did = r["document"]
            if not did or did in out:
                self.problem(loc, f"document id {did!r} is blank or listed twice")
                continue
            kind = r.get("kind", "")
            if kind not in ("", "acrf", "supplemental"):
                self.problem(loc, f"document {did}: kind {kind!r} must be acrf, supplemental or blank")
            if not r["href"]:
                self.problem(loc, f"document {did} has no href (the file it links to)")
            out[did] = Document(did, r["title"] or did, r["href"], kind)
        if sum(d.kind == "acrf" for d in out.values()) > 1:
            self.problem("documents.csv", "more than one document of kind acrf (the annotated CRF)")
        return out

    def load_comments(self, documents: Mapping[str, Document]) -> dict[str, Comment]:
        out: dict[str, Comment] = {}
        for loc, r in self.csv("comments.csv", required=False, columns=("comment", "description")):
            cid = r["comment"]
            if not cid or cid in out:
                self.problem(loc, f"comment id {cid!r} is blank or listed twice")
                continue
            if not r["description"]:
                self.problem(loc, f"comment {cid} has no description")
            doc = r.get("document", "")
            if doc and doc not in documents:
                self.problem(loc, f"comment {cid}: unknown document {doc!r} (not in documents.csv)")
            out[cid] = Comment(cid, r["description"], doc, r.get("pages", ""))
        return out

    def check_pages(self, datasets, valuelevel, documents: Mapping[str, Document]) -> None:
        """Variable and value-level `pages` point into the annotated CRF (or 'DOC: refs' into another document)."""
        acrf = [d for d in documents.values() if d.kind == "acrf"]
        rows = [(f"variables.csv {d.name}.{v.name}", v.pages) for d in datasets.values() for v in d.variables]
        rows += [(f"valuelevel.csv {vl.dataset}.{vl.variable}", vl.pages) for vl in valuelevel]
        for loc, pages in rows:
            if not pages:
                continue
            doc, sep, _ = pages.partition(":")
            if sep and doc.strip() not in documents:
                self.problem(loc, f"pages {pages!r}: unknown document {doc.strip()!r} (not in documents.csv)")
            elif not sep and not acrf:
                self.problem(loc, f"pages {pages!r} need the annotated CRF in documents.csv (a row of kind acrf)")

    # -- datasets and variables ---------------------------------------------------------------------------------
    def load_datasets(self, codelists: Mapping[str, Codelist], methods: Mapping[str, Method]) -> dict[str, Dataset]:
        ds_rows = self.csv("datasets.csv", columns=("standard", "dataset", "label", "class", "structure", "keys"))
        var_rows = self.csv("variables.csv", columns=("dataset", "variable", "datatype"))
        ig = _ig_variables()
        heads: dict[str, tuple[str, dict[str, str]]] = {}
        for loc, r in ds_rows:
            name = r["dataset"].upper()
            if name in heads:
                self.problem(loc, f"dataset {name} declared twice (also {heads[name][0]})")
                continue
            if not NAME_RE.match(name):
                self.problem(loc, f"dataset name {name!r} must be 1-8 characters A-Z, 0-9, _ starting with a letter")
            if r["standard"] not in STANDARDS:
                self.problem(loc, f"dataset {name}: standard {r['standard']!r} must be SDTM or ADaM")
            if len(r["label"]) > 40:
                self.problem(loc, f"dataset {name}: label is {len(r['label'])} characters (max 40): {r['label']!r}")
            if not r["label"]:
                self.problem(loc, f"dataset {name} has no label")
            heads[name] = (loc, r)
        vars_by_ds: dict[str, list[Variable]] = {n: [] for n in heads}
        for loc, r in var_rows:
            ds = r["dataset"].upper()
            name = r["variable"].upper()
            if ds not in heads:
                self.problem(loc, f"variable {name}: dataset {ds!r} is not declared in datasets.csv")
                continue
            std = heads[ds][1]["standard"]
            ref = ig.get((std, _ig_dataset(ds, std), name)) or ig.get((std, "*", name)) or {}
            if not NAME_RE.match(name):
                self.problem(loc, f"{ds}.{name}: variable name must be 1-8 characters A-Z, 0-9, _ starting with a letter")
            label = r.get("label", "") or ref.get("label", "")
            if not label:
                self.problem(loc, f"{ds}.{name} has no label (and none in the implementation guide)")
            if len(label) > 40:
                self.problem(loc, f"{ds}.{name}: label is {len(label)} characters (max 40): {label!r}")
            dtype = r["datatype"]
            if dtype not in DATATYPES:
                self.problem(loc, f"{ds}.{name}: datatype {dtype!r} is not one of {', '.join(sorted(DATATYPES))}")
                dtype = "text"
            length = _int(r.get("length", ""))
            if r.get("length") and (length is None or length <= 0 or length > 200):
                self.problem(loc, f"{ds}.{name}: length {r['length']!r} must be a whole number 1-200")
            cl = r.get("codelist", "")
            if cl and cl not in codelists:
                self.problem(loc, f"{ds}.{name}: unknown codelist {cl!r} (not in codelists.csv)")
            origin = r.get("origin", "")
            if origin and origin not in ORIGINS:
                self.problem(loc, f"{ds}.{name}: origin {origin!r} is not one of {', '.join(sorted(ORIGINS))}")
            core = r.get("core", "") or ref.get("core", "")
            if core and core not in CORES:
                self.problem(loc, f"{ds}.{name}: core {core!r} is not one of {', '.join(sorted(CORES))}")
            meth = r.get("method", "")
            if meth and meth not in methods:
                self.problem(loc, f"{ds}.{name}: unknown method {meth!r} (not in methods.csv)")
            order = _int(r.get("order", ""))
            vars_by_ds[ds].append(Variable(
                dataset=ds, name=name, label=label, datatype=dtype,
                order=order if order is not None else len(vars_by_ds[ds]) + 1, length=length, codelist=cl,
                origin=origin, source=r.get("source", ""), core=core, role=r.get("role", "") or ref.get("role", ""),
                display_format=r.get("display_format", ""), method=meth,
                significant_digits=_int(r.get("significant_digits", "")), comment=r.get("comment", ""),
                mandatory=self.yes_no(loc, f"{ds}.{name}", r.get("mandatory", "")), pages=r.get("pages", ""),
            ))
        out: dict[str, Dataset] = {}
        for name, (loc, r) in heads.items():
            variables = sorted(vars_by_ds[name], key=lambda v: v.order)
            seen: set[str] = set()
            orders: set[int] = set()
            for v in variables:
                if v.name in seen:
                    self.problem(loc, f"dataset {name}: variable {v.name} declared twice in variables.csv")
                if v.order in orders:
                    self.problem(loc, f"dataset {name}: order {v.order} used twice (at {v.name})")
                seen.add(v.name)
                orders.add(v.order)
            if not variables:
                self.problem(loc, f"dataset {name} has no variables in variables.csv")
            keys = tuple(k.strip().upper() for k in r["keys"].replace(";", ",").split(",") if k.strip())
            for k in keys:
                if k not in seen:
                    self.problem(loc, f"dataset {name}: key variable {k} is not one of its variables")
            out[name] = Dataset(
                name=name, label=r["label"], standard=r["standard"], cls=r["class"], structure=r["structure"],
                keys=keys, variables=tuple(variables), subclass=r.get("subclass", ""),
                repeating=(r.get("repeating", "Yes") or "Yes").lower() in ("yes", "y", "true"),
                reference_data=(r.get("reference_data", "No") or "No").lower() in ("yes", "y", "true"),
                comment=r.get("comment", ""),
            )
        return out

    def load_valuelevel(self, datasets, codelists, methods) -> list[ValueLevel]:
        out = []
        for loc, r in self.csv("valuelevel.csv", required=False, columns=("dataset", "variable", "where", "datatype")):
            ds, var = r["dataset"].upper(), r["variable"].upper()
            if ds not in datasets:
                self.problem(loc, f"value-level row for unknown dataset {ds}")
                continue
            if var not in datasets[ds]:
                self.problem(loc, f"value-level row for unknown variable {ds}.{var}")
            clauses = []
            for part in r["where"].split(" AND "):
                m = re.match(r"^\s*([A-Z][A-Z0-9_]*)\s+(EQ|NE|IN|NOTIN)\s+(.+?)\s*$", part)
                if not m:
                    self.problem(loc, f"where clause {part!r} must read 'VAR EQ value' or 'VAR IN a|b'")
                    continue
                wvar = m.group(1)
                if wvar not in datasets[ds]:
                    self.problem(loc, f"where clause names unknown variable {ds}.{wvar}")
                clauses.append(WhereClause(wvar, m.group(2), tuple(x.strip() for x in m.group(3).split("|"))))
            if r["datatype"] not in DATATYPES:
                self.problem(loc, f"value-level datatype {r['datatype']!r} unknown")
            cl = r.get("codelist", "")
            if cl and cl not in codelists:
                self.problem(loc, f"value-level {ds}.{var} [{r['where']}]: unknown codelist {cl!r}")
            meth = r.get("method", "")
            if meth and meth not in methods:
                self.problem(loc, f"value-level {ds}.{var}: unknown method {meth!r}")
            label = r.get("label", "")
            if len(label) > 40 and ds.startswith("SUPP") and var == "QVAL":  # it becomes QLABEL (max 40)
                self.problem(loc, f"value-level {ds}.{var}: label longer than 40 characters")
            origin = r.get("origin", "")
            if origin and origin not in ORIGINS:
                self.problem(loc, f"value-level {ds}.{var}: origin {origin!r} is not one of {', '.join(sorted(ORIGINS))}")
            out.append(ValueLevel(ds, var, tuple(clauses), r["datatype"], _int(r.get("length", "")), cl,
                                  origin, label, meth, r.get("display_format", ""), r.get("comment", ""),
                                  _int(r.get("significant_digits", "")),
                                  self.yes_no(loc, f"value-level {ds}.{var}", r.get("mandatory", "")),
                                  r.get("source", ""), r.get("pages", "")))
        return out

    def yes_no(self, loc: str, what: str, value: str) -> str:
        if value not in ("", "Yes", "No"):
            self.problem(loc, f"{what}: mandatory {value!r} must be Yes, No or blank")
            return ""
        return value

    # -- raw forms ----------------------------------------------------------------------------------------------
    def load_forms(self, codelists: Mapping[str, Codelist]) -> dict[str, Form]:
        doc = self.yaml("forms.yaml", required=False)
        if doc is None:
            return {}
        forms_doc = doc.get("forms") if isinstance(doc, dict) else None
        if not isinstance(forms_doc, dict):
            self.problem("forms.yaml", "must contain 'forms:' mapping form name -> definition")
            return {}
        out: dict[str, Form] = {}
        files: dict[str, str] = {}
        for fname, fd in forms_doc.items():
            loc = f"forms.yaml form {fname}"
            if not isinstance(fd, dict):
                self.problem(loc, "definition must be a mapping")
                continue
            fields = []
            seen = set()
            for i, f in enumerate(fd.get("fields") or []):
                if not isinstance(f, dict) or "name" not in f:
                    self.problem(loc, f"field #{i + 1} needs at least a name")
                    continue
                n = str(f["name"])
                if n in seen:
                    self.problem(loc, f"field {n} listed twice")
                seen.add(n)
                dt = str(f.get("type", "text"))
                if dt not in FIELD_TYPES:
                    self.problem(loc, f"field {n}: type {dt!r} is not one of {', '.join(sorted(FIELD_TYPES))}")
                fmt = f.get("format", "") or ""
                fmt = "|".join(map(str, fmt)) if isinstance(fmt, (list, tuple)) else str(fmt)  # alternatives
                if dt in ("date", "datetime", "time") and not fmt:
                    self.problem(loc, f"field {n}: a {dt} field needs a format (e.g. DD-MON-YYYY)")
                cl = str(f.get("codelist", "") or "")
                if cl and cl not in codelists:
                    self.problem(loc, f"field {n}: unknown codelist {cl!r}")
                fields.append(FormField(n, str(f.get("label", n)), dt, fmt, cl, bool(f.get("required", False)),
                                        str(f.get("description", "") or "")))
            keys = tuple(str(k) for k in (fd.get("keys") or ()))
            for k in keys:
                if k not in seen:
                    self.problem(loc, f"key {k} is not one of its fields")
            file = str(fd.get("file", f"{fname}.csv"))
            if file in files:
                self.problem(loc, f"file {file} is also used by form {files[file]}")
            files[file] = fname
            out[str(fname)] = Form(str(fname), file, str(fd.get("label", fname)), keys, tuple(fields),
                                   str(fd.get("description", "") or ""))
        return out

    # -- SDTM mappings ------------------------------------------------------------------------------------------
    def load_mappings(self, datasets, forms, codelists, valuelevel) -> dict[str, Mapping_]:
        out: dict[str, Mapping_] = {}
        folder = self.path / "sdtm"
        if not folder.is_dir():
            return out
        qnams = {(vl.dataset, w.values[0]) for vl in valuelevel if vl.variable == "QVAL"
                 for w in vl.where if w.variable == "QNAM" and w.comparator == "EQ" and len(w.values) == 1}
        for p in sorted(folder.glob("*.yaml")):
            rel = f"sdtm/{p.name}"
            doc = self.yaml(rel)
            if not isinstance(doc, dict):
                if doc is not None:
                    self.problem(rel, "must be a mapping with 'dataset' and 'blocks'")
                continue
            unknown = set(doc) - {"dataset", "blocks", "derive", "options", "description"}
            if unknown:
                self.problem(rel, f"unknown section(s) {', '.join(sorted(map(str, unknown)))} "
                                  "(use dataset, description, blocks, derive, options)")
            ds = str(doc.get("dataset", "")).upper()
            if ds not in datasets:
                self.problem(rel, f"dataset {ds!r} is not declared in datasets.csv")
                continue
            if ds in out:
                self.problem(rel, f"dataset {ds} is mapped twice (also {out[ds].path})")
                continue
            target = datasets[ds]
            blocks = []
            for i, b in enumerate(doc.get("blocks") or [], start=1):
                block = self.block(f"{rel} block {i}", b, ds, target, forms, codelists, datasets, qnams)
                if block is not None:
                    blocks.append(block)
            derive = {}
            for var, spec in (doc.get("derive") or {}).items():
                var = str(var).upper()
                if var not in target:
                    self.problem(rel, f"derives {var}, which is not a variable of {ds} in variables.csv")
                rule = self.rule(f"{rel} derive {ds}.{var}", spec, None, target, var, codelists)
                if rule is not None:
                    if rule.kind != "derive":
                        self.problem(f"{rel} derive {ds}.{var}", f"dataset-level rules must be 'derive', got {rule.kind!r}")
                    for w in _condition_fields(rule.when):
                        if str(w) not in target:
                            self.problem(f"{rel} derive {ds}.{var}", f"when names {w}, which is not a variable of {ds}")
                    derive[var] = rule
            options = doc.get("options") or {}
            out[ds] = Mapping_(ds, tuple(blocks), MappingProxyType(derive), _freeze(options), rel)
        return out

    def block(self, loc, b, ds, target, forms, codelists, datasets, qnams) -> Block | None:
        if not isinstance(b, dict):
            self.problem(loc, "must be a mapping with 'form' and 'map'")
            return None
        unknown = set(b) - {"form", "where", "map", "supp", "ignore", "description"}
        if unknown:
            self.problem(loc, f"unknown key(s) {', '.join(sorted(map(str, unknown)))} "
                              "(use form, where, map, supp, ignore, description)")
        form_name = str(b.get("form", ""))
        form = forms.get(form_name)
        if form is None:
            self.problem(loc, f"unknown form {form_name!r} (not in forms.yaml)")
        where = b.get("where") or {}
        self.condition(loc, "where", where, form, codelists)
        rules: dict[str, tuple[Rule, ...]] = {}
        for var, spec in (b.get("map") or {}).items():
            var = str(var).upper()
            if spec is None:  # `VAR: null` leaves a variable unmapped (e.g. after a YAML merge `<<: *anchor`)
                continue
            if var not in target:
                self.problem(loc, f"maps {var}, which is not a variable of {ds} in variables.csv")
            rules[var] = self.rules(f"{loc} {ds}.{var}", spec, form, target, var, codelists)
        supp: dict[str, tuple[Rule, ...]] = {}
        supp_doc = b.get("supp") or {}
        if supp_doc and f"SUPP{ds}" not in datasets:
            self.problem(loc, f"has supplemental qualifiers but dataset SUPP{ds} is not declared in datasets.csv")
        for qnam, spec in supp_doc.items():
            qnam = str(qnam).upper()
            if not NAME_RE.match(qnam):
                self.problem(loc, f"QNAM {qnam!r} must be 1-8 characters A-Z, 0-9, _ starting with a letter")
            if (f"SUPP{ds}", qnam) not in qnams:
                self.problem(loc, f"QNAM {qnam} has no value-level row in valuelevel.csv "
                                  f"(SUPP{ds}, QVAL, where 'QNAM EQ {qnam}') giving its label and origin")
            supp[qnam] = self.rules(f"{loc} SUPP{ds}.{qnam}", spec, form, None, qnam, codelists)
        ignore = b.get("ignore") or {}
        if not isinstance(ignore, dict):
            self.problem(loc, "'ignore' must map raw field -> reason it is not mapped")
            ignore = {}
        for f, why in ignore.items():
            if form is not None and str(f) not in form.names:
                self.problem(loc, f"ignore names unknown field {form_name}.{f}")
            if not why:
                self.problem(loc, f"ignore {f}: give the reason the field is not mapped")
        return Block(form_name, MappingProxyType(rules), _freeze(where if isinstance(where, (dict, str)) else {}),
                     MappingProxyType(supp), _freeze({str(k): str(v) for k, v in ignore.items()}),
                     str(b.get("description", "") or ""))

    def rules(self, loc, spec, form, target, var, codelists) -> tuple[Rule, ...]:
        """One rule, or a list of rules for one target (each but the last usually with `when`)."""
        specs = spec if isinstance(spec, list) else [spec]
        out = []
        for i, one in enumerate(specs, start=1):
            rule = self.rule(loc if len(specs) == 1 else f"{loc} rule {i}", one, form, target, var, codelists)
            if rule is not None:
                out.append(rule)
        for r in out[:-1]:
            if not r.when:
                self.problem(loc, "only the last of several rules may lack 'when' (the rules after it could never write)")
        return tuple(out)

    def condition(self, loc: str, key: str, cond: Any, form: Form | None, codelists=None) -> None:
        """A `where`/`when`: expression text (cdiscflow.core.expr) or the mapping form that compiles to it."""
        from cdiscflow.core.expr import ExpressionError, codelists_named, names
        from cdiscflow.specs.conditions import compile_condition

        if isinstance(cond, str):
            try:
                fields, used = names(cond), codelists_named(cond)
            except ExpressionError as exc:
                self.problem(loc, f"{key}: {exc}")
                return
            for f in fields if form is not None else ():
                if f not in form.names:
                    self.problem(loc, f"{key} names unknown field {form.name}.{f}")
            for cl in used if codelists is not None else ():
                if cl not in codelists:
                    self.problem(loc, f"{key}: unknown codelist {cl!r}")
            return
        if not isinstance(cond, dict):
            self.problem(loc, f"'{key}' must be an expression, or map raw field -> value, [values] or "
                              "{not|present|ge|gt|le|lt: ...}")
            return
        try:
            compile_condition(cond)
        except ExpressionError as exc:
            if "a test is" not in str(exc) and "a codelist test is" not in str(exc):  # those are reported below
                self.problem(loc, f"{key}: {exc}")
        for f, test in cond.items():
            if form is not None and str(f) not in form.names:
                self.problem(loc, f"{key} names unknown field {form.name}.{f}")
            values = test if isinstance(test, (list, tuple)) else list(test.values()) if isinstance(test, dict) else [test]
            for v in values if not (isinstance(test, dict) and "present" in test) else ():
                if isinstance(v, bool):
                    self.problem(loc, f"{key} {f}: YAML reads an unquoted Yes/No/true/false as a boolean; "
                                      f"quote the collected text, e.g. \"Yes\"")
            if isinstance(test, dict) and "codelist" in test:
                ops = set(test) - {"codelist"}
                cl = (codelists or {}).get(str(test["codelist"]))
                if len(ops) != 1 or not ops <= CODED_OPS:
                    self.problem(loc, f"{key} {f}: a codelist test is {{codelist: CL, in: [...]}} "
                                      "or {codelist: CL, not: ...}")
                elif codelists is not None and cl is None:
                    self.problem(loc, f"{key} {f}: unknown codelist {test['codelist']!r}")
                elif cl is not None:
                    (op,) = ops
                    wanted = test[op] if isinstance(test[op], (list, tuple)) else [test[op]]
                    for w in wanted:
                        if str(w) not in cl.values:
                            self.problem(loc, f"{key} {f}: {w!r} is not a term of codelist {cl.id}")
            elif isinstance(test, dict):
                bad = set(test) - CONDITION_OPS
                if bad or len(test) != 1:
                    self.problem(loc, f"{key} {f}: a test is one of {', '.join(sorted(CONDITION_OPS))}, got {dict(test)}")
                for op in set(test) & {"ge", "gt", "le", "lt"}:
                    if not isinstance(test[op], (int, float)):
                        self.problem(loc, f"{key} {f}: {op} needs a number, got {test[op]!r}")

    def rule(self, loc: str, spec: Any, form: Form | None, target: Dataset | None, var: str, codelists) -> Rule | None:
        if isinstance(spec, str):  # shorthand: a bare field name means assign
            spec = {"assign": spec}
        if not isinstance(spec, dict):
            self.problem(loc, f"rule must be a mapping such as {{assign: FIELD}}, got {spec!r}")
            return None
        kinds = [k for k in spec if k in RULE_KINDS]
        if len(kinds) != 1:
            self.problem(loc, f"rule needs exactly one of {', '.join(sorted(RULE_KINDS))}; got {sorted(spec)}")
            return None
        kind = kinds[0]
        if form is not None:
            fields = []
            if kind in ("assign", "ct", "dtc"):
                fields += spec[kind] if isinstance(spec[kind], list) else [spec[kind]]
            for extra in ("time", "field"):
                if spec.get(extra):
                    fields.append(spec[extra])
            if isinstance(spec.get("fields"), list):
                fields += spec["fields"]
            for f in fields:
                if str(f) not in form.names:
                    self.problem(loc, f"{kind} names unknown field {form.name}.{f}")
            if kind == "assign" and isinstance(spec[kind], list) and len(spec[kind]) > 1 and not spec.get("format"):
                self.problem(loc, "assign from several fields needs a 'format' such as \"{A} {B}\"")
        default_cl = target.variable(var).codelist if (target is not None and var in target) else ""
        if kind in ("ct", "hardcode") or spec.get("codelist"):
            cl = spec.get("codelist") or default_cl
            if kind == "ct" and not cl:
                self.problem(loc, "ct rule needs a codelist (on the rule or on the variable in variables.csv)")
            elif cl and cl not in codelists:
                self.problem(loc, f"unknown codelist {cl!r}")
            elif kind == "hardcode" and cl and codelists[cl].terms and str(spec["hardcode"]) not in codelists[cl].values:
                self.problem(loc, f"hard-coded value {spec['hardcode']!r} is not a term of codelist {cl}")
        pattern = spec.get("pattern")
        if pattern is not None:
            msg = pattern_problem(pattern)
            if msg:
                self.problem(loc, msg)
        if spec.get("case") is not None and spec.get("case") not in ("upper", "lower"):
            self.problem(loc, f"case must be upper or lower, got {spec.get('case')!r}")
        for key in ("pattern", "case"):
            if spec.get(key) is not None and kind != "assign":
                self.problem(loc, f"'{key}' belongs to an assign rule")
        via = spec.get("via")
        if via is not None:
            if kind != "ct":
                self.problem(loc, "'via' belongs to a ct rule")
            elif via not in codelists:
                self.problem(loc, f"via: unknown codelist {via!r}")
        when = spec.get("when")
        if when is not None:
            self.condition(loc, "when", when, form, codelists)
        return Rule(kind, _freeze(spec))

    # -- other sections -----------------------------------------------------------------------------------------
    def load_sections(self) -> dict[str, Any]:
        """The other YAML files of the folder and of adam/ (nothing deeper, and no link out of the folder: a spec
        reads only its own files; `check-spec` names any file no layer reads)."""
        out = {}
        skip = {"study.yaml", "forms.yaml"}
        root = self.path.resolve()
        for p in sorted([*self.path.glob("*.yaml"), *self.path.glob("adam/*.yaml")]):
            rel = p.relative_to(self.path).as_posix()
            if rel in skip:
                continue
            if not p.resolve().is_relative_to(root):
                self.problem(rel, "is a link to a file outside the study folder; copy the file in instead")
                continue
            doc = self.yaml(rel)
            if doc is not None:
                out[rel[: -len(".yaml")]] = _freeze(doc)
        return out


# ----------------------------------------------------------------------------------------------------------------
# PARAMCD / PARAM as codelists, from the parameters the ADaM spec files declare

# dataset -> (section, how a parameter's PARAM is read from its entry); the parameters are listed once, there
PARAMETER_SECTIONS: Mapping[str, tuple[str, Any]] = MappingProxyType({
    "ADRS": ("adam/adrs", lambda entry: entry),  # parameters: {PARAMCD: PARAM}
    "ADTTE": ("adam/tte", lambda entry: (entry.get("set_values_to") or {}).get("PARAM") if isinstance(entry, Mapping) else None),
    "ADBASE": ("adam/adbase", lambda entry: entry.get("param") if isinstance(entry, Mapping) and entry.get("keep", True) is not False else False),
})


def parameter_codelists(datasets: dict[str, Dataset], codelists: dict[str, Codelist], sections: Mapping[str, Any]) -> None:
    """A BDS dataset whose PARAMCD (PARAM) names no codelist gets one from its parameters (PARAMCD with PARAM as
    decode; PARAM), so that define.xml lists them and validation checks them like any other codelist."""
    for name, (section, param_of) in PARAMETER_SECTIONS.items():
        ds = datasets.get(name)
        doc = sections.get(section)
        params = doc.get("parameters") if isinstance(doc, Mapping) else None
        if ds is None or not isinstance(params, Mapping) or not params or "PARAMCD" not in ds:
            continue
        pairs = [(str(code), param_of(entry)) for code, entry in params.items()]
        pairs = [(code, param) for code, param in pairs if param is not False]  # helpers that are not output
        if not pairs:
            continue
        named = all(isinstance(p, str) and p for _, p in pairs)
        new: dict[str, str] = {}
        if not ds.variable("PARAMCD").codelist:
            cid = f"{name}.PARAMCD"
            codelists[cid] = Codelist(cid, f"Parameter Code ({name})", terms=tuple(
                Term(code, decode=param if named else "", order=i) for i, (code, param) in enumerate(pairs, 1)))
            new["PARAMCD"] = cid
        if named and "PARAM" in ds and not ds.variable("PARAM").codelist:
            cid = f"{name}.PARAM"
            values = list(dict.fromkeys(param for _, param in pairs))
            codelists[cid] = Codelist(cid, f"Parameter ({name})",
                                      terms=tuple(Term(v, order=i) for i, v in enumerate(values, 1)))
            new["PARAM"] = cid
        if new:
            datasets[name] = replace(ds, variables=tuple(replace(v, codelist=new.get(v.name, v.codelist))
                                                         for v in ds.variables))


# ----------------------------------------------------------------------------------------------------------------
# Standards (the project's derived copies in specs/standards/)


@lru_cache(maxsize=None)
def _ig_variables() -> Mapping[tuple[str, str, str], Mapping[str, str]]:
    """(standard, dataset-or-structure, variable) -> label/core/role; '*' entries for variables valid anywhere."""
    out: dict[tuple[str, str, str], dict[str, str]] = {}
    with open(STANDARDS_DIR / "sdtmig-3.4.variables.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            out[("SDTM", r["dataset"], r["variable"])] = {"label": r["label"], "core": r["core"], "role": r["role"]}
    with open(STANDARDS_DIR / "adamig-1.3.variables.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if r["variable"] != r["variable"].upper() or "*" in r["variable"]:
                continue  # placeholders such as TRTxxP or *FL are not real names
            out.setdefault(("ADaM", "*", r["variable"]), {"label": r["label"], "core": r["core"], "role": ""})
    return MappingProxyType(out)


def _ig_dataset(name: str, standard: str) -> str:
    if standard == "SDTM" and name.startswith("SUPP"):
        return "SUPPQUAL"
    return name if standard == "SDTM" else "*"


@lru_cache(maxsize=None)
def _cdisc_ct() -> Mapping[str, dict]:
    """Codelist C-code -> {name, extensible, terms: value -> {code, decode}} from the project's CT copies."""
    out: dict[str, dict] = {}
    rows: list[dict] = []
    for f in (STANDARDS_DIR / "ct-sdtm-2025-03-28.csv.gz", STANDARDS_DIR / "ct-adam-2025-09-26.csv",
              STANDARDS_DIR / "ct-define-xml-2025-09-26.csv"):
        opener = gzip.open if f.suffix == ".gz" else open
        with opener(f, "rt", encoding="utf-8") as fh:
            rows.extend(csv.DictReader(fh))
    for r in rows:  # codelist header rows have no parent codelist code
        if not r["Codelist Code"]:
            out.setdefault(r["Code"], {"name": r["Codelist Name"], "terms": {},
                                       "extensible": r["Codelist Extensible (Yes/No)"] == "Yes"})
    for r in rows:
        parent = out.get(r["Codelist Code"])
        if parent is not None:
            parent["terms"].setdefault(r["CDISC Submission Value"], {"code": r["Code"], "decode": r["NCI Preferred Term"]})
    return MappingProxyType(out)


def pattern_problem(pattern: Any) -> str | None:
    """Why a value-extracting regular expression cannot be used, or None: it must compile and keep its part in the
    named group `value`; other groups must be named or non-capturing (?:...) (Arrow runs it, in C++)."""
    try:
        rx = re.compile(str(pattern))
    except re.error as exc:
        return f"pattern {pattern!r} is not a regular expression ({exc})"
    if "value" not in rx.groupindex:
        return f"pattern {pattern!r} needs a named group (?P<value>...) for the part to keep"
    if rx.groups != len(rx.groupindex):
        return f"pattern {pattern!r}: write groups you do not keep as (?:...)"
    return None


def cdisc_codelist(code: str) -> Mapping[str, Any] | None:
    """The CDISC CT codelist with this C-code from the project's copy (name, extensible, terms), or None."""
    return _cdisc_ct().get(code)


def ig_variable(standard: str, dataset: str, variable: str) -> Mapping[str, str] | None:
    ig = _ig_variables()
    return ig.get((standard, _ig_dataset(dataset, standard), variable)) or ig.get((standard, "*", variable))


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
