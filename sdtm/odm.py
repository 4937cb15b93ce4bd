"""Read a CDISC ODM-XML 1.3.2 export: the sender's metadata (MetaDataVersion) and the clinical data, streaming.

    export = read_odm([Path("study.xml")])        # OdmExport: metadata, one table per ItemGroup, problems, counts
    export.tables["IG.AE"]                        # text frame: key columns, then one column per item (ItemDef Name)

ClinicalData is parsed with `lxml.etree.iterparse`; each ItemGroupData becomes one row as soon as it ends and the
XML elements read so far are dropped, so memory grows with the data kept (one pointer per cell, repeated values
shared), never with the XML tree.  The rows of an ItemGroup keep the subject, site, event, form and repeat keys
as the columns `KEY_COLUMNS`.

Several files of one study are merged in the order given: a row is identified by its keys (subject, event and
repeat, form and repeat, item group and repeat); a later file, or `TransactionType="Update|Upsert"`, updates the
items of the row already read (later value wins, `IsNull="Yes"` or an item `Remove` clears it), an item group
`Remove` deletes the row.  Audit records, signatures and annotations are not data: they are skipped and counted.

Problems never stop the reading unless the XML itself is broken (then `InputError` naming file, line and what the
parser saw): an item the metadata does not declare, a value that breaks its ItemDef DataType, a subject whose site
changes between SubjectData elements, a transaction on a row never read.  Each is an `OdmProblem` with file,
line, subject, item group, row and OID; the value stays in the table, so the raw reader turns the problem into a
finding on that row and `--on-error reject` sends the row to the reject log: nothing is lost.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from lxml import etree

from cdiscflow.core.errors import InputError

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
MDSOL_NS = "http://www.mdsol.com/ns/odm/metadata"  # Medidata Rave's vendor extension (raw date formats)
FORMAT_ALIAS = "cdiscflow:format"  # <Alias Context="cdiscflow:format" Name="DD-MON-YYYY"/>: a text item's date format
KEY_COLUMNS = ("SUBJECTKEY", "SITEOID", "EVENTOID", "EVENTREPEATKEY", "FORMOID", "FORMREPEATKEY", "IGREPEATKEY")
IGNORED = ("AuditRecord", "Signature", "Annotation")  # not data: skipped, counted
_ISO_DATE = r"\d{4}-\d{2}-\d{2}"
_ISO_TIME = r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?"
_ZONE = r"(Z|[+-]\d{2}:\d{2})?"
# ODM 1.3.2 DataType -> the lexical form its values must have (types not listed take any text)
DATATYPE_PATTERNS = {
    "integer": r"[+-]?\d+",
    "float": r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?",
    "double": r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|NaN|-?INF",
    "date": _ISO_DATE,
    "time": _ISO_TIME + _ZONE,
    "datetime": _ISO_DATE + "T" + _ISO_TIME + _ZONE,
    "partialDate": r"\d{4}(-\d{2}(-\d{2})?)?",
    "partialTime": r"\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?" + _ZONE,
    "partialDatetime": r"\d{4}(-\d{2}(-\d{2}(T\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?" + _ZONE + ")?)?)?",
    "boolean": r"true|false|1|0",
}
_MATCHERS = {k: re.compile(f"(?:{v})\\Z").match for k, v in DATATYPE_PATTERNS.items()}


def _t(local: str) -> str:
    return f"{{{ODM_NS}}}{local}"


# ---------------------------------------------------------------------------------------------------------------
# metadata


@dataclass(frozen=True)
class OdmItem:
    oid: str
    name: str
    datatype: str
    length: int | None = None
    digits: int | None = None
    label: str = ""  # Question text, else Description
    codelist: str = ""  # CodeList OID
    unit: str = ""  # MeasurementUnit symbol(s), "|" between several
    raw_format: str = ""  # a text item's date format (Alias cdiscflow:format, mdsol:DateTimeFormat)
    sas_name: str = ""
    ranges: tuple[str, ...] = ()  # RangeCheck as text, e.g. "GE 0"


@dataclass(frozen=True)
class OdmItemGroup:
    oid: str
    name: str
    label: str
    repeating: bool
    items: tuple[tuple[str, bool, int | None], ...]  # (ItemOID, mandatory, key sequence)
    domain: str = ""


@dataclass(frozen=True)
class OdmCodelist:
    oid: str
    name: str
    datatype: str
    terms: tuple[tuple[str, str], ...]  # (coded value, decode text or "")


@dataclass
class OdmMetadata:
    study_oid: str = ""
    study_name: str = ""
    protocol_name: str = ""
    description: str = ""
    mdv_oid: str = ""
    events: dict[str, str] = field(default_factory=dict)  # StudyEventDef OID -> Name
    forms: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)  # FormOID -> (Name, IG OIDs)
    item_groups: dict[str, OdmItemGroup] = field(default_factory=dict)
    items: dict[str, OdmItem] = field(default_factory=dict)
    codelists: dict[str, OdmCodelist] = field(default_factory=dict)

    def form_of(self, group_oid: str) -> str:
        """The first form (FormDef Name) that holds the item group, '' if none."""
        for name, groups in self.forms.values():
            if group_oid in groups:
                return name
        return ""


def _text_of(el, child: str) -> str:
    """The TranslatedText of a Description/Question child (the English one when there are several)."""
    node = el.find(_t(child))
    if node is None:
        return ""
    texts = node.findall(_t("TranslatedText"))
    for tt in texts:
        if tt.get("{http://www.w3.org/XML/1998/namespace}lang", "en").startswith("en"):
            return " ".join((tt.text or "").split())
    return " ".join((texts[0].text or "").split()) if texts else ""


def _int(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


def _parse_metadata(study, units: dict[str, str]) -> OdmMetadata:
    meta = OdmMetadata(study_oid=study.get("OID", ""))
    gv = study.find(_t("GlobalVariables"))
    if gv is not None:
        meta.study_name = (gv.findtext(_t("StudyName")) or "").strip()
        meta.description = " ".join((gv.findtext(_t("StudyDescription")) or "").split())
        meta.protocol_name = (gv.findtext(_t("ProtocolName")) or "").strip()
    for mu in study.iter(_t("MeasurementUnit")):
        units[mu.get("OID", "")] = _text_of(mu, "Symbol") or mu.get("Name", "")
    mdv = study.find(_t("MetaDataVersion"))
    if mdv is None:
        return meta
    meta.mdv_oid = mdv.get("OID", "")
    for ev in mdv.iter(_t("StudyEventDef")):
        meta.events[ev.get("OID", "")] = ev.get("Name", "")
    for fd in mdv.iter(_t("FormDef")):
        meta.forms[fd.get("OID", "")] = (fd.get("Name", ""),
                                         tuple(r.get("ItemGroupOID", "") for r in fd.iter(_t("ItemGroupRef"))))
    for gd in mdv.iter(_t("ItemGroupDef")):
        refs = tuple((r.get("ItemOID", ""), r.get("Mandatory", "No") == "Yes", _int(r.get("KeySequence")))
                     for r in gd.iter(_t("ItemRef")))
        meta.item_groups[gd.get("OID", "")] = OdmItemGroup(
            gd.get("OID", ""), gd.get("Name", ""), _text_of(gd, "Description"), gd.get("Repeating") == "Yes", refs,
            gd.get("Domain", ""))
    for idef in mdv.iter(_t("ItemDef")):
        cl = idef.find(_t("CodeListRef"))
        unit_refs = [units.get(u.get("MeasurementUnitOID", ""), u.get("MeasurementUnitOID", ""))
                     for u in idef.iter(_t("MeasurementUnitRef"))]
        fmt = idef.get(f"{{{MDSOL_NS}}}DateTimeFormat", "")
        for alias in idef.iter(_t("Alias")):
            if alias.get("Context") == FORMAT_ALIAS:
                fmt = alias.get("Name", "")
        ranges = tuple(f"{rc.get('Comparator', '')} {' '.join((v.text or '').strip() for v in rc.iter(_t('CheckValue')))}"
                       for rc in idef.iter(_t("RangeCheck")))
        meta.items[idef.get("OID", "")] = OdmItem(
            idef.get("OID", ""), idef.get("Name", ""), idef.get("DataType", "text"), _int(idef.get("Length")),
            _int(idef.get("SignificantDigits")), _text_of(idef, "Question") or _text_of(idef, "Description"),
            cl.get("CodeListOID", "") if cl is not None else "", "|".join(unit_refs), fmt,
            idef.get("SASFieldName", ""), ranges)
    for cd in mdv.iter(_t("CodeList")):
        terms = [(ci.get("CodedValue", ""), _text_of(ci, "Decode")) for ci in cd.iter(_t("CodeListItem"))]
        terms += [(ei.get("CodedValue", ""), "") for ei in cd.iter(_t("EnumeratedItem"))]
        meta.codelists[cd.get("OID", "")] = OdmCodelist(cd.get("OID", ""), cd.get("Name", ""),
                                                        cd.get("DataType", "text"), tuple(terms))
    return meta


# ---------------------------------------------------------------------------------------------------------------
# clinical data


@dataclass(frozen=True)
class OdmProblem:
    rule_id: str  # ODM-UNKNOWN-ITEM | ODM-DATATYPE | ODM-SUBJECT-SITE | ODM-NO-SUBJECT | ODM-TRANSACTION ...
    severity: str
    file: str
    line: int
    subject: str
    group: str  # ItemGroupOID ('' when not about one)
    row: int | None  # 1-based row of the item group's table
    oid: str  # the ItemOID (or the element's OID)
    value: str
    message: str


@dataclass
class OdmExport:
    files: list[Path]
    metadata: OdmMetadata
    tables: dict[str, pd.DataFrame]  # ItemGroupOID -> text frame, index "row" 1..n
    lines: dict[str, list[int]]  # ItemGroupOID -> source line of each row's ItemGroupData (first file that had it)
    sources: dict[str, list[str]]  # ItemGroupOID -> file each row was first read from
    problems: list[OdmProblem]
    ignored: Counter  # AuditRecord / Signature / Annotation -> count
    removed: Counter  # ItemGroupOID -> rows deleted by a Remove transaction

    def column_names(self, group_oid: str) -> dict[str, str]:
        """ItemOID -> column name in the table of that item group."""
        return _column_names(self.metadata, group_oid, ())


def _column_names(meta: OdmMetadata, group_oid: str, extra: tuple[str, ...]) -> dict[str, str]:
    """Column per ItemOID: the ItemDef Name; the OID when the Name is missing, taken already, or a key column."""
    group = meta.item_groups.get(group_oid)
    oids = [oid for oid, _, _ in group.items] if group else []
    oids += [o for o in extra if o not in oids]
    names: dict[str, str] = {}
    taken = set(KEY_COLUMNS)
    for oid in oids:
        item = meta.items.get(oid)
        name = item.name if item is not None and item.name else oid
        if name in taken:
            name = oid
        names[oid] = name
        taken.add(name)
    return names


class _Table:
    """Column lists of one item group, filled row by row; repeated values share one string object."""

    def __init__(self) -> None:
        self.n = 0
        self.keys: list[list[str | None]] = [[] for _ in KEY_COLUMNS]
        self.items: dict[str, list[str | None]] = {}
        self.lines: list[int] = []
        self.sources: list[str] = []
        self.alive: list[bool] = []

    def new_row(self, keys: tuple, line: int, source: str) -> int:
        for col, k in zip(self.keys, keys):
            col.append(k)
        self.lines.append(line)
        self.sources.append(source)
        self.alive.append(True)
        self.n += 1
        return self.n - 1

    def set(self, oid: str, row: int, value: str | None) -> None:
        col = self.items.get(oid)
        if col is None:
            col = self.items[oid] = []
        if len(col) <= row:
            col.extend([None] * (row + 1 - len(col)))
        col[row] = value

    def frame(self, names: dict[str, str]) -> pd.DataFrame:
        data = {k: pd.Series(v, dtype=object) for k, v in zip(KEY_COLUMNS, self.keys)}
        for oid, name in names.items():
            col = self.items.get(oid, [])
            data[name] = pd.Series(col + [None] * (self.n - len(col)), dtype=object)
        frame = pd.DataFrame(data, index=pd.RangeIndex(self.n))
        keep = pd.Series(self.alive, dtype=bool)
        frame = frame[keep.to_numpy()] if self.n else frame
        frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
        return frame.astype(object).where(frame.notna(), None)


def is_odm_file(path: Path) -> bool:
    """True when the file's root element is an ODM element (read from the first bytes only)."""
    try:
        with open(path, "rb") as fh:
            for _, el in etree.iterparse(fh, events=("start",), resolve_entities=False, no_network=True):
                return etree.QName(el).localname == "ODM"
    except (OSError, etree.XMLSyntaxError):
        return False
    return False


