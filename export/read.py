"""Read datasets back: SAS XPT (structure checked by `core.xpt_read`, decoded by pyreadstat) and Dataset-JSON, into cdiscflow's in-memory conventions.

    text       str, missing = NaN (XPT blanks and Dataset-JSON ""/null alike)
    numbers    float64
    dates      numeric SAS dates/datetimes (by display format) -> datetime64, SAS times -> timedelta64

XPT text is decoded as UTF-8; a file that is not UTF-8 (SAS on Windows writes Windows-1252, e.g. the CDISC pilot
ts.xpt) is read as cp1252 and the fallback is reported (`XPT-ENCODING` note), never hidden.

`read_define` reads the column metadata of a define.xml (any Define-XML version: elements are matched by local
name), so a conversion can carry item OIDs, data types, key sequences and labels from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from lxml import etree

from cdiscflow.core.errors import InputError
from cdiscflow.core.findings import Findings
from cdiscflow.core.xpt_read import ENCODINGS as XPT_ENCODINGS
from cdiscflow.core.xpt_read import read_xpt as read_xpt_checked
from cdiscflow.export.datasetjson import read_dataset_json
from cdiscflow.export.meta import ColumnMeta, DatasetMeta
from cdiscflow.export.xpt import SAS_EPOCH_SECONDS, format_kind

_ENCODINGS = XPT_ENCODINGS
_DSJ_MARK = re.compile(rb'"(datasetJSONVersion|datasetJSONCreationDateTime)"')


def read_dataset(path: str | Path, findings: Findings | None = None) -> tuple[pd.DataFrame, DatasetMeta]:
    """Read one `.xpt` or `.json` (Dataset-JSON) file: (frame, metadata).  Problems become InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".xpt":
        return read_xpt(path, findings)
    if suffix == ".json":
        return read_dataset_json(path)
    raise InputError(f"{path}: not a dataset file (expected .xpt or .json)")


