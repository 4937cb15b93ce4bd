"""What a define.xml declares: datasets, their variables, and the codelists of those variables.

Reads Define-XML 1.0, 2.0 and 2.1 alike (elements are matched by local name, so the ODM 1.2/1.3 and def 1.0/2.x
namespaces do not matter).  Only what the conformance rules compare with the data is kept: the variables listed by
each ItemGroupDef (through ItemRef -> ItemDef Name) and the coded values of the codelists those ItemDefs reference.
Value-level metadata (ValueListDef) is not evaluated.
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


@dataclass(frozen=True)
class DefineDataset:
    name: str
    variables: Mapping[str, str]  # variable name -> codelist OID ('' when none), in ItemRef order


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
    item_names: dict[str, tuple[str, str]] = {}  # ItemDef OID -> (Name, CodeList OID)
    codelists: dict[str, DefineCodelist] = {}
    groups: list[tuple[str, list[str]]] = []
    for el in root.iter(etree.Element):
        tag = _local(el)
        if tag == "MetaDataVersion":
            version = _attr(el, "DefineVersion") or version
        elif tag == "ItemDef":
            ref = next((c for c in el if _local(c) == "CodeListRef"), None)
            item_names[el.get("OID", "")] = (el.get("Name", "").upper(), ref.get("CodeListOID", "") if ref is not None else "")
        elif tag == "CodeList":
            codelists[el.get("OID", "")] = _codelist(el)
        elif tag == "ItemGroupDef":
            refs = [c.get("ItemOID", "") for c in el if _local(c) == "ItemRef"]
            groups.append(((el.get("Name") or el.get("SASDatasetName") or "").upper(), refs))
    datasets = {}
    for name, refs in groups:
        variables = {item_names[r][0]: item_names[r][1] for r in refs if r in item_names}
        datasets[name] = DefineDataset(name, MappingProxyType(variables))
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


def _codelist(el: etree._Element) -> DefineCodelist:
    values: set[str] = set()
    dictionary = ""
    for c in el:
        tag = _local(c)
        if tag in ("CodeListItem", "EnumeratedItem"):
            values.add(c.get("CodedValue", ""))
        elif tag == "ExternalCodeList":
            dictionary = c.get("Dictionary", "") or "external"
    return DefineCodelist(el.get("OID", ""), el.get("Name", ""), el.get("DataType", "text"),
                          None if dictionary else frozenset(values), dictionary)


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _attr(el: etree._Element, local: str) -> str:
    for k, v in el.attrib.items():
        if etree.QName(k).localname == local:
            return v
    return ""
