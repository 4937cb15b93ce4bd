"""Reading a folder of SDTM/ADaM datasets into the in-memory convention (ARCHITECTURE.md).

SAS XPT files are read here with pyreadstat (one small function, `read_xpt`).  Dataset-JSON files are read with the
export layer's `cdiscflow.export.read_dataset(path)` once it exists: that import is the only seam, in
`_dataset_json_reader`; until then a folder of .json datasets is reported as unusable input.

In memory: character missing values are NaN (never ""), numeric SAS dates/datetimes (DATE9., DATETIME20. ...) are
datetime64, the dataset name is the upper-case file stem (`ae.xpt` -> AE).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Callable

import pandas as pd
import pyreadstat

from cdiscflow.core.errors import InputError

DATASET_SUFFIXES = (".xpt", ".json")
_ENCODINGS = (None, "cp1252")  # pyreadstat default (UTF-8), then Windows-1252 (old SAS sessions, e.g. the pilot TS)


def read_xpt(path: str | Path) -> pd.DataFrame:
    """One SAS transport file as a DataFrame in the in-memory convention."""
    path = Path(path)
    last: Exception | None = None
    for enc in _ENCODINGS:
        try:
            frame, meta = pyreadstat.read_xport(str(path), encoding=enc) if enc else pyreadstat.read_xport(str(path))
            break
        except UnicodeDecodeError as exc:
            last = exc
        except Exception as exc:  # pyreadstat raises its own ReadstatError/PyreadstatError types
            raise InputError(f"{path}: cannot read SAS transport file ({type(exc).__name__}: {exc})") from None
    else:
        raise InputError(f"{path}: text is neither UTF-8 nor Windows-1252 ({last})")
    return normalise_frame(frame, meta.original_variable_types)


def normalise_frame(frame: pd.DataFrame, formats: dict[str, str] | None = None) -> pd.DataFrame:
    """Blank text -> NaN, Python date/datetime objects -> datetime64 (column by column, vectorised)."""
    out = {}
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_string_dtype(s.dtype) or s.dtype == object:
            present = s.dropna()
            if len(present) and isinstance(present.iloc[0], (dt.date, dt.datetime, pd.Timestamp)):
                s = pd.to_datetime(s, errors="coerce")
            else:
                s = s.where(s.astype("str").str.strip().ne("") & s.notna())
        out[col] = s
    return pd.DataFrame(out, index=frame.index)


def _dataset_json_reader() -> Callable[[Path], pd.DataFrame] | None:
    """The export layer's Dataset-JSON reader, when that layer provides one (the seam for .json input)."""
    try:
        from cdiscflow.export import read_dataset  # type: ignore[attr-defined]
    except ImportError:
        return None

    def read(path: Path) -> pd.DataFrame:
        got = read_dataset(path)
        frame = got[0] if isinstance(got, tuple) else got
        return normalise_frame(frame)

    return read


def _dataset_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.suffix.lower() in DATASET_SUFFIXES and p.is_file() and not p.name.startswith(".")
                  and p.name not in _NOT_DATASETS)


_NOT_DATASETS = {"findings.json"}  # validation output written next to the data (`--out` = the data folder)


def find_datasets(folder: str | Path) -> list[Path]:
    """Dataset files in a folder (or, when it has none, in its sdtm/ and adam/ subfolders), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    found = _dataset_files(folder)
    if not found:
        for sub in ("sdtm", "adam"):
            if (folder / sub).is_dir():
                found += _dataset_files(folder / sub)
    return found


def read_datasets(folder: str | Path) -> dict[str, pd.DataFrame]:
    """Every dataset in a folder, keyed by upper-case name.  XPT wins over Dataset-JSON when both exist."""
    files = find_datasets(folder)
    if not files:
        raise InputError(f"{folder}: no datasets (*.xpt or Dataset-JSON *.json) found")
    json_reader = None
    out: dict[str, pd.DataFrame] = {}
    origin: dict[str, Path] = {}
    for path in sorted(files, key=lambda p: (p.suffix.lower() != ".xpt", p.name)):
        name = path.stem.upper()
        if name in out:
            if path.suffix.lower() == origin[name].suffix.lower():
                raise InputError(f"{path}: dataset {name} also read from {origin[name]}")
            continue
        if path.suffix.lower() == ".xpt":
            out[name] = read_xpt(path)
        else:
            json_reader = json_reader or _dataset_json_reader()
            if json_reader is None:
                raise InputError(f"{path}: Dataset-JSON input needs cdiscflow.export.read_dataset, which this "
                                 f"installation does not have yet; validate the .xpt files instead")
            out[name] = json_reader(path)
        origin[name] = path
    return out


def find_defines(folder: str | Path) -> list[Path]:
    """define.xml files of a folder (and of its sdtm/ and adam/ subfolders)."""
    folder = Path(folder)
    return [p for p in (folder / "define.xml", folder / "sdtm" / "define.xml", folder / "adam" / "define.xml")
            if p.is_file()]
