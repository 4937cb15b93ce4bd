"""define.xml 2.1 from the study spec and the data actually written.

One define.xml per standard (SDTM: SDTMIG, ADaM: ADaMIG), built with lxml in the order the Define-XML 2.1 schema
prescribes:

    ODM / Study / GlobalVariables
                / MetaDataVersion: def:Standards, def:ValueListDef*, def:WhereClauseDef*, ItemGroupDef*, ItemDef*,
                                   CodeList*, MethodDef*, def:CommentDef*

Everything comes from the spec (labels, origins, codelists with their NCI C-codes, methods, comments, documents,
value-level metadata, keys) except what only the data know: the length written for each character variable (and
for each value-level subset).  `build_spec_define` writes the define.xml of a spec alone (`cdiscflow spec export
--format define`): lengths then come from the spec, and a character variable without one gets no Length.  The file is validated against the vendored Define-XML 2.1 XSD and written next to CDISC's stylesheet
`define2-1.xsl` with an xml-stylesheet instruction, so a browser shows it as HTML.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping, Union

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from lxml import etree

from cdiscflow import __version__
from cdiscflow.core.atomic import write_bytes
from cdiscflow.core.errors import SpecError
from cdiscflow.export.arm import ARM, analysis_results, build_displays, where_clause_defs
from cdiscflow.export.meta import ColumnMeta, DatasetMeta
from cdiscflow.export.xpt import byte_lengths
from cdiscflow.specs.model import STANDARDS_DIR, Codelist, Dataset, StudySpec, ValueLevel, Variable, WhereClause

ODM = "http://www.cdisc.org/ns/odm/v1.3"
DEF = "http://www.cdisc.org/ns/def/v2.1"
XLINK = "http://www.w3.org/1999/xlink"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
NSMAP = {None: ODM, "def": DEF, "xlink": XLINK}
ARM_NSMAP = {**NSMAP, "arm": ARM}  # the root of a define.xml with Analysis Results Metadata

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas" / "define-xml-2.1"
XSD = SCHEMA_DIR / "cdisc-define-2.1" / "define2-1-0.xsd"
STYLESHEET = SCHEMA_DIR / "define2-1.xsl"
ARM_XSD = SCHEMA_DIR / "cdisc-arm-1.0" / "arm1-0-0.xsd"  # Define-XML 2.1 with Analysis Results Metadata 1.0

# standard (datasets.csv) -> (study.yaml standards key of the IG, define.xml Standard Name, ItemGroupDef Purpose)
IGS = {"SDTM": ("SDTMIG", "SDTMIG", "Tabulation"), "ADaM": ("ADaMIG", "ADaMIG", "Analysis")}
# study.yaml ct keys -> define.xml PublishingSet
PUBLISHING_SETS = {"SDTM": "SDTM", "ADaM": "ADaM", "Define-XML": "DEFINE-XML", "SEND": "SEND", "CDASH": "CDASH"}
ORIGIN_SOURCES = {"Investigator", "Sponsor", "Subject", "Vendor"}
_LENGTH_TYPES = {"text", "integer", "float"}


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _attr_name(key: str) -> str:
    """'def:Label' -> '{DEF namespace}Label' (and xlink:); other names as they are; each worked out once."""
    name = _ATTR_NAMES.get(key)
    if name is None:
        name = _ATTR_NAMES[key] = (_q(DEF, key[4:]) if key.startswith("def:") else
                                   _q(XLINK, key[6:]) if key.startswith("xlink:") else key)
    return name


_ATTR_NAMES: dict[str, str] = {}


def _el(parent: etree._Element | None, tag: str, attrib: Mapping[str, object] | None = None,
        ns: str = ODM, nsmap: Mapping[str | None, str] | None = None) -> etree._Element:
    qattrs = {_attr_name(k): str(v) for k, v in attrib.items() if v is not None and v != ""} if attrib else {}
    if parent is None:
        return etree.Element(_q(ns, tag), qattrs, nsmap=nsmap or NSMAP)
    return etree.SubElement(parent, _q(ns, tag), qattrs)


def _text(parent: etree._Element, tag: str, text: str, ns: str = ODM) -> etree._Element:
    """<Description><TranslatedText xml:lang="en">text</TranslatedText></Description> (or Decode ...)."""
    el = _el(parent, tag, ns=ns)
    tt = _el(el, "TranslatedText")
    tt.set(XML_LANG, "en")
    tt.text = text
    return el


def _oid(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def _squash(text: object) -> str:
    return " ".join(str(text or "").split())


# ----------------------------------------------------------------------------------------------------------------
# controlled terminology packages


@lru_cache(maxsize=None)
def _ct_codelists(key: str, version: str) -> frozenset[str]:
    """C-codes of the codelists in one CDISC CT package of the project's standards copy (empty if absent)."""
    stem = f"ct-{key.lower()}-{version}.csv"
    for path in (STANDARDS_DIR / stem, STANDARDS_DIR / f"{stem}.gz"):
        if path.exists():  # read by Arrow (gzip by the suffix): the SDTM package has 21,000 rows
            table = pa_csv.read_csv(path, read_options=pa_csv.ReadOptions(use_threads=False),
                                    parse_options=pa_csv.ParseOptions(newlines_in_values=True),
                                    convert_options=pa_csv.ConvertOptions(
                                        include_columns=["Code", "Codelist Code"], strings_can_be_null=False,
                                        column_types={"Code": pa.string(), "Codelist Code": pa.string()}))
            codelist_rows = pc.equal(table.column("Codelist Code"), "")  # a codelist's own row has no parent
            return frozenset(table.column("Code").filter(codelist_rows).to_pylist())
    return frozenset()


