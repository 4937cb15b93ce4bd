"""Customised (and standardised) queries: a named group of terms that flags the records it selects (admiral's
`derive_vars_query` with a `query()` whose definition is a term list).

A query has a prefix (``CQ01``, ``SMQ02`` ...), a name and term groups.  A record belongs to the query when any
group selects it; it then gets ``<prefix>NAM`` = the name (missing otherwise).  A group names a variable and either
the exact terms (`in`) or pieces of text a term contains (`contains`), and optionally a condition under which it
does not select (`unless`, the condition language of `cdiscflow.core.expr`):

    queries = [Query("CQ01", "DERMATOLOGIC EVENTS", (
        TermGroup("AEDECOD", ("APPLICATION", "DERMATITIS"), match="contains"),
        TermGroup("AEBODSYS", ("SKIN AND SUBCUTANEOUS TISSUE DISORDERS",), unless="AEDECOD in ('ALOPECIA',)"),
    ))]
    adae = derive_vars_query(adae, queries=queries)

A study writes the same as data (`queries:` in ``specs/<study>/adam/adae.yaml``, read by `load_queries`):

    queries:
      CQ01:                                   # the prefix: the new variable is CQ01NAM
        name: DERMATOLOGIC EVENTS
        terms:
          - {variable: AEDECOD, contains: [APPLICATION, DERMATITIS, ERYTHEMA, BLISTER]}
          - {variable: AEBODSYS, in: [SKIN AND SUBCUTANEOUS TISSUE DISORDERS],
             unless: "AEDECOD in ('COLD SWEAT', 'HYPERHIDROSIS', 'ALOPECIA')"}

Terms compare case-sensitively after trimming blanks; a missing value matches no term.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from cdiscflow.adam.verbs.checks import check_frame, require_columns, text
from cdiscflow.core.expr import ExpressionError, evaluate_condition, names, parse
from cdiscflow.core.errors import InputError, SpecError
from cdiscflow.specs.model import NAME_RE

MATCHES = ("in", "contains")
_PREFIX = re.compile(r"^[A-Z][A-Z0-9]{1,4}$")  # <prefix>NAM must stay within 8 characters


@dataclass(frozen=True)
class TermGroup:
    """Records whose `variable` equals one of `values` (match "in") or contains one of them ("contains"), unless
    the `unless` condition is true for the record."""

    variable: str
    values: tuple[str, ...]
    match: str = "in"
    unless: str | None = None

    def __post_init__(self) -> None:
        if self.match not in MATCHES:
            raise ValueError(f"match must be one of {', '.join(MATCHES)}, not {self.match!r}")
        if not self.values:
            raise ValueError(f"the term group on {self.variable} lists no terms")
        if self.unless is not None:
            parse(self.unless)

    def select(self, dataset: pd.DataFrame, *, dataset_name: str = "dataset") -> np.ndarray:
        """A boolean mask of the records this group selects."""
        values = dataset[self.variable].astype("str").str.strip()
        if self.match == "in":
            hit = values.isin(self.values).to_numpy(dtype=bool, copy=True)
        else:
            hit = np.zeros(len(dataset), dtype=bool)
            for piece in self.values:  # over the few pieces of text of the group
                hit |= values.str.contains(piece, regex=False).fillna(False).to_numpy(dtype=bool)
        hit &= dataset[self.variable].notna().to_numpy()
        if self.unless is not None:
            hit &= ~evaluate_condition(self.unless, dataset, dataset=dataset_name)
        return hit


@dataclass(frozen=True)
class Query:
    """A named query: ``<prefix>NAM`` = `name` on the records any of its term groups selects."""

    prefix: str
    name: str
    terms: tuple[TermGroup, ...]

    def __post_init__(self) -> None:
        if not _PREFIX.match(self.prefix):
            raise ValueError(f"query prefix {self.prefix!r} must be 2-5 characters A-Z, 0-9 (e.g. CQ01, SMQ02)")
        if not self.terms:
            raise ValueError(f"query {self.prefix} has no term groups")

    @property
    def variable(self) -> str:
        return f"{self.prefix}NAM"

    def variables_used(self) -> tuple[str, ...]:
        used: list[str] = []
        for group in self.terms:
            used.append(group.variable)
            used.extend(names(group.unless) if group.unless else ())
        return tuple(dict.fromkeys(used))


def derive_vars_query(dataset: pd.DataFrame, *, queries: Sequence[Query], dataset_name: str = "dataset"
                      ) -> pd.DataFrame:
    """Add ``<prefix>NAM`` for each query: its name on the records it selects, missing elsewhere.

    Stops if a new variable already exists or a variable a query reads is missing.  Returns a new frame with the
    rows and row order of `dataset`."""
    check_frame(dataset, name=dataset_name)
    if not queries:
        raise ValueError("queries must list at least one Query")
    new = [q.variable for q in queries]
    clash = sorted({n for n in new if n in dataset.columns} | {n for n in new if new.count(n) > 1})
    if clash:
        raise InputError(f"{dataset_name}: query variable(s) {', '.join(clash)} already exist or are derived twice")
    require_columns(dataset, [v for q in queries for v in q.variables_used()], dataset=dataset_name,
                    purpose="queries")
    out = dataset.copy(deep=False)
    for query in queries:  # over the study's few queries
        hit = np.zeros(len(dataset), dtype=bool)
        for group in query.terms:
            hit |= group.select(dataset, dataset_name=dataset_name)
        out[query.variable] = text(np.where(hit, query.name, None), index=dataset.index)
    return out


def load_queries(section: Any, *, where: str) -> tuple[Query, ...]:
    """Parse a `queries:` section ({PREFIX: {name, terms: [...]}}); raise SpecError listing every problem."""
    if section is None:
        return ()
    if not isinstance(section, Mapping):
        raise SpecError(f"{where}: must map each query prefix (e.g. CQ01) to {{name: ..., terms: [...]}}")
    problems: list[str] = []
    out: list[Query] = []
    for prefix, spec in section.items():
        loc = f"{where}.{prefix}"
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str) or not spec.get("terms"):
            problems.append(f"{loc}: give name (the value of {prefix}NAM) and terms (a list of term groups)")
            continue
        unknown = sorted(set(spec) - {"name", "terms", "description"})
        if unknown:
            problems.append(f"{loc}: unknown key(s) {', '.join(map(str, unknown))} (expected name, terms)")
        groups = []
        for i, item in enumerate(spec["terms"] if isinstance(spec["terms"], (list, tuple)) else ()):
            gloc = f"{loc}.terms[{i + 1}]"
            group = _term_group(item, gloc, problems)
            if group is not None:
                groups.append(group)
        if not isinstance(spec["terms"], (list, tuple)):
            problems.append(f"{loc}.terms: must be a list of term groups")
        try:
            out.append(Query(str(prefix), spec["name"], tuple(groups)))
        except ValueError as exc:
            problems.append(f"{loc}: {exc}")
    if problems:
        raise SpecError(problems)
    return tuple(out)


def _term_group(item: Any, loc: str, problems: list[str]) -> TermGroup | None:
    if not isinstance(item, Mapping):
        problems.append(f"{loc}: must be {{variable: ..., in: [...]}} or {{variable: ..., contains: [...]}}")
        return None
    unknown = sorted(set(item) - {"variable", "in", "contains", "unless"})
    kinds = [k for k in MATCHES if k in item]
    variable = item.get("variable")
    if unknown or len(kinds) != 1 or not isinstance(variable, str) or not NAME_RE.match(variable):
        problems.append(f"{loc}: give variable and exactly one of in / contains (a list of terms), optionally "
                        f"unless (a condition)" + (f"; unknown key(s) {', '.join(map(str, unknown))}" if unknown else ""))
        return None
    values = item[kinds[0]]
    values = [values] if isinstance(values, str) else values
    if not isinstance(values, (list, tuple)) or not values or not all(isinstance(v, (str, int, float)) for v in values):
        problems.append(f"{loc}.{kinds[0]}: must list the terms")
        return None
    try:
        return TermGroup(variable, tuple(str(v).strip() for v in values), kinds[0],
                         None if item.get("unless") is None else str(item["unless"]))
    except (ExpressionError, ValueError) as exc:
        problems.append(f"{loc}: {exc}")
        return None


__all__ = ["MATCHES", "Query", "TermGroup", "derive_vars_query", "load_queries"]