def odm_files(raw: Path) -> list[Path]:
    """The ODM files of an export: the file itself, or the ODM .xml files of a folder (in name order)."""
    if raw.is_file():
        return [raw] if raw.suffix.lower() == ".xml" else []
    if raw.is_dir():
        return [p for p in sorted(raw.glob("*.xml")) if is_odm_file(p)]
    return []


class _Reader:
    def __init__(self) -> None:
        self.meta = OdmMetadata()
        self.units: dict[str, str] = {}
        self.tables: dict[str, _Table] = {}
        self.index: dict[tuple, tuple[str, int, int]] = {}  # row key -> (group, row, file number)
        self.problems: list[OdmProblem] = []
        self.ignored: Counter = Counter()
        self.removed: Counter = Counter()
        self.subject_site: dict[str, str] = {}
        self.cache: dict[str, str] = {}
        self.declared: dict[str, set[str]] = {}

    # -- one file ---------------------------------------------------------------------------------------------
    def read(self, path: Path, number: int) -> None:
        file = path.name
        ctx = {"subject": "", "site": "", "event": "", "erk": "", "form": "", "frk": "", "tt": [],
               "site_bad": False, "site_line": 0}
        pending: list[tuple[str, str | None, int, str]] = []  # (ItemOID, value, line, transaction)
        depth_ignored = 0
        tag_ignored = {_t(x): x for x in IGNORED}
        item_tags = (_t("ItemData"),)
        try:
            events = etree.iterparse(str(path), events=("start", "end"), huge_tree=True, resolve_entities=False,
                                     no_network=True, remove_comments=True)
            for event, el in events:  # over the XML elements: streaming, the one per-element loop of the reader
                tag = el.tag
                if event == "start":
                    if tag in tag_ignored:
                        depth_ignored += 1
                        continue
                    if depth_ignored:
                        continue
                    if tag == _t("SubjectData"):
                        ctx.update(subject=el.get("SubjectKey", ""), site="", site_bad=False,
                                   tt=[el.get("TransactionType", "")])
                    elif tag == _t("StudyEventData"):
                        ctx.update(event=el.get("StudyEventOID", ""), erk=el.get("StudyEventRepeatKey", ""))
                        ctx["tt"] = ctx["tt"][:1] + [el.get("TransactionType", "")]
                    elif tag == _t("FormData"):
                        ctx.update(form=el.get("FormOID", ""), frk=el.get("FormRepeatKey", ""))
                        ctx["tt"] = ctx["tt"][:2] + [el.get("TransactionType", "")]
                    elif tag == _t("ItemGroupData"):
                        pending = []
                    continue
                # end events
                if tag in tag_ignored:
                    depth_ignored -= 1
                    if not depth_ignored:
                        self.ignored[tag_ignored[tag]] += 1
                    _drop(el)
                    continue
                if depth_ignored:
                    continue
                if tag in item_tags or (tag.startswith(_t("ItemData")) and tag != _t("ItemDataStarred")):
                    pending.append(self._item_value(el, file, ctx))
                elif tag == _t("ItemGroupData"):
                    self._emit(el, pending, ctx, file, number)
                    _drop(el)
                elif tag == _t("SiteRef"):
                    self._site(el.get("LocationOID", ""), ctx, file, el.sourceline)
                elif tag in (_t("FormData"), _t("StudyEventData"), _t("SubjectData")):
                    _drop(el)
                elif tag == _t("Study"):
                    self._metadata(el)
                    _drop(el)
                elif tag in (_t("AdminData"), _t("ReferenceData"), _t("Association")):
                    _drop(el)
        except etree.XMLSyntaxError as exc:
            line = exc.lineno or 0
            raise InputError(f"{file}: not well-formed XML at line {line}, column {exc.offset or 0} ({exc.msg}); "
                             f"the ODM export is unusable until the file is repaired or re-exported") from None
        except OSError as exc:
            raise InputError(f"{file}: cannot be read ({exc})") from None

    def _metadata(self, study) -> None:
        meta = _parse_metadata(study, self.units)
        if meta.mdv_oid or not self.meta.mdv_oid:
            self.meta = meta
            self.declared = {}

    def _site(self, site: str, ctx: dict, file: str, line: int) -> None:
        ctx["site"] = site
        subject = ctx["subject"]
        first = self.subject_site.setdefault(subject, site)
        if first != site:
            ctx["site_bad"], ctx["site_line"] = True, line
            ctx["site_first"] = first

    def _item_value(self, el, file: str, ctx: dict) -> tuple[str, str | None, int, str]:
        oid = el.get("ItemOID", "")
        value = el.get("Value") if el.tag == _t("ItemData") else el.text
        tt = el.get("TransactionType", "")
        if el.get("IsNull") == "Yes" or tt == "Remove":
            value = None
        elif value is not None:
            value = self.cache.setdefault(value, value)
        return oid, value, el.sourceline, tt

    def _emit(self, el, pending: list, ctx: dict, file: str, number: int) -> None:
        group = el.get("ItemGroupOID", "")
        subject = ctx["subject"]
        keys = (subject, ctx["site"] or None, ctx["event"], ctx["erk"] or None, ctx["form"], ctx["frk"] or None,
                el.get("ItemGroupRepeatKey") or None)
        tt = next((t for t in [el.get("TransactionType", "")] + ctx["tt"][::-1] if t), "")
        line = el.sourceline
        table = self.tables.get(group)
        if table is None:
            table = self.tables[group] = _Table()
        key = (group, subject, ctx["event"], ctx["erk"], ctx["form"], ctx["frk"], keys[-1])
        known = self.index.get(key)
        if tt == "Remove":
            if known is None:
                self._problem("ODM-TRANSACTION", "warning", file, line, subject, group, None, group, "",
                              "TransactionType Remove for an item group row that was never read; nothing removed")
                return
            self.tables[group].alive[known[1]] = False
            self.removed[group] += 1
            del self.index[key]
            return
        if known is not None and (known[2] != number or tt in ("Update", "Upsert")):
            row = known[1]
        else:
            if known is not None:
                self._problem("ODM-REPEATED-KEY", "warning", file, line, subject, group, table.n + 1, group,
                              keys[-1] or "", f"item group {group} repeats the keys of the row at line "
                              f"{table.lines[known[1]]} in the same file; both rows are kept")
            row = table.new_row(keys, line, file)
            self.index[key] = (group, row, number)
        if not subject:
            self._problem("ODM-NO-SUBJECT", "error", file, line, subject, group, row + 1, group, "",
                          "item group data outside a SubjectData with a SubjectKey")
        if ctx["site_bad"]:
            self._problem("ODM-SUBJECT-SITE", "error", file, ctx["site_line"], subject, group, row + 1, subject,
                          ctx["site"], f"subject {subject} is at site {ctx['site']} here but at site "
                          f"{ctx['site_first']} earlier in the export")
        items = self.meta.items
        declared = self.declared.get(group)
        if declared is None and group in self.meta.item_groups:
            declared = self.declared[group] = {i for i, _, _ in self.meta.item_groups[group].items}
        for oid, value, iline, _ in pending:
            item = items.get(oid)
            if item is None or (declared is not None and oid not in declared):
                where = "the metadata (no ItemDef)" if item is None else f"ItemGroupDef {group}"
                self._problem("ODM-UNKNOWN-ITEM", "error", file, iline, subject, group, row + 1, oid, value or "",
                              f"item {oid} is not declared in {where}; its value is kept in column {oid}")
            elif value is not None and item.datatype in _MATCHERS and not _MATCHERS[item.datatype](value):
                self._problem("ODM-DATATYPE", "error", file, iline, subject, group, row + 1, oid, value,
                              f"value {value!r} of item {oid} ({item.name}) is not a valid ODM {item.datatype}")
            table.set(oid, row, value)

    def _problem(self, rule_id, severity, file, line, subject, group, row, oid, value, message) -> None:
        self.problems.append(OdmProblem(rule_id, severity, file, int(line or 0), subject, group, row, oid,
                                        value, message))

    # -- result -----------------------------------------------------------------------------------------------
    def result(self, files: list[Path]) -> OdmExport:
        groups = list(self.meta.item_groups) + [g for g in self.tables if g not in self.meta.item_groups]
        tables, lines, sources = {}, {}, {}
        for g in groups:
            table = self.tables.get(g) or _Table()
            extra = tuple(o for o in table.items if o not in
                          {i for i, _, _ in (self.meta.item_groups[g].items if g in self.meta.item_groups else ())})
            names = _column_names(self.meta, g, extra)
            tables[g] = table.frame(names)
            lines[g] = [ln for ln, a in zip(table.lines, table.alive) if a]
            sources[g] = [s for s, a in zip(table.sources, table.alive) if a]
        problems = _renumber(self.problems, self.tables)
        return OdmExport(files, self.meta, tables, lines, sources, problems, self.ignored, self.removed)


