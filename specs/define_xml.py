"""Read a define.xml — Define-XML 2.1, 2.0 or 1.0 — into the spec's metadata tables (`SpecTables`).

The three versions say the same things in different places; this reader brings them to one meaning (2.1's):

    what                 2.1 / 2.0                                       1.0
    dataset label        ItemGroupDef/Description                        ItemGroupDef/@def:Label
    dataset class        def:Class element (2.1) / @def:Class (2.0)      @def:Class ("Findings", "BDS" -> 2.1 names)
    keys                 ItemRef/@KeySequence                            @def:DomainKeys
    variable label       ItemDef/Description                             ItemDef/@def:Label
    origin               def:Origin @Type @Source, Description,          @Origin text: "CRF Page 7" -> Collected with
                         DocumentRef/PDFPageRef (pages); 2.0's CRF ->    pages 7 in the annotated CRF; "eDT" ->
                         Collected, eDT -> Collected from a Vendor       Collected from a Vendor
    method               ItemRef/@MethodOID -> MethodDef                 ItemDef/@def:ComputationMethodOID ->
                                                                         def:ComputationMethod (type Computation)
    comment              @def:CommentOID -> def:CommentDef               @Comment text
    value-level          def:ValueListDef ItemRef + def:WhereClauseRef   def:ValueListDef on the *key* variable
                         -> def:WhereClauseDef RangeChecks               (--TESTCD, QNAM, TSPARMCD, nested lists
                                                                         such as LBCAT -> LBTESTCD) describes the
                                                                         result (--ORRES, QVAL, TSVAL) by key value;
                                                                         on any other variable (ADaM) by PARAMCD
    codelists            CodeListItem/EnumeratedItem, Alias C-codes,     CodeListItem @def:Rank
                         @def:ExtendedValue, ExternalCodeList
    documents            def:leaf, def:AnnotatedCRF, def:SupplementalDoc the same

Cells are copied as the file states them (lengths of numbers, Mandatory, the attributes a value-level ItemDef
repeats from its variable); `define_facts` compares two sets of tables by what a define.xml carries.  Every OID
reference is checked first: a dangling one is an `InputError` naming the OID and the XPath of the element that
refers to it.  What the spec cannot hold (analysis results metadata, a second origin, a where clause with LT/GT ...)
is listed in `SpecTables.notes`, never dropped silently.
"""

from __future__ import annotations

import re
from pathlib import Path

from lxml import etree

from cdiscflow.core.errors import InputError
from cdiscflow.specs.model import DATATYPES
from cdiscflow.specs.tables import (CODELIST_COLUMNS, COMMENT_COLUMNS, DATASET_COLUMNS, DOCUMENT_COLUMNS,
                                    METHOD_COLUMNS, VALUELEVEL_COLUMNS, VARIABLE_COLUMNS, Row, SpecTables, row_of,
                                    where_text, where_value_problem)

DEF_VERSIONS = {
    "http://www.cdisc.org/ns/def/v1.0": "1.0",
    "http://www.cdisc.org/ns/def/v2.0": "2.0",
    "http://www.cdisc.org/ns/def/v2.1": "2.1",
}
ODM_NAMESPACES = ("http://www.cdisc.org/ns/odm/v1.2", "http://www.cdisc.org/ns/odm/v1.3")
XLINK = "http://www.w3.org/1999/xlink"

# Define-XML 1.0/2.0 class names -> 2.1 (def:Class Name enumeration)
CLASS_NAMES = {
    "SPECIAL PURPOSE": "SPECIAL PURPOSE", "FINDINGS": "FINDINGS", "EVENTS": "EVENTS",
    "INTERVENTIONS": "INTERVENTIONS", "TRIAL DESIGN": "TRIAL DESIGN", "RELATIONSHIP": "RELATIONSHIP",
    "FINDINGS ABOUT": "FINDINGS ABOUT", "STUDY REFERENCE": "STUDY REFERENCE",
    "SUBJECT LEVEL ANALYSIS DATASET": "SUBJECT LEVEL ANALYSIS DATASET", "ADSL": "SUBJECT LEVEL ANALYSIS DATASET",
    "BASIC DATA STRUCTURE": "BASIC DATA STRUCTURE", "BDS": "BASIC DATA STRUCTURE",
    "OCCURRENCE DATA STRUCTURE": "OCCURRENCE DATA STRUCTURE", "OCCDS": "OCCURRENCE DATA STRUCTURE",
    "ADAE": "OCCURRENCE DATA STRUCTURE", "ADAM OTHER": "ADAM OTHER", "OTHER": "ADAM OTHER",
    "REFERENCE DATA STRUCTURE": "REFERENCE DATA STRUCTURE", "DEVICE LEVEL ANALYSIS DATASET":
    "DEVICE LEVEL ANALYSIS DATASET", "MEDICAL DEVICE BASIC DATA STRUCTURE": "MEDICAL DEVICE BASIC DATA STRUCTURE",
    "MEDICAL DEVICE OCCURRENCE DATA STRUCTURE": "MEDICAL DEVICE OCCURRENCE DATA STRUCTURE",
}
# ODM data types outside the spec's set, and what they mean there
DATATYPE_ALIASES = {"string": "text", "double": "float", "incompleteDate": "partialDate",
                    "incompleteTime": "partialTime"}
