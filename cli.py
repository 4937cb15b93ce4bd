"""The `cdiscflow` command line.  Commands parse options and call library functions; nothing else lives here.

Exit codes (every command):
    0  success
    1  findings or rejections at or above the threshold
    2  unusable input or spec (missing/unreadable file, spec that contradicts itself)
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cdiscflow import __version__
from cdiscflow.core.errors import CdiscflowError

EXIT_CODES = """\b
Exit codes:
  0  success
  1  findings or rejections at or above the threshold
  2  unusable input or spec"""


class _Group(click.Group):
    """Turns cdiscflow's own errors into a clear message and the documented exit code (never a traceback)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CdiscflowError as exc:
            click.echo(f"cdiscflow: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=_Group, epilog=EXIT_CODES, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cdiscflow")
def main() -> None:
    """cdiscflow: raw clinical-trial records to validated CDISC SDTM and ADaM datasets.

    \b
    Quick start (embedded, synthetic DARA-ATRA study):
      cdiscflow run                 # raw -> SDTM -> ADaM -> validate -> export -> report into ./out
    """


@main.command("check-spec", epilog=EXIT_CODES)
@click.argument("study", required=False)
def check_spec(study: str | None) -> None:
    """Load a study spec folder and report every problem in it.

    \b
    Example:
      cdiscflow check-spec specs/dara_atra
    """
    from cdiscflow.specs.model import load_study

    spec = load_study(study)
    n_vars = sum(len(d.variables) for d in spec.datasets.values())
    click.echo(
        f"{spec.studyid}: {len(spec.datasets)} datasets, {n_vars} variables, {len(spec.codelists)} codelists, "
        f"{len(spec.forms)} raw forms, {len(spec.mappings)} SDTM mappings: OK"
    )


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
@click.option("--fail-on", type=click.Choice(["error", "warning"]), default="error", show_default=True,
              help="Exit 1 when there are findings of this severity or worse.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("validation"),
              show_default=True, help="Folder for findings.csv, findings.json, rules.csv and datadocs/.")
@click.option("--data-docs/--no-data-docs", default=True, show_default=True,
              help="Render great-expectations Data Docs (datadocs/index.html).")
@click.option("--list-rules", is_flag=True, is_eager=True, expose_value=False, callback=_list_rules,
              help="Print every schema check and conformance rule, then exit.")
def validate(directory: Path, study: str | None, fail_on: str, out_dir: Path, data_docs: bool) -> None:
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
    from cdiscflow.validation.api import report_text, validate_folder

    report = validate_folder(directory, study, out_dir=out_dir, fail_on=fail_on, data_docs=data_docs)
    click.echo(report_text(report))
    if report.exit_code:
        raise FindingsError(f"{report.failing} findings at or above '{fail_on}' (see {out_dir / 'findings.csv'})")


if __name__ == "__main__":  # pragma: no cover
    main()
