"""The whole-pipeline commands: `run` (raw -> ... -> report), `package` (the hand-off package of a run) and
`batch` (many raw exports, one summary)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cdiscflow.cli_commands.shared import (EXIT_CODES, data_docs_option, error_lines, fail_on_exit_option,
                                           fail_on_option, on_error_option, progress_mode_from_flags,
                                           quiet_option, study_option, verbose_option)
from cdiscflow.core.errors import exit_code_for


@click.command("run", epilog=EXIT_CODES)
@click.option("--raw", "raw_dir", type=click.Path(path_type=Path), default=None,
              help="Folder of the raw EDC export, or an ODM-XML file (or a folder holding one). Default: the "
                   "study's embedded export (raw/ in the spec folder).")
@study_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("out"),
              show_default=True, help="Output folder: sdtm/, adam/, validation/, report/, findings.*, run.json. Built "
                                      "beside it and swapped in whole at the end (Ctrl-C keeps the previous run).")
@on_error_option
@fail_on_option
@data_docs_option
@click.option("--core-report", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="A CDISC CORE report (JSON) on this study's SDTM: its issues join the 'Conformance issues' of "
                   "OUT/reviewers_guide.html, explained by specs/<study>/conformance.yaml.")
@quiet_option
@verbose_option
@click.option("--package", "package_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write the hand-off package (eCTD module 5 layout) into this folder after the run "
                   "(as `cdiscflow package --run OUT --out DIR`).")
@click.option("--partitions", default=None, metavar="N|auto",
              help="Split the subjects into N partitions by a stable hash of the subject key and map/derive each on "
                   "its own (auto: from the raw export's size and the memory available). Same bytes as a plain run "
                   "whatever N. Default: no partitions, unless --jobs or --scheduler ask for them (then auto).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Partitions run at the same time, each in a Dask worker process on this machine (needs "
                   "cdiscflow[scale]).")
@click.option("--scheduler", default=None, metavar="local|tcp://HOST:PORT",
              help="Where the partitions run: local (a Dask LocalCluster of --jobs processes) or the address of a "
                   "running Dask scheduler (workers need cdiscflow and read access to --raw).")
def run_command(raw_dir: Path | None, study: str | None, out_dir: Path, on_error: str, fail_on: str,
                data_docs: bool, core_report: Path | None, quiet: bool, verbose: bool,
                package_dir: Path | None, partitions: str | None, jobs: int, scheduler: str | None) -> None:
    """Run the main job: raw -> SDTM -> ADaM -> validate -> export -> report.

    With no options it converts the embedded, synthetic DARA-ATRA study into ./out/.  OUT/run.json records how
    the output was made (versions, spec, options, input checksums, timings, row counts).

    \b
    Examples:
      cdiscflow run
      cdiscflow run --raw export_2020_10/ --study specs/dara_atra --out out_2020_10
      cdiscflow run --raw export_2020_10/ --on-error reject -v    # keep the good records; show row counts
      cdiscflow run --raw big/ --partitions 8 --jobs 2            # 8 subject partitions, 2 worker processes
      cdiscflow run --raw big/ --partitions 16 --scheduler tcp://scheduler:8786
      cdiscflow run --package submission                            # and the eCTD hand-off package
    """
    from cdiscflow.core.errors import FindingsError
    from cdiscflow.core.terminal import RunProgress
    from cdiscflow.pipeline import STAGES, detail_tables, run, stage_entry

    mode = progress_mode_from_flags(quiet, verbose)
    if package_dir is not None:
        from cdiscflow.handoff import refuse_overlap

        refuse_overlap(out_dir, package_dir)  # before any work
    try:
        with RunProgress(mode, stages=STAGES, label="cdiscflow run") as progress:
            if partitions is None and jobs == 1 and scheduler is None:
                result = run(study, raw_dir, out_dir, on_error=on_error, fail_on=fail_on, data_docs=data_docs,
                             progress=progress, core_report=core_report)
            else:
                from cdiscflow.scale import run_partitioned

                result = run_partitioned(study, raw_dir, out_dir, partitions=_partition_count(partitions),
                                         jobs=jobs, scheduler=scheduler, on_error=on_error, fail_on=fail_on,
                                         data_docs=data_docs, progress=progress, core_report=core_report)
            if verbose:
                for table in detail_tables([stage_entry(s) for s in result.stages]):
                    progress.table(table)
    except FindingsError as exc:
        click.echo(error_lines(exc.findings), err=True)
        click.echo(f"all findings: {out_dir / 'findings.csv'}", err=True)
        raise
    click.echo(f"{result.spec.studyid}: {result.subjects} subjects, {result.dataset_count} datasets -> {out_dir}")
    click.echo(result.findings.summary())
    if result.rejected_rows:
        click.echo(f"{result.rejected_rows} raw row(s) rejected: see {out_dir / 'sdtm' / '_rejects.csv'}", err=True)
    code = exit_code_for(result.findings, fail_on, failures=result.rejected_rows)
    if package_dir is not None:
        code = max(code, _package(out_dir, package_dir, study=study, fail_on=fail_on))
    sys.exit(code)


def _package(run_dir: Path, out_dir: Path, *, study: str | None = None, dataset_json: bool = False,
             force: bool = False, fail_on: str = "error") -> int:
    from cdiscflow.handoff import FINDINGS, MANIFEST, make_package

    result = make_package(run_dir, out_dir, study=study, dataset_json=dataset_json, force=force)
    total = sum(result.files.values())
    click.echo(f"package: {len(result.files)} files, {total:,} bytes -> {out_dir} (checksums in "
               f"{out_dir / MANIFEST})")
    if result.findings:
        click.echo(f"package: {result.findings.summary()} (see {out_dir / FINDINGS})")
    return exit_code_for(result.findings, fail_on)


@click.command("package", epilog=EXIT_CODES)
@click.option("--run", "run_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The --out folder of a finished `cdiscflow run`.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Package folder (new or empty; outside the run folder).")
@click.option("--study", default=None, help="The spec folder the run used, when it has moved since the run "
                                            "(default: the one recorded in run.json).")
@click.option("--dataset-json", is_flag=True, help="Put the Dataset-JSON files beside the XPT files.")
@click.option("--force", is_flag=True, help="Replace an existing non-empty package folder (whole).")
@fail_on_exit_option
def package_command(run_dir: Path, out_dir: Path, study: str | None, dataset_json: bool, force: bool,
                    fail_on: str) -> None:
    """Lay a finished run out as an eCTD module 5 hand-off package, with a manifest of SHA-256 checksums.

    \b
    OUT/m5/datasets/<study>/tabulations/sdtm/        XPT, define.xml, define2-1.xsl, sdrg.html (draft SDRG)
    OUT/m5/datasets/<study>/analysis/adam/datasets/  XPT, define.xml (with Analysis Results Metadata), adrg.html
    OUT/m5/datasets/<study>/analysis/adam/results/   ard.csv, reporting_event.json (CDISC ARS 1.0)
    OUT/m5/datasets/<study>/analysis/adam/programs/  spec/, run.json, rerun.txt (version and command to rerun)
    OUT/manifest.csv, OUT/package_findings.csv       checksums; FDA file rules (lower-case names, split size)

    Exit 1 when a file breaks the FDA naming rules.  The package is written whole or not at all.

    \b
    Example:
      cdiscflow run --out out && cdiscflow package --run out --out submission --dataset-json
    """
    sys.exit(_package(run_dir, out_dir, study=study, dataset_json=dataset_json, force=force, fail_on=fail_on))


def _partition_count(value: str | None) -> int | str:
    if value is None or value == "auto":
        return "auto"
    try:
        count = int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither a whole number nor 'auto'", param_hint="--partitions") from None
    if count < 1:
        raise click.BadParameter("at least 1", param_hint="--partitions")
    return count


@click.command("batch", epilog=EXIT_CODES)
@click.argument("raw_dirs", nargs=-1, required=True, metavar="RAW_DIR...",
                type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder: one sub-folder per export, named after its folder (the layout of `cdiscflow "
                   "run`), plus batch_summary.csv and batch_summary.json.")
@study_option
@click.option("-j", "--jobs", type=click.IntRange(min=0), default=1, show_default=True,
              help="Exports converted at the same time, each in its own process; 0 = one per CPU.")
@on_error_option
@fail_on_option
@data_docs_option
@quiet_option
@verbose_option
@click.option("--scheduler", default=None, metavar="local|tcp://HOST:PORT",
              help="Run every export's subject partitions as tasks on one Dask cluster: local (a LocalCluster of "
                   "--jobs processes) or a running scheduler's address; --jobs exports are combined at a time.")
@click.option("--partitions", default=None, metavar="N|auto",
              help="Subject partitions per export with --scheduler (default auto).")
def batch_command(raw_dirs: tuple[Path, ...], out_dir: Path, study: str | None, jobs: int, on_error: str,
                  fail_on: str, data_docs: bool, quiet: bool, verbose: bool, scheduler: str | None,
                  partitions: str | None) -> None:
    """Convert many raw exports in parallel, with a summary.

    Each RAW_DIR is run through the whole job (as `cdiscflow run`) into OUT/<folder name>/; two exports with the
    same folder name get their parent's name in front (a/raw, b/raw -> a_raw, b_raw).  A failing export does not
    stop the others.  The summary (export, status, subjects, datasets, findings, seconds) is printed and written
    to OUT/batch_summary.csv and .json; the exit code is the worst of all exports (2 > 1 > 0; 130 on Ctrl-C).

    \b
    Examples:
      cdiscflow batch cuts/2020_06 cuts/2020_10 --out out --jobs 2
      cdiscflow batch exports/*/ --study specs/dara_atra --out out -j 0 --no-data-docs
    """
    from cdiscflow.batch import plan_jobs, run_batch, summary_table
    from cdiscflow.core.terminal import BatchProgress, print_table
    from cdiscflow.pipeline import STAGES, detail_tables

    if partitions is not None and scheduler is None:
        raise click.BadParameter("partitions run on a Dask cluster: give --scheduler too", param_hint="--partitions")
    mode = progress_mode_from_flags(quiet, verbose)
    names = [job.name for job in plan_jobs(raw_dirs, out_dir)]
    with BatchProgress(mode, exports=names, stages=STAGES) as display:
        def finished(outcome) -> None:
            display.finished(outcome.export, outcome.line(), outcome.ok)
            if verbose and outcome.stages:
                for table in detail_tables(outcome.stages):
                    table.title = f"{outcome.export}: {table.title}"
                    display.table(table)

        result = run_batch(raw_dirs, out_dir, study=study, jobs=jobs, on_error=on_error, fail_on=fail_on,
                           data_docs=data_docs, progress=display.progress, finished=finished,
                           scheduler=scheduler, partitions=_partition_count(partitions))
    print_table(summary_table(result))
    for outcome in result.outcomes:
        if outcome.message and not outcome.ok:
            click.echo(f"{outcome.export}: {outcome.message}")
    counts = ", ".join(f"{n} {status}" for status, n in result.counts().items())
    csv_path, _ = result.summary_paths
    click.echo(f"{len(result.outcomes)} exports in {result.seconds:.1f} s ({counts}); summary: {csv_path}")
    if result.interrupted:
        click.echo("cdiscflow: interrupted; exports not finished are marked 'not run'", err=True)
    sys.exit(result.exit_code)
