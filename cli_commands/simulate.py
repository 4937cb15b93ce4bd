"""`simulate`: the study-specific test-data generator (the synthetic DARA-ATRA raw export), not part of the
generic library."""

from __future__ import annotations

from pathlib import Path

import click

from cdiscflow.cli_commands.shared import EXIT_CODES


@click.command("simulate", epilog=EXIT_CODES)
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
