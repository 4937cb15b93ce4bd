"""`cdiscflow spec import` / `spec export`: study metadata in and out of define.xml and spec workbooks.

    import_spec([define.xml | workbook.xlsx, ...], out)  ->  a metadata-only spec folder (study.yaml + CSV tables),
                                                            written atomically, then loaded to report its problems
    export_workbook(spec, file.xlsx)                      ->  the Pinnacle 21 / metacore workbook layout
    (define.xml 2.1 from the spec alone: `usecases.export_spec_define`, it needs the export layer)

Several sources make one spec (an SDTM and an ADaM define.xml): their tables are joined; a codelist, method or
comment both define under one id with different content keeps its id in the first and gets a suffix in the next.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from cdiscflow.core.atomic import write_bytes
from cdiscflow.core.errors import InputError, SpecError
from cdiscflow.specs.tables import SpecTables, metadata_tables, write_spec_folder

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")


@dataclass
class ImportResult:
    path: Path
    tables: SpecTables
    problems: list[str] = field(default_factory=list)  # what `check-spec` says about the new spec

    @property
    def notes(self) -> list[str]:
        return self.tables.notes


def read_tables(source: str | Path, *, ig_version: str = "") -> SpecTables:
    """The metadata tables of one define.xml or spec workbook (by its suffix)."""
    source = Path(source)
    if not source.is_file():
        raise InputError(f"{source}: no such file")
    suffix = source.suffix.lower()
    if suffix in WORKBOOK_SUFFIXES:
        from cdiscflow.specs.workbook import read_workbook_tables

        return read_workbook_tables(source, ig_version=ig_version)
    if suffix == ".xml":
        from cdiscflow.specs.define_xml import read_define_tables

        tables = read_define_tables(source)
        if ig_version:
            _fill_ig_versions(tables, ig_version)
        return tables
    raise InputError(f"{source}: give a define.xml (.xml) or a spec workbook (.xlsx)")


def _fill_ig_versions(tables: SpecTables, version: str) -> None:
    standards = tables.study.setdefault("standards", {})
    for std, key in (("SDTM", "SDTMIG"), ("ADaM", "ADaMIG")):
        if any(d["standard"] == std for d in tables.datasets) and not standards.get(key):
            standards[key] = version


def import_tables(sources: Iterable[str | Path], *, ig_version: str = "") -> SpecTables:
    parts = [read_tables(s, ig_version=ig_version) for s in sources]
    if not parts:
        raise InputError("give at least one define.xml or spec workbook to import")
    merged = parts[0]
    for other in parts[1:]:
        merged = merge_tables(merged, other)
    return merged


def import_spec(sources: Iterable[str | Path], out: str | Path, *, force: bool = False,
                ig_version: str = "") -> ImportResult:
    """Import define.xml files and/or spec workbooks into a new metadata-only spec folder `out`."""
    from cdiscflow.specs.load import load_study

    from cdiscflow.core.outputs import check_output

    sources = [Path(s) for s in sources]
    check_output(out, [("source file", s) for s in sources])
    tables = import_tables(sources, ig_version=ig_version)
    path = write_spec_folder(tables, out, force=force)
    problems: list[str] = []
    try:
        load_study(path)
    except SpecError as exc:
        problems = exc.problems
    return ImportResult(path, tables, problems)


# ----------------------------------------------------------------------------------------------------------------
# joining several sources


def merge_tables(a: SpecTables, b: SpecTables) -> SpecTables:
    """One spec from two sources: datasets must not repeat; shared codelists, methods, comments and documents
    must agree (else the second gets a renamed copy, noted)."""
    out = SpecTables(study=dict(a.study), notes=[*a.notes, *b.notes], source=f"{a.source} and {b.source}")
    twice = sorted({d["dataset"] for d in a.datasets} & {d["dataset"] for d in b.datasets})
    if twice:
        raise InputError(f"dataset(s) {', '.join(twice)} are in both {a.source} and {b.source}: import them separately")
    standards = dict(a.study.get("standards") or {})
    for key, value in (b.study.get("standards") or {}).items():
        if key == "ct":
            standards["ct"] = {**(value or {}), **(standards.get("ct") or {})}
        else:
            standards.setdefault(key, value)
    out.study["standards"] = standards
    for key, value in b.study.items():
        out.study.setdefault(key, value)
    b = _rename_conflicts(a, b, out.notes)
    out.datasets = a.datasets + b.datasets
    out.variables = a.variables + b.variables
    out.valuelevel = a.valuelevel + b.valuelevel
    out.codelists = a.codelists + [r for r in b.codelists if r["codelist"] not in {x["codelist"] for x in a.codelists}]
    for name, key in (("methods", "method"), ("comments", "comment"), ("documents", "document"),
                      ("analysis_displays", "display")):
        have = {r[key] for r in a.table(name)}
        setattr(out, name, a.table(name) + [r for r in b.table(name) if r[key] not in have])
    out.analysis_results = a.analysis_results + b.analysis_results
    return out


def _rename_conflicts(a: SpecTables, b: SpecTables, notes: list[str]) -> SpecTables:
    b = b.normalised()

    def groups(rows, key):
        out: dict[str, list] = {}
        for r in rows:
            out.setdefault(r[key], []).append(r)
        return out

    renames: dict[str, dict[str, str]] = {"codelist": {}, "method": {}, "comment": {}, "document": {}}
    for table, key in (("codelists", "codelist"), ("methods", "method"), ("comments", "comment"),
                       ("documents", "document")):
        mine, theirs = groups(a.normalised().table(table), key), groups(b.table(table), key)
        for ident, rows in theirs.items():
            if ident in mine and mine[ident] != rows:
                new = ident + "_2"
                while new in mine or new in theirs:
                    new += "_2"
                renames[key][ident] = new
                notes.append(f"{key} {ident} differs between {a.source} and {b.source}: the second is {new}")
    for table, key in (("codelists", "codelist"), ("methods", "method"), ("comments", "comment"),
                       ("documents", "document")):
        for r in b.table(table):
            r[key] = renames[key].get(r[key], r[key])
    for r in (*b.variables, *b.valuelevel):
        r["codelist"] = renames["codelist"].get(r["codelist"], r["codelist"])
        r["method"] = renames["method"].get(r["method"], r["method"])
    for r in (*b.variables, *b.valuelevel, *b.datasets):
        r["comment"] = renames["comment"].get(r["comment"], r["comment"])
    for r in (*b.methods, *b.comments):
        r["document"] = renames["document"].get(r["document"], r["document"])
    return b


# ----------------------------------------------------------------------------------------------------------------
# export


def export_workbook(spec, out: str | Path) -> Path:
    """Write the spec's metadata as a spec workbook (.xlsx), atomically."""
    from cdiscflow.specs.workbook_writer import workbook_bytes

    from cdiscflow.core.outputs import check_output

    out = check_output(out, [("spec folder", spec.path)], is_file=True)
    write_bytes(out, workbook_bytes(metadata_tables(spec)))
    return out
