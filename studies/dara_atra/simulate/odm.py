"""Write a raw export described by forms.yaml as a CDISC ODM-XML 1.3.2 snapshot, with its metadata.

    write_odm(spec, raw_dir, out_file)      # `cdiscflow simulate --format odm`, and the tests' CSV -> ODM round trips

One StudyEventDef (SE.STUDY) holds one FormDef per form (F.<FORM>) with one repeating ItemGroupDef (IG.<FORM>,
Name = the form name, so forms.yaml `file: ae.csv` finds it) and one ItemDef per field (IT.<FORM>.<FIELD>, Name =
the field).  Values are written as collected (ODM's meaning of a clinical value): integer and float fields get
those DataTypes; a date or time collected in a display format (DD-MON-YYYY, UN-MAR-2017) is text whose format
travels in `<Alias Context="cdiscflow:format" Name="DD-MON-YYYY"/>` (plain ODM 1.3.2, no vendor schema needed).
Codelists list the values that occur in the data.  Each subject is one SubjectData (SiteRef from the study.yaml
`raw.site` field), its rows in the order of the export; every element on its own line, so line numbers in
findings point at one item.  The file validates against the ODM 1.3.2 XSD (`schemas/odm-1.3.2`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from lxml import etree

from cdiscflow.core.atomic import atomic_write
from cdiscflow.sdtm.odm import FORMAT_ALIAS, ODM_NS
from cdiscflow.specs.model import Form, StudySpec

EVENT = "SE.STUDY"
CHUNK = 2_000  # subjects written at a time
_TYPES = {"integer": "integer", "float": "float"}


def _oid(kind: str, *parts: str) -> str:
    return ".".join([kind] + [p.upper() for p in parts])


def _escape(values: pd.Series) -> pd.Series:
    """Text as an XML attribute value (vectorised)."""
    out = values.astype(str)
    for old, new in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("\n", "&#10;"),
                     ("\r", "&#13;"), ("\t", "&#9;")):
        out = out.str.replace(old, new, regex=False)
    return out


def _e(tag: str, parent=None, **attrs) -> etree._Element:
    attrs = {k: str(v) for k, v in attrs.items() if v not in (None, "")}
    if parent is None:
        return etree.Element(f"{{{ODM_NS}}}{tag}", attrs, nsmap={None: ODM_NS})
    return etree.SubElement(parent, f"{{{ODM_NS}}}{tag}", attrs)


def _translated(parent, tag: str, text: str) -> None:
    node = _e(tag, parent)
    tt = _e("TranslatedText", node)
    tt.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    tt.text = text


def _study_metadata(spec: StudySpec, forms: dict[str, pd.DataFrame]) -> etree._Element:
    study = _e("Study", OID=spec.studyid)
    gv = _e("GlobalVariables", study)
    _e("StudyName", gv).text = str(spec.study.get("name", spec.studyid))
    _e("StudyDescription", gv).text = " ".join(str(spec.study.get("title", spec.studyid)).split())
    _e("ProtocolName", gv).text = str(spec.study.get("protocol", spec.studyid))
    mdv = _e("MetaDataVersion", study, OID="MDV.1", Name=f"{spec.studyid} raw forms")
    protocol = _e("Protocol", mdv)
    _e("StudyEventRef", protocol, StudyEventOID=EVENT, Mandatory="Yes")
    event = _e("StudyEventDef", mdv, OID=EVENT, Name="Study", Repeating="No", Type="Common")
    for name in forms:
        _e("FormRef", event, FormOID=_oid("F", name), Mandatory="No")
    for name, form in spec.forms.items():
        fd = _e("FormDef", mdv, OID=_oid("F", name), Name=name, Repeating="No")
        _translated(fd, "Description", form.label)
        _e("ItemGroupRef", fd, ItemGroupOID=_oid("IG", name), Mandatory="Yes")
    for name, form in spec.forms.items():
        gd = _e("ItemGroupDef", mdv, OID=_oid("IG", name), Name=name, Repeating="Yes")
        _translated(gd, "Description", form.label)
        for f in form.fields:
            key = form.keys.index(f.name) + 1 if f.name in form.keys else None
            _e("ItemRef", gd, ItemOID=_oid("IT", name, f.name), KeySequence=key,
               Mandatory="Yes" if f.required else "No")
    codelists = []
    for name, form in spec.forms.items():
        data = forms[name]
        for f in form.fields:
            values = data[f.name].dropna().astype(str)
            dtype = _TYPES.get(f.datatype, "text")
            length = int(values.str.len().max()) if len(values) else 1
            digits = None
            if dtype == "float" and len(values):
                digits = int(values.str.extract(r"\.(\d+)$", expand=False).str.len().fillna(0).max())
            idef = _e("ItemDef", mdv, OID=_oid("IT", name, f.name), Name=f.name, DataType=dtype,
                      Length=max(length, 1), SignificantDigits=digits)
            if f.description:
                _translated(idef, "Description", f.description)
            _translated(idef, "Question", f.label)
            if f.codelist and len(values):  # an empty CodeList is not valid ODM: no values, no list
                cl_oid = _oid("CL", name, f.name)
                _e("CodeListRef", idef, CodeListOID=cl_oid)
                codelists.append((cl_oid, f"{f.codelist} ({name}.{f.name})", sorted(set(values))))
            if f.datatype in ("date", "time", "datetime") and f.format:
                _e("Alias", idef, Context=FORMAT_ALIAS, Name=f.format)
    for cl_oid, cl_name, terms in codelists:
        cl = _e("CodeList", mdv, OID=cl_oid, Name=cl_name, DataType="text")
        for term in terms:
            _e("EnumeratedItem", cl, CodedValue=term)
    return study


def _admin(spec: StudySpec, sites: list[str]) -> etree._Element:
    admin = _e("AdminData")
    for site in sites:
        loc = _e("Location", admin, OID=site, Name=f"Site {site}", LocationType="Site")
        _e("MetaDataVersionRef", loc, StudyOID=spec.studyid, MetaDataVersionOID="MDV.1",
           EffectiveDate=str(spec.study.get("datacut", "2000-01-01")))
    return admin


def _form_fragments(name: str, form: Form, data: pd.DataFrame, subject: str) -> pd.Series:
    """Per subject (in order of appearance), the FormData element holding the subject's rows of the form."""
    if data.empty:
        return pd.Series(dtype=str)
    text = pd.Series("", index=data.index)
    for f in form.fields:  # over the fields: each a vectorised column of ItemData elements
        col = data[f.name]
        item = f'<ItemData ItemOID="{_oid("IT", name, f.name)}" Value="' + _escape(col.fillna("")) + '"/>\n'
        text = text + item.where(col.notna(), "")
    subj = data[subject].astype(str)
    repeat = (subj.groupby(subj, sort=False).cumcount() + 1).astype(str)
    rows = (f'<ItemGroupData ItemGroupOID="{_oid("IG", name)}" ItemGroupRepeatKey="' + repeat + '">\n'
            + text + "</ItemGroupData>\n")
    joined = rows.groupby(subj, sort=False).agg("".join)
    return f'<FormData FormOID="{_oid("F", name)}">\n' + joined + "</FormData>\n"


