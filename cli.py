"""The `cdiscflow` command line.  Commands parse options and call library functions; nothing else lives here.

Exit codes (every command):
    0  success
    1  findings or rejections at or above the threshold
    2  unusable input or spec (missing/unreadable file, spec that contradicts itself, output folder not writable)
    3  internal error: a bug in cdiscflow (one line on stderr; CDISCFLOW_DEBUG=1 shows the traceback)
  130  interrupted (Ctrl-C)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from cdiscflow import __version__
from cdiscflow.core.atomic import staged_output
from cdiscflow.core.errors import EXIT_INTERNAL, EXIT_UNUSABLE, CdiscflowError, InputError, exit_code_for
from cdiscflow.core.outputs import check_output

EXIT_CODES = """\b
Exit codes:
  0  success
  1  findings or rejections at or above the threshold
  2  unusable input or spec
  3  internal error (a bug: please report it)
  130  interrupted (Ctrl-C): the output folder keeps its previous complete content"""


class _Group(click.Group):
    """Turns every error into a clear message and the documented exit code (never a traceback)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CdiscflowError as exc:
            click.echo(f"cdiscflow: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:  # Ctrl-C: the shell's 130, not click's "Aborted!" with 1 (= findings)
            click.echo("\ncdiscflow: interrupted", err=True)
            sys.exit(130)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except OSError as exc:  # the file system said no: a folder not writable, a disk full, a path that is a file
            where = f" {exc.filename}" if exc.filename else ""
            click.echo(f"cdiscflow: cannot read or write{where}: {exc.strerror or exc}", err=True)
            sys.exit(EXIT_UNUSABLE)
        except Exception as exc:
            if os.environ.get("CDISCFLOW_DEBUG"):
                raise
            click.echo(f"cdiscflow: internal error {type(exc).__name__}: {exc}\nThis is a bug in cdiscflow; please "
                       "report it with the command you ran (CDISCFLOW_DEBUG=1 shows the traceback).", err=True)
            sys.exit(EXIT_INTERNAL)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # in the order of a working day (run, batch, check-spec ...), not alphabetical


@click.group(cls=_Group, epilog=EXIT_CODES,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="cdiscflow")
def main() -> None:
    """cdiscflow: raw clinical-trial records to validated CDISC SDTM and ADaM datasets.

    \b
    Quick start (embedded, synthetic DARA-ATRA study):
      cdiscflow run                 # raw -> SDTM -> ADaM -> validate -> export -> report into ./out
    \b
    Everyday work:
      cdiscflow check-spec specs/my_study                         # is the spec usable?
      cdiscflow run --raw export/ --study specs/my_study --out out
      cdiscflow batch cuts/2020_06 cuts/2020_10 --out out -j 2    # many exports, one summary
      cdiscflow validate out/sdtm --study specs/my_study          # in CI: exit 1 on errors

    Every command explains itself: cdiscflow COMMAND --help.  Progress is live on a terminal and plain lines
    when output is captured or CI is set.
    """


# Options shared by `run` and `batch`.
_on_error_option = click.option(
    "--on-error", type=click.Choice(["strict", "reject"]), default="strict", show_default=True,
    help="strict: a raw-data error stops the run before anything is written. reject: write the good records, log "
         "rejected raw rows in sdtm/_rejects.csv (exit 1).")
_fail_on_option = click.option(
    "--fail-on", type=click.Choice(["error", "warning"]), default="error", show_default=True,
    help="Validation findings at or above this severity block the export and give exit 1.")
# Every other command that produces findings: the threshold only decides the exit code (cdiscflow.core.errors.
# exit_code_for is the one policy; the command's files are written either way).
_fail_on_exit_option = click.option(
    "--fail-on", type=click.Choice(["error", "warning"]), default="error", show_default=True,
    help="Exit 1 when there are findings of this severity or worse.")
_data_docs_option = click.option(
    "--data-docs/--no-data-docs", default=True, show_default=True,
    help="Render great-expectations Data Docs into validation/datadocs/.")
_quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress; print only the final summary.")
_verbose_option = click.option("-v", "--verbose", is_flag=True,
                               help="Also print stage timings and row counts per raw form and per dataset.")


def _progress_mode(quiet: bool, verbose: bool) -> str:
    from cdiscflow.core.terminal import progress_mode

    if quiet and verbose:
        raise click.UsageError("--quiet and --verbose exclude each other")
    return progress_mode(quiet=quiet)


@main.command("run", epilog=EXIT_CODES)
@click.option("--raw", "raw_dir", type=click.Path(path_type=Path), default=None,
              help="Folder of the raw EDC export, or an ODM-XML file (or a folder holding one). Default: the "
                   "study's embedded export (raw/ in the spec folder).")
@click.option("--study", default=None, help="Study spec folder or embedded study name (default: dara_atra).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("out"),
              show_default=True, help="Output folder: sdtm/, adam/, validation/, report/, findings.*, run.json. Built "
                                      "beside it and swapped in whole at the end (Ctrl-C keeps the previous run).")
@_on_error_option
@_fail_on_option
@_data_docs_option
@click.option("--core-report", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="A CDISC CORE report (JSON) on this study's SDTM: its issues join the 'Conformance issues' of "
                   "OUT/reviewers_guide.html, explained by specs/<study>/conformance.yaml.")
@_quiet_option
@_verbose_option
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

    mode = _progress_mode(quiet, verbose)
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
        click.echo(_error_lines(exc.findings), err=True)
        click.echo(f"all findings: {out_dir / 'findings.csv'}", err=True)
        raise
    click.echo(f"{result.spec.studyid}: {result.subjects} subjects, {len(result.datasets)} datasets -> {out_dir}")
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


@main.command("package", epilog=EXIT_CODES)
@click.option("--run", "run_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The --out folder of a finished `cdiscflow run`.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Package folder (new or empty; outside the run folder).")
@click.option("--study", default=None, help="The spec folder the run used, when it has moved since the run "
                                            "(default: the one recorded in run.json).")
@click.option("--dataset-json", is_flag=True, help="Put the Dataset-JSON files beside the XPT files.")
@click.option("--force", is_flag=True, help="Replace an existing non-empty package folder (whole).")
@_fail_on_exit_option
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


@main.command("batch", epilog=EXIT_CODES)
@click.argument("raw_dirs", nargs=-1, required=True, metavar="RAW_DIR...",
                type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder: one sub-folder per export, named after its folder (the layout of `cdiscflow "
                   "run`), plus batch_summary.csv and batch_summary.json.")
@click.option("--study", default=None, help="Study spec folder or embedded study name (default: dara_atra).")
@click.option("-j", "--jobs", type=click.IntRange(min=0), default=1, show_default=True,
              help="Exports converted at the same time, each in its own process; 0 = one per CPU.")
@_on_error_option
@_fail_on_option
@_data_docs_option
@_quiet_option
@_verbose_option
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
    mode = _progress_mode(quiet, verbose)
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


@main.command("check-spec", epilog=EXIT_CODES)
@click.argument("study", required=False)
def check_spec(study: str | None) -> None:
    """Load a study spec folder and report every problem in it.

    \b
    Example:
      cdiscflow check-spec specs/dara_atra
    """
    from cdiscflow.usecases import require_valid_spec

    spec = require_valid_spec(study)  # every problem of every file at once: file:line: key: message (hint)
    from cdiscflow.specs.report import load_report_spec

    report = load_report_spec(spec)
    n_vars = sum(len(d.variables) for d in spec.datasets.values())
    click.echo(
        f"{spec.studyid}: {len(spec.datasets)} datasets, {n_vars} variables, {len(spec.codelists)} codelists, "
        f"{len(spec.forms)} raw forms, {len(spec.mappings)} SDTM mappings: OK"
    )
    if report is not None:
        click.echo(f"report.yaml: {len(report.sections)} sections, {len(report.populations)} populations: OK")
    from cdiscflow.validation.reviewers_guide import load_explanations

    explanations = load_explanations(spec.path)  # conformance.yaml: the reviewer's guide explanations
    if explanations:
        click.echo(f"conformance.yaml: {len(explanations)} explained rules: OK")
    from cdiscflow.sdtm.draft import spec_todos

    todos = spec_todos(spec.path)
    if todos:
        click.echo(f"{len(todos)} TODO(s) left in the spec (drafted by `cdiscflow init`, or noted by hand):")
        for line in todos:
            click.echo(f"  {line}")


@main.command("init", epilog=EXIT_CODES)
@click.option("--raw", "raw", required=True, type=click.Path(exists=True, path_type=Path),
              help="The raw export: a folder of CSV/Parquet/XPT/SAS (.sas7bdat) form files, or an ODM-XML file "
                   "(or a folder holding one).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The new spec folder (written whole or not at all).")
@click.option("--standard", type=click.Choice(["sdtmig-3.4"]), default="sdtmig-3.4", show_default=True,
              help="The SDTM implementation guide the mappings target.")
@click.option("--studyid", default="", help="STUDYID (default: the ODM Study OID, or the export folder's name).")
@click.option("--force", is_flag=True, help="Replace an existing non-empty --out folder.")
def init_command(raw: Path, out_dir: Path, standard: str, studyid: str, force: bool) -> None:
    """Draft a study spec from a raw export: forms.yaml, study.yaml, SDTM mappings with evidence, TODOs.

    Each raw field gets the SDTM variable it most likely feeds (by name, label, SDTMIG variable labels and
    CDISC CT terms), with its evidence and confidence in a comment and in proposals.csv; what is not mapped is
    a TODO that check-spec lists.

    \b
    Example:
      cdiscflow init --raw export.xml --out specs/my_study
      cdiscflow check-spec specs/my_study
      cdiscflow sdtm --raw export.xml --study specs/my_study --out out/sdtm
    """
    from cdiscflow.sdtm.draft import draft_spec

    check_output(out_dir, [("raw export", raw)])
    result = draft_spec(raw, out_dir, standard=standard, force=force, studyid=studyid)
    mapped = [p for p in result.proposals if p.status == "proposed"]
    forms = {f: d for f, d in result.forms.items() if d}
    click.echo(f"{len(result.forms)} forms ({len(forms)} mapped: "
               + ", ".join(f"{f} -> {d}" for f, d in forms.items()) + f"), {len(mapped)} variables proposed, "
               f"{len(result.todos)} TODO(s) -> {out_dir}")
    click.echo(f"next: cdiscflow check-spec {out_dir}")


@main.command("sdtm", epilog=EXIT_CODES)
@click.option("--raw", "raw_dir", type=click.Path(path_type=Path), default=None,
              help="Folder of the raw EDC export (one file per form of forms.yaml), or an ODM-XML file (or a "
                   "folder holding one). Default: the study's raw/.")
@click.option("--study", default=None, help="Study spec folder or embedded study name (default: dara_atra).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("out/sdtm"),
              show_default=True, help="Output folder for dm.xpt ..., _rejects.csv, _accounting.csv, _findings.*")
@click.option("--on-error", type=click.Choice(["strict", "reject"]), default="strict", show_default=True,
              help="strict: any error stops the run and nothing is written. reject: write the good records and "
                   "log the rejected raw rows with their reasons in _rejects.csv.")
@_fail_on_exit_option
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
        click.echo(_error_lines(exc.findings), err=True)
        raise
    n = sum(len(d) for d in result.datasets.values())
    click.echo(f"{len(result.datasets)} datasets, {n} records -> {out_dir}")
    click.echo(result.findings.summary())
    if len(result.rejects):
        click.echo(f"{len(result.rejects)} raw row(s) rejected: see {out_dir / '_rejects.csv'}", err=True)
    sys.exit(exit_code_for(result.findings, fail_on, failures=len(result.rejects)))


@main.command("adam", epilog=EXIT_CODES)
@click.option("--sdtm", "sdtm_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of SDTM datasets (.xpt or Dataset-JSON), e.g. the output of `cdiscflow sdtm`.")
@click.option("--study", default=None, help="Study spec folder or embedded study name (default: dara_atra).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("out/adam"),
              show_default=True, help="Output folder for adsl.xpt, adsl.json ..., define.xml, _findings.csv/.json")
@_fail_on_exit_option
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

    result = derive_adam_folder(study, sdtm_dir, out_dir)
    for name, frame in result.datasets.items():
        click.echo(f"{name:<7} {len(frame):>8} records  {result.timings.get(name, 0.0):6.2f} s")
    t = result.timings
    click.echo(f"{len(result.datasets)} datasets -> {out_dir} (read {t['read']:.1f} s, derived {t['total']:.1f} s, "
               f"written {t['write']:.1f} s)")
    click.echo(result.findings.summary())
    sys.exit(exit_code_for(result.findings, fail_on))


@main.command("report", epilog=EXIT_CODES)
@click.option("--adam", "adam_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of ADaM datasets (.xpt or Dataset-JSON), e.g. the output of `cdiscflow adam`.")
@click.option("--study", default=None, help="Study spec folder or embedded study name (default: dara_atra).")
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


@main.command("compare", epilog=EXIT_CODES)
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


ERROR_LINES = 20  # errors printed one per line; the rest are summarised per rule (all are in the findings files)


def _error_lines(findings, limit: int = ERROR_LINES) -> str:
    """The errors that stopped a command, one line each up to `limit`, then one summary line per rule (an empty
    enrolment form makes every record of every other form an error: thousands of lines otherwise)."""
    frame = findings.frame()
    frame = frame[frame["severity"] == "error"]
    lines = [f"{r.rule_id} {r.source or r.dataset} row {'' if r.row is None else r.row} {r.variable} "
             f"[{r.subject}] {r.value!r}: {r.message}" for r in frame.head(limit).itertuples(index=False)]
    rest = frame.iloc[limit:]
    if len(rest):
        where = rest["source"].where(rest["source"] != "", rest["dataset"])
        by_rule = where.groupby(rest["rule_id"], sort=False).agg(["size", "nunique"])
        lines.append(f"... and {len(rest)} more error(s): " + "; ".join(
            f"{rule} {n} in {k} file(s)" for rule, (n, k) in by_rule.iterrows()))
    return "\n".join(lines)


@main.command("export", epilog=EXIT_CODES)
@click.option("--in", "in_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of SDTM/ADaM datasets (.xpt or Dataset-JSON .json).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder; gets sdtm/ and adam/ subfolders.")
@click.option("--study", default=None, help="Study spec folder or embedded study name (default: dara_atra).")
@click.option("--format", "formats", multiple=True, type=click.Choice(["xpt", "json"]),
              help="Formats to write (repeatable; default: both).")
@_fail_on_exit_option
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


@main.command("convert", epilog=EXIT_CODES)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out", default=None, type=click.Path(path_type=Path),
              help="Output file or folder (default: next to FILE with the other suffix).")
@click.option("--define", "define", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="define.xml with the column metadata (default: define.xml beside FILE, if any).")
@_fail_on_exit_option
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


@main.command("simulate", epilog=EXIT_CODES)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the raw export into (created if needed).")
@click.option("--seed", type=int, default=None, show_default="20161", help="Random seed; same seed, same bytes.")
@click.option("--subjects", type=click.IntRange(min=1), default=None,
              help="Number of subjects (default: the 63 patients of the trial; more tiles the calibrated design).")
@click.option("--format", "fmt", type=click.Choice(["csv", "odm"]), default="csv", show_default=True,
              help="csv: one CSV per form; odm: one CDISC ODM-XML 1.3.2 file with the forms' metadata "
                   "(OUT/dara_atra.xml; read it back with --raw OUT).")
def simulate_cmd(out_dir: Path, seed: int | None, subjects: int | None, fmt: str) -> None:
    """Write the SYNTHETIC DARA-ATRA raw EDC export: one CSV per form of forms.yaml, data_dictionary.csv, README.txt
    (or, with --format odm, one ODM-XML file).

    The default export (63 subjects) reproduces the paper's published counts and Kaplan-Meier medians from the raw
    records.  The data are simulated: never present them as trial data.

    \b
    Examples:
      cdiscflow simulate --out raw/                      # the 63-patient trial
      cdiscflow simulate --subjects 100000 --out big/    # the same design tiled to 100,000 subjects
      cdiscflow simulate --format odm --out odm/         # odm/dara_atra.xml, ODM-XML 1.3.2
    """
    from cdiscflow.studies.dara_atra.simulate import DEFAULT_SEED, simulate

    result = simulate(out_dir, seed=DEFAULT_SEED if seed is None else seed, subjects=subjects, format=fmt)
    total = sum(result.rows.values())
    click.echo(f"{result.subjects} synthetic subjects, {len(result.rows)} forms, {total} records -> {result.out_dir}")

def _list_rules(ctx: click.Context, _param, value: bool) -> None:
    if value:
        from cdiscflow.validation.api import catalogue_text

        click.echo(catalogue_text())
        ctx.exit(0)


@main.command("validate", epilog=EXIT_CODES)
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--study", metavar="DIR|NAME",
              help="Study spec folder or embedded study name; without it the SDTMIG 3.4 / ADaMIG 1.3 metadata and "
                   "CDISC CT are used.")
