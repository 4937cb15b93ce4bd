"""The metadata tables of a study spec as plain rows: what `spec import` writes and `spec export` reads.

A spec folder keeps its define-level metadata in CSV tables (see `specs/model.py`).  Importers (define.xml,
spec workbooks) build a `SpecTables` — one list of rows per table, every cell a string, the columns below — and
`write_spec_folder` writes it as a metadata-only spec folder (study.yaml + the CSVs), atomically.  Exporters start
from a loaded `StudySpec` and `metadata_tables(spec)` turns it back into the same rows, so round trips compare like
with like.

    datasets.csv    standard, dataset, label, class, subclass, structure, keys, repeating, reference_data, comment
    variables.csv   dataset, order, variable, label, datatype, length, codelist, origin, source, core, role,
                    display_format, method, comment, significant_digits, mandatory, pages
    valuelevel.csv  dataset, variable, where, datatype, length, codelist, origin, label, method, display_format,
                    comment, significant_digits, mandatory, source, pages
    codelists.csv   codelist, codelist_code, codelist_name, extensible, datatype, term, term_code, decode, synonyms,
                    dictionary, version, order
    methods.csv     method, name, type, description, expression_context, expression_code, document, pages
    comments.csv    comment, description, document, pages
    documents.csv   document, title, href, kind (acrf: the annotated CRF that variable `pages` point into;
                    supplemental: a reviewer's guide or other supplemental document)

A `comment` cell of datasets/variables/valuelevel is either the id of a comments.csv row or the comment text itself.
`pages` of a variable or value-level row are page references in the annotated CRF ("12 13", "12-14", or named
destinations); "DOC: refs" points into another document of documents.csv.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from cdiscflow.core.atomic import write_folder as atomic_folder
from cdiscflow.core.errors import InputError

DATASET_COLUMNS = ("standard", "dataset", "label", "class", "subclass", "structure", "keys", "repeating",
                   "reference_data", "comment")
VARIABLE_COLUMNS = ("dataset", "order", "variable", "label", "datatype", "length", "codelist", "origin", "source",
                    "core", "role", "display_format", "method", "comment", "significant_digits", "mandatory", "pages")
VALUELEVEL_COLUMNS = ("dataset", "variable", "where", "datatype", "length", "codelist", "origin", "label", "method",
                      "display_format", "comment", "significant_digits", "mandatory", "source", "pages")
CODELIST_COLUMNS = ("codelist", "codelist_code", "codelist_name", "extensible", "datatype", "term", "term_code",
                    "decode", "synonyms", "dictionary", "version", "order")
METHOD_COLUMNS = ("method", "name", "type", "description", "expression_context", "expression_code", "document",
                  "pages")
COMMENT_COLUMNS = ("comment", "description", "document", "pages")
DOCUMENT_COLUMNS = ("document", "title", "href", "kind")
# Analysis Results Metadata (from a workbook's Analysis Displays / Analysis Results sheets)
ANALYSIS_DISPLAY_COLUMNS = ("display", "title", "document", "pages")
ANALYSIS_RESULT_COLUMNS = ("display", "result", "description", "reason", "purpose", "parameter", "datasets",
                           "variables", "where", "documentation", "code_context", "code", "code_document")

TABLES: dict[str, tuple[str, ...]] = {
    "datasets": DATASET_COLUMNS, "variables": VARIABLE_COLUMNS, "valuelevel": VALUELEVEL_COLUMNS,
    "codelists": CODELIST_COLUMNS, "methods": METHOD_COLUMNS, "comments": COMMENT_COLUMNS,
    "documents": DOCUMENT_COLUMNS, "analysis_displays": ANALYSIS_DISPLAY_COLUMNS,
    "analysis_results": ANALYSIS_RESULT_COLUMNS,
}
OPTIONAL_TABLES = ("valuelevel", "methods", "comments", "documents", "analysis_displays",
                   "analysis_results")  # written only when they have rows

Row = dict[str, str]


@dataclass
class SpecTables:
    """The metadata of a study as table rows (every cell a string; '' = blank), plus study.yaml settings."""

    study: dict[str, Any] = field(default_factory=dict)
    datasets: list[Row] = field(default_factory=list)
    variables: list[Row] = field(default_factory=list)
    valuelevel: list[Row] = field(default_factory=list)
    codelists: list[Row] = field(default_factory=list)
    methods: list[Row] = field(default_factory=list)
    comments: list[Row] = field(default_factory=list)
    documents: list[Row] = field(default_factory=list)
    analysis_displays: list[Row] = field(default_factory=list)
    analysis_results: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the importer decided or could not carry over
    source: str = ""  # what the tables were read from, for study.yaml's header

    def table(self, name: str) -> list[Row]:
        return getattr(self, name)

    def normalised(self) -> "SpecTables":
        """Every row with exactly its table's columns, cells stripped strings."""
        out = SpecTables(dict(self.study), notes=list(self.notes), source=self.source)
        for name, columns in TABLES.items():
            setattr(out, name, [row_of(columns, r) for r in self.table(name)])
        return out


