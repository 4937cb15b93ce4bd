"""The export recipe: datasets in memory -> XPT v5 + Dataset-JSON 1.1 per dataset, one define.xml per standard.

    for each dataset (spec order):  prepare (checks, types, lengths, order)  ->  write .xpt  ->  write .json
    for each standard present:      define.xml from the spec and what was written  ->  validate  ->  write

Output layout (`out_dir`):  sdtm/dm.xpt, sdtm/dm.json, ..., sdtm/define.xml, sdtm/define2-1.xsl, adam/...
A dataset with error findings is not written (and not in define.xml); the findings say why.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cdiscflow.core.errors import InputError, SpecError
from cdiscflow.core.outputs import check_output
from cdiscflow.core.findings import Findings
from cdiscflow.export.datasetjson import JsonHeader, write_dataset_json
from cdiscflow.export.define import (DefineContext, ValueLevelData, build_define, validate_define, valuelevel_lengths,
                                    write_define_files)
from cdiscflow.export.meta import DatasetMeta
from cdiscflow.export.prepare import Prepared, prepare_dataset
from cdiscflow.export.read import apply_define, read_dataset
from cdiscflow.export.xpt import MAX_IBM, byte_lengths, to_sas_numbers, write_xpt
from cdiscflow.specs.model import NAME_RE, StudySpec
from cdiscflow.validation.define import read_define

FORMATS = ("xpt", "json")


@dataclass
class ExportResult:
    files: list[Path] = field(default_factory=list)  # every file written, in order
    findings: Findings = field(default_factory=Findings)
    written: dict[str, DatasetMeta] = field(default_factory=dict)  # dataset -> metadata of what was written
    blocked: list[str] = field(default_factory=list)  # datasets not written because of error findings
    defines: dict[str, Path] = field(default_factory=dict)  # standard -> define.xml

    @property
    def ok(self) -> bool:
        return not self.blocked and self.findings.count_at_or_above("error") == 0


def json_header(spec: StudySpec, standard: str, dataset: str) -> JsonHeader:
    """Dataset-JSON file attributes for a spec-driven export; OIDs match the define.xml written beside it."""
    ctx = DefineContext(spec, standard)
    return JsonHeader(
        created=ctx.created, db_last_modified=ctx.created, originator=" ".join(str(spec.study.get("sponsor", "")).split()),
        study_oid=ctx.study_oid, metadata_version_oid=ctx.mdv_oid, metadata_ref="define.xml",
        file_oid=f"{spec.studyid}.{standard}.{dataset}.{spec.datacut.isoformat()}",
    )


def write_datasets(datasets: Mapping[str, pd.DataFrame], spec: StudySpec, out_dir: str | Path, *,
                   formats: tuple[str, ...] = FORMATS, define: bool = True, by_standard: bool = True,
                   findings: Findings | None = None) -> ExportResult:
    """Write every dataset as XPT v5 and/or Dataset-JSON 1.1 and one define.xml per standard present.

    `datasets` maps dataset name -> frame (cdiscflow conventions, see ARCHITECTURE.md).  Files go to
    `out_dir/sdtm/` and `out_dir/adam/` (`by_standard=False`: straight into `out_dir`, for one standard).  Returns the
    files written, the metadata written and every finding (`XPT-...`, `DEFINE-...`), also added to `findings`.
    A partitioned run writes the same files from the partitions' pieces (`export.pieces.assemble_export`).
    """
    check_formats(formats)
    out_dir = Path(out_dir)
    result = ExportResult(findings=findings if findings is not None else Findings())
    written = Written()
    frames = {str(k).upper(): v for k, v in datasets.items()}
    for name in export_order(frames, spec):
        if not_in_spec(name, spec, result):
            continue
        prep = prepare_dataset(frames[name], spec.dataset(name), result.findings)
        if prep.blocked:
            result.blocked.append(name)
            continue
        paths = dataset_paths(out_dir, prep.standard, name, formats, by_standard)
        if "xpt" in paths:
            write_xpt(paths["xpt"], prep.frame, [c.xpt() for c in prep.meta.columns], dataset=name,
                      label=prep.meta.label, created=spec.datacut)
        if "json" in paths:
            write_dataset_json(paths["json"], prep.frame, prep.meta, json_header(spec, prep.standard, name))
        written.add(result, prep.standard, prep.meta, valuelevel_stats(prep.frame, spec, name), paths)
        del prep  # the written frame is not kept: at 100,000 subjects the datasets do not fit in memory twice
    finish_export(result, spec, written, out_dir, define=define, by_standard=by_standard)
    return result


def check_formats(formats: tuple[str, ...]) -> None:
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"unknown format(s) {bad}; use {FORMATS}")


def export_order(names: Iterable[str], spec: StudySpec) -> list[str]:
    """The order datasets are exported in (findings, files, define.xml): the spec's, then undeclared ones by name."""
    names = set(names)
    return [n for n in spec.datasets if n in names] + sorted(n for n in names if n not in spec.datasets)


