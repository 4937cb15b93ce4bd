"""Read datasets back: SAS XPT (decoded by `core.datasets`, structure checked by `core.xpt_read`) and Dataset-JSON,
into cdiscflow's in-memory conventions (see `core.datasets`), with the metadata each file carries.

`apply_define` completes a dataset's metadata from a define.xml (read by the one define reader,
`validation.define.read_define`), so a conversion can carry item OIDs, data types, key sequences and labels from it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from cdiscflow.core.datasets import encoding_note, read_folder, read_xpt_frame, xpt_name
from cdiscflow.core.errors import InputError
from cdiscflow.core.findings import Findings
from cdiscflow.export.datasetjson import read_dataset_json
from cdiscflow.export.meta import ColumnMeta, DatasetMeta
from cdiscflow.export.xpt import format_kind
from cdiscflow.validation.define import Define


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


def read_datasets(directory: str | Path, findings: Findings | None = None, **options
                  ) -> tuple[dict[str, pd.DataFrame], dict[str, DatasetMeta]]:
    """Every dataset of a folder (`*.xpt`, Dataset-JSON `*.json`), keyed by upper-case dataset name, with metadata.

    `core.datasets.read_folder` with this module's file reader; `options` (key, subfolders, bookkeeping, duplicate,
    required) are described there.  By default: keyed by the name the file declares, a dataset there twice (dm.xpt and
    dm.json) is read from the XPT (noted), JSON files that are not Dataset-JSON (findings.json, run logs) are skipped.
    """
    return read_folder(directory, read_dataset, findings, **options)


# ----------------------------------------------------------------------------------------------------------------
# XPT


def read_xpt(path: str | Path, findings: Findings | None = None) -> tuple[pd.DataFrame, DatasetMeta]:
    """One transport file in the in-memory conventions (`core.datasets.read_xpt_frame`), with its metadata."""
    path = Path(path)
    frame, xpt = read_xpt_frame(path, findings)
    layout, encoding = xpt.layout, xpt.encoding
    name = xpt_name(xpt, path)
    notes = (encoding_note(path, encoding),) if encoding != "utf-8" else ()
    columns = []
    for var in layout.variables:  # over columns
        col, fmt, numeric = var.name, var.format, var.numeric
        if numeric:
            x = xpt.frame[col].to_numpy(dtype=np.float64, na_value=np.nan)
            whole = np.isfinite(x) & (x == np.round(x)) & (np.abs(x) < 2 ** 53)
            datatype = "integer" if format_kind(fmt) or bool(np.all(whole | np.isnan(x))) else "float"
        else:
            datatype = "text"
        columns.append(ColumnMeta(
            name=col, label=var.label, datatype=datatype, length=var.length, display_format=fmt,
            item_oid=f"IT.{name}.{col}", numeric=numeric,
        ))
    created = layout.created.isoformat(timespec="seconds") if layout.created else ""
    meta = DatasetMeta(name=name, label=layout.label, columns=tuple(columns), format="xpt", path=str(path),
                       encoding=encoding, created=created, item_group_oid=f"IG.{name}", notes=notes)
    return frame, meta


# ----------------------------------------------------------------------------------------------------------------
# define.xml metadata onto a dataset read from a file


def apply_define(meta: DatasetMeta, define: Define) -> DatasetMeta:
    """Metadata of a dataset read from a file, completed from a define.xml where the define describes it.

    The define decides labels, data types, key sequences, OIDs and character lengths (planned lengths); the file
    decides what is numeric.  A numeric date keeps its file format when the define names none.
    """
    d = define.datasets.get(meta.name.upper())
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