@_fail_on_exit_option
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


@main.group("spec", cls=_Group, epilog=EXIT_CODES)
def spec_group() -> None:
    """Study metadata in and out: import a define.xml or spec workbook as a spec, export a spec.

    \b
    Examples:
      cdiscflow spec import define.xml --out specs/my_study
      cdiscflow spec import sdtm/define.xml adam/define.xml --out specs/my_study
      cdiscflow spec import study_spec.xlsx --out specs/my_study --ig-version 1.1
      cdiscflow spec export specs/my_study --format xlsx --out my_study_spec.xlsx
      cdiscflow spec export specs/my_study --format define --standard ADaM --out adam/define.xml
    """


@spec_group.command("schema", epilog=EXIT_CODES)
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the schema to this file (default: print it).")
def spec_schema(out_file: Path | None) -> None:
    """The JSON Schema of the spec files, generated from the typed model (specs/typed.py), for editors.

    \b
    Example:
      cdiscflow spec schema --out spec.schema.json
    """
    from cdiscflow.core.atomic import atomic_write
    from cdiscflow.specs.typed_reference import schema_text

    text = schema_text()
    if out_file is None:
        click.echo(text, nl=False)
    else:
        with atomic_write(out_file) as fh:
            fh.write(text.encode("utf-8"))
        click.echo(f"JSON Schema of the spec files -> {out_file}")


