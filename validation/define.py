"""What a define.xml declares: datasets, their variables, and the codelists of those variables.

Reads Define-XML 1.0, 2.0 and 2.1 alike (elements are matched by local name, so the ODM 1.2/1.3 and def 1.0/2.x
namespaces do not matter).  Only what the conformance rules compare with the data is kept: the variables listed by
each ItemGroupDef (through ItemRef -> ItemDef Name), the coded values of the codelists those ItemDefs reference
(with the terms flagged `def:ExtendedValue="Yes"` and whether the codelist is a CDISC one or the sponsor's), and the
codelists of each variable's value-level ItemDefs (ValueListDef; their where clauses are not evaluated).

`declared_extensions(dataset, variable)` is what the sponsor declares beyond CDISC CT for a variable: the extended
values of its CT codelists and the terms of sponsor (non-standard) codelists in its value-level metadata.
Guide-based validation (no study spec) accepts those in an extensible CT codelist, as a reviewer's tool does.

This is cdiscflow's one reader of a define.xml's data declarations: besides the codelists it keeps each dataset's
label and OID and each variable's column metadata (`DefineColumn`: label, data type, length, display format, key
sequence, item OID), which the export layer's `apply_define` carries into a converted dataset.  (The spec importer
`specs.define_xml` reads a define.xml into spec tables: the whole metadata, checked OID by OID.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Iterable, Mapping

from lxml import etree

from cdiscflow.core.errors import InputError


@dataclass(frozen=True)
class DefineCodelist:
    oid: str
    name: str
    datatype: str
    values: frozenset[str] | None  # None: an external dictionary (MedDRA, ISO 3166 ...), values not listed
    dictionary: str = ""
    extended: frozenset[str] = frozenset()  # terms flagged def:ExtendedValue="Yes"
    standard: bool = False  # a CDISC CT codelist (def:StandardOID or an nci:ExtCodeID alias), not the sponsor's own


@dataclass(frozen=True)
class DefineColumn:
    """One variable of a dataset as its ItemRef and ItemDef declare it."""

    name: str  # ItemDef Name (or SASFieldName), as written
    label: str  # Description/TranslatedText (blanks squashed), else a Label attribute
    datatype: str  # DataType; "text" when absent
    length: int | None
    display_format: str
    key_sequence: int | None
    item_oid: str


@dataclass(frozen=True)
class DefineDataset:
    name: str
    variables: Mapping[str, str]  # variable name -> codelist OID ('' when none), in ItemRef order
    value_codelists: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    # variable name -> codelist OIDs of its value-level ItemDefs (ValueListDef), in order
    label: str = ""
    oid: str = ""  # the ItemGroupDef OID (IG.<name> when it has none)
    columns: Mapping[str, DefineColumn] = field(default_factory=lambda: MappingProxyType({}))
    # variable name as written -> its column metadata, in ItemRef order


@dataclass(frozen=True)
class Define:
    paths: tuple[str, ...]
    version: str
    datasets: Mapping[str, DefineDataset]
    codelists: Mapping[str, DefineCodelist] = field(default_factory=lambda: MappingProxyType({}))

    def codelist_of(self, dataset: str, variable: str) -> DefineCodelist | None:
        ds = self.datasets.get(dataset)
        oid = ds.variables.get(variable, "") if ds else ""
        return self.codelists.get(oid) if oid else None

    def declared_extensions(self, dataset: str, variable: str) -> frozenset[str]:
        """Terms the define declares for a variable beyond CDISC CT: the extended values of its CT codelists (variable
        or value level), and every term of a sponsor (non-standard) codelist of its value-level metadata, which
        gives the records its where clause selects their own terminology.  A sponsor codelist at variable level
        declares nothing beyond CT: its new terms must be flagged as extended values of the CT codelist."""
        ds = self.datasets.get(dataset)
        if ds is None:
            return frozenset()
        levels = [(ds.variables.get(variable, ""), False)] + [(o, True) for o in ds.value_codelists.get(variable, ())]
        out: set[str] = set()
        for oid, value_level in levels:
            cl = self.codelists.get(oid) if oid else None
            if cl is None or cl.values is None:
                continue
            if cl.standard:
                out |= cl.extended
            elif value_level:  # a subset of records (one test's results) with the sponsor's own terminology
                out |= cl.values
        return frozenset(out)

    @property
    def source(self) -> str:
        return ", ".join(self.paths)


def read_define(path: str | Path) -> Define:
    """Parse a define.xml; an unreadable or malformed file is an InputError naming the file and line."""
    path = Path(path)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    try:
        root = etree.parse(str(path), parser).getroot()
    except OSError as exc:
        raise InputError(f"{path}: cannot read define.xml ({exc})") from None
    except etree.XMLSyntaxError as exc:
        raise InputError(f"{path}: not well-formed XML at line {exc.lineno}: {exc.msg}") from None
    if _local(root) != "ODM":
        raise InputError(f"{path}: not a define.xml (root element is {_local(root)}, expected ODM)")

    version = ""
    item_names: dict[str, tuple[str, str, str]] = {}  # ItemDef OID -> (Name, CodeList OID, ValueListDef OID)
    item_defs: dict[str, etree._Element] = {}
    codelists: dict[str, DefineCodelist] = {}
    groups: list[tuple[str, list[str]]] = []
    group_facts: list[tuple[str, str, list[etree._Element]]] = []  # (label, OID, ItemRefs) per ItemGroupDef
    value_lists: dict[str, list[str]] = {}  # ValueListDef OID -> its ItemDef OIDs
    for el in root.iter(etree.Element):
        tag = _local(el)
        if tag == "MetaDataVersion":
            version = _attr(el, "DefineVersion") or version
        elif tag == "ItemDef":
            ref = next((c for c in el if _local(c) == "CodeListRef"), None)
            vl = next((c for c in el if _local(c) == "ValueListRef"), None)
            item_names[el.get("OID", "")] = (el.get("Name", "").upper(),
                                             ref.get("CodeListOID", "") if ref is not None else "",
                                             _attr(vl, "ValueListOID") if vl is not None else "")
            item_defs[el.get("OID", "")] = el
        elif tag == "CodeList":
            codelists[el.get("OID", "")] = _codelist(el)
        elif tag == "ItemGroupDef":
            refs = [c.get("ItemOID", "") for c in el if _local(c) == "ItemRef"]
            name = (el.get("Name") or el.get("SASDatasetName") or "").upper()
            groups.append((name, refs))
            group_facts.append((_description(el), el.get("OID") or f"IG.{name}",
                                [c for c in el if _local(c) == "ItemRef"]))
        elif tag == "ValueListDef":
            value_lists[el.get("OID", "")] = [c.get("ItemOID", "") for c in el if _local(c) == "ItemRef"]
    datasets = {}
    for (name, refs), (label, oid, item_refs) in zip(groups, group_facts):
        known = [item_names[r] for r in refs if r in item_names]
        variables = {n: cl for n, cl, _ in known}
        value_cls = {n: tuple(item_names[i][1] for i in value_lists.get(vl, ()) if i in item_names and item_names[i][1])
                     for n, _, vl in known if vl}
        columns = {}
        for ref in item_refs:  # over the dataset's variables
            item = item_defs.get(ref.get("ItemOID"))
            if item is not None:
                column = _column(item, ref)
                columns[column.name] = column
        datasets[name] = DefineDataset(name, MappingProxyType(variables),
                                       MappingProxyType({n: v for n, v in value_cls.items() if v}),
                                       label, oid, MappingProxyType(columns))
    if not datasets:
        raise InputError(f"{path}: the define.xml describes no datasets (no ItemGroupDef)")
    return Define((str(path),), version, MappingProxyType(datasets), MappingProxyType(codelists))


def merge_defines(defines: Iterable[Define]) -> Define | None:
    """One view of several define.xml files (an SDTM and an ADaM one); the first declaration of a name wins."""
    defines = list(defines)
    if not defines:
        return None
    if len(defines) == 1:
        return defines[0]
    datasets: dict[str, DefineDataset] = {}
    codelists: dict[str, DefineCodelist] = {}
    for d in defines:
        for k, v in d.datasets.items():
            datasets.setdefault(k, v)
        for k, v in d.codelists.items():
            codelists.setdefault(k, v)
    return Define(tuple(p for d in defines for p in d.paths), "/".join(sorted({d.version for d in defines if d.version})),
                  MappingProxyType(datasets), MappingProxyType(codelists))


def _column(item: etree._Element, ref: etree._Element) -> DefineColumn:
    length, key = item.get("Length"), ref.get("KeySequence")
    return DefineColumn(
        name=item.get("Name") or item.get("SASFieldName") or "", label=_description(item),
        datatype=item.get("DataType") or "text", length=int(length) if length and length.isdigit() else None,
        display_format=_attr(item, "DisplayFormat"), key_sequence=int(key) if key and key.isdigit() else None,
        item_oid=ref.get("ItemOID") or "",
    )


def _description(el: etree._Element) -> str:
    """The first non-empty Description/TranslatedText (blanks squashed), else a Label attribute (def:Label)."""
    for desc in el.findall("{*}Description"):
        for tt in desc.findall("{*}TranslatedText"):
            if tt.text:
                return " ".join(tt.text.split())
    return _attr(el, "Label")


def _codelist(el: etree._Element) -> DefineCodelist:
    values: set[str] = set()
    extended: set[str] = set()
    dictionary = ""
    alias = False
    for c in el:
        tag = _local(c)
        if tag in ("CodeListItem", "EnumeratedItem"):
            values.add(c.get("CodedValue", ""))
            if _attr(c, "ExtendedValue") == "Yes":
                extended.add(c.get("CodedValue", ""))
        elif tag == "ExternalCodeList":
            dictionary = c.get("Dictionary", "") or "external"
        elif tag == "Alias" and c.get("Context") == "nci:ExtCodeID":
            alias = True
    standard = _attr(el, "IsNonStandard") != "Yes" and bool(_attr(el, "StandardOID") or alias)
    return DefineCodelist(el.get("OID", ""), el.get("Name", ""), el.get("DataType", "text"),
                          None if dictionary else frozenset(values), dictionary, frozenset(extended), standard)


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _attr(el: etree._Element, local: str) -> str:
    for k, v in el.attrib.items():
        if etree.QName(k).localname == local:
            return v
    return ""
