"""The per-command stories: read folders, run the library on tables, write folders.

The library packages (core, specs, sdtm, adam, validation, export, report) take tables and return tables; reading
and writing dataset folders, staging an output folder and refusing a bad spec before any work happen here, so the
layers below never import the export layer to do their I/O (ARCHITECTURE.md).
"""

from __future__ import annotations

from pathlib import Path

# ----------------------------------------------------------------------------------------------------------------
# SDTM and export folder stories


def map_raw_to_sdtm_folder(study=None, raw_dir=None, out_dir="out/sdtm", *, on_error: str = "strict"):
    """Load the study spec, map the raw export and write the SDTM folder (what `cdiscflow sdtm` runs)."""
    from cdiscflow.core.atomic import staged_output
    from cdiscflow.core.outputs import check_output
    from cdiscflow.sdtm.engine import map_study
    from cdiscflow.specs.check import require_valid_spec

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
                                    (`sdtm.output.write_bookkeeping`), with the export's XPT-/DEFINE- findings

    A dataset the export checks block is not written; the findings say why.
    """
    from cdiscflow.core.atomic import remove_stale_parts
    from cdiscflow.export.api import FORMATS, write_datasets
    from cdiscflow.sdtm.output import write_bookkeeping

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
    from cdiscflow.export.read import read_datasets

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
    from cdiscflow.core.atomic import staged_output
    from cdiscflow.core.datasets import find_defines
    from cdiscflow.core.outputs import check_output
    from cdiscflow.specs.model import load_study
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
