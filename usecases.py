"""The per-command stories of cdiscflow that read or write folders of datasets: the library layers (sdtm/, adam/ ...)
take tables and return tables; this module reads their inputs from folders and writes their outputs through the
export layer, so that no library layer imports export/.

    map_raw_to_sdtm_folder("specs/dara_atra", None, "out/sdtm")      # `cdiscflow sdtm`
    derive_adam_folder("specs/dara_atra", "out/sdtm", "out/adam")   # `cdiscflow adam`
    validate_folder("out/sdtm", "dara_atra", out_dir="out/validation")   # `cdiscflow validate`

Spec checking with every layer's loaders (`check_spec`, `require_valid_spec`) is here too: specs/ imports no layer
above it, so the loaders of sdtm/ and adam/ are handed to `specs.check` from here.
"""

from __future__ import annotations

# ================================================================================================================
# ADaM folder stories: an SDTM folder in, an ADaM folder out (`cdiscflow adam`), or compared with a reference ADaM
# (`cdiscflow compare --sdtm`).  The derivations themselves are `cdiscflow.adam.study.derive_study`.

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from cdiscflow.adam.study import AdamResult, derive_study
from cdiscflow.core.atomic import staged_output
from cdiscflow.core.errors import SpecError
from cdiscflow.core.findings import Findings
from cdiscflow.core.outputs import check_output
from cdiscflow.export.api import json_header, write_define
from cdiscflow.export.datasetjson import write_dataset_json
from cdiscflow.export.prepare import prepare_dataset
from cdiscflow.export.read import read_datasets
from cdiscflow.export.xpt import write_xpt
from cdiscflow.specs.load import load_study
from cdiscflow.specs.model import StudySpec

if TYPE_CHECKING:
    from cdiscflow.sdtm.compare import StudyComparison


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
    """Load the study spec, read the SDTM folder, derive and write the ADaM folder (`cdiscflow adam`).  The datasets
    of the result are as written: repeated text as categoricals (`derive_study(compact_output=True)`)."""
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
        result = derive_study(spec, sdtm, findings=findings, compact_output=True)  # written from the categories
        result.timings["read"] = read_seconds
        t = time.perf_counter()
        write_adam(result, spec, build)
        result.timings["write"] = time.perf_counter() - t
    return result


def read_sdtm(directory: str | Path, findings: Findings | None = None) -> dict[str, pd.DataFrame]:
    """The datasets of an SDTM folder keyed by the name each file declares: each dataset's .xpt, or its Dataset-JSON
    .json when there is no .xpt (a folder written by `cdiscflow sdtm` has both; reading one is enough).  JSON files
    that are not Dataset-JSON (findings, run logs) are skipped.  The one folder reader (`core.datasets.read_folder`)
    with these options."""
    frames, _metas = read_datasets(directory, findings, key="file", declared_names=True, duplicate="ignore",
                                   required=True, what="SDTM datasets")
    return frames


def compare_adam_with_reference(study, sdtm_dir: str | Path, reference_dir: str | Path,
                                out_dir: str | Path | None = None) -> StudyComparison:
    """Derive the study's ADaM datasets from the SDTM folder, compare them with the reference ADaM in
    `reference_dir` value by value, and write `agreement.csv` and `differences.csv` into `out_dir` (if given).

    The ADaM counterpart of `cdiscflow.sdtm.compare` (`cdiscflow compare --sdtm`): derived and reference datasets
    are paired by the keys of the study's `comparison.yaml`, which lists each known difference with its count and
    reason; `specs/cdiscpilot01/comparison.yaml` (R Consortium submission pilot 3) is the worked example."""
    from cdiscflow.sdtm.compare import compare_datasets_with_reference, load_comparison  # not for `cdiscflow adam`

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


# ----------------------------------------------------------------------------------------------------------------
# Spec checking: the spec's own checks (specs.check) with the loaders of every layer