class DefineContext:
    """The spec and standard a define.xml is built for, with the OIDs every part refers to."""

    def __init__(self, spec: StudySpec, standard: str):
        if standard not in IGS:
            raise ValueError(f"standard must be one of {', '.join(IGS)}, not {standard!r}")
        self.spec = spec
        self.standard = standard
        stds = spec.study.get("standards", {}) or {}
        self.ig_key, self.ig_name, self.purpose = IGS[standard]
        self.ig_version = str(stds.get(self.ig_key, ""))
        self.ig_oid = f"STD.{self.ig_name}.{self.ig_version}"
        self.ct = {k: str(v) for k, v in (stds.get("ct", {}) or {}).items() if k in PUBLISHING_SETS}
        self.dictionaries = {k: str(v) for k, v in (stds.get("dictionaries", {}) or {}).items()}
        self.define_version = str(stds.get("define", "2.1.0"))
        # a metadata-only spec has no data cut: its define is dated by study.yaml's metadata_date
        self.datacut = spec.datacut.isoformat() if "datacut" in spec.study else ""
        day = self.datacut or str(spec.study.get("metadata_date") or "")
        if not day:
            raise SpecError("study.yaml has neither a datacut nor a metadata_date (YYYY-MM-DD): define.xml needs "
                            "a creation date", path=str(spec.path))
        self.created = f"{day}T00:00:00"
        self.study_oid = spec.studyid
        self.mdv_oid = f"MDV.{spec.studyid}.{self.ig_name}.{self.ig_version}"

    def ct_oid(self, key: str) -> str:
        return f"STD.CT.{PUBLISHING_SETS[key]}.{self.ct[key]}"

    def ct_package(self, cl: Codelist) -> str | None:
        """The study.yaml CT key whose package holds this codelist (own standard first), or None."""
        if not cl.code or cl.dictionary:
            return None
        order = [self.standard] + [k for k in ("SDTM", "ADaM", "Define-XML") if k != self.standard]
        order += [k for k in self.ct if k not in order]
        for key in order:
            if key in self.ct and cl.code in _ct_codelists(key, self.ct[key]):
                return key
        return self.standard if self.standard in self.ct else next(iter(self.ct), None)


# ----------------------------------------------------------------------------------------------------------------
# value-level metadata


def where_mask(frame: pd.DataFrame, clauses: Iterable[WhereClause]) -> np.ndarray:
    """Rows of `frame` the where clauses select (all clauses must hold)."""
    mask = np.ones(len(frame), dtype=bool)
    for wc in clauses:
        if wc.variable not in frame.columns:
            return np.zeros(len(frame), dtype=bool)
        col = frame[wc.variable]
        if col.dtype.kind in "iuf":
            values = pd.to_numeric(pd.Series(wc.values), errors="coerce").to_numpy()
            hit = col.isin(values).to_numpy()
        else:
            hit = col.isin(list(wc.values)).to_numpy()
        mask &= ~hit if wc.comparator in ("NE", "NOTIN") else hit
    return mask