@spec_group.command("import", epilog=EXIT_CODES)
@click.argument("sources", nargs=-1, required=True, metavar="FILE...",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="New spec folder (must not exist or be empty, unless --force).")
@click.option("--force", is_flag=True, help="Replace a non-empty --out folder as a whole.")
@click.option("--ig-version", default="", metavar="VERSION",
              help="SDTMIG/ADaMIG version when the source names none (older spec workbooks).")
def spec_import(sources: tuple[Path, ...], out_dir: Path, force: bool, ig_version: str) -> None:
    """Read define.xml files (Define-XML 2.1, 2.0 or 1.0) and/or spec workbooks (.xlsx, Pinnacle 21 / metacore
    layout) into a new, metadata-only spec folder: study.yaml, datasets.csv, variables.csv, valuelevel.csv,
    codelists.csv, methods.csv, comments.csv, documents.csv.

    The folder is written whole or not at all.  What the spec cannot hold is listed in OUT/import_notes.txt.
    Exit 1 when `check-spec` would report problems in the new spec (they are listed).
    """
    from cdiscflow.core.errors import FindingsError
    from cdiscflow.specs.spec_io import import_spec

    result = import_spec(sources, out_dir, force=force, ig_version=ig_version)
    t = result.tables
    click.echo(f"{result.path}: {len(t.datasets)} datasets, {len(t.variables)} variables, {len(t.valuelevel)} "
               f"value-level rows, {len({r['codelist'] for r in t.codelists})} codelists, {len(t.methods)} methods, "
               f"{len(t.comments)} comments, {len(t.documents)} documents (from {t.source})")
    if result.notes:
        click.echo(f"{len(result.notes)} note(s) in {result.path / 'import_notes.txt'}:")
        for note in result.notes[:10]:
            click.echo(f"  - {note}")
        if len(result.notes) > 10:
            click.echo(f"  ... and {len(result.notes) - 10} more")
    if exit_code_for(failures=len(result.problems)):
        click.echo("\n".join(f"  - {p}" for p in result.problems), err=True)
        raise FindingsError(f"{len(result.problems)} problem(s) in the imported spec: fix them in {result.path} "
                            "(cdiscflow check-spec lists them again)")


