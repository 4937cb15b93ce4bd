"""Reading a study spec folder into the model (specs/model.py), checking every file on load: `load_study`.

The folder layout and the files' columns are described in specs/model.py; every problem found is reported at once
in a `SpecError` naming the file, line and item."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from cdiscflow.core.errors import SpecError
from cdiscflow.core.text import normalise
from cdiscflow.specs.cdisc import _cdisc_ct, _ig_dataset, _ig_variables
from cdiscflow.specs.load_mappings import MappingLoader
from cdiscflow.specs.model import (
    SPECS_DIR, DEFAULT_STUDY, NAME_RE, DATATYPES, ORIGINS, CORES, METHOD_TYPES, STANDARDS, Term, Codelist, Variable,
    Dataset, WhereClause, ValueLevel, Method, Comment, Document, StudySpec, _int, _as_date, _freeze,
)
from cdiscflow.specs.safe_yaml import YamlProblem, load_yaml


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


def load_study_with_problems(study: str | Path | None = None, *,
                             parsed: Mapping[str, Any] | None = None) -> tuple[StudySpec, list[str]]:
    """The spec as far as it loads, and every problem found (for `check-spec`, which goes on to check the other
    layers' sections of a spec with problems).  SpecError only when there is no study.yaml.  `parsed` holds YAML
    documents of the folder already read by `specs.safe_yaml.load_yaml` (file relative to the folder -> document,
    as `check-spec` reads them first): those are not read again, and must not be changed by the caller."""
    return _Loader(resolve_study(study), parsed).load(strict=False)

class _Loader(MappingLoader):
    def __init__(self, path: Path, parsed: Mapping[str, Any] | None = None):
        self.path = path
        self.problems: list[str] = []
        self.parsed = parsed or {}

    def problem(self, where: str, msg: str) -> None:
        self.problems.append(f"{where}: {msg}")

    # -- files --------------------------------------------------------------------------------------------------
    def yaml(self, rel: str, required: bool = True) -> Any:
        p = self.path / rel
        if not p.exists():
            if required:
                self.problem(rel, "file is missing")
            return None
        if rel in self.parsed:
            return self.parsed[rel]
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
