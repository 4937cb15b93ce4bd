"""The one way cdiscflow reads datasets back into memory: which files of a folder are datasets, how they are keyed,
and how a SAS transport file becomes a frame in the in-memory conventions (ARCHITECTURE.md).

    text       str, missing = NaN (XPT blanks and Dataset-JSON ""/null alike)
    numbers    float64
    dates      numeric SAS dates/datetimes (by display format) -> datetime64, SAS times -> timedelta64

`read_folder` walks a folder and reads every dataset file with the file reader it is given (the export layer's
`read_dataset`: XPT and Dataset-JSON with their metadata).  What differs between its callers is explicit:

    key              "dataset": every file is read and keyed by the name it declares (XPT member, Dataset-JSON
                     name); "file": one file per file stem (XPT before JSON: dm.json beside dm.xpt is the same
                     dataset written twice, not read), keyed by the stem, or by the declared name when
                     `declared_names`
    subfolders       where to look when the folder itself holds no dataset (a run's out/: sdtm/, adam/)
    bookkeeping      skip files named like bookkeeping ("_findings.json", ".hidden", findings.json) by name;
                     otherwise a .json that does not start like Dataset-JSON is skipped by its content
    duplicate        a dataset met twice (by key; by "file": in the same format): the first is kept and the
                     second "note"d (XPT-DUPLICATE-FILE), "ignore"d, or an "error"
    required         no dataset at all is an InputError naming `what` (else an empty result)

XPT text is decoded as UTF-8; a file that is not UTF-8 (SAS on Windows writes Windows-1252, e.g. the CDISC pilot
ts.xpt) is read as cp1252 and the fallback is reported (`XPT-ENCODING` note), never hidden.

`read_reference_table` reads one reference table by extension (Parquet, CSV as text, XPT): what a comparison
reads.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import pandas as pd

from cdiscflow.core.errors import InputError
from cdiscflow.core.findings import Findings
from cdiscflow.core.sasformats import SAS_EPOCH_SECONDS, format_kind
from cdiscflow.core.xpt_read import XptData
from cdiscflow.core.xpt_read import read_xpt as read_xpt_checked

DATASET_SUFFIXES = (".xpt", ".json")
NOT_DATASETS = frozenset({"findings.json"})  # validation output beside the data (older runs)
# Names starting with "_" are bookkeeping (the SDTM layer's _findings.json, _rejects.csv ...): no SAS dataset name
# starts with "_".
_DSJ_MARK = re.compile(rb'"(datasetJSONVersion|datasetJSONCreationDateTime)"')


# ----------------------------------------------------------------------------------------------------------------
# which files of a folder are datasets


def dataset_files(folder: str | Path, *, bookkeeping: bool = False, subfolders: tuple[str, ...] = ()) -> list[Path]:
    """Dataset files (`*.xpt`, `*.json`) of a folder, XPT first, then by name; when the folder has none, those of
    its `subfolders`.  `bookkeeping`: leave out names starting with "." or "_" and findings.json."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    found = _files(folder, bookkeeping)
    if not found:
        for sub in subfolders:
            if (folder / sub).is_dir():
                found += _files(folder / sub, bookkeeping)
    return sorted(found, key=lambda p: (p.suffix.lower() != ".xpt", p.name.lower(), p.name))


def _files(folder: Path, bookkeeping: bool) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in DATASET_SUFFIXES)
    if bookkeeping:
        files = [p for p in files if not p.name.startswith((".", "_")) and p.name not in NOT_DATASETS]
    return files


def is_dataset_json(path: str | Path) -> bool:
    """The file starts like Dataset-JSON (its first 4 KB name datasetJSONVersion or datasetJSONCreationDateTime)."""
    with open(path, "rb") as fh:
        return bool(_DSJ_MARK.search(fh.read(4096)))


def find_defines(folder: str | Path) -> list[Path]:
    """define.xml files of a folder (and of its sdtm/ and adam/ subfolders)."""
    folder = Path(folder)
    return [p for p in (folder / "define.xml", folder / "sdtm" / "define.xml", folder / "adam" / "define.xml")
            if p.is_file()]


# ----------------------------------------------------------------------------------------------------------------
# a folder of datasets


