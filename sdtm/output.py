"""Write an SdtmResult into one folder: the datasets through the export layer, plus the mapping's bookkeeping.

    <out>/dm.xpt, dm.json ...   XPT v5 and Dataset-JSON 1.1 per dataset (cdiscflow.export: spec names, labels,
                                types, byte lengths; header stamped with the data cut, so runs are reproducible)
    <out>/define.xml            define.xml 2.1 for the SDTM datasets written
    <out>/_rejects.csv          one line per rejected raw row: form, file, row, subject, rule_id(s), reason(s)
    <out>/_accounting.csv       per raw form: rows in = rows mapped + rows rejected (+ rows lost, which must be 0)
    <out>/_findings.csv/.json   every RAW-/MAP- finding, and the export's XPT-/DEFINE- findings
"""

from __future__ import annotations

from pathlib import Path

from cdiscflow.core.atomic import remove_stale_parts, write_text
from cdiscflow.core.spreadsheet import csv_text
from cdiscflow.export.api import FORMATS, write_datasets
from cdiscflow.sdtm.engine import SdtmResult
from cdiscflow.specs.model import StudySpec


def write_sdtm(result: SdtmResult, spec: StudySpec, out_dir: str | Path, *,
               formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Write every dataset (a dataset the export checks block is not written; the findings say why) and the
    bookkeeping files; returns the dataset files written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(out)  # temporaries a killed run left behind
    exported = write_datasets(result.datasets, spec, out, formats=formats, by_standard=False,
                              findings=result.findings)
    write_bookkeeping(result, out)
    return [p for p in exported.files if p.suffix in (".xpt", ".json")]


def write_bookkeeping(result: SdtmResult, out_dir: str | Path) -> None:
    """_rejects.csv, _accounting.csv and _findings.csv/.json of a mapping run."""
    out = Path(out_dir)
    write_text(out / "_rejects.csv", csv_text(result.rejects))  # raw values: formulas neutralised
    write_text(out / "_accounting.csv", csv_text(result.accounting))
    result.findings.write(out, stem="_findings")
