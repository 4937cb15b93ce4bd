"""Cross-references of the ADaM and report spec files the loaders cannot check alone (used by `specs.check`).

* every expression (filter, condition, population, where, unless, expr, the conditions of `cases`) calls no
  codelist() (the study's codelists are looked up in SDTM conditions only) and names only
  variables the study knows: a variable of variables.csv or of the implementation guides, the date a --DTC gives
  (DSSTDTC -> DSSTDT, DSSTDTM), a SUPP-- qualifier of valuelevel.csv, or a variable the ADaM files themselves
  derive (new_vars, derive, dates, flags, parameters ...);
* every `dataset:` an ADaM rule reads is a dataset of the study (or EXPOSURE, the dose records adsl.yaml prepares;
  for an ADaM-only spec, any SDTMIG domain).
"""

from __future__ import annotations

import csv
import difflib
from functools import lru_cache
from typing import Any, Iterator

from cdiscflow.specs.model import NAME_RE, STANDARDS_DIR

EXPRESSION_KEYS = {"filter", "condition", "population", "where", "unless", "expr"}
ENGINE_VARIABLES = {"STARTDT", "ADT", "ADTM", "AVAL", "AVALC", "AVISIT", "AVISITN", "PARAMCD", "PARAM", "PARAMN",
                    "CNSR", "ASEQ", "APERIOD", "APERIODC", "APERSDT", "APEREDT", "TRTP", "TRTA", "ANL01FL"}


def expression_problems(spec, docs: dict[str, Any]) -> list[tuple[str, tuple, str, str]]:
    """(file, key path, message, hint) for every unknown variable or dataset an ADaM or report file names."""
    has_adam = bool(spec.standard("ADaM"))  # without ADaM datasets no recipe reads adam/*.yaml
    files = {f: d for f, d in docs.items()
             if ((f.startswith("adam/") and has_adam) or f == "report.yaml") and d is not None}
    if not files:
        return []
    known = _known_variables(spec, files)
    datasets = _known_datasets(spec)
    out = []
    for file, doc in files.items():
        for path, key, value in _walk(doc):
            if key == "dataset" and file.startswith("adam/") and isinstance(value, str):
                if value.upper() not in datasets:
                    close = difflib.get_close_matches(value.upper(), sorted(datasets), n=1)
                    out.append((file, path, f"reads dataset {value!r}, which the study does not declare",
                                f"did you mean {close[0]}?" if close else "declare it in datasets.csv"))
                continue
            if not isinstance(value, str) or not _is_expression_place(file, path, key):
                continue
            if "codelist(" in value and _codelists(value):
                out.append((file, path, f"expression {value!r} calls codelist(), which only SDTM where/when offer",
                            "compare the submission values directly, e.g. AVALC in ('CR', 'PR')"))
            for name in _names(value):
                if name not in known:
                    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
                    out.append((file, path, f"expression {value!r} names {name}, which is no variable of the study",
                                f"did you mean {close[0]}?" if close else "declare it in variables.csv or derive it"))
    return out


def _is_expression_place(file: str, path: tuple, key: Any) -> bool:
    if file == "report.yaml":  # there `population` names a population of the report
        return key == "where"
    if key in EXPRESSION_KEYS:
        return True
    return len(path) >= 2 and path[-2] == "cases"  # cases: {value: condition}


def _names(source: str) -> tuple[str, ...]:
    from cdiscflow.core.expr import ExpressionError, names

    try:
        return names(source)
    except ExpressionError:
        return ()  # reported by the loader that parses it


def _codelists(source: str) -> tuple[str, ...]:
    from cdiscflow.core.expr import ExpressionError, codelists_named

    try:
        return codelists_named(source)
    except ExpressionError:
        return ()


def _walk(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield (*path, k), k, v
            yield from _walk(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, (*path, i))


def _known_variables(spec, files: dict[str, Any]) -> set[str]:
    known = set(ENGINE_VARIABLES) | _standard_variables()
    for d in spec.datasets.values():
        known.update(d.names)
    known |= {w.values[0] for vl in spec.valuelevel for w in vl.where
              if w.variable == "QNAM" and w.comparator == "EQ" and w.values}
    for file, doc in files.items():  # whatever the ADaM files derive or name as a plain value
        for _, key, value in _walk(doc):
            for text in (key, value):
                if isinstance(text, str) and NAME_RE.match(text):
                    known.add(text)
    for p in spec.section("adam/adsl", {}).get("periods", ()) or ():
        n = p.get("period") if hasattr(p, "get") else None
        if isinstance(n, int):
            known |= {f"AP{n:02d}SDT", f"AP{n:02d}EDT", f"TRT{n:02d}P", f"TRT{n:02d}A"}
    return known | {v for name in list(known) for v in _date_forms(name)}


def _date_forms(name: str) -> tuple[str, ...]:
    if name.endswith("DTC"):
        stem = name[:-3]
        return (f"{stem}DT", f"{stem}DTM", f"{stem}TM", f"{stem}DTF", f"{stem}TMF")
    return ()


def _known_datasets(spec) -> set[str]:
    names = set(spec.datasets) | {"EXPOSURE"}
    if not spec.standard("SDTM"):  # an ADaM-only spec reads the SDTM of a folder: any SDTMIG domain
        names |= _standard_datasets()
    return names


@lru_cache(maxsize=None)
def _standard_variables() -> frozenset[str]:
    out = set()
    for f in ("sdtmig-3.4.variables.csv", "adamig-1.3.variables.csv"):
        with open(STANDARDS_DIR / f, encoding="utf-8") as fh:
            out |= {r["variable"] for r in csv.DictReader(fh) if NAME_RE.match(r["variable"] or "")}
    return frozenset(out)


@lru_cache(maxsize=None)
def _standard_datasets() -> frozenset[str]:
    with open(STANDARDS_DIR / "sdtmig-3.4.variables.csv", encoding="utf-8") as fh:
        return frozenset(r["dataset"] for r in csv.DictReader(fh) if NAME_RE.match(r["dataset"] or ""))
