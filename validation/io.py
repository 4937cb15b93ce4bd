"""Reading a folder of SDTM/ADaM datasets into the in-memory convention (ARCHITECTURE.md).

Files are read by the export layer's `read_dataset` (XPT through the structural reader `core.xpt_read`, with an
encoding fallback; Dataset-JSON); this module only finds the dataset files of a folder and keys them by name.

In memory: character missing values are NaN (never ""), numeric SAS dates/datetimes (DATE9., DATETIME20. ...) are
datetime64, the dataset name is the upper-case file stem (`ae.xpt` -> AE).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cdiscflow.core.errors import InputError
from cdiscflow.export.read import read_dataset

DATASET_SUFFIXES = (".xpt", ".json")

def read_xpt(path: str | Path) -> pd.DataFrame:
    """One SAS transport file as a DataFrame in the in-memory convention (read by the export layer's reader)."""
    return _read(Path(path))


def _read(path: Path) -> pd.DataFrame:
    frame, _meta = read_dataset(path)
    return frame


def _dataset_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.suffix.lower() in DATASET_SUFFIXES and p.is_file() and not p.name.startswith((".", "_"))
                  and p.name not in _NOT_DATASETS)


_NOT_DATASETS = {"findings.json"}  # validation output beside the data (older runs; --out = the folder is refused now)
# Names starting with "_" are bookkeeping (the SDTM layer's _findings.json, _rejects.csv ...): no SAS dataset name
# starts with "_".


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
    out: dict[str, pd.DataFrame] = {}
    origin: dict[str, Path] = {}
    for path in sorted(files, key=lambda p: (p.suffix.lower() != ".xpt", p.name)):
        name = path.stem.upper()
        if name in out:
            if path.suffix.lower() == origin[name].suffix.lower():
                raise InputError(f"{path}: dataset {name} also read from {origin[name]}")
            continue
        out[name] = _read(path)
        origin[name] = path
    return out


def find_defines(folder: str | Path) -> list[Path]:
    """define.xml files of a folder (and of its sdtm/ and adam/ subfolders)."""
    folder = Path(folder)
    return [p for p in (folder / "define.xml", folder / "sdtm" / "define.xml", folder / "adam" / "define.xml")
            if p.is_file()]
