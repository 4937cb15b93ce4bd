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

from cdiscflow.core.atomic import write_text
from cdiscflow.export.api import json_header, write_define
from cdiscflow.export.datasetjson import write_dataset_json
from cdiscflow.export.prepare import prepare_dataset
from cdiscflow.export.xpt import write_xpt
from cdiscflow.sdtm.engine import SdtmResult
from cdiscflow.specs.model import StudySpec

FORMATS = ("xpt", "json")


def write_sdtm(result: SdtmResult, spec: StudySpec, out_dir: str | Path, *,
               formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Write every dataset (a dataset the export checks block is not written; the findings say why) and the
    bookkeeping files; returns the dataset files written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written, prepared = [], {}
    for name, frame in result.datasets.items():  # over datasets
        prep = prepare_dataset(frame, spec.dataset(name), result.findings)
        if prep.blocked:
            continue
        prepared[name] = prep
        if "xpt" in formats:
            path = out / f"{name.lower()}.xpt"
            write_xpt(path, prep.frame, [c.xpt() for c in prep.meta.columns], dataset=name, label=prep.meta.label,
                      created=spec.datacut)
            written.append(path)
        if "json" in formats:
            path = out / f"{name.lower()}.json"
            write_dataset_json(path, prep.frame, prep.meta, json_header(spec, prep.standard, name))
            written.append(path)
    if prepared:
        write_define(prepared, spec, "SDTM", out, result.findings)
    write_text(out / "_rejects.csv", result.rejects.to_csv(index=False, lineterminator="\n"))
    write_text(out / "_accounting.csv", result.accounting.to_csv(index=False, lineterminator="\n"))
    result.findings.write(out, stem="_findings")
    return written