def subject_order(forms: dict[str, pd.DataFrame], subject: str) -> list[str]:
    """Subjects in order of first appearance, form by form; raises ValueError when a form lists its subjects in
    another order (its rows would then come back in a different order)."""
    seen: dict[str, int] = {}
    for data in forms.values():
        for s in pd.unique(data[subject].astype(str)):  # over subjects (one SubjectData each)
            seen.setdefault(s, len(seen))
    for name, data in forms.items():
        ranks = data[subject].astype(str).map(seen).to_numpy()
        if len(ranks) and (np.diff(ranks) < 0).any():
            raise ValueError(f"form {name}: rows are not grouped by subject in the export's subject order; an ODM "
                             "snapshot would list them in another order")
    return list(seen)


def write_odm(spec: StudySpec, raw_dir: str | Path, out_file: str | Path, *, banner: str = "") -> dict[str, int]:
    """The raw export in `raw_dir` (read as cdiscflow reads it) as one ODM 1.3.2 file; returns rows per form.
    `banner` is written as an XML comment at the top (e.g. that the data are synthetic)."""
    from cdiscflow.sdtm.raw import read_export

    export = read_export(spec, raw_dir)
    forms = {name: raw.data for name, raw in export.forms.items()}
    subject = export.subject_field
    site_field = str(spec.study.get("raw", {}).get("site", "") or "")
    order = subject_order(forms, subject)
    site_of: dict[str, str] = {}
    if site_field:
        for data in forms.values():  # over forms: the first site recorded for each subject
            if site_field in data:
                pairs = data[[subject, site_field]].dropna().drop_duplicates(subject)
                for s, site in zip(pairs[subject].astype(str), pairs[site_field].astype(str)):
                    site_of.setdefault(s, site)
    fragments = pd.DataFrame({name: _form_fragments(name, spec.forms[name], data, subject)
                              for name, data in forms.items()}).reindex(order).fillna("")
    created = f"{spec.study.get('datacut', '2000-01-01')}T00:00:00"
    sites = sorted(set(site_of.values()))
    head = etree.tostring(_study_metadata(spec, forms), encoding="unicode", pretty_print=True)
    admin = etree.tostring(_admin(spec, sites), encoding="unicode", pretty_print=True) if sites else ""
    strip_ns = f' xmlns="{ODM_NS}"'
    with atomic_write(out_file, "w", encoding="utf-8") as fh:
        fh.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        if banner:
            fh.write(f"<!-- {banner.replace('--', '- -')} -->\n")
        fh.write(f'<ODM xmlns="{ODM_NS}" FileType="Snapshot" Granularity="All" FileOID="{spec.studyid}.RAW" '
                 f'CreationDateTime="{created}" ODMVersion="1.3.2" SourceSystem="cdiscflow">\n')
        fh.write(head.replace(strip_ns, "", 1))
        fh.write(admin.replace(strip_ns, "", 1))
        fh.write(f'<ClinicalData StudyOID="{spec.studyid}" MetaDataVersionOID="MDV.1">\n')
        keys = pd.Series(order, index=order)
        site = keys.map(site_of).astype(object)
        site_xml = ('<SiteRef LocationOID="' + _escape(site.fillna("")) + '"/>\n').where(site.notna(), "")
        body = ('<SubjectData SubjectKey="' + _escape(keys) + '">\n' + site_xml
                + f'<StudyEventData StudyEventOID="{EVENT}">\n' + fragments.sum(axis=1)
                + "</StudyEventData>\n</SubjectData>\n")
        for start in range(0, len(body), CHUNK):  # over blocks of subjects
            fh.write("".join(body.iloc[start:start + CHUNK]))
        fh.write("</ClinicalData>\n</ODM>\n")
    return {name: len(data) for name, data in forms.items()}