def not_in_spec(name: str, spec: StudySpec, result: ExportResult) -> bool:
    """True (with the finding, the dataset blocked) when `name` is not a dataset of the spec."""
    if name in spec.datasets:
        return False
    result.findings.add(severity="error", rule_id="XPT-DATASET-NOT-IN-SPEC", dataset=name, source="export",
                        message=f"{name} is not declared in datasets.csv of study {spec.studyid}; not written")
    result.blocked.append(name)
    return True


def dataset_paths(out_dir: Path, standard: str, name: str, formats: tuple[str, ...],
                  by_standard: bool) -> dict[str, Path]:
    """Format -> the file a dataset is written to (out_dir/sdtm/dm.xpt ...), in the order the files are written."""
    folder = standard_folder(out_dir, standard, by_standard)
    return {fmt: folder / f"{name.lower()}.{fmt}" for fmt in FORMATS if fmt in formats}


def standard_folder(out_dir: Path, standard: str, by_standard: bool) -> Path:
    """Where a standard's files go: out_dir/sdtm, out_dir/adam (`by_standard=False`: out_dir)."""
    return out_dir / standard.lower() if by_standard else out_dir


def valuelevel_stats(frame: pd.DataFrame, spec: StudySpec, name: str) -> dict | None:
    """What define.xml reads of a written dataset's records (`define.valuelevel_lengths`); None when the dataset has
    no value-level metadata."""
    rows = [r for r in spec.valuelevel if r.dataset == name]
    return valuelevel_lengths(frame, rows) if rows else None


@dataclass
class Written:
    """The datasets written so far, for define.xml: standard -> dataset -> (metadata, value-level lengths), and each
    dataset's file name (its .xpt, else its .json)."""

    groups: dict[str, dict[str, tuple[DatasetMeta, dict | None]]] = field(default_factory=dict)
    leaves: dict[str, str] = field(default_factory=dict)

    def add(self, result: ExportResult, standard: str, meta: DatasetMeta, valuelevel: dict | None,
            paths: Mapping[str, Path]) -> None:
        result.files += list(paths.values())
        if paths:
            self.leaves[meta.name] = next(iter(paths.values())).name
        result.written[meta.name] = meta
        self.groups.setdefault(standard, {})[meta.name] = (meta, valuelevel)


def finish_export(result: ExportResult, spec: StudySpec, written: Written, out_dir: Path, *, define: bool,
                  by_standard: bool) -> None:
    """After the datasets: a finding per dataset not written, then one define.xml per standard written."""
    for name in result.blocked:
        if name in spec.datasets:
            result.findings.add(severity="error", rule_id="XPT-NOT-WRITTEN", dataset=name, source="export",
                                message=f"{name} not written (and left out of define.xml): fix the errors above")
    if define:
        for standard, group in written.groups.items():
            path = _write_define(spec, standard, group, standard_folder(out_dir, standard, by_standard),
                                 written.leaves, result.findings)
            result.defines[standard] = path
            result.files += [path, path.with_name("define2-1.xsl")]