def read_folder(folder: str | Path, read_file: Callable, findings: Findings | None = None, *,
                key: Literal["dataset", "file"] = "dataset", declared_names: bool = False,
                subfolders: tuple[str, ...] = (), bookkeeping: bool = False,
                duplicate: Literal["note", "ignore", "error"] = "note", required: bool = False,
                what: str = "datasets") -> tuple[dict[str, pd.DataFrame], dict[str, object]]:
    """Every dataset of a folder read by `read_file(path, findings) -> (frame, meta)`, keyed by upper-case name:
    ({name: frame}, {name: meta}).  When a dataset is there as XPT and as Dataset-JSON the XPT is read and the JSON
    left (noted when keyed by dataset name).  The options are described in the module text."""
    files = dataset_files(folder, bookkeeping=bookkeeping, subfolders=subfolders)
    if not bookkeeping:
        files = [p for p in files if p.suffix.lower() != ".json" or is_dataset_json(p)]
    if required and not files:
        raise InputError(f"{folder}: no {what} (*.xpt or Dataset-JSON *.json) found")
    frames: dict[str, pd.DataFrame] = {}
    metas: dict[str, object] = {}
    origin: dict[str, Path] = {}
    for path in files:  # over files
        if key == "file":
            stem = path.stem.upper()
            if stem in origin:  # a second file of this stem: the same format twice, or the JSON beside the XPT
                if path.suffix.lower() == origin[stem].suffix.lower():
                    _twice(stem, path, origin[stem], duplicate, findings)
                continue
            origin[stem] = path
            frame, meta = read_file(path, findings)
            name = meta.name.upper() if declared_names else stem
        else:
            frame, meta = read_file(path, findings)
            name = meta.name.upper()
            if name in frames:
                _twice(name, path, origin[name], duplicate, findings)
                continue
            origin[name] = path
        frames[name], metas[name] = frame, meta
    return frames, metas


def _twice(name: str, path: Path, first: Path, duplicate: str, findings: Findings | None) -> None:
    """A dataset met a second time: an error, a note or nothing (`duplicate`); the first file is kept."""
    if duplicate == "error":
        raise InputError(f"{path}: dataset {name} also read from {first}")
    if duplicate == "note" and findings is not None:
        findings.add(severity="note", rule_id="XPT-DUPLICATE-FILE", dataset=name, source=path.name,
                     message=f"{name} is also in {first.name}; {path.name} not read")


# ----------------------------------------------------------------------------------------------------------------
# one SAS transport file


def read_xpt_frame(path: str | Path, findings: Findings | None = None) -> tuple[pd.DataFrame, XptData]:
    """One transport file through the structural reader (`core.xpt_read`: headers, descriptors, observation count and
    padding checked first; a damaged file is an InputError with the byte offset), as a frame in the in-memory
    conventions, with what the file says about itself (layout, encoding)."""
    path = Path(path)
    xpt = read_xpt_checked(path, blank_missing=True)
    layout, encoding = xpt.layout, xpt.encoding
    if encoding != "utf-8" and findings is not None:
        findings.add(severity="note", rule_id="XPT-ENCODING", dataset=xpt_name(xpt, path), source=path.name,
                     value=encoding, expected="utf-8", message=encoding_note(path, encoding))
    data = {}
    for var in layout.variables:  # over columns
        values = xpt.frame[var.name]
        if var.numeric:
            data[var.name] = sas_to_pandas(values.to_numpy(dtype=np.float64, na_value=np.nan), format_kind(var.format))
        else:
            data[var.name] = values  # blanks already missing (blank_missing)
    return pd.DataFrame(data, columns=[v.name for v in layout.variables]), xpt


def xpt_name(xpt: XptData, path: Path) -> str:
    """The dataset name a transport file declares (its member name), else its file stem; upper case."""
    return str(xpt.layout.dataset or path.stem).upper()


def encoding_note(path: Path, encoding: str) -> str:
    return f"{path.name} is not UTF-8 text; read as {encoding}"


def sas_to_pandas(x: np.ndarray, kind: str) -> pd.Series:
    """SAS numbers (float64, NaN missing) as pandas values: days -> datetime64, seconds -> datetime64 or timedelta64
    by `kind` ('date', 'datetime', 'time'); plain numbers stay float64."""
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
# one reference table


def read_reference_table(path: str | Path, what: str = "reference dataset") -> pd.DataFrame:
    """A table from Parquet, CSV (every value text, blank = missing) or XPT (dates as dates), by extension."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist")
    if path.suffix == ".parquet":
        from cdiscflow.core.parquet_read import read_parquet

        return read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False).replace("", np.nan)
    if path.suffix == ".xpt":
        return read_xpt_frame(path)[0]
    raise InputError(f"{what} {path.name}: cannot read {path.suffix} files (use .parquet, .csv, .xpt)")
