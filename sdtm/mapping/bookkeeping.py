"""The mapping's bookkeeping files beside the SDTM datasets (the datasets themselves are written by the use case
`usecases.write_sdtm` through the export layer):

    <out>/_rejects.csv          one line per rejected raw row: form, file, row, subject, rule_id(s), reason(s)
    <out>/_accounting.csv       per raw form: rows in = rows mapped + rows rejected (+ rows lost, which must be 0)
    <out>/_findings.csv/.json   every RAW-/MAP- finding, and the export's XPT-/DEFINE- findings
"""

from __future__ import annotations

from pathlib import Path

from cdiscflow.core.atomic import write_text
from cdiscflow.core.spreadsheet import csv_text
from cdiscflow.sdtm.mapping.engine import SdtmResult


def write_bookkeeping(result: SdtmResult, out_dir: str | Path) -> None:
    """_rejects.csv, _accounting.csv and _findings.csv/.json of a mapping run."""
    out = Path(out_dir)
    write_text(out / "_rejects.csv", csv_text(result.rejects))  # raw values: formulas neutralised
    write_text(out / "_accounting.csv", csv_text(result.accounting))
    result.findings.write(out, stem="_findings")
