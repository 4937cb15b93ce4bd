"""The hand-off package: a finished run folder laid out as eCTD module 5, with a manifest of checksums.

    make_package("out", "submission")          # what `cdiscflow package --run out --out submission` does

    submission/
      m5/datasets/<study>/tabulations/sdtm/       *.xpt (+ *.json with dataset_json), define.xml, define2-1.xsl,
                                                  sdrg.html (draft Study Data Reviewer's Guide)
      m5/datasets/<study>/analysis/adam/datasets/ *.xpt (+ *.json), define.xml (with Analysis Results Metadata),
                                                  define2-1.xsl, adrg.html (draft Analysis Data Reviewer's Guide)
      m5/datasets/<study>/analysis/adam/results/  ard.csv (Analysis Results Dataset), reporting_event.json (CDISC
                                                  ARS 1.0: analysis sets, groupings, subsets, methods, outputs and
                                                  the results)
      m5/datasets/<study>/analysis/adam/programs/ spec/ (the study spec folder that made the data), run.json and
                                                  rerun.txt (the cdiscflow version and the command to rerun)
      manifest.csv                                every other file: path, bytes, SHA-256
      package_findings.csv                        the FDA file rules checked on the package (PKG-...)

Everything is read from the run folder (never recomputed): the datasets and define.xml files the run wrote (listed
in its run.json), the report's statistics.csv and the findings.  The spec folder must still be the one the run used
(its fingerprint is in run.json).  The package is built beside its target and renamed into place whole
(`core.atomic.write_folder`), it is deterministic (same run folder, same bytes), and it never writes into the run
folder or over it.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cdiscflow.core.atomic import write_folder
from cdiscflow.core.errors import InputError, exit_code_for
from cdiscflow.core.findings import Findings
from cdiscflow.specs.load import load_study
from cdiscflow.specs.model import StudySpec
from cdiscflow.report.guides import rerun_command

SPLIT_BYTES = 5 * 1024 ** 3  # FDA Study Data Technical Conformance Guide: a dataset above 5 GB is to be split
FILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")  # FDA: lower-case letters, digits, underscore, hyphen, dot
MANIFEST, FINDINGS = "manifest.csv", "package_findings.csv"


@dataclass
class PackageResult:
    target: Path
    files: dict[str, int] = field(default_factory=dict)  # path in the package -> bytes
    findings: Findings = field(default_factory=Findings)

    @property
    def exit_code(self) -> int:
        return exit_code_for(self.findings)


def study_folder(studyid: str) -> str:
    """The eCTD study folder name: the study id in lower case, other characters as hyphens."""
    return re.sub(r"[^a-z0-9]+", "-", studyid.lower()).strip("-") or "study"


def package_paths(studyid: str) -> dict[str, str]:
    root = f"m5/datasets/{study_folder(studyid)}"
    return {"sdtm": f"{root}/tabulations/sdtm", "adam": f"{root}/analysis/adam/datasets",
            "programs": f"{root}/analysis/adam/programs", "results": f"{root}/analysis/adam/results"}


def make_package(run_dir: str | Path, out_dir: str | Path, *, dataset_json: bool = False,
                 study: str | Path | None = None, split_bytes: int = SPLIT_BYTES, force: bool = False) -> PackageResult:
    """Write the hand-off package of the run in `run_dir` into `out_dir` (see the module docstring).

    Raises InputError when the run folder is not a finished run, the spec changed since the run, or `out_dir`
    overlaps the run folder or is a non-empty folder (without `force`, which replaces it whole)."""
    run, target = Path(run_dir), Path(out_dir)
    refuse_overlap(run, target)
    if target.exists() and (not target.is_dir() or any(target.iterdir())) and not force:
        raise InputError(f"{target}: exists and is not empty; give an empty or new folder (or --force to replace "
                         "it whole)")
    log = read_run_log(run)
    recorded = log.get("study", {}).get("spec", "")
    if study is None and not Path(recorded).is_dir():
        raise InputError(f"{run / 'run.json'}: the spec folder of the run ({recorded}) is not there any more; give "
                         "it with --study")
    spec = load_study(study if study is not None else recorded)
    check_spec_unchanged(spec, log)
    plan = package_plan(run, log, spec, dataset_json=dataset_json)
    result = PackageResult(target)
    check_file_rules(plan, split_bytes, result.findings)
    plan[FINDINGS] = _findings_csv(result.findings)
    plan = dict(sorted(plan.items()))
    plan[MANIFEST] = manifest_csv(plan)
    write_folder(plan, target, replace=force)
    result.files = {rel: _size(data) for rel, data in plan.items()}
    return result


# ----------------------------------------------------------------------------------------------------------------
# inputs


def refuse_overlap(run: Path, target: Path) -> None:
    """The package never goes into the run folder, over it, or around it."""
    a, b = run.resolve(), target.resolve()
    if a == b or a in b.parents or b in a.parents:
        raise InputError(f"{target}: the package folder must lie outside the run folder {run} (and not contain it)")


def read_run_log(run: Path) -> dict:
    """run.json of a finished run whose datasets were written."""
    path = run / "run.json"
    if not path.is_file():
        raise InputError(f"{run}: no run.json; give the --out folder of a `cdiscflow run`")
    try:
        log = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable run log ({exc})") from None
    if "error" in log:
        raise InputError(f"{path}: the run stopped ({log['error'].get('message', '')}); nothing to package")
    files = log.get("files") or []
    if not any(f.endswith("define.xml") for f in files):
        raise InputError(f"{path}: the run wrote no datasets (export blocked by findings?); nothing to package")
    missing = [f for f in files if not (run / f).is_file()]
    if missing:
        raise InputError(f"{run}: files of run.json are missing: {', '.join(missing[:5])}")
    return log


def check_spec_unchanged(spec: StudySpec, log: dict) -> None:
    from cdiscflow.pipeline import _spec_fingerprint

    recorded = log.get("study", {}).get("spec_sha256", "")
    if _spec_fingerprint(spec) != recorded:
        raise InputError(f"{spec.path}: the spec folder changed since the run (fingerprint in run.json "
                         f"{recorded[:12]}...); package the spec the run used (--study) or run again")


# ----------------------------------------------------------------------------------------------------------------
# the plan: package path -> bytes or a file to copy


def package_plan(run: Path, log: dict, spec: StudySpec, *, dataset_json: bool = False) -> dict[str, bytes | Path]:
    from cdiscflow.pipeline import spec_files

    where = package_paths(spec.studyid)
    plan: dict[str, bytes | Path] = {}
    suffixes = {".xpt", ".xml", ".xsl"} | ({".json"} if dataset_json else set())
    for rel in log["files"]:
        folder, _, name = rel.partition("/")
        if folder in ("sdtm", "adam") and "/" not in name and Path(name).suffix in suffixes:
            plan[f"{where[folder]}/{name}"] = run / rel
    for p in spec_files(spec):
        plan[f"{where['programs']}/spec/{p.relative_to(spec.path).as_posix()}"] = p
    plan[f"{where['programs']}/run.json"] = run / "run.json"
    plan[f"{where['programs']}/rerun.txt"] = rerun_text(log).encode("utf-8")
    plan.update(_results(run, spec, where))
    plan.update(_guides(run, log, spec, where))
    return plan


def rerun_text(log: dict) -> str:
    study, inputs = log.get("study", {}), log.get("inputs", {})
    raw_files = inputs.get("files", {})
    lines = [
        f"How the datasets of study {study.get('studyid', '')} (data cut {study.get('datacut', '')}) were made",
        "",
        f"software:  cdiscflow {log.get('cdiscflow', '')} on Python {log.get('python', '')}",
        "libraries: " + ", ".join(f"{k} {v}" for k, v in sorted(log.get("libraries", {}).items())),
        f"spec:      spec/ (SHA-256 fingerprint {study.get('spec_sha256', '')}, as recorded in run.json)",
        f"raw:       {len(raw_files)} file(s) read from {inputs.get('raw_dir', '')} (names, bytes and SHA-256 in "
        "run.json, inputs)",
        "",
        "To rerun (from this folder, with the raw export as RAW_EXPORT):",
        "",
        f"    python3 -m venv .venv && .venv/bin/pip install cdiscflow=={log.get('cdiscflow', '')}",
        f"    .venv/bin/{rerun_command(log)}",
        "",
        "The rerun writes the same bytes in every dataset and define.xml (compare with the SHA-256 in manifest.csv",
        "at the top of the package); only the clock in run.json differs.",
        "",
    ]
    return "\n".join(lines)


def _results(run: Path, spec: StudySpec, where: dict[str, str]) -> dict[str, bytes]:
    """The report's numbers as an ARS Analysis Results Dataset with its reporting event (when the run has them)."""
    stats = run / "report" / "statistics.csv"
    if not stats.is_file() or spec.section("report") is None:
        return {}
    from cdiscflow.report.ars import ard_csv, read_statistics, reporting_event_json

    frame = read_statistics(stats)
    return {f"{where['results']}/reporting_event.json": reporting_event_json(spec, frame),
            f"{where['results']}/ard.csv": ard_csv(spec, frame)}


