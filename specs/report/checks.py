"""What every item of report.yaml is checked with: each problem collected with its place, keys, conditions,
variables, names, populations, analysis terms and fact links (`Checks`, the base of the loader in `load`)."""

from __future__ import annotations

from typing import Any, Mapping

from cdiscflow.core.expr import ExpressionError, names as expr_names, parse
from cdiscflow.specs.model import StudySpec
from cdiscflow.specs.report.model import (ANALYSIS_PURPOSES, ANALYSIS_REASONS, DIMENSIONS, NAME_RE, RESERVED, FactLink)


class Checks:
    """The problems found so far (each `place: message`) and the checks the item loaders share."""

    def __init__(self, spec: StudySpec, doc: Any):
        self.spec = spec
        self.doc = doc
        self.problems: list[str] = []
        self.facts: Mapping[str, Any] | None = None
        self.table_names: set[str] = set(RESERVED)
        self.populations: dict[str, Any] = {}  # id -> Population, once report.yaml's populations are read
        self.reads: dict[str, set[str]] = {}  # dataset -> the variables the report reads (every one checked here)

    def problem(self, where: str, msg: str) -> None:
        self.problems.append(f"{where}: {msg}")

    def keys(self, where: str, node: Mapping, allowed: set[str], required: tuple[str, ...] = ()) -> None:
        for k in node:
            if k not in allowed:
                self.problem(where, f"unknown key {k!r} (expected {', '.join(sorted(allowed))})")
        for k in required:
            if node.get(k) in (None, ""):
                self.problem(where, f"{k} is missing")

    # -- helpers ------------------------------------------------------------------------------------------------
    def dataset_names(self, where: str, dataset: str) -> tuple[str, ...] | None:
        self.reads.setdefault(dataset, set())
        try:
            ds = self.spec.dataset(dataset)
        except KeyError:
            self.problem(where, f"the study declares no dataset {dataset!r}")
            return None
        if ds.standard != "ADaM":
            self.problem(where, f"{dataset} is not an ADaM dataset (the report reads ADaM only)")
        return ds.names

    def expression(self, where: str, text: Any, dataset: str) -> None:
        if text is None:
            return
        if not isinstance(text, str):
            self.problem(where, f"condition must be text, not {text!r}")
            return
        try:
            parse(text)
        except ExpressionError as exc:
            self.problem(where, str(exc))
            return
        self.variables(where, expr_names(text), dataset)

    def variables(self, where: str, names: tuple[str, ...] | list[str], dataset: str) -> None:
        known = self.dataset_names(where, dataset)
        self.reads[dataset].update(names)
        if known is None:
            return
        missing = [n for n in names if n not in known]
        if missing:
            self.problem(where, f"{dataset} has no variable {', '.join(missing)}")

    def name(self, where: str, name: Any, derived: tuple[str, ...] = ()) -> str:
        """A table name (its CSV file stem), unique in the report with the names derived from it."""
        name = str(name or "")
        if not NAME_RE.match(name):
            self.problem(where, f"name {name!r} must be a plain file stem (letters, digits, _ . -)")
        for n in (name, *(name + d for d in derived)):
            if n in self.table_names:
                self.problem(where, f"name {n!r} is used twice (or is one the report writes itself)")
            self.table_names.add(n)
        return name

    def population(self, where: str, pid: Any) -> str:
        if str(pid) not in self.populations:
            self.problem(where, f"unknown population {pid!r} (known: {', '.join(self.populations)})")
        return str(pid)

    def analysis_terms(self, where: str, node: Mapping) -> dict[str, str]:
        """`reason` and `purpose` of an analysis (Analysis Results Metadata / ARS terms; free text allowed)."""
        out = {}
        for key, terms in (("reason", ANALYSIS_REASONS), ("purpose", ANALYSIS_PURPOSES)):
            value = node.get(key)
            if value is None:
                continue
            if not isinstance(value, str) or not value.strip():
                self.problem(where, f"{key} must be text, e.g. {terms[0]!r}")
                continue
            out[key] = " ".join(value.split())
        return out

    # -- facts --------------------------------------------------------------------------------------------------
    def load_fact(self, where: str, node: Any, table: str, select: Mapping[str, str], default_levels: tuple,
                  leaf: tuple, *, round_default: int | None = None) -> FactLink | None:
        """A fact link (see the module docstring).  `select` fixes dimensions (the row of a row's link),
        `default_levels` are walked when the link names none, `leaf` reads a list at the end of the walk."""
        if isinstance(node, str):
            node = {"path": node}
        if not isinstance(node, Mapping) or "path" not in node:
            self.problem(where, "a fact link is a dotted path or {path, ...}")
            return None
        allowed = {"path", "table", "levels", "row", "category", "column", "stat", "keys", "value", "match",
                   "fields", "round", "tolerance", "range", "test", "known", "ci", "tally"}
        self.keys(where, node, allowed)
        path = tuple(p for p in str(node["path"]).split(".") if p)
        target = self.resolve(where, path)
        sel = dict(select)
        for dim in DIMENSIONS:
            if node.get(dim) is not None:
                sel[dim] = str(node[dim])
        if "levels" in node:
            levels = tuple(str(x) for x in as_list(node["levels"]))
            bad = [x for x in levels if x not in DIMENSIONS]
            if bad:
                self.problem(where, f"levels must be among {', '.join(DIMENSIONS)}, not {bad}")
        else:
            levels = tuple(d for d in default_levels if d not in sel)
        stat = str(node.get("stat") or "n")
        # a list at the end of the walk: the row's stats (median, min, max) or its pair of counts, unless fixed
        leaf = tuple(lv for lv in leaf
                     if not (("stat" in lv and "stat" in node) or ("category" in lv and "category" in sel)))
        fields = tuple(None if f in (None, "~", "") else str(f) for f in as_list(node.get("fields")))
        if fields and "value" not in fields:
            self.problem(where, "fields must name the position of the value")
        match = {str(k): str(v) for k, v in (node.get("match") or {}).items()}
        for dim in list(match.values()) + [f for f in fields if f not in (None, "value")]:
            if dim not in DIMENSIONS:
                self.problem(where, f"{dim!r} is not a dimension ({', '.join(DIMENSIONS)})")
        test = str(node.get("test") or "equal")
        if test not in ("equal", "above"):
            self.problem(where, f"test must be equal or above, not {test!r}")
        known = node.get("known")
        known_ids = ([known] if isinstance(known, str)
                     else [k.get("id") for k in as_list(known) if isinstance(k, Mapping)])
        if known is not None and not known_ids:
            self.problem(where, "known must be a mismatch id or a list of {field: value, id}")
        if self.facts is not None:
            documented = {str(r.get("id")) for r in (self.facts.get("known_expected_mismatches") or ())
                          if isinstance(r, Mapping)}
            for k in known_ids:
                if str(k) not in documented:
                    self.problem(where, f"known mismatch {k!r} is not in known_expected_mismatches of the facts")
        if target is not None and fields and not isinstance(target, (list, tuple)):
            self.problem(where, f"{'.'.join(path)} is not a list of tuples")
        return FactLink(path=path, table=str(node.get("table") or table), select=sel,
                        levels=levels + leaf if not fields and not node.get("value") else levels, stat=stat,
                        keys=tuple(str(k) for k in as_list(node.get("keys"))), value=str(node.get("value") or ""),
                        match=match, fields=fields,
                        round=node.get("round", round_default), tolerance=node.get("tolerance"),
                        range=node.get("range"), test=test, known=known, ci=str(node.get("ci") or ""),
                        tally=bool(node.get("tally", False)), where=where)

    def resolve(self, where: str, path: tuple[str, ...]) -> Any:
        if self.facts is None:
            self.problem(where, "fact links need `facts:` (the section with the published figures)")
            return None
        node: Any = self.facts
        for i, key in enumerate(path):
            if isinstance(node, Mapping) and key in {str(k) for k in node}:
                node = next(v for k, v in node.items() if str(k) == key)
            else:
                self.problem(where, f"the facts have no {'.'.join(path[:i + 1])}")
                return None
        return node


def as_list(node: Any) -> list:
    if node is None:
        return []
    if isinstance(node, (list, tuple)):
        return list(node)
    return [node]