def _write_define(spec: StudySpec, standard: str, group: Mapping[str, tuple[DatasetMeta, ValueLevelData]],
                  folder: Path, leaves: Mapping[str, str], findings: Findings | None) -> Path:
    tree = build_define(spec, standard, group, leaves)
    problems = validate_define(tree)
    path = write_define_files(tree, folder)
    for problem in problems:
        if findings is None:
            raise SpecError([f"define.xml does not validate against the Define-XML 2.1 schema: {p}" for p in problems],
                            path=str(spec.path))
        findings.add(severity="error", rule_id="DEFINE-XSD", source=str(path), message=problem,
                     expected="valid Define-XML 2.1")
    if findings is not None:
        _metadata_gaps(spec, group, findings)
    return path


def _metadata_gaps(spec: StudySpec, group: Mapping[str, tuple[DatasetMeta, ValueLevelData]],
                   findings: Findings) -> None:
    """What define.xml cannot say because the spec does not: origins, SUPP-- value-level metadata."""
    for name, (meta, _) in group.items():
        for var in spec.dataset(name).variables:
            if var.name in meta.names and not var.origin:
                findings.add(severity="warning", rule_id="DEFINE-ORIGIN", dataset=name, variable=var.name,
                             source="define.xml", message=f"{var.name}: no origin in variables.csv; define.xml "
                             "has none", expected="Collected, Derived, Assigned, Protocol, Predecessor ...")
        rows = [r for r in spec.valuelevel if r.dataset == name]
        if name.startswith("SUPP") and "QVAL" in meta.names and not any(r.variable == "QVAL" for r in rows):
            findings.add(severity="warning", rule_id="DEFINE-VLM", dataset=name, variable="QVAL", source="define.xml",
                         message=f"{name}.QVAL has no value-level metadata by QNAM in valuelevel.csv (define.xml "
                         "needs one per QNAM)")
        for r in rows:
            missing = [v for v in (r.variable, *(w.variable for w in r.where)) if v not in meta.names]
            if missing:
                findings.add(severity="note", rule_id="DEFINE-VLM", dataset=name, variable=r.variable,
                             source="valuelevel.csv", message=f"value-level row {r.variable} where "
                             f"{' AND '.join(w.variable + ' ' + w.comparator + ' ' + '|'.join(w.values) for w in r.where)}"
                             f" left out: {', '.join(missing)} not written")


def write_define(datasets: Mapping[str, pd.DataFrame | Prepared], spec: StudySpec, standard: str,
                 out_dir: str | Path, findings: Findings | None = None) -> Path:
    """Write define.xml (+ define2-1.xsl) for the `standard` datasets among `datasets` into `out_dir`.

    Lengths are those the data need (as `write_datasets` writes them).  Schema breaches are added to `findings`
    (DEFINE-XSD errors) or, without `findings`, raised as SpecError after the file is written for inspection.
    """
    scratch = Findings()
    group: dict[str, tuple[DatasetMeta, pd.DataFrame | None]] = {}
    for name, data in datasets.items():
        name = str(name).upper()
        if name not in spec.datasets or spec.dataset(name).standard != standard:
            continue
        prep = data if isinstance(data, Prepared) else prepare_dataset(data, spec.dataset(name), scratch)
        group[name] = (prep.meta, prep.frame)
    if not group:
        raise InputError(f"no {standard} dataset of study {spec.studyid} among {', '.join(map(str, datasets)) or 'none'}")
    return _write_define(spec, standard, group, Path(out_dir), {}, findings)


# ----------------------------------------------------------------------------------------------------------------
# convert_dataset_file