def spec_layer_problems(spec) -> list[str]:
    """What the loaders of the SDTM and ADaM layers find wrong in a loaded spec, as problem texts
    ("adam/adsl.yaml: merges[3].filter: ..."): the `layer_checks` of `specs.check` (which checks the report spec,
    specs/report, itself)."""
    out: list[str] = []

    def collect(fn, *args) -> object:
        try:
            return fn(*args)
        except SpecError as exc:
            out.extend(exc.problems)
        except Exception as exc:  # noqa: BLE001 - a loader tripping over a broken spec is still a problem
            out.append(f"{getattr(fn, '__name__', fn)}: {exc}")
        return None

    from cdiscflow.sdtm.mapping.engine import check_sdtm_spec

    collect(check_sdtm_spec, spec)
    adam = {d.name for d in spec.standard("ADaM")}
    if adam:
        from cdiscflow.adam.recipes.adae import load_adae_spec
        from cdiscflow.adam.recipes.adbase import load_adbase_spec
        from cdiscflow.adam.recipes.adrs import load_adrs_spec
        from cdiscflow.adam.recipes.adsl import load_adsl_spec
        from cdiscflow.adam.recipes.adtte import load_tte_dataset_rules
        from cdiscflow.adam.verbs.tte import tte_parameters_from_spec

        # a recipe is checked when the spec has it: a metadata-only spec (imported from a define.xml or a
        # workbook) declares ADaM datasets before anyone has written how to derive them
        def has(section: str) -> bool:
            return spec.section(section) is not None

        collect(load_adsl_spec, spec)
        if "ADRS" in adam and has("adam/adrs"):
            collect(load_adrs_spec, spec)
        if "ADAE" in adam and has("adam/adae"):
            collect(load_adae_spec, spec)
        if "ADBASE" in adam and has("adam/adbase"):
            collect(load_adbase_spec, spec)
        if "ADTTE" in adam and has("adam/tte"):
            collect(tte_parameters_from_spec, spec)
            collect(load_tte_dataset_rules, spec.section("adam/tte"))
    return out


def check_spec(study) -> list:
    """Every problem of a spec folder, the layers' loaders included (`cdiscflow check-spec`): [] when usable."""
    from cdiscflow.specs.check import check_spec as check_spec_files

    return check_spec_files(study, spec_layer_problems)


def require_valid_spec(study):
    """The loaded StudySpec when `check_spec` finds nothing; else SpecError listing every problem (file:line)."""
    from cdiscflow.specs.check import require_valid_spec as require_valid_spec_files

    return require_valid_spec_files(study, spec_layer_problems)


# ----------------------------------------------------------------------------------------------------------------
# SDTM and export folder stories


def map_raw_to_sdtm_folder(study=None, raw_dir=None, out_dir="out/sdtm", *, on_error: str = "strict"):
    """Load the study spec, map the raw export and write the SDTM folder (what `cdiscflow sdtm` runs)."""
    from cdiscflow.sdtm.mapping.engine import map_study

    spec = require_valid_spec(study)  # refuses a spec with problems before reading the raw export
    check_output(out_dir, [("raw export", raw_dir if raw_dir is not None else spec.raw_dir),
                           ("spec folder", spec.path)])
    with staged_output(out_dir, owned_by=("_accounting.csv",)) as build:  # out_dir: the previous folder or this one
        result = map_study(spec, raw_dir, on_error=on_error, compact_text=True)  # written as is: no plain text needed
        write_sdtm(result, spec, build)
    return result


def write_sdtm(result, spec, out_dir: str | Path, *, formats: tuple[str, ...] | None = None) -> list[Path]:
    """Write an SdtmResult into one folder and return the dataset files written:

        <out>/dm.xpt, dm.json ...   XPT v5 and Dataset-JSON 1.1 per dataset (cdiscflow.export: spec names, labels,
                                    types, byte lengths; header stamped with the data cut, so runs are reproducible)
        <out>/define.xml            define.xml 2.1 for the SDTM datasets written
        <out>/_rejects.csv, _accounting.csv, _findings.csv/.json   the mapping's bookkeeping
                                    (`sdtm.mapping.bookkeeping.write_bookkeeping`), with the export's
                                    XPT-/DEFINE- findings

    A dataset the export checks block is not written; the findings say why.
    """
    from cdiscflow.core.atomic import remove_stale_parts
    from cdiscflow.export.api import FORMATS, write_datasets
    from cdiscflow.sdtm.mapping.bookkeeping import write_bookkeeping

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(out)  # temporaries a killed run left behind
    exported = write_datasets(result.datasets, spec, out, formats=FORMATS if formats is None else formats,
                              by_standard=False, findings=result.findings)
    write_bookkeeping(result, out)
    return [p for p in exported.files if p.suffix in (".xpt", ".json")]