# what define.xml reads of a dataset's records: the frame, its `valuelevel_lengths`, or None (no data: the spec's)
ValueLevelData = Union[pd.DataFrame, Mapping[ValueLevel, tuple[int, int]], None]


def _where_suffix(clauses: Iterable[WhereClause]) -> str:
    return ".".join(f"{wc.variable}.{wc.comparator}.{'_'.join(wc.values)}" for wc in clauses)


# ----------------------------------------------------------------------------------------------------------------
# building


def build_define(spec: StudySpec, standard: str, written: Mapping[str, tuple[DatasetMeta, ValueLevelData]],
                 leaves: Mapping[str, str] | None = None, *, unreferenced: bool = False,
                 analysis_metadata: bool = True) -> etree._ElementTree:
    """The define.xml tree for `standard` covering the datasets written (name -> (metadata written, the data's
    value-level lengths: the frame, or what `valuelevel_lengths` says of it, or None without data)).

    `leaves` maps a dataset name to its file name (default: lower-case name + .xpt).  `unreferenced` adds the
    codelists, methods and comments of the spec that no dataset refers to (a spec's define keeps all of them).
    The ADaM define of a study with a report carries its Analysis Results Metadata (`export.arm`) unless
    `analysis_metadata` is False.
    """
    ctx = DefineContext(spec, standard)
    datasets = [spec.dataset(n) for n in spec.datasets if n in written and spec.dataset(n).standard == standard]
    leaves = dict(leaves or {})
    arm = (analysis_results(spec, {ds.name: frozenset(written[ds.name][0].names) for ds in datasets})
           if standard == "ADaM" and analysis_metadata else None)

    root = _el(None, "ODM", {
        "FileType": "Snapshot", "FileOID": f"DEFINE.{spec.studyid}.{ctx.ig_name}.{ctx.ig_version}",
        "CreationDateTime": ctx.created, "ODMVersion": "1.3.2", "Originator": _squash(spec.study.get("sponsor")),
        "SourceSystem": "cdiscflow", "SourceSystemVersion": __version__, "def:Context": "Submission",
    }, nsmap=ARM_NSMAP if arm is not None else None)
    study = _el(root, "Study", {"OID": ctx.study_oid})
    gv = _el(study, "GlobalVariables")
    _el(gv, "StudyName").text = _squash(spec.study.get("name") or spec.studyid)
    _el(gv, "StudyDescription").text = _squash(spec.study.get("title") or spec.study.get("description") or spec.studyid)
    _el(gv, "ProtocolName").text = _squash(spec.study.get("protocol") or spec.studyid)
    mdv = _el(study, "MetaDataVersion", {
        "OID": ctx.mdv_oid, "Name": f"{spec.studyid} {ctx.ig_name} {ctx.ig_version}",
        "Description": f"{ctx.purpose} datasets of study {spec.studyid} ({ctx.ig_name} {ctx.ig_version})"
                       + (f", data cut {ctx.datacut}" if ctx.datacut else ""),
        "def:DefineVersion": ctx.define_version,
    })

    # what the define refers to, collected while walking the datasets in spec order
    codelists: dict[str, Codelist] = {}
    methods: dict[str, str] = {}
    comments: dict[str, tuple[str, str, str]] = {}  # OID -> (text, document, pages)
    documents: set[str] = set()
    item_defs: list[etree._Element] = []
    groups: list[etree._Element] = []
    vlm_defs: list[etree._Element] = []
    where_defs: dict[str, etree._Element] = {}

    def use_codelist(cid: str) -> str:
        if cid:
            codelists[cid] = spec.codelist(cid)
        return f"CL.{cid}" if cid else ""

    def use_method(mid: str) -> str:
        if not mid:
            return ""
        oid = mid if mid.startswith("MT.") else f"MT.{mid}"
        methods[oid] = mid
        return oid

    def use_comment(oid: str, text: str) -> str:
        if not text:
            return ""
        named = spec.comments.get(text)
        if named is not None:  # the id of a comments.csv row
            oid = named.id if named.id.startswith("COM.") else f"COM.{named.id}"
            comments[oid] = (named.description, named.document, named.pages)
            if named.document:
                documents.add(named.document)
            return oid
        while oid in comments and comments[oid][0] != text:
            oid += "_"
        comments[oid] = (text, "", "")
        return oid

    def use_pages(pages: str) -> tuple[str, str]:
        doc, refs = _page_refs(spec, pages)
        if doc:
            documents.add(doc)
        return doc, refs

    for ds in datasets:
        meta, data = written[ds.name]
        cols = {c.name: c for c in meta.columns}
        written_vars = [v for v in ds.variables if v.name in cols]
        vlm_by_var = _valuelevel(spec.valuelevel, ds, cols)
        lengths = (valuelevel_lengths(data, [r for rs in vlm_by_var.values() for r in rs])
                   if isinstance(data, pd.DataFrame) else data)
        group = _el(None, "ItemGroupDef", {
            "OID": f"IG.{ds.name}", "Name": ds.name, "SASDatasetName": ds.name,
            "Domain": (ds.name[4:] if ds.name.startswith("SUPP") else ds.name) if standard == "SDTM" else None,
            "Repeating": "Yes" if ds.repeating else "No", "IsReferenceData": "Yes" if ds.reference_data else "No",
            "Purpose": ctx.purpose, "def:Structure": ds.structure, "def:StandardOID": ctx.ig_oid,
            "def:ArchiveLocationID": f"LF.{ds.name}", "def:CommentOID": use_comment(f"COM.{ds.name}", ds.comment),
        })
        _text(group, "Description", ds.label)
        for order, v in enumerate(written_vars, start=1):
            _el(group, "ItemRef", {
                "ItemOID": f"IT.{ds.name}.{v.name}", "OrderNumber": order,
                "Mandatory": v.mandatory or ("Yes" if v.core == "Req" else "No"),
                "KeySequence": ds.keys.index(v.name) + 1 if v.name in ds.keys else None,
                "MethodOID": use_method(v.method), "Role": v.role,
            })
        if standard == "SDTM" and ds.name.startswith("SUPP") and ds.name[4:] in spec.datasets:
            _el(group, "Alias", {"Context": "DomainDescription", "Name": spec.dataset(ds.name[4:]).label})
        cls = _el(group, "Class", {"Name": ds.cls}, ns=DEF)
        if ds.subclass:
            _el(cls, "SubClass", {"Name": ds.subclass}, ns=DEF)
        leaf_href = leaves.get(ds.name, f"{ds.name.lower()}.xpt")
        leaf = _el(group, "leaf", {"ID": f"LF.{ds.name}", "xlink:href": leaf_href}, ns=DEF)
        _el(leaf, "title", ns=DEF).text = leaf_href
        groups.append(group)

        for v in written_vars:
            col = cols[v.name]
            vlm = vlm_by_var.get(v.name, [])
            item_defs.append(_item_def(
                f"IT.{ds.name}.{v.name}", v.name, v.datatype, col.length if v.datatype == "text" else (v.length or 8),
                v.significant_digits, v.display_format,
                v.label, use_codelist(v.codelist), v.origin, v.source,
                use_comment(f"COM.{ds.name}.{v.name}", v.comment), f"VL.{ds.name}.{v.name}" if vlm else "",
                use_pages(v.pages),
            ))
            if not vlm:
                continue
            vl = _el(None, "ValueListDef", {"OID": f"VL.{ds.name}.{v.name}"}, ns=DEF)
            for order, row in enumerate(vlm, start=1):
                suffix = _oid(_where_suffix(row.where))
                item_oid = f"IT.{ds.name}.{v.name}.{suffix}"
                wc_oid = f"WC.{ds.name}.{suffix}"
                ref = _el(vl, "ItemRef", {"ItemOID": item_oid, "OrderNumber": order,
                                          "Mandatory": row.mandatory or "No", "MethodOID": use_method(row.method)})
                _el(ref, "WhereClauseRef", {"WhereClauseOID": wc_oid}, ns=DEF)
                if wc_oid not in where_defs:
                    where_defs[wc_oid] = _where_clause_def(wc_oid, ds.name, row.where)
                item_defs.append(_item_def(
                    item_oid, v.name, row.datatype, _vlm_length(row, v, lengths),
                    row.significant_digits if row.significant_digits is not None else v.significant_digits,
                    row.display_format or v.display_format, row.label or v.label,
                    use_codelist(row.codelist), row.origin or v.origin, row.source if row.origin else v.source,
                    use_comment(f"COM.{ds.name}.{v.name}.{suffix}", row.comment), "",
                    use_pages(row.pages if row.origin else v.pages),
                ))
            vlm_defs.append(vl)

    if unreferenced:
        _add_unreferenced(spec, use_codelist, use_method, use_comment)

    standards = _el(mdv, "Standards", ns=DEF)
    _el(standards, "Standard", {"OID": ctx.ig_oid, "Name": ctx.ig_name, "Type": "IG", "Version": ctx.ig_version,
                                "Status": "Final"}, ns=DEF)
    packages = {ctx.ct_package(cl) for cl in codelists.values()} - {None}
    for key in [k for k in ctx.ct if k in packages]:
        _el(standards, "Standard", {"OID": ctx.ct_oid(key), "Name": "CDISC/NCI", "Type": "CT",
                                    "PublishingSet": PUBLISHING_SETS[key], "Version": ctx.ct[key],
                                    "Status": "Final"}, ns=DEF)
    for m in (spec.methods[mid] for mid in methods.values()):
        if m.document:
            documents.add(m.document)
    for kind, tag in (("acrf", "AnnotatedCRF"), ("supplemental", "SupplementalDoc")):
        docs = sorted(d.id for d in spec.documents.values() if d.kind == kind and (kind != "acrf" or d.id in documents))
        if docs:
            holder = _el(mdv, tag, ns=DEF)
            for did in docs:
                _el(holder, "DocumentRef", {"leafID": _leaf_id(did)}, ns=DEF)
                documents.add(did)
    displays = build_displays(arm, _el, _text) if arm is not None else None  # fills arm's where clauses, comments
    if arm is not None:
        where_defs.update({w.get("OID"): w for w in where_clause_defs(arm, _el)})
        comments.update({oid: (text, "", "") for oid, text in arm.comments.items()})
    for el in [*vlm_defs, *where_defs.values(), *groups, *item_defs]:
        mdv.append(el)
    for cid in sorted(codelists):
        mdv.append(_codelist(codelists[cid], ctx))
    for oid in sorted(methods):
        m = spec.methods[methods[oid]]
        md = _el(mdv, "MethodDef", {"OID": oid, "Name": m.name, "Type": m.type})
        _text(md, "Description", m.description)
        if m.expression_code:
            _el(md, "FormalExpression", {"Context": m.expression_context}).text = m.expression_code
        if m.document:
            _document_ref(md, m.document, m.pages)
    for oid in sorted(comments):
        text, doc, pages = comments[oid]
        cd = _el(mdv, "CommentDef", {"OID": oid}, ns=DEF)
        _text(cd, "Description", text)
        if doc:
            _document_ref(cd, doc, pages)
    for did in sorted(documents):
        d = spec.documents[did]
        leaf = _el(mdv, "leaf", {"ID": _leaf_id(did), "xlink:href": d.href}, ns=DEF)
        _el(leaf, "title", ns=DEF).text = d.title
    if displays is not None:
        mdv.append(displays)

    root.addprevious(etree.ProcessingInstruction("xml-stylesheet", f'type="text/xsl" href="{STYLESHEET.name}"'))
    return etree.ElementTree(root)