ORIGIN_TYPES = ("Collected", "Derived", "Assigned", "Protocol", "Predecessor", "Not Available", "Other")
# 1.0 / 2.0 origin words -> (2.1 type, source)
ORIGIN_WORDS = {"crf": ("Collected", ""), "edt": ("Collected", "Vendor"), "derived": ("Derived", ""),
                "assigned": ("Assigned", ""), "protocol": ("Protocol", ""), "predecessor": ("Predecessor", ""),
                "collected": ("Collected", ""), "not available": ("Not Available", ""), "other": ("Other", "")}
# standard name in a define -> study.yaml standards key
IG_NAMES = {"SDTMIG": "SDTMIG", "SDTM-IG": "SDTMIG", "CDISC SDTM": "SDTMIG", "ADAMIG": "ADaMIG", "ADAM-IG": "ADaMIG",
            "SENDIG": "SENDIG", "SEND-IG": "SENDIG"}
CT_KEYS = {"SDTM": "SDTM", "ADAM": "ADaM", "DEFINE-XML": "Define-XML", "SEND": "SEND", "CDASH": "CDASH"}
# 1.0 value lists on a key variable: suffix of the key -> suffix of the result it describes
KEY_RESULTS = (("TESTCD", "ORRES"), ("PARMCD", "VAL"), ("QNAM", "QVAL"), ("PARAMCD", "AVAL"))

_REFERENCES = (  # (element, attribute, what it must name)
    ("ItemRef", "ItemOID", "ItemDef"), ("ItemRef", "MethodOID", "MethodDef"),
    ("CodeListRef", "CodeListOID", "CodeList"), ("ValueListRef", "ValueListOID", "ValueListDef"),
    ("WhereClauseRef", "WhereClauseOID", "WhereClauseDef"), ("RangeCheck", "ItemOID", "ItemDef"),
    ("*", "CommentOID", "CommentDef"), ("DocumentRef", "leafID", "leaf"),
    ("ItemDef", "ComputationMethodOID", "ComputationMethod"), ("ItemGroupDef", "ArchiveLocationID", "leaf"),
    ("*", "StandardOID", "Standard"),
)
_DEFINITIONS = ("ItemDef", "ItemGroupDef", "CodeList", "MethodDef", "ComputationMethod", "CommentDef",
                "ValueListDef", "WhereClauseDef", "Standard")


def read_define_tables(path: str | Path) -> SpecTables:
    """The metadata of a define.xml (2.1, 2.0 or 1.0) as spec tables; InputError when it cannot be used."""
    return _Define(Path(path)).tables()


def define_version(path: str | Path) -> str:
    return _Define(Path(path)).version


# ----------------------------------------------------------------------------------------------------------------
# XML helpers


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _attr(el: etree._Element, local: str) -> str:
    """An attribute by local name, whatever its namespace (def:Label, Label ...), stripped."""
    for key, value in el.attrib.items():
        if key == local or key.endswith("}" + local):
            return value.strip()
    return ""


def _children(el: etree._Element, local: str) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str) and _local(c) == local]


def _child(el: etree._Element, local: str) -> etree._Element | None:
    found = _children(el, local)
    return found[0] if found else None


def _translated(el: etree._Element | None) -> str:
    """The (English, else first) TranslatedText of a Description/Decode element, outer blanks stripped."""
    if el is None:
        return ""
    texts = _children(el, "TranslatedText")
    if not texts:
        return ""
    lang = "{http://www.w3.org/XML/1998/namespace}lang"
    chosen = next((t for t in texts if t.get(lang, "en").lower().startswith("en")), texts[0])
    return "".join(chosen.itertext()).strip()


