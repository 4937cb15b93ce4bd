"""The spec's metadata tables written as a spec workbook (.xlsx, the Pinnacle 21 / metacore layout that
`workbook.py` reads back): `workbook_sheets` (the rows of each sheet) and `workbook_bytes` (the file, fixed
timestamps so the same tables give the same bytes)."""

from __future__ import annotations

import io
import re

from cdiscflow.core.workbook import fixed_zip
from cdiscflow.specs.tables import ANALYSIS_RESULT_COLUMNS, Row, SpecTables, cell, parse_where, where_text


def workbook_sheets(t: SpecTables) -> dict[str, list[list[str]]]:
    """Sheet name -> rows (header first) of the workbook for these tables."""
    t = t.normalised()
    study, standards = t.study, t.study.get("standards") or {}
    sheets: dict[str, list[list[str]]] = {}
    sheets["Study"] = [["Attribute", "Value"],
                       ["StudyName", cell(study.get("name") or study.get("studyid"))],
                       ["StudyDescription", cell(study.get("title") or study.get("description"))],
                       ["ProtocolName", cell(study.get("protocol") or study.get("studyid"))],
                       ["Language", "en"], ["StudyID", cell(study.get("studyid"))]]
    if study.get("metadata_date") or study.get("datacut"):
        sheets["Study"].append(["MetadataDate", cell(study.get("metadata_date") or study.get("datacut"))])
    std_rows = [["Name", "Type", "Publishing Set", "Version"]]
    for key, version in standards.items():
        if key in ("SDTMIG", "ADaMIG", "SENDIG") and version:
            std_rows.append([key, "IG", "", cell(version)])
    for key, version in (standards.get("ct") or {}).items():
        std_rows.append(["CDISC/NCI", "CT", key.upper() if key != "ADaM" else "ADaM", cell(version)])
    sheets["Standards"] = std_rows

    comment_ids = {c["comment"] for c in t.comments}
    comments = [[c["comment"], c["description"], c["document"], c["pages"]] for c in t.comments]

    def comment_ref(text: str, oid: str) -> str:
        """A comment cell as an ID: a comments.csv id as it is, a text under a new ID."""
        if not text or text in comment_ids:
            return text
        while oid in comment_ids:
            oid += "_"
        comment_ids.add(oid)
        comments.append([oid, text, "", ""])
        return oid

    sheets["Datasets"] = [["Dataset", "Label", "Class", "SubClass", "Structure", "Key Variables", "Standard",
                           "Repeating", "Reference Data", "Comment"]]
    for d in t.datasets:
        sheets["Datasets"].append([d["dataset"], d["label"], d["class"], d["subclass"], d["structure"], d["keys"],
                                   d["standard"], d["repeating"], d["reference_data"],
                                   comment_ref(d["comment"], f"COM.{d['dataset']}")])

    def split_source(r: Row) -> tuple[str, str]:
        return ("", r["source"]) if r["origin"] == "Predecessor" else (r["source"], "")

    sheets["Variables"] = [["Order", "Dataset", "Variable", "Label", "Data Type", "Length", "Significant Digits",
                            "Format", "Mandatory", "Codelist", "Origin", "Source", "Pages", "Method", "Predecessor",
                            "Role", "Core", "Comment"]]
    for v in t.variables:
        source, pred = split_source(v)
        sheets["Variables"].append([
            v["order"], v["dataset"], v["variable"], v["label"], v["datatype"], v["length"], v["significant_digits"],
            v["display_format"], v["mandatory"], v["codelist"], v["origin"], source, v["pages"], v["method"], pred,
            v["role"], v["core"], comment_ref(v["comment"], f"COM.{v['dataset']}.{v['variable']}")])

    sheets["ValueLevel"] = [["Order", "Dataset", "Variable", "Where Clause", "Label", "Data Type", "Length",
                             "Significant Digits", "Format", "Mandatory", "Codelist", "Origin", "Source", "Pages",
                             "Method", "Predecessor", "Comment"]]
    sheets["WhereClauses"] = [["ID", "Dataset", "Variable", "Comparator", "Value"]]
    where_ids: dict[tuple[str, str], str] = {}
    for i, r in enumerate(t.valuelevel, start=1):
        parts = parse_where(r["where"])
        key = (r["dataset"], where_text(parts))
        if key not in where_ids:
            wid = "WC." + r["dataset"] + "." + ".".join(f"{v}.{c}.{'_'.join(vals)}" for v, c, vals in parts)
            wid = re.sub(r"[^A-Za-z0-9._-]+", "_", wid)
            while wid in where_ids.values():
                wid += "_"
            where_ids[key] = wid
            for v, c, vals in parts:
                joined = ", ".join(vals) if not any("," in x for x in vals) else "|".join(vals)
                sheets["WhereClauses"].append([wid, r["dataset"], v, c, joined])
        source, pred = split_source(r)
        sheets["ValueLevel"].append([
            str(i), r["dataset"], r["variable"], where_ids[key], r["label"], r["datatype"], r["length"],
            r["significant_digits"], r["display_format"], r["mandatory"], r["codelist"], r["origin"], source,
            r["pages"], r["method"], pred, comment_ref(r["comment"], f"COM.{r['dataset']}.{r['variable']}.{i}")])

    sheets["Codelists"] = [["ID", "Name", "NCI Codelist Code", "Data Type", "Extensible", "Order", "Term",
                            "NCI Term Code", "Decoded Value", "Synonyms"]]
    sheets["Dictionaries"] = [["ID", "Name", "Data Type", "Dictionary", "Version"]]
    for c in t.codelists:
        if c["dictionary"]:
            sheets["Dictionaries"].append([c["codelist"], c["codelist_name"], c["datatype"], c["dictionary"],
                                           c["version"]])
        else:
            sheets["Codelists"].append([c["codelist"], c["codelist_name"], c["codelist_code"], c["datatype"],
                                        c["extensible"], c["order"], c["term"], c["term_code"], c["decode"],
                                        c["synonyms"]])
    sheets["Methods"] = [["ID", "Name", "Type", "Description", "Expression Context", "Expression Code", "Document",
                          "Pages"]]
    for m in t.methods:
        sheets["Methods"].append([m["method"], m["name"], m["type"], m["description"], m["expression_context"],
                                  m["expression_code"], m["document"], m["pages"]])
    sheets["Comments"] = [["ID", "Description", "Document", "Pages"], *comments]
    sheets["Documents"] = [["ID", "Title", "Href", "Kind"]]
    for d in t.documents:
        sheets["Documents"].append([d["document"], d["title"], d["href"], d["kind"]])
    if t.analysis_results:
        sheets["Analysis Displays"] = [["ID", "Title", "Document", "Pages"]] + [
            [d["display"], d["title"], d["document"], d["pages"]] for d in t.analysis_displays]
        sheets["Analysis Results"] = [["Display", "ID", "Description", "Reason", "Purpose", "Parameter", "Datasets",
                                       "Variables", "Where Clause", "Documentation", "Programming Context",
                                       "Programming Code", "Programming Document"]] + [
            [r[c] for c in ANALYSIS_RESULT_COLUMNS] for r in t.analysis_results]
    return sheets


def workbook_bytes(t: SpecTables) -> bytes:
    """The .xlsx bytes for these tables: the same tables give the same bytes (fixed timestamps)."""
    import datetime

    import openpyxl
    from openpyxl.styles import Font

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in workbook_sheets(t).items():
        ws = wb.create_sheet(title)
        for i, r in enumerate(rows, start=1):
            for j, value in enumerate(r, start=1):
                if value != "":
                    c = ws.cell(i, j, value)
                    c.data_type = "s"  # text as written: lengths and codes stay text, '=...' is never a formula
        for c in ws[1]:
            c.font = Font(bold=True)
        ws.freeze_panes = "A2"
    day = str(t.study.get("metadata_date") or t.study.get("datacut") or "2000-01-01")[:10]
    stamp = datetime.datetime.fromisoformat(day)
    wb.properties.creator = "cdiscflow"
    wb.properties.created = stamp
    buf = io.BytesIO()
    wb.save(buf)
    return fixed_zip(buf.getvalue(), stamp.strftime("%Y-%m-%dT%H:%M:%SZ"))
