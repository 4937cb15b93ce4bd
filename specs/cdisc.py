"""The project's derived copies of the CDISC standards (specs/standards/): implementation-guide variables and CDISC
controlled terminology, read once and cached; a spec's blank cells of standard variables are filled from them."""

from __future__ import annotations

import csv
import re
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterator, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

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


# The project's CT copies, read in this order: a codelist or term in an earlier file wins.
CT_FILES = ("ct-sdtm-2025-03-28.csv.gz", "ct-adam-2025-09-26.csv", "ct-define-xml-2025-09-26.csv")
_CT_COLUMNS = ("Code", "Codelist Code", "Codelist Extensible (Yes/No)", "Codelist Name", "CDISC Submission Value",
               "NCI Preferred Term")


class _Terminology(Mapping[str, dict]):
    """Codelist C-code -> {name, extensible, terms: value -> {code, decode}}: the CT tables read once, a codelist's
    entry built when it is first asked for (a study uses a few dozen of the CT copies' codelists)."""

    def __init__(self, rows: pa.Table):
        self._rows = rows
        heads = rows.filter(pc.equal(rows["Codelist Code"], "")).select(["Code", "Codelist Name",
                                                                         "Codelist Extensible (Yes/No)"])
        self._heads: dict[str, tuple[str, bool]] = {}
        for code, name, extensible in zip(*heads.to_pydict().values()):  # over codelists: the first header wins
            self._heads.setdefault(code, (name, extensible == "Yes"))
        parents = pc.dictionary_encode(rows["Codelist Code"]).combine_chunks()
        group = parents.indices.to_numpy()
        self._order = np.argsort(group, kind="stable")  # each codelist's rows together, in file order
        self._bounds = np.searchsorted(group[self._order], np.arange(len(parents.dictionary) + 1))
        self._group_of = {code: i for i, code in enumerate(parents.dictionary.to_pylist())}
        self._built: dict[str, dict] = {}

    def __getitem__(self, code: str) -> dict:
        if code not in self._built:
            name, extensible = self._heads[code]  # KeyError: not a codelist of the CT copies
            terms: dict[str, dict] = {}
            i = self._group_of.get(code)
            if i is not None:
                rows = self._rows.take(self._order[self._bounds[i]:self._bounds[i + 1]])
                for value, c, decode in zip(rows["CDISC Submission Value"].to_pylist(), rows["Code"].to_pylist(),
                                            rows["NCI Preferred Term"].to_pylist()):  # one codelist's terms
                    terms.setdefault(value, {"code": c, "decode": decode})  # the first file's term wins
            self._built[code] = {"name": name, "terms": terms, "extensible": extensible}
        return self._built[code]

    def __contains__(self, code: object) -> bool:
        return code in self._heads

    def __iter__(self) -> Iterator[str]:
        return iter(self._heads)

    def __len__(self) -> int:
        return len(self._heads)


@lru_cache(maxsize=None)
def _cdisc_ct() -> Mapping[str, dict]:
    """Codelist C-code -> {name, extensible, terms: value -> {code, decode}} from the project's CT copies."""
    return _Terminology(pa.concat_tables([_read_ct(STANDARDS_DIR / f) for f in CT_FILES]).combine_chunks())


def _read_ct(path: Path) -> pa.Table:
    """The columns of one CT copy that `_Terminology` reads, every cell as text ('' when blank)."""
    return pacsv.read_csv(path, read_options=pacsv.ReadOptions(use_threads=False),
                          parse_options=pacsv.ParseOptions(newlines_in_values=True),
                          convert_options=pacsv.ConvertOptions(include_columns=list(_CT_COLUMNS),
                                                               column_types=dict.fromkeys(_CT_COLUMNS, pa.string()),
                                                               strings_can_be_null=False))


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