def _guides(run: Path, log: dict, spec: StudySpec, where: dict[str, str]) -> dict[str, bytes]:
    """Draft reviewer's guides: the SDRG beside the SDTM datasets, the ADRG beside the ADaM datasets."""
    from cdiscflow.report.guides import reviewers_guides

    sdrg, adrg = reviewers_guides(run, log, spec)
    return {f"{where['sdtm']}/sdrg.html": sdrg.encode("utf-8"), f"{where['adam']}/adrg.html": adrg.encode("utf-8")}


# ----------------------------------------------------------------------------------------------------------------
# checks and manifest


def check_file_rules(plan: dict[str, bytes | Path], split_bytes: int, findings: Findings) -> None:
    """FDA file rules: lower-case names of letters, digits, '_', '-' and '.', XPT files named after their dataset
    (at most 8 characters); datasets above the split size."""
    for rel, data in plan.items():
        for part in rel.split("/"):
            if not FILE_NAME.match(part):
                findings.add(severity="error", rule_id="PKG-FILE-NAME", source=rel, value=part,
                             expected="lower-case letters, digits, '_', '-', '.'",
                             message=f"{rel}: the name {part!r} breaks the FDA file naming rules")
                break
        else:
            if rel.endswith(".xpt") and len(Path(rel).stem) > 8:
                findings.add(severity="error", rule_id="PKG-FILE-NAME", dataset=Path(rel).stem.upper(), source=rel,
                             value=Path(rel).name, expected="a dataset name of at most 8 characters",
                             message=f"{rel}: a SAS transport file is named after its dataset (at most 8 "
                                     "characters)")
        size = _size(data)
        if rel.endswith((".xpt", ".json")) and _is_dataset_folder(rel) and size > split_bytes:
            findings.add(severity="warning", rule_id="PKG-FILE-SIZE", dataset=Path(rel).stem.upper(), source=rel,
                         value=str(size), expected=f"at most {split_bytes} bytes",
                         message=f"{rel}: {size} bytes, above the split threshold of {split_bytes} bytes: split "
                                 "the dataset (FDA Technical Conformance Guide)")


def _is_dataset_folder(rel: str) -> bool:
    parts = rel.split("/")
    return len(parts) > 4 and (parts[3] == "tabulations" or (parts[3] == "analysis" and parts[-2] == "datasets"))


def manifest_csv(plan: dict[str, bytes | Path]) -> bytes:
    rows = [(rel, _size(data), _sha256(data)) for rel, data in sorted(plan.items())]
    frame = pd.DataFrame(rows, columns=["path", "bytes", "sha256"])
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _findings_csv(findings: Findings) -> bytes:
    from cdiscflow.core.spreadsheet import csv_text

    return csv_text(findings.frame()).encode("utf-8")


def _size(data: bytes | Path) -> int:
    return data.stat().st_size if isinstance(data, Path) else len(data)


def _sha256(data: bytes | Path) -> str:
    if not isinstance(data, Path):
        return hashlib.sha256(data).hexdigest()
    digest = hashlib.sha256()
    with open(data, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(path: str | Path) -> pd.DataFrame:
    """A package's manifest.csv (path, bytes, sha256)."""
    return pd.read_csv(io.StringIO(Path(path).read_text(encoding="utf-8")), dtype={"path": str, "sha256": str})