def _squash(text: str) -> str:
    return " ".join(text.split())


def _strip_prefix(oid: str, prefix: str) -> str:
    return oid[len(prefix):] if oid.startswith(prefix) and len(oid) > len(prefix) else oid


class _Define:
    def __init__(self, path: Path):
        self.path = path
        parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)
        try:
            self.tree = etree.parse(str(path), parser)
        except OSError as exc:
            raise InputError(f"{path}: cannot read define.xml ({exc})") from None
        except etree.XMLSyntaxError as exc:
            raise InputError(f"{path}: not well-formed XML at line {exc.lineno}: {exc.msg}") from None
        self.root = self.tree.getroot()
        if _local(self.root) != "ODM":
            raise InputError(f"{path}: not a define.xml (root element is {_local(self.root)}, expected ODM)")
        study = _child(self.root, "Study")
        self.mdv = _child(study, "MetaDataVersion") if study is not None else None
        if self.mdv is None:
            raise InputError(f"{path}: no Study/MetaDataVersion element: not a define.xml")
        self.study_el = study
        namespaces = set(self.root.nsmap.values()) | {etree.QName(el).namespace for el in self.mdv.iter()
                                                      if isinstance(el.tag, str)}
        versions = {DEF_VERSIONS[ns] for ns in namespaces if ns in DEF_VERSIONS}
        if len(versions) != 1:
            raise InputError(f"{path}: cannot tell the Define-XML version (def namespaces: "
                             f"{', '.join(sorted(versions)) or 'none'}); expected one of 1.0, 2.0, 2.1")
        self.version = versions.pop()
        self.def_ns = next(ns for ns, v in DEF_VERSIONS.items() if v == self.version)
        self.notes: list[str] = []
        self.index = self._index()
        self._check_references()

    # -- OIDs ---------------------------------------------------------------------------------------------------
    def xpath(self, el: etree._Element) -> str:
        """A readable XPath of an element: local names, with the OID (or position) that picks it."""
        parts = []
        while el is not None:
            name = _local(el)
            if etree.QName(el).namespace == self.def_ns:
                name = f"def:{name}"
            pred = ""
            for key in ("OID", "ID", "ItemOID", "ValueListOID", "WhereClauseOID", "CodeListOID", "leafID"):
                if el.get(key):
                    pred = f"[@{key}='{el.get(key)}']"
                    break
            else:
                parent = el.getparent()
                if parent is not None:
                    same = [c for c in parent if c.tag == el.tag]
                    if len(same) > 1:
                        pred = f"[{same.index(el) + 1}]"
            parts.append(name + pred)
            el = el.getparent()
        return "/" + "/".join(reversed(parts))

    def _index(self) -> dict[str, dict[str, etree._Element]]:
        index: dict[str, dict[str, etree._Element]] = {k: {} for k in (*_DEFINITIONS, "leaf")}
        problems = []
        for el in self.mdv.iter():
            if not isinstance(el.tag, str):
                continue
            tag = _local(el)
            if tag in _DEFINITIONS or tag == "leaf":
                oid = el.get("ID") if tag == "leaf" else el.get("OID")
                if not oid:
                    problems.append(f"{self.xpath(el)} (line {el.sourceline}) has no {'ID' if tag == 'leaf' else 'OID'}")
                    continue
                if oid in index[tag]:
                    problems.append(f"{tag} OID {oid!r} defined twice: {self.xpath(index[tag][oid])} and "
                                    f"{self.xpath(el)} (line {el.sourceline})")
                index[tag][oid] = el
        if problems:
            raise InputError(f"{self.path}: {len(problems)} problem(s)\n" + "\n".join(f"  - {p}" for p in problems))
        return index

    def _check_references(self) -> None:
        problems = []
        for el in self.mdv.iter():
            if not isinstance(el.tag, str):
                continue
            ns = etree.QName(el).namespace
            if ns not in ODM_NAMESPACES and ns != self.def_ns:
                continue  # analysis results (arm:, adamref:) are not read
            tag = _local(el)
            for element, attribute, target in _REFERENCES:
                if element not in ("*", tag):
                    continue
                oid = _attr(el, attribute)
                if oid and oid not in self.index[target]:
                    problems.append(f"dangling OID {oid!r}: {attribute} names no {target} "
                                    f"(at {self.xpath(el)}, line {el.sourceline})")
        if problems:
            raise InputError(f"{self.path}: {len(problems)} reference(s) to nothing\n"
                             + "\n".join(f"  - {p}" for p in problems))

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    # -- the whole file ------------------------------------------------------------------------------------------
    def tables(self) -> SpecTables:
        t = SpecTables(source=f"{self.path} (Define-XML {self.version})")
        self.documents = self.read_documents()
        t.study = self.read_study()
        self.codelist_ids = self.read_codelist_ids()
        self.renamed_classes: dict[tuple[str, str], list[str]] = {}
        for group in _children(self.mdv, "ItemGroupDef"):
            ds, variables, vlm = self.read_dataset(group)
            t.datasets.append(ds)
            t.variables += variables
            t.valuelevel += vlm
        for (old, new), names in self.renamed_classes.items():
            self.note(f"class {old!r} read as the Define-XML 2.1 class {new!r}: {', '.join(names)}")
        t.codelists = self.read_codelists()
        t.methods = self.read_methods()
        t.comments = self.read_comments()
        used = self.used_documents(t)
        t.documents = [d for d in self.documents.values() if d["document"] in used]
        skipped = [d["document"] for d in self.documents.values() if d["document"] not in used]
        if skipped:
            self.note(f"documents referenced by nothing the spec holds, not imported: {', '.join(skipped)}")
        for tag, what in (("AnalysisResultDisplays", "analysis results metadata (ARM)"),
                          ("ResultDisplay", "analysis results metadata (ADaM results)")):
            found = [el for el in self.mdv.iter() if isinstance(el.tag, str) and _local(el) == tag]
            if found:
                self.note(f"{what} not imported: {len(found)} {tag} element(s)")
        t.notes = self.notes
        return t

    # -- study ----------------------------------------------------------------------------------------------------
    def read_study(self) -> dict:
        gv = _child(self.study_el, "GlobalVariables")

        def text(tag: str) -> str:
            el = _child(gv, tag) if gv is not None else None
            return _squash("".join(el.itertext())) if el is not None else ""

        name = text("StudyName") or self.study_el.get("OID", "")
        study: dict = {"studyid": name, "name": name}
        if text("StudyDescription"):
            study["description"] = text("StudyDescription")
        if text("ProtocolName"):
            study["protocol"] = text("ProtocolName")
        if self.root.get("Originator"):
            study["sponsor"] = self.root.get("Originator")
        created = self.root.get("CreationDateTime", "")
        if re.match(r"^\d{4}-\d{2}-\d{2}", created):
            study["metadata_date"] = created[:10]
        study["standards"] = self.read_standards()
        return study

    def read_standards(self) -> dict:
        standards: dict = {}
        ct: dict = {}
        found = _child(self.mdv, "Standards")
        if found is not None:  # 2.1
            for std in _children(found, "Standard"):
                kind, name, version = std.get("Type", ""), std.get("Name", ""), std.get("Version", "")
                if kind == "IG":
                    key = IG_NAMES.get(name.upper(), name)
                    standards.setdefault(key, version)
                elif kind == "CT":
                    key = CT_KEYS.get(std.get("PublishingSet", "").upper())
                    if key:
                        ct.setdefault(key, version)
        else:  # 1.0, 2.0: MetaDataVersion/@def:StandardName, @def:StandardVersion
            name, version = _attr(self.mdv, "StandardName"), _attr(self.mdv, "StandardVersion")
            if name.upper() == "CDISC ADAM":  # 1.0 names the ADaM model; ADaM 2.1 came with ADaMIG 1.0
                standards["ADaM"] = version
                if version == "2.1":
                    standards["ADaMIG"] = "1.0"
                    self.note("define names the ADaM model 2.1; study.yaml says ADaMIG 1.0 (published with it)")
            elif name:
                standards[IG_NAMES.get(name.upper(), name)] = version
        standards["define"] = "2.1.0"  # what `spec export --format define` writes
        if ct:
            standards["ct"] = ct
        return standards

    # -- documents --------------------------------------------------------------------------------------------------
    def read_documents(self) -> dict[str, Row]:
        kinds = {}
        for tag, kind in (("AnnotatedCRF", "acrf"), ("SupplementalDoc", "supplemental")):
            for holder in _children(self.mdv, tag):
                for ref in holder.iter("{*}DocumentRef"):
                    kinds.setdefault(ref.get("leafID", ""), kind)
        out: dict[str, Row] = {}
        for leaf in _children(self.mdv, "leaf"):
            lid = leaf.get("ID", "")
            title = _child(leaf, "title")
            out[lid] = row_of(DOCUMENT_COLUMNS, {
                "document": _strip_prefix(lid, "LF."), "title": _squash("".join(title.itertext())) if title is not None else "",
                "href": leaf.get(f"{{{XLINK}}}href", ""), "kind": kinds.get(lid, ""),
            })
        if sum(d["kind"] == "acrf" for d in out.values()) > 1:
            first = next(d for d in out.values() if d["kind"] == "acrf")
            for d in out.values():
                if d["kind"] == "acrf" and d is not first:
                    d["kind"] = "supplemental"
                    self.note(f"document {d['document']}: a second annotated CRF, kept as supplemental")
        return out

    @property
    def acrf(self) -> str:
        return next((d["document"] for d in self.documents.values() if d["kind"] == "acrf"), "")

    def doc_pages(self, ref: etree._Element | None) -> tuple[str, str]:
        """(document id, page references) of a def:DocumentRef."""
        if ref is None:
            return "", ""
        doc = self.documents.get(ref.get("leafID", ""), {}).get("document", "")
        pages = []
        for p in _children(ref, "PDFPageRef"):
            if p.get("PageRefs"):
                pages.append(" ".join(p.get("PageRefs", "").split()))
            elif p.get("FirstPage"):
                pages.append(f"{p.get('FirstPage')}-{p.get('LastPage') or p.get('FirstPage')}")
        return doc, " ".join(pages)

    def used_documents(self, t: SpecTables) -> set[str]:
        used = {d["document"] for d in self.documents.values() if d["kind"]}
        used |= {r["document"] for r in (*t.methods, *t.comments) if r["document"]}
        for r in (*t.variables, *t.valuelevel):
            doc, sep, _ = r["pages"].partition(":")
            if sep:
                used.add(doc.strip())
        return used

    # -- datasets and variables -----------------------------------------------------------------------------------
    def read_dataset(self, group: etree._Element) -> tuple[Row, list[Row], list[Row]]:
        name = (group.get("Name") or group.get("SASDatasetName") or "").upper()
        purpose = group.get("Purpose", "")
        if purpose == "Analysis" or (not purpose and "ADAM" in _attr(self.mdv, "StandardName").upper()):
            standard = "ADaM"
        else:
            standard = "SDTM"
        cls_el = _child(group, "Class")
        raw_cls = cls_el.get("Name", "") if cls_el is not None else _attr(group, "Class")
        sub = _child(cls_el, "SubClass") if cls_el is not None else None
        cls = CLASS_NAMES.get(" ".join(raw_cls.upper().replace("-", " ").split()), raw_cls)
        if raw_cls and cls != " ".join(raw_cls.upper().replace("-", " ").split()):
            self.renamed_classes.setdefault((raw_cls, cls), []).append(name)
        elif raw_cls and cls not in CLASS_NAMES.values():
            self.note(f"dataset {name}: class {raw_cls!r} is not a Define-XML 2.1 class name")
        refs = _children(group, "ItemRef")
        keyed = sorted((int(r.get("KeySequence")), r) for r in refs if (r.get("KeySequence") or "").isdigit())
        items = self.index["ItemDef"]
        if keyed:
            keys = [items[r.get("ItemOID")].get("Name", "").upper() for _, r in keyed]
        else:
            keys = [k.strip().upper() for k in re.split(r"[,\s]+", _attr(group, "DomainKeys")) if k.strip()]
        all_names = {items[r.get("ItemOID")].get("Name", "").upper() for r in refs}
        unknown = [k for k in keys if k not in all_names]
        if unknown:
            self.note(f"dataset {name}: key(s) {', '.join(unknown)} are not variables of {name}; left out of its keys")
            keys = [k for k in keys if k in all_names]
        ds = row_of(DATASET_COLUMNS, {
            "standard": standard, "dataset": name, "label": self.label(group), "class": cls,
            "subclass": sub.get("Name", "") if sub is not None else "", "structure": _squash(_attr(group, "Structure")),
            "keys": ", ".join(keys), "repeating": group.get("Repeating", ""),
            "reference_data": group.get("IsReferenceData", ""), "comment": self.comment(group),
        })
        ordered = refs
        if all((r.get("OrderNumber") or "").isdigit() for r in refs):
            ordered = sorted(refs, key=lambda r: int(r.get("OrderNumber")))
        variables, vlm = [], []
        names = [items[r.get("ItemOID")].get("Name", "").upper() for r in ordered]
        for pos, ref in enumerate(ordered, start=1):
            item = items[ref.get("ItemOID")]
            attrs = self.item_attributes(item, f"{name}.{item.get('Name', '')}")
            role = ref.get("Role", "")
            variables.append(row_of(VARIABLE_COLUMNS, {
                **attrs, "dataset": name, "order": ref.get("OrderNumber") or pos,
                "variable": item.get("Name", "").upper(), "role": role.title() if role.isupper() else role,
                "mandatory": ref.get("Mandatory", ""), "method": ref.get("MethodOID", "") or attrs["method"],
            }))
            vl_ref = _child(item, "ValueListRef")
            if vl_ref is not None:
                vl = self.index["ValueListDef"][vl_ref.get("ValueListOID")]
                if self.version == "1.0":
                    vlm += self.value_list_10(name, item.get("Name", "").upper(), vl, names)
                else:
                    vlm += self.value_list(name, item.get("Name", "").upper(), vl)
        return ds, variables, vlm

    def label(self, el: etree._Element) -> str:
        return _squash(_translated(_child(el, "Description")) or _attr(el, "Label"))

    def comment(self, el: etree._Element) -> str:
        """The comment id (2.x) or the comment text (1.0's Comment attribute) of an element."""
        oid = _attr(el, "CommentOID")
        if oid:
            return oid
        return _attr(el, "Comment") if self.version == "1.0" else ""

    def item_attributes(self, item: etree._Element, where: str) -> dict[str, str]:
        datatype = item.get("DataType", "")
        if datatype in DATATYPE_ALIASES:
            self.note(f"{where}: data type {datatype!r} read as {DATATYPE_ALIASES[datatype]!r}")
            datatype = DATATYPE_ALIASES[datatype]
        elif datatype not in DATATYPES:
            self.note(f"{where}: data type {datatype!r} is not one of the spec's data types")
        cl_ref = _child(item, "CodeListRef")
        origin, source, pages = self.origin(item, where)
        return {
            "label": self.label(item), "datatype": datatype, "length": item.get("Length", ""),
            "significant_digits": item.get("SignificantDigits", ""), "display_format": _attr(item, "DisplayFormat"),
            "codelist": self.codelist_ids.get(cl_ref.get("CodeListOID", ""), "") if cl_ref is not None else "",
            "origin": origin, "source": source, "pages": pages, "comment": self.comment(item),
            "method": _attr(item, "ComputationMethodOID"),
        }

    def origin(self, item: etree._Element, where: str) -> tuple[str, str, str]:
        """(origin type, source, pages) in the spec's (Define-XML 2.1) terms."""
        if self.version == "1.0":
            return self.origin_10(_attr(item, "Origin"), where)
        origins = _children(item, "Origin")
        if not origins:
            return "", "", ""
        if len(origins) > 1:
            self.note(f"{where}: {len(origins)} origins; the first ({origins[0].get('Type', '')}) imported")
        el = origins[0]
        kind, source = el.get("Type", ""), el.get("Source", "")
        if kind not in ORIGIN_TYPES:
            mapped = ORIGIN_WORDS.get(kind.lower())
            if mapped is None:
                self.note(f"{where}: origin {kind!r} read as Other")
                mapped = ("Other", "")
            kind, source = mapped[0], source or mapped[1]
        description = _squash(_translated(_child(el, "Description")))
        if description:
            if source:
                self.note(f"{where}: origin source {source!r} dropped for its description {description!r} "
                          "(the spec keeps one of them)")
            source = description
        doc, pages = self.doc_pages(_child(el, "DocumentRef"))
        if pages and doc != self.acrf:
            pages = f"{doc}: {pages}"
        return kind, source, pages

    def origin_10(self, text: str, where: str) -> tuple[str, str, str]:
        text = _squash(text)
        if not text:
            return "", "", ""
        m = re.match(r"^CRF\s+Pages?\s*(.*)$", text, re.IGNORECASE)
        if m:
            pages = " ".join(p for p in re.split(r"[,\s]+", m.group(1)) if p)
            if self.acrf:
                return "Collected", "", pages
            return "Collected", text, ""
        mapped = ORIGIN_WORDS.get(text.lower())
        if mapped is not None:
            return mapped[0], mapped[1], ""
        self.note(f"{where}: origin {text!r} read as Other with that text as its source")
        return "Other", text, ""

    # -- value-level metadata -------------------------------------------------------------------------------------
    def value_list(self, dataset: str, variable: str, vl: etree._Element) -> list[Row]:
        rows = []
        for ref in _children(vl, "ItemRef"):
            item = self.index["ItemDef"][ref.get("ItemOID")]
            wc_refs = _children(ref, "WhereClauseRef")
            where = f"{dataset}.{variable} value-level item {ref.get('ItemOID')}"
            if not wc_refs:
                self.note(f"{where}: no where clause; not imported")
                continue
            if len(wc_refs) > 1:
                self.note(f"{where}: {len(wc_refs)} where clauses (either may hold): one value-level row each")
            for wc_ref in wc_refs:
                wc = self.index["WhereClauseDef"][wc_ref.get("WhereClauseOID")]
                clauses = self.where_clauses(wc, where)
                if clauses is None:
                    continue
                rows.append(self.vlm_row(dataset, variable, clauses, item, ref, where))
        return rows

    def where_clauses(self, wc: etree._Element, where: str) -> list[tuple[str, str, tuple[str, ...]]] | None:
        clauses = []
        for rc in _children(wc, "RangeCheck"):
            comparator = rc.get("Comparator", "")
            item = self.index["ItemDef"].get(_attr(rc, "ItemOID"))
            var = item.get("Name", "").upper() if item is not None else ""
            values = tuple((cv.text or "").strip() for cv in _children(rc, "CheckValue"))
            if comparator not in ("EQ", "NE", "IN", "NOTIN"):
                self.note(f"{where}: where clause {wc.get('OID')} compares {var} with {comparator}; the spec's "
                          "where clauses know EQ, NE, IN, NOTIN: row not imported")
                return None
            bad = [p for p in map(where_value_problem, values) if p]
            if bad or not values:
                self.note(f"{where}: where clause {wc.get('OID')}: {bad[0] if bad else 'no CheckValue'}; "
                          "row not imported")
                return None
            clauses.append((var, comparator, values))
        if not clauses:
            self.note(f"{where}: where clause {wc.get('OID')} has no RangeCheck; row not imported")
            return None
        return clauses

    def vlm_row(self, dataset: str, variable: str, clauses, item: etree._Element, ref: etree._Element,
                where: str) -> Row:
        attrs = self.item_attributes(item, where)
        return row_of(VALUELEVEL_COLUMNS, {
            **attrs, "dataset": dataset, "variable": variable, "where": where_text(clauses),
            "mandatory": ref.get("Mandatory", ""), "method": ref.get("MethodOID", "") or attrs["method"],
        })

    def value_list_10(self, dataset: str, variable: str, vl: etree._Element, names: list[str]) -> list[Row]:
        """Define-XML 1.0: a value list on a key variable describes the result variable per key value."""
        nested = any(_child(self.index["ItemDef"][r.get("ItemOID")], "ValueListRef") is not None
                     for r in _children(vl, "ItemRef"))
        if nested or self.result_of(variable, names):
            return self.walk_10(dataset, variable, vl, [], names)
        key = "PARAMCD" if "PARAMCD" in names else ""  # a list on the result itself, by parameter (ADaM)
        if not key:
            self.note(f"{dataset}.{variable}: value list {vl.get('OID')} has no key variable to select by; "
                      "not imported")
            return []
        rows = []
        for ref in _children(vl, "ItemRef"):
            item = self.index["ItemDef"][ref.get("ItemOID")]
            clauses = [(key, "EQ", (item.get("Name", ""),))]
            rows.append(self.vlm_row(dataset, variable, clauses, item, ref, f"{dataset}.{variable} {item.get('OID')}"))
        return rows

    def result_of(self, key: str, names: list[str]) -> str:
        for suffix, result in KEY_RESULTS:
            if key.endswith(suffix):
                target = result if suffix in ("QNAM", "PARAMCD") else key[: -len(suffix)] + result
                return target if target in names else ""
        return ""

    def walk_10(self, dataset: str, key: str, vl: etree._Element, conditions: list, names: list[str]) -> list[Row]:
        rows = []
        for ref in _children(vl, "ItemRef"):
            item = self.index["ItemDef"][ref.get("ItemOID")]
            value = item.get("Name", "")
            where = f"{dataset}.{key} value-level item {item.get('OID')}"
            here = list(conditions)
            if value.upper() == "NULL":  # 1.0 placeholder for 'no value'; the spec cannot test for blanks
                self.note(f"{where}: condition {key} EQ NULL (a blank {key}) left out of the where clause")
            else:
                problem = where_value_problem(value)
                if problem:
                    self.note(f"{where}: {problem}; not imported")
                    continue
                here.append((key, "EQ", (value,)))
            inner = _child(item, "ValueListRef")
            if inner is not None:
                nested = self.index["ValueListDef"][inner.get("ValueListOID")]
                last = nested.get("OID", "").rsplit(".", 1)[-1].upper()
                nested_key = last if last in names else next((n for n in names if n.endswith("TESTCD")), "")
                if not nested_key:
                    self.note(f"{where}: nested value list {nested.get('OID')} names no key variable; not imported")
                    continue
                rows += self.walk_10(dataset, nested_key, nested, here, names)
                continue
            target = self.result_of(key, names)
            if not target:
                self.note(f"{where}: no result variable for key {key} in {dataset}; not imported")
                continue
            if not here:
                self.note(f"{where}: no condition left; not imported")
                continue
            rows.append(self.vlm_row(dataset, target, here, item, ref, where))
        return rows

    # -- codelists, methods, comments -------------------------------------------------------------------------------
    def read_codelist_ids(self) -> dict[str, str]:
        """CodeList OID -> the spec's codelist id ('CL.' taken off when that stays unique)."""
        oids = list(self.index["CodeList"])
        ids: dict[str, str] = {}
        taken = set(oids)
        for oid in oids:
            short = _strip_prefix(oid, "CL.")
            ids[oid] = short if short == oid or short not in taken else oid
            taken.add(ids[oid])
        return ids

    def read_codelists(self) -> list[Row]:
        rows = []
        for cl in _children(self.mdv, "CodeList"):
            cid = self.codelist_ids[cl.get("OID")]
            alias = next((a for a in _children(cl, "Alias") if a.get("Context") == "nci:ExtCodeID"), None)
            head = {"codelist": cid, "codelist_name": _squash(cl.get("Name", "")), "datatype": cl.get("DataType", ""),
                    "codelist_code": alias.get("Name", "") if alias is not None else ""}
            if head["datatype"] in DATATYPE_ALIASES:
                head["datatype"] = DATATYPE_ALIASES[head["datatype"]]
            ext = _child(cl, "ExternalCodeList")
            if ext is not None:
                dictionary = ext.get("Dictionary", "")
                rows.append(row_of(CODELIST_COLUMNS, {**head, "dictionary": dictionary,
                                                      "version": ext.get("Version", "")}))
                continue
            items = [c for c in cl if isinstance(c.tag, str) and _local(c) in ("CodeListItem", "EnumeratedItem")]
            if not items:
                self.note(f"codelist {cid} has no terms and no dictionary")
            for it in items:
                code = next((a.get("Name", "") for a in _children(it, "Alias") if a.get("Context") == "nci:ExtCodeID"), "")
                order = it.get("OrderNumber") or it.get("Rank") or _attr(it, "Rank")
                rows.append(row_of(CODELIST_COLUMNS, {
                    **head, "term": it.get("CodedValue", ""), "term_code": code,
                    "decode": _squash(_translated(_child(it, "Decode"))), "order": order,
                }))
        return rows

    def read_methods(self) -> list[Row]:
        rows = []
        for m in _children(self.mdv, "MethodDef"):
            expr = _child(m, "FormalExpression")
            doc, pages = self.doc_pages(_child(m, "DocumentRef"))
            rows.append(row_of(METHOD_COLUMNS, {
                "method": m.get("OID", ""), "name": m.get("Name", "") or m.get("OID", ""), "type": m.get("Type", ""),
                "description": _translated(_child(m, "Description")),
                "expression_context": expr.get("Context", "") if expr is not None else "",
                "expression_code": (expr.text or "").strip() if expr is not None else "",
                "document": doc, "pages": pages,
            }))
        for m in _children(self.mdv, "ComputationMethod"):  # 1.0
            rows.append(row_of(METHOD_COLUMNS, {
                "method": m.get("OID", ""), "name": m.get("Name", "") or m.get("OID", ""), "type": "Computation",
                "description": "".join(m.itertext()).strip(),
            }))
        for r in rows:
            if not r["description"]:
                r["description"] = r["name"]
                self.note(f"method {r['method']} has no description; its name is used")
        return rows

    def read_comments(self) -> list[Row]:
        rows = []
        for c in _children(self.mdv, "CommentDef"):
            doc, pages = self.doc_pages(_child(c, "DocumentRef"))
            text = _translated(_child(c, "Description"))
            if not text:
                self.note(f"comment {c.get('OID')} has no text")
            rows.append(row_of(COMMENT_COLUMNS, {"comment": c.get("OID", ""), "description": text or c.get("OID"),
                                                 "document": doc, "pages": pages}))
        return rows
