"""Spec workbooks (.xlsx) in the Pinnacle 21 / metacore layout read into the spec's metadata tables
(`workbook_writer.py` writes them back out).

Sheets (names and column headers are matched case-insensitively, blanks and punctuation ignored, because the
templates in use vary; "Define" is read as "Study"):

    Study         Attribute | Value            StudyName, StudyDescription, ProtocolName, Language (+ StudyID)
    Standards     Name | Type | Publishing Set | Version      (IG and CT rows; optional)
    Datasets      Dataset | Label | Class | SubClass | Structure | Key Variables | Standard | Repeating |
                  Reference Data | Comment
    Variables     Order | Dataset | Variable | Label | Data Type | Length | Significant Digits | Format | Mandatory |
                  Codelist | Origin | Source | Pages | Method | Predecessor | Role | Core | Comment
    ValueLevel    Order | Dataset | Variable | Where Clause | Label | Data Type | Length | Significant Digits |
                  Format | Mandatory | Codelist | Origin | Source | Pages | Method | Predecessor | Comment
    WhereClauses  ID | Dataset | Variable | Comparator | Value   (rows with one ID are joined by AND; IN values
                  separated by commas, or by '|' when a value has a comma)
    Codelists     ID | Name | NCI Codelist Code | Data Type | Extensible | Order | Term | NCI Term Code |
                  Decoded Value | Synonyms
    Dictionaries  ID | Name | Data Type | Dictionary | Version
    Methods       ID | Name | Type | Description | Expression Context | Expression Code | Document | Pages
    Comments      ID | Description | Document | Pages
    Documents     ID | Title | Href | Kind
    Analysis Displays  ID | Title | Document | Pages                     (Analysis Results Metadata; optional)
    Analysis Results   Display | ID | Description | Reason | Purpose | Parameter | Datasets | Variables |
                       Where Clause | Documentation | Programming Context | Programming Code | Programming Document
                       (Datasets and Variables: comma-separated names; Variables may be DATASET.VARIABLE)

Datasets and Variables are required; the others when something refers to them.  A ValueLevel "Where Clause" is
the ID of WhereClauses rows or the clause itself ("PARAMCD EQ ACITM01").  Method and Codelist cells are IDs; a
Comment cell is the ID of a Comments row or the comment's text.  Columns the spec has no place for (Developer
Notes, Assigned Value, Common ...) are listed in the import notes when they hold anything.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any, Mapping

from cdiscflow.core.errors import InputError
from cdiscflow.specs.tables import (ANALYSIS_DISPLAY_COLUMNS, ANALYSIS_RESULT_COLUMNS, CODELIST_COLUMNS,
                                    COMMENT_COLUMNS, DATASET_COLUMNS, DOCUMENT_COLUMNS,
                                    METHOD_COLUMNS, VALUELEVEL_COLUMNS, VARIABLE_COLUMNS, Row, SpecTables, cell,
                                    parse_where, row_of, where_text, where_value_problem)

# logical column -> header spellings (normalised: lower case, letters and digits only)
SHEETS: dict[str, dict[str, tuple[str, ...]]] = {
    "Study": {"attribute": ("attribute", "name", "key"), "value": ("value",)},
    "Standards": {"name": ("name", "standard"), "type": ("type",), "publishing_set": ("publishingset",),
                  "version": ("version",)},
    "Datasets": {"dataset": ("dataset", "name", "domain"), "label": ("label", "description"), "class": ("class",),
                 "subclass": ("subclass",), "structure": ("structure",),
                 "keys": ("keyvariables", "keys", "key"), "standard": ("standard",),
                 "repeating": ("repeating",), "reference_data": ("referencedata", "isreferencedata"),
                 "comment": ("comment",)},
    "Variables": {"order": ("order", "ordernumber"), "dataset": ("dataset", "domain"),
                  "variable": ("variable", "name"), "label": ("label", "description"),
                  "datatype": ("datatype", "type"), "length": ("length",),
                  "significant_digits": ("significantdigits",), "display_format": ("format", "displayformat"),
                  "mandatory": ("mandatory",), "codelist": ("codelist",), "origin": ("origin",),
                  "source": ("source",), "pages": ("pages",), "method": ("method",),
                  "predecessor": ("predecessor",), "role": ("role",), "core": ("core",), "comment": ("comment",)},
    "ValueLevel": {"order": ("order", "ordernumber"), "dataset": ("dataset", "domain"), "variable": ("variable",),
                   "where": ("whereclause", "where"), "label": ("label", "description"),
                   "datatype": ("datatype", "type"), "length": ("length",),
                   "significant_digits": ("significantdigits",), "display_format": ("format", "displayformat"),
                   "mandatory": ("mandatory",), "codelist": ("codelist",), "origin": ("origin",),
                   "source": ("source",), "pages": ("pages",), "method": ("method",),
                   "predecessor": ("predecessor",), "comment": ("comment",)},
    "WhereClauses": {"id": ("id",), "dataset": ("dataset",), "variable": ("variable",),
                     "comparator": ("comparator",), "value": ("value", "values")},
    "Codelists": {"id": ("id",), "name": ("name",), "codelist_code": ("ncicodelistcode", "codelistcode"),
                  "datatype": ("datatype",), "extensible": ("extensible",), "order": ("order", "ordernumber"),
                  "term": ("term", "codedvalue"), "term_code": ("ncitermcode", "termcode"),
                  "decode": ("decodedvalue", "decode"), "synonyms": ("synonyms",)},
    "Dictionaries": {"id": ("id",), "name": ("name",), "datatype": ("datatype",), "dictionary": ("dictionary",),
                     "version": ("version",)},
    "Methods": {"id": ("id",), "name": ("name",), "type": ("type",), "description": ("description",),
                "expression_context": ("expressioncontext",), "expression_code": ("expressioncode",),
                "document": ("document",), "pages": ("pages",)},
    "Comments": {"id": ("id",), "description": ("description",), "document": ("document",), "pages": ("pages",)},
    "Documents": {"id": ("id",), "title": ("title",), "href": ("href",), "kind": ("kind",)},
    "AnalysisDisplays": {"id": ("id", "display", "displayid", "displayname"),
                         "title": ("title", "displaytitle", "description"), "document": ("document",),
                         "pages": ("pages",)},
    "AnalysisResults": {"display": ("display", "displayid", "displayname"), "id": ("id", "result", "resultid"),
                        "description": ("description",), "reason": ("reason", "analysisreason"),
                        "purpose": ("purpose", "analysispurpose"), "parameter": ("parameter", "paramcd"),
                        "datasets": ("datasets", "dataset", "analysisdataset", "analysisdatasets"),
                        "variables": ("variables", "variable", "analysisvariables", "analysisvariable"),
                        "where": ("whereclause", "where", "selectioncriteria"),
                        "documentation": ("documentation",), "code_context": ("programmingcontext", "context"),
                        "code": ("programmingcode", "code"), "code_document": ("programmingdocument",)},
}
SHEET_ALIASES = {"study": "Study", "define": "Study", "standards": "Standards", "datasets": "Datasets",
                 "variables": "Variables", "valuelevel": "ValueLevel", "whereclauses": "WhereClauses",
                 "codelists": "Codelists", "dictionaries": "Dictionaries", "methods": "Methods",
                 "comments": "Comments", "documents": "Documents", "analysisdisplays": "AnalysisDisplays",
                 "analysisresults": "AnalysisResults"}
REQUIRED = {  # sheet -> columns it must have (when the sheet is read)
    "Study": ("attribute", "value"), "Standards": ("name", "version"), "Datasets": ("dataset", "label"),
    "Variables": ("dataset", "variable", "datatype"),
    "ValueLevel": ("dataset", "variable", "where", "datatype"),
    "WhereClauses": ("id", "variable", "comparator", "value"), "Codelists": ("id", "term"),
    "Dictionaries": ("id", "dictionary"), "Methods": ("id", "description"), "Comments": ("id", "description"),
    "Documents": ("id", "href"), "AnalysisDisplays": ("id",), "AnalysisResults": ("display", "id"),
}
ADAM_CLASSES = {"SUBJECT LEVEL ANALYSIS DATASET", "BASIC DATA STRUCTURE", "OCCURRENCE DATA STRUCTURE",
                "ADAM OTHER", "DEVICE LEVEL ANALYSIS DATASET", "MEDICAL DEVICE BASIC DATA STRUCTURE",
                "MEDICAL DEVICE OCCURRENCE DATA STRUCTURE", "REFERENCE DATA STRUCTURE"}
ORIGIN_WORDS = {"crf": ("Collected", ""), "edt": ("Collected", "Vendor")}
IG_KEYS = {"sdtmig": "SDTMIG", "sdtm-ig": "SDTMIG", "adamig": "ADaMIG", "adam-ig": "ADaMIG", "sendig": "SENDIG"}
CT_KEYS = {"sdtm": "SDTM", "adam": "ADaM", "define-xml": "Define-XML", "send": "SEND", "cdash": "CDASH"}


def _norm(text: Any) -> str:
    return re.sub(r"[^a-z0-9]", "", str(text or "").lower())


# ----------------------------------------------------------------------------------------------------------------
# reading


class _Sheet:
    """One worksheet: its rows as {logical column: cell}, each with its Excel row number."""

    def __init__(self, title: str, logical: str, rows: list[tuple[Any, ...]]):
        self.title, self.logical = title, logical
        header_at = next((i for i, r in enumerate(rows) if any(cell(v) for v in r)), None)
        self.header = [cell(v) for v in rows[header_at]] if header_at is not None else []
        self.header_row = (header_at or 0) + 1
        spellings = SHEETS[logical]
        self.columns: dict[str, int] = {}
        for i, h in enumerate(self.header):
            n = _norm(h)
            for name, options in spellings.items():
                if n in options and name not in self.columns:
                    self.columns[name] = i
                    break
        self.extra = [h for i, h in enumerate(self.header) if h and i not in self.columns.values()]
        self.rows: list[tuple[int, dict[str, str]]] = []
        self.unread: dict[str, int] = {}
        for n, r in enumerate(rows[self.header_row:], start=self.header_row + 1):
            values = {name: cell(r[i]) if i < len(r) else "" for name, i in self.columns.items()}
            if not any(values.values()):
                continue
            for i, h in enumerate(self.header):
                if h in self.extra and i < len(r) and cell(r[i]):
                    self.unread[h] = self.unread.get(h, 0) + 1
            self.rows.append((n, values))

    def missing(self) -> list[str]:
        return [name for name in REQUIRED[self.logical] if name not in self.columns]

    def heading(self, name: str) -> str:
        """How to name a column in a message: its header in the file, or the usual one."""
        if name in self.columns:
            return self.header[self.columns[name]]
        return {"keys": "Key Variables", "datatype": "Data Type", "where": "Where Clause", "id": "ID"}.get(
            name, name.replace("_", " ").title())


def read_workbook_tables(path: str | Path, *, ig_version: str = "") -> SpecTables:
    """The metadata of a spec workbook as spec tables; InputError naming sheet, row and column when unusable."""
    path = Path(path)
    try:
        import openpyxl
    except ImportError as exc:  # pragma: no cover - a dependency
        raise InputError(f"reading {path.name} needs openpyxl ({exc})") from None
    try:
        wb = openpyxl.load_workbook(str(path), read_only=True, data_only=True)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except Exception as exc:  # openpyxl raises zipfile/KeyError/InvalidFileException for files it cannot read
        raise InputError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from None
    try:
        sheets: dict[str, _Sheet] = {}
        for ws in wb.worksheets:
            logical = SHEET_ALIASES.get(_norm(ws.title))
            if logical and logical not in sheets:
                sheets[logical] = _Sheet(ws.title, logical, list(ws.iter_rows(values_only=True)))
    finally:
        wb.close()
    return _WorkbookReader(path, sheets, _saved_on(path), ig_version).tables()


def _saved_on(path: Path) -> str:
    """The date the workbook says it was last saved (or created), from docProps/core.xml; '' when it says none.
    (openpyxl reports 'now' for a missing date, which would make imports differ from day to day.)"""
    try:
        with zipfile.ZipFile(path) as z:
            core = z.read("docProps/core.xml").decode("utf-8", "replace")
    except (KeyError, zipfile.BadZipFile, OSError):
        return ""
    for tag in ("modified", "created"):
        m = re.search(rf"<dcterms:{tag}[^>]*>(\d{{4}}-\d{{2}}-\d{{2}})", core)
        if m:
            return m.group(1)
    return ""


class _WorkbookReader:
    def __init__(self, path: Path, sheets: dict[str, _Sheet], modified: str, ig_version: str):
        self.path, self.sheets, self.modified, self.ig_version = path, sheets, modified, ig_version
        self.problems: list[str] = []
        self.notes: list[str] = []
        for name in ("Datasets", "Variables"):
            if name not in sheets:
                self.problems.append(f"sheet {name} is missing (sheets found: "
                                     f"{', '.join(s.title for s in sheets.values()) or 'none'})")
        for sheet in sheets.values():
            for col in sheet.missing():
                self.problems.append(f"sheet {sheet.title}: column {sheet.heading(col)} is missing "
                                     f"(header row {sheet.header_row}: {', '.join(h for h in sheet.header if h)})")
            for header, count in sheet.unread.items():
                self.notes.append(f"sheet {sheet.title}: column {header} ({count} filled cell(s)) has no place in "
                                  "the spec; not imported")
        self.fail()

    def fail(self) -> None:
        if self.problems:
            raise InputError(f"{self.path}: {len(self.problems)} problem(s)\n"
                             + "\n".join(f"  - {p}" for p in self.problems))

    def rows(self, sheet: str) -> list[tuple[int, dict[str, str]]]:
        s = self.sheets.get(sheet)
        return s.rows if s is not None else []

    def where(self, sheet: str, n: int, column: str) -> str:
        s = self.sheets[sheet]
        return f"sheet {s.title} row {n} column {s.heading(column)}"

    def tables(self) -> SpecTables:
        t = SpecTables(source=str(self.path))
        t.datasets = self.read_datasets()
        t.study = self.read_study(t.datasets)
        t.codelists = self.read_codelists()
        t.methods = self.read_methods()
        t.comments = self.read_comments()
        t.documents = self.read_documents()
        t.variables = self.read_variables(t)
        t.valuelevel = self.read_valuelevel(t)
        t.analysis_displays, t.analysis_results = self.read_analysis_results(t)
        self.check_references(t)
        self.fail()
        t.documents = self.document_kinds(t)
        t.notes = self.notes
        return t

    # -- study ---------------------------------------------------------------------------------------------------
    def read_study(self, datasets: list[Row]) -> dict:
        attrs = {_norm(r["attribute"]): r["value"] for _, r in self.rows("Study")}
        name = attrs.get("studyname", "") or attrs.get("studyid", "") or self.path.stem
        study: dict = {"studyid": attrs.get("studyid") or name, "name": name}
        for key, attr in (("description", "studydescription"), ("protocol", "protocolname"), ("sponsor", "sponsor")):
            if attrs.get(attr):
                study[key] = attrs[attr]
        day = attrs.get("metadatadate", "") or self.modified
        if day:
            study["metadata_date"] = day
        standards: dict = {}
        ct: dict = {}
        for n, r in self.rows("Standards"):
            kind, name_ = _norm(r.get("type", "")), r["name"]
            if kind == "ct" or name_.upper() in ("CDISC/NCI", "CDISC CT"):
                key = CT_KEYS.get((r.get("publishing_set") or "").lower())
                if key:
                    ct[key] = r["version"]
            else:
                standards[IG_KEYS.get(name_.lower(), name_)] = r["version"]
        for std, key in (("SDTM", "SDTMIG"), ("ADaM", "ADaMIG")):
            if any(d["standard"] == std for d in datasets) and not standards.get(key):
                if self.ig_version:
                    standards[key] = self.ig_version
                else:
                    self.notes.append(f"the workbook names no {key} version: set standards.{key} in study.yaml "
                                      f"(or import with --ig-version) before `spec export --format define`")
        standards["define"] = "2.1.0"
        if ct:
            standards["ct"] = ct
        study["standards"] = standards
        return study

    # -- datasets, variables, value-level ---------------------------------------------------------------------------
    def read_datasets(self) -> list[Row]:
        out = []
        seen: dict[str, int] = {}
        for n, r in self.rows("Datasets"):
            name = r["dataset"].upper()
            if not name:
                self.problems.append(f"{self.where('Datasets', n, 'dataset')}: blank dataset name")
                continue
            if name in seen:
                self.problems.append(f"{self.where('Datasets', n, 'dataset')}: dataset {name} listed twice "
                                     f"(also row {seen[name]})")
                continue
            seen[name] = n
            cls = " ".join(r.get("class", "").upper().split())
            std = r.get("standard", "").upper()
            standard = "ADaM" if "ADAM" in std else "SDTM" if std else ("ADaM" if cls in ADAM_CLASSES else "SDTM")
            out.append(row_of(DATASET_COLUMNS, {**r, "dataset": name, "class": cls, "standard": standard,
                                                "keys": ", ".join(k for k in re.split(r"[,;\s]+", r.get("keys", ""))
                                                                  if k).upper()}))
        return out

    def origin(self, r: Mapping[str, str]) -> tuple[str, str]:
        origin, source = r.get("origin", ""), r.get("source", "")
        mapped = ORIGIN_WORDS.get(origin.lower())
        if mapped:
            origin, source = mapped[0], source or mapped[1]
        pred = r.get("predecessor", "")
        if pred:
            if source and source != pred:
                self.notes.append(f"{r.get('dataset')}.{r.get('variable')}: source {source!r} dropped for the "
                                  f"predecessor {pred!r} (the spec keeps one)")
            source = pred
        return origin, source

    def read_variables(self, t: SpecTables) -> list[Row]:
        names = {d["dataset"] for d in t.datasets}
        out = []
        seen: dict[tuple[str, str], int] = {}
        for n, r in self.rows("Variables"):
            ds, var = r["dataset"].upper(), r["variable"].upper()
            if ds not in names:
                self.problems.append(f"{self.where('Variables', n, 'dataset')}: dataset {ds!r} is not in sheet "
                                     f"{self.sheets['Datasets'].title}")
                continue
            if (ds, var) in seen:
                self.problems.append(f"{self.where('Variables', n, 'variable')}: {ds}.{var} listed twice (also row "
                                     f"{seen[(ds, var)]})")
                continue
            seen[(ds, var)] = n
            origin, source = self.origin(r)
            out.append(row_of(VARIABLE_COLUMNS, {**r, "dataset": ds, "variable": var, "origin": origin,
                                                 "source": source}))
        return out

    def read_valuelevel(self, t: SpecTables) -> list[Row]:
        clauses = self.where_clauses()
        out = []
        for n, r in self.rows("ValueLevel"):
            ds, var = r["dataset"].upper(), r["variable"].upper()
            ref = r["where"]
            if ref in clauses:
                parts = clauses[ref]
            else:
                try:
                    parts = [(v, c, _split_values("|".join(vals), c)) for v, c, vals in parse_where(ref)]
                except ValueError as exc:
                    hint = (" (and no such ID in sheet " + self.sheets["WhereClauses"].title + ")"
                            if "WhereClauses" in self.sheets else "")
                    self.problems.append(f"{self.where('ValueLevel', n, 'where')}: {exc}{hint}")
                    continue
            origin, source = self.origin({**r, "dataset": ds})
            out.append(row_of(VALUELEVEL_COLUMNS, {**r, "dataset": ds, "variable": var, "where": where_text(parts),
                                                   "origin": origin, "source": source}))
        return out

    def where_clauses(self) -> dict[str, list]:
        out: dict[str, list] = {}
        for n, r in self.rows("WhereClauses"):
            wid, comparator = r["id"], r["comparator"].upper()
            if comparator not in ("EQ", "NE", "IN", "NOTIN"):
                self.problems.append(f"{self.where('WhereClauses', n, 'comparator')}: comparator {comparator!r} "
                                     "(the spec's where clauses know EQ, NE, IN, NOTIN)")
                continue
            values = _split_values(r["value"], comparator)
            bad = next((p for p in map(where_value_problem, values) if p), None)
            if bad:
                self.problems.append(f"{self.where('WhereClauses', n, 'value')}: {bad}")
                continue
            out.setdefault(wid, []).append((r["variable"].upper(), comparator, values))
        return out

    # -- codelists, methods, comments, documents -----------------------------------------------------------------
    def read_codelists(self) -> list[Row]:
        out = []
        for n, r in self.rows("Codelists"):
            if not r["id"]:
                self.problems.append(f"{self.where('Codelists', n, 'id')}: blank codelist ID")
                continue
            out.append(row_of(CODELIST_COLUMNS, {**r, "codelist": r["id"], "codelist_name": r.get("name", "")}))
        ids = {r["codelist"] for r in out}
        for n, r in self.rows("Dictionaries"):
            if r["id"] in ids:
                self.problems.append(f"{self.where('Dictionaries', n, 'id')}: {r['id']} is also a codelist in sheet "
                                     f"{self.sheets['Codelists'].title}")
                continue
            out.append(row_of(CODELIST_COLUMNS, {**r, "codelist": r["id"], "codelist_name": r.get("name", "")}))
        return out

    def read_methods(self) -> list[Row]:
        return [row_of(METHOD_COLUMNS, {**r, "method": r["id"], "name": r.get("name") or r["id"],
                                        "type": r.get("type") or "Computation"})
                for _, r in self.rows("Methods")]

    def read_comments(self) -> list[Row]:
        return [row_of(COMMENT_COLUMNS, {**r, "comment": r["id"]}) for _, r in self.rows("Comments")]

    def read_documents(self) -> list[Row]:
        return [row_of(DOCUMENT_COLUMNS, {**r, "document": r["id"], "title": r.get("title") or r["id"]})
                for _, r in self.rows("Documents")]

    def document_kinds(self, t: SpecTables) -> list[Row]:
        """Documents without a Kind: the annotated CRF by its ID or title, every other one supplemental."""
        if "kind" in getattr(self.sheets.get("Documents"), "columns", {}):
            return t.documents
        has_pages = any(r["pages"] for r in (*t.variables, *t.valuelevel))
        for d in t.documents:
            title = d["title"].lower()
            is_crf = d["document"].lower() in ("acrf", "blankcrf", "crf") or "annotated" in title or "case report" in title
            if is_crf and not any(x["kind"] == "acrf" for x in t.documents):
                d["kind"] = "acrf"
            else:
                d["kind"] = "supplemental"
        if has_pages and not any(d["kind"] == "acrf" for d in t.documents):
            self.notes.append("variables name CRF pages but no document is the annotated CRF: set kind acrf on it "
                              "in documents.csv")
        return t.documents

    def read_analysis_results(self, t: SpecTables) -> tuple[list[Row], list[Row]]:
        """Analysis Displays and Analysis Results (ARM): every result names a display of the sheet and ADaM
        datasets and variables of the spec."""
        displays = [row_of(ANALYSIS_DISPLAY_COLUMNS, {**r, "display": r["id"]})
                    for _, r in self.rows("AnalysisDisplays")]
        known = {d["display"] for d in displays}
        variables = {(r["dataset"], r["variable"]) for r in t.variables}
        datasets = {r["dataset"] for r in t.datasets}
        results = []
        for n, r in self.rows("AnalysisResults"):
            row = row_of(ANALYSIS_RESULT_COLUMNS, {**r, "result": r["id"]})
            if "AnalysisDisplays" in self.sheets and row["display"] not in known:
                self.problems.append(f"{self.where('AnalysisResults', n, 'display')}: display {row['display']!r} is "
                                     f"not in sheet {self.sheets['AnalysisDisplays'].title}")
            names = [d.strip().upper() for d in row["datasets"].split(",") if d.strip()]
            for ds in names:
                if ds not in datasets:
                    self.problems.append(f"{self.where('AnalysisResults', n, 'datasets')}: dataset {ds!r} is not in "
                                         f"sheet {self.sheets['Datasets'].title}")
            for var in (v.strip().upper() for v in row["variables"].split(",") if v.strip()):
                ds, _, name = var.rpartition(".")
                if not any((d, name) in variables for d in ([ds] if ds else names)):
                    self.problems.append(f"{self.where('AnalysisResults', n, 'variables')}: variable {var!r} is in "
                                         f"none of the datasets {', '.join(([ds] if ds else names)) or '(none named)'}")
            results.append(row)
        if results and not displays:
            displays = [row_of(ANALYSIS_DISPLAY_COLUMNS, {"display": d})
                        for d in dict.fromkeys(r["display"] for r in results)]
        return displays, results

    def check_references(self, t: SpecTables) -> None:
        """Every ID a cell names exists in its sheet: codelists, methods, documents (comments may be text)."""
        codelists = {r["codelist"] for r in t.codelists}
        methods = {r["method"] for r in t.methods}
        documents = {r["document"] for r in t.documents}
        sheet_of = {"Variables": t.variables, "ValueLevel": t.valuelevel}
        for sheet, rows in sheet_of.items():
            for (n, _), r in zip(self.rows(sheet), rows):
                if r["codelist"] and r["codelist"] not in codelists:
                    self.problems.append(f"{self.where(sheet, n, 'codelist')}: codelist {r['codelist']!r} is in no "
                                         "sheet Codelists or Dictionaries")
                if r["method"] and r["method"] not in methods:
                    self.problems.append(f"{self.where(sheet, n, 'method')}: method {r['method']!r} is not in sheet "
                                         "Methods")
        for sheet, rows, key in (("Methods", t.methods, "method"), ("Comments", t.comments, "comment")):
            for (n, _), r in zip(self.rows(sheet), rows):
                if r["document"] and r["document"] not in documents:
                    self.problems.append(f"{self.where(sheet, n, 'document')}: document {r['document']!r} is not in "
                                         "sheet Documents")


def _split_values(text: str, comparator: str) -> tuple[str, ...]:
    """IN/NOTIN values of one cell: separated by '|' when there is one, else by commas."""
    if comparator not in ("IN", "NOTIN"):
        return (text.strip(),)
    sep = "|" if "|" in text else ","
    return tuple(v.strip() for v in text.split(sep) if v.strip())