def row_of(columns: Iterable[str], values: Mapping[str, Any]) -> Row:
    return {c: cell(values.get(c)) for c in columns}


def cell(value: Any) -> str:
    """A table cell: None -> '', numbers without a spurious '.0', text stripped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# ----------------------------------------------------------------------------------------------------------------
# where clauses (valuelevel.csv `where`)


WHERE_PART = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)\s+(EQ|NE|IN|NOTIN|LT|LE|GT|GE)\s+(.*?)\s*$")


def where_text(clauses: Iterable[tuple[str, str, Iterable[str]]]) -> str:
    """(variable, comparator, values) triples -> 'VAR EQ value AND VAR2 IN a|b' (valuelevel.csv syntax)."""
    return " AND ".join(f"{v} {c} {'|'.join(vals)}" for v, c, vals in clauses)


def parse_where(text: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """'VAR EQ value AND VAR2 IN a|b' -> [(VAR, EQ, (value,)), (VAR2, IN, (a, b))]; ValueError when malformed."""
    out = []
    for part in re.split(r"\s+AND\s+", text.strip()):
        m = WHERE_PART.match(part)
        if not m:
            raise ValueError(f"where clause {part!r} must read 'VAR EQ value' or 'VAR IN a|b'")
        values = tuple(x.strip() for x in m.group(3).split("|"))
        out.append((m.group(1).upper(), m.group(2), values))
    return out


def where_value_problem(value: str) -> str | None:
    """Why a where-clause value cannot be written in valuelevel.csv syntax, or None."""
    if "|" in value:
        return f"value {value!r} contains '|', which separates values in valuelevel.csv"
    if re.search(r"\sAND\s", value):
        return f"value {value!r} contains ' AND ', which joins conditions in valuelevel.csv"
    if value != value.strip():
        return f"value {value!r} has leading or trailing blanks"
    return None


# ----------------------------------------------------------------------------------------------------------------
# writing a spec folder


def csv_text(columns: Iterable[str], rows: Iterable[Mapping[str, str]]) -> str:
    buf = io.StringIO()
    columns = list(columns)
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([r.get(c, "") for c in columns])
    return buf.getvalue()


def study_yaml_text(tables: SpecTables) -> str:
    head = [
        "# A metadata-only study spec written by `cdiscflow spec import`"
        + (f" from {tables.source}." if tables.source else "."),
        "# It holds the define-level metadata (datasets, variables, value-level metadata, codelists, methods ...).",
        "# To run it, add forms.yaml and sdtm/*.yaml mappings (or adam/*.yaml) and the data cut-off date:",
        "#   datacut: YYYY-MM-DD",
    ]
    body = yaml.safe_dump(tables.study, sort_keys=False, allow_unicode=True, width=110, default_flow_style=False)
    return "\n".join(head) + "\n" + body


def spec_folder_files(tables: SpecTables) -> dict[str, str]:
    """File name -> text of the spec folder for these tables (deterministic)."""
    t = tables.normalised()
    files = {"study.yaml": study_yaml_text(t)}
    for name, columns in TABLES.items():
        rows = t.table(name)
        if rows or name not in OPTIONAL_TABLES:
            files[f"{name}.csv"] = csv_text(columns, rows)
    if t.notes:
        files["import_notes.txt"] = "".join(f"{n}\n" for n in t.notes)
    return files


def write_spec_folder(tables: SpecTables, out: str | Path, *, force: bool = False) -> Path:
    """Write the tables as a spec folder `out`, atomically: built beside it, then renamed into place.

    A non-empty `out` is refused unless `force` (then it is replaced as a whole, never merged)."""
    return write_folder(spec_folder_files(tables), out, force=force)


def write_folder(files: Mapping[str, str | bytes], out: str | Path, *, force: bool = False) -> Path:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise InputError(f"{out}: folder exists and is not empty (choose a new folder, or --force to replace it)")
    data = {rel: (c.encode("utf-8") if isinstance(c, str) else c) for rel, c in files.items()}
    return atomic_folder(data, out, replace=force)


# ----------------------------------------------------------------------------------------------------------------
# a loaded spec as tables


def metadata_tables(spec) -> SpecTables:
    """The metadata of a loaded `StudySpec` as table rows: the values the loader settled on (labels, cores and roles
    filled from the implementation guide, C-codes and decodes from CDISC CT)."""
    t = SpecTables(study=dict(_plain(spec.study)))
    for ds in spec.datasets.values():
        t.datasets.append(row_of(DATASET_COLUMNS, {
            "standard": ds.standard, "dataset": ds.name, "label": ds.label, "class": ds.cls,
            "subclass": ds.subclass, "structure": ds.structure, "keys": ", ".join(ds.keys),
            "repeating": ds.repeating, "reference_data": ds.reference_data, "comment": ds.comment,
        }))
        for v in ds.variables:
            t.variables.append(row_of(VARIABLE_COLUMNS, {
                "dataset": ds.name, "order": v.order, "variable": v.name, "label": v.label, "datatype": v.datatype,
                "length": v.length, "codelist": v.codelist, "origin": v.origin, "source": v.source, "core": v.core,
                "role": v.role, "display_format": v.display_format, "method": v.method, "comment": v.comment,
                "significant_digits": v.significant_digits, "mandatory": v.mandatory,
                "pages": v.pages,
            }))
    for vl in spec.valuelevel:
        t.valuelevel.append(row_of(VALUELEVEL_COLUMNS, {
            "dataset": vl.dataset, "variable": vl.variable,
            "where": where_text((w.variable, w.comparator, w.values) for w in vl.where),
            "datatype": vl.datatype, "length": vl.length, "codelist": vl.codelist, "origin": vl.origin,
            "label": vl.label, "method": vl.method, "display_format": vl.display_format, "comment": vl.comment,
            "significant_digits": vl.significant_digits, "mandatory": vl.mandatory,
            "source": vl.source, "pages": vl.pages,
        }))
    for cl in spec.codelists.values():
        head = {"codelist": cl.id, "codelist_code": cl.code, "codelist_name": cl.name,
                "extensible": "Yes" if cl.extensible else "No", "datatype": cl.datatype,
                "dictionary": cl.dictionary, "version": cl.version}
        if not cl.terms:
            t.codelists.append(row_of(CODELIST_COLUMNS, head))
        for term in cl.terms:
            t.codelists.append(row_of(CODELIST_COLUMNS, {
                **head, "term": term.value, "term_code": term.code, "decode": term.decode,
                "synonyms": "|".join(term.synonyms), "order": term.order,
            }))
    for m in spec.methods.values():
        t.methods.append(row_of(METHOD_COLUMNS, {
            "method": m.id, "name": m.name, "type": m.type, "description": m.description,
            "expression_context": m.expression_context,
            "expression_code": m.expression_code, "document": m.document,
            "pages": m.pages,
        }))
    for c in spec.comments.values():
        t.comments.append(row_of(COMMENT_COLUMNS, {"comment": c.id, "description": c.description,
                                                   "document": c.document, "pages": c.pages}))
    for d in spec.documents.values():
        t.documents.append(row_of(DOCUMENT_COLUMNS, {"document": d.id, "title": d.title, "href": d.href,
                                                     "kind": d.kind}))
    return t


def _plain(obj: Any) -> Any:
    """Read-only YAML views (MappingProxyType, tuples) back to dicts and lists."""
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


# ----------------------------------------------------------------------------------------------------------------
# comparing tables

KEYS: dict[str, tuple[str, ...]] = {
    "datasets": ("dataset",), "variables": ("dataset", "variable"), "valuelevel": ("dataset", "variable", "where"),
    "codelists": ("codelist", "term"), "methods": ("method",), "comments": ("comment",), "documents": ("document",),
    "analysis_displays": ("display",), "analysis_results": ("display", "result"),
}


def with_comment_text(tables: SpecTables) -> SpecTables:
    """The tables with every comment cell that names a comments.csv row replaced by that comment's text (and
    the comments table left with the comments nothing names), so specs that say the same compare equal."""
    t = tables.normalised()
    named = {c["comment"]: c for c in t.comments if not c["document"] and not c["pages"]}
    used = set()
    for r in (*t.datasets, *t.variables, *t.valuelevel):
        if r["comment"] in named:
            used.add(r["comment"])
            r["comment"] = named[r["comment"]]["description"]
    t.comments = [c for c in t.comments if c["comment"] not in used]
    return t


def table_differences(a: SpecTables, b: SpecTables, names: tuple[str, str] = ("A", "B"),
                      ignore: Iterable[str] = ()) -> list[str]:
    """Every row only one side has and every cell that differs, per table (`ignore`: 'table.column' or column)."""
    ignore = set(ignore)
    out = []
    a, b = a.normalised(), b.normalised()
    for table, columns in TABLES.items():
        key_cols = KEYS[table]
        rows_a = {tuple(r[k] for k in key_cols): r for r in a.table(table)}
        rows_b = {tuple(r[k] for k in key_cols): r for r in b.table(table)}
        for key in [k for k in rows_a if k not in rows_b]:
            out.append(f"{table}: {'/'.join(key)} only in {names[0]}")
        for key in [k for k in rows_b if k not in rows_a]:
            out.append(f"{table}: {'/'.join(key)} only in {names[1]}")
        for key in [k for k in rows_a if k in rows_b]:
            for c in columns:
                if c in ignore or f"{table}.{c}" in ignore:
                    continue
                if rows_a[key][c] != rows_b[key][c]:
                    out.append(f"{table}: {'/'.join(key)} {c}: {names[0]} {rows_a[key][c]!r}, "
                               f"{names[1]} {rows_b[key][c]!r}")
        # order matters within a group (terms of a codelist, value-level rows of a variable), not between them
        group = {"codelists": 1, "valuelevel": 2}.get(table)
        if group:
            seq_a, seq_b = _groups(rows_a, group), _groups(rows_b, group)
            out += [f"{table}: {'/'.join(g)}: same rows in another order" for g in seq_a
                    if g in seq_b and set(seq_a[g]) == set(seq_b[g]) and seq_a[g] != seq_b[g]]
        elif table in ("datasets", "variables") and set(rows_a) == set(rows_b) and list(rows_a) != list(rows_b):
            out.append(f"{table}: same rows in another order")  # (methods, comments, documents: by id)
    return out


def _groups(keys: Iterable[tuple[str, ...]], width: int) -> dict[tuple[str, ...], list[tuple[str, ...]]]:
    out: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for k in keys:
        out.setdefault(k[:width], []).append(k)
    return out
