"""The project's derived copies of the CDISC standards (specs/standards/): implementation-guide variables and CDISC
controlled terminology, read once and cached; a spec's blank cells of standard variables are filled from them."""

from __future__ import annotations

import csv
import gzip
import re
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Mapping

from cdiscflow.specs.model import STANDARDS_DIR


@lru_cache(maxsize=None)
def _ig_variables() -> Mapping[tuple[str, str, str], Mapping[str, str]]:
    """(standard, dataset-or-structure, variable) -> label/core/role; '*' entries for variables valid anywhere."""
    out: dict[tuple[str, str, str], dict[str, str]] = {}
    with open(STANDARDS_DIR / "sdtmig-3.4.variables.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            out[("SDTM", r["dataset"], r["variable"])] = {"label": r["label"], "core": r["core"], "role": r["role"]}
    with open(STANDARDS_DIR / "adamig-1.3.variables.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if r["variable"] != r["variable"].upper() or "*" in r["variable"]:
                continue  # placeholders such as TRTxxP or *FL are not real names
            out.setdefault(("ADaM", "*", r["variable"]), {"label": r["label"], "core": r["core"], "role": ""})
    return MappingProxyType(out)


def _ig_dataset(name: str, standard: str) -> str:
    if standard == "SDTM" and name.startswith("SUPP"):
        return "SUPPQUAL"
    return name if standard == "SDTM" else "*"


@lru_cache(maxsize=None)
def _cdisc_ct() -> Mapping[str, dict]:
    """Codelist C-code -> {name, extensible, terms: value -> {code, decode}} from the project's CT copies."""
    out: dict[str, dict] = {}
    rows: list[dict] = []
    for f in (STANDARDS_DIR / "ct-sdtm-2025-03-28.csv.gz", STANDARDS_DIR / "ct-adam-2025-09-26.csv",
              STANDARDS_DIR / "ct-define-xml-2025-09-26.csv"):
        opener = gzip.open if f.suffix == ".gz" else open
        with opener(f, "rt", encoding="utf-8") as fh:
            rows.extend(csv.DictReader(fh))
    for r in rows:  # codelist header rows have no parent codelist code
        if not r["Codelist Code"]:
            out.setdefault(r["Code"], {"name": r["Codelist Name"], "terms": {},
                                       "extensible": r["Codelist Extensible (Yes/No)"] == "Yes"})
    for r in rows:
        parent = out.get(r["Codelist Code"])
        if parent is not None:
            parent["terms"].setdefault(r["CDISC Submission Value"], {"code": r["Code"], "decode": r["NCI Preferred Term"]})
    return MappingProxyType(out)


def pattern_problem(pattern: Any) -> str | None:
    """Why a value-extracting regular expression cannot be used, or None: it must compile and keep its part in the
    named group `value`; other groups must be named or non-capturing (?:...) (Arrow runs it, in C++)."""
    try:
        rx = re.compile(str(pattern))
    except re.error as exc:
        return f"pattern {pattern!r} is not a regular expression ({exc})"
    if "value" not in rx.groupindex:
        return f"pattern {pattern!r} needs a named group (?P<value>...) for the part to keep"
    if rx.groups != len(rx.groupindex):
        return f"pattern {pattern!r}: write groups you do not keep as (?:...)"
    return None


def cdisc_codelist(code: str) -> Mapping[str, Any] | None:
    """The CDISC CT codelist with this C-code from the project's copy (name, extensible, terms), or None."""
    return _cdisc_ct().get(code)


def ig_variable(standard: str, dataset: str, variable: str) -> Mapping[str, str] | None:
    ig = _ig_variables()
    return ig.get((standard, _ig_dataset(dataset, standard), variable)) or ig.get((standard, "*", variable))