def _valuelevel(rows: Iterable[ValueLevel], ds: Dataset, cols: Mapping[str, object]) -> dict[str, list[ValueLevel]]:
    out: dict[str, list[ValueLevel]] = {}
    for row in rows:
        if row.dataset == ds.name and row.variable in cols and all(w.variable in cols for w in row.where):
            out.setdefault(row.variable, []).append(row)
    return out


def valuelevel_lengths(frame: pd.DataFrame, rows: Iterable[ValueLevel]) -> dict[ValueLevel, tuple[int, int]]:
    """What define.xml needs of the data for value-level lengths: per value-level row whose variable is text in
    `frame`, how many records its where clause selects and the longest value among them in bytes (0: all missing).
    Counts add up and longest values take the maximum over parts of a dataset (a partitioned export)."""
    out: dict[ValueLevel, tuple[int, int]] = {}
    for row in rows:  # over the dataset's value-level rows
        if row.variable in frame.columns and frame[row.variable].dtype.kind not in "iufMm":
            subset = frame.loc[where_mask(frame, row.where), row.variable]
            out[row] = (len(subset), int(byte_lengths(subset).max()) if len(subset) else 0)
    return out


def _vlm_length(row: ValueLevel, var: Variable, lengths: Mapping[ValueLevel, tuple[int, int]] | None) -> int | None:
    """Length of a value-level subset: longest value written in the records the where clause selects (`lengths`, from
    `valuelevel_lengths`; without data: the spec's length of the row, else of its variable)."""
    if row.datatype not in _LENGTH_TYPES:
        return None
    if row.datatype != "text":
        return row.length or 8
    if lengths is None:
        return row.length or (var.length if var.datatype == "text" else None)
    selected, longest = lengths.get(row, (0, 0))
    if selected:
        return max(1, longest)
    return row.length or var.length or 1