def read_dataset_folder_for_validation(directory: str | Path):
    """The datasets of a folder to validate, keyed by file stem: a run's out/ is read through its sdtm/ and adam/
    subfolders, bookkeeping files (_findings.json, findings.json) are not datasets, the same dataset twice in one
    format is an error and an empty folder too."""
    frames, _metas = read_datasets(directory, key="file", subfolders=("sdtm", "adam"), bookkeeping=True,
                                   duplicate="error", required=True)
    return frames


def validate_folder(directory: str | Path, study: str | Path | None = None, *, out_dir: str | Path | None = None,
                    fail_on: str = "error", data_docs: bool = True, max_rows: int | None = None,
                    data_docs_engine: str = "cdiscflow"):
    """Validate every dataset in a folder and write findings.csv, findings.json, rules.csv (and Data Docs) into
    `out_dir` (default: `validation.api.default_out_dir(directory)`, beside the folder); what `cdiscflow validate`
    runs.

    Raises InputError (exit 2) when the folder holds no readable datasets or a define.xml is malformed, or when
    `out_dir` is in, over or around the folder or spec (`core.outputs.check_output`), and SpecError when the study
    spec is broken.
    """
    from cdiscflow.core.datasets import find_defines
    from cdiscflow.validation.api import FolderReport, default_out_dir, run_validation, write_outputs
    from cdiscflow.validation.define import merge_defines, read_define

    if fail_on not in ("error", "warning", "note"):
        raise ValueError(f"fail_on must be error, warning or note, not {fail_on!r}")
    directory = Path(directory)
    out_dir = Path(out_dir) if out_dir is not None else default_out_dir(directory)
    spec = load_study(study) if study is not None else None
    check_output(out_dir, [("dataset folder", directory), ("spec folder", spec.path if spec else None)])
    datasets = read_dataset_folder_for_validation(directory)
    define_paths = find_defines(directory)
    define = merge_defines(read_define(p) for p in define_paths)
    result = run_validation(datasets, spec, define=define)
    with staged_output(out_dir, owned_by=("rules.csv",)) as build:  # out_dir: the previous folder or this one, whole
        written = write_outputs(result, datasets, spec, build, data_docs=data_docs, max_rows=max_rows,
                                data_docs_engine=data_docs_engine)
    written = [out_dir / p.relative_to(build) for p in written]
    return FolderReport(directory, out_dir, result, fail_on, written, define_paths, spec.studyid if spec else "")


@dataclass
class DefineExport:
    path: Path
    standard: str
    variables: int
    without_length: list[str]  # DATASET.VARIABLE of character variables the spec gives no length


def export_spec_define(spec, out: str | Path, standard: str | None = None) -> DefineExport:
    """Write define.xml 2.1 for one standard of the spec (no data: lengths from the spec) and CDISC's stylesheet
    beside it.  A define.xml that breaks the Define-XML 2.1 schema is not written (SpecError lists why)."""
    from cdiscflow.core.atomic import write_bytes
    from cdiscflow.export.define import STYLESHEET, build_spec_define, define_bytes, validate_define

    check_output(out, [("spec folder", spec.path)], is_file=True)
    present = [s for s in ("SDTM", "ADaM") if spec.standard(s)]
    if standard is None:
        if len(present) != 1:
            raise SpecError(f"the spec has {' and '.join(present) or 'no'} datasets: say which define.xml to write "
                            "with --standard SDTM or --standard ADaM", path=str(spec.path))
        standard = present[0]
    if standard not in present:
        raise SpecError(f"the spec has no {standard} datasets", path=str(spec.path))
    tree = build_spec_define(spec, standard)
    problems = validate_define(tree)
    if problems:
        raise SpecError([f"define.xml would not validate against the Define-XML 2.1 schema: {p}" for p in problems],
                        path=str(spec.path))
    out = Path(out)
    write_bytes(out, define_bytes(tree))
    write_bytes(out.with_name(STYLESHEET.name), STYLESHEET.read_bytes())
    datasets = spec.standard(standard)
    missing = [f"{d.name}.{v.name}" for d in datasets for v in d.variables if v.datatype == "text" and not v.length]
    return DefineExport(out, standard, sum(len(d.variables) for d in datasets), missing)
