"""The per-command stories of cdiscflow that read or write folders of datasets: the library layers (sdtm/, adam/ ...)
take tables and return tables; this module reads their inputs from folders and writes their outputs through the
export layer, so that no library layer imports export/.

    derive_adam_folder("specs/dara_atra", "out/sdtm", "out/adam")   # `cdiscflow adam`
"""

from __future__ import annotations

# ================================================================================================================
# ADaM folder stories: an SDTM folder in, an ADaM folder out (`cdiscflow adam`), or compared with a reference ADaM
# (`cdiscflow compare --sdtm`).  The derivations themselves are `cdiscflow.adam.study.derive_study`.

import time
from pathlib import Path

import pandas as pd

from cdiscflow.adam.study import AdamResult, derive_study
from cdiscflow.core.atomic import staged_output
from cdiscflow.core.errors import InputError, SpecError
from cdiscflow.core.findings import Findings
from cdiscflow.core.outputs import check_output
from cdiscflow.export.api import json_header, write_define
from cdiscflow.export.datasetjson import write_dataset_json
from cdiscflow.export.prepare import prepare_dataset
from cdiscflow.export.read import _is_dataset_json, read_dataset  # the export layer's own test of a JSON file
from cdiscflow.export.xpt import write_xpt
from cdiscflow.sdtm.compare import StudyComparison, compare_datasets_with_reference, load_comparison
from cdiscflow.specs.check import require_valid_spec
from cdiscflow.specs.load import load_study
from cdiscflow.specs.model import StudySpec


def write_adam(result: AdamResult, spec: StudySpec, out_dir: str | Path, *,
               formats: tuple[str, ...] = ("xpt", "json")) -> list[Path]:
    """Write every ADaM dataset of `result` through the export layer (XPT v5 + Dataset-JSON 1.1, define.xml 2.1)
    into `out_dir`, plus `_findings.csv/.json`; a dataset the export checks block is not written (the findings say
    why)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written, prepared = [], {}
    for name, frame in result.datasets.items():
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
        written.append(write_define(prepared, spec, "ADaM", out, result.findings))
    result.findings.write(out, stem="_findings")
    return written


def derive_adam_folder(study=None, sdtm_dir: str | Path = "out/sdtm", out_dir: str | Path = "out/adam") -> AdamResult:
    """Load the study spec, read the SDTM folder, derive and write the ADaM folder (`cdiscflow adam`)."""
    spec = require_valid_spec(study)  # refuses a spec with problems before reading the SDTM folder
    if not spec.standard("ADaM"):
        raise SpecError(f"datasets.csv of study {spec.studyid} declares no ADaM dataset: nothing to derive",
                        path=str(spec.path))
    check_output(out_dir, [("SDTM folder", sdtm_dir), ("spec folder", spec.path)])
    findings = Findings()
    with staged_output(out_dir, owned_by=("_findings.csv",)) as build:  # out_dir: the previous folder or this one
        t = time.perf_counter()
        sdtm = read_sdtm(sdtm_dir, findings)
        read_seconds = time.perf_counter() - t
        result = derive_study(spec, sdtm, findings=findings)
        result.timings["read"] = read_seconds
        t = time.perf_counter()
        write_adam(result, spec, build)
        result.timings["write"] = time.perf_counter() - t
    return result


def read_sdtm(directory: str | Path, findings: Findings | None = None) -> dict[str, pd.DataFrame]:
    """The datasets of an SDTM folder keyed by name: each dataset's .xpt, or its Dataset-JSON .json when there is no
    .xpt (a folder written by `cdiscflow sdtm` has both; reading one is enough).  JSON files that are not
    Dataset-JSON (findings, run logs) are skipped."""
    folder = Path(directory)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    chosen: dict[str, Path] = {}
    for path in sorted(folder.iterdir(), key=lambda p: (p.suffix.lower() != ".xpt", p.name.lower())):
        if not path.is_file() or path.suffix.lower() not in (".xpt", ".json") or path.stem.upper() in chosen:
            continue
        if path.suffix.lower() == ".json" and not _is_dataset_json(path):  # findings.json, run logs ...
            continue
        chosen[path.stem.upper()] = path
    frames = {}
    for path in chosen.values():
        frame, meta = read_dataset(path, findings)
        frames[meta.name.upper()] = frame
    if not frames:
        raise InputError(f"{folder}: no SDTM datasets (.xpt or Dataset-JSON .json) found")
    return frames


def compare_adam_with_reference(study, sdtm_dir: str | Path, reference_dir: str | Path,
                                out_dir: str | Path | None = None) -> StudyComparison:
    """Derive the study's ADaM datasets from the SDTM folder, compare them with the reference ADaM in
    `reference_dir` value by value, and write `agreement.csv` and `differences.csv` into `out_dir` (if given).

    The ADaM counterpart of `cdiscflow.sdtm.compare` (`cdiscflow compare --sdtm`): derived and reference datasets
    are paired by the keys of the study's `comparison.yaml`, which lists each known difference with its count and
    reason; `specs/cdiscpilot01/comparison.yaml` (R Consortium submission pilot 3) is the worked example."""
    spec = load_study(study)
    load_comparison(spec)  # a broken comparison.yaml stops before the derivations
    if out_dir is not None:
        check_output(out_dir, [("SDTM folder", sdtm_dir), ("reference folder", reference_dir),
                               ("spec folder", spec.path)])
    findings = Findings()
    result = derive_study(spec, read_sdtm(sdtm_dir, findings), findings=findings)
    return compare_datasets_with_reference(spec, result.datasets, reference_dir, out_dir)


# end of the ADaM folder stories
# ================================================================================================================