def _leaf_id(document: str) -> str:
    return document if document.startswith("LF.") else f"LF.{document}"


def _page_refs(spec: StudySpec, pages: str) -> tuple[str, str]:
    """(document id, page references) of a variable's `pages`: the annotated CRF, or 'DOC: refs'."""
    if not pages:
        return "", ""
    doc, sep, refs = pages.partition(":")
    if sep and doc.strip() in spec.documents:
        return doc.strip(), refs.strip()
    acrf = next((d.id for d in spec.documents.values() if d.kind == "acrf"), "")
    return (acrf, pages.strip()) if acrf else ("", "")


def _document_ref(parent: etree._Element, document: str, pages: str) -> etree._Element:
    """<def:DocumentRef leafID=..><def:PDFPageRef PageRefs=".." Type=".."/></def:DocumentRef>: page numbers are
    physical references, 'N-M' a page range, anything else a named destination."""
    ref = _el(parent, "DocumentRef", {"leafID": _leaf_id(document)}, ns=DEF)
    tokens = pages.replace(",", " ").split()
    if not tokens:
        return ref
    if len(tokens) == 1 and re.fullmatch(r"\d+-\d+", tokens[0]):
        first, last = tokens[0].split("-")
        _el(ref, "PDFPageRef", {"FirstPage": first, "LastPage": last, "Type": "PhysicalRef"}, ns=DEF)
    elif all(t.isdigit() for t in tokens):
        _el(ref, "PDFPageRef", {"PageRefs": " ".join(tokens), "Type": "PhysicalRef"}, ns=DEF)
    else:
        _el(ref, "PDFPageRef", {"PageRefs": " ".join(tokens), "Type": "NamedDestination"}, ns=DEF)
    return ref


