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
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
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
    lines: dict[str, np.ndarray]  # ItemGroupOID -> source line of each row's ItemGroupData (where it was first read)
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
        self.lines = array("q")  # source line of each row's ItemGroupData
        self.files = array("H")  # number of the file each row was first read from
        self.alive = bytearray()

    def new_row(self, keys: tuple, line: int, file_number: int) -> int:
        for col, k in zip(self.keys, keys):
            col.append(k)
        self.lines.append(line)
        self.files.append(file_number)
        self.alive.append(1)
        self.n += 1
        return self.n - 1

    def row_keys(self, group: str):
        """(row key, row number, file number) of every row still alive; the row key leaves the site out."""
        cols = [self.keys[i] for i in (0, 2, 3, 4, 5, 6)]
        for row, key in enumerate(zip(*cols)):  # over rows, only when a transaction needs the index
            if self.alive[row]:
                yield (group, *key), row, self.files[row]

    def set(self, oid: str, row: int, value: str | None) -> None:
        col = self.items.get(oid)
        if col is None:
            col = self.items[oid] = []
        if len(col) <= row:
            col.extend([None] * (row + 1 - len(col)))
        col[row] = value

    def frame(self, names: dict[str, str]) -> pd.DataFrame:
        """The table as a frame; the column lists are handed over one by one (the reader's copy is freed)."""
        data = {}
        for k in KEY_COLUMNS:
            data[k] = _column(self.keys.pop(0), self.n)
        for oid, name in names.items():
            data[name] = _column(self.items.pop(oid, []), self.n)
        frame = pd.DataFrame(data, index=pd.RangeIndex(self.n), dtype=object, copy=False)  # values shared
        if self.n and not all(self.alive):
            frame = frame[np.frombuffer(bytes(self.alive), dtype=np.uint8).astype(bool)]
        frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
        return frame


