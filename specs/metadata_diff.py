"""Compare study metadata by what a define.xml carries: round trips (define.xml -> spec -> define.xml, spec ->
define.xml -> spec) list every difference instead of a yes/no.

`define_facts(tables)` turns spec tables (read from a define.xml, a workbook, or a loaded spec) into a flat mapping
fact -> value, with the values a define.xml 2.1 written by cdiscflow states:

* a value-level row inherits label, length, display format, significant digits and origin from its variable when
  it leaves them blank; Mandatory is No unless stated;
* a variable's Mandatory is Yes for core Req unless stated; numbers are 8 long unless stated; a length of a type
  other than text/integer/float is not carried (Define-XML gives none);
* comments are compared by text, methods by name, type and text (their ids change from 1.0 to 2.1);
* what Define-XML has no place for is not compared: core, collected synonyms, codelist extensibility, developer
  notes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cdiscflow.specs.cdisc import cdisc_codelist, ig_variable
from cdiscflow.specs.tables import SpecTables, parse_where

Fact = tuple[Any, ...]
_LENGTH_TYPES = ("text", "integer", "float")


def define_facts(tables: SpecTables) -> dict[Fact, str]:
    t = tables.normalised()
    comments = {c["comment"]: c for c in t.comments}
    methods = {m["method"]: m for m in t.methods}
    docs = {d["document"]: d for d in t.documents}
    acrf = next((d["document"] for d in t.documents if d["kind"] == "acrf"), "")
    standard = {d["dataset"]: d["standard"] for d in t.datasets}

    def comment(cell: str) -> str:
        c = comments.get(cell)
        if c is None:
            return cell
        return " | ".join(x for x in (c["description"], c["document"], c["pages"]) if x)

    def method(mid: str) -> str:
        m = methods.get(mid)
        if m is None:
            return mid
        return " | ".join(x for x in (m["name"], m["type"], m["description"], m["expression_context"],
                                      m["expression_code"], m["document"], m["pages"]) if x)

    def pages(cell: str) -> str:
        if not cell:
            return ""
        doc, sep, refs = cell.partition(":")
        doc, refs = (doc.strip(), refs) if sep and doc.strip() in docs else (acrf, cell)
        return f"{doc}: {' '.join(refs.replace(',', ' ').split())}"

    def length(datatype: str, value: str) -> str:
        if datatype not in _LENGTH_TYPES:
            return ""
        return value or ("8" if datatype != "text" else "")

    facts: dict[Fact, str] = {}
    study = t.study
    for key in ("name", "protocol"):
        facts[("study", key)] = str(study.get(key) or study.get("studyid") or "")
    for key, value in sorted((study.get("standards") or {}).items()):
        if key == "dictionaries":
            continue  # a define.xml states dictionary versions per codelist (compared there)
        if isinstance(value, dict):
            for k, v in sorted(value.items()):
                facts[("study", "standards", key, k)] = str(v)
        elif key not in ("define", "SDTM", "ADaM", "SEND"):  # define.xml 2.1 names IGs, not model versions
            facts[("study", "standards", key)] = str(value)

    for d in t.datasets:
        for key in ("standard", "label", "class", "subclass", "structure", "repeating", "reference_data"):
            facts[("dataset", d["dataset"], key)] = d[key]
        facts[("dataset", d["dataset"], "keys")] = ", ".join(k.strip() for k in d["keys"].replace(";", ",").split(",")
                                                              if k.strip())
        facts[("dataset", d["dataset"], "comment")] = comment(d["comment"])

    variables: dict[tuple[str, str], dict[str, str]] = {}
    by_dataset: dict[str, list[dict[str, str]]] = {}
    for v in t.variables:
        by_dataset.setdefault(v["dataset"], []).append(v)
    for ds, rows in by_dataset.items():
        ordered = sorted(rows, key=lambda r: int(r["order"]) if r["order"].isdigit() else 10 ** 9)
        for pos, v in enumerate(ordered, start=1):
            variables[(ds, v["variable"])] = v
            core = v["core"] or (ig_variable(standard.get(ds, ""), ds, v["variable"]) or {}).get("core", "")
            key = ("variable", ds, v["variable"])
            facts[key + ("position",)] = str(pos)
            for name in ("label", "datatype", "display_format", "codelist", "origin", "source", "role"):
                facts[key + (name,)] = v[name]
            facts[key + ("length",)] = length(v["datatype"], v["length"])
            facts[key + ("significant_digits",)] = v["significant_digits"] if v["datatype"] == "float" else ""
            facts[key + ("pages",)] = pages(v["pages"])
            facts[key + ("mandatory",)] = v["mandatory"] or ("Yes" if core == "Req" else "No")
            facts[key + ("method",)] = method(v["method"])
            facts[key + ("comment",)] = comment(v["comment"])

    for r in t.valuelevel:
        parent = variables.get((r["dataset"], r["variable"]), {})
        try:
            where = " AND ".join(f"{v} {c} {'|'.join(vals)}" for v, c, vals in parse_where(r["where"]))
        except ValueError:
            where = r["where"]
        key = ("valuelevel", r["dataset"], r["variable"], where)
        inherit_origin = not r["origin"]
        facts[key + ("datatype",)] = r["datatype"]
        if r["datatype"] == "text":
            own = r["length"] or (parent.get("length", "") if parent.get("datatype") == "text" else "")
        else:
            own = r["length"]
        facts[key + ("length",)] = length(r["datatype"], own)
        digits = r["significant_digits"] or parent.get("significant_digits", "")
        facts[key + ("significant_digits",)] = digits if r["datatype"] == "float" else ""
        facts[key + ("display_format",)] = r["display_format"] or parent.get("display_format", "")
        facts[key + ("label",)] = r["label"] or parent.get("label", "")
        facts[key + ("codelist",)] = r["codelist"]
        facts[key + ("origin",)] = parent.get("origin", "") if inherit_origin else r["origin"]
        facts[key + ("source",)] = parent.get("source", "") if inherit_origin else r["source"]
        facts[key + ("pages",)] = pages(parent.get("pages", "") if inherit_origin else r["pages"])
        facts[key + ("mandatory",)] = r["mandatory"] or "No"
        facts[key + ("method",)] = method(r["method"])
        facts[key + ("comment",)] = comment(r["comment"])

    positions: dict[str, int] = {}
    for c in t.codelists:
        cid = c["codelist"]
        for name in ("codelist_name", "datatype", "codelist_code", "dictionary", "version"):
            value = c[name] or ("text" if name == "datatype" else "")
            facts.setdefault(("codelist", cid, name), value)
        if c["term"]:
            positions[cid] = positions.get(cid, 0) + 1
            key = ("term", cid, c["term"])
            ct = ((cdisc_codelist(c["codelist_code"]) or {}).get("terms") or {}).get(c["term"], {})
            facts[key + ("decode",)] = c["decode"] or ct.get("decode", "")  # the loader fills both from CT
            facts[key + ("term_code",)] = c["term_code"] or ct.get("code", "")
            facts[key + ("order",)] = c["order"] or str(positions[cid])

    used_methods = {r["method"] for r in (*t.variables, *t.valuelevel)}
    for m in t.methods:
        if m["method"] not in used_methods:
            facts[("method (unreferenced)", method(m["method"]))] = ""
    used_comments = {r["comment"] for r in (*t.variables, *t.valuelevel, *t.datasets)}
    for c in t.comments:
        if c["comment"] not in used_comments:
            facts[("comment (unreferenced)", comment(c["comment"]))] = ""
    for d in t.documents:
        for name in ("title", "href", "kind"):
            facts[("document", d["document"], name)] = d[name]
    return facts


def fact_differences(a: dict[Fact, str], b: dict[Fact, str], names: tuple[str, str] = ("A", "B")) -> list[str]:
    """Every fact only one side has, and every value that differs, one line each (sorted)."""
    out = []
    for key in sorted(set(a) | set(b), key=lambda k: tuple(map(str, k))):
        where = " ".join(map(str, key))
        if key not in b:
            if a[key] or len(key) <= 2:
                out.append(f"only in {names[0]}: {where} = {a[key]!r}")
        elif key not in a:
            if b[key] or len(key) <= 2:
                out.append(f"only in {names[1]}: {where} = {b[key]!r}")
        elif a[key] != b[key]:
            out.append(f"{where}: {names[0]} {a[key]!r}, {names[1]} {b[key]!r}")
    return out


def define_differences(a: str | Path, b: str | Path) -> list[str]:
    """Differences between two define.xml files (any Define-XML version) in what they say about the study."""
    from cdiscflow.specs.define_xml import read_define_tables

    return fact_differences(define_facts(read_define_tables(a)), define_facts(read_define_tables(b)),
                            (Path(a).name, Path(b).name))
