"""Write an SdtmResult: one XPT v5 per dataset, the reject log, the row accounting and the findings.

    <out>/dm.xpt ...        one file per dataset (lower-case name, member name = dataset, labels from the spec)
    <out>/_rejects.csv      one line per rejected raw row: form, file, row, subject, rule_id(s), reason(s)
    <out>/_accounting.csv   per raw form: rows in = rows mapped + rows rejected (+ rows lost, which must be 0)
    <out>/_findings.csv/.json  every RAW-/MAP- finding

`write_xpt` is the SEAM the export layer replaces with its own XPT writer (type/length/label steps, define.xml,
Dataset-JSON); until then it wraps pyreadstat with file_format_version=5 and fixes the header timestamps so the same
input gives the same bytes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from cdiscflow.core.atomic import atomic_path, write_text
from cdiscflow.sdtm.engine import SdtmResult
from cdiscflow.specs.model import Dataset, StudySpec

_STAMP = re.compile(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")
FIXED_STAMP = b"01JAN60:00:00:00"  # SAS epoch: XPT headers carry no run time, so output is reproducible


def write_xpt(frame: pd.DataFrame, dataset: Dataset, path: Path) -> None:
    """SEAM (replaced by the export layer): one dataset as SAS transport v5 via pyreadstat."""
    import pyreadstat

    labels = [dataset.variable(c).label for c in frame.columns]
    with atomic_path(path) as tmp:
        pyreadstat.write_xport(frame, str(tmp), file_format_version=5, table_name=dataset.name,
                               file_label=dataset.label, column_labels=labels)
        data = _STAMP.sub(FIXED_STAMP, tmp.read_bytes())
        tmp.write_bytes(data)


def write_sdtm(result: SdtmResult, spec: StudySpec, out_dir: str | Path) -> list[Path]:
    """Write every dataset and the bookkeeping files; returns the dataset files written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in result.datasets.items():
        path = out / f"{name.lower()}.xpt"
        write_xpt(frame, spec.dataset(name), path)
        written.append(path)
    write_text(out / "_rejects.csv", result.rejects.to_csv(index=False, lineterminator="\n"))
    write_text(out / "_accounting.csv", result.accounting.to_csv(index=False, lineterminator="\n"))
    result.findings.write(out, stem="_findings")
    return written