def _add_unreferenced(spec: StudySpec, use_codelist, use_method, use_comment) -> None:
    """Codelists, methods and comments of the spec that no dataset, variable or value-level row names."""
    rows = [v for d in spec.datasets.values() for v in d.variables] + list(spec.valuelevel)
    named_cl = {r.codelist for r in rows}
    named_mt = {r.method for r in rows}
    named_com = {r.comment for r in rows} | {d.comment for d in spec.datasets.values()}
    for cid in spec.codelists:
        if cid not in named_cl:
            use_codelist(cid)
    for mid in spec.methods:
        if mid not in named_mt:
            use_method(mid)
    for cid in spec.comments:
        if cid not in named_com:
            use_comment(cid, cid)


def build_spec_define(spec: StudySpec, standard: str, *, analysis_metadata: bool = False) -> etree._ElementTree:
    """The define.xml of a spec alone (no data): every `standard` dataset and variable of the spec, lengths from
    the spec (a character variable without one gets no Length), and every codelist, method and comment of the
    spec that no dataset refers to (with `analysis_metadata`, the ADaM one also the report's ARM)."""
    written = {}
    for ds in spec.standard(standard):
        cols = tuple(ColumnMeta(v.name, v.label, v.datatype, v.length if v.datatype == "text" else (v.length or 8),
                                v.display_format) for v in ds.variables)
        written[ds.name] = (DatasetMeta(ds.name, ds.label, cols, format="spec"), None)
    return build_define(spec, standard, written, unreferenced=True, analysis_metadata=analysis_metadata)