def _renumber(problems: list[OdmProblem], tables: dict[str, _Table]) -> list[OdmProblem]:
    """Problem rows counted among the rows still alive (a Remove transaction deletes rows before them)."""
    out = []
    for p in problems:
        if p.row is None or p.group not in tables:
            out.append(p)
            continue
        alive = tables[p.group].alive
        if not alive[p.row - 1]:
            out.append(OdmProblem(**{**p.__dict__, "row": None,
                                     "message": p.message + " (the row was later removed)"}))
            continue
        out.append(OdmProblem(**{**p.__dict__, "row": sum(alive[: p.row])}))
    return out


def _drop(el) -> None:
    """Free an element that has been read, and the siblings before it (lxml keeps them otherwise)."""
    el.clear(keep_tail=False)
    parent = el.getparent()
    if parent is not None:
        while el.getprevious() is not None:
            del parent[0]


def _order(files: list[Path]) -> list[Path]:
    """Files of one study in the order they were created (ODM CreationDateTime), then by name."""
    def created(path: Path) -> str:
        try:
            with open(path, "rb") as fh:
                for _, el in etree.iterparse(fh, events=("start",), resolve_entities=False, no_network=True):
                    return el.get("CreationDateTime", "")
        except (OSError, etree.XMLSyntaxError):
            return ""
        return ""
    return sorted(files, key=lambda p: (created(p), p.name))


def read_odm(files: list[Path]) -> OdmExport:
    """Read the ODM files of one study, merged in creation order (see the module docstring)."""
    files = _order([Path(f) for f in files])
    reader = _Reader()
    for number, path in enumerate(files):  # over the files of one study
        reader.read(path, number)
    return reader.result(files)


def read_odm_metadata(files: list[Path]) -> OdmMetadata:
    """The metadata only (the clinical data are still streamed through, not kept)."""
    return read_odm(files).metadata