def convert_dataset_file(path: str | Path, out: str | Path | None = None, *, define: str | Path | None = None,
            findings: Findings | None = None) -> Path:
    """Convert one dataset file: `.xpt` -> Dataset-JSON 1.1, `.json` -> XPT v5.  Returns the file written.

    `out` is a file or a folder (default: next to the input, other suffix).  Column metadata (labels, data types,
    item OIDs, key sequences) come from the file, completed from `define` — or from a define.xml found beside the
    input.  Dates stay dates; the new file's creation stamp is the input's, so a conversion is repeatable.
    """
    src = Path(path)
    target_suffix = ".json" if src.suffix.lower() == ".xpt" else ".xpt"
    target = Path(out) if out is not None else src.with_suffix(target_suffix)
    if target.is_dir():
        target = target / f"{src.stem.lower()}{target_suffix}"
    if target.suffix.lower() != target_suffix:
        raise InputError(f"{target}: converting {src.name} writes a {target_suffix} file")
    define_path = Path(define) if define else (src.parent / "define.xml")
    check_output(target, [("input file", src), ("define.xml", define_path if define_path.is_file() else None)],
                 is_file=True)
    frame, meta = read_dataset(src, findings)
    used_define = False
    if define_path.is_file():
        meta = apply_define(meta, read_define(define_path))
        used_define = True
        if findings is not None and define is None:
            findings.add(severity="note", rule_id="CONVERT-DEFINE", dataset=meta.name, source=str(define_path),
                         message=f"column metadata completed from {define_path.name} found beside {src.name}")
    elif define:
        raise InputError(f"{define_path}: no such define.xml")
    if target_suffix == ".json":
        created = meta.created or "1960-01-01T00:00:00"
        header = JsonHeader(created=created, metadata_ref="define.xml" if used_define else "",
                            metadata_version_oid=meta.metadata_version_oid, study_oid=meta.study_oid)
        try:
            write_dataset_json(target, frame, meta, header)
        except ValueError as exc:
            raise InputError(f"{src}: cannot be written as Dataset-JSON: {exc}") from None
    else:
        _write_converted_xpt(target, frame, meta, findings)
    return target


def _all_ascii(values: pd.Series) -> bool:
    arr = pa.array(values, from_pandas=True, type=pa.large_string())
    return bool(pc.all(pc.fill_null(pc.string_is_ascii(arr), True)).as_py() is not False)


def _write_converted_xpt(target: Path, frame: pd.DataFrame, meta: DatasetMeta, findings: Findings | None) -> None:
    problems = []
    if not NAME_RE.match(meta.name.upper()):
        problems.append(f"dataset name {meta.name!r} is not a SAS V5 name")
    if len(meta.label) > 40 or not meta.label.isascii():
        problems.append(f"dataset label {meta.label!r} is not at most 40 ASCII characters")
    columns = []
    for c in meta.columns:
        if not NAME_RE.match(c.name):
            problems.append(f"{c.name}: not a SAS V5 variable name (1-8 of A-Z, 0-9, _)")
        if len(c.label) > 40 or not c.label.isascii():
            problems.append(f"{c.name}: label {c.label!r} is not at most 40 ASCII characters")
        if c.is_numeric:
            columns.append(c)
            x = to_sas_numbers(frame[c.name], c.kind)
            huge = np.flatnonzero(np.abs(np.nan_to_num(x, nan=0.0)) >= MAX_IBM)  # inf included
            if len(huge):
                problems.append(f"{c.name}: row {huge[0] + 1} holds {float(x[huge[0]])!r}; XPT v5 holds magnitudes "
                                f"below {MAX_IBM:.4g}")
            continue
        nbytes = byte_lengths(frame[c.name])
        longest = int(nbytes.max()) if len(nbytes) else 0
        if longest > 200:
            row = int(np.argmax(nbytes)) + 1
            problems.append(f"{c.name}: row {row} has a value of {longest} bytes; XPT v5 holds at most 200")
        elif findings is not None and not _all_ascii(frame[c.name]):
            findings.add(severity="warning", rule_id="XPT-ASCII", dataset=meta.name, variable=c.name,
                         source=str(target), message=f"{c.name}: non-ASCII text written as UTF-8 bytes")
        columns.append(replace(c, length=min(200, max(1, longest, c.length or 0))))
    if problems:
        raise InputError(f"{meta.path}: cannot be written as XPT v5:\n  " + "\n  ".join(problems))
    created = datetime.fromisoformat(meta.created[:19]) if meta.created else datetime(1960, 1, 1)
    write_xpt(target, frame, [c.xpt() for c in columns], dataset=meta.name.upper(), label=meta.label, created=created)