def _item_def(oid: str, name: str, datatype: str, length: int | None, digits: int | None, display_format: str,
              label: str, codelist_oid: str, origin: str, source: str, comment_oid: str,
              valuelist_oid: str, pages: tuple[str, str] = ("", "")) -> etree._Element:
    item = _el(None, "ItemDef", {
        "OID": oid, "Name": name, "DataType": datatype,
        "Length": length if datatype in _LENGTH_TYPES and length else None,
        "SignificantDigits": digits if datatype == "float" and digits is not None else None,
        "SASFieldName": name, "def:DisplayFormat": display_format, "def:CommentOID": comment_oid,
    })
    _text(item, "Description", label)
    if codelist_oid:
        _el(item, "CodeListRef", {"CodeListOID": codelist_oid})
    if origin:
        orig = _el(item, "Origin", {"Type": origin, "Source": source if source in ORIGIN_SOURCES else None}, ns=DEF)
        if source and source not in ORIGIN_SOURCES:
            _text(orig, "Description", source)
        if pages[0]:
            _document_ref(orig, *pages)
    if valuelist_oid:
        _el(item, "ValueListRef", {"ValueListOID": valuelist_oid}, ns=DEF)
    return item


def _where_clause_def(oid: str, dataset: str, clauses: Iterable[WhereClause]) -> etree._Element:
    wc_def = _el(None, "WhereClauseDef", {"OID": oid}, ns=DEF)
    for wc in clauses:
        rc = _el(wc_def, "RangeCheck", {"Comparator": wc.comparator, "SoftHard": "Soft",
                                        "def:ItemOID": f"IT.{dataset}.{wc.variable}"})
        for value in wc.values:
            _el(rc, "CheckValue").text = value
    return wc_def


def _codelist(cl: Codelist, ctx: DefineContext) -> etree._Element:
    package = ctx.ct_package(cl)
    el = _el(None, "CodeList", {
        "OID": f"CL.{cl.id}", "Name": cl.name, "DataType": cl.datatype or "text",
        "def:StandardOID": ctx.ct_oid(package) if package else None,
        "def:IsNonStandard": None if package else "Yes",  # sponsor codelists and external dictionaries
    })
    if cl.dictionary:
        _el(el, "ExternalCodeList", {"Dictionary": cl.dictionary,
                                     "Version": cl.version or ctx.dictionaries.get(cl.dictionary, "")})
    else:
        decoded = all(t.decode for t in cl.terms)
        for i, t in enumerate(cl.terms, start=1):
            item = _el(el, "CodeListItem" if decoded else "EnumeratedItem", {
                "CodedValue": t.value, "OrderNumber": t.order if t.order is not None else i,
                "def:ExtendedValue": "Yes" if package and not t.code else None,
            })
            if decoded:
                _text(item, "Decode", t.decode)
            if t.code:
                _el(item, "Alias", {"Context": "nci:ExtCodeID", "Name": t.code})
    if cl.code and not cl.dictionary:
        _el(el, "Alias", {"Context": "nci:ExtCodeID", "Name": cl.code})
    return el


# ----------------------------------------------------------------------------------------------------------------
# schema, stylesheet, output


@lru_cache(maxsize=2)
def _schema(xsd: Path = XSD) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(xsd)))


def validate_define(doc: etree._ElementTree | str | Path) -> list[str]:
    """Every breach of the Define-XML 2.1 schema (with the ARM 1.0 extension when the define.xml has Analysis
    Results Metadata) as 'line N: message' (empty when valid)."""
    tree = doc if isinstance(doc, etree._ElementTree) else etree.parse(str(doc))
    has_arm = tree.getroot().find(f".//{{{ARM}}}AnalysisResultDisplays") is not None
    schema = _schema(ARM_XSD if has_arm else XSD)
    if schema.validate(tree):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


def define_bytes(tree: etree._ElementTree) -> bytes:
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def write_define_files(tree: etree._ElementTree, out_dir: str | Path) -> Path:
    """Write define.xml and CDISC's define2-1.xsl next to it (atomically); return the define.xml path."""
    out = Path(out_dir)
    path = out / "define.xml"
    write_bytes(path, define_bytes(tree))
    write_bytes(out / STYLESHEET.name, STYLESHEET.read_bytes())
    return path


def render_define_html(path: str | Path) -> str:
    """The define.xml as HTML, through the stylesheet it names (what a browser shows)."""
    transform = etree.XSLT(etree.parse(str(STYLESHEET)))
    return str(transform(etree.parse(str(path))))