@spec_group.command("export", epilog=EXIT_CODES)
@click.argument("study")
@click.option("--format", "fmt", required=True, type=click.Choice(["xlsx", "define"]),
              help="xlsx: a spec workbook; define: define.xml 2.1 from the spec alone.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (define: CDISC's define2-1.xsl is written beside it).")
@click.option("--standard", type=click.Choice(["SDTM", "ADaM"]), default=None,
              help="Which define.xml, when the spec has SDTM and ADaM datasets.")
def spec_export(study: str, fmt: str, out: Path, standard: str | None) -> None:
    """Write a spec's metadata as a spec workbook or as define.xml 2.1 (checked against the Define-XML 2.1 XSD).

    Without data, define.xml takes lengths from the spec: a character variable without a length in
    variables.csv gets no Length attribute (they are listed; `cdiscflow export` sets them from the data).
    """
    from cdiscflow.specs.load import load_study
    from cdiscflow.specs.spec_io import export_workbook
    from cdiscflow.usecases import export_spec_define

    spec = load_study(study)
    if fmt == "xlsx":
        path = export_workbook(spec, out)
        n = sum(len(d.variables) for d in spec.datasets.values())
        click.echo(f"{path}: {len(spec.datasets)} datasets, {n} variables, {len(spec.codelists)} codelists")
        return
    result = export_spec_define(spec, out, standard)
    click.echo(f"{result.path}: define.xml 2.1 ({result.standard}), {result.variables} variables, valid against "
               "the Define-XML 2.1 schema")
    if result.without_length:
        shown = ", ".join(result.without_length[:8]) + (" ..." if len(result.without_length) > 8 else "")
        click.echo(f"{len(result.without_length)} character variable(s) have no length in the spec and no Length "
                   f"in define.xml: {shown}")


if __name__ == "__main__":  # pragma: no cover
    main()
