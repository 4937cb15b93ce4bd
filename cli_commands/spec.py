"""The spec commands: `check-spec` (is a study spec usable?), `init` (a first spec from a raw export) and the
`spec` group (schema, import from define.xml or a workbook, export)."""

from __future__ import annotations

from pathlib import Path

import click

from cdiscflow.cli_commands.shared import EXIT_CODES, CommandGroup
from cdiscflow.core.errors import exit_code_for
from cdiscflow.core.outputs import check_output


@click.command("check-spec", epilog=EXIT_CODES)
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


@click.command("init", epilog=EXIT_CODES)
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


@click.group("spec", cls=CommandGroup, epilog=EXIT_CODES)
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