def read_datasets(directory: str | Path, findings: Findings | None = None
                  ) -> tuple[dict[str, pd.DataFrame], dict[str, DatasetMeta]]:
    """Read every dataset of a folder (`*.xpt`, Dataset-JSON `*.json`), keyed by upper-case dataset name.

    When a dataset is there twice (dm.xpt and dm.json), the XPT is read and the JSON left (noted).  JSON files that
    are not Dataset-JSON (findings.json, run logs) are skipped.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"{directory}: no such folder")
    frames: dict[str, pd.DataFrame] = {}
    metas: dict[str, DatasetMeta] = {}
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in (".xpt", ".json"))
    files.sort(key=lambda p: (p.suffix.lower() != ".xpt", p.name.lower()))  # XPT first
    for path in files:
        if path.suffix.lower() == ".json" and not _is_dataset_json(path):
            continue
        frame, meta = read_dataset(path, findings)
        name = meta.name.upper()
        if name in frames:
            if findings is not None:
                findings.add(severity="note", rule_id="XPT-DUPLICATE-FILE", dataset=name, source=path.name,
                             message=f"{name} is also in {Path(metas[name].path).name}; {path.name} not read")
            continue
        frames[name], metas[name] = frame, meta
    return frames, metas


def _is_dataset_json(path: Path) -> bool:
    with open(path, "rb") as fh:
        return bool(_DSJ_MARK.search(fh.read(4096)))


# ----------------------------------------------------------------------------------------------------------------
# XPT


def read_xpt(path: str | Path, findings: Findings | None = None) -> tuple[pd.DataFrame, DatasetMeta]:
    """One transport file through the structural reader (`core.xpt_read`: headers, descriptors, observation count and
    padding checked first; a damaged file is an InputError with the byte offset), in the in-memory conventions."""
    path = Path(path)
    xpt = read_xpt_checked(path, _ENCODINGS, blank_missing=True)
    layout, encoding = xpt.layout, xpt.encoding
    name = str(layout.dataset or path.stem).upper()
    notes: tuple[str, ...] = ()
    if encoding != "utf-8":
        note = f"{path.name} is not UTF-8 text; read as {encoding}"
        notes = (note,)
        if findings is not None:
            findings.add(severity="note", rule_id="XPT-ENCODING", dataset=name, source=path.name, value=encoding,
                         expected="utf-8", message=note)
    columns = []
    data = {}
    for var in layout.variables:
        col, fmt, numeric = var.name, var.format, var.numeric
        values = xpt.frame[col]
        if numeric:
            x = values.to_numpy(dtype=np.float64, na_value=np.nan)
            kind = format_kind(fmt)
            data[col] = _sas_to_pandas(x, kind)
            whole = np.isfinite(x) & (x == np.round(x)) & (np.abs(x) < 2 ** 53)
            datatype = "integer" if kind or bool(np.all(whole | np.isnan(x))) else "float"
        else:
            data[col] = values  # blanks already missing
            datatype = "text"
        columns.append(ColumnMeta(
            name=col, label=var.label, datatype=datatype, length=var.length, display_format=fmt,
            item_oid=f"IT.{name}.{col}", numeric=numeric,
        ))
    frame = pd.DataFrame(data, columns=[v.name for v in layout.variables])
    created = layout.created.isoformat(timespec="seconds") if layout.created else ""
    meta = DatasetMeta(name=name, label=layout.label, columns=tuple(columns), format="xpt", path=str(path),
                       encoding=encoding, created=created, item_group_oid=f"IG.{name}", notes=notes)
    return frame, meta


def _sas_to_pandas(x: np.ndarray, kind: str) -> pd.Series:
    if not kind:
        return pd.Series(x, dtype="float64")
    missing = ~np.isfinite(x)
    filled = np.where(missing, 0, x)
    if kind == "time":
        out = (filled * 1_000_000).round().astype("int64").astype("timedelta64[us]")
        out[missing] = np.timedelta64("NaT")
        return pd.Series(out)
    seconds = filled * 86400 if kind == "date" else filled
    out = (SAS_EPOCH_SECONDS.astype("datetime64[us]")
           + (seconds * 1_000_000).round().astype("int64").astype("timedelta64[us]"))
    out[missing] = np.datetime64("NaT")
    return pd.Series(out)


# ----------------------------------------------------------------------------------------------------------------
# define.xml (any version) -> column metadata


@dataclass(frozen=True)
class DefineDataset:
    name: str
    label: str
    oid: str
    columns: dict[str, ColumnMeta]  # by variable name, in define order


def read_define(path: str | Path) -> dict[str, DefineDataset]:
    """Dataset and column metadata from a define.xml: labels, data types, lengths, formats, OIDs, key sequences."""
    path = Path(path)
    try:
        tree = etree.parse(str(path))
    except (OSError, etree.XMLSyntaxError) as exc:
        raise InputError(f"{path}: not a readable define.xml ({exc})") from None
    root = tree.getroot()
    items = {el.get("OID"): el for el in root.iter("{*}ItemDef")}
    out: dict[str, DefineDataset] = {}
    for group in root.iter("{*}ItemGroupDef"):
        name = (group.get("Name") or group.get("SASDatasetName") or "").upper()
        cols: dict[str, ColumnMeta] = {}
        for ref in group.iter("{*}ItemRef"):
            if ref.getparent() is not group:
                continue
            item = items.get(ref.get("ItemOID"))
            if item is None:
                continue
            length = item.get("Length")
            key = ref.get("KeySequence")
            col = ColumnMeta(
                name=item.get("Name") or item.get("SASFieldName") or "", label=_description(item),
                datatype=item.get("DataType") or "text", length=int(length) if length and length.isdigit() else None,
                display_format=_attr(item, "DisplayFormat"), key_sequence=int(key) if key and key.isdigit() else None,
                item_oid=ref.get("ItemOID") or "",
            )
            cols[col.name] = col
        out[name] = DefineDataset(name, _description(group), group.get("OID") or f"IG.{name}", cols)
    return out


def _attr(el: etree._Element, local: str) -> str:
    for key, value in el.attrib.items():
        if key == local or key.endswith("}" + local):
            return value
    return ""


def _description(el: etree._Element) -> str:
    for desc in el.findall("{*}Description"):
        for tt in desc.findall("{*}TranslatedText"):
            if tt.text:
                return " ".join(tt.text.split())
    return _attr(el, "Label")


def apply_define(meta: DatasetMeta, define: dict[str, DefineDataset]) -> DatasetMeta:
    """Metadata of a dataset read from a file, completed from a define.xml where the define describes it.

    The define decides labels, data types, key sequences, OIDs and character lengths (planned lengths); the file
    decides what is numeric.  A numeric date keeps its file format when the define names none.
    """
    d = define.get(meta.name.upper())
    if d is None:
        return meta
    cols = []
    for c in meta.columns:
        dc = d.columns.get(c.name)
        if dc is None:
            cols.append(c)
            continue
        fmt = dc.display_format or (c.display_format if c.kind else "")
        datatype = dc.datatype
        if c.is_numeric and datatype not in ("integer", "float"):
            datatype = "integer" if format_kind(fmt) else "float"
        cols.append(ColumnMeta(
            name=c.name, label=dc.label or c.label, datatype=datatype,
            length=(8 if c.is_numeric else dc.length), display_format=fmt, key_sequence=dc.key_sequence,
            item_oid=dc.item_oid or c.item_oid, numeric=c.is_numeric,
        ))
    return replace(meta, label=d.label or meta.label, columns=tuple(cols), item_group_oid=d.oid)
