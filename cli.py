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


@main.command("simulate", epilog=EXIT_CODES)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the raw export into (created if needed).")
@click.option("--seed", type=int, default=None, show_default="20161", help="Random seed; same seed, same bytes.")
@click.option("--subjects", type=click.IntRange(min=1), default=None,
              help="Number of subjects (default: the 63 patients of the trial; more tiles the calibrated design).")
@click.option("--study", default=None, help="Study folder or embedded study name (default: dara_atra).")
def simulate_cmd(out_dir: Path, seed: int | None, subjects: int | None, study: str | None) -> None:
    """Write the SYNTHETIC DARA-ATRA raw EDC export: one CSV per form of forms.yaml, data_dictionary.csv, README.txt.

    The default export (63 subjects) reproduces the paper's published counts and Kaplan-Meier medians from the raw
    records.  The data are simulated: never present them as trial data.

    \b
    Examples:
      cdiscflow simulate --out raw/                      # the 63-patient trial
      cdiscflow simulate --subjects 100000 --out big/    # the same design tiled to 100,000 subjects
    """
    from cdiscflow.simulate import DEFAULT_SEED, simulate

    result = simulate(out_dir, seed=DEFAULT_SEED if seed is None else seed, subjects=subjects, study=study)
    total = sum(result.rows.values())
    click.echo(f"{result.subjects} synthetic subjects, {len(result.rows)} forms, {total} records -> {result.out_dir}")


if __name__ == "__main__":  # pragma: no cover
    main()
