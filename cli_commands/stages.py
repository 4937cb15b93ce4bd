"""One stage at a time: `sdtm`, `adam`, `report`, `compare`, `export`, `convert` and `validate` read a folder,
run one layer and write its output."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cdiscflow.cli_commands.shared import EXIT_CODES, error_lines, fail_on_exit_option, study_option
from cdiscflow.core.atomic import staged_output
from cdiscflow.core.errors import InputError, exit_code_for
from cdiscflow.core.outputs import check_output


@click.command("sdtm", epilog=EXIT_CODES)
@click.option("--raw", "raw_dir", type=click.Path(path_type=Path), default=None,
              help="Folder of the raw EDC export (one file per form of forms.yaml), or an ODM-XML file (or a "
                   "folder holding one). Default: the study's raw/.")
@study_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("out/sdtm"),
              show_default=True, help="Output folder for dm.xpt ..., _rejects.csv, _accounting.csv, _findings.*")
@click.option("--on-error", type=click.Choice(["strict", "reject"]), default="strict", show_default=True,
              help="strict: any error stops the run and nothing is written. reject: write the good records and "
                   "log the rejected raw rows with their reasons in _rejects.csv.")
@fail_on_exit_option
def sdtm_command(raw_dir: Path | None, study: str | None, out_dir: Path, on_error: str, fail_on: str) -> None:
    """Map a raw EDC export to SDTMIG 3.4 datasets, executed from the study spec.

    \b
    Example:
      cdiscflow sdtm --raw specs/dara_atra/raw --study specs/dara_atra --out out/sdtm
      cdiscflow sdtm --raw export/ --out out/sdtm --on-error reject
    """
    from cdiscflow.core.errors import FindingsError
    from cdiscflow.usecases import map_raw_to_sdtm_folder

    try:
        result = map_raw_to_sdtm_folder(study, raw_dir, out_dir, on_error=on_error)
    except FindingsError as exc:
        click.echo(error_lines(exc.findings), err=True)
        raise
    n = sum(len(d) for d in result.datasets.values())
    click.echo(f"{len(result.datasets)} datasets, {n} records -> {out_dir}")
    click.echo(result.findings.summary())
    if len(result.rejects):
        click.echo(f"{len(result.rejects)} raw row(s) rejected: see {out_dir / '_rejects.csv'}", err=True)
    sys.exit(exit_code_for(result.findings, fail_on, failures=len(result.rejects)))


@click.command("adam", epilog=EXIT_CODES)
@click.option("--sdtm", "sdtm_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of SDTM datasets (.xpt or Dataset-JSON), e.g. the output of `cdiscflow sdtm`.")
@study_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("out/adam"),
              show_default=True, help="Output folder for adsl.xpt, adsl.json ..., define.xml, _findings.csv/.json")
@fail_on_exit_option
def adam_command(sdtm_dir: Path, study: str | None, out_dir: Path, fail_on: str) -> None:
    """Derive the study's ADaM datasets (ADaMIG 1.3) from its SDTM datasets, as the spec's adam/*.yaml say.

    Every ADaM dataset in the spec's datasets.csv is derived from the SDTM folder only and written as SAS XPT v5
    and Dataset-JSON 1.1 with define.xml 2.1 (through the export layer).

    \b
    Example:
      cdiscflow sdtm --out out/sdtm
      cdiscflow adam --sdtm out/sdtm --study specs/dara_atra --out out/adam
      cdiscflow validate out/adam --study specs/dara_atra
    """
    from cdiscflow.usecases import derive_adam_folder

    _jemalloc_arrow_pool()
    result = derive_adam_folder(study, sdtm_dir, out_dir)
    for name, frame in result.datasets.items():
        click.echo(f"{name:<7} {len(frame):>8} records  {result.timings.get(name, 0.0):6.2f} s")
    t = result.timings
    click.echo(f"{len(result.datasets)} datasets -> {out_dir} (read {t['read']:.1f} s, derived {t['total']:.1f} s, "
               f"written {t['write']:.1f} s)")
    click.echo(result.findings.summary())
    sys.exit(exit_code_for(result.findings, fail_on))


def _jemalloc_arrow_pool() -> None:
    """Arrow's jemalloc pool for this process, unless ARROW_DEFAULT_MEMORY_POOL chooses one (or jemalloc is not
    built in).  The ADaM engine allocates and drops many short-lived text columns (takes, concatenations); the
    default mimalloc pool hands the pages back to the system and faults them in again, which cost 0.2-0.4 s of system
    CPU of ~3.3 s on IMWG x100 (benchmarks/imwg.py), jemalloc keeps them for reuse.  Values are unchanged."""
    import os

    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    import pyarrow as pa

    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except NotImplementedError:  # a pyarrow built without jemalloc (e.g. on Windows): keep the default
        pass


@click.command("report", epilog=EXIT_CODES)
@click.option("--adam", "adam_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of ADaM datasets (.xpt or Dataset-JSON), e.g. the output of `cdiscflow adam`.")
@study_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("out/report"),
              show_default=True, help="Output folder for index.html, the tables as CSV, statistics.csv and the PNGs.")
def report_command(adam_dir: Path, study: str | None, out_dir: Path) -> None:
    """Write the study's analysis report from its ADaM datasets, as the spec's report.yaml declares it.

    Tables, Kaplan-Meier plots and a reproduction check of every published figure the spec links (facts.yaml):
    open OUT/index.html; every number is also in OUT/statistics.csv.  Exit 1 when a comparison fails that is not
    a documented known mismatch.

    \b
    Example:
      cdiscflow adam --sdtm out/sdtm --out out/adam
      cdiscflow report --adam out/adam --study specs/dara_atra --out out/report
    """
    from cdiscflow.export import read_datasets
    from cdiscflow.report import make_report
    from cdiscflow.usecases import require_valid_spec

    spec = require_valid_spec(study)  # refuses a spec with problems before reading the ADaM folder
    check_output(out_dir, [("ADaM folder", adam_dir), ("spec folder", spec.path)])
    adam, _ = read_datasets(adam_dir)
    if not adam:
        raise InputError(f"{adam_dir}: no ADaM datasets (.xpt or Dataset-JSON) in this folder")
    with staged_output(out_dir, owned_by=("statistics.csv",)) as build:  # the previous folder or this one, whole
        result = make_report(spec, adam, build)
    figures = sum(p.suffix == ".png" for p in result.written)
    index = out_dir / result.index.relative_to(build) if result.index is not None else out_dir
    click.echo(f"{len(result.tables)} tables, {figures} figures -> {index} ({result.seconds:.1f} s)")
    c = result.counts()
    if c["checks"]:
        click.echo(f"reproduction: {c['checks']} comparisons, {c['PASS']} PASS, {c['FAIL']} FAIL "
                   f"({c['documented']} documented, {c['unexpected']} unexpected)")
    if c["unexpected"]:
        click.echo(f"unexpected failures: see {out_dir / 'reproduction_fail.csv'}", err=True)
    sys.exit(exit_code_for(failures=c["unexpected"]))


@click.command("compare", epilog=EXIT_CODES)
@click.option("--study", required=True, help="Study spec folder with comparison.yaml (or an embedded study name).")
@click.option("--raw", "raw_dir", default=None, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of the raw EDC export: map it to SDTM and compare the SDTM.")
@click.option("--sdtm", "sdtm_dir", default=None, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of SDTM datasets (.xpt / Dataset-JSON): derive the ADaM datasets and compare the ADaM.")
@click.option("--reference", "reference_dir", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of the reference datasets (the files comparison.yaml names: Parquet, CSV or XPT).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("out/compare"),
              show_default=True, help="Output folder for agreement.csv and differences.csv.")
def compare_command(study: str, raw_dir: Path | None, sdtm_dir: Path | None, reference_dir: Path,
                    out_dir: Path) -> None:
    """Compare what cdiscflow makes value by value with a reference of the same study: the SDTM mapped from a raw
    export (--raw), or the ADaM derived from an SDTM folder (--sdtm).

    Every difference must be listed and explained in the study's comparison.yaml; anything else is reported and
    the command exits 1.

    \b
    Examples:
      cdiscflow compare --study specs/pharmaverse_pilot --raw ../shared/reference-data/pharmaverse/raw \\
        --reference ../shared/reference-data/pharmaverse/sdtm --out out-pilot/compare
      cdiscflow compare --study specs/cdiscpilot01 --sdtm pilot-sdtm \\
        --reference ../shared/reference-data/cdiscpilot01/adam_rconsortium_pilot3 --out out-pilot3/compare
    """
    if (raw_dir is None) == (sdtm_dir is None):
        raise click.UsageError("give either --raw (compare the SDTM) or --sdtm (compare the ADaM), not both")
    if sdtm_dir is not None:
        from cdiscflow.usecases import compare_adam_with_reference

        result = compare_adam_with_reference(study, sdtm_dir, reference_dir, out_dir)
    else:
        from cdiscflow.sdtm.compare import compare_with_reference

        result = compare_with_reference(study, raw_dir, reference_dir, out_dir)
    t = result.table
    for name, g in t.groupby("dataset", sort=False):  # over datasets
        same = int((g["n_different"] == 0).sum())
        rows = f", records {result.rows[name][0]} / {result.rows[name][1]} (ours / reference)" if result.rows else ""
        click.echo(f"{name}: {len(g)} shared variables, {same} identical, {len(g) - same} with listed "
                   f"differences{rows}")
    equal, compared = result.cell_agreement()
    if compared:
        click.echo(f"values equal: {equal} of {compared} ({100.0 * equal / compared:.2f} %)")
    click.echo(f"agreement.csv, differences.csv -> {out_dir}")
    if result.problems:
        click.echo("not explained by comparison.yaml:\n  " + "\n  ".join(result.problems), err=True)
    sys.exit(exit_code_for(failures=len(result.problems)))


@click.command("export", epilog=EXIT_CODES)
@click.option("--in", "in_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of SDTM/ADaM datasets (.xpt or Dataset-JSON .json).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder; gets sdtm/ and adam/ subfolders.")
@study_option
@click.option("--format", "formats", multiple=True, type=click.Choice(["xpt", "json"]),
              help="Formats to write (repeatable; default: both).")
@fail_on_exit_option
def export_cmd(in_dir: Path, out_dir: Path, study: str | None, formats: tuple[str, ...], fail_on: str) -> None:
    """Write every dataset as SAS XPT v5 and Dataset-JSON 1.1, plus define.xml 2.1 per standard.

    Names, labels, types, lengths, formats, codelists and origins come from the study spec; every breach of the
    spec or of the FDA limits (names <= 8, labels <= 40, values <= 200 bytes, ASCII) is reported at once in
    OUT/export_findings.csv, and a dataset with errors is not written.

    \b
    Example:
      cdiscflow export --in out/sdtm --out submission --study specs/dara_atra
    """
    from cdiscflow.core.findings import Findings
    from cdiscflow.export import read_datasets, write_datasets
    from cdiscflow.specs.load import load_study

    spec = load_study(study)
    check_output(out_dir, [("dataset folder", in_dir), ("spec folder", spec.path)])
    findings = Findings()
    frames, _ = read_datasets(in_dir, findings)
    if not frames:
        raise InputError(f"{in_dir}: no datasets (.xpt or Dataset-JSON .json) found")
    with staged_output(out_dir, owned_by=("export_findings.csv",)) as build:  # the previous folder or this one
        result = write_datasets(frames, spec, build, formats=formats or ("xpt", "json"))
        findings.extend(result.findings)
        findings.write(build, "export_findings")
        _keep_other_standards(out_dir, build)
    for standard, meta_names in _by_standard(result, spec).items():
        click.echo(f"{standard}: {', '.join(meta_names)} -> {out_dir / standard.lower()}")
    click.echo(f"{len(result.files)} files written; {findings.summary()}")
    if result.blocked:
        click.echo(f"not written: {', '.join(result.blocked)} (see {out_dir / 'export_findings.csv'})", err=True)
    sys.exit(exit_code_for(findings, fail_on))


def _keep_other_standards(previous: Path, build: Path) -> None:
    """`export` of SDTM then of ADaM into one --out: the folder of a standard this export did not write (e.g. sdtm/
    when exporting ADaM) is carried over from the previous output, so the swap replaces only what was rewritten."""
    import shutil

    if not previous.is_dir():
        return
    for folder in sorted(p for p in previous.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not (build / folder.name).exists():
            shutil.copytree(folder, build / folder.name)


def _by_standard(result, spec) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name in result.written:
        out.setdefault(spec.dataset(name).standard, []).append(name)
    return out


@click.command("convert", epilog=EXIT_CODES)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out", default=None, type=click.Path(path_type=Path),
              help="Output file or folder (default: next to FILE with the other suffix).")
@click.option("--define", "define", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="define.xml with the column metadata (default: define.xml beside FILE, if any).")
@fail_on_exit_option
def convert_cmd(file: Path, out: Path | None, define: Path | None, fail_on: str) -> None:
    """Convert one dataset between SAS XPT v5 (.xpt) and Dataset-JSON 1.1 (.json), either direction.

    \b
    Examples:
      cdiscflow convert out/adam/adsl.xpt                 # writes out/adam/adsl.json
      cdiscflow convert dm.json --out xpt/                # writes xpt/dm.xpt
      cdiscflow convert ae.xpt --define define.xml        # item OIDs, data types, keys from the define
    """
    from cdiscflow.core.findings import Findings
    from cdiscflow.export import convert_dataset_file

    findings = Findings()
    target = convert_dataset_file(file, out, define=define, findings=findings)
    click.echo(f"{file} -> {target}")
    for row in findings.frame().itertuples(index=False):
        click.echo(f"  {row.severity}: {row.message}", err=True)
    sys.exit(exit_code_for(findings, fail_on))


def _list_rules(ctx: click.Context, _param, value: bool) -> None:
    if value:
        from cdiscflow.validation.api import catalogue_text

        click.echo(catalogue_text())
        ctx.exit(0)


@click.command("validate", epilog=EXIT_CODES)
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--study", metavar="DIR|NAME",
              help="Study spec folder or embedded study name; without it the SDTMIG 3.4 / ADaMIG 1.3 metadata and "
                   "CDISC CT are used.")
@fail_on_exit_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              show_default="DIRECTORY-validation, beside DIRECTORY",
              help="Folder for findings.csv, findings.json, rules.csv and datadocs/ (never inside DIRECTORY).")
@click.option("--data-docs/--no-data-docs", default=True, show_default=True,
              help="Render great-expectations Data Docs (datadocs/index.html).")
@click.option("--data-docs-engine", type=click.Choice(["cdiscflow", "great-expectations"]), default="cdiscflow",
              show_default=True,
              help="Who evaluates the Data Docs expectations (the pages are the same): cdiscflow in memory, handing "
                   "only the expectations not met to GE's validator, or GE's validator for all (slow: ~20 ms each).")
@click.option("--list-rules", is_flag=True, is_eager=True, expose_value=False, callback=_list_rules,
              help="Print every schema check and conformance rule, then exit.")
def validate(directory: Path, study: str | None, fail_on: str, out_dir: Path | None, data_docs: bool,
             data_docs_engine: str) -> None:
    """Validate a folder of SDTM/ADaM datasets (SAS XPT; define.xml is checked when present).

    Runs the spec-generated schemas and the conformance rule catalogue on every record and writes the findings
    table; a data manager opens datadocs/index.html.

    \b
    Examples:
      cdiscflow validate out/sdtm --study dara_atra --out out/validation
      cdiscflow validate third_party/xpt --no-data-docs --fail-on warning
      cdiscflow validate --list-rules
    """
    from cdiscflow.core.errors import FindingsError
    from cdiscflow.usecases import validate_folder
    from cdiscflow.validation.api import report_text

    report = validate_folder(directory, study, out_dir=out_dir, fail_on=fail_on, data_docs=data_docs,
                             data_docs_engine=data_docs_engine)
    click.echo(report_text(report))
    if exit_code_for(report.result.findings, fail_on):
        raise FindingsError(f"{report.failing} findings at or above '{fail_on}' (see "
                            f"{Path(report.out_dir) / 'findings.csv'})")