def _column(values: list, n: int) -> np.ndarray:
    values.extend([None] * (n - len(values)))
    out = np.empty(n, dtype=object)
    out[:] = values
    values.clear()
    return out


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
        self.index: dict[tuple, tuple[int, int]] | None = None  # row key -> (row, file number), built when needed
        self.problems: list[OdmProblem] = []
        self.ignored: Counter = Counter()
        self.removed: Counter = Counter()
        self.subject_site: dict[str, str] = {}
        self.cache: dict[str, str] = {}
        self.declared: dict[str, set[str]] = {}
        self.site: tuple = ("", 0, "", None, 0)  # (subject, SubjectData line, site, earlier site if different, line)

    # -- one file ---------------------------------------------------------------------------------------------
    def read(self, path: Path, number: int) -> None:
        """Stream one file: lxml reports only the elements named here (ItemData are read as children of their
        ItemGroupData), each is handled at its end and freed."""
        file = path.name
        ignored = {_t(x): x for x in IGNORED}
        wanted = [_t("ItemGroupData"), _t("SiteRef"), _t("FormData"), _t("StudyEventData"), _t("SubjectData"),
                  _t("Study"), _t("AdminData"), _t("ReferenceData"), *ignored]
        try:
            events = etree.iterparse(str(path), events=("end",), tag=wanted, huge_tree=True, resolve_entities=False,
                                     no_network=True, remove_comments=True)
            for _, el in events:  # over the item groups and their containers: streaming
                tag = el.tag
                if tag == _t("ItemGroupData"):
                    self._emit(el, file, number)
                    _drop(el)
                elif tag in ignored:
                    self.ignored[ignored[tag]] += 1
                    el.clear(keep_tail=False)
                elif tag == _t("SiteRef"):
                    self._site(el, file)
                elif tag == _t("Study"):
                    self._metadata(el)
                    _drop(el)
                else:
                    _drop(el)
        except etree.XMLSyntaxError as exc:
            raise InputError(f"{file}: not well-formed XML at line {exc.lineno or 0}, column {exc.offset or 0} "
                             f"({exc.msg}); the ODM export is unusable until the file is repaired or re-exported"
                             ) from None
        except OSError as exc:
            raise InputError(f"{file}: cannot be read ({exc})") from None

    def _metadata(self, study) -> None:
        meta = _parse_metadata(study, self.units)
        if meta.mdv_oid or not self.meta.mdv_oid:
            self.meta = meta
            self.declared = {}

    def _site(self, el, file: str) -> None:
        """Remember the SubjectData's site; a subject whose site changes is a problem on each of its rows here."""
        subj = el.getparent()
        if subj is None or subj.tag != _t("SubjectData"):
            return
        subject, site = subj.get("SubjectKey", ""), el.get("LocationOID", "")
        first = self.subject_site.setdefault(subject, site)
        self.site = (subject, subj.sourceline, site, first if first != site else None, el.sourceline)

    def _emit(self, el, file: str, number: int) -> None:
        intern = self.cache.setdefault
        form_el = el.getparent()
        event_el = form_el.getparent() if form_el is not None else None
        subj_el = event_el.getparent() if event_el is not None else None
        chain = [x for x in (subj_el, event_el, form_el) if x is not None]
        subject = subj_el.get("SubjectKey", "") if subj_el is not None else ""
        here = self.site if self.site[:2] == (subject, subj_el.sourceline if subj_el is not None else 0) else None
        group = el.get("ItemGroupOID", "")
        keys = tuple(None if k in (None, "") else intern(k, k) for k in (
            subject, here[2] if here else None,
            event_el.get("StudyEventOID") if event_el is not None else None,
            event_el.get("StudyEventRepeatKey") if event_el is not None else None,
            form_el.get("FormOID") if form_el is not None else None,
            form_el.get("FormRepeatKey") if form_el is not None else None, el.get("ItemGroupRepeatKey")))
        tt = next((t for t in [el.get("TransactionType", "")] + [x.get("TransactionType", "") for x in chain[::-1]]
                   if t), "")
        line = el.sourceline
        table = self.tables.get(group)
        if table is None:
            table = self.tables[group] = _Table()
        if self.index is None and (number > 0 or tt in ("Update", "Upsert", "Remove")):
            self.index = {key: (row, f) for g, t in self.tables.items() for key, row, f in t.row_keys(g)}
        if self.index is None:  # a first file without transactions: rows are appended, repeated keys found at the end
            row = table.new_row(keys, line, number)
        else:
            key = (group, *keys[:1], *keys[2:])
            known = self.index.get(key)
            if tt == "Remove":
                if known is None:
                    self._problem("ODM-TRANSACTION", "warning", file, line, subject, group, None, group, "",
                                  "TransactionType Remove for an item group row that was never read; nothing removed")
                    return
                table.alive[known[0]] = 0
                self.removed[group] += 1
                del self.index[key]
                return
            if known is not None and (known[1] != number or tt in ("Update", "Upsert")):
                row = known[0]
            else:
                row = table.new_row(keys, line, number)
                self.index[key] = (row, number)
        if not subject:
            self._problem("ODM-NO-SUBJECT", "error", file, line, subject, group, row + 1, group, "",
                          "item group data outside a SubjectData with a SubjectKey")
        if here and here[3] is not None:
            self._problem("ODM-SUBJECT-SITE", "error", file, here[4], subject, group, row + 1, subject, here[2],
                          f"subject {subject} is at site {here[2]} here but at site {here[3]} earlier in the export")
        self._items(el, table, row, group, subject, file)

    def _items(self, el, table: _Table, row: int, group: str, subject: str, file: str) -> None:
        intern = self.cache.setdefault
        items = self.meta.items
        declared = self.declared.get(group)
        if declared is None and group in self.meta.item_groups:
            declared = self.declared[group] = {i for i, _, _ in self.meta.item_groups[group].items}
        plain = _t("ItemData")
        for child in el:  # over the ItemData of one item group (the children lxml keeps until the group ends)
            tag = child.tag
            if not isinstance(tag, str) or not tag.startswith(plain):
                continue
            oid = child.get("ItemOID", "")
            value = child.get("Value") if tag == plain else child.text
            if child.get("IsNull") == "Yes" or child.get("TransactionType") == "Remove":
                value = None
            elif value is not None:
                value = intern(value, value)
            item = items.get(oid)
            if item is None or (declared is not None and oid not in declared):
                where = "the metadata (no ItemDef)" if item is None else f"ItemGroupDef {group}"
                self._problem("ODM-UNKNOWN-ITEM", "error", file, child.sourceline, subject, group, row + 1, oid,
                              value or "", f"item {oid} is not declared in {where}; its value is kept in column {oid}")
            elif value is not None and item.datatype in _MATCHERS and not _MATCHERS[item.datatype](value):
                self._problem("ODM-DATATYPE", "error", file, child.sourceline, subject, group, row + 1, oid, value,
                              f"value {value!r} of item {oid} ({item.name}) is not a valid ODM {item.datatype}")
            table.set(oid, row, value)

    def _problem(self, rule_id, severity, file, line, subject, group, row, oid, value, message) -> None:
        self.problems.append(OdmProblem(rule_id, severity, file, int(line or 0), subject, group, row, oid,
                                        value, message))

    # -- result -----------------------------------------------------------------------------------------------
    def result(self, files: list[Path]) -> OdmExport:
        groups = list(self.meta.item_groups) + [g for g in self.tables if g not in self.meta.item_groups]
        tables, lines = {}, {}
        for g in groups:
            table = self.tables.get(g) or _Table()
            declared = {i for i, _, _ in (self.meta.item_groups[g].items if g in self.meta.item_groups else ())}
            extra = tuple(o for o in table.items if o not in declared)
            tables[g] = table.frame(_column_names(self.meta, g, extra))
            alive = np.frombuffer(bytes(table.alive), dtype=np.uint8).astype(bool)
            lines[g] = np.asarray(table.lines, dtype=np.int64)[alive]
            self._repeated_keys(g, tables[g], lines[g], [files[i].name for i in np.asarray(table.files)[alive]])
        problems = _renumber(self.problems, self.tables)
        return OdmExport(files, self.meta, tables, lines, problems, self.ignored, self.removed)

    def _repeated_keys(self, group: str, frame: pd.DataFrame, lines: np.ndarray, files: list[str]) -> None:
        """Rows of one item group with the same keys (subject, event, form, repeat keys): both kept, warned."""
        keys = [c for c in KEY_COLUMNS if c != "SITEOID"]
        dup = frame[keys].fillna("").duplicated(keep=False).to_numpy() if len(frame) else np.zeros(0, bool)
        for i in np.flatnonzero(dup):  # over the repeated rows (few)
            self.problems.append(OdmProblem(
                "ODM-REPEATED-KEY", "warning", files[i], int(lines[i]), str(frame.iloc[i]["SUBJECTKEY"] or ""), group,
                None, group, str(frame.iloc[i]["IGREPEATKEY"] or ""),
                f"item group {group} row {i + 1} repeats the keys of another row (subject, event, form, "
                "ItemGroupRepeatKey); both rows are kept"))


def _renumber(problems: list[OdmProblem], tables: dict[str, _Table]) -> list[OdmProblem]:
    """Problem rows counted among the rows still alive (a Remove transaction deletes rows before them)."""
    out = []
    counts: dict[str, np.ndarray] = {}
    for p in problems:  # over the problems found
        if p.row is None or p.group not in tables:
            out.append(p)
            continue
        alive = tables[p.group].alive
        if p.group not in counts:
            counts[p.group] = np.cumsum(np.frombuffer(bytes(alive), dtype=np.uint8))
        if not alive[p.row - 1]:
            out.append(OdmProblem(**{**p.__dict__, "row": None,
                                     "message": p.message + " (the row was later removed)"}))
            continue
        out.append(OdmProblem(**{**p.__dict__, "row": int(counts[p.group][p.row - 1])}))
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
